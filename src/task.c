/*
 * Tasks: lease polling, the execution gates, sandboxed runs through
 * child.c, result building and durable delivery.
 *
 * A task is arbitrary code from the network and the server never expires a
 * lease, so two rules shape this file: nothing runs unless the operator
 * said so (and the child gets only what the design lists), and every lease
 * we take ends in exactly one delivered result.  The lease is written to
 * the spool before the task runs and the result before the first delivery
 * attempt; delivery retries with capped exponential backoff until the
 * server answers 2xx or a final 4xx.  A lease found in the spool without a
 * result at start-up is answered as interrupted.
 *
 * Flow: poll -> queue (lease order) -> run (concurrency at a time) ->
 * result -> spool -> deliver.  Everything is driven by timers and
 * callbacks on the agent's one event base; nothing here blocks except the
 * small spool writes (fsync of a few KiB).
 */
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "api.h"
#include "backoff.h"
#include "child.h"
#include "log.h"
#include "spool.h"
#include "task.h"
#include "utf8.h"
#include "util.h"

#define TASKS_BATCH		3	/* the server leases up to 3 per poll */
#define TASKS_QUEUE_MAX		32	/* leases held: queued + running */
#define TASKS_DELIVERIES_MAX	32	/* pending results before polls stop */
#define TASKS_POLL_BACKOFF_MS	1000
#define TASKS_DELIVER_BASE_MS	500
#define TASKS_DELIVER_CAP_MS	30000
#define TASKS_SHUTDOWN_DELIVER_MS 5000
#define TASKS_ONCE_DELIVER_MS	30000
#define TASKS_RMTREE_DEPTH	128
#define TASKS_RM_SLICE		1024	/* work-dir entries removed per turn */
#define TASKS_JSON_FLAGS	(JSON_COMPACT | JSON_PRESERVE_ORDER)

static const char *const task_interpreters[] = { "sh", "bash", "python3",
    "node" };
static const char *const task_script_names[] = { "script.sh", "script.sh",
    "script.py", "script.js" };

enum task_state {
	TASK_QUEUED,
	TASK_RUNNING,
};

struct task {
	TAILQ_ENTRY(task)	 entry;
	struct tasks		*tasks;
	struct task_lease	 lease;
	char			 key[65];
	enum task_state		 state;
	struct child		*child;
	char			*workdir;
	int64_t			 leased_ms;	/* wall clock */
};
TAILQ_HEAD(task_list, task);

struct delivery {
	TAILQ_ENTRY(delivery)	 entry;
	char			 key[65];
	char			*task_id;
	char			*lease_id;
	char			*body;
	size_t			 len;
	int			 fallback_sent;
	unsigned int		 attempts;
};
TAILQ_HEAD(delivery_list, delivery);

/* A work dir too big to remove in one turn of the loop. */
struct removal {
	TAILQ_ENTRY(removal)	 entry;
	char			*dir;
};
TAILQ_HEAD(removals, removal);

/* One in-flight API request; orphaned (t = NULL) by tasks_free(). */
struct tasks_call {
	struct tasks		*t;
	struct delivery		*d;
};

struct tasks {
	struct event_base	*base;
	struct api		*api;
	char			*node_id;
	struct task_policy	 policy;
	int64_t			 interval_ms;
	int			 concurrency;
	int64_t			 grace_ms;
	int			 have_interp[nitems(task_interpreters)];

	struct spool		*spool;
	int			 spool_full_logged;

	int			 active;	/* started and not paused */
	int			 poll_due;
	size_t			 last_leased;	/* by the last poll */
	struct tasks_call	*poll_call;
	struct event		*ev_poll;
	struct backoff		 poll_backoff;

	struct task_list	 queue;		/* queued and running */
	size_t			 nqueued, nrunning;

	struct delivery_list	 deliveries;
	size_t			 ndeliveries;
	struct tasks_call	*deliver_call;
	struct event		*ev_deliver;
	int			 deliver_waiting;	/* backoff armed */
	struct backoff		 deliver_backoff;

	/* shutdown and -once */
	int			 shutting_down;
	int			 once;
	int			 once_polled;
	int			 once_ok;
	int			 final_phase;	/* delivering until deadline */
	int			 finished;
	struct event		*ev_deadline;
	struct event		*ev_done;
	struct event		*ev_rm;		/* removes big work dirs */
	struct removals		 removals;
	void			(*shutdown_done)(void *);
	void			(*once_done)(void *, int);
	void			*done_arg;
};

static void	tasks_kick(struct tasks *);
static void	tasks_finish_task(struct tasks *, struct task *,
		    const struct task_outcome *);

/* ---- pure pieces ---- */

int64_t
task_timeout_sec(int64_t v)
{
	if (v <= 0)
		return TASK_TIMEOUT_DEFAULT;
	return v > TASK_TIMEOUT_MAX ? TASK_TIMEOUT_MAX : v;
}

size_t
task_output_limit(int64_t v)
{
	if (v <= 0)
		return TASK_OUTPUT_DEFAULT;
	return v > (int64_t)TASK_OUTPUT_MAX ? TASK_OUTPUT_MAX : (size_t)v;
}

/* A usable id: a string of 1..TASK_ID_MAX bytes without NUL. */
static const char *
task_id_field(json_t *obj, const char *name)
{
	json_t	*v = json_object_get(obj, name);
	size_t	 len;

	if (!json_is_string(v))
		return NULL;
	len = json_string_length(v);
	if (len == 0 || len > TASK_ID_MAX || strlen(json_string_value(v)) !=
	    len)
		return NULL;
	return json_string_value(v);
}

static void
task_lease_parse_one(json_t *el, struct task_lease *l)
{
	json_t		*interp, *script, *to, *ol;
	const char	*bad = NULL;

	interp = json_object_get(el, "interpreter");
	script = json_object_get(el, "script");
	to = json_object_get(el, "timeout_sec");
	ol = json_object_get(el, "output_limit");
	if (!json_is_string(interp))
		bad = "interpreter";
	else if (!json_is_string(script))
		bad = "script";
	else if (!json_is_integer(to))
		bad = "timeout_sec";
	else if (!json_is_integer(ol))
		bad = "output_limit";
	if (bad != NULL) {
		xasprintf(&l->invalid, "invalid task lease: field \"%s\" is "
		    "missing or has the wrong type", bad);
		return;
	}
	l->timeout_sec = json_integer_value(to);
	l->output_limit = json_integer_value(ol);
	if (strlen(json_string_value(interp)) != json_string_length(interp))
		bad = "interpreter";
	else if (strlen(json_string_value(script)) !=
	    json_string_length(script))
		bad = "script";
	if (bad != NULL) {
		xasprintf(&l->invalid, "invalid task lease: field \"%s\" "
		    "contains a NUL character", bad);
		return;
	}
	if (json_string_length(script) > TASK_SCRIPT_MAX) {
		xasprintf(&l->invalid, "invalid task lease: script of %zu "
		    "bytes is over the limit of %u bytes",
		    json_string_length(script), TASK_SCRIPT_MAX);
		return;
	}
	l->interpreter = xstrdup(json_string_value(interp));
	l->script_len = json_string_length(script);
	l->script = xstrndup(json_string_value(script), l->script_len);
}

