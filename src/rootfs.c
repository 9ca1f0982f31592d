/*
 * rootfs: contained file access under a host root directory.
 *
 * The collectors read /proc, /sys and /etc below a root that may be the
 * host's filesystem mounted into a container, or a fixture tree.  Such a
 * tree contains symlinks (etc/os-release -> ../usr/lib/os-release, or an
 * absolute /usr/lib/os-release) that must be resolved as the host would
 * resolve them, i.e. inside the root.  openat2(RESOLVE_IN_ROOT) does this in
 * the kernel; where it is missing (ENOSYS, or EPERM from an old container
 * seccomp profile) the same walk is done by hand, one component at a time
 * with O_NOFOLLOW, a stack of directory fds for "..", and a link limit.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <linux/openat2.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rootfs.h"
#include "util.h"

#define ROOTFS_MAXLINKS	40	/* as the kernel's MAXSYMLINKS */
#define ROOTFS_MAXDEPTH	64	/* directory levels below the root */

struct rootfs {
	int	 dirfd;
	int	 fallback;	/* openat2 unavailable: resolve by hand */
	char	*dir;
};

struct rootfs *
rootfs_open(const char *dir)
{
	struct rootfs	*rfs;
	int		 fd;

	if (dir == NULL || *dir == '\0')
		dir = "/";
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return NULL;
	rfs = xcalloc(1, sizeof(*rfs));
	rfs->dirfd = fd;
	rfs->dir = xstrdup(dir);
	return rfs;
}

void
rootfs_free(struct rootfs *rfs)
{
	if (rfs == NULL)
		return;
	close(rfs->dirfd);
	free(rfs->dir);
	free(rfs);
}

const char *
rootfs_dir(const struct rootfs *rfs)
{
	return rfs->dir;
}

void
rootfs_set_fallback(struct rootfs *rfs, int on)
{
	rfs->fallback = on;
}

/*
 * Resolve path inside the root by hand and open its last component with
 * flags.  Every intermediate component is opened O_PATH|O_NOFOLLOW from
 * the directory fd above it, so a symlink is always seen and spliced into
 * the remaining path instead of being followed by the kernel.
 */
static int
rootfs_walk(struct rootfs *rfs, const char *relpath, int flags)
{
	char		 path[PATH_MAX], tmp[PATH_MAX], target[PATH_MAX];
	int		 stack[ROOTFS_MAXDEPTH];
	int		 depth = 0, links = 0, cur, fd, ret = -1, saved;
	char		*p, *comp;
	struct stat	 st;
	ssize_t		 n;

	if ((size_t)snprintf(path, sizeof(path), "%s", relpath) >=
	    sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	p = path;
	for (;;) {
		cur = depth > 0 ? stack[depth - 1] : rfs->dirfd;
		while (*p == '/')
			p++;
		if (*p == '\0') {
			/* Path ends on a directory (or is empty). */
			ret = openat(cur, ".", flags | O_CLOEXEC);
			break;
		}
		comp = p;
		while (*p != '\0' && *p != '/')
			p++;
		if (*p == '/')
			*p++ = '\0';
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			/* ".." of the root is the root. */
			if (depth > 0)
				close(stack[--depth]);
			continue;
		}

		fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1)
			break;
		if (fstat(fd, &st) == -1) {
			saved = errno;
			close(fd);
			errno = saved;
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			if (++links > ROOTFS_MAXLINKS) {
				close(fd);
				errno = ELOOP;
				break;
			}
			n = readlinkat(fd, "", target, sizeof(target));
			saved = errno;
			close(fd);
			if (n == -1) {
				errno = saved;
				break;
			}
			if ((size_t)n >= sizeof(target)) {
				errno = ENAMETOOLONG;
				break;
			}
			target[n] = '\0';
			if ((size_t)snprintf(tmp, sizeof(tmp), "%s%s%s", target,
			    *p != '\0' ? "/" : "", p) >= sizeof(tmp)) {
				errno = ENAMETOOLONG;
				break;
			}
			memcpy(path, tmp, strlen(tmp) + 1);
			p = path;
			/* An absolute link restarts at the root. */
			if (target[0] == '/') {
				while (depth > 0)
					close(stack[--depth]);
			}
			continue;
		}
		if (*p == '\0') {
			/* Last component, not a link: open it for real. */
			if (flags & O_PATH) {
				ret = fd;
				break;
			}
			close(fd);
			ret = openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC);
			break;
		}
		if (!S_ISDIR(st.st_mode)) {
			close(fd);
			errno = ENOTDIR;
			break;
		}
		if (depth == ROOTFS_MAXDEPTH) {
			close(fd);
			errno = ENAMETOOLONG;
			break;
		}
		stack[depth++] = fd;
	}
	saved = errno;
	while (depth > 0)
		close(stack[--depth]);
	errno = saved;
	return ret;
}

