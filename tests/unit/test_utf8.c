/* Unit tests for utf8.c: repair, boundary clamp and field cleaning. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "utf8.h"

static void
test_sanitize_table(void **state)
{
	static const struct {
		const char	*in;
		size_t		 len;
		const char	*out;
		size_t		 bad;
	} cases[] = {
		{ "plain", 5, "plain", 0 },
		{ "", 0, "", 0 },
		{ "caf\xc3\xa9", 5, "caf\xc3\xa9", 0 },
		{ "\xff", 1, "\xef\xbf\xbd", 1 },
		{ "a\xc3", 2, "a\xef\xbf\xbd", 1 },		/* truncated */
		{ "\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd", 2 },	/* overlong */
		{ "\xed\xa0\x80", 3,
		    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 3 },	/* surrogate */
		{ "\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd"
		    "\xef\xbf\xbd\xef\xbf\xbd", 4 },		/* > U+10FFFF */
		{ "\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80", 0 },	/* emoji */
		{ "a\0b", 3, "a\0b", 0 },			/* NUL is valid */
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf	 b;
		size_t		 bad;

		buf_init(&b);
		bad = utf8_sanitize(&b, cases[i].in, cases[i].len);
		assert_int_equal(bad, cases[i].bad);
		assert_int_equal(b.len, strlen(cases[i].out) +
		    (i == 9 ? 2 : 0));
		assert_memory_equal(b.data, cases[i].out, b.len);
		buf_free(&b);
	}
}

static void
test_clamp(void **state)
{
	const char	*s = "ab\xc3\xa9" "cd";	/* a b é c d */

	assert_int_equal(utf8_clamp(s, 6, 10), 6);
	assert_int_equal(utf8_clamp(s, 6, 3), 2);	/* not inside é */
	assert_int_equal(utf8_clamp(s, 6, 4), 4);
	assert_int_equal(utf8_clamp(s, 6, 0), 0);
}

static void
test_clean_field(void **state)
{
	static const struct {
		const char	*in;
		size_t		 max;
		const char	*out;
	} cases[] = {
		{ "  Intel(R)\tXeon(R)  CPU \n", 96, "Intel(R) Xeon(R) CPU" },
		{ "a\x01\x7f" "b", 96, "a b" },
		{ "a\xc2\x85" "b", 96, "a b" },		/* C1 NEL */
		{ "bad\xff" "byte", 96, "badbyte" },
		{ "abcdef", 3, "abc" },
		{ "ab\xc3\xa9", 3, "ab" },
		{ "ab c", 3, "ab" },			/* no trailing space */
		{ "", 96, "" },
	};
	size_t	 i;
	char	 tmp[128];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strcpy(tmp, cases[i].in);
		utf8_clean_field(tmp, cases[i].max);
		assert_string_equal(tmp, cases[i].out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sanitize_table),
		cmocka_unit_test(test_clamp),
		cmocka_unit_test(test_clean_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
