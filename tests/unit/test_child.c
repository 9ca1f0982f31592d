/*
 * Unit tests for child.c: real children on a real event base, each run
 * guarded by a watchdog so that a broken test fails instead of hanging.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>

#include "child.h"
#include "util.h"

#define WATCHDOG_SEC	20

static const char *const test_env[] = { "PATH=/usr/bin:/bin", NULL };

struct run {
	struct child	*c;
	pid_t		 pid;
	int		 calls;
	int		 free_in_cb;
	int		*pending;
	struct event_base *base;
	enum child_end	 end;
	int		 exit_code, signo, spawn_errno;
	char		 spawn_step[32];
	char		*out, *err;
	size_t		 out_len, err_len;
	int		 out_trunc, err_trunc;
	int64_t		 elapsed_ms;
};

static void
done_cb(struct child *c, struct child_result *r, void *arg)
{
	struct run	*run = arg;

	assert_ptr_equal(c, run->c);
	run->calls++;
	run->end = r->end;
	run->exit_code = r->exit_code;
	run->signo = r->signo;
	run->spawn_errno = r->spawn_errno;
	if (r->spawn_step != NULL)
		snprintf(run->spawn_step, sizeof(run->spawn_step), "%s",
		    r->spawn_step);
	run->out_trunc = r->out_truncated;
	run->err_trunc = r->err_truncated;
	run->elapsed_ms = (int64_t)(r->finished.tv_sec - r->started.tv_sec) *
	    1000 + (r->finished.tv_nsec - r->started.tv_nsec) / 1000000;
	run->out = buf_steal(&r->out, &run->out_len);
	run->err = buf_steal(&r->err, &run->err_len);
	if (run->free_in_cb) {
		child_free(c);
		run->c = NULL;
	}
	if (--*run->pending == 0)
		event_base_loopbreak(run->base);
}

static void
run_clear(struct run *run)
{
	child_free(run->c);
	free(run->out);
	free(run->err);
	memset(run, 0, sizeof(*run));
}

static struct event_base *
base_new(void)
{
	struct event_base	*base;
	struct timeval		 tv = { WATCHDOG_SEC, 0 };

	base = event_base_new();
	assert_non_null(base);
	assert_int_equal(event_base_loopexit(base, &tv), 0);
	return (base);
}

static void
spawn(struct event_base *base, const struct child_spec *spec,
    struct run *run, int *pending)
{
	run->base = base;
	run->pending = pending;
	run->c = child_spawn(base, spec, done_cb, run);
	assert_non_null(run->c);
	run->pid = child_pid(run->c);
	assert_true(run->pid > 0);
	(*pending)++;
}

/* Dispatch until every run finished; the watchdog makes this fail. */
static void
wait_all(struct event_base *base, int *pending)
{
	event_base_dispatch(base);
	assert_int_equal(*pending, 0);
}

/* Spawn one child, wait for it, check the callback came exactly once. */
static void
run_one(const struct child_spec *spec, struct run *run)
{
	struct event_base	*base = base_new();
	int			 pending = 0;

	spawn(base, spec, run, &pending);
	wait_all(base, &pending);
	/* Nothing fires again afterwards. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(run->calls, 1);
	child_free(run->c);
	run->c = NULL;
	event_base_free(base);
}

static struct child_spec
sh_spec(const char *script)
{
	static const char *argv[4];
	struct child_spec	 spec;

	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = script;
	argv[3] = NULL;
	memset(&spec, 0, sizeof(spec));
	spec.argv = argv;
	spec.envp = test_env;
	spec.stdout_cap = 1 << 20;
	spec.stderr_cap = 1 << 20;
	return (spec);
}

/*
 * Valgrind refuses to let its client change the hard RLIMIT_NOFILE, so the
 * sandbox fails closed (EPERM from setrlimit) under it.
 */
static int
under_valgrind(void)
{
	const char	*p = getenv("LD_PRELOAD");

	return (p != NULL && strstr(p, "vgpreload") != NULL);
}

/* Members of process group pgid still alive (zombies do not count). */
static int
group_live(pid_t pgid)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[300], line[512], *p;
	FILE		*f;
	char		 state;
	int		 ppid, pgrp, n = 0;

	d = opendir("/proc");
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "re")) == NULL)
			continue;
		if (fgets(line, sizeof(line), f) != NULL &&
		    (p = strrchr(line, ')')) != NULL &&
		    sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 &&
		    pgrp == pgid && state != 'Z' && state != 'X')
			n++;
		fclose(f);
	}
	closedir(d);
	return (n);
}

