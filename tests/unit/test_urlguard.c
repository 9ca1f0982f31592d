/* Unit tests for urlguard.c: the transport rules and hostile spellings. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>

#include "urlguard.h"
#include "util.h"

/* Server URL: expected outcome without and with -allow-insecure-http. */
static const struct {
	const char	*in;
	int		 ok;		/* accepted without the flag */
	int		 ok_insecure;	/* accepted with the flag */
	const char	*out;		/* normalised URL when accepted */
	int		 insecure;	/* warning expected with the flag */
} server_cases[] = {
	{ "http://127.0.0.1:8088", 1, 1, "http://127.0.0.1:8088", 0 },
	{ "http://127.0.0.1:8088/", 1, 1, "http://127.0.0.1:8088", 0 },
	{ "http://127.0.0.1:8088///", 1, 1, "http://127.0.0.1:8088", 0 },
	{ "http://127.0.0.1:8088/lattice/", 1, 1,
	    "http://127.0.0.1:8088/lattice", 0 },
	{ "http://127.255.3.4", 1, 1, "http://127.255.3.4", 0 },
	{ "http://localhost:8088", 1, 1, "http://localhost:8088", 0 },
	{ "HTTP://LOCALHOST:8088", 1, 1, "http://LOCALHOST:8088", 0 },
	{ "http://[::1]:8088", 1, 1, "http://[::1]:8088", 0 },
	{ "https://lattice.example.com", 1, 1,
	    "https://lattice.example.com", 0 },
	{ "HTTPS://Example.COM", 1, 1, "https://Example.COM", 0 },
	{ "https://203.0.113.99", 1, 1, "https://203.0.113.99", 0 },
	{ "https://[2001:db8::1]:443/", 1, 1, "https://[2001:db8::1]:443", 0 },
	/* cleartext to somewhere else: only with the flag, with a warning */
	{ "http://lattice.example.com", 0, 1, "http://lattice.example.com",
	    1 },
	{ "http://203.0.113.99:8088", 0, 1, "http://203.0.113.99:8088", 1 },
	{ "http://127.0.0.1.evil.example", 0, 1,
	    "http://127.0.0.1.evil.example", 1 },
	{ "http://localhost.evil.example", 0, 1,
	    "http://localhost.evil.example", 1 },
	{ "http://[::ffff:127.0.0.1]", 0, 1, "http://[::ffff:127.0.0.1]", 1 },
	{ "http://localhost.", 0, 1, "http://localhost.", 1 },
	{ "http://127.0.0.1.", 0, 1, "http://127.0.0.1.", 1 },
	{ "http://0.0.0.0", 0, 1, "http://0.0.0.0", 1 },
	{ "http://128.0.0.1", 0, 1, "http://128.0.0.1", 1 },
	/* never, whatever the flag */
	{ "http://127.0.0.1@evil.example", 0, 0, NULL, 0 },
	{ "http://user:pw@127.0.0.1", 0, 0, NULL, 0 },
	{ "https://user@example.com", 0, 0, NULL, 0 },
	{ "http://:@127.0.0.1", 0, 0, NULL, 0 },
	{ "http://evil.example\\@127.0.0.1", 0, 0, NULL, 0 },
	{ "http://evil.example#@127.0.0.1", 0, 0, NULL, 0 },
	{ "http://0x7f000001", 0, 0, NULL, 0 },
	{ "http://2130706433", 0, 0, NULL, 0 },
	{ "http://0177.0.0.1", 0, 0, NULL, 0 },
	{ "http://127.1", 0, 0, NULL, 0 },
	{ "http://127.000.0.1", 0, 0, NULL, 0 },
	{ "http://127.0.0.01", 0, 0, NULL, 0 },
	{ "https://0x7f000001", 0, 0, NULL, 0 },
	{ "http://%31%32%37.0.0.1", 0, 0, NULL, 0 },
	{ "http://loc%61lhost", 0, 0, NULL, 0 },
	{ "https://latate.c%m/e.c1", 0, 0, NULL, 0 },	/* found by fuzzing */
	{ "http://127.0.0.1%/", 0, 0, NULL, 0 },
	{ "https://ex_ample.com/", 1, 1, "https://ex_ample.com", 0 },
	{ "http://[0:0:0:0:0:0:0:1]", 0, 0, NULL, 0 },
	{ "http://[::1%25lo]", 0, 0, NULL, 0 },
	{ " http://127.0.0.1", 0, 0, NULL, 0 },
	{ "http://127.0.0.1 ", 0, 0, NULL, 0 },
	{ "http://127.0.0.1\t", 0, 0, NULL, 0 },
	{ "http://127.0.0.1\n", 0, 0, NULL, 0 },
	{ "http://l\xc3\xb6" "calhost", 0, 0, NULL, 0 },
	{ "http:/127.0.0.1", 0, 0, NULL, 0 },
	{ "http:///127.0.0.1", 0, 0, NULL, 0 },
	{ "http:127.0.0.1", 0, 0, NULL, 0 },
	{ "127.0.0.1:8088", 0, 0, NULL, 0 },
	{ "//127.0.0.1", 0, 0, NULL, 0 },
	{ "ftp://127.0.0.1", 0, 0, NULL, 0 },
	{ "file:///etc/passwd", 0, 0, NULL, 0 },
	{ "ws://127.0.0.1", 0, 0, NULL, 0 },
	{ "http://127.0.0.1:8088/?x=1", 0, 0, NULL, 0 },
	{ "http://127.0.0.1:8088#frag", 0, 0, NULL, 0 },
	{ "http://127.0.0.1:99999", 0, 0, NULL, 0 },
	{ "http://", 0, 0, NULL, 0 },
	{ "", 0, 0, NULL, 0 },
};

