/*
 * Unit tests for http.c: a real curl multi handle on a real event_base,
 * against libevent's own HTTP server on loopback in the same loop.  Every
 * test arms a watchdog so a bug fails the test instead of hanging it.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http.h"
#include "util.h"

struct fixture {
	struct event_base	*base;
	struct evhttp		*srv;
	struct http		*http;
	struct event		*watchdog;
	int			 port;
	int			 connections;
	struct evhttp_request	*parked;	/* /slow: never answered */
	/* what the last completed request saw */
	int			 done;
	struct http_response	 resp;
	char			 body[4096];
	size_t			 body_len;
	char			 resp_error[256];
};

static void
fx_reply(struct evhttp_request *req, int code, const char *body)
{
	struct evbuffer	*b = evbuffer_new();

	evbuffer_add(b, body, strlen(body));
	evhttp_send_reply(req, code, "X", b);
	evbuffer_free(b);
}

/* /echo: the request headers, one per line, as the body. */
static void
fx_echo(struct evhttp_request *req)
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(req);
	struct evkeyval		*kv;
	struct evbuffer		*b = evbuffer_new();

	TAILQ_FOREACH(kv, h, next)
		evbuffer_add_printf(b, "%s: %s\n", kv->key, kv->value);
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void
fx_handler(struct evhttp_request *req, void *arg)
{
	struct fixture	*fx = arg;
	const char	*uri = evhttp_request_get_uri(req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);

	if (strncmp(uri, "http://", 7) == 0)
		fx_reply(req, 200, "via-proxy");	/* we are the proxy */
	else if (strcmp(uri, "/ok") == 0)
		fx_reply(req, 200, "{\"ok\":true}");
	else if (strcmp(uri, "/echo") == 0)
		fx_echo(req);
	else if (strcmp(uri, "/busy") == 0) {
		evhttp_add_header(out, "Retry-After", "7");
		fx_reply(req, 503, "{\"error\":{\"code\":\"x\"}}");
	} else if (strcmp(uri, "/redirect") == 0) {
		evhttp_add_header(out, "Location", "http://127.0.0.2:1/x");
		fx_reply(req, 302, "");
	} else if (strcmp(uri, "/big") == 0) {
		char	*big = xmalloc(64 * 1024 + 1);

		memset(big, 'x', 64 * 1024);
		big[64 * 1024] = '\0';
		fx_reply(req, 200, big);
		free(big);
	} else if (strcmp(uri, "/slow") == 0)
		fx->parked = req;
	else
		fx_reply(req, 404, "");
}

static void
fx_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	fail_msg("watchdog: the loop did not finish in time");
}

static int
setup(void **state)
{
	struct fixture			*fx = xcalloc(1, sizeof(*fx));
	struct evhttp_bound_socket	*bs;
	struct sockaddr_in		 sin;
	socklen_t			 slen = sizeof(sin);
	struct http_options		 opts = { NULL, "test/1", 0 };
	struct timeval			 tv = { 10, 0 };

	fx->base = event_base_new();
	fx->srv = evhttp_new(fx->base);
	evhttp_set_gencb(fx->srv, fx_handler, fx);
	bs = evhttp_bind_socket_with_handle(fx->srv, "127.0.0.1", 0);
	assert_non_null(bs);
	getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin,
	    &slen);
	fx->port = ntohs(sin.sin_port);
	fx->http = http_new(fx->base, &opts);
	fx->watchdog = evtimer_new(fx->base, fx_watchdog_cb, fx);
	evtimer_add(fx->watchdog, &tv);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*fx = *state;

	http_free(fx->http);
	if (fx->parked != NULL)
		fx_reply(fx->parked, 200, "");
	event_free(fx->watchdog);
	evhttp_free(fx->srv);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

