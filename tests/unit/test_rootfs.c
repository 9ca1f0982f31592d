/*
 * Unit tests for rootfs.c: reads stay inside the root whatever the links
 * say, with openat2 and with the by-hand fallback, and bounded reads.
 */
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "rootfs.h"

struct tree {
	char	 root[256];
	char	 base[256];
};

static void
put(const char *dir, const char *rel, const char *text)
{
	char	 path[PATH_MAX];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void
link_at(const char *dir, const char *rel, const char *target)
{
	char	 path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(symlink(target, path), 0);
}

static void
mkdir_at(const char *dir, const char *rel)
{
	char	 path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

/*
 * base/
 *   outside-secret               "SECRET"
 *   etc/passwd                   "SECRET" (what ../../etc/passwd would hit)
 *   root/
 *     usr/lib/os-release         "ID=inside"
 *     etc/os-release -> ../usr/lib/os-release
 *     etc/abs -> /usr/lib/os-release
 *     etc/passwd                 "inside-passwd"
 *     etc/shadow -> /etc/passwd  (absolute: must be root/etc/passwd)
 *     escape -> ../../etc/passwd (clamped at root: root/etc/passwd)
 *     escape2 -> ../outside-secret (root/outside-secret: missing)
 *     deep/a -> ../../../../../../etc/passwd
 *     loop1 -> loop2, loop2 -> loop1
 *     fifo (a FIFO), dir/ (a directory)
 */
static int
setup(void **state)
{
	struct tree	*t;
	char		 tmpl[] = "/tmp/test_rootfs.XXXXXX";

	t = calloc(1, sizeof(*t));
	assert_non_null(mkdtemp(tmpl));
	snprintf(t->base, sizeof(t->base), "%s", tmpl);
	snprintf(t->root, sizeof(t->root), "%s/root", tmpl);
	put(t->base, "outside-secret", "SECRET");
	mkdir_at(t->base, "etc");
	put(t->base, "etc/passwd", "SECRET");
	mkdir_at(t->base, "root");
	mkdir_at(t->root, "usr");
	mkdir_at(t->root, "usr/lib");
	put(t->root, "usr/lib/os-release", "ID=inside\n");
	mkdir_at(t->root, "etc");
	link_at(t->root, "etc/os-release", "../usr/lib/os-release");
	link_at(t->root, "etc/abs", "/usr/lib/os-release");
	put(t->root, "etc/passwd", "inside-passwd");
	link_at(t->root, "etc/shadow", "/etc/passwd");
	link_at(t->root, "escape", "../../etc/passwd");
	link_at(t->root, "escape2", "../outside-secret");
	mkdir_at(t->root, "deep");
	link_at(t->root, "deep/a", "../../../../../../etc/passwd");
	link_at(t->root, "loop1", "loop2");
	link_at(t->root, "loop2", "loop1");
	mkdir_at(t->root, "dir");
	{
		char	 path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/fifo", t->root);
		assert_int_equal(mkfifo(path, 0600), 0);
	}
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct tree	*t = *state;
	char		 cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->base);
	assert_int_equal(system(cmd), 0);
	free(t);
	return 0;
}

static void
check_containment(struct tree *t, int fallback)
{
	static const struct {
		const char	*rel;
		const char	*want;	/* NULL: must fail */
		int		 err;
	} cases[] = {
		{ "usr/lib/os-release", "ID=inside\n", 0 },
		{ "/usr/lib/os-release", "ID=inside\n", 0 },
		{ "etc/os-release", "ID=inside\n", 0 },
		{ "etc/abs", "ID=inside\n", 0 },
		{ "etc/shadow", "inside-passwd", 0 },
		{ "escape", "inside-passwd", 0 },
		{ "deep/a", "inside-passwd", 0 },
		{ "../etc/passwd", "inside-passwd", 0 },
		{ "../../../../etc/passwd", "inside-passwd", 0 },
		{ "./etc/../etc//passwd", "inside-passwd", 0 },
		{ "escape2", NULL, ENOENT },
		{ "../outside-secret", NULL, ENOENT },
		{ "missing", NULL, ENOENT },
		{ "loop1", NULL, ELOOP },
		{ "fifo", NULL, EINVAL },
		{ "dir", NULL, EINVAL },
		{ "etc/passwd/x", NULL, ENOTDIR },
	};
	struct rootfs	*rfs;
	char		 buf[64];
	ssize_t		 n;
	size_t		 i;

	assert_non_null(rfs = rootfs_open(t->root));
	rootfs_set_fallback(rfs, fallback);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		errno = 0;
		n = rootfs_read(rfs, cases[i].rel, buf, sizeof(buf));
		if (cases[i].want == NULL) {
			if (n != -1)
				fail_msg("%s: read '%s'", cases[i].rel, buf);
			assert_int_equal(errno, cases[i].err);
			assert_string_equal(buf, "");
			continue;
		}
		if (n == -1)
			fail_msg("%s: %s", cases[i].rel, strerror(errno));
		assert_string_equal(buf, cases[i].want);
		assert_null(strstr(buf, "SECRET"));
	}
	assert_true(rootfs_exists(rfs, "etc/os-release"));
	assert_true(rootfs_exists(rfs, "dir"));
	assert_true(rootfs_exists(rfs, "/"));
	assert_false(rootfs_exists(rfs, "escape2"));
	assert_false(rootfs_exists(rfs, "nope/x"));
	rootfs_free(rfs);
}