/* Poll (bounded) until the group has no live member; SIGKILL is async. */
static void
assert_group_gone(pid_t pgid)
{
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	int64_t		 deadline = now_mono_ms() + 5000;

	while (group_live(pgid) > 0 && now_mono_ms() < deadline)
		nanosleep(&ts, NULL);
	assert_int_equal(group_live(pgid), 0);
}

static void
test_echo_and_exit(void **state)
{
	struct child_spec	 spec;
	struct run		 run = { 0 };
	int			 no_pidfd;

	for (no_pidfd = 0; no_pidfd <= 1; no_pidfd++) {
		spec = sh_spec("echo out; echo err >&2; exit 0");
		spec.no_pidfd = no_pidfd;
		run_one(&spec, &run);
		assert_int_equal(run.end, CHILD_EXITED);
		assert_int_equal(run.exit_code, 0);
		assert_int_equal(run.signo, 0);
		assert_string_equal(run.out, "out\n");
		assert_string_equal(run.err, "err\n");
		assert_false(run.out_trunc);
		assert_false(run.err_trunc);
		assert_true(run.elapsed_ms >= 0);
		/* The leader was reaped. */
		assert_int_equal(kill(run.pid, 0), -1);
		assert_int_equal(errno, ESRCH);
		run_clear(&run);
	}
}

static void
test_exit_code(void **state)
{
	struct child_spec	 spec = sh_spec("exit 3");
	struct run		 run = { 0 };

	run_one(&spec, &run);
	assert_int_equal(run.end, CHILD_EXITED);
	assert_int_equal(run.exit_code, 3);
	assert_int_equal(run.out_len, 0);
	run_clear(&run);
}

static void
test_signaled(void **state)
{
	struct child_spec	 spec = sh_spec("echo before; kill -9 $$");
	struct run		 run = { 0 };

	run_one(&spec, &run);
	assert_int_equal(run.end, CHILD_SIGNALED);
	assert_int_equal(run.signo, 9);
	assert_int_equal(run.exit_code, -1);
	assert_string_equal(run.out, "before\n");
	run_clear(&run);
}

static void
test_flood_past_cap(void **state)
{
	struct child_spec	 spec;
	struct run		 run = { 0 };

	/* The child only reaches "done" if its writes never block for good. */
	spec = sh_spec("head -c 307200 /dev/zero; head -c 70000 /dev/zero >&2;"
	    " echo done >&2");
	spec.stdout_cap = 256 * 1024;
	spec.stderr_cap = 100;
	run_one(&spec, &run);
	assert_int_equal(run.end, CHILD_EXITED);
	assert_int_equal(run.exit_code, 0);
	assert_int_equal(run.out_len, 256 * 1024);
	assert_true(run.out_trunc);
	assert_int_equal(run.err_len, 100);
	assert_true(run.err_trunc);
	run_clear(&run);

	/* Exactly at the cap is not truncated. */
	spec = sh_spec("head -c 4096 /dev/zero");
	spec.stdout_cap = 4096;
	run_one(&spec, &run);
	assert_int_equal(run.out_len, 4096);
	assert_false(run.out_trunc);
	run_clear(&run);

	/* A cap of zero keeps nothing. */
	spec = sh_spec("echo x");
	spec.stdout_cap = 0;
	run_one(&spec, &run);
	assert_int_equal(run.out_len, 0);
	assert_true(run.out_trunc);
	run_clear(&run);
}

static void
test_timeout_kills_group(void **state)
{
	struct child_spec	 spec;
	struct run		 run = { 0 };
	int			 no_pidfd;

	/* Leader and grandchild ignore SIGTERM; the grandchild holds stdout. */
	for (no_pidfd = 0; no_pidfd <= 1; no_pidfd++) {
		spec = sh_spec("trap '' TERM; (trap '' TERM; sleep 600) &"
		    " echo started; wait; wait");
		spec.timeout_ms = 300;
		spec.kill_grace_ms = 200;
		spec.no_pidfd = no_pidfd;
		run_one(&spec, &run);
		assert_int_equal(run.end, CHILD_TIMED_OUT);
		assert_int_equal(run.signo, SIGKILL);
		/* timeout + grace, give or take libevent's cached time */
		assert_true(run.elapsed_ms >= 450);
		assert_true(run.elapsed_ms < 5000);
		assert_int_equal(kill(run.pid, 0), -1);
		assert_int_equal(errno, ESRCH);
		assert_group_gone(run.pid);
		run_clear(&run);
	}

	/* A child that honours SIGTERM ends before the grace. */
	spec = sh_spec("exec sleep 600");
	spec.timeout_ms = 100;
	spec.kill_grace_ms = 10000;
	run_one(&spec, &run);
	assert_int_equal(run.end, CHILD_TIMED_OUT);
	assert_int_equal(run.signo, SIGTERM);
	assert_true(run.elapsed_ms < 5000);
	run_clear(&run);
}