int
task_parse_leases(const char *body, size_t len,
    struct task_lease **ret_leases, size_t *ret_n, size_t *ret_skipped,
    char *errbuf, size_t errlen)
{
	struct task_lease	*leases;
	json_error_t		 jerr;
	json_t			*root, *el;
	const char		*id, *lease_id;
	size_t			 i, n, size, skipped = 0;

	/*
	 * Be as lenient as Go's decoder where strictness would cost leases:
	 * a whole answer refused leaves every lease in it stuck.  NUL inside
	 * strings is allowed here and refused per element below; duplicate
	 * keys take the last value.
	 */
	root = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
	if (root == NULL) {
		snprintf(errbuf, errlen, "task list is not valid JSON: %s "
		    "(line %d)", jerr.text, jerr.line);
		return -1;
	}
	if (!json_is_array(root)) {
		snprintf(errbuf, errlen, "task list is not a JSON array");
		json_decref(root);
		return -1;
	}
	size = json_array_size(root);
	n = size > TASK_MAX_LEASES ? TASK_MAX_LEASES : size;
	skipped = size - n;
	leases = xcalloc(n > 0 ? n : 1, sizeof(*leases));
	for (i = 0, n = 0; i < size && i < TASK_MAX_LEASES; i++) {
		el = json_array_get(root, i);
		if (!json_is_object(el) ||
		    (id = task_id_field(el, "id")) == NULL ||
		    (lease_id = task_id_field(el, "lease_id")) == NULL) {
			skipped++;
			continue;
		}
		leases[n].id = xstrdup(id);
		leases[n].lease_id = xstrdup(lease_id);
		task_lease_parse_one(el, &leases[n]);
		n++;
	}
	json_decref(root);
	*ret_leases = leases;
	*ret_n = n;
	*ret_skipped = skipped;
	return 0;
}

static void
task_lease_clear(struct task_lease *l)
{
	free(l->id);
	free(l->lease_id);
	free(l->interpreter);
	if (l->script != NULL) {
		/* Scripts may hold secrets: do not leave them in the heap. */
		OPENSSL_cleanse(l->script, l->script_len);
		free(l->script);
	}
	free(l->invalid);
	memset(l, 0, sizeof(*l));
}

void
task_leases_free(struct task_lease *leases, size_t n)
{
	size_t	 i;

	if (leases == NULL)
		return;
	for (i = 0; i < n; i++)
		task_lease_clear(&leases[i]);
	free(leases);
}

enum task_level
task_policy_level(const struct task_policy *p)
{
	if (p->no_exec || !p->allow_exec)
		return TASK_LEVEL_DISABLED;
	if (p->euid == 0 && !p->allow_root_exec)
		return TASK_LEVEL_ROOT_REFUSED;
	return TASK_LEVEL_HARDENED;
}

int
task_find_interpreter(const char *search_path, const char *name,
    char *ret_path, size_t pathlen)
{
	char		 path[PATH_MAX];
	struct stat	 st;
	const char	*p, *end;
	size_t		 n;

	for (p = search_path; *p != '\0'; p = *end == ':' ? end + 1 : end) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		n = (size_t)(end - p);
		if (n == 0 || p[0] != '/')
			continue;
		if (snprintf(path, sizeof(path), "%.*s/%s", (int)n, p, name) >=
		    (int)sizeof(path))
			continue;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0) {
			if (strlen(path) >= pathlen)
				continue;
			memcpy(ret_path, path, strlen(path) + 1);
			return 0;
		}
	}
	errno = ENOENT;
	return -1;
}

static int
task_interpreter_index(const char *name)
{
	size_t	 i;

	for (i = 0; i < nitems(task_interpreters); i++)
		if (strcmp(name, task_interpreters[i]) == 0)
			return (int)i;
	return -1;
}

int
task_check(const struct task_policy *p, const struct task_lease *l,
    char *ret_path, size_t pathlen, char *errbuf, size_t errlen)
{
	const char	*search = p->search_path != NULL ? p->search_path :
			    TASK_PATH;
	char		 name[40];

	switch (task_policy_level(p)) {
	case TASK_LEVEL_DISABLED:
		if (p->no_exec)
			snprintf(errbuf, errlen, "task execution is switched "
			    "off on this node by -no-exec (LATTICE_NO_EXEC=1), "
			    "which overrides -allow-exec");
		else
			snprintf(errbuf, errlen, "task execution is disabled "
			    "on this node: start the agent with -allow-exec "
			    "(or LATTICE_AGENT_ALLOW_EXEC=1) to run tasks");
		return -1;
	case TASK_LEVEL_ROOT_REFUSED:
		snprintf(errbuf, errlen, "the agent runs as root and refuses "
		    "tasks: run it as an unprivileged user, or add "
		    "-allow-root-exec (or LATTICE_AGENT_ALLOW_ROOT_EXEC=1) to "
		    "run tasks as root");
		return -1;
	case TASK_LEVEL_HARDENED:
		break;
	}
	if (l->invalid != NULL) {
		snprintf(errbuf, errlen, "%s", l->invalid);
		return -1;
	}
	snprintf(name, sizeof(name), "%s", l->interpreter);
	utf8_clean_field(name, 32);
	if (task_interpreter_index(l->interpreter) == -1) {
		snprintf(errbuf, errlen, "unknown interpreter \"%s\": allowed "
		    "are sh, bash, python3 and node", name);
		return -1;
	}
	if (l->script_len == 0) {
		snprintf(errbuf, errlen, "the script is empty");
		return -1;
	}
	if (task_find_interpreter(search, l->interpreter, ret_path,
	    pathlen) == -1) {
		snprintf(errbuf, errlen, "interpreter \"%s\" is not installed "
		    "on this node (not found in %s)", name, search);
		return -1;
	}
	return 0;
}

char **
task_env(const char *workdir, const char *task_id, const char *lease_id)
{
	char	**env;
	size_t	  i = 0;

	env = xcalloc(10, sizeof(*env));
	xasprintf(&env[i++], "PATH=%s", TASK_PATH);
	xasprintf(&env[i++], "HOME=%s", workdir);
	xasprintf(&env[i++], "TMPDIR=%s", workdir);
	xasprintf(&env[i++], "PWD=%s", workdir);
	xasprintf(&env[i++], "XDG_RUNTIME_DIR=%s", workdir);
	xasprintf(&env[i++], "LANG=C.UTF-8");
	xasprintf(&env[i++], "LATTICE_TASK_ID=%s", task_id);
	xasprintf(&env[i++], "LATTICE_TASK_LEASE_ID=%s", lease_id);
	env[i] = NULL;
	return env;
}

void
task_env_free(char **env)
{
	size_t	 i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

void
task_key(const char *task_id, const char *lease_id, char ret_key[65])
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0, i;
	EVP_MD_CTX		*ctx;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, task_id, strlen(task_id) + 1) != 1 ||
	    EVP_DigestUpdate(ctx, lease_id, strlen(lease_id)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		fatalx("task: SHA-256 failed");
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < 32; i++) {
		ret_key[2 * i] = hex[md[i] >> 4];
		ret_key[2 * i + 1] = hex[md[i] & 0xf];
	}
	ret_key[64] = '\0';
}

/* Bytes jansson spends on s[0..len) inside a JSON string. */
static size_t
task_json_cost(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i, cost = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '"' || p[i] == '\\' || p[i] == '\b' ||
		    p[i] == '\f' || p[i] == '\n' || p[i] == '\r' ||
		    p[i] == '\t')
			cost += 2;
		else if (p[i] < 0x20)
			cost += 6;
		else
			cost += 1;
	}
	return cost;
}

/* Longest prefix of s (valid UTF-8) that costs at most budget encoded. */
static size_t
task_json_prefix(const char *s, size_t len, size_t budget)
{
	size_t	 i, cost = 0, c;

	for (i = 0; i < len; i++) {
		c = task_json_cost(s + i, 1);
		if (cost + c > budget)
			break;
		cost += c;
	}
	return utf8_clamp(s, len, i);
}

