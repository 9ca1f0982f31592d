/*
 * Unit tests for log.c: the three formats, journald datagrams with
 * structured fields, and that registered secrets never reach any output.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "log.h"

#define SECRET	"tok-76a2SECRETvalue"

/* Run fn with stderr redirected to a temp file; return what it wrote. */
static char *
capture_stderr(void (*fn)(void))
{
	char	 path[] = "/tmp/test_log.XXXXXX", *out;
	int	 fd, saved;
	long	 n;
	FILE	*f;

	fd = mkstemp(path);
	assert_true(fd != -1);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	f = fdopen(fd, "r");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	out = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(out, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	unlink(path);
	return out;
}

static void
emit_sample(void)
{
	struct log_kv	 kv[] = {
		{ "task_id", "task_1" },
		{ "lease_id", "lease 2" },
	};

	log_info("plain message");
	log_kv(LOG_WARNING, kv, 2, "task failed: %s", "exit 3");
	log_warnx("token was %s", SECRET);	/* a bug we must survive */
	log_debug("hidden unless debug");
}

static void
test_logfmt(void **state)
{
	char	*out;

	log_init(LOG_FORMAT_LOGFMT, 0);
	log_set_node_id("n1");
	log_add_secret(SECRET);
	out = capture_stderr(emit_sample);
	assert_non_null(strstr(out, "level=info msg=\"plain message\" "
	    "node_id=n1\n"));
	assert_non_null(strstr(out, "level=warn msg=\"task failed: exit 3\" "
	    "node_id=n1 task_id=task_1 lease_id=\"lease 2\"\n"));
	assert_non_null(strstr(out, "[redacted]"));
	assert_null(strstr(out, SECRET));
	assert_null(strstr(out, "hidden"));
	assert_non_null(strstr(out, "time="));
	free(out);

	log_init(LOG_FORMAT_LOGFMT, 1);
	out = capture_stderr(emit_sample);
	assert_non_null(strstr(out, "level=debug msg=\"hidden unless debug\""));
	free(out);
}

static void
test_json(void **state)
{
	char		*out, *line, *save = NULL;
	json_t		*j;
	int		 lines = 0;

	log_init(LOG_FORMAT_JSON, 0);
	log_set_node_id("n1");
	log_add_secret(SECRET);
	out = capture_stderr(emit_sample);
	assert_null(strstr(out, SECRET));
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		j = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
		assert_non_null(j);
		assert_non_null(json_object_get(j, "time"));
		assert_string_equal(json_string_value(json_object_get(j,
		    "node_id")), "n1");
		if (lines == 1)
			assert_string_equal(json_string_value(
			    json_object_get(j, "task_id")), "task_1");
		json_decref(j);
		lines++;
	}
	assert_int_equal(lines, 3);
	free(out);
}

static void
test_journal(void **state)
{
	char			 dir[] = "/tmp/test_log.XXXXXX", path[128];
	char			 dgram[4096];
	struct sockaddr_un	 sun;
	ssize_t			 n;
	int			 fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/journal.sock", dir);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);

	log_init(LOG_FORMAT_JOURNAL, 0);
	log_set_journal_socket(path);
	log_set_node_id("n1");
	log_add_secret(SECRET);
	{
		struct log_kv	 kv[] = { { "task_id", "task_9" } };

		log_kv(LOG_ERR, kv, 1, "multi\nline %s", SECRET);
	}
	n = recv(fd, dgram, sizeof(dgram) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	dgram[n] = '\0';
	assert_non_null(memmem(dgram, (size_t)n, "PRIORITY=3\n", 11));
	assert_non_null(memmem(dgram, (size_t)n,
	    "SYSLOG_IDENTIFIER=lattice-agent\n", 32));
	assert_non_null(memmem(dgram, (size_t)n, "LATTICE_NODE_ID=n1\n", 19));
	assert_non_null(memmem(dgram, (size_t)n, "LATTICE_TASK_ID=task_9\n",
	    23));
	/* The message has a newline: binary form "MESSAGE\n<le64>..." */
	assert_non_null(memmem(dgram, (size_t)n, "MESSAGE\n", 8));
	assert_null(memmem(dgram, (size_t)n, SECRET, strlen(SECRET)));
	assert_non_null(memmem(dgram, (size_t)n, "[redacted]", 10));

	/* The journal going away must not lose the line: stderr gets it. */
	close(fd);
	unlink(path);
	{
		char	*out = capture_stderr(emit_sample);

		assert_non_null(strstr(out, "plain message"));
		assert_null(strstr(out, SECRET));
		free(out);
	}
	rmdir(dir);
	log_set_journal_socket(NULL);
}

static void
emit_quoted_secret(void)
{
	struct log_kv	 kv[] = { { "value", "a\"b\\c-secret" } };

	log_warnx("leak: a\"b\\c-secret");
	log_kv(LOG_INFO, kv, 1, "field");
}

/* A secret with characters the formats escape is still caught. */
static void
test_escaped_secret(void **state)
{
	static const enum log_format	 formats[] = {
		LOG_FORMAT_LOGFMT, LOG_FORMAT_JSON,
	};
	size_t				 i;
	char				*out;

	log_add_secret("a\"b\\c-secret");
	for (i = 0; i < 2; i++) {
		log_init(formats[i], 0);
		out = capture_stderr(emit_quoted_secret);
		assert_null(strstr(out, "c-secret"));
		assert_non_null(strstr(out, "[redacted]"));
		free(out);
	}
	log_remove_secret("a\"b\\c-secret");
}

static void
test_format_names(void **state)
{
	enum log_format	 f;

	assert_int_equal(log_format_parse("json", &f), 0);
	assert_int_equal(f, LOG_FORMAT_JSON);
	assert_int_equal(log_format_parse("auto", &f), 0);
	assert_int_equal(log_format_parse("journal", &f), 0);
	assert_int_equal(log_format_parse("logfmt", &f), 0);
	assert_int_equal(log_format_parse("xml", &f), -1);
	/* Auto without JOURNAL_STREAM is logfmt. */
	unsetenv("JOURNAL_STREAM");
	log_init(LOG_FORMAT_AUTO, 0);
	assert_int_equal(log_get_format(), LOG_FORMAT_LOGFMT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logfmt),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_journal),
		cmocka_unit_test(test_escaped_secret),
		cmocka_unit_test(test_format_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
