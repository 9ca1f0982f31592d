/*
 * spool: the agent's state directory, where task leases and undelivered
 * task results survive a crash or restart.  Each record is one small file
 * written atomically (temp file, fsync, rename, fsync of the directory), so
 * after any crash a record is either absent or complete.
 *
 * Records are opaque blobs named by a kind and a key (the caller's hex
 * digest of task and lease id); the spool never interprets them.  It keeps
 * an index of what is on disk to enforce its bounds (entries and bytes).
 * The caller owns the struct spool and frees it with spool_free(); blobs
 * handed to the load callback belong to the spool and are only valid during
 * the call.
 */
#ifndef SPOOL_H
#define SPOOL_H

#include <stddef.h>

enum spool_kind {
	SPOOL_LEASE,		/* a leased task, queued or running */
	SPOOL_RESULT,		/* a task result not yet delivered */
};

#define SPOOL_KEY_MAX	64	/* keys are [0-9a-f]{1,64} */

struct spool_limits {
	size_t	 max_entries;	/* 0: 256 */
	size_t	 max_bytes;	/* 0: 64 MiB */
};

struct spool;

/*
 * Open (and create, mode 0700) the state directory.  Refuses a path that
 * is not absolute, not a directory, a symlink, or not writable by us (the
 * check writes and removes a probe file).  Stale temp files from a crash
 * are removed.  Returns NULL with errno set; *ret_why then names the step
 * ("mkdir", "open", "write probe", ...), a static string.
 */
struct spool	*spool_open(const char *dir, const struct spool_limits *,
		    const char **ret_why);
void		 spool_free(struct spool *);
const char	*spool_dir(const struct spool *);

/*
 * Store (or replace) a record atomically.  Returns 0, or -1 with errno:
 * ENOSPC when the spool's bounds would be exceeded, EINVAL for a bad key,
 * anything from the file system otherwise.
 */
int		 spool_put(struct spool *, enum spool_kind, const char *key,
		    const void *data, size_t len);
/* Remove a record; a missing one is not an error.  Returns 0 or -1. */
int		 spool_remove(struct spool *, enum spool_kind, const char *key);
int		 spool_has(const struct spool *, enum spool_kind,
		    const char *key);
size_t		 spool_entries(const struct spool *);
size_t		 spool_bytes(const struct spool *);

typedef void (*spool_load_cb)(enum spool_kind, const char *key,
    const char *data, size_t len, void *arg);

/*
 * Call cb for every record on disk, results before leases, each kind in
 * key order (a stable order).  Files that are not records, or records too
 * large for the bounds, are skipped and counted in *ret_skipped.  Blocking
 * file I/O: meant for start-up.  Returns 0 or -1 with errno.
 */
int		 spool_load(struct spool *, spool_load_cb, void *arg,
		    size_t *ret_skipped);

#endif