/* A JSON string from bytes that should be UTF-8 but may not be. */
static json_t *
task_jstr(const char *s, size_t len)
{
	struct buf	 b;
	json_t		*j;

	j = json_stringn(s, len);
	if (j != NULL)
		return j;
	buf_init(&b);
	utf8_sanitize(&b, s, len);
	j = json_stringn(b.data, b.len);
	buf_free(&b);
	return j;
}

/* Sanitize raw output into b and cut it to the limit; 1 if it was cut. */
static int
task_clean_output(struct buf *b, const char *raw, size_t len, size_t limit)
{
	size_t	 n;

	buf_reserve(b, len);
	utf8_sanitize(b, raw != NULL ? raw : "", len);
	if (b->len <= limit)
		return 0;
	n = utf8_clamp(b->data, b->len, limit);
	b->len = n;
	b->data[n] = '\0';
	return 1;
}

static json_t *
task_body_json(const struct task_outcome *o, const struct buf *out,
    const struct buf *err, const char *error, size_t error_len)
{
	char	 started[RFC3339_LEN], finished[RFC3339_LEN];
	json_t	*result;

	fmt_rfc3339_ms(started, o->started);
	fmt_rfc3339_ms(finished, o->finished);
	result = json_object();
	json_object_set_new(result, "task_id",
	    task_jstr(o->task_id, strlen(o->task_id)));
	json_object_set_new(result, "lease_id",
	    task_jstr(o->lease_id, strlen(o->lease_id)));
	json_object_set_new(result, "node_id",
	    task_jstr(o->node_id, strlen(o->node_id)));
	json_object_set_new(result, "exit_code", json_integer(o->exit_code));
	json_object_set_new(result, "stdout", json_stringn(out->data,
	    out->len));
	json_object_set_new(result, "stderr", json_stringn(err->data,
	    err->len));
	json_object_set_new(result, "error", json_stringn(error, error_len));
	json_object_set_new(result, "started_at", json_string(started));
	json_object_set_new(result, "finished_at", json_string(finished));
	return json_pack("{s:o, s:o}", "node_id",
	    task_jstr(o->node_id, strlen(o->node_id)), "result", result);
}

char *
task_result_body(const struct task_outcome *o, size_t max_body,
    size_t *ret_len)
{
	struct buf	 out, err, error;
	json_t		*root = NULL;
	char		*text = NULL;
	size_t		 size, excess, cost, n, fit_out = SIZE_MAX,
			 fit_err = SIZE_MAX;
	int		 cut_out, cut_err, iter;

	buf_init(&out);
	buf_init(&err);
	buf_init(&error);
	buf_reserve(&error, 128);
	cut_out = task_clean_output(&out, o->out, o->out_len, o->limit) ||
	    o->out_truncated;
	cut_err = task_clean_output(&err, o->err, o->err_len, o->limit) ||
	    o->err_truncated;

	for (iter = 0; iter < 8; iter++) {
		buf_reset(&error);
		if (o->error != NULL && o->error[0] != '\0')
			utf8_sanitize(&error, o->error, strlen(o->error));
		if (cut_out)
			buf_printf(&error, "%sstdout truncated to %zu bytes",
			    error.len > 0 ? "; " : "", o->limit);
		if (cut_err)
			buf_printf(&error, "%sstderr truncated to %zu bytes",
			    error.len > 0 ? "; " : "", o->limit);
		if (fit_err != SIZE_MAX)
			buf_printf(&error, "%sstderr truncated to %zu bytes to "
			    "fit the %zu-byte request limit",
			    error.len > 0 ? "; " : "", fit_err, max_body);
		if (fit_out != SIZE_MAX)
			buf_printf(&error, "%sstdout truncated to %zu bytes to "
			    "fit the %zu-byte request limit",
			    error.len > 0 ? "; " : "", fit_out, max_body);
		n = utf8_clamp(error.data != NULL ? error.data : "", error.len,
		    o->limit);

		json_decref(root);
		root = task_body_json(o, &out, &err, error.len > 0 ?
		    error.data : "", n);
		if (root == NULL)
			goto out;
		size = json_dumpb(root, NULL, 0, TASKS_JSON_FLAGS);
		if (size <= max_body)
			break;
		/* Cut stderr first, then stdout; slack for the error text. */
		excess = size - max_body + 256;
		cost = task_json_cost(err.data, err.len);
		if (err.len > 0) {
			n = cost > excess ? task_json_prefix(err.data, err.len,
			    cost - excess) : 0;
			excess = cost > excess ? 0 : excess - cost;
			err.len = n;
			err.data[n] = '\0';
			fit_err = n;
		}
		if (excess > 0 && out.len > 0) {
			cost = task_json_cost(out.data, out.len);
			n = cost > excess ? task_json_prefix(out.data, out.len,
			    cost - excess) : 0;
			out.len = n;
			out.data[n] = '\0';
			fit_out = n;
		}
	}
	if (iter == 8)
		goto out;
	text = json_dumps(root, TASKS_JSON_FLAGS);
	if (text != NULL)
		*ret_len = strlen(text);
out:
	json_decref(root);
	buf_free(&out);
	buf_free(&err);
	buf_free(&error);
	return text;
}

/*
 * Remove name under dfd; a directory recursively, never via a symlink.
 * Each removal spends one unit of *budget; at zero it stops with EAGAIN.
 */
static int
task_rm_at(int dfd, const char *name, int depth, size_t *budget)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd, ret = 0;

	if (*budget == 0) {
		errno = EAGAIN;
		return -1;
	}
	(*budget)--;
	if (unlinkat(dfd, name, 0) == 0)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return errno == ENOENT ? 0 : -1;
	if (depth >= TASKS_RMTREE_DEPTH) {
		errno = ELOOP;
		return -1;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1 && errno == EACCES &&
	    fchmodat(dfd, name, 0700, 0) == 0)
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd == -1)
		return -1;
	(void)fchmod(fd, 0700);
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (task_rm_at(dirfd(d), de->d_name, depth + 1,
		    budget) == -1) {
			ret = -1;
			if (errno == EAGAIN)
				break;
		}
	}
	closedir(d);
	if (ret == -1 && errno == EAGAIN)
		return -1;
	if (unlinkat(dfd, name, AT_REMOVEDIR) == -1)
		ret = -1;
	return ret;
}

int
task_rmtree(const char *path)
{
	int	 ret;

	while ((ret = task_rmtree_some(path, SIZE_MAX)) == 1)
		;
	return ret;
}