/* Open relpath inside the root with flags (O_CLOEXEC is added). */
static int
rootfs_resolve(struct rootfs *rfs, const char *relpath, int flags)
{
	struct open_how	 how;
	long		 fd;

	while (*relpath == '/')
		relpath++;
	if (*relpath == '\0')
		relpath = ".";
	if (!rfs->fallback) {
		memset(&how, 0, sizeof(how));
		how.flags = (unsigned long long)(flags | O_CLOEXEC);
		how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
		fd = syscall(SYS_openat2, rfs->dirfd, relpath, &how,
		    sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS && errno != EPERM)
			return -1;
		rfs->fallback = 1;
	}
	return rootfs_walk(rfs, relpath, flags);
}

int
rootfs_openfile(struct rootfs *rfs, const char *relpath)
{
	struct stat	 st;
	int		 fd, saved;

	fd = rootfs_resolve(rfs, relpath, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	/* procfs and sysfs files are regular files too. */
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

ssize_t
rootfs_read(struct rootfs *rfs, const char *relpath, char *buf, size_t cap)
{
	size_t	 len = 0;
	ssize_t	 n;
	int	 fd, saved;

	if (cap == 0) {
		errno = EINVAL;
		return -1;
	}
	buf[0] = '\0';
	if ((fd = rootfs_openfile(rfs, relpath)) == -1)
		return -1;
	while (len < cap - 1) {
		n = read(fd, buf + len, cap - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			close(fd);
			buf[0] = '\0';
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

int
rootfs_scan_lines(struct rootfs *rfs, const char *relpath, char *buf,
    size_t cap, int (*cb)(char *, void *), void *arg)
{
	size_t	 len = 0, start;
	char	*nl;
	ssize_t	 n;
	int	 fd, saved, skipping = 0, stop = 0;

	if (cap < 2) {
		errno = EINVAL;
		return -1;
	}
	if ((fd = rootfs_openfile(rfs, relpath)) == -1)
		return -1;
	while (!stop) {
		/* A line of cap - 1 bytes plus its newline fills buf. */
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0) {
			/* Last line without a newline. */
			if (len > 0 && !skipping) {
				buf[len] = '\0';
				cb(buf, arg);
			}
			break;
		}
		len += (size_t)n;
		start = 0;
		while (!stop && (nl = memchr(buf + start, '\n',
		    len - start)) != NULL) {
			*nl = '\0';
			if (!skipping)
				stop = cb(buf + start, arg);
			skipping = 0;
			start = (size_t)(nl - buf) + 1;
		}
		if (start > 0) {
			memmove(buf, buf + start, len - start);
			len -= start;
		} else if (len == cap) {
			/* A line longer than the buffer: drop it whole. */
			skipping = 1;
			len = 0;
		}
	}
	close(fd);
	return 0;
}

void
rootfs_scan_text(const char *text, char *buf, size_t cap,
    int (*cb)(char *, void *), void *arg)
{
	const char	*nl;
	size_t		 len;

	if (cap < 2)
		return;
	while (*text != '\0') {
		nl = strchr(text, '\n');
		len = nl != NULL ? (size_t)(nl - text) : strlen(text);
		if (len < cap) {
			memcpy(buf, text, len);
			buf[len] = '\0';
			if (cb(buf, arg) != 0)
				return;
		}
		if (nl == NULL)
			break;
		text = nl + 1;
	}
}

int
rootfs_exists(struct rootfs *rfs, const char *relpath)
{
	int	 fd;

	if ((fd = rootfs_resolve(rfs, relpath, O_PATH)) == -1)
		return 0;
	close(fd);
	return 1;
}

int
rootfs_statvfs(struct rootfs *rfs, struct statvfs *ret_st)
{
	struct statvfs	 st;

	if (fstatvfs(rfs->dirfd, &st) == -1)
		return -1;
	*ret_st = st;
	return 0;
}
