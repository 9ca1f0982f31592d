/*
 * Unit tests for nft.c: every validation rule (the exit-2 cases), host
 * normalisation, numeric sort and de-duplication, the answer rules and the
 * exact batch text handed to `nft -f -`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "nft.h"

static void
test_host_table(void **state)
{
	static char	 l63[64], l64[65], n253[254], n254[255], n253dot[255];
	char		 out[NFT_HOST_SIZE], err[256];
	size_t		 i;
	struct {
		const char	*in;
		const char	*out;	/* NULL: must be refused */
	} cases[] = {
		{ "ctl.example.com", "ctl.example.com" },
		{ "Example.COM", "example.com" },
		{ "  ctl.example.com.  ", "ctl.example.com" },
		{ "\tA-b.c\n", "a-b.c" },
		{ "localhost", "localhost" },
		{ "xn--bcher-kva.example", "xn--bcher-kva.example" },
		{ "a1.b2-c.d", "a1.b2-c.d" },
		{ "0x7f000001", "0x7f000001" },	/* a name, not a number */
		{ "192.0.2.1", "192.0.2.1" },
		{ "192.0.2.1.", "192.0.2.1" },
		{ "2001:DB8::0:1", "2001:db8::1" },
		{ "::ffff:10.0.0.1", "::ffff:10.0.0.1" },
		{ "::1", "::1" },
		{ l63, l63 },
		{ l64, NULL },
		{ n253, n253 },
		{ n253dot, n253 },
		{ n254, NULL },
		{ "", NULL },
		{ "   ", NULL },
		{ ".", NULL },
		{ "..", NULL },
		{ "a..b", NULL },
		{ ".a", NULL },
		{ "a.b..", NULL },
		{ "-a.b", NULL },
		{ "a-.b", NULL },
		{ "a.-b", NULL },
		{ "a_b.example", NULL },	/* underscore: not a host */
		{ "_dmarc.example", NULL },
		{ "a b", NULL },
		{ "a\x01" "b", NULL },
		{ "caf\xc3\xa9.example", NULL },
		{ "a/b", NULL },
		{ "a*b", NULL },
		{ "a;b", NULL },
		{ "a:b", NULL },		/* not an IPv6 address */
		{ "[::1]", NULL },
		{ "fe80::1%eth0", NULL },
		{ "1.2.3", NULL },		/* numeric last label */
		{ "2130706433", NULL },
		{ "010.0.0.1", NULL },
		{ "256.1.1.1", NULL },
		{ "1.2.3.4.5", NULL },
		{ "example.123", NULL },
	};

	memset(l63, 'a', 63);
	memset(l64, 'b', 64);
	/* 253 = 3 * 63 + 3 dots + 61 */
	memset(n253, 'c', 253);
	n253[63] = n253[127] = n253[191] = '.';
	memcpy(n254, n253, 253);
	n254[253] = 'd';
	memcpy(n253dot, n253, 253);
	n253dot[253] = '.';

	for (i = 0; i < nitems(cases); i++) {
		int	 rv;

		strcpy(out, "untouched");
		err[0] = '\0';
		rv = nft_host_normalise(cases[i].in, out, err, sizeof(err));
		if (cases[i].out == NULL) {
			if (rv != -1)
				fail_msg("case %zu accepted: %s", i, out);
			assert_string_equal(out, "untouched");
			assert_non_null(strstr(err, "-host"));
			assert_null(strchr(err, '\x01'));
		} else {
			if (rv != 0)
				fail_msg("case %zu refused: %s", i, err);
			assert_string_equal(out, cases[i].out);
		}
	}
	assert_int_equal(nft_host_normalise(NULL, out, err, sizeof(err)), -1);
}