static void
fx_done(const struct http_response *resp, void *arg)
{
	struct fixture	*fx = arg;

	fx->done++;
	fx->resp = *resp;
	fx->body_len = resp->body.len < sizeof(fx->body) - 1 ?
	    resp->body.len : sizeof(fx->body) - 1;
	if (resp->body.data != NULL)
		memcpy(fx->body, resp->body.data, fx->body_len);
	fx->body[fx->body_len] = '\0';
	fx->resp.body.data = NULL;	/* freed by http after we return */
	snprintf(fx->resp_error, sizeof(fx->resp_error), "%s", resp->error);
	fx->resp.error = NULL;
	event_base_loopbreak(fx->base);
}

/* Run one request to completion. */
static void
fx_run(struct fixture *fx, struct http_req *req)
{
	int	 before = fx->done;

	assert_int_equal(http_req_start(fx->http, req, fx_done, fx), 0);
	while (fx->done == before)
		event_base_loop(fx->base, EVLOOP_ONCE);
}

static struct http_req *
fx_req(struct fixture *fx, const char *method, const char *path)
{
	char	 url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fx->port, path);
	return http_req_new(method, url);
}

static void
test_ok_and_reuse(void **state)
{
	struct fixture	*fx = *state;

	fx_run(fx, fx_req(fx, "GET", "/ok"));
	assert_int_equal(fx->resp.outcome, HTTP_RESULT_OK);
	assert_int_equal(fx->resp.status, 200);
	assert_string_equal(fx->body, "{\"ok\":true}");
	assert_true(fx->resp.new_connection);
	assert_int_equal(http_in_flight(fx->http), 0);

	/* The second request rides on the same connection. */
	fx_run(fx, fx_req(fx, "GET", "/ok"));
	assert_int_equal(fx->resp.outcome, HTTP_RESULT_OK);
	assert_false(fx->resp.new_connection);
}

static void
test_status_and_retry_after(void **state)
{
	struct fixture	*fx = *state;

	fx_run(fx, fx_req(fx, "GET", "/busy"));
	assert_int_equal(fx->resp.outcome, HTTP_RESULT_STATUS);
	assert_int_equal(fx->resp.status, 503);
	assert_int_equal(fx->resp.retry_after_ms, 7000);
	assert_string_equal(fx->body, "{\"error\":{\"code\":\"x\"}}");

	fx_run(fx, fx_req(fx, "GET", "/nothing"));
	assert_int_equal(fx->resp.outcome, HTTP_RESULT_STATUS);
	assert_int_equal(fx->resp.status, 404);
	assert_int_equal(fx->resp.retry_after_ms, -1);
}

static void
test_redirect_not_followed(void **state)
{
	struct fixture	*fx = *state;

	fx_run(fx, fx_req(fx, "GET", "/redirect"));
	assert_int_equal(fx->resp.outcome, HTTP_RESULT_REDIRECT);
	assert_int_equal(fx->resp.status, 302);
}

static void
test_too_large(void **state)
{
	struct fixture	*fx = *state;
	struct http_req	*req = fx_req(fx, "GET", "/big");

	http_req_max_response(req, 64 * 1024 - 1);
	fx_run(fx, req);
	assert_int_equal(fx->resp.outcome, HTTP_RESULT_TOO_LARGE);

	req = fx_req(fx, "GET", "/big");
	http_req_max_response(req, 64 * 1024);
	fx_run(fx, req);
	assert_int_equal(fx->resp.outcome, HTTP_RESULT_OK);
	assert_int_equal(fx->resp.body.len, 64 * 1024);
}

static void
test_timeout(void **state)
{
	struct fixture	*fx = *state;
	struct http_req	*req = fx_req(fx, "GET", "/slow");

	http_req_timeouts(req, 1000, 300);
	fx_run(fx, req);
	assert_int_equal(fx->resp.outcome, HTTP_RESULT_TIMEOUT);
	assert_true(fx->resp.elapsed_ms >= 300);
}