static void
test_grandchild_holds_pipe(void **state)
{
	struct child_spec	 spec;
	struct run		 run = { 0 };

	/* Leader exits at once; the grandchild would keep stdout for ever. */
	spec = sh_spec("sleep 600 & echo bye");
	run_one(&spec, &run);
	assert_int_equal(run.end, CHILD_EXITED);
	assert_int_equal(run.exit_code, 0);
	assert_string_equal(run.out, "bye\n");
	assert_true(run.elapsed_ms < 5000);
	assert_group_gone(run.pid);
	run_clear(&run);
}

static void
test_spawn_failed(void **state)
{
	static const char *missing[] = { "/nonexistent/lattice-test", NULL };
	struct child_spec	 spec;
	struct run		 run = { 0 };

	memset(&spec, 0, sizeof(spec));
	spec.argv = missing;
	spec.envp = test_env;
	run_one(&spec, &run);
	assert_int_equal(run.end, CHILD_SPAWN_FAILED);
	assert_int_equal(run.spawn_errno, ENOENT);
	assert_string_equal(run.spawn_step, "execve");
	run_clear(&run);

	spec = sh_spec("pwd");
	spec.cwd = "/nonexistent/dir";
	run_one(&spec, &run);
	assert_int_equal(run.end, CHILD_SPAWN_FAILED);
	assert_int_equal(run.spawn_errno, ENOENT);
	assert_string_equal(run.spawn_step, "chdir");
	run_clear(&run);
}

static void
test_bad_spec(void **state)
{
	static const char *rel[] = { "sh", NULL };
	struct event_base	*base = base_new();
	struct child_spec	 spec;

	memset(&spec, 0, sizeof(spec));
	spec.argv = rel;
	errno = 0;
	assert_null(child_spawn(base, &spec, done_cb, NULL));
	assert_int_equal(errno, EINVAL);
	spec.argv = NULL;
	assert_null(child_spawn(base, &spec, done_cb, NULL));
	assert_int_equal(errno, EINVAL);
	child_free(NULL);
	event_base_free(base);
}

static void
test_stdin(void **state)
{
	static const char *cat[] = { "/bin/cat", NULL };
	static const char *tru[] = { "/bin/true", NULL };
	struct child_spec	 spec;
	struct run		 run = { 0 };
	size_t			 i, len = 1 << 20;
	char			*data;

	data = malloc(len);
	assert_non_null(data);
	for (i = 0; i < len; i++)
		data[i] = (char)('a' + i % 23);

	memset(&spec, 0, sizeof(spec));
	spec.argv = cat;
	spec.envp = test_env;
	spec.stdin_data = data;
	spec.stdin_len = len;
	spec.stdout_cap = 2 << 20;
	run_one(&spec, &run);
	assert_int_equal(run.end, CHILD_EXITED);
	assert_int_equal(run.exit_code, 0);
	assert_int_equal(run.out_len, len);
	assert_memory_equal(run.out, data, len);
	run_clear(&run);

	/* A child that reads nothing: EPIPE is not a failure. */
	spec.argv = tru;
	run_one(&spec, &run);
	assert_int_equal(run.end, CHILD_EXITED);
	assert_int_equal(run.exit_code, 0);
	run_clear(&run);

	/* Empty stdin_data: a pipe at EOF. */
	spec.argv = cat;
	spec.stdin_len = 0;
	run_one(&spec, &run);
	assert_int_equal(run.end, CHILD_EXITED);
	assert_int_equal(run.out_len, 0);
	run_clear(&run);

	/* No stdin_data: /dev/null. */
	spec = sh_spec("cat; readlink /proc/self/fd/0");
	run_one(&spec, &run);
	assert_string_equal(run.out, "/dev/null\n");
	run_clear(&run);
	free(data);
}