static void
test_family_and_names(void **state)
{
	static char	 n64[65], n65[66];

	assert_true(nft_family_valid("inet"));
	assert_true(nft_family_valid("ip"));
	assert_true(nft_family_valid("ip6"));
	assert_false(nft_family_valid("INET"));
	assert_false(nft_family_valid(""));
	assert_false(nft_family_valid(NULL));
	assert_false(nft_family_valid("bridge"));
	assert_false(nft_family_valid("netdev"));
	assert_false(nft_family_valid("inet "));

	memset(n64, 'x', 64);
	memset(n65, 'x', 65);
	assert_true(nft_name_valid("t"));
	assert_true(nft_name_valid("_"));
	assert_true(nft_name_valid("lattice_policy"));
	assert_true(nft_name_valid("Set_4"));
	assert_true(nft_name_valid(n64));
	assert_false(nft_name_valid(n65));
	assert_false(nft_name_valid(""));
	assert_false(nft_name_valid(NULL));
	assert_false(nft_name_valid("4set"));
	assert_false(nft_name_valid("a-b"));
	assert_false(nft_name_valid("a.b"));
	assert_false(nft_name_valid("a b"));
	assert_false(nft_name_valid("s; flush ruleset"));
	assert_false(nft_name_valid("s\n"));
	assert_false(nft_name_valid("caf\xc3\xa9"));
}

static void
test_validate_table(void **state)
{
	char	 host[NFT_HOST_SIZE], err[256];
	size_t	 i;
	struct {
		struct nft_args	 a;
		const char	*err;	/* NULL: valid; else a substring */
	} cases[] = {
		{ { "Ctl.Example.", "inet", "t", "s4", "s6", NULL }, NULL },
		{ { "ctl.example", NULL, "t", "s4", "s6", NULL }, NULL },
		{ { "ctl.example", "ip", "t", "s4", NULL, NULL }, NULL },
		{ { "ctl.example", "ip", "t", "s4", "", NULL }, NULL },
		{ { "ctl.example", "ip6", "t", NULL, "s6", NULL }, NULL },
		{ { "ctl.example", "inet", "t", NULL, "s6", NULL }, NULL },
		{ { "ctl.example", "inet", "t", "s4", NULL, "/sbin/nft" },
		    NULL },
		{ { NULL, "inet", "t", "s4", NULL, NULL }, "-host" },
		{ { "bad_host", "inet", "t", "s4", NULL, NULL }, "-host" },
		{ { "ctl.example", "", "t", "s4", NULL, NULL }, "-family" },
		{ { "ctl.example", "bridge", "t", "s4", NULL, NULL },
		    "-family" },
		{ { "ctl.example", "inet", NULL, "s4", NULL, NULL },
		    "-table is required" },
		{ { "ctl.example", "inet", "", "s4", NULL, NULL },
		    "-table is required" },
		{ { "ctl.example", "inet", "t-1", "s4", NULL, NULL },
		    "-table \"t-1\"" },
		{ { "ctl.example", "inet", "t", NULL, NULL, NULL },
		    "no set given" },
		{ { "ctl.example", "inet", "t", "", "", NULL },
		    "no set given" },
		{ { "ctl.example", "inet", "t", "9s", NULL, NULL },
		    "-set \"9s\"" },
		{ { "ctl.example", "inet", "t", "s4", "s 6", NULL },
		    "-set6 \"s?6\"" },
		{ { "ctl.example", "ip6", "t", "s4", NULL, NULL },
		    "-set is an IPv4 set" },
		{ { "ctl.example", "ip6", "t", "s4", "s6", NULL },
		    "-set is an IPv4 set" },
		{ { "ctl.example", "ip", "t", NULL, "s6", NULL },
		    "-set6 is an IPv6 set" },
		{ { "ctl.example", "ip", "t", "s4", "s6", NULL },
		    "-set6 is an IPv6 set" },
		{ { "ctl.example", "inet", "t", "s", "s", NULL },
		    "must be different" },
		{ { "ctl.example", "inet", "t", "s4", NULL, "nft" }, "-nft" },
		{ { "ctl.example", "inet", "t", "s4", NULL, "" }, "-nft" },
		{ { "ctl.example", "inet", "t", "s4", NULL, "/sbin/nft\n" },
		    "-nft" },
	};

	for (i = 0; i < nitems(cases); i++) {
		int	 rv;

		strcpy(host, "untouched");
		err[0] = '\0';
		rv = nft_validate(&cases[i].a, host, err, sizeof(err));
		if (cases[i].err == NULL) {
			if (rv != 0)
				fail_msg("case %zu refused: %s", i, err);
			assert_string_equal(host, "ctl.example");
		} else {
			if (rv != -1)
				fail_msg("case %zu accepted", i);
			if (strstr(err, cases[i].err) == NULL)
				fail_msg("case %zu: \"%s\" lacks \"%s\"", i,
				    err, cases[i].err);
			assert_string_equal(host, "untouched");
		}
	}
}

