/*
 * Unit tests for spool.c: creation and refusal of state directories,
 * atomic records that survive a "restart" (free + open), bounds, and
 * what a crash can leave behind (temp files, junk).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool.h"
#include "task.h"
#include "util.h"

static char	 root[64];

static int
setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/test-spool-XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	return task_rmtree(root);
}

static char *
path(const char *rel)
{
	static char	 p[256];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return p;
}

static void
write_file(const char *p, const char *text)
{
	FILE	*f = fopen(p, "we");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

struct seen {
	int	 n;
	char	 kinds[16];
	char	 keys[16][SPOOL_KEY_MAX + 1];
	char	 data[16][64];
};

static void
load_cb(enum spool_kind kind, const char *key, const char *data, size_t len,
    void *arg)
{
	struct seen	*s = arg;

	assert_true(s->n < 16);
	s->kinds[s->n] = kind == SPOOL_RESULT ? 'R' : 'L';
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
	snprintf(s->data[s->n], sizeof(s->data[0]), "%.*s", (int)len, data);
	s->n++;
}

static void
test_open_creates_private_dir(void **state)
{
	struct spool	*sp;
	struct stat	 st;
	const char	*why = NULL;

	sp = spool_open(path("state"), NULL, &why);
	assert_non_null(sp);
	assert_int_equal(stat(path("state"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(spool_entries(sp), 0);
	spool_free(sp);

	/* An existing dir open to others is tightened. */
	assert_int_equal(mkdir(path("loose"), 0777), 0);
	assert_int_equal(chmod(path("loose"), 0777), 0);
	sp = spool_open(path("loose"), NULL, &why);
	assert_non_null(sp);
	assert_int_equal(stat(path("loose"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	spool_free(sp);
}

static void
test_open_refuses(void **state)
{
	const char	*why = NULL;
	char		 target[256];

	assert_null(spool_open("relative/dir", NULL, &why));
	assert_int_equal(errno, EINVAL);
	assert_null(spool_open(NULL, NULL, &why));

	write_file(path("file"), "x");
	assert_null(spool_open(path("file"), NULL, &why));
	assert_null(spool_open(path("file/sub"), NULL, &why));
	assert_string_equal(why, "mkdir");
	assert_null(spool_open(path("missing/sub"), NULL, &why));

	/* A symlink could point anywhere: refused. */
	assert_int_equal(mkdir(path("real"), 0700), 0);
	snprintf(target, sizeof(target), "%s", path("real"));
	assert_int_equal(symlink(target, path("link")), 0);
	assert_null(spool_open(path("link"), NULL, &why));
	assert_string_equal(why, "open");
}

static void
test_put_load_restart(void **state)
{
	struct spool	*sp;
	struct seen	 seen;
	const char	*why;
	size_t		 skipped = 99;

	sp = spool_open(path("s"), NULL, &why);
	assert_non_null(sp);
	assert_int_equal(spool_put(sp, SPOOL_LEASE, "bb", "lease-b", 7), 0);
	assert_int_equal(spool_put(sp, SPOOL_RESULT, "aa", "res-a", 5), 0);
	assert_int_equal(spool_put(sp, SPOOL_LEASE, "aa", "lease-a", 7), 0);
	assert_int_equal(spool_put(sp, SPOOL_RESULT, "aa", "res-a2", 6), 0);
	assert_int_equal(spool_entries(sp), 3);
	assert_int_equal(spool_bytes(sp), 7 + 6 + 7);
	assert_true(spool_has(sp, SPOOL_RESULT, "aa"));
	assert_false(spool_has(sp, SPOOL_RESULT, "bb"));
	spool_free(sp);

	/* After a "restart" the same records come back, results first. */
	sp = spool_open(path("s"), NULL, &why);
	assert_non_null(sp);
	assert_int_equal(spool_entries(sp), 3);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(spool_load(sp, load_cb, &seen, &skipped), 0);
	assert_int_equal(skipped, 0);
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.kinds[0], 'R');
	assert_string_equal(seen.keys[0], "aa");
	assert_string_equal(seen.data[0], "res-a2");
	assert_int_equal(seen.kinds[1], 'L');
	assert_string_equal(seen.keys[1], "aa");
	assert_int_equal(seen.kinds[2], 'L');
	assert_string_equal(seen.keys[2], "bb");

	assert_int_equal(spool_remove(sp, SPOOL_LEASE, "aa"), 0);
	assert_int_equal(spool_remove(sp, SPOOL_LEASE, "aa"), 0);
	assert_int_equal(spool_entries(sp), 2);
	assert_int_equal(access(path("s/lease-aa"), F_OK), -1);
	spool_free(sp);
}

static void
test_bad_keys(void **state)
{
	struct spool	*sp;
	const char	*why;

	sp = spool_open(path("k"), NULL, &why);
	assert_non_null(sp);
	assert_int_equal(spool_put(sp, SPOOL_LEASE, "../x", "x", 1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_put(sp, SPOOL_LEASE, "", "x", 1), -1);
	assert_int_equal(spool_put(sp, SPOOL_LEASE, "ABC", "x", 1), -1);
	assert_int_equal(spool_put(sp, SPOOL_LEASE, "a/b", "x", 1), -1);
	assert_int_equal(spool_put(sp, SPOOL_LEASE,
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
	    "x", 1), -1);
	assert_int_equal(spool_put(sp, SPOOL_LEASE,
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    "x", 1), 0);
	assert_int_equal(spool_remove(sp, SPOOL_RESULT, "../../etc"), -1);
	spool_free(sp);
}

static void
test_bounds(void **state)
{
	struct spool		*sp;
	struct spool_limits	 lim = { 3, 100 };
	char			 big[101];
	const char		*why;

	memset(big, 'x', sizeof(big));
	sp = spool_open(path("b"), &lim, &why);
	assert_non_null(sp);
	assert_int_equal(spool_put(sp, SPOOL_RESULT, "01", "one", 3), 0);
	assert_int_equal(spool_put(sp, SPOOL_RESULT, "02", "two", 3), 0);
	assert_int_equal(spool_put(sp, SPOOL_RESULT, "03", "three", 5), 0);
	assert_int_equal(spool_put(sp, SPOOL_RESULT, "04", "four", 4), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(access(path("b/result-04"), F_OK), -1);
	/* Replacing an existing record does not need a new slot. */
	assert_int_equal(spool_put(sp, SPOOL_RESULT, "03", "3", 1), 0);
	/* Bytes: one record may not exceed the total. */
	assert_int_equal(spool_put(sp, SPOOL_RESULT, "02", big, 101), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(spool_put(sp, SPOOL_RESULT, "02", big, 96), 0);
	assert_int_equal(spool_bytes(sp), 3 + 96 + 1);
	assert_int_equal(spool_put(sp, SPOOL_RESULT, "01", big, 4), -1);
	/* The refused replacement left the old record intact. */
	assert_int_equal(spool_remove(sp, SPOOL_RESULT, "03"), 0);
	assert_int_equal(spool_put(sp, SPOOL_RESULT, "04", "4", 1), 0);
	spool_free(sp);
}

static void
test_crash_leftovers(void **state)
{
	struct spool		*sp;
	struct spool_limits	 lim = { 0, 16 };
	struct seen		 seen;
	const char		*why;
	size_t			 skipped = 0;

	assert_int_equal(mkdir(path("c"), 0700), 0);
	/* A crash between write and rename leaves a temp file. */
	write_file(path("c/.tmp-result-ab"), "{\"half");
	write_file(path("c/result-ab"), "complete");
	write_file(path("c/junk"), "not a record");
	write_file(path("c/result-XYZ"), "bad key");
	write_file(path("c/lease-cd"), "this record is over sixteen bytes");
	assert_int_equal(mkdir(path("c/result-ee"), 0700), 0);

	sp = spool_open(path("c"), &lim, &why);
	assert_non_null(sp);
	assert_int_equal(access(path("c/.tmp-result-ab"), F_OK), -1);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(spool_load(sp, load_cb, &seen, &skipped), 0);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.data[0], "complete");
	assert_int_equal(skipped, 1);		/* the oversized lease */
	assert_int_equal(access(path("c/junk"), F_OK), 0);	/* not ours */
	spool_free(sp);
}

/* The callback may change the spool while it is being loaded. */
static void
remove_cb(enum spool_kind kind, const char *key, const char *data,
    size_t len, void *arg)
{
	struct spool	*sp = arg;

	assert_int_equal(spool_remove(sp, kind, key), 0);
	assert_int_equal(spool_put(sp, SPOOL_RESULT, "ff", "new", 3), 0);
}

static void
test_load_mutation(void **state)
{
	struct spool	*sp;
	const char	*why;

	sp = spool_open(path("m"), NULL, &why);
	assert_non_null(sp);
	assert_int_equal(spool_put(sp, SPOOL_LEASE, "01", "a", 1), 0);
	assert_int_equal(spool_put(sp, SPOOL_LEASE, "02", "b", 1), 0);
	assert_int_equal(spool_load(sp, remove_cb, sp, NULL), 0);
	assert_int_equal(spool_entries(sp), 1);
	assert_true(spool_has(sp, SPOOL_RESULT, "ff"));
	spool_free(sp);
	spool_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_private_dir,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_put_load_restart, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_keys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_leftovers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_mutation, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
