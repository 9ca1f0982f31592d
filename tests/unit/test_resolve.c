/*
 * Unit tests for resolve.c on a real event base: IP literals, the hosts
 * file, a test DNS server in the same process (evdns's server side on a
 * loopback UDP port) answering A and AAAA, NXDOMAIN, and one that never
 * answers (the total time bound).  Every loop runs under a watchdog.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/dns_struct.h>
#include <event2/event.h>

#include "resolve.h"

enum fake_mode { FAKE_ANSWER, FAKE_NXDOMAIN, FAKE_SILENT };

struct fixture {
	struct event_base		*base;
	struct evdns_base		*dns;
	struct evdns_server_port	*port;
	int				 sock;
	enum fake_mode			 mode;
	int				 queries;
	char				 resolv[64];
	char				 hosts[64];
	/* what the callback saw */
	int				 called;
	struct resolve_result		 res;
	int64_t				 calls_in_start;
};

static void
fake_server_cb(struct evdns_server_request *req, void *arg)
{
	struct fixture	*f = arg;
	uint8_t		 a4[3][4] = { { 10, 0, 0, 10 }, { 10, 0, 0, 2 },
			    { 10, 0, 0, 10 } };
	struct in6_addr	 a6[2];
	int		 i;

	f->queries++;
	if (f->mode == FAKE_SILENT) {
		evdns_server_request_drop(req);
		return;
	}
	if (f->mode == FAKE_NXDOMAIN) {
		evdns_server_request_respond(req, DNS_ERR_NOTEXIST);
		return;
	}
	inet_pton(AF_INET6, "2001:db8::10", &a6[0]);
	inet_pton(AF_INET6, "2001:db8::2", &a6[1]);
	for (i = 0; i < req->nquestions; i++) {
		const struct evdns_server_question *q = req->questions[i];

		if (q->type == EVDNS_TYPE_A)
			evdns_server_request_add_a_reply(req, q->name, 3, a4,
			    60);
		else if (q->type == EVDNS_TYPE_AAAA)
			evdns_server_request_add_aaaa_reply(req, q->name, 2,
			    a6, 60);
	}
	evdns_server_request_respond(req, DNS_ERR_NONE);
}