int
task_rmtree_some(const char *path, size_t budget)
{
	char	*copy, *slash;
	int	 dfd, ret, saved;

	copy = xstrdup(path);
	slash = strrchr(copy, '/');
	if (slash == NULL || slash[1] == '\0') {
		free(copy);
		errno = EINVAL;
		return -1;
	}
	*slash = '\0';
	dfd = open(slash == copy ? "/" : copy, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (dfd == -1) {
		saved = errno;
		free(copy);
		errno = saved;
		return -1;
	}
	ret = task_rm_at(dfd, slash + 1, 0, &budget);
	saved = errno;
	close(dfd);
	free(copy);
	errno = saved;
	if (ret == -1 && saved == EAGAIN)
		return 1;
	return ret;
}

/* ---- work dir ---- */

/* Where work dirs go; -1 with the error for the result in errbuf. */
static int
task_work_root(char *ret, size_t len, char *errbuf, size_t errlen)
{
	const char	*root = getenv("LATTICE_TASK_WORK_ROOT");
	struct stat	 st;
	char		 shown[128];

	if (root == NULL || root[0] == '\0') {
		root = getenv("TMPDIR");
		if (root == NULL || root[0] != '/')
			root = "/tmp";
		snprintf(ret, len, "%s", root);
		return 0;
	}
	snprintf(shown, sizeof(shown), "%s", root);
	utf8_clean_field(shown, 96);
	if (root[0] != '/') {
		snprintf(errbuf, errlen, "LATTICE_TASK_WORK_ROOT=%s is not an "
		    "absolute path", shown);
		return -1;
	}
	if (lstat(root, &st) == -1) {
		snprintf(errbuf, errlen, "LATTICE_TASK_WORK_ROOT=%s: %s",
		    shown, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(errbuf, errlen, "LATTICE_TASK_WORK_ROOT=%s is not a "
		    "directory", shown);
		return -1;
	}
	if ((st.st_mode & 022) != 0) {
		snprintf(errbuf, errlen, "LATTICE_TASK_WORK_ROOT=%s is group "
		    "or world writable; use a directory only the agent's user "
		    "can write", shown);
		return -1;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(errbuf, errlen, "LATTICE_TASK_WORK_ROOT=%s is owned "
		    "by another user", shown);
		return -1;
	}
	if (snprintf(ret, len, "%s", root) >= (int)len) {
		snprintf(errbuf, errlen, "LATTICE_TASK_WORK_ROOT is too long");
		return -1;
	}
	return 0;
}

/* Make the private work dir with the script in it. */
static char *
task_make_workdir(const struct task_lease *l, const char *script_name,
    char **ret_script, char *errbuf, size_t errlen)
{
	char		 root[PATH_MAX], *dir = NULL, *script;
	const char	*p = l->script;
	size_t		 left = l->script_len;
	ssize_t		 n;
	int		 dfd, fd;

	if (task_work_root(root, sizeof(root), errbuf, errlen) == -1)
		return NULL;
	xasprintf(&dir, "%s/lattice-task-XXXXXX", root);
	if (mkdtemp(dir) == NULL) {
		snprintf(errbuf, errlen, "cannot create a work dir in "
		    "%.200s: %s", root, strerror(errno));
		free(dir);
		return NULL;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1)
		goto fail;
	fd = openat(dfd, script_name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	close(dfd);
	if (fd == -1)
		goto fail;
	while (left > 0) {
		n = write(fd, p, left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			goto fail;
		}
		p += n;
		left -= (size_t)n;
	}
	if (close(fd) == -1)
		goto fail;
	xasprintf(&script, "%s/%s", dir, script_name);
	*ret_script = script;
	return dir;

fail:
	snprintf(errbuf, errlen, "cannot write the script into the work dir: "
	    "%s", strerror(errno));
	(void)task_rmtree(dir);
	free(dir);
	return NULL;
}

/* ---- the module ---- */

static void
task_log_kv(struct log_kv kv[2], const char *task_id, const char *lease_id)
{
	kv[0].key = "task_id";
	kv[0].val = task_id;
	kv[1].key = "lease_id";
	kv[1].val = lease_id;
}


static int64_t
ts_ms(struct timespec ts)
{
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec
ms_ts(int64_t ms)
{
	struct timespec	 ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	return ts;
}

static void
tasks_spool_failed(struct tasks *t, const char *what, const char *task_id,
    const char *lease_id)
{
	struct log_kv	 kv[2];

	task_log_kv(kv, task_id, lease_id);
	if (errno == ENOSPC) {
		if (!t->spool_full_logged)
			log_kv(LOG_WARNING, kv, 2, "spool full (%zu entries, "
			    "%zu bytes in %s): %s kept in memory only",
			    spool_entries(t->spool), spool_bytes(t->spool),
			    spool_dir(t->spool), what);
		t->spool_full_logged = 1;
		return;
	}
	log_kv(LOG_WARNING, kv, 2, "cannot spool the %s in %s: %s; kept in "
	    "memory only", what, spool_dir(t->spool), strerror(errno));
}

/* Record a lease (queued or running) so a crash cannot forget it. */
static void
tasks_spool_lease(struct tasks *t, struct task *task, int64_t started_ms)
{
	char	*text;
	json_t	*rec;

	if (t->spool == NULL)
		return;
	rec = json_pack("{s:s, s:s, s:s, s:I, s:I}",
	    "task_id", task->lease.id, "lease_id", task->lease.lease_id,
	    "state", started_ms > 0 ? "running" : "queued",
	    "leased_ms", (json_int_t)task->leased_ms,
	    "started_ms", (json_int_t)started_ms);
	text = rec != NULL ? json_dumps(rec, TASKS_JSON_FLAGS) : NULL;
	json_decref(rec);
	if (text == NULL)
		return;
	if (spool_put(t->spool, SPOOL_LEASE, task->key, text, strlen(text)) ==
	    -1)
		tasks_spool_failed(t, "task lease", task->lease.id,
		    task->lease.lease_id);
	else
		t->spool_full_logged = 0;
	free(text);
}

/* Queue a result for delivery; takes ownership of body. */
static void
tasks_add_delivery(struct tasks *t, const char *key, const char *task_id,
    const char *lease_id, char *body, size_t len, int spooled)
{
	struct delivery	*d;

	d = xcalloc(1, sizeof(*d));
	snprintf(d->key, sizeof(d->key), "%s", key);
	d->task_id = xstrdup(task_id);
	d->lease_id = xstrdup(lease_id);
	d->body = body;
	d->len = len;
	if (!spooled && t->spool != NULL) {
		if (spool_put(t->spool, SPOOL_RESULT, key, body, len) == -1)
			tasks_spool_failed(t, "task result", task_id,
			    lease_id);
		else {
			t->spool_full_logged = 0;
			spooled = 1;
		}
	}
	/*
	 * The lease record goes only once the result is on disk: if the
	 * result could not be written, a restart still finds the lease and
	 * releases it with an "agent restarted" result.
	 */
	if (spooled)
		(void)spool_remove(t->spool, SPOOL_LEASE, key);
	TAILQ_INSERT_TAIL(&t->deliveries, d, entry);
	t->ndeliveries++;
}

static void
tasks_delivery_free(struct tasks *t, struct delivery *d, int unspool)
{
	TAILQ_REMOVE(&t->deliveries, d, entry);
	t->ndeliveries--;
	if (unspool && t->spool != NULL &&
	    spool_remove(t->spool, SPOOL_RESULT, d->key) == -1)
		log_warn("spool: cannot remove result %s", d->key);
	free(d->task_id);
	free(d->lease_id);
	free(d->body);
	free(d);
}

/*
 * Work dirs are removed in slices of TASKS_RM_SLICE entries, one slice per
 * loop turn, so a task that left a million files cannot stall heartbeats.
 */
static void
tasks_rm_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tasks	*t = arg;
	struct removal	*r;
	int		 rc;

	if ((r = TAILQ_FIRST(&t->removals)) == NULL)
		return;
	rc = task_rmtree_some(r->dir, TASKS_RM_SLICE);
	if (rc != 1) {
		if (rc == -1)
			log_warn("task: cannot remove work dir %s", r->dir);
		TAILQ_REMOVE(&t->removals, r, entry);
		free(r->dir);
		free(r);
	}
	if (!TAILQ_EMPTY(&t->removals))
		timer_add_ms(t->ev_rm, 0);
}

static void
tasks_remove_workdir(struct tasks *t, char *dir)
{
	struct removal	*r;
	int		 rc;

	/* The usual work dir holds a script and a few files: done at once. */
	if ((rc = task_rmtree_some(dir, TASKS_RM_SLICE)) != 1) {
		if (rc == -1)
			log_warn("task: cannot remove work dir %s", dir);
		free(dir);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->dir = dir;
	TAILQ_INSERT_TAIL(&t->removals, r, entry);
	timer_add_ms(t->ev_rm, 0);
}

static void
tasks_task_free(struct tasks *t, struct task *task)
{
	TAILQ_REMOVE(&t->queue, task, entry);
	if (task->state == TASK_RUNNING)
		t->nrunning--;
	else
		t->nqueued--;
	child_free(task->child);
	if (task->workdir != NULL)
		tasks_remove_workdir(t, task->workdir);
	task_lease_clear(&task->lease);
	free(task);
}

/* The task ended (or never ran): build, spool and queue its result. */
static void
tasks_finish_task(struct tasks *t, struct task *task,
    const struct task_outcome *o)
{
	struct log_kv	 kv[2];
	char		*body;
	size_t		 len = 0;

	body = task_result_body(o, API_MAX_BODY, &len);
	if (body == NULL) {
		struct task_outcome	 bare = *o;

		bare.out_len = bare.err_len = 0;
		bare.error = "result could not be encoded";
		body = task_result_body(&bare, API_MAX_BODY, &len);
	}
	task_log_kv(kv, task->lease.id, task->lease.lease_id);
	if (body == NULL) {
		log_kv(LOG_ERR, kv, 2, "task result cannot be built; the lease "
		    "stays open on the server");
	} else {
		log_kv(o->exit_code == 0 && o->error == NULL ? LOG_INFO :
		    LOG_NOTICE, kv, 2, "task finished exit_code=%d%s%s",
		    o->exit_code, o->error != NULL ? " error=" : "",
		    o->error != NULL ? o->error : "");
		tasks_add_delivery(t, task->key, task->lease.id,
		    task->lease.lease_id, body, len, 0);
	}
	tasks_task_free(t, task);
}

/* Answer a lease that will not run, with exit_code -1 and why. */
static void
tasks_refuse(struct tasks *t, struct task *task, const char *why)
{
	struct task_outcome	 o;

	memset(&o, 0, sizeof(o));
	o.task_id = task->lease.id;
	o.lease_id = task->lease.lease_id;
	o.node_id = t->node_id;
	o.exit_code = -1;
	o.error = why;
	o.limit = task_output_limit(task->lease.output_limit);
	o.started = o.finished = now_wall();
	tasks_finish_task(t, task, &o);
}

static void
tasks_child_done_cb(struct child *c, struct child_result *r, void *arg)
{
	struct task		*task = arg;
	struct tasks		*t = task->tasks;
	struct task_outcome	 o;
	char			 error[256];

	memset(&o, 0, sizeof(o));
	o.task_id = task->lease.id;
	o.lease_id = task->lease.lease_id;
	o.node_id = t->node_id;
	o.limit = task_output_limit(task->lease.output_limit);
	o.exit_code = -1;
	o.error = error;
	switch (r->end) {
	case CHILD_EXITED:
		o.exit_code = r->exit_code;
		o.error = NULL;
		break;
	case CHILD_SIGNALED:
		snprintf(error, sizeof(error), "killed by signal %d",
		    r->signo);
		break;
	case CHILD_TIMED_OUT:
		snprintf(error, sizeof(error), "timed out after %lld s",
		    (long long)task_timeout_sec(task->lease.timeout_sec));
		break;
	case CHILD_KILLED:
		snprintf(error, sizeof(error), "stopped by agent shutdown "
		    "after a grace period of %lld ms", (long long)t->grace_ms);
		break;
	case CHILD_SPAWN_FAILED:
		snprintf(error, sizeof(error), "cannot start the interpreter: "
		    "%s: %s", r->spawn_step != NULL ? r->spawn_step : "spawn",
		    strerror(r->spawn_errno));
		break;
	}
	o.out = r->out.data;
	o.out_len = r->out.len;
	o.out_truncated = r->out_truncated;
	o.err = r->err.data;
	o.err_len = r->err.len;
	o.err_truncated = r->err_truncated;
	o.started = r->started;
	o.finished = r->finished;
	tasks_finish_task(t, task, &o);	/* frees the child, and r with it */
	(void)c;
	tasks_kick(t);
}

/* Start one queued task: gates, work dir, spool record, spawn. */
static void
tasks_run(struct tasks *t, struct task *task)
{
	struct child_spec	 spec;
	struct log_kv		 kv[2];
	char			 interp[PATH_MAX], error[512], *script = NULL;
	char			**env = NULL;
	const char		*argv[3];
	int64_t			 timeout;
	size_t			 limit;
	int			 idx;

	task->state = TASK_RUNNING;
	t->nqueued--;
	t->nrunning++;
	if (task_check(&t->policy, &task->lease, interp, sizeof(interp),
	    error, sizeof(error)) == -1)
		goto refuse;
	idx = task_interpreter_index(task->lease.interpreter);
	task->workdir = task_make_workdir(&task->lease,
	    task_script_names[idx], &script, error, sizeof(error));
	if (task->workdir == NULL)
		goto refuse;
	timeout = task_timeout_sec(task->lease.timeout_sec);
	limit = task_output_limit(task->lease.output_limit);
	env = task_env(task->workdir, task->lease.id, task->lease.lease_id);
	argv[0] = interp;
	argv[1] = script;
	argv[2] = NULL;
	memset(&spec, 0, sizeof(spec));
	spec.argv = argv;
	spec.envp = (const char *const *)env;
	spec.cwd = task->workdir;
	spec.stdout_cap = limit;
	spec.stderr_cap = limit;
	spec.timeout_ms = timeout * 1000;
	spec.sandbox = 1;
	spec.rlimit_cpu_sec = timeout + 5;
	tasks_spool_lease(t, task, ts_ms(now_wall()));
	task->child = child_spawn(t->base, &spec, tasks_child_done_cb, task);
	task_env_free(env);
	free(script);
	if (task->child == NULL) {
		snprintf(error, sizeof(error), "cannot start the task: %s",
		    strerror(errno));
		goto refuse;
	}
	task_log_kv(kv, task->lease.id, task->lease.lease_id);
	log_kv(LOG_INFO, kv, 2, "task started interpreter=%s timeout=%llds "
	    "output_limit=%zu pid=%d", task->lease.interpreter,
	    (long long)timeout, limit, (int)child_pid(task->child));
	return;

refuse:
	tasks_refuse(t, task, error);
}

static int
tasks_known(const struct tasks *t, const char *key)
{
	const struct task	*task;
	const struct delivery	*d;

	TAILQ_FOREACH(task, &t->queue, entry)
		if (strcmp(task->key, key) == 0)
			return 1;
	TAILQ_FOREACH(d, &t->deliveries, entry)
		if (strcmp(d->key, key) == 0)
			return 1;
	return 0;
}

/* Take over the leases of one poll answer, in the order given. */
static size_t
tasks_accept(struct tasks *t, const struct api_reply *reply)
{
	struct task_lease	*leases = NULL;
	struct task		*task;
	struct log_kv		 kv[2];
	char			 err[256];
	size_t			 i, n = 0, skipped = 0;
	const struct buf	*body = &reply->http->body;

	if (task_parse_leases(body->data != NULL ? body->data : "", body->len,
	    &leases, &n, &skipped, err, sizeof(err)) == -1) {
		log_warnx("task poll: %s; ignoring the answer", err);
		return 0;
	}
	if (skipped > 0)
		log_warnx("task poll: %zu lease(s) without a usable id and "
		    "lease id (or beyond %d) skipped; they stay leased on the "
		    "server", skipped, TASK_MAX_LEASES);
	for (i = 0; i < n; i++) {
		task = xcalloc(1, sizeof(*task));
		task->tasks = t;
		task->lease = leases[i];
		memset(&leases[i], 0, sizeof(leases[i]));
		task_key(task->lease.id, task->lease.lease_id, task->key);
		task_log_kv(kv, task->lease.id, task->lease.lease_id);
		if (tasks_known(t, task->key)) {
			log_kv(LOG_WARNING, kv, 2, "task lease received twice; "
			    "ignoring the copy");
			task_lease_clear(&task->lease);
			free(task);
			continue;
		}
		task->state = TASK_QUEUED;
		task->leased_ms = ts_ms(now_wall());
		TAILQ_INSERT_TAIL(&t->queue, task, entry);
		t->nqueued++;
		log_kv(LOG_INFO, kv, 2, "task leased");
		if (t->shutting_down) {
			tasks_refuse(t, task, "the agent was shutting down "
			    "and did not run the task");
			continue;
		}
		tasks_spool_lease(t, task, 0);
	}
	task_leases_free(leases, n);
	return n + skipped;
}

/* ---- polling ---- */

static void
tasks_poll_done_cb(const struct api_reply *reply, void *arg)
{
	struct tasks_call	*call = arg;
	struct tasks		*t = call->t;
	int64_t			 delay;
	size_t			 n;

	free(call);
	if (t == NULL)
		return;
	t->poll_call = NULL;
	if (t->once)
		t->once_polled = 1;
	switch (reply->verdict) {
	case API_OK:
		backoff_reset(&t->poll_backoff);
		n = tasks_accept(t, reply);
		t->last_leased = n;
		if (n >= TASKS_BATCH && !t->once)
			t->poll_due = 1;
		break;
	case API_REJECTED:
		log_warnx("task poll refused: %s", reply->summary);
		t->once_ok = 0;
		break;
	default:
		log_debug("task poll failed: %s", reply->summary);
		t->once_ok = 0;
		if (t->finished || t->shutting_down || t->once)
			break;
		delay = backoff_next(&t->poll_backoff,
		    reply->http->retry_after_ms);
		if (delay < t->interval_ms)
			delay = backoff_jitter(t->interval_ms, 0.1);
		timer_add_ms(t->ev_poll, delay);
		break;
	}
	/*
	 * The periodic poll rides behind each heartbeat (tasks_cycle); the
	 * timer only carries a backoff after a failed poll.
	 */
	tasks_kick(t);
}

static int
tasks_may_poll(const struct tasks *t)
{
	if (t->finished || t->shutting_down || t->poll_call != NULL ||
	    !t->poll_due)
		return 0;
	if (t->once ? t->once_polled : !t->active)
		return 0;
	return t->nqueued < TASKS_BATCH &&
	    t->nqueued + t->nrunning + TASKS_BATCH <= TASKS_QUEUE_MAX &&
	    t->ndeliveries < TASKS_DELIVERIES_MAX;
}

static void
tasks_poll(struct tasks *t)
{
	struct tasks_call	*call;
	char			*esc, *path;

	t->poll_due = 0;
	evtimer_del(t->ev_poll);
	esc = curl_easy_escape(NULL, t->node_id, 0);
	if (esc == NULL)
		fatalx("task: curl_easy_escape failed");
	xasprintf(&path, "/api/agent/tasks?node_id=%s", esc);
	curl_free(esc);
	call = xcalloc(1, sizeof(*call));
	call->t = t;
	t->poll_call = call;
	if (api_get(t->api, path, tasks_poll_done_cb, call) == -1) {
		/* Not sent (curl refused the request): try again later. */
		t->poll_call = NULL;
		free(call);
		log_warnx("task poll: request not started");
		if (t->once) {
			t->once_polled = 1;
			t->once_ok = 0;
		} else
			timer_add_ms(t->ev_poll, backoff_next(&t->poll_backoff,
			    0));
	}
	free(path);
}

static void
tasks_poll_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tasks	*t = arg;

	t->poll_due = 1;
	tasks_kick(t);
}

/* ---- delivery ---- */

/* A minimal result that releases the lease when the full one is refused. */
static void
tasks_delivery_fallback(struct tasks *t, struct delivery *d,
    const struct api_reply *reply)
{
	struct task_outcome	 o;
	char			 error[256];
	char			*body;
	size_t			 len;

	memset(&o, 0, sizeof(o));
	o.task_id = d->task_id;
	o.lease_id = d->lease_id;
	o.node_id = t->node_id;
	o.exit_code = -1;
	snprintf(error, sizeof(error), "the server refused the task result "
	    "(%s); sent again without output", reply->error.code[0] != '\0' ?
	    reply->error.code : "rejected");
	o.error = error;
	o.limit = 200;
	o.started = o.finished = now_wall();
	if ((body = task_result_body(&o, API_MAX_BODY, &len)) == NULL)
		return;
	free(d->body);
	d->body = body;
	d->len = len;
	d->fallback_sent = 1;
	if (t->spool != NULL)
		(void)spool_put(t->spool, SPOOL_RESULT, d->key, body, len);
}

static void
tasks_deliver_done_cb(const struct api_reply *reply, void *arg)
{
	struct tasks_call	*call = arg;
	struct tasks		*t = call->t;
	struct delivery		*d = call->d;
	struct log_kv		 kv[2];
	int64_t			 delay;

	free(call);
	if (t == NULL)
		return;
	t->deliver_call = NULL;
	task_log_kv(kv, d->task_id, d->lease_id);
	switch (reply->verdict) {
	case API_OK:
		log_kv(LOG_INFO, kv, 2, "task result delivered");
		backoff_reset(&t->deliver_backoff);
		tasks_delivery_free(t, d, 1);
		/* More may be queued, unless the last poll found nothing. */
		if (!t->once && !t->shutting_down && t->last_leased > 0)
			t->poll_due = 1;
		break;
	case API_LEASE_INVALID:
		log_kv(LOG_WARNING, kv, 2, "task result dropped: the server "
		    "no longer holds this lease (%s)", reply->summary);
		tasks_delivery_free(t, d, 1);
		t->once_ok = 0;
		break;
	case API_UNAUTHORIZED:
		/*
		 * The token is refused: every retry would cost the server a
		 * password-hash check.  Park deliveries until the session is
		 * back (tasks_start after an accepted hello).
		 */
		if (t->finished)
			return;		/* teardown: stays spooled */
		log_kv(LOG_WARNING, kv, 2, "task result not delivered (%s); "
		    "waiting for the server to accept the token again",
		    reply->summary);
		t->deliver_waiting = 1;
		break;
	case API_REJECTED:
		if (t->finished)
			return;		/* teardown: the next start retries */
		if (!d->fallback_sent) {
			log_kv(LOG_ERR, kv, 2, "task result refused (%s); "
			    "sending it again without output to release the "
			    "lease", reply->summary);
			tasks_delivery_fallback(t, d, reply);
			if (d->fallback_sent)
				break;
		}
		log_kv(LOG_ERR, kv, 2, "task result refused and dropped: %s",
		    reply->summary);
		tasks_delivery_free(t, d, 1);
		t->once_ok = 0;
		break;
	default:
		if (t->finished)
			return;		/* cancelled at teardown: spooled */
		d->attempts++;
		delay = backoff_next(&t->deliver_backoff,
		    reply->http->retry_after_ms);
		log_kv(d->attempts == 1 ? LOG_WARNING : LOG_DEBUG, kv, 2,
		    "task result not delivered (%s); retry %u in %lld ms",
		    reply->summary, d->attempts, (long long)delay);
		t->deliver_waiting = 1;
		timer_add_ms(t->ev_deliver, delay);
		break;
	}
	tasks_kick(t);
}

static void
tasks_deliver_next(struct tasks *t)
{
	struct tasks_call	*call;
	struct delivery		*d;

	if (t->finished || t->deliver_call != NULL ||
	    (d = TAILQ_FIRST(&t->deliveries)) == NULL)
		return;
	call = xcalloc(1, sizeof(*call));
	call->t = t;
	call->d = d;
	t->deliver_call = call;
	/*
	 * The spooled bytes go out as they are: built once, valid JSON by
	 * construction (NUL in output included), never re-encoded.
	 * api_post_raw may answer synchronously; the callback copes.
	 */
	if (api_post_raw(t->api, "/api/agent/task-result", d->body, d->len,
	    tasks_deliver_done_cb, call) == -1) {
		if (t->deliver_call == call) {
			t->deliver_call = NULL;
			free(call);
			t->deliver_waiting = 1;
			timer_add_ms(t->ev_deliver, backoff_next(
			    &t->deliver_backoff, 0));
		}
	}
}

static void
tasks_deliver_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tasks	*t = arg;

	t->deliver_waiting = 0;
	tasks_deliver_next(t);
}

/* Deliver now (unless a request is in flight or a backoff is running). */
static void
tasks_deliver_kick(struct tasks *t)
{
	if (t->finished || t->deliver_call != NULL || t->deliver_waiting ||
	    TAILQ_EMPTY(&t->deliveries))
		return;
	if (!evtimer_pending(t->ev_deliver, NULL))
		timer_add_ms(t->ev_deliver, 0);
}

/* Cut a running backoff short: the server looks reachable again. */
static void
tasks_deliver_now(struct tasks *t)
{
	backoff_reset(&t->deliver_backoff);
	if (t->deliver_waiting) {
		t->deliver_waiting = 0;
		evtimer_del(t->ev_deliver);
	}
	tasks_deliver_kick(t);
}

/* ---- shutdown, -once, the state step ---- */

static void
tasks_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tasks	*t = arg;

	if (t->shutdown_done != NULL)
		t->shutdown_done(t->done_arg);
	else if (t->once_done != NULL)
		t->once_done(t->done_arg, t->once_ok);
}

static void
tasks_finish(struct tasks *t, int ok)
{
	if (t->finished)
		return;
	t->finished = 1;
	if (!ok)
		t->once_ok = 0;
	if (!TAILQ_EMPTY(&t->deliveries))
		log_warnx("%zu task result(s) not delivered yet%s",
		    t->ndeliveries, t->spool != NULL ?
		    "; kept in the spool for the next start" :
		    " and lost: no state directory");
	evtimer_del(t->ev_poll);
	evtimer_del(t->ev_deliver);
	evtimer_del(t->ev_deadline);
	timer_add_ms(t->ev_done, 0);
}

static void
tasks_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tasks	*t = arg;
	struct task	*task;

	if (!t->final_phase) {
		/* Shutdown grace is over: stop what still runs. */
		TAILQ_FOREACH(task, &t->queue, entry)
			if (task->state == TASK_RUNNING && task->child != NULL)
				child_terminate(task->child);
		return;
	}
	tasks_finish(t, 0);
}

