/* Unit tests for util.c: buffers, trimming, time formatting, small files. */
#include <sys/stat.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "util.h"

static void
test_buf(void **state)
{
	struct buf	 b;
	char		*s;
	size_t		 len;
	int		 i;

	buf_init(&b);
	for (i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	assert_int_equal(b.len, strlen(b.data));
	assert_memory_equal(b.data, "0,1,2,", 6);
	s = buf_steal(&b, &len);
	assert_null(b.data);
	assert_int_equal(len, strlen(s));
	free(s);
	buf_add(&b, "", 0);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

static void
test_strtrim(void **state)
{
	char	 a[] = "  x y \n", b[] = "", c[] = "\t\t";

	assert_string_equal(strtrim(a), "x y");
	assert_string_equal(strtrim(b), "");
	assert_string_equal(strtrim(c), "");
}

static void
test_rfc3339(void **state)
{
	char			 out[RFC3339_LEN];
	struct timespec		 ts = { 1481084918, 123456789 };

	fmt_rfc3339(out, 1481084918);
	assert_string_equal(out, "2016-12-07T04:28:38Z");
	fmt_rfc3339_ms(out, ts);
	assert_string_equal(out, "2016-12-07T04:28:38.123Z");
}

static void
test_read_small_file(void **state)
{
	char	 dir[] = "/tmp/test_util.XXXXXX", path[256], *s;
	FILE	*f;
	size_t	 len;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	f = fopen(path, "w");
	fputs("hello\n", f);
	fclose(f);
	s = read_small_file(path, 64, &len);
	assert_non_null(s);
	assert_int_equal(len, 6);
	assert_string_equal(s, "hello\n");
	free(s);

	assert_null(read_small_file(path, 5, &len));
	assert_int_equal(errno, EFBIG);
	assert_null(read_small_file(dir, 64, &len));
	assert_int_equal(errno, EINVAL);

	/* A FIFO with no writer must be refused at once, not block. */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_null(read_small_file(path, 64, &len));
	assert_int_equal(errno, EINVAL);
	unlink(path);
	snprintf(path, sizeof(path), "%s/f", dir);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_strtrim),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_read_small_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
