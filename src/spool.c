/*
 * The state directory: one file per record, "lease-<key>" or
 * "result-<key>", each written to ".tmp-<name>", fsynced, renamed into
 * place and made durable by an fsync of the directory.  A crash leaves
 * either the old record or the new one, and at worst a temp file that the
 * next spool_open() removes.  An in-memory index of the records keeps the
 * bounds without touching the disk.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "util.h"

#define SPOOL_DEFAULT_ENTRIES	256
#define SPOOL_DEFAULT_BYTES	((size_t)64 << 20)
#define SPOOL_NAME_MAX		(16 + SPOOL_KEY_MAX)
#define SPOOL_TMP_PREFIX	".tmp-"

struct spool_rec {
	enum spool_kind	 kind;
	char		 key[SPOOL_KEY_MAX + 1];
	size_t		 size;
};

struct spool {
	char			*dir;
	int			 dfd;
	size_t			 max_entries;
	size_t			 max_bytes;
	struct spool_rec	*recs;
	size_t			 nrecs;
	size_t			 bytes;
};

static const char *const spool_prefix[] = {
	[SPOOL_LEASE] = "lease-",
	[SPOOL_RESULT] = "result-",
};

static int
spool_key_ok(const char *key)
{
	size_t	 i;

	for (i = 0; key[i] != '\0'; i++) {
		if (i >= SPOOL_KEY_MAX)
			return 0;
		if (!((key[i] >= '0' && key[i] <= '9') ||
		    (key[i] >= 'a' && key[i] <= 'f')))
			return 0;
	}
	return i > 0;
}

static void
spool_name(char out[SPOOL_NAME_MAX], enum spool_kind kind, const char *key)
{
	snprintf(out, SPOOL_NAME_MAX, "%s%s", spool_prefix[kind], key);
}

/* Parse a directory entry name into kind and key; 0 if it is a record. */
static int
spool_parse_name(const char *name, enum spool_kind *ret_kind,
    const char **ret_key)
{
	size_t	 i, n;

	for (i = 0; i < nitems(spool_prefix); i++) {
		n = strlen(spool_prefix[i]);
		if (strncmp(name, spool_prefix[i], n) == 0 &&
		    spool_key_ok(name + n)) {
			*ret_kind = (enum spool_kind)i;
			*ret_key = name + n;
			return 0;
		}
	}
	return -1;
}

static struct spool_rec *
spool_find(const struct spool *sp, enum spool_kind kind, const char *key)
{
	size_t	 i;

	for (i = 0; i < sp->nrecs; i++) {
		if (sp->recs[i].kind == kind &&
		    strcmp(sp->recs[i].key, key) == 0)
			return &sp->recs[i];
	}
	return NULL;
}

static void
spool_index_add(struct spool *sp, enum spool_kind kind, const char *key,
    size_t size)
{
	struct spool_rec	*r;

	if ((r = spool_find(sp, kind, key)) != NULL) {
		sp->bytes -= r->size;
		r->size = size;
		sp->bytes += size;
		return;
	}
	sp->recs = xreallocarray(sp->recs, sp->nrecs + 1, sizeof(*sp->recs));
	r = &sp->recs[sp->nrecs++];
	r->kind = kind;
	snprintf(r->key, sizeof(r->key), "%s", key);
	r->size = size;
	sp->bytes += size;
}

static void
spool_index_del(struct spool *sp, struct spool_rec *r)
{
	sp->bytes -= r->size;
	*r = sp->recs[--sp->nrecs];
}

static int
spool_rec_cmp(const void *a, const void *b)
{
	const struct spool_rec	*ra = a, *rb = b;

	if (ra->kind != rb->kind)
		return ra->kind == SPOOL_RESULT ? -1 : 1;
	return strcmp(ra->key, rb->key);
}

/* Write name atomically: temp file, fsync, rename, fsync the directory. */
static int
spool_write_atomic(int dfd, const char *name, const void *data, size_t len)
{
	char		 tmp[SPOOL_NAME_MAX + sizeof(SPOOL_TMP_PREFIX)];
	const char	*p = data;
	ssize_t		 n;
	int		 fd, saved;

	snprintf(tmp, sizeof(tmp), "%s%s", SPOOL_TMP_PREFIX, name);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto out_unlink;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) == -1)
		goto out_unlink;
	if (close(fd) == -1) {
		fd = -1;
		goto out_unlink;
	}
	fd = -1;
	if (renameat(dfd, tmp, dfd, name) == -1)
		goto out_unlink;
	return fsync(dfd);

out_unlink:
	saved = errno;
	if (fd != -1)
		close(fd);
	(void)unlinkat(dfd, tmp, 0);
	errno = saved;
	return -1;
}

/* Build the index from the directory; remove leftover temp files. */
static int
spool_scan(struct spool *sp)
{
	struct dirent	*de;
	struct stat	 st;
	enum spool_kind	 kind;
	const char	*key;
	DIR		*d;
	int		 fd;

	if ((fd = fcntl(sp->dfd, F_DUPFD_CLOEXEC, 0)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, SPOOL_TMP_PREFIX,
		    strlen(SPOOL_TMP_PREFIX)) == 0) {
			(void)unlinkat(sp->dfd, de->d_name, 0);
			continue;
		}
		if (spool_parse_name(de->d_name, &kind, &key) == -1)
			continue;
		if (fstatat(sp->dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1 || !S_ISREG(st.st_mode))
			continue;
		spool_index_add(sp, kind, key, (size_t)st.st_size);
	}
	closedir(d);
	if (sp->nrecs > 0)
		qsort(sp->recs, sp->nrecs, sizeof(*sp->recs), spool_rec_cmp);
	return 0;
}