static void
tasks_check_final(struct tasks *t)
{
	if (t->finished || !(t->shutting_down || t->once))
		return;
	if (t->once && (!t->once_polled || t->poll_call != NULL))
		return;
	if (t->nrunning > 0 || t->nqueued > 0)
		return;
	if (!t->final_phase) {
		t->final_phase = 1;
		evtimer_del(t->ev_deadline);
		timer_add_ms(t->ev_deadline, t->once ? TASKS_ONCE_DELIVER_MS :
		    TASKS_SHUTDOWN_DELIVER_MS);
		tasks_deliver_now(t);
	}
	if (t->ndeliveries == 0 && t->poll_call == NULL)
		tasks_finish(t, 1);
}

/* The one place that moves things along after any change. */
static void
tasks_kick(struct tasks *t)
{
	struct task	*task, *next;

	if (t->finished)
		return;
	for (task = TAILQ_FIRST(&t->queue); task != NULL; task = next) {
		next = TAILQ_NEXT(task, entry);
		if (t->nrunning >= (size_t)t->concurrency)
			break;
		if (task->state == TASK_QUEUED)
			tasks_run(t, task);
	}
	if (tasks_may_poll(t))
		tasks_poll(t);
	tasks_deliver_kick(t);
	tasks_check_final(t);
}

