/*
 * child: the one generic spawner.  child_spawn() forks and execs a program
 * with everything arranged in the child before exec (own process group,
 * optional sandbox: no_new_privs, umask 077, rlimits; stdin from /dev/null
 * or a pipe; every other fd closed; cwd), then watches it on the event base
 * (pidfd, SIGCHLD fallback), collects stdout/stderr into capped buffers and
 * enforces a timeout by killing the whole process group.
 *
 * Ownership: the caller owns the struct child returned by child_spawn() and
 * frees it with child_free(), normally from or after the done callback.  The
 * spec (argv, envp, cwd) is only used during child_spawn(); stdin_data is
 * copied.  The struct child_result handed to the callback belongs to the
 * child and stays valid until child_free(); the callback may take the
 * captured bytes with buf_steal(&result->out, ...).
 */
#ifndef CHILD_H
#define CHILD_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

/*
 * The fixed PATH every child we start gets (tasks, nft): system
 * directories only, never the agent's own PATH.
 */
#define CHILD_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct event_base;
struct child;

struct child_spec {
	const char *const *argv;	/* argv[0] is an absolute path */
	const char *const *envp;	/* complete environment; NULL: empty */
	const char	*cwd;		/* NULL: inherit */
	const void	*stdin_data;	/* NULL: stdin is /dev/null */
	size_t		 stdin_len;
	size_t		 stdout_cap;	/* bytes kept; the rest is discarded */
	size_t		 stderr_cap;
	int64_t		 timeout_ms;	/* 0: no timeout */
	int64_t		 kill_grace_ms;	/* SIGTERM -> SIGKILL delay; 0: 2000 */
	int		 sandbox;	/* no_new_privs, umask 077, rlimits */
	int64_t		 rlimit_cpu_sec;	/* 0: none */
	int		 no_pidfd;	/* tests: force the SIGCHLD fallback */
};

enum child_end {
	CHILD_EXITED,		/* exit_code is valid */
	CHILD_SIGNALED,		/* signo is valid */
	CHILD_TIMED_OUT,	/* timeout_ms passed; the group was killed */
	CHILD_KILLED,		/* stopped by child_terminate() */
	CHILD_SPAWN_FAILED,	/* spawn_errno, spawn_step are valid */
};

struct child_result {
	enum child_end	 end;
	int		 exit_code;	/* exit status, -1 if it did not exit */
	int		 signo;		/* fatal signal, 0 if none */
	int		 spawn_errno;	/* CHILD_SPAWN_FAILED: errno in child */
	const char	*spawn_step;	/* CHILD_SPAWN_FAILED: "execve", ... */
	struct buf	 out, err;	/* captured stdout/stderr, capped */
	int		 out_truncated, err_truncated;
	struct timespec	 started, finished;	/* wall clock */
};

typedef void (*child_done_cb)(struct child *, struct child_result *,
    void *arg);

/*
 * Start a child.  done fires exactly once, never from inside child_spawn(),
 * when the child has exited and both output pipes reached EOF (or a short
 * grace after the exit passed, for grandchildren holding a pipe).  Whatever
 * is left in the child's process group is then killed.  Returns NULL with
 * errno set if the spec is invalid (EINVAL) or pipe/fork failed; failures
 * inside the child (chdir, execve, rlimits) arrive as CHILD_SPAWN_FAILED.
 */
struct child	*child_spawn(struct event_base *, const struct child_spec *,
		    child_done_cb done, void *arg);

/*
 * Stop early (shutdown): SIGTERM to the group, SIGKILL after the grace.  The
 * done callback still fires, with CHILD_KILLED.  If the child has already
 * exited, only the wait for its pipes is cut short and its real status is
 * reported.  No-op after done or after a timeout.
 */
void		 child_terminate(struct child *);

/* The child's pid, which is also its process group id. */
pid_t		 child_pid(const struct child *);

/*
 * Free the child: from or after the done callback, or earlier to abandon
 * it (its group is killed and reaped later without a callback).  Accepts
 * NULL.
 */
void		 child_free(struct child *);

#endif
