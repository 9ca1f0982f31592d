/*
 * rootfs: read files under a host root directory (default "/"), like
 * node_exporter's --path.rootfs, so the collectors can report the host from
 * inside a container (host root mounted at e.g. /host) and tests can point
 * them at fixture trees.  Every path is resolved INSIDE the root: ".." stops
 * at the root and absolute symlinks restart at the root, never outside it.
 *
 * The caller owns the struct rootfs (rootfs_free) and every buffer passed
 * in; nothing here allocates after rootfs_open, nothing logs, and nothing
 * blocks (files are opened O_NONBLOCK and must be regular files, which is
 * what procfs and sysfs files are).
 */
#ifndef ROOTFS_H
#define ROOTFS_H

#include <sys/types.h>
#include <sys/statvfs.h>

#include <stddef.h>

struct rootfs;

/* Open dir (NULL means "/") as the root.  Returns NULL with errno set. */
struct rootfs	*rootfs_open(const char *dir);
void		 rootfs_free(struct rootfs *);

/* The directory given to rootfs_open ("/" when it was NULL). */
const char	*rootfs_dir(const struct rootfs *);

/*
 * Open relpath (relative to the root; a leading "/" is ignored) for reading
 * and return a new O_CLOEXEC|O_NONBLOCK fd of a regular file, or -1 with
 * errno set (EINVAL when it is not a regular file, ELOOP on too many
 * links).  The caller closes the fd.
 */
int		 rootfs_openfile(struct rootfs *, const char *relpath);

/*
 * Read at most cap - 1 bytes of relpath into buf and NUL-terminate it.
 * Returns the number of bytes read (the file may hold more) or -1 with
 * errno set; buf is then an empty string.
 */
ssize_t		 rootfs_read(struct rootfs *, const char *relpath, char *buf,
		    size_t cap);

/*
 * Call cb once per line of relpath, in order, with the newline removed and
 * the line NUL-terminated inside buf (cb may modify it).  Lines longer
 * than cap - 1 bytes are skipped whole, so any file size works with a small
 * fixed buffer.  A last line without newline is passed too.  cb returns 0
 * to go on, non-zero to stop early.  Returns 0, or -1 with errno set when
 * the file could not be opened or read.
 */
int		 rootfs_scan_lines(struct rootfs *, const char *relpath,
		    char *buf, size_t cap, int (*cb)(char *line, void *arg),
		    void *arg);

/*
 * The same line splitting over text in memory (up to its NUL): each line
 * is copied into buf (cap bytes) before cb sees it, so the pure parsers
 * behave exactly as they do on files.
 */
void		 rootfs_scan_text(const char *text, char *buf, size_t cap,
		    int (*cb)(char *line, void *arg), void *arg);

/* 1 if relpath resolves (inside the root) to anything, else 0. */
int		 rootfs_exists(struct rootfs *, const char *relpath);

/* statvfs of the root directory itself.  Returns 0 or -1 with errno. */
int		 rootfs_statvfs(struct rootfs *, struct statvfs *ret_st);

/*
 * Force the portable resolver (used when openat2 is missing) instead of
 * openat2(RESOLVE_IN_ROOT), so tests can exercise both paths.
 */
void		 rootfs_set_fallback(struct rootfs *, int on);

#endif
