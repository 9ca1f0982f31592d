/*
 * Unit tests for the pure parts of task.c: the lease-list parser against
 * hostile JSON, the execution gates, the child environment, effective
 * limits, result bodies (UTF-8 repair at the cap, bodies that would blow
 * the 1 MiB request limit after escaping) and the work-dir removal.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "task.h"
#include "utf8.h"
#include "util.h"

#define MIB	(1u << 20)

static const char good1[] = "{\"id\":\"t1\",\"lease_id\":\"l1\","
    "\"interpreter\":\"sh\",\"script\":\"echo hi\",\"timeout_sec\":30,"
    "\"output_limit\":65536}";

static void
test_parse_table(void **state)
{
	static const struct {
		const char	*body;
		int		 ret;
		size_t		 n, skipped;
		const char	*invalid0;	/* substring, or NULL: valid */
	} cases[] = {
		{ "[]", 0, 0, 0, NULL },
		{ "", -1, 0, 0, NULL },
		{ "{}", -1, 0, 0, NULL },
		{ "null", -1, 0, 0, NULL },
		{ "\"[]\"", -1, 0, 0, NULL },
		{ "[] []", -1, 0, 0, NULL },
		{ "[1, \"x\", null, [], true]", 0, 0, 5, NULL },
		{ "[{}]", 0, 0, 1, NULL },
		{ "[{\"id\":\"t\"}]", 0, 0, 1, NULL },
		{ "[{\"id\":1,\"lease_id\":\"l\"}]", 0, 0, 1, NULL },
		{ "[{\"id\":\"\",\"lease_id\":\"l\"}]", 0, 0, 1, NULL },
		{ "[{\"id\":\"a\\u0000b\",\"lease_id\":\"l\"}]", 0, 0, 1,
		    NULL },
		{ "[{\"id\":\"t\",\"lease_id\":\"l\"}]", 0, 1, 0,
		    "\"interpreter\"" },
		{ "[{\"id\":\"t\",\"lease_id\":\"l\",\"interpreter\":\"sh\","
		    "\"script\":7,\"timeout_sec\":1,\"output_limit\":1}]", 0,
		    1, 0, "\"script\"" },
		{ "[{\"id\":\"t\",\"lease_id\":\"l\",\"interpreter\":\"sh\","
		    "\"script\":\"x\",\"timeout_sec\":1.5,"
		    "\"output_limit\":1}]", 0, 1, 0, "\"timeout_sec\"" },
		{ "[{\"id\":\"t\",\"lease_id\":\"l\",\"interpreter\":\"sh\","
		    "\"script\":\"x\",\"timeout_sec\":\"30\","
		    "\"output_limit\":1}]", 0, 1, 0, "\"timeout_sec\"" },
		{ "[{\"id\":\"t\",\"lease_id\":\"l\",\"interpreter\":\"sh\","
		    "\"script\":\"x\",\"timeout_sec\":1}]", 0, 1, 0,
		    "\"output_limit\"" },
		{ "[{\"id\":\"t\",\"lease_id\":\"l\",\"interpreter\":\"sh\","
		    "\"script\":\"a\\u0000b\",\"timeout_sec\":1,"
		    "\"output_limit\":1}]", 0, 1, 0, "NUL" },
		{ "[{\"id\":\"t\",\"lease_id\":\"l\",\"interpreter\":null,"
		    "\"script\":\"x\",\"timeout_sec\":1,\"output_limit\":1}]",
		    0, 1, 0, "\"interpreter\"" },
		/* duplicate keys: the last wins, as in Go */
		{ "[{\"id\":\"t\",\"id\":\"u\",\"lease_id\":\"l\"}]", 0, 1, 0,
		    "\"interpreter\"" },
		{ "[{\"id\":\"t\",\"lease_id\":\"l\",\"interpreter\":\"sh\","
		    "\"script\":\"x\",\"timeout_sec\":-5,"
		    "\"output_limit\":99999999999,\"extra\":{\"a\":[1]}}]", 0,
		    1, 0, NULL },
		{ "[{\"id\":\"t\",\"lease_id\":\"l\",\"interpreter\":\"sh\","
		    "\"script\":\"x\",\"timeout_sec\":1,\"output_limit\":1},"
		    "7]", 0, 1, 1, NULL },
	};
	struct task_lease	*l;
	char			 err[256];
	size_t			 i, n, skipped;
	int			 ret;

	for (i = 0; i < nitems(cases); i++) {
		l = NULL;
		n = skipped = 12345;
		err[0] = '\0';
		ret = task_parse_leases(cases[i].body, strlen(cases[i].body),
		    &l, &n, &skipped, err, sizeof(err));
		if (ret != cases[i].ret)
			fail_msg("case %zu: ret %d", i, ret);
		if (ret == -1) {
			assert_true(err[0] != '\0');
			assert_null(l);
			continue;
		}
		if (n != cases[i].n || skipped != cases[i].skipped)
			fail_msg("case %zu: n %zu skipped %zu", i, n, skipped);
		if (n > 0) {
			if (cases[i].invalid0 == NULL)
				assert_null(l[0].invalid);
			else {
				assert_non_null(l[0].invalid);
				assert_non_null(strstr(l[0].invalid,
				    cases[i].invalid0));
			}
		}
		task_leases_free(l, n);
	}
}