static void
add4(struct resolve_addrs *a, const char *s)
{
	struct in_addr	 in;

	assert_int_equal(inet_pton(AF_INET, s, &in), 1);
	resolve_addrs_add4(a, &in);
}

static void
add6(struct resolve_addrs *a, const char *s)
{
	struct in6_addr	 in6;

	assert_int_equal(inet_pton(AF_INET6, s, &in6), 1);
	resolve_addrs_add6(a, &in6);
}

static void
test_sort_dedup(void **state)
{
	struct resolve_addrs	 a;
	struct buf		 b;
	struct nft_args		 args = { "h", "inet", "t", "s4", "s6", NULL };

	memset(&a, 0, sizeof(a));
	add4(&a, "10.0.0.10");
	add4(&a, "10.0.0.2");
	add4(&a, "192.168.0.1");
	add4(&a, "9.255.255.255");
	add4(&a, "10.0.0.2");
	add4(&a, "10.0.0.10");
	add4(&a, "10.0.0.10");
	add6(&a, "::10");
	add6(&a, "::2");
	add6(&a, "2001:db8::1");
	add6(&a, "::2");
	add6(&a, "::1");
	add6(&a, "fe80::1");
	add6(&a, "::ffff:10.0.0.1");
	nft_addrs_canon(&a);
	assert_int_equal(a.n4, 4);
	assert_int_equal(a.n6, 6);

	buf_init(&b);
	nft_batch(&b, &args, &a);
	assert_string_equal(b.data,
	    "flush set inet t s4\n"
	    "add element inet t s4 { 9.255.255.255, 10.0.0.2, 10.0.0.10, "
	    "192.168.0.1 }\n"
	    "flush set inet t s6\n"
	    "add element inet t s6 { ::1, ::2, ::10, ::ffff:10.0.0.1, "
	    "2001:db8::1, fe80::1 }\n");
	buf_free(&b);
	resolve_addrs_free(&a);

	/* Empty and single-element lists survive untouched. */
	nft_addrs_canon(&a);
	assert_int_equal(a.n4 + a.n6, 0);
	add4(&a, "1.1.1.1");
	nft_addrs_canon(&a);
	assert_int_equal(a.n4, 1);
	resolve_addrs_free(&a);
}