/* ---- start-up: what the spool kept from the last run ---- */

static void
tasks_load_cb(enum spool_kind kind, const char *key, const char *data,
    size_t len, void *arg)
{
	struct tasks		*t = arg;
	struct task_outcome	 o;
	struct log_kv		 kv[2];
	json_t			*root, *res;
	const char		*tid, *lid, *state;
	char			*body, check[65];
	size_t			 blen;

	root = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
	res = kind == SPOOL_RESULT ? json_object_get(root, "result") : root;
	tid = task_id_field(res, "task_id");
	lid = task_id_field(res, "lease_id");
	if (tid != NULL && lid != NULL)
		task_key(tid, lid, check);
	/* check is set whenever strcmp() is reached. */
	/* cppcheck-suppress uninitvar */
	if (tid == NULL || lid == NULL || strcmp(check, key) != 0) {
		log_warnx("spool: record %s is damaged; removed", key);
		(void)spool_remove(t->spool, kind, key);
		goto out;
	}
	task_log_kv(kv, tid, lid);
	if (kind == SPOOL_RESULT) {
		log_kv(LOG_INFO, kv, 2, "undelivered task result found in the "
		    "spool");
		tasks_add_delivery(t, key, tid, lid, xstrndup(data, len), len,
		    1);
		goto out;
	}
	if (spool_has(t->spool, SPOOL_RESULT, key) || tasks_known(t, key)) {
		(void)spool_remove(t->spool, SPOOL_LEASE, key);
		goto out;
	}
	state = json_string_value(json_object_get(root, "state"));
	memset(&o, 0, sizeof(o));
	o.task_id = tid;
	o.lease_id = lid;
	o.node_id = t->node_id;
	o.exit_code = -1;
	o.limit = TASK_OUTPUT_DEFAULT;
	o.finished = now_wall();
	o.started = o.finished;
	if (json_integer_value(json_object_get(root, "started_ms")) > 0)
		o.started = ms_ts(json_integer_value(json_object_get(root,
		    "started_ms")));
	if (state != NULL && strcmp(state, "running") == 0)
		o.error = "agent restarted while the task was running";
	else
		o.error = "agent restarted before the task could run";
	log_kv(LOG_WARNING, kv, 2, "task interrupted by an agent restart; "
	    "reporting it as failed");
	if ((body = task_result_body(&o, API_MAX_BODY, &blen)) == NULL)
		goto out;
	tasks_add_delivery(t, key, tid, lid, body, blen, 0);
out:
	json_decref(root);
}