static void
test_parse_good(void **state)
{
	char			 body[512], err[64];
	struct task_lease	*l;
	size_t			 n, skipped;

	snprintf(body, sizeof(body), "[%s,%s]", good1, good1);
	body[strlen(good1) + 10] = '2';	/* second id: "t2" */
	assert_int_equal(task_parse_leases(body, strlen(body), &l, &n,
	    &skipped, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(l[0].id, "t1");
	assert_string_equal(l[1].id, "t2");
	assert_string_equal(l[0].lease_id, "l1");
	assert_string_equal(l[0].interpreter, "sh");
	assert_string_equal(l[0].script, "echo hi");
	assert_int_equal(l[0].script_len, 7);
	assert_int_equal(l[0].timeout_sec, 30);
	assert_int_equal(l[0].output_limit, 65536);
	assert_null(l[0].invalid);
	task_leases_free(l, n);
	task_leases_free(NULL, 0);
}

static void
test_parse_hostile_sizes(void **state)
{
	struct task_lease	*l;
	struct buf		 b;
	char			 err[256];
	size_t			 i, n, skipped;

	/* 10 000 valid elements: only TASK_MAX_LEASES are looked at. */
	buf_init(&b);
	buf_add_char(&b, '[');
	for (i = 0; i < 10000; i++)
		buf_printf(&b, "%s{\"id\":\"t%zu\",\"lease_id\":\"l\","
		    "\"interpreter\":\"sh\",\"script\":\"x\","
		    "\"timeout_sec\":0,\"output_limit\":0}", i ? "," : "", i);
	buf_add_char(&b, ']');
	assert_int_equal(task_parse_leases(b.data, b.len, &l, &n, &skipped,
	    err, sizeof(err)), 0);
	assert_int_equal(n, TASK_MAX_LEASES);
	assert_int_equal(skipped, 10000 - TASK_MAX_LEASES);
	assert_string_equal(l[99].id, "t99");
	task_leases_free(l, n);

	/* Nesting 10 000 deep: refused by jansson's depth limit. */
	buf_reset(&b);
	for (i = 0; i < 10000; i++)
		buf_add_char(&b, '[');
	for (i = 0; i < 10000; i++)
		buf_add_char(&b, ']');
	assert_int_equal(task_parse_leases(b.data, b.len, &l, &n, &skipped,
	    err, sizeof(err)), -1);

	/* An element nested deep inside an otherwise fine list. */
	buf_reset(&b);
	buf_add_char(&b, '[');
	for (i = 0; i < 3000; i++)
		buf_add_str(&b, "{\"a\":");
	buf_add_str(&b, "1");
	for (i = 0; i < 3000; i++)
		buf_add_char(&b, '}');
	buf_add_char(&b, ']');
	assert_int_equal(task_parse_leases(b.data, b.len, &l, &n, &skipped,
	    err, sizeof(err)), -1);

	/* A 2 MiB id is not usable (cannot be answered within 1 MiB). */
	buf_reset(&b);
	buf_add_str(&b, "[{\"id\":\"");
	for (i = 0; i < 2 * MIB; i++)
		buf_add_char(&b, 'a');
	buf_add_str(&b, "\",\"lease_id\":\"l\"}]");
	assert_int_equal(task_parse_leases(b.data, b.len, &l, &n, &skipped,
	    err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(skipped, 1);
	task_leases_free(l, n);

	/* A 1 MiB script: answered (released) but not run. */
	buf_reset(&b);
	buf_add_str(&b, "[{\"id\":\"t\",\"lease_id\":\"l\",\"interpreter\":"
	    "\"sh\",\"timeout_sec\":1,\"output_limit\":1,\"script\":\"");
	for (i = 0; i < MIB; i++)
		buf_add_char(&b, '#');
	buf_add_str(&b, "\"}]");
	assert_int_equal(task_parse_leases(b.data, b.len, &l, &n, &skipped,
	    err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_non_null(l[0].invalid);
	assert_non_null(strstr(l[0].invalid, "over the limit"));
	task_leases_free(l, n);

	/* Invalid UTF-8 inside a string: not JSON. */
	assert_int_equal(task_parse_leases("[\"\xff\"]", 5, &l, &n, &skipped,
	    err, sizeof(err)), -1);
	buf_free(&b);
}

static void
test_limits(void **state)
{
	assert_int_equal(task_timeout_sec(0), 30);
	assert_int_equal(task_timeout_sec(-1), 30);
	assert_int_equal(task_timeout_sec(1), 1);
	assert_int_equal(task_timeout_sec(600), 600);
	assert_int_equal(task_timeout_sec(601), 600);
	assert_int_equal(task_timeout_sec(INT64_MAX), 600);
	assert_int_equal(task_output_limit(0), 65536);
	assert_int_equal(task_output_limit(INT64_MIN), 65536);
	assert_int_equal(task_output_limit(10), 10);
	assert_int_equal(task_output_limit(262144), 262144);
	assert_int_equal(task_output_limit(262145), 262144);
	assert_int_equal(task_output_limit(INT64_MAX), 262144);
}

static void
test_gates(void **state)
{
	static const struct {
		int		 allow, root_ok, no_exec, euid;
		const char	*interp;
		const char	*script;
		const char	*want;	/* substring of error, NULL: runs */
		enum task_level	 level;
	} cases[] = {
		{ 0, 0, 0, 1000, "sh", "x", "-allow-exec",
		    TASK_LEVEL_DISABLED },
		{ 0, 1, 0, 0, "sh", "x", "LATTICE_AGENT_ALLOW_EXEC=1",
		    TASK_LEVEL_DISABLED },
		{ 1, 1, 1, 1000, "sh", "x", "-no-exec", TASK_LEVEL_DISABLED },
		{ 1, 0, 1, 0, "sh", "x", "LATTICE_NO_EXEC=1",
		    TASK_LEVEL_DISABLED },
		{ 1, 0, 0, 0, "sh", "x", "-allow-root-exec",
		    TASK_LEVEL_ROOT_REFUSED },
		{ 1, 1, 0, 0, "sh", "x", NULL, TASK_LEVEL_HARDENED },
		{ 1, 0, 0, 1000, "sh", "x", NULL, TASK_LEVEL_HARDENED },
		{ 1, 0, 0, 1000, "bash", "x", "\"bash\" is not installed",
		    TASK_LEVEL_HARDENED },
		{ 1, 0, 0, 1000, "perl", "x", "unknown interpreter \"perl\"",
		    TASK_LEVEL_HARDENED },
		{ 1, 0, 0, 1000, "/bin/sh", "x", "unknown interpreter",
		    TASK_LEVEL_HARDENED },
		{ 1, 0, 0, 1000, "sh -c", "x", "unknown interpreter",
		    TASK_LEVEL_HARDENED },
		{ 1, 0, 0, 1000, "", "x", "unknown interpreter",
		    TASK_LEVEL_HARDENED },
		{ 1, 0, 0, 1000, "sh\n\x1b[31m", "x",
		    "unknown interpreter \"sh [31m\"", TASK_LEVEL_HARDENED },
		{ 1, 0, 0, 1000, "sh", "", "empty", TASK_LEVEL_HARDENED },
		{ 1, 0, 0, 1000, "python3", "x", "\"python3\" is not "
		    "installed", TASK_LEVEL_HARDENED },
		{ 1, 0, 0, 1000, "node", "x", "\"node\" is not installed",
		    TASK_LEVEL_HARDENED },
	};
	struct task_policy	 p;
	struct task_lease	 l;
	char			 bin[64], sh[128], path[PATH_MAX], err[512];
	size_t			 i;
	int			 fd, ret;

	/* A search path holding only sh and bash (bash not executable). */
	snprintf(bin, sizeof(bin), "/tmp/test-task-bin-XXXXXX");
	assert_non_null(mkdtemp(bin));
	snprintf(sh, sizeof(sh), "%s/sh", bin);
	fd = open(sh, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
	assert_true(fd != -1);
	close(fd);
	snprintf(path, sizeof(path), "%s/bash", bin);
	assert_int_equal(mkdir(path, 0755), 0);	/* a dir is not a program */
	snprintf(path, sizeof(path), "/nonexistent:relative::%s", bin);

	for (i = 0; i < nitems(cases); i++) {
		memset(&p, 0, sizeof(p));
		p.allow_exec = cases[i].allow;
		p.allow_root_exec = cases[i].root_ok;
		p.no_exec = cases[i].no_exec;
		p.euid = cases[i].euid;
		p.search_path = path;
		memset(&l, 0, sizeof(l));
		l.id = (char *)"t";
		l.lease_id = (char *)"l";
		l.interpreter = (char *)cases[i].interp;
		l.script = (char *)cases[i].script;
		l.script_len = strlen(cases[i].script);
		assert_int_equal(task_policy_level(&p), cases[i].level);
		err[0] = '\0';
		sh[0] = '\0';
		ret = task_check(&p, &l, sh, sizeof(sh), err, sizeof(err));
		if (cases[i].want == NULL) {
			if (ret != 0)
				fail_msg("case %zu: %s", i, err);
			assert_true(sh[0] == '/');
			assert_non_null(strstr(sh, l.interpreter));
		} else {
			if (ret != -1 || strstr(err, cases[i].want) == NULL)
				fail_msg("case %zu: ret %d err \"%s\"", i, ret,
				    err);
		}
	}
	assert_int_equal(task_find_interpreter(path, "sh", sh, sizeof(sh)), 0);
	assert_true(strncmp(sh, bin, strlen(bin)) == 0);
	/* bash resolves past the directory to /bin/bash (if installed). */
	snprintf(path, sizeof(path), "%s:/bin", bin);
	if (access("/bin/bash", X_OK) == 0) {
		assert_int_equal(task_find_interpreter(path, "bash", sh,
		    sizeof(sh)), 0);
		assert_string_equal(sh, "/bin/bash");
	}
	assert_int_equal(task_find_interpreter(path, "nope", sh, 8), -1);
	/* Result that does not fit the caller's buffer: not found. */
	assert_int_equal(task_find_interpreter(bin, "sh", sh, 4), -1);

	/* An invalid lease is answered with its reason. */
	memset(&p, 0, sizeof(p));
	p.allow_exec = 1;
	p.euid = 1000;
	memset(&l, 0, sizeof(l));
	l.invalid = (char *)"invalid task lease: field \"script\" is missing";
	assert_int_equal(task_check(&p, &l, sh, sizeof(sh), err, sizeof(err)),
	    -1);
	assert_string_equal(err, l.invalid);
	assert_int_equal(task_rmtree(bin), 0);
}

static void
test_env(void **state)
{
	char	**env;
	size_t	  n;

	env = task_env("/tmp/w", "task 1", "lease=1");
	for (n = 0; env[n] != NULL; n++)
		;
	assert_int_equal(n, 8);
	assert_string_equal(env[0], "PATH=/usr/local/sbin:/usr/local/bin:"
	    "/usr/sbin:/usr/bin:/sbin:/bin");
	assert_string_equal(env[1], "HOME=/tmp/w");
	assert_string_equal(env[2], "TMPDIR=/tmp/w");
	assert_string_equal(env[3], "PWD=/tmp/w");
	assert_string_equal(env[4], "XDG_RUNTIME_DIR=/tmp/w");
	assert_string_equal(env[5], "LANG=C.UTF-8");
	assert_string_equal(env[6], "LATTICE_TASK_ID=task 1");
	assert_string_equal(env[7], "LATTICE_TASK_LEASE_ID=lease=1");
	task_env_free(env);
	task_env_free(NULL);
}

static void
outcome_init(struct task_outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->task_id = "task_1";
	o->lease_id = "lease_abc";
	o->node_id = "node-1";
	o->limit = 65536;
	o->started.tv_sec = 1781438400;		/* 2026-06-14T12:00:00Z */
	o->started.tv_nsec = 123000000;
	o->finished.tv_sec = 1781438401;
}

/* Parse a body and return result.<field> (borrowed from *root). */
static json_t *
body_field(const char *body, size_t len, json_t **root, const char *field)
{
	json_error_t	 e;

	*root = json_loadb(body, len, 0, &e);
	if (*root == NULL)
		fail_msg("body is not JSON: %s", e.text);
	return json_object_get(json_object_get(*root, "result"), field);
}

static void
test_result_basic(void **state)
{
	struct task_outcome	 o;
	json_t			*root, *res;
	char			*body;
	size_t			 len;

	outcome_init(&o);
	o.out = "hi\n";
	o.out_len = 3;
	body = task_result_body(&o, MIB, &len);
	assert_non_null(body);
	assert_int_equal(strlen(body), len);
	assert_string_equal(body, "{\"node_id\":\"node-1\",\"result\":{"
	    "\"task_id\":\"task_1\",\"lease_id\":\"lease_abc\","
	    "\"node_id\":\"node-1\",\"exit_code\":0,\"stdout\":\"hi\\n\","
	    "\"stderr\":\"\",\"error\":\"\","
	    "\"started_at\":\"2026-06-14T12:00:00.123Z\","
	    "\"finished_at\":\"2026-06-14T12:00:01.000Z\"}}");
	free(body);

	/* Timeout + child-level truncation of both streams. */
	outcome_init(&o);
	o.exit_code = -1;
	o.error = "timed out after 30 s";
	o.out_truncated = o.err_truncated = 1;
	body = task_result_body(&o, MIB, &len);
	res = body_field(body, len, &root, "error");
	assert_string_equal(json_string_value(res), "timed out after 30 s; "
	    "stdout truncated to 65536 bytes; stderr truncated to 65536 "
	    "bytes");
	assert_int_equal(json_integer_value(json_object_get(
	    json_object_get(root, "result"), "exit_code")), -1);
	json_decref(root);
	free(body);

	/* The error respects the output limit too. */
	outcome_init(&o);
	o.limit = 10;
	o.error = "killed by signal 9";
	body = task_result_body(&o, MIB, &len);
	res = body_field(body, len, &root, "error");
	assert_string_equal(json_string_value(res), "killed by ");
	json_decref(root);
	free(body);
}

static void
test_result_utf8_at_cap(void **state)
{
	struct task_outcome	 o;
	json_t			*root, *res;
	char			*raw, *body;
	const char		*s;
	size_t			 len, cap = 1000, i;

	/* Valid text up to one byte short of the cap, then a 3-byte char. */
	raw = xmalloc(cap + 16);
	memset(raw, 'a', cap - 1);
	memcpy(raw + cap - 1, "\xe2\x82\xac", 3);	/* U+20AC */
	outcome_init(&o);
	o.limit = cap;
	o.out = raw;
	o.out_len = cap + 2;
	body = task_result_body(&o, MIB, &len);
	res = body_field(body, len, &root, "stdout");
	assert_int_equal(json_string_length(res), cap - 1);
	s = json_string_value(json_object_get(json_object_get(root, "result"),
	    "error"));
	assert_non_null(strstr(s, "stdout truncated to 1000 bytes"));
	json_decref(root);
	free(body);

	/* Invalid bytes near the cap: each becomes 3 bytes of U+FFFD, and
	 * the cap counts after the repair. */
	memset(raw, 'b', cap);
	for (i = cap - 10; i < cap; i++)
		raw[i] = (char)0xff;
	o.out = raw;
	o.out_len = cap;
	o.err = raw;
	o.err_len = cap;
	body = task_result_body(&o, MIB, &len);
	res = body_field(body, len, &root, "stderr");
	assert_true(json_string_length(res) <= cap);
	assert_int_equal(json_string_length(res), cap - 10 + 3 * 3);
	s = json_string_value(res);
	assert_int_equal(utf8_clamp(s, json_string_length(res),
	    json_string_length(res)), json_string_length(res));
	s = json_string_value(json_object_get(json_object_get(root, "result"),
	    "error"));
	assert_non_null(strstr(s, "stderr truncated to 1000 bytes"));
	json_decref(root);
	free(body);
	free(raw);
}

static void
test_result_escaping_blowup(void **state)
{
	struct task_outcome	 o;
	json_t			*root, *res;
	char			*raw, *body;
	const char		*err;
	size_t			 len, cap = 256 * 1024, i;

	/* Two full streams of control bytes: 6 bytes each once escaped,
	 * about 3 MiB of body.  It must fit in 1 MiB and say so. */
	raw = xmalloc(cap);
	for (i = 0; i < cap; i++)
		raw[i] = (char)(1 + i % 7);	/* \u0001..\u0007 */
	outcome_init(&o);
	o.limit = cap;
	o.out = raw;
	o.out_len = cap;
	o.err = raw;
	o.err_len = cap;
	body = task_result_body(&o, MIB, &len);
	assert_non_null(body);
	assert_true(len <= MIB);
	assert_true(len > MIB - 4096);		/* cut no more than needed */
	res = body_field(body, len, &root, "stderr");
	assert_int_equal(json_string_length(res), 0);
	res = json_object_get(json_object_get(root, "result"), "stdout");
	assert_true(json_string_length(res) > 100000);
	assert_memory_equal(json_string_value(res), raw,
	    json_string_length(res));
	err = json_string_value(json_object_get(json_object_get(root,
	    "result"), "error"));
	assert_non_null(strstr(err, "stderr truncated to 0 bytes to fit"));
	assert_non_null(strstr(err, "stdout truncated to"));
	assert_non_null(strstr(err, "to fit the 1048576-byte request limit"));
	json_decref(root);
	free(body);

	/* Only stderr is big: stdout stays whole. */
	o.out = "ok";
	o.out_len = 2;
	body = task_result_body(&o, 512 * 1024, &len);
	assert_true(len <= 512 * 1024);
	res = body_field(body, len, &root, "stdout");
	assert_string_equal(json_string_value(res), "ok");
	res = json_object_get(json_object_get(root, "result"), "stderr");
	assert_true(json_string_length(res) > 80000);
	json_decref(root);
	free(body);

	/* Quotes and backslashes cost 2, newlines 2, NUL 6. */
	for (i = 0; i < cap; i++)
		raw[i] = "\"\\\n\0x"[i % 5];
	o.out = raw;
	o.out_len = cap;
	o.err = raw;
	o.err_len = cap;
	body = task_result_body(&o, 700 * 1024, &len);
	assert_non_null(body);
	assert_true(len <= 700 * 1024);
	free(body);

	/* Nothing fits a tiny limit: NULL, not a body over the limit. */
	assert_null(task_result_body(&o, 100, &len));
	free(raw);
}

static void
test_result_hostile_ids(void **state)
{
	struct task_outcome	 o;
	json_t			*root, *res;
	char			*body;
	size_t			 len;

	outcome_init(&o);
	o.node_id = "n\xff";			/* not UTF-8: repaired */
	o.task_id = "t\"\n";
	body = task_result_body(&o, MIB, &len);
	assert_non_null(body);
	res = body_field(body, len, &root, "node_id");
	assert_string_equal(json_string_value(res), "n\xef\xbf\xbd");
	res = json_object_get(json_object_get(root, "result"), "task_id");
	assert_string_equal(json_string_value(res), "t\"\n");
	json_decref(root);
	free(body);
}

static void
test_key(void **state)
{
	char	 a[65], b[65], c[65];

	task_key("t1", "l1", a);
	task_key("t1", "l2", b);
	task_key("t1l", "1", c);
	assert_int_equal(strlen(a), 64);
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, c);
	task_key("t1", "l1", b);
	assert_string_equal(a, b);
}

static void
test_rmtree(void **state)
{
	char		 root[64], outside[64], p[256];
	struct stat	 st;
	int		 fd, i;

	snprintf(root, sizeof(root), "/tmp/test-task-rm-XXXXXX");
	snprintf(outside, sizeof(outside), "/tmp/test-task-out-XXXXXX");
	assert_non_null(mkdtemp(root));
	assert_non_null(mkdtemp(outside));
	snprintf(p, sizeof(p), "%s/keep", outside);
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	close(fd);

	/* A tree with a symlink to outside, a locked dir, deep nesting. */
	snprintf(p, sizeof(p), "%s/link", root);
	assert_int_equal(symlink(outside, p), 0);
	snprintf(p, sizeof(p), "%s/locked", root);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/locked/f", root);
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	close(fd);
	snprintf(p, sizeof(p), "%s/locked", root);
	assert_int_equal(chmod(p, 0), 0);
	snprintf(p, sizeof(p), "%s", root);
	for (i = 0; i < 20; i++) {
		strcat(p, "/d");
		assert_int_equal(mkdir(p, 0700), 0);
	}
	assert_int_equal(task_rmtree(root), 0);
	assert_int_equal(lstat(root, &st), -1);
	snprintf(p, sizeof(p), "%s/keep", outside);
	assert_int_equal(stat(p, &st), 0);	/* not followed */
	assert_int_equal(task_rmtree(outside), 0);
	assert_int_equal(task_rmtree("relative"), -1);
	assert_int_equal(task_rmtree("/tmp/"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_hostile_sizes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_gates),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_result_basic),
		cmocka_unit_test(test_result_utf8_at_cap),
		cmocka_unit_test(test_result_escaping_blowup),
		cmocka_unit_test(test_result_hostile_ids),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_rmtree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