static void
test_network_error(void **state)
{
	struct fixture	*fx = *state;
	struct http_req	*req;

	/* A port nobody listens on: connection refused. */
	req = http_req_new("GET", "http://127.0.0.1:1/");
	fx_run(fx, req);
	assert_int_equal(fx->resp.outcome, HTTP_RESULT_NETWORK);
	assert_int_equal(fx->resp.status, 0);
}

static void
test_headers_and_body(void **state)
{
	struct fixture	*fx = *state;
	struct http_req	*req = fx_req(fx, "POST", "/echo");

	http_req_bearer(req, "s3cret");
	http_req_json_body(req, xstrdup("{\"a\":1}"), 7);
	fx_run(fx, req);
	assert_int_equal(fx->resp.outcome, HTTP_RESULT_OK);
	assert_non_null(strstr(fx->body, "Authorization: Bearer s3cret\n"));
	assert_non_null(strstr(fx->body, "Content-Type: application/json\n"));
	assert_non_null(strstr(fx->body, "Content-Length: 7\n"));
	assert_non_null(strstr(fx->body, "User-Agent: test/1\n"));
	/* curl's default Accept and Expect are not sent. */
	assert_null(strstr(fx->body, "Accept"));
	assert_null(strstr(fx->body, "Expect"));

	req = fx_req(fx, "GET", "/echo");
	http_req_header(req, "Accept: application/json");
	fx_run(fx, req);
	assert_non_null(strstr(fx->body, "Accept: application/json\n"));
	assert_null(strstr(fx->body, "Authorization"));
}

static void
test_proxy_env_and_loopback_only(void **state)
{
	struct fixture	*fx = *state;
	struct http_req	*req;
	char		 proxy[64];

	/*
	 * A new http object reads the proxy exceptions at creation.  The
	 * remote address below is never contacted: either our test server
	 * answers as the proxy, or the request is refused before connect.
	 */
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", fx->port);
	setenv("http_proxy", proxy, 1);

	req = http_req_new("GET", "http://192.0.2.1/ok");
	fx_run(fx, req);
	assert_int_equal(fx->resp.outcome, HTTP_RESULT_OK);
	assert_string_equal(fx->body, "via-proxy");

	/* Loopback destinations never go through a proxy (as in Go). */
	setenv("http_proxy", "http://127.0.0.1:1", 1);
	fx_run(fx, fx_req(fx, "GET", "/ok"));
	assert_int_equal(fx->resp.outcome, HTTP_RESULT_OK);

	/* loopback_only: no proxy at all, and a remote peer is refused. */
	setenv("http_proxy", proxy, 1);
	req = http_req_new("GET", "http://192.0.2.1/ok");
	http_req_loopback_only(req);
	fx_run(fx, req);
	assert_int_equal(fx->resp.outcome, HTTP_RESULT_NETWORK);
	assert_string_equal(fx->resp_error, "refused: peer is not a loopback "
	    "address");

	req = fx_req(fx, "GET", "/ok");
	http_req_loopback_only(req);
	fx_run(fx, req);
	assert_int_equal(fx->resp.outcome, HTTP_RESULT_OK);
	unsetenv("http_proxy");
}

static void
test_cancel_on_free(void **state)
{
	struct fixture	*fx = *state;

	assert_int_equal(http_req_start(fx->http, fx_req(fx, "GET", "/slow"),
	    fx_done, fx), 0);
	/* Let curl connect and send, then tear down with it in flight. */
	while (fx->parked == NULL)
		event_base_loop(fx->base, EVLOOP_ONCE);
	http_free(fx->http);
	assert_int_equal(fx->done, 1);
	assert_int_equal(fx->resp.outcome, HTTP_RESULT_CANCELLED);
	fx->http = NULL;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ok_and_reuse, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_status_and_retry_after,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirect_not_followed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_large, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_error, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_headers_and_body, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_proxy_env_and_loopback_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_on_free, setup,
		    teardown),
	};
	int	 rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