static void
test_env_exact(void **state)
{
	static const char *env[] = { "/usr/bin/env", NULL };
	static const char *envp[] = { "A=1", "B=two words", NULL };
	struct child_spec	 spec;
	struct run		 run = { 0 };

	memset(&spec, 0, sizeof(spec));
	spec.argv = env;
	spec.envp = envp;
	spec.stdout_cap = 4096;
	run_one(&spec, &run);
	assert_int_equal(run.end, CHILD_EXITED);
	assert_string_equal(run.out, "A=1\nB=two words\n");
	run_clear(&run);

	spec.envp = NULL;
	run_one(&spec, &run);
	assert_int_equal(run.end, CHILD_EXITED);
	assert_string_equal(run.out, "");
	run_clear(&run);
}

static void
test_no_inherited_fds(void **state)
{
	static const char *ls[] = { "/bin/ls", "/proc/self/fd", NULL };
	struct child_spec	 spec;
	struct run		 run = { 0 };
	int			 leak, high;

	/* fds without O_CLOEXEC, low and high, must not reach the child. */
	leak = open("/dev/null", O_RDONLY);
	assert_true(leak >= 0);
	high = fcntl(leak, F_DUPFD, 900);
	assert_true(high >= 900);

	memset(&spec, 0, sizeof(spec));
	spec.argv = ls;
	spec.envp = test_env;
	spec.stdout_cap = 4096;
	run_one(&spec, &run);
	assert_int_equal(run.end, CHILD_EXITED);
	assert_string_equal(run.out, "0\n1\n2\n3\n");
	run_clear(&run);

	if (!under_valgrind()) {
		spec.sandbox = 1;
		run_one(&spec, &run);
		assert_string_equal(run.out, "0\n1\n2\n3\n");
		run_clear(&run);
	}
	close(high);
	close(leak);
}

static void
test_cwd(void **state)
{
	static const char *pwd[] = { "/bin/pwd", "-P", NULL };
	struct child_spec	 spec;
	struct run		 run = { 0 };
	char			 tmpl[] = "/tmp/test_child.XXXXXX", *dir;
	char			 real[PATH_MAX + 2];

	dir = mkdtemp(tmpl);
	assert_non_null(dir);
	assert_non_null(realpath(dir, real));
	strcat(real, "\n");

	memset(&spec, 0, sizeof(spec));
	spec.argv = pwd;
	spec.envp = test_env;
	spec.cwd = dir;
	spec.stdout_cap = 4096;
	run_one(&spec, &run);
	assert_int_equal(run.end, CHILD_EXITED);
	assert_string_equal(run.out, real);
	run_clear(&run);
	assert_int_equal(rmdir(dir), 0);
}

/* The value columns of a /proc/self/limits line. */
static void
assert_limit(const char *limits, const char *name, const char *soft,
    const char *hard)
{
	const char	*p;
	char		 s[64], h[64];

	p = strstr(limits, name);
	assert_non_null(p);
	assert_int_equal(sscanf(p + strlen(name), " %63s %63s", s, h), 2);
	assert_string_equal(s, soft);
	assert_string_equal(h, hard);
}

static void
test_sandbox(void **state)
{
	struct child_spec	 spec;
	struct run		 run = { 0 };

	spec = sh_spec("ulimit -n; umask");
	spec.sandbox = 1;
	run_one(&spec, &run);
	if (under_valgrind()) {
		/* The sandbox fails closed when a limit cannot be set. */
		assert_int_equal(run.end, CHILD_SPAWN_FAILED);
		assert_string_equal(run.spawn_step, "setrlimit");
		assert_int_equal(run.spawn_errno, EPERM);
		run_clear(&run);
		return;
	}
	assert_int_equal(run.end, CHILD_EXITED);
	assert_string_equal(run.out, "1024\n0077\n");
	run_clear(&run);

	spec = sh_spec("cat /proc/self/limits /proc/self/status");
	spec.sandbox = 1;
	spec.rlimit_cpu_sec = 7;
	run_one(&spec, &run);
	assert_int_equal(run.end, CHILD_EXITED);
	assert_limit(run.out, "Max cpu time", "7", "8");
	assert_limit(run.out, "Max file size", "8388608", "8388608");
	assert_limit(run.out, "Max data size", "536870912", "536870912");
	assert_limit(run.out, "Max address space", "8589934592",
	    "8589934592");
	assert_limit(run.out, "Max open files", "1024", "1024");
	assert_limit(run.out, "Max core file size", "0", "0");
	assert_null(strstr(run.out, "Max processes             unlimited"));
	assert_non_null(strstr(run.out, "NoNewPrivs:\t1\n"));
	assert_non_null(strstr(run.out, "Umask:\t0077\n"));
	run_clear(&run);

	/* Without the sandbox none of it applies. */
	spec = sh_spec("cat /proc/self/status");
	run_one(&spec, &run);
	assert_non_null(strstr(run.out, "NoNewPrivs:\t0\n"));
	run_clear(&run);
}