static void
tasks_open_spool(struct tasks *t, const char *dir)
{
	const char	*why = "";
	size_t		 skipped = 0;

	if (dir == NULL || dir[0] == '\0') {
		log_warnx("no state directory: task results are kept in "
		    "memory only and lost if the agent stops before "
		    "delivering them");
		return;
	}
	t->spool = spool_open(dir, NULL, &why);
	if (t->spool == NULL) {
		log_warn("state directory %s unusable (%s): task results are "
		    "kept in memory only", dir, why);
		return;
	}
	(void)spool_load(t->spool, tasks_load_cb, t, &skipped);
	if (skipped > 0)
		log_warnx("spool %s: %zu unreadable record(s) skipped", dir,
		    skipped);
}

struct tasks *
tasks_new(struct event_base *base, struct api *api,
    const struct tasks_config *cfg)
{
	struct tasks	*t;
	struct buf	 missing;
	char		 path[PATH_MAX];
	size_t		 i;

	t = xcalloc(1, sizeof(*t));
	t->base = base;
	t->api = api;
	t->node_id = xstrdup(cfg->node_id != NULL ? cfg->node_id : "");
	t->policy.allow_exec = cfg->allow_exec;
	t->policy.allow_root_exec = cfg->allow_root_exec;
	t->policy.no_exec = cfg->no_exec;
	t->policy.euid = (int)geteuid();
	t->interval_ms = cfg->interval_ms > 0 ? cfg->interval_ms : 10000;
	t->concurrency = cfg->concurrency < 1 ? 1 :
	    cfg->concurrency > 16 ? 16 : cfg->concurrency;
	t->grace_ms = cfg->shutdown_grace_ms > 0 ? cfg->shutdown_grace_ms :
	    10000;
	t->once_ok = 1;
	TAILQ_INIT(&t->queue);
	TAILQ_INIT(&t->deliveries);
	backoff_init(&t->poll_backoff, TASKS_POLL_BACKOFF_MS,
	    t->interval_ms * 6);
	backoff_init(&t->deliver_backoff, TASKS_DELIVER_BASE_MS,
	    TASKS_DELIVER_CAP_MS);
	t->ev_poll = evtimer_new(base, tasks_poll_timer_cb, t);
	t->ev_deliver = evtimer_new(base, tasks_deliver_timer_cb, t);
	t->ev_deadline = evtimer_new(base, tasks_deadline_cb, t);
	t->ev_done = evtimer_new(base, tasks_done_cb, t);
	t->ev_rm = evtimer_new(base, tasks_rm_cb, t);
	TAILQ_INIT(&t->removals);
	if (t->ev_poll == NULL || t->ev_deliver == NULL ||
	    t->ev_deadline == NULL || t->ev_done == NULL)
		fatalx("task: cannot create timers");

	buf_init(&missing);
	for (i = 0; i < nitems(task_interpreters); i++) {
		t->have_interp[i] = task_find_interpreter(TASK_PATH,
		    task_interpreters[i], path, sizeof(path)) == 0;
		if (!t->have_interp[i])
			buf_printf(&missing, "%s%s", missing.len > 0 ? "," : "",
			    task_interpreters[i]);
	}
	if (missing.len > 0 && task_policy_level(&t->policy) ==
	    TASK_LEVEL_HARDENED)
		log_info("task interpreters not installed: %s (tasks for them "
		    "will fail)", missing.data);
	else if (missing.len > 0)
		log_debug("task interpreters not installed: %s", missing.data);
	buf_free(&missing);
	switch (task_policy_level(&t->policy)) {
	case TASK_LEVEL_DISABLED:
		log_info("task execution disabled%s", t->policy.no_exec ?
		    " by -no-exec" : " (no -allow-exec)");
		break;
	case TASK_LEVEL_ROOT_REFUSED:
		log_warnx("running as root without -allow-root-exec: tasks "
		    "will be refused");
		break;
	case TASK_LEVEL_HARDENED:
		if (t->policy.euid == 0)
			log_warnx("tasks will run as root (-allow-root-exec)");
		break;
	}

	tasks_open_spool(t, cfg->state_dir);
	tasks_deliver_kick(t);
	return t;
}