static void
test_server_table(void **state)
{
	char	 err[256];
	size_t	 i;
	int	 flag;

	for (i = 0; i < nitems(server_cases); i++) {
		for (flag = 0; flag <= 1; flag++) {
			char	*out = (char *)0x1;
			int	 insecure = 7, rc, want;

			err[0] = '\0';
			rc = urlguard_server(server_cases[i].in, flag, &out,
			    &insecure, err, sizeof(err));
			want = flag ? server_cases[i].ok_insecure :
			    server_cases[i].ok;
			if ((rc == 0) != want)
				fail_msg("%s (insecure=%d): rc %d err %s",
				    server_cases[i].in, flag, rc, err);
			if (rc == -1) {
				/* Out-params untouched, reason given. */
				assert_ptr_equal(out, (char *)0x1);
				assert_int_equal(insecure, 7);
				assert_true(strlen(err) > 0);
				continue;
			}
			assert_string_equal(out, server_cases[i].out);
			assert_int_equal(insecure,
			    flag ? server_cases[i].insecure : 0);
			free(out);
		}
	}
}

static void
test_server_errors_say_why(void **state)
{
	char	 err[256], *out;
	int	 insecure;

	assert_int_equal(urlguard_server("http://example.com", 0, &out,
	    &insecure, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "https://"));
	assert_non_null(strstr(err, "-allow-insecure-http"));
	assert_int_equal(urlguard_server("http://a:secretpw@127.0.0.1", 0,
	    &out, &insecure, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "user information"));
	assert_null(strstr(err, "secretpw"));
	assert_int_equal(urlguard_server("http://0x7f000001", 0, &out,
	    &insecure, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "canonical"));
	assert_int_equal(urlguard_server("gopher://127.0.0.1", 0, &out,
	    &insecure, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "https://"));
}

static void
test_usage_url_table(void **state)
{
	static const struct {
		const char	*in;
		int		 ok;
	} cases[] = {
		{ "http://127.0.0.1:19090/stats", 1 },
		{ "https://127.0.0.1:19090/stats", 1 },
		{ "http://127.9.9.9/", 1 },
		{ "http://localhost:19090/stats?format=json", 1 },
		{ "HTTP://LocalHost:1/x", 1 },
		{ "http://[::1]:19090/stats", 1 },
		{ "https://example.com/stats", 0 },
		{ "http://10.0.0.1/stats", 0 },
		{ "http://127.0.0.1.evil.example", 0 },
		{ "http://127.0.0.1@evil.example", 0 },
		{ "http://u:p@127.0.0.1/stats", 0 },
		{ "http://[::ffff:127.0.0.1]", 0 },
		{ "http://0x7f000001", 0 },
		{ "http://2130706433", 0 },
		{ "http://0177.0.0.1", 0 },
		{ "http://127.1", 0 },
		{ "http://localhost.", 0 },
		{ "http://localhost.evil.example", 0 },
		{ "http://evil.example#@127.0.0.1", 0 },
		{ "http://evil.example\\@127.0.0.1", 0 },
		{ "http://127.0.0.1/stats#x", 0 },
		{ "http://%6c%6f%63%61%6c%68%6f%73%74/", 0 },
		{ " http://127.0.0.1/", 0 },
		{ "ftp://127.0.0.1/", 0 },
		{ "unix:///run/x.sock", 0 },
		{ "", 0 },
	};
	char	 err[256];
	size_t	 i;
	int	 rc;

	for (i = 0; i < nitems(cases); i++) {
		err[0] = '\0';
		rc = urlguard_usage_url(cases[i].in, err, sizeof(err));
		if ((rc == 0) != cases[i].ok)
			fail_msg("%s: rc %d err %s", cases[i].in, rc, err);
		if (rc == -1)
			assert_true(strlen(err) > 0);
	}
}

static void
test_host_is_loopback(void **state)
{
	static const struct {
		const char	*host;
		int		 yes;
	} cases[] = {
		{ "localhost", 1 }, { "LOCALHOST", 1 }, { "LocalHost", 1 },
		{ "127.0.0.1", 1 }, { "127.0.0.0", 1 },
		{ "127.255.255.255", 1 },
		{ "::1", 1 }, { "[::1]", 1 },
		{ "localhost.", 0 }, { "localhost.evil.example", 0 },
		{ "127.0.0.1.evil.example", 0 }, { "0x7f000001", 0 },
		{ "2130706433", 0 }, { "0177.0.0.1", 0 }, { "127.1", 0 },
		{ "127.0.0.01", 0 }, { "127.0.0.1 ", 0 }, { " 127.0.0.1", 0 },
		{ "::ffff:127.0.0.1", 0 }, { "[::ffff:127.0.0.1]", 0 },
		{ "0:0:0:0:0:0:0:1", 0 }, { "::0001", 0 }, { "[::1", 0 },
		{ "128.0.0.1", 0 }, { "126.255.255.255", 0 }, { "0.0.0.0", 0 },
		{ "::", 0 }, { "", 0 }, { "local%68ost", 0 },
		{ "127.0.0.256", 0 },
	};
	size_t	 i;

	assert_int_equal(urlguard_host_is_loopback(NULL), 0);
	for (i = 0; i < nitems(cases); i++) {
		if (urlguard_host_is_loopback(cases[i].host) != cases[i].yes)
			fail_msg("%s: expected %d", cases[i].host,
			    cases[i].yes);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_table),
		cmocka_unit_test(test_server_errors_say_why),
		cmocka_unit_test(test_usage_url_table),
		cmocka_unit_test(test_host_is_loopback),
	};
	int	 rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