static void
test_terminate(void **state)
{
	struct event_base	*base;
	struct child_spec	 spec;
	struct run		 run = { 0 };
	int			 pending = 0, ignore;

	/* Honours SIGTERM, or (second round) needs the SIGKILL. */
	for (ignore = 0; ignore <= 1; ignore++) {
		base = base_new();
		spec = sh_spec(ignore ? "trap '' TERM; sleep 600 & wait; wait" :
		    "exec sleep 600");
		spec.timeout_ms = 60000;
		spec.kill_grace_ms = 100;
		spawn(base, &spec, &run, &pending);
		child_terminate(run.c);
		child_terminate(run.c);		/* idempotent */
		wait_all(base, &pending);
		assert_int_equal(run.calls, 1);
		assert_int_equal(run.end, CHILD_KILLED);
		assert_true(run.elapsed_ms < 5000);
		assert_group_gone(run.pid);
		child_terminate(run.c);		/* after done: no-op */
		event_base_loop(base, EVLOOP_NONBLOCK);
		assert_int_equal(run.calls, 1);
		run_clear(&run);
		event_base_free(base);
	}
}

static void
test_concurrent(void **state)
{
	struct event_base	*base = base_new();
	struct child_spec	 spec;
	struct run		 runs[8];
	char			 scripts[8][64], want[16];
	int			 pending = 0, i;

	memset(runs, 0, sizeof(runs));
	for (i = 0; i < 8; i++) {
		snprintf(scripts[i], sizeof(scripts[i]),
		    "head -c %d /dev/zero; echo %d >&2; exit %d",
		    70000 * (i % 3), i, i);
		spec = sh_spec(scripts[i]);
		spec.no_pidfd = i % 2;	/* both watchers side by side */
		spawn(base, &spec, &runs[i], &pending);
	}
	wait_all(base, &pending);
	for (i = 0; i < 8; i++) {
		assert_int_equal(runs[i].calls, 1);
		assert_int_equal(runs[i].end, CHILD_EXITED);
		assert_int_equal(runs[i].exit_code, i);
		assert_int_equal(runs[i].out_len, 70000 * (i % 3));
		snprintf(want, sizeof(want), "%d\n", i);
		assert_string_equal(runs[i].err, want);
		run_clear(&runs[i]);
	}
	event_base_free(base);
}

static void
test_free_in_callback(void **state)
{
	struct child_spec	 spec = sh_spec("echo hi");
	struct run		 run = { 0 };

	run.free_in_cb = 1;
	run_one(&spec, &run);
	assert_null(run.c);
	assert_string_equal(run.out, "hi\n");
	run_clear(&run);
}

static void
test_abandon(void **state)
{
	struct event_base	*base = base_new();
	struct child_spec	 spec;
	struct run		 run = { 0 };
	int			 pending = 0, no_pidfd;
	int64_t			 deadline;

	for (no_pidfd = 0; no_pidfd <= 1; no_pidfd++) {
		spec = sh_spec("sleep 600 & sleep 600");
		spec.no_pidfd = no_pidfd;
		spawn(base, &spec, &run, &pending);
		child_free(run.c);
		run.c = NULL;
		/* Reaped later by the loop, without a callback. */
		deadline = now_mono_ms() + 5000;
		while (kill(run.pid, 0) == 0 && now_mono_ms() < deadline)
			event_base_loop(base, EVLOOP_ONCE);
		assert_int_equal(kill(run.pid, 0), -1);
		assert_int_equal(errno, ESRCH);
		assert_group_gone(run.pid);
		assert_int_equal(run.calls, 0);
		run_clear(&run);
		pending = 0;
	}
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_and_exit),
		cmocka_unit_test(test_exit_code),
		cmocka_unit_test(test_signaled),
		cmocka_unit_test(test_flood_past_cap),
		cmocka_unit_test(test_timeout_kills_group),
		cmocka_unit_test(test_grandchild_holds_pipe),
		cmocka_unit_test(test_spawn_failed),
		cmocka_unit_test(test_bad_spec),
		cmocka_unit_test(test_stdin),
		cmocka_unit_test(test_env_exact),
		cmocka_unit_test(test_no_inherited_fds),
		cmocka_unit_test(test_cwd),
		cmocka_unit_test(test_sandbox),
		cmocka_unit_test(test_terminate),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_free_in_callback),
		cmocka_unit_test(test_abandon),
	};

	/* As in the agent: a dead reader must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