void
tasks_start(struct tasks *t)
{
	if (t->finished || t->shutting_down)
		return;
	if (!t->active)
		log_debug("task polling started");
	t->active = 1;
	t->poll_due = 1;
	tasks_deliver_now(t);
	tasks_kick(t);
}

void
tasks_cycle(struct tasks *t)
{
	/* A failed poll's backoff wins over the heartbeat's cadence. */
	if (!t->active || evtimer_pending(t->ev_poll, NULL))
		return;
	t->poll_due = 1;
	tasks_kick(t);
}

void
tasks_pause(struct tasks *t)
{
	if (t->active)
		log_debug("task polling paused");
	t->active = 0;
	t->poll_due = 0;
	evtimer_del(t->ev_poll);
}

json_t *
tasks_sandbox_json(const struct tasks *t)
{
	static const char *const prot[] = { "no_new_privs", "rlimits",
	    "process_group", "private_workdir", "minimal_env", "closed_fds",
	    "umask_077", "stdin_devnull", "timeout_kills_group" };
	json_t		*o, *list, *interp;
	const char	*level;
	size_t		 i;

	list = json_array();
	interp = json_array();
	switch (task_policy_level(&t->policy)) {
	case TASK_LEVEL_DISABLED:
		level = "disabled";
		break;
	case TASK_LEVEL_ROOT_REFUSED:
		level = "root-refused";
		break;
	default:
		level = "linux-hardened";
		for (i = 0; i < nitems(prot); i++)
			json_array_append_new(list, json_string(prot[i]));
		break;
	}
	for (i = 0; i < nitems(task_interpreters); i++)
		if (t->have_interp[i])
			json_array_append_new(interp,
			    json_string(task_interpreters[i]));
	o = json_pack("{s:s, s:o, s:o, s:i, s:b}", "level", level,
	    "protections", list, "interpreters", interp,
	    "concurrency", t->concurrency, "durable_results",
	    t->spool != NULL);
	if (task_policy_level(&t->policy) == TASK_LEVEL_HARDENED &&
	    t->policy.euid == 0)
		json_object_set_new(o, "warning", json_string("tasks run as "
		    "root (-allow-root-exec)"));
	return o;
}

void
tasks_shutdown(struct tasks *t, void (*done)(void *), void *arg)
{
	struct task	*task, *next;

	t->shutdown_done = done;
	t->once_done = NULL;
	t->done_arg = arg;
	if (t->finished) {
		/* -once already ended: answer at once, from the loop. */
		timer_add_ms(t->ev_done, 0);
		return;
	}
	if (t->shutting_down)
		return;
	t->shutting_down = 1;
	t->active = 0;
	t->poll_due = 0;
	evtimer_del(t->ev_poll);
	for (task = TAILQ_FIRST(&t->queue); task != NULL; task = next) {
		next = TAILQ_NEXT(task, entry);
		if (task->state == TASK_QUEUED)
			tasks_refuse(t, task, "the agent was shutting down "
			    "and did not run the task");
	}
	if (t->nrunning > 0) {
		log_info("shutdown: waiting up to %lld ms for %zu running "
		    "task(s)", (long long)t->grace_ms, t->nrunning);
		timer_add_ms(t->ev_deadline, t->grace_ms);
	}
	tasks_kick(t);
}

void
tasks_run_once(struct tasks *t, void (*done)(void *, int ok), void *arg)
{
	t->once = 1;
	t->once_done = done;
	t->done_arg = arg;
	t->poll_due = 1;
	tasks_kick(t);
}

void
tasks_free(struct tasks *t)
{
	struct task	*task;
	struct delivery	*d;
	struct removal	*r, *next;

	if (t == NULL)
		return;
	if (t->poll_call != NULL)
		t->poll_call->t = NULL;
	if (t->deliver_call != NULL)
		t->deliver_call->t = NULL;
	event_free(t->ev_poll);
	event_free(t->ev_deliver);
	event_free(t->ev_deadline);
	event_free(t->ev_done);
	/* The analyzer loses TAILQ_REMOVE's head update (as in http.c). */
	while ((task = TAILQ_FIRST(&t->queue)) != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		tasks_task_free(t, task);	/* leases stay in the spool */
	while ((d = TAILQ_FIRST(&t->deliveries)) != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		tasks_delivery_free(t, d, 0);
	/* Exiting: what is left of big work dirs goes now. */
	for (r = TAILQ_FIRST(&t->removals); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (task_rmtree(r->dir) == -1)
			log_warn("task: cannot remove work dir %s", r->dir);
		free(r->dir);
		free(r);
	}
	TAILQ_INIT(&t->removals);
	event_free(t->ev_rm);
	spool_free(t->spool);
	free(t->node_id);
	free(t);
}
