/* Unit tests for api.c: error bodies, outcome classification, payloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api.h"

static void
test_parse_error(void **state)
{
	struct api_error	 e;
	const char		*ok = "{\"error\":{\"code\":\"invalid_node_token\","
	    "\"message\":\"bad\\ntoken\",\"request_id\":\"r-1\"}}";
	static const char	*bad[] = {
		"", "null", "[]", "{\"error\":\"x\"}", "{\"error\":{}", "<html>",
		"{\"error\":{\"code\":1}} trailing",
	};
	size_t			 i;

	assert_int_equal(api_parse_error(ok, strlen(ok), &e), 0);
	assert_string_equal(e.code, "invalid_node_token");
	assert_string_equal(e.message, "bad token");	/* control chars go */
	assert_string_equal(e.request_id, "r-1");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(api_parse_error(bad[i], strlen(bad[i]), &e),
		    -1);
	/* A wrong type for code leaves it empty but the body still parses. */
	assert_int_equal(api_parse_error("{\"error\":{\"code\":1}}", 20, &e), 0);
	assert_string_equal(e.code, "");
}

static void
test_classify(void **state)
{
	static const struct {
		enum http_outcome	 outcome;
		long			 status;
		const char		*body;
		enum api_verdict	 want;
	} cases[] = {
		{ HTTP_RESULT_OK, 200, "{\"ok\":true}", API_OK },
		{ HTTP_RESULT_OK, 204, "", API_OK },
		{ HTTP_RESULT_STATUS, 401, "{\"error\":{\"code\":\"invalid_node_token\"}}",
		    API_UNAUTHORIZED },
		{ HTTP_RESULT_STATUS, 403, "{\"error\":{\"code\":\"invalid_task_lease\"}}",
		    API_LEASE_INVALID },
		{ HTTP_RESULT_STATUS, 403, "{\"error\":{\"code\":\"forbidden\"}}",
		    API_REJECTED },
		{ HTTP_RESULT_STATUS, 400, "{\"error\":{\"code\":\"bad_request\"}}",
		    API_REJECTED },
		{ HTTP_RESULT_STATUS, 429, "", API_TRANSIENT },
		{ HTTP_RESULT_STATUS, 500, "garbage", API_TRANSIENT },
		{ HTTP_RESULT_STATUS, 503, "", API_TRANSIENT },
		{ HTTP_RESULT_REDIRECT, 302, "", API_TRANSIENT },
		{ HTTP_RESULT_TIMEOUT, 0, "", API_TRANSIENT },
		{ HTTP_RESULT_NETWORK, 0, "", API_TRANSIENT },
		{ HTTP_RESULT_TOO_LARGE, 200, "", API_TRANSIENT },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_response	 resp;
		struct api_reply	 r;

		memset(&resp, 0, sizeof(resp));
		resp.outcome = cases[i].outcome;
		resp.status = cases[i].status;
		resp.body.data = (char *)cases[i].body;
		resp.body.len = strlen(cases[i].body);
		resp.error = "boom";
		resp.retry_after_ms = -1;
		api_classify(&resp, &r);
		assert_int_equal(r.verdict, cases[i].want);
		assert_true(r.summary[0] != '\0');
	}
}

static void
test_summary_names_code(void **state)
{
	struct http_response	 resp;
	struct api_reply	 r;
	const char		*body = "{\"error\":{\"code\":\"bad_request\","
	    "\"message\":\"no\",\"request_id\":\"abc\"}}";

	memset(&resp, 0, sizeof(resp));
	resp.outcome = HTTP_RESULT_STATUS;
	resp.status = 400;
	resp.body.data = (char *)body;
	resp.body.len = strlen(body);
	resp.error = "";
	api_classify(&resp, &r);
	assert_string_equal(r.summary,
	    "HTTP 400 code=bad_request message=no request_id=abc");
}

static void
test_identity_json(void **state)
{
	struct api_identity	 id = { "n1", "", "", "10.0.0.1/32", "", "", 0 };
	json_t			*j = api_identity_json(&id);
	char			*s = json_dumps(j, JSON_COMPACT |
	    JSON_PRESERVE_ORDER);

	assert_string_equal(s, "{\"node_id\":\"n1\",\"version\":\"0.1.0\","
	    "\"public_ip\":\"\",\"public_ipv6\":\"\","
	    "\"wireguard_ip\":\"10.0.0.1/32\"}");
	free(s);
	json_decref(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_error),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_summary_names_code),
		cmocka_unit_test(test_identity_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