static void
test_answer_rules(void **state)
{
	char	 err[256];
	size_t	 i;
	struct {
		const char	*set, *set6;
		const char	*v4, *v6;	/* one address or NULL */
		const char	*err;		/* NULL: accepted */
	} cases[] = {
		{ "s4", NULL, "10.0.0.1", NULL, NULL },
		{ "s4", NULL, "10.0.0.1", "::1", NULL },
		{ "s4", NULL, NULL, NULL, "no IPv4 (A) address for -set;" },
		{ "s4", NULL, NULL, "::1", "only IPv6 answers" },
		{ NULL, "s6", NULL, "::1", NULL },
		{ NULL, "s6", "10.0.0.1", "::1", NULL },
		{ NULL, "s6", NULL, NULL, "no IPv6 (AAAA) address for -set6;" },
		{ NULL, "s6", "10.0.0.1", NULL, "only IPv4 answers" },
		{ "s4", "s6", "10.0.0.1", "::1", NULL },
		{ "s4", "s6", "10.0.0.1", NULL, NULL },
		{ "s4", "s6", NULL, "::1", NULL },
		{ "s4", "s6", NULL, NULL, "no IPv4 (A) or IPv6 (AAAA)" },
	};

	for (i = 0; i < nitems(cases); i++) {
		struct nft_args		 a = { "ctl.example", "inet", "t",
					    cases[i].set, cases[i].set6, NULL };
		struct resolve_addrs	 addrs;
		int			 rv;

		memset(&addrs, 0, sizeof(addrs));
		if (cases[i].v4 != NULL)
			add4(&addrs, cases[i].v4);
		if (cases[i].v6 != NULL)
			add6(&addrs, cases[i].v6);
		err[0] = '\0';
		rv = nft_check_answers(&a, "ctl.example", &addrs, err,
		    sizeof(err));
		if (cases[i].err == NULL) {
			if (rv != 0)
				fail_msg("case %zu refused: %s", i, err);
		} else {
			if (rv != -1)
				fail_msg("case %zu accepted", i);
			assert_non_null(strstr(err, "ctl.example"));
			if (strstr(err, cases[i].err) == NULL)
				fail_msg("case %zu: \"%s\" lacks \"%s\"", i,
				    err, cases[i].err);
		}
		resolve_addrs_free(&addrs);
	}
}

static void
test_batch_golden(void **state)
{
	size_t	 i;
	struct {
		struct nft_args	 a;
		const char	*v4[3], *v6[3];
		const char	*want;
	} cases[] = {
		{ { "h", "inet", "lattice_policy", "lattice_control4",
		    "lattice_control6", NULL },
		    { "203.0.113.9", "198.51.100.7", NULL },
		    { "2001:db8::9", NULL, NULL },
		    "flush set inet lattice_policy lattice_control4\n"
		    "add element inet lattice_policy lattice_control4 "
		    "{ 198.51.100.7, 203.0.113.9 }\n"
		    "flush set inet lattice_policy lattice_control6\n"
		    "add element inet lattice_policy lattice_control6 "
		    "{ 2001:db8::9 }\n" },
		/* Both sets, no IPv6 answer: the IPv6 set is emptied. */
		{ { "h", "inet", "t", "s4", "s6", NULL },
		    { "10.0.0.1", NULL, NULL }, { NULL, NULL, NULL },
		    "flush set inet t s4\n"
		    "add element inet t s4 { 10.0.0.1 }\n"
		    "flush set inet t s6\n" },
		{ { "h", "inet", "t", "s4", "s6", NULL },
		    { NULL, NULL, NULL }, { "::1", NULL, NULL },
		    "flush set inet t s4\n"
		    "flush set inet t s6\n"
		    "add element inet t s6 { ::1 }\n" },
		/* -set alone: IPv6 answers are not used. */
		{ { "h", "ip", "t", "s4", NULL, NULL },
		    { "10.0.0.1", NULL, NULL }, { "::1", NULL, NULL },
		    "flush set ip t s4\n"
		    "add element ip t s4 { 10.0.0.1 }\n" },
		{ { "h", NULL, "t", "s4", "", NULL },
		    { "10.0.0.1", NULL, NULL }, { NULL, NULL, NULL },
		    "flush set inet t s4\n"
		    "add element inet t s4 { 10.0.0.1 }\n" },
		{ { "h", "ip6", "t", NULL, "s6", NULL },
		    { "10.0.0.1", NULL, NULL }, { "::2", "::1", NULL },
		    "flush set ip6 t s6\n"
		    "add element ip6 t s6 { ::1, ::2 }\n" },
	};

	for (i = 0; i < nitems(cases); i++) {
		struct resolve_addrs	 addrs;
		struct buf		 b;
		size_t			 j;

		memset(&addrs, 0, sizeof(addrs));
		for (j = 0; j < 3; j++) {
			if (cases[i].v4[j] != NULL)
				add4(&addrs, cases[i].v4[j]);
			if (cases[i].v6[j] != NULL)
				add6(&addrs, cases[i].v6[j]);
		}
		nft_addrs_canon(&addrs);
		buf_init(&b);
		nft_batch(&b, &cases[i].a, &addrs);
		assert_string_equal(b.data, cases[i].want);
		buf_free(&b);
		resolve_addrs_free(&addrs);
	}
}