struct spool *
spool_open(const char *dir, const struct spool_limits *lim,
    const char **ret_why)
{
	static const char probe[] = ".probe";
	struct spool	*sp;
	struct stat	 st;
	const char	*why;
	int		 saved;

	if (dir == NULL || dir[0] != '/') {
		errno = EINVAL;
		*ret_why = "path is not absolute";
		return NULL;
	}
	sp = xcalloc(1, sizeof(*sp));
	sp->dfd = -1;
	sp->dir = xstrdup(dir);
	sp->max_entries = lim != NULL && lim->max_entries > 0 ?
	    lim->max_entries : SPOOL_DEFAULT_ENTRIES;
	sp->max_bytes = lim != NULL && lim->max_bytes > 0 ?
	    lim->max_bytes : SPOOL_DEFAULT_BYTES;

	why = "mkdir";
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		goto fail;
	why = "open";
	sp->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sp->dfd == -1)
		goto fail;
	why = "stat";
	if (fstat(sp->dfd, &st) == -1)
		goto fail;
	why = "owned by another user";
	if (st.st_uid != geteuid()) {
		errno = EPERM;
		goto fail;
	}
	why = "chmod 0700";
	if ((st.st_mode & 077) != 0 && fchmod(sp->dfd, 0700) == -1)
		goto fail;
	why = "write probe";
	if (spool_write_atomic(sp->dfd, probe, "", 0) == -1)
		goto fail;
	(void)unlinkat(sp->dfd, probe, 0);
	why = "scan";
	if (spool_scan(sp) == -1)
		goto fail;
	return sp;

fail:
	saved = errno;
	spool_free(sp);
	errno = saved;
	*ret_why = why;
	return NULL;
}

void
spool_free(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->dfd != -1)
		close(sp->dfd);
	free(sp->recs);
	free(sp->dir);
	free(sp);
}

const char *
spool_dir(const struct spool *sp)
{
	return sp->dir;
}

int
spool_put(struct spool *sp, enum spool_kind kind, const char *key,
    const void *data, size_t len)
{
	struct spool_rec	*r;
	char			 name[SPOOL_NAME_MAX];
	size_t			 entries, bytes;

	if (!spool_key_ok(key)) {
		errno = EINVAL;
		return -1;
	}
	entries = sp->nrecs;
	bytes = sp->bytes;
	if ((r = spool_find(sp, kind, key)) != NULL)
		bytes -= r->size;
	else
		entries++;
	if (entries > sp->max_entries || len > sp->max_bytes ||
	    bytes + len > sp->max_bytes) {
		errno = ENOSPC;
		return -1;
	}
	spool_name(name, kind, key);
	if (spool_write_atomic(sp->dfd, name, data, len) == -1)
		return -1;
	spool_index_add(sp, kind, key, len);
	return 0;
}

int
spool_remove(struct spool *sp, enum spool_kind kind, const char *key)
{
	struct spool_rec	*r;
	char			 name[SPOOL_NAME_MAX];

	if (!spool_key_ok(key)) {
		errno = EINVAL;
		return -1;
	}
	spool_name(name, kind, key);
	if (unlinkat(sp->dfd, name, 0) == -1 && errno != ENOENT)
		return -1;
	if ((r = spool_find(sp, kind, key)) != NULL)
		spool_index_del(sp, r);
	return fsync(sp->dfd);
}

int
spool_has(const struct spool *sp, enum spool_kind kind, const char *key)
{
	return spool_find(sp, kind, key) != NULL;
}

size_t
spool_entries(const struct spool *sp)
{
	return sp->nrecs;
}

size_t
spool_bytes(const struct spool *sp)
{
	return sp->bytes;
}

/* Read one record file whole; NULL if it is not a regular file in bounds. */
static char *
spool_read(struct spool *sp, const char *name, size_t *ret_len)
{
	struct stat	 st;
	char		*data;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd;

	fd = openat(sp->dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > sp->max_bytes) {
		close(fd);
		return NULL;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size) {
		n = read(fd, data + off, (size_t)st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	data[off] = '\0';
	*ret_len = off;
	return data;
}

int
spool_load(struct spool *sp, spool_load_cb cb, void *arg,
    size_t *ret_skipped)
{
	struct spool_rec	*copy;
	char			 name[SPOOL_NAME_MAX], *data;
	size_t			 i, n, len, skipped = 0;

	/* The callback may put or remove records: walk a copy. */
	n = sp->nrecs;
	copy = xreallocarray(NULL, n > 0 ? n : 1, sizeof(*copy));
	if (n > 0)
		memcpy(copy, sp->recs, n * sizeof(*copy));
	qsort(copy, n, sizeof(*copy), spool_rec_cmp);
	for (i = 0; i < n; i++) {
		spool_name(name, copy[i].kind, copy[i].key);
		if ((data = spool_read(sp, name, &len)) == NULL) {
			skipped++;
			continue;
		}
		cb(copy[i].kind, copy[i].key, data, len, arg);
		free(data);
	}
	free(copy);
	if (ret_skipped != NULL)
		*ret_skipped = skipped;
	return 0;
}