static void
write_file(const char *path, const char *text)
{
	FILE	*fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static int
setup(void **state)
{
	struct fixture		*f = calloc(1, sizeof(*f));
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof(sin);
	char			 text[128];
	int			 fd;

	f->base = event_base_new();
	f->sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	assert_true(f->sock >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->sock, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(getsockname(f->sock, (struct sockaddr *)&sin,
	    &slen), 0);
	f->port = evdns_add_server_port_with_base(f->base, f->sock, 0,
	    fake_server_cb, f);
	assert_non_null(f->port);

	snprintf(f->resolv, sizeof(f->resolv), "/tmp/test_resolve.rc.XXXXXX");
	fd = mkstemp(f->resolv);
	assert_true(fd >= 0);
	close(fd);
	snprintf(text, sizeof(text), "nameserver 127.0.0.1:%u\n"
	    "options timeout:5 attempts:1\n", ntohs(sin.sin_port));
	write_file(f->resolv, text);

	snprintf(f->hosts, sizeof(f->hosts), "/tmp/test_resolve.hosts.XXXXXX");
	fd = mkstemp(f->hosts);
	assert_true(fd >= 0);
	close(fd);
	write_file(f->hosts, "127.0.0.1 localhost\n"
	    "10.1.0.10 mixed.test\n2001:db8::10 mixed.test\n"
	    "10.1.0.2 mixed.test\n10.1.0.10 mixed.test\n");

	f->dns = resolve_dns_new(f->base, f->resolv, f->hosts);
	assert_non_null(f->dns);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	resolve_addrs_free(&f->res.addrs);
	resolve_dns_free(f->dns);
	evdns_close_server_port(f->port);
	close(f->sock);
	event_base_free(f->base);
	unlink(f->resolv);
	unlink(f->hosts);
	free(f);
	return (0);
}

static void
done_cb(struct resolve_req *req, struct resolve_result *res, void *arg)
{
	struct fixture	*f = arg;

	f->called++;
	f->res = *res;
	memset(&res->addrs, 0, sizeof(res->addrs));
	event_base_loopbreak(f->base);
}

/* Run one lookup to completion, failing (not hanging) after 5 s. */
static void
run(struct fixture *f, const char *host, int64_t timeout_ms)
{
	struct resolve_req	*req;
	struct timeval		 watchdog = { 5, 0 };

	req = resolve_start(f->base, f->dns, host, timeout_ms, done_cb, f);
	assert_non_null(req);
	assert_int_equal(f->called, 0);	/* never from inside start */
	event_base_loopexit(f->base, &watchdog);
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 1);
	resolve_free(req);
	/* Let late evdns callbacks (after a cancel) run, as nft_run does. */
	event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static void
assert_v4(const struct resolve_addrs *a, size_t i, const char *want)
{
	char	 s[INET_ADDRSTRLEN];

	assert_true(i < a->n4);
	inet_ntop(AF_INET, &a->v4[i], s, sizeof(s));
	assert_string_equal(s, want);
}

static void
assert_v6(const struct resolve_addrs *a, size_t i, const char *want)
{
	char	 s[INET6_ADDRSTRLEN];

	assert_true(i < a->n6);
	inet_ntop(AF_INET6, &a->v6[i], s, sizeof(s));
	assert_string_equal(s, want);
}

static void
test_literal_v4(void **state)
{
	struct fixture	*f = *state;

	run(f, "192.0.2.7", 1000);
	assert_int_equal(f->res.status, RESOLVE_OK);
	assert_int_equal(f->res.addrs.n4, 1);
	assert_int_equal(f->res.addrs.n6, 0);
	assert_v4(&f->res.addrs, 0, "192.0.2.7");
	assert_int_equal(f->queries, 0);
}

static void
test_literal_v6(void **state)
{
	struct fixture	*f = *state;

	run(f, "2001:db8::1", 1000);
	assert_int_equal(f->res.status, RESOLVE_OK);
	assert_int_equal(f->res.addrs.n4, 0);
	assert_int_equal(f->res.addrs.n6, 1);
	assert_v6(&f->res.addrs, 0, "2001:db8::1");
	assert_int_equal(f->queries, 0);
}

static void
test_localhost_hosts(void **state)
{
	struct fixture	*f = *state;

	run(f, "localhost", 1000);
	assert_int_equal(f->res.status, RESOLVE_OK);
	assert_int_equal(f->res.addrs.n4, 1);
	assert_v4(&f->res.addrs, 0, "127.0.0.1");
	assert_int_equal(f->queries, 0);	/* answered by hosts */
}

static void
test_hosts_both_families(void **state)
{
	struct fixture	*f = *state;

	run(f, "mixed.test", 1000);
	assert_int_equal(f->res.status, RESOLVE_OK);
	/* Answer order, duplicates kept: nft.c sorts and de-duplicates. */
	assert_int_equal(f->res.addrs.n4, 3);
	assert_v4(&f->res.addrs, 0, "10.1.0.10");
	assert_v4(&f->res.addrs, 1, "10.1.0.2");
	assert_int_equal(f->res.addrs.n6, 1);
	assert_v6(&f->res.addrs, 0, "2001:db8::10");
	assert_int_equal(f->queries, 0);
}

static void
test_dns_a_and_aaaa(void **state)
{
	struct fixture	*f = *state;

	run(f, "ctl.example", 3000);
	assert_int_equal(f->res.status, RESOLVE_OK);
	assert_int_equal(f->res.addrs.n4, 3);
	assert_int_equal(f->res.addrs.n6, 2);
	assert_true(f->queries >= 2);
}

static void
test_dns_nxdomain(void **state)
{
	struct fixture	*f = *state;

	f->mode = FAKE_NXDOMAIN;
	run(f, "nosuch.example", 3000);
	assert_int_equal(f->res.status, RESOLVE_NOT_FOUND);
	assert_non_null(f->res.errstr);
	assert_int_equal(f->res.addrs.n4 + f->res.addrs.n6, 0);
}

static void
test_dns_timeout(void **state)
{
	struct fixture	*f = *state;
	int64_t		 t0, el;
	struct timespec	 ts;

	f->mode = FAKE_SILENT;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	run(f, "slow.example", 200);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	el = ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - t0;
	assert_int_equal(f->res.status, RESOLVE_TIMED_OUT);
	assert_true(f->queries >= 1);
	assert_true(el >= 150 && el < 4000);
}

/* Freeing a pending request: no callback, no leak, no use after free. */
static void
test_free_pending(void **state)
{
	struct fixture		*f = *state;
	struct resolve_req	*req;
	struct timeval		 tv = { 0, 100000 };

	f->mode = FAKE_SILENT;
	req = resolve_start(f->base, f->dns, "pending.example", 5000,
	    done_cb, f);
	assert_non_null(req);
	event_base_loopexit(f->base, &tv);	/* let the query go out */
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 0);
	resolve_free(req);
	tv.tv_usec = 50000;
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 0);
}

static void
test_missing_resolv_conf(void **state)
{
	struct event_base	*base = event_base_new();
	struct evdns_base	*dns;

	dns = resolve_dns_new(base, "/nonexistent/resolv.conf",
	    "/nonexistent/hosts");
	assert_non_null(dns);
	resolve_dns_free(dns);
	event_base_free(base);
}

static void
test_bad_timeout(void **state)
{
	struct fixture	*f = *state;

	assert_null(resolve_start(f->base, f->dns, "x.example", 0, done_cb,
	    f));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_literal_v4, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_literal_v6, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_localhost_hosts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hosts_both_families,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_dns_a_and_aaaa, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dns_nxdomain, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dns_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_pending, setup,
		    teardown),
		cmocka_unit_test(test_missing_resolv_conf),
		cmocka_unit_test_setup_teardown(test_bad_timeout, setup,
		    teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