static void
test_containment_openat2(void **state)
{
	check_containment(*state, 0);
}

static void
test_containment_fallback(void **state)
{
	check_containment(*state, 1);
}

static void
test_read_bounded(void **state)
{
	struct tree	*t = *state;
	struct rootfs	*rfs;
	char		 buf[5];

	assert_non_null(rfs = rootfs_open(t->root));
	assert_int_equal(rootfs_read(rfs, "etc/passwd", buf, sizeof(buf)), 4);
	assert_string_equal(buf, "insi");
	assert_int_equal(rootfs_read(rfs, "etc/passwd", buf, 1), 0);
	assert_string_equal(buf, "");
	rootfs_free(rfs);
}

struct lines {
	char	 got[16][32];
	int	 n;
	int	 stop_at;
};

static int
collect_cb(char *line, void *arg)
{
	struct lines	*l = arg;

	if (l->n < 16)
		snprintf(l->got[l->n], sizeof(l->got[0]), "%s", line);
	l->n++;
	return l->n == l->stop_at;
}

static void
test_scan_lines(void **state)
{
	struct tree	*t = *state;
	struct rootfs	*rfs;
	struct lines	 l;
	char		 buf[8];	/* 7 bytes per line at most */
	char		 many[4096];
	size_t		 i;

	put(t->root, "lines", "a\nbbbbbbbbbbbbbbbbbbbbbb\n\nccccccc\ndddddddd\ne");
	assert_non_null(rfs = rootfs_open(t->root));
	memset(&l, 0, sizeof(l));
	assert_int_equal(rootfs_scan_lines(rfs, "lines", buf, sizeof(buf),
	    collect_cb, &l), 0);
	/* The 22- and 8-byte lines do not fit and are skipped whole. */
	assert_int_equal(l.n, 4);
	assert_string_equal(l.got[0], "a");
	assert_string_equal(l.got[1], "");
	assert_string_equal(l.got[2], "ccccccc");
	assert_string_equal(l.got[3], "e");

	memset(&l, 0, sizeof(l));
	l.stop_at = 2;
	assert_int_equal(rootfs_scan_lines(rfs, "lines", buf, sizeof(buf),
	    collect_cb, &l), 0);
	assert_int_equal(l.n, 2);

	/* Many short lines through a small buffer. */
	for (i = 0; i + 2 < sizeof(many); i += 2) {
		many[i] = (char)('a' + (i / 2) % 26);
		many[i + 1] = '\n';
	}
	many[i] = '\0';
	put(t->root, "many", many);
	memset(&l, 0, sizeof(l));
	assert_int_equal(rootfs_scan_lines(rfs, "many", buf, sizeof(buf),
	    collect_cb, &l), 0);
	assert_int_equal(l.n, (int)(i / 2));
	assert_string_equal(l.got[15], "p");

	assert_int_equal(rootfs_scan_lines(rfs, "fifo", buf, sizeof(buf),
	    collect_cb, &l), -1);
	assert_int_equal(errno, EINVAL);
	rootfs_free(rfs);
}

static void
test_statvfs_and_open(void **state)
{
	struct tree	*t = *state;
	struct rootfs	*rfs;
	struct statvfs	 st;

	assert_null(rootfs_open("/nonexistent/dir"));
	assert_int_equal(errno, ENOENT);
	assert_non_null(rfs = rootfs_open(NULL));
	assert_string_equal(rootfs_dir(rfs), "/");
	assert_int_equal(rootfs_statvfs(rfs, &st), 0);
	assert_true(st.f_blocks > 0);
	rootfs_free(rfs);
	assert_non_null(rfs = rootfs_open(t->root));
	assert_string_equal(rootfs_dir(rfs), t->root);
	rootfs_free(rfs);
	rootfs_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_containment_openat2,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_containment_fallback,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_bounded,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_lines,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_statvfs_and_open,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
