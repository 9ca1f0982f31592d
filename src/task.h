/*
 * task: the task path of PROTOCOL.md.  Polls the server for task leases,
 * decides whether each task may run (the -allow-exec / -no-exec / root
 * gates and the lease's own content), runs it sandboxed through child.c in
 * a private work dir with a minimal environment, builds a result that the
 * server will accept (valid UTF-8, within the output limit, a body within
 * 1 MiB after JSON escaping) and delivers it durably through the spool,
 * retrying until the server answers 2xx or a final 4xx.
 *
 * Ownership: the scheduler owns struct tasks (tasks_new/tasks_free); the
 * event base and api it is given must outlive it.  Every leased task gets
 * exactly one result, even when it is refused, invalid, interrupted by a
 * shutdown or by a crash of the agent (reported on the next start).
 *
 * The pure pieces below (lease parser, gates, limits, environment, result
 * body) take explicit inputs so unit tests and the fuzzer use them alone.
 */
#ifndef TASK_H
#define TASK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "child.h"

struct event_base;
struct api;
struct tasks;

struct tasks_config {
	int		 allow_exec;
	int		 allow_root_exec;
	int		 no_exec;
	const char	*state_dir;	/* NULL: results in memory only */
	int64_t		 interval_ms;
	int		 concurrency;	/* 1..16 */
	int64_t		 shutdown_grace_ms;
	const char	*node_id;
};

/*
 * Create the task module: logs once which allowlisted interpreters are
 * missing, opens the spool (or warns once and keeps results in memory),
 * and starts delivering results left over from an earlier run, including
 * tasks that were running when the agent died.  Polling waits for
 * tasks_start().
 */
struct tasks	*tasks_new(struct event_base *, struct api *,
		    const struct tasks_config *);
/* The server is reachable: poll now and every interval (jittered). */
void		 tasks_start(struct tasks *);
/* The server is unreachable or refuses us: stop polling; runs continue. */
void		 tasks_pause(struct tasks *);
/*
 * A heartbeat cycle completed: poll now, on the same connection, unless a
 * failed poll is backing off.  This is the periodic poll's only trigger.
 */
void		 tasks_cycle(struct tasks *);
/* The task_sandbox object for heartbeats; a new reference. */
json_t		*tasks_sandbox_json(const struct tasks *);
/*
 * SIGTERM: stop polling, let running tasks finish within the grace, then
 * kill their process groups, spool their results, try to deliver for a few
 * seconds, then call done (from the loop, never from inside this call).
 */
void		 tasks_shutdown(struct tasks *, void (*done)(void *),
		    void *arg);
/*
 * -once: one poll, run what it returned, deliver every pending result,
 * then done(arg, ok) with ok 1 when all of that succeeded.
 */
void		 tasks_run_once(struct tasks *, void (*done)(void *, int ok),
		    void *arg);
/* Accepts NULL; safe with requests still in flight (they are orphaned). */
void		 tasks_free(struct tasks *);

/* ---- pure pieces, exposed for tests and fuzzing ---- */

#define TASK_MAX_LEASES		100	/* elements looked at per poll */
#define TASK_ID_MAX		256	/* bytes of a usable id or lease id */
#define TASK_SCRIPT_MAX		(256u << 10)
#define TASK_TIMEOUT_DEFAULT	30
#define TASK_TIMEOUT_MAX	600
#define TASK_OUTPUT_DEFAULT	(64u << 10)
#define TASK_OUTPUT_MAX		(256u << 10)
#define TASK_PATH		CHILD_PATH

/* One element of the lease list. */
struct task_lease {
	char		*id;
	char		*lease_id;
	char		*interpreter;	/* NULL when invalid */
	char		*script;
	size_t		 script_len;
	int64_t		 timeout_sec;	/* as sent */
	int64_t		 output_limit;	/* as sent */
	char		*invalid;	/* why the lease cannot run, or NULL */
};

/*
 * Parse a lease list strictly.  Returns -1 (reason in errbuf) when the body
 * is not a JSON array.  Otherwise 0, with *ret_leases the elements that
 * have a usable id and lease id (those that are otherwise malformed carry
 * `invalid`, so they can be answered and released) and *ret_skipped the
 * number of elements that cannot even be answered, or that are beyond
 * TASK_MAX_LEASES.
 */
int		 task_parse_leases(const char *body, size_t len,
		    struct task_lease **ret_leases, size_t *ret_n,
		    size_t *ret_skipped, char *errbuf, size_t errlen);
void		 task_leases_free(struct task_lease *, size_t n);

/* Effective limits: defaults for <= 0, clamped to the maximum. */
int64_t		 task_timeout_sec(int64_t);
size_t		 task_output_limit(int64_t);

struct task_policy {
	int		 allow_exec;
	int		 allow_root_exec;
	int		 no_exec;
	int		 euid;
	const char	*search_path;	/* NULL: TASK_PATH */
};

enum task_level {
	TASK_LEVEL_DISABLED,
	TASK_LEVEL_ROOT_REFUSED,
	TASK_LEVEL_HARDENED,
};

enum task_level	 task_policy_level(const struct task_policy *);

/*
 * May this lease run?  Returns 0 with the interpreter's absolute path in
 * ret_path, or -1 with the error to report (exit_code -1) in errbuf.
 */
int		 task_check(const struct task_policy *,
		    const struct task_lease *, char *ret_path, size_t pathlen,
		    char *errbuf, size_t errlen);
/* Find an allowlisted interpreter in the search path; 0 or -1. */
int		 task_find_interpreter(const char *search_path,
		    const char *name, char *ret_path, size_t pathlen);

/* The child's whole environment (NULL-terminated); free with the below. */
char		**task_env(const char *workdir, const char *task_id,
		    const char *lease_id);
void		 task_env_free(char **);

/* What ended a run, as far as the result is concerned. */
struct task_outcome {
	const char	*task_id;
	const char	*lease_id;
	const char	*node_id;
	int		 exit_code;
	const char	*error;		/* why it did not run or finish */
	const char	*out;		/* raw bytes, any encoding */
	size_t		 out_len;
	int		 out_truncated;	/* more was produced than captured */
	const char	*err;
	size_t		 err_len;
	int		 err_truncated;
	size_t		 limit;		/* effective output limit */
	struct timespec	 started, finished;
};

/*
 * The task-result request body as compact JSON text (malloc'ed), with
 * output made valid UTF-8 and cut to the limit on character boundaries,
 * truncation named in "error", and the whole body at most max_body bytes
 * once encoded (stderr cut first, then stdout).  NULL only if even an
 * empty result would not fit.
 */
char		*task_result_body(const struct task_outcome *, size_t max_body,
		    size_t *ret_len);

/* The spool key of a lease: hex SHA-256 of task id and lease id. */
void		 task_key(const char *task_id, const char *lease_id,
		    char ret_key[65]);

/* Remove a directory tree without following symlinks; 0 or -1. */
int		 task_rmtree(const char *path);
/*
 * Remove at most budget entries of the tree: 0 when it is gone, 1 when
 * more remain (call again), -1 on error.
 */
int		 task_rmtree_some(const char *path, size_t budget);

#endif