/* Usage errors end the mode with 2 before resolving or running nft. */
static void
test_run_usage_errors(void **state)
{
	struct event_base	*base = event_base_new();
	struct nft_args		 bad_family = { "ctl.example", "arp", "t",
				    "s4", NULL, "/bin/false" };
	struct nft_args		 no_bin = { "ctl.example", "inet", "t", "s4",
				    NULL, "/nonexistent/nft" };

	assert_int_equal(nft_run(base, &bad_family), NFT_EXIT_USAGE);
	assert_int_equal(nft_run(base, &no_bin), NFT_EXIT_USAGE);
	event_base_free(base);
}

/*
 * The real path with an IP literal (no DNS) and a fake nft that records
 * its stdin and exits with the status in its name: needs no root.
 */
static void
test_run_fake_nft(void **state)
{
	struct event_base	*base = event_base_new();
	char			 dir[] = "/tmp/test_nft.XXXXXX", ok[64], bad[64];
	char			 in[64], cmd[256], *got;
	FILE			*fp;
	struct nft_args		 a = { "192.0.2.1", NULL, "t", "s4", "s6",
				    ok };
	struct nft_args		 v6only = { "2001:db8::1", "inet", "t", "s4",
				    NULL, ok };

	assert_non_null(mkdtemp(dir));
	snprintf(ok, sizeof(ok), "%s/nft0", dir);
	snprintf(bad, sizeof(bad), "%s/nft1", dir);
	snprintf(in, sizeof(in), "%s/stdin", dir);
	for (int code = 0; code < 2; code++) {
		fp = fopen(code == 0 ? ok : bad, "w");
		assert_non_null(fp);
		fprintf(fp, "#!/bin/sh\n[ \"$1 $2\" = \"-f -\" ] || exit 9\n"
		    "cat > %s\necho 'Error: boom' >&2\nexit %d\n", in, code);
		fclose(fp);
		assert_int_equal(chmod(code == 0 ? ok : bad, 0755), 0);
	}

	assert_int_equal(nft_run(base, &a), NFT_EXIT_OK);
	got = read_small_file(in, 4096, NULL);
	assert_non_null(got);
	assert_string_equal(got, "flush set inet t s4\n"
	    "add element inet t s4 { 192.0.2.1 }\n"
	    "flush set inet t s6\n");
	free(got);
	unlink(in);

	a.nft_bin = bad;
	assert_int_equal(nft_run(base, &a), NFT_EXIT_FAIL);
	assert_int_equal(access(in, F_OK), 0);	/* it did run */
	unlink(in);

	/* No IPv4 answer for -set: exit 1 and nft never runs. */
	assert_int_equal(nft_run(base, &v6only), NFT_EXIT_FAIL);
	assert_int_equal(access(in, F_OK), -1);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_table),
		cmocka_unit_test(test_family_and_names),
		cmocka_unit_test(test_validate_table),
		cmocka_unit_test(test_sort_dedup),
		cmocka_unit_test(test_answer_rules),
		cmocka_unit_test(test_batch_golden),
		cmocka_unit_test(test_run_usage_errors),
		cmocka_unit_test(test_run_fake_nft),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
