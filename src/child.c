/*
 * child: fork/exec of task scripts and helper programs (nft) on the event
 * loop.  Everything the child needs (argv, envp, fds, rlimits) is prepared
 * before fork, because curl's resolver thread makes us multi-threaded and
 * only async-signal-safe calls are allowed between fork and exec.  Failures
 * in the child travel back through a close-on-exec error pipe (libuv's
 * trick).  The leader is watched through a pidfd (SIGCHLD plus waitpid of
 * our own pid where pidfd_open is missing) and left unreaped as a zombie
 * until the end, so its pid keeps naming the process group we kill.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "log.h"
#include "util.h"

#define CHILD_KILL_GRACE_MS	2000	/* default SIGTERM -> SIGKILL */
#define CHILD_LINGER_MS		500	/* exit -> give up on the pipes */
#define CHILD_READ_CHUNK	65536
#define CHILD_NPROC_HEADROOM	64
#define CHILD_REAP_POLL_MS	50	/* abandoned child, SIGCHLD fallback */

enum child_state {
	CHILD_S_RUNNING,	/* alive, not signalled */
	CHILD_S_STOPPING,	/* SIGTERM sent, SIGKILL timer armed */
	CHILD_S_KILLING,	/* SIGKILL sent, waiting for the exit */
	CHILD_S_DRAINING,	/* leader exited (zombie), pipes still open */
	CHILD_S_DONE,		/* reaped, torn down, callback fired */
};

static const char *const child_state_names[] = {
	"running", "stopping", "killing", "draining", "done",
};

/* What failed in the child before exec; sent through the error pipe. */
enum child_step {
	CHILD_STEP_SETPGID,
	CHILD_STEP_DUP2,
	CHILD_STEP_PRCTL,
	CHILD_STEP_SETRLIMIT,
	CHILD_STEP_CHDIR,
	CHILD_STEP_EXECVE,
};

static const char *const child_step_names[] = {
	"setpgid", "dup2", "prctl", "setrlimit", "chdir", "execve",
};

struct child_errmsg {
	int32_t		 step;
	int32_t		 err;
};

/* One captured output stream. */
struct child_out {
	struct child	*c;
	int		 fd;
	struct event	*ev;
	struct buf	*buf;
	size_t		 cap;
	int		*truncated;
};

struct child_rlim {
	int		 resource;
	struct rlimit	 rl;
};

/* Everything the child does between fork and exec, computed beforehand. */
struct child_exec {
	const char *const *argv;
	const char *const *envp;
	const char	*cwd;
	int		 in_fd, out_fd, err_fd, errpipe_fd;
	int		 sandbox;
	struct child_rlim rlims[8];
	size_t		 nrlims;
	int		 maxfd;		/* fallback close loop bound */
};

struct child {
	struct event_base *base;
	enum child_state state;
	pid_t		 pid;
	int		 reaped;
	int		 exited;
	int		 timed_out;
	int		 terminated;
	int64_t		 kill_grace_ms;

	int		 pidfd;		/* -1: SIGCHLD fallback */
	struct event	*ev_exit;	/* pidfd readable or SIGCHLD */

	struct child_out out, err;

	int		 in_fd;		/* stdin pipe, parent end */
	struct event	*ev_in;
	char		*in_data;
	size_t		 in_len, in_off;

	int		 errpipe_fd;
	struct event	*ev_errpipe;
	struct child_errmsg errmsg;
	size_t		 errmsg_got;

	struct event	*ev_timeout;
	struct event	*ev_kill;
	struct event	*ev_linger;

	child_done_cb	 done;
	void		*arg;
	struct child_result res;
};

static void	child_finish(struct child *);

static void
child_set_state(struct child *c, enum child_state state)
{
	log_debug("child %ld: %s -> %s", (long)c->pid,
	    child_state_names[c->state], child_state_names[state]);
	c->state = state;
}

static void
child_signal_group(struct child *c, int signo)
{
	/* ESRCH just means nothing is left; nothing to report. */
	if (killpg(c->pid, signo) == -1 && errno != ESRCH)
		log_debug("child %ld: killpg %d: %s", (long)c->pid, signo,
		    strerror(errno));
}


static void
child_close_event(struct event **ev, int *fd)
{
	if (*ev != NULL) {
		event_free(*ev);
		*ev = NULL;
	}
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

/* -- in the child: async-signal-safe only ------------------------------- */

static void __attribute__((noreturn))
child_exec_fail(const struct child_exec *x, enum child_step step)
{
	struct child_errmsg	 m;
	ssize_t			 n;

	m.step = (int32_t)step;
	m.err = errno;
	do
		n = write(x->errpipe_fd, &m, sizeof(m));
	while (n == -1 && errno == EINTR);
	_exit(127);
}

static void
child_close_from(const struct child_exec *x, int lowfd)
{
	int	 fd;

	if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0U) == 0)
		return;
	for (fd = lowfd; fd < x->maxfd; fd++)
		(void)close(fd);
}

static void __attribute__((noreturn))
child_exec(struct child_exec *x)
{
	struct sigaction sa;
	sigset_t	 none;
	size_t		 i;
	int		 sig;

	/* Default dispositions, then let signals in again. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	}
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);

	/* The errno report goes to fd 3, close-on-exec. */
	if (setpgid(0, 0) == -1)
		child_exec_fail(x, CHILD_STEP_SETPGID);
	if (x->errpipe_fd != 3) {
		if (dup3(x->errpipe_fd, 3, O_CLOEXEC) == -1)
			child_exec_fail(x, CHILD_STEP_DUP2);
		x->errpipe_fd = 3;
	}
	/* All sources are >= 4 (see child_fd_high), so no clobbering. */
	if (dup2(x->in_fd, 0) == -1 || dup2(x->out_fd, 1) == -1 ||
	    dup2(x->err_fd, 2) == -1)
		child_exec_fail(x, CHILD_STEP_DUP2);
	child_close_from(x, 4);

	if (x->sandbox) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
			child_exec_fail(x, CHILD_STEP_PRCTL);
		umask(077);
		for (i = 0; i < x->nrlims; i++) {
			if (setrlimit(x->rlims[i].resource,
			    &x->rlims[i].rl) == -1)
				child_exec_fail(x, CHILD_STEP_SETRLIMIT);
		}
	}
	if (x->cwd != NULL && chdir(x->cwd) == -1)
		child_exec_fail(x, CHILD_STEP_CHDIR);
	execve(x->argv[0], (char *const *)x->argv, (char *const *)x->envp);
	child_exec_fail(x, CHILD_STEP_EXECVE);
}

/* -- in the parent, before fork ----------------------------------------- */

/*
 * Tasks (threads) belonging to uid, counted from /proc, for the NPROC
 * headroom.  Approximate by nature; the headroom absorbs the error.
 */
static long
child_count_tasks(uid_t uid)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		 path[300];
	long		 n = 0;

	if ((d = opendir("/proc")) == NULL)
		return (0);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task", de->d_name);
		if (stat(path, &st) == -1 || st.st_uid != uid)
			continue;
		/* A task directory links "." ".." and one per thread. */
		n += st.st_nlink > 2 ? (long)st.st_nlink - 2 : 1;
	}
	closedir(d);
	return (n);
}

/* Lower a limit to want (never above the hard limit we have). */
static void
child_add_rlimit(struct child_exec *x, int resource, rlim_t cur, rlim_t max)
{
	struct rlimit	 now;

	if (getrlimit(resource, &now) == 0 && now.rlim_max != RLIM_INFINITY) {
		if (max > now.rlim_max)
			max = now.rlim_max;
		if (cur > max)
			cur = max;
	}
	if (x->nrlims == nitems(x->rlims))
		fatalx("child: too many rlimits");
	x->rlims[x->nrlims].resource = resource;
	x->rlims[x->nrlims].rl.rlim_cur = cur;
	x->rlims[x->nrlims].rl.rlim_max = max;
	x->nrlims++;
}

static void
child_prepare_rlimits(struct child_exec *x, const struct child_spec *spec)
{
	rlim_t	 cpu, nproc;

	if (spec->rlimit_cpu_sec > 0) {
		cpu = (rlim_t)spec->rlimit_cpu_sec;
		child_add_rlimit(x, RLIMIT_CPU, cpu, cpu + 1);
	}
	child_add_rlimit(x, RLIMIT_FSIZE, 8 << 20, 8 << 20);
	child_add_rlimit(x, RLIMIT_DATA, 512 << 20, 512 << 20);
	child_add_rlimit(x, RLIMIT_AS, (rlim_t)8 << 30, (rlim_t)8 << 30);
	child_add_rlimit(x, RLIMIT_NOFILE, 1024, 1024);
	nproc = (rlim_t)child_count_tasks(getuid()) + CHILD_NPROC_HEADROOM;
	child_add_rlimit(x, RLIMIT_NPROC, nproc, nproc);
	child_add_rlimit(x, RLIMIT_CORE, 0, 0);
}

/*
 * Move a child-side fd above the range the child dup2()s onto (0-3), so
 * that no dup2 there closes a source still needed.  Consumes fd.
 */
static int
child_fd_high(int fd)
{
	int	 nfd, save;

	if (fd > 3)
		return (fd);
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 4);
	save = errno;
	close(fd);
	errno = save;
	return (nfd);
}

static int
child_set_nonblock(int fd)
{
	int	 flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return (-1);
	return (fcntl(fd, F_SETFL, flags | O_NONBLOCK));
}

/* A pipe: [0] read, [1] write, both close-on-exec, parent end nonblocking. */
static int
child_pipe(int p[2], int parent_end)
{
	int	 child_end = !parent_end, save;

	if (pipe2(p, O_CLOEXEC) == -1)
		return (-1);
	if (child_set_nonblock(p[parent_end]) == -1)
		goto out_close;
	if ((p[child_end] = child_fd_high(p[child_end])) == -1)
		goto out_close;
	return (0);

out_close:
	save = errno;
	close(p[parent_end]);
	if (p[child_end] != -1)
		close(p[child_end]);
	p[0] = p[1] = -1;
	errno = save;
	return (-1);
}

/* -- in the parent, events ---------------------------------------------- */

/* Finish once the leader has exited and every pipe reached EOF. */
static void
child_maybe_finish(struct child *c)
{
	if (c->state == CHILD_S_DRAINING && c->out.fd == -1 &&
	    c->err.fd == -1 && c->errpipe_fd == -1)
		child_finish(c);
}

static void
child_read_out(struct child_out *o)
{
	char	 tmp[CHILD_READ_CHUNK];
	ssize_t	 n;
	size_t	 keep;

	n = read(o->fd, tmp, sizeof(tmp));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		keep = o->cap - o->buf->len;
		if (keep > (size_t)n)
			keep = (size_t)n;
		if (keep > 0)
			buf_add(o->buf, tmp, keep);
		if (keep < (size_t)n)
			*o->truncated = 1;
		return;
	}
	/* EOF, or an error that ends this stream all the same. */
	child_close_event(&o->ev, &o->fd);
	child_maybe_finish(o->c);
}

static void
child_out_cb(evutil_socket_t fd, short what, void *arg)
{
	child_read_out(arg);
}

static void
child_write_in(struct child *c)
{
	ssize_t	 n;

	if (c->in_off < c->in_len) {
		n = write(c->in_fd, c->in_data + c->in_off,
		    c->in_len - c->in_off);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n > 0) {
			c->in_off += (size_t)n;
			if (c->in_off < c->in_len)
				return;
		}
		/* else EPIPE: the child does not want the rest. */
	}
	child_close_event(&c->ev_in, &c->in_fd);
	free(c->in_data);
	c->in_data = NULL;
}

static void
child_in_cb(evutil_socket_t fd, short what, void *arg)
{
	child_write_in(arg);
}

/* Returns -1 once the pipe is closed (EOF or error), else 0. */
static int
child_read_errpipe(struct child *c)
{
	char	 junk[16], *p = (char *)&c->errmsg;
	ssize_t	 n;

	if (c->errmsg_got < sizeof(c->errmsg))
		n = read(c->errpipe_fd, p + c->errmsg_got,
		    sizeof(c->errmsg) - c->errmsg_got);
	else
		n = read(c->errpipe_fd, junk, sizeof(junk));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (0);
	if (n > 0) {
		if (c->errmsg_got < sizeof(c->errmsg))
			c->errmsg_got += (size_t)n;
		return (0);
	}
	/* EOF: exec succeeded, or the child reported and exited. */
	child_close_event(&c->ev_errpipe, &c->errpipe_fd);
	return (-1);
}

static void
child_errpipe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct child	*c = arg;

	if (child_read_errpipe(c) == -1)
		child_maybe_finish(c);
}

/* The leader is gone: keep its zombie, collect what the pipes still hold. */
static void
child_exited(struct child *c)
{
	c->exited = 1;
	if (c->ev_exit != NULL)
		event_del(c->ev_exit);
	event_del(c->ev_timeout);
	event_del(c->ev_kill);
	if (c->timed_out || c->terminated)
		child_signal_group(c, SIGKILL);
	child_set_state(c, CHILD_S_DRAINING);
	timer_add_ms(c->ev_linger, CHILD_LINGER_MS);
	child_maybe_finish(c);
}

/* Look at the leader without reaping it. */
static void
child_check_exit(struct child *c)
{
	siginfo_t	 si;

	if (c->exited)
		return;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)c->pid, &si,
	    WEXITED | WNOHANG | WNOWAIT) == -1) {
		if (errno == EINTR)
			return;
		/* ECHILD: reaped behind our back (SIGCHLD ignored?). */
		c->reaped = 1;
		c->res.exit_code = -1;
		child_exited(c);
		return;
	}
	if (si.si_pid == 0)
		return;
	if (si.si_code == CLD_EXITED)
		c->res.exit_code = si.si_status;
	else {
		c->res.exit_code = -1;
		c->res.signo = si.si_status;
	}
	child_exited(c);
}

static void
child_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	child_check_exit(arg);
}

/* SIGTERM to the group now, SIGKILL after the grace. */
static void
child_stop(struct child *c)
{
	event_del(c->ev_timeout);
	child_signal_group(c, SIGTERM);
	child_set_state(c, CHILD_S_STOPPING);
	timer_add_ms(c->ev_kill, c->kill_grace_ms);
}

static void
child_timed_out(struct child *c)
{
	if (c->state != CHILD_S_RUNNING)
		return;
	c->timed_out = 1;
	child_stop(c);
}

static void
child_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	child_timed_out(arg);
}

/* The grace is over and the leader still runs. */
static void
child_escalate(struct child *c)
{
	if (c->state != CHILD_S_STOPPING)
		return;
	child_signal_group(c, SIGKILL);
	child_set_state(c, CHILD_S_KILLING);
}

static void
child_kill_cb(evutil_socket_t fd, short what, void *arg)
{
	child_escalate(arg);
}

/* Exited, but something still holds a pipe: stop waiting for it. */
static void
child_give_up_pipes(struct child *c)
{
	if (c->state == CHILD_S_DRAINING)
		child_finish(c);
}

static void
child_linger_cb(evutil_socket_t fd, short what, void *arg)
{
	child_give_up_pipes(arg);
}

/* Delete every event and close every fd; the pidfd last. */
static void
child_teardown(struct child *c)
{
	if (c->ev_linger != NULL)
		event_free(c->ev_linger);
	if (c->ev_kill != NULL)
		event_free(c->ev_kill);
	if (c->ev_timeout != NULL)
		event_free(c->ev_timeout);
	c->ev_linger = c->ev_kill = c->ev_timeout = NULL;
	child_close_event(&c->ev_errpipe, &c->errpipe_fd);
	child_close_event(&c->ev_in, &c->in_fd);
	child_close_event(&c->err.ev, &c->err.fd);
	child_close_event(&c->out.ev, &c->out.fd);
	if (c->ev_exit != NULL) {
		event_free(c->ev_exit);
		c->ev_exit = NULL;
	}
	free(c->in_data);
	c->in_data = NULL;
}

/* Exited and drained (or gave up waiting): clean up, report, done. */
static void
child_finish(struct child *c)
{
	struct child_result	*r = &c->res;

	/*
	 * The leader has exited, so a report (one atomic write) is complete
	 * in the pipe by now, or the pipe is at EOF: one read settles it.
	 */
	if (c->errpipe_fd != -1)
		(void)child_read_errpipe(c);
	child_teardown(c);
	if (c->pidfd != -1) {
		close(c->pidfd);
		c->pidfd = -1;
	}
	/* Nothing the child started outlives it; the zombie pins the pgid. */
	child_signal_group(c, SIGKILL);
	if (!c->reaped) {
		while (waitpid(c->pid, NULL, WNOHANG) == -1 && errno == EINTR)
			;
		c->reaped = 1;
	}

	r->finished = now_wall();
	if (c->errmsg_got == sizeof(c->errmsg)) {
		r->end = CHILD_SPAWN_FAILED;
		r->spawn_errno = c->errmsg.err;
		if (c->errmsg.step >= 0 &&
		    (size_t)c->errmsg.step < nitems(child_step_names))
			r->spawn_step = child_step_names[c->errmsg.step];
		else
			r->spawn_step = "setup";
	} else if (c->timed_out)
		r->end = CHILD_TIMED_OUT;
	else if (c->terminated)
		r->end = CHILD_KILLED;
	else if (r->signo != 0)
		r->end = CHILD_SIGNALED;
	else
		r->end = CHILD_EXITED;
	child_set_state(c, CHILD_S_DONE);

	/* Last thing we do: the callback may free c. */
	c->done(c, r, c->arg);
}

/* -- abandoned children ------------------------------------------------- */

struct child_reaper {
	struct event_base *base;
	pid_t		 pid;
};

static void
child_reap_pidfd_cb(evutil_socket_t fd, short what, void *arg)
{
	pid_t	 pid = (pid_t)(intptr_t)arg;

	(void)waitpid(pid, NULL, WNOHANG);
	close(fd);
}

static void
child_reap_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct child_reaper	*r = arg;
	struct timeval		 tv = { 0, CHILD_REAP_POLL_MS * 1000 };

	if (waitpid(r->pid, NULL, WNOHANG) == 0 &&
	    event_base_once(r->base, -1, EV_TIMEOUT, child_reap_poll_cb, r,
	    &tv) == 0)
		return;
	free(r);
}

/*
 * The owner let go of a live child: kill its group and reap it later so
 * no zombie is left behind, without a callback.
 */
static void
child_abandon(struct child *c)
{
	struct child_reaper	*r;
	struct timeval		 tv = { 0, CHILD_REAP_POLL_MS * 1000 };

	child_signal_group(c, SIGKILL);
	if (c->reaped || waitpid(c->pid, NULL, WNOHANG) == c->pid)
		goto out;
	if (c->pidfd != -1) {
		if (event_base_once(c->base, c->pidfd, EV_READ,
		    child_reap_pidfd_cb, (void *)(intptr_t)c->pid, NULL) == 0)
			c->pidfd = -1;	/* the once event owns it now */
		goto out;
	}
	r = xmalloc(sizeof(*r));
	r->base = c->base;
	r->pid = c->pid;
	if (event_base_once(c->base, -1, EV_TIMEOUT, child_reap_poll_cb, r,
	    &tv) == -1)
		free(r);
out:
	c->reaped = 1;
}

/* -- public ------------------------------------------------------------- */

static struct event *
child_event_new(struct event_base *base, int fd, short what,
    event_callback_fn cb, void *arg)
{
	struct event	*ev;

	if ((ev = event_new(base, fd, what, cb, arg)) == NULL)
		fatalx("child: event_new failed");
	return (ev);
}

static void
child_out_init(struct child *c, struct child_out *o, struct buf *b,
    size_t cap, int *truncated)
{
	o->c = c;
	o->fd = -1;
	o->ev = NULL;
	o->buf = b;
	o->cap = cap;
	o->truncated = truncated;
}

static int
child_spec_valid(const struct child_spec *spec)
{
	if (spec->argv == NULL || spec->argv[0] == NULL ||
	    spec->argv[0][0] != '/')
		return (0);
	if (spec->timeout_ms < 0 || spec->kill_grace_ms < 0 ||
	    spec->rlimit_cpu_sec < 0)
		return (0);
	if (spec->stdin_data == NULL && spec->stdin_len != 0)
		return (0);
	return (1);
}

struct child *
child_spawn(struct event_base *base, const struct child_spec *spec,
    child_done_cb done, void *arg)
{
	static const char *const no_env[] = { NULL };
	struct child_exec x;
	struct child	*c;
	struct rlimit	 nofile;
	sigset_t	 all, old;
	int		 inp[2] = { -1, -1 }, outp[2] = { -1, -1 };
	int		 errp[2] = { -1, -1 }, ctlp[2] = { -1, -1 };
	int		 child_in = -1, save;
	pid_t		 pid;

	if (!child_spec_valid(spec) || done == NULL) {
		errno = EINVAL;
		return (NULL);
	}

	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->pid = -1;
	c->pidfd = c->in_fd = c->errpipe_fd = -1;
	c->done = done;
	c->arg = arg;
	c->kill_grace_ms = spec->kill_grace_ms > 0 ? spec->kill_grace_ms :
	    CHILD_KILL_GRACE_MS;
	buf_init(&c->res.out);
	buf_init(&c->res.err);
	c->res.exit_code = -1;
	child_out_init(c, &c->out, &c->res.out, spec->stdout_cap,
	    &c->res.out_truncated);
	child_out_init(c, &c->err, &c->res.err, spec->stderr_cap,
	    &c->res.err_truncated);

	if (spec->stdin_data != NULL) {
		if (child_pipe(inp, 1) == -1)
			goto out_close;
		child_in = inp[0];
		c->in_fd = inp[1];
		if (spec->stdin_len > 0) {
			c->in_data = xmalloc(spec->stdin_len);
			memcpy(c->in_data, spec->stdin_data, spec->stdin_len);
			c->in_len = spec->stdin_len;
		}
	} else {
		child_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (child_in == -1 ||
		    (child_in = child_fd_high(child_in)) == -1)
			goto out_close;
	}
	if (child_pipe(outp, 0) == -1 || child_pipe(errp, 0) == -1 ||
	    child_pipe(ctlp, 0) == -1)
		goto out_close;
	c->out.fd = outp[0];
	c->err.fd = errp[0];
	c->errpipe_fd = ctlp[0];

	memset(&x, 0, sizeof(x));
	x.argv = spec->argv;
	x.envp = spec->envp != NULL ? spec->envp : no_env;
	x.cwd = spec->cwd;
	x.in_fd = child_in;
	x.out_fd = outp[1];
	x.err_fd = errp[1];
	x.errpipe_fd = ctlp[1];
	x.sandbox = spec->sandbox;
	if (spec->sandbox)
		child_prepare_rlimits(&x, spec);
	x.maxfd = 65536;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
	    nofile.rlim_cur != RLIM_INFINITY && nofile.rlim_cur < INT_MAX)
		x.maxfd = (int)nofile.rlim_cur;

	/* Created before fork so that little can fail after it. */
	c->out.ev = child_event_new(base, c->out.fd, EV_READ | EV_PERSIST,
	    child_out_cb, &c->out);
	c->err.ev = child_event_new(base, c->err.fd, EV_READ | EV_PERSIST,
	    child_out_cb, &c->err);
	c->ev_errpipe = child_event_new(base, c->errpipe_fd,
	    EV_READ | EV_PERSIST, child_errpipe_cb, c);
	if (c->in_fd != -1)
		c->ev_in = child_event_new(base, c->in_fd,
		    EV_WRITE | EV_PERSIST, child_in_cb, c);
	c->ev_timeout = child_event_new(base, -1, 0, child_timeout_cb, c);
	c->ev_kill = child_event_new(base, -1, 0, child_kill_cb, c);
	c->ev_linger = child_event_new(base, -1, 0, child_linger_cb, c);

	/* No handler of ours may run in the child before exec. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_exec(&x);
	save = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(ctlp[1]);
	close(errp[1]);
	close(outp[1]);
	close(child_in);
	if (pid == -1)
		goto out_teardown;
	c->pid = pid;
	(void)setpgid(pid, pid);	/* both sides, so killpg works now */
	c->res.started = now_wall();

	if (!spec->no_pidfd)
		c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (c->pidfd != -1)
		c->ev_exit = child_event_new(base, c->pidfd,
		    EV_READ | EV_PERSIST, child_exit_cb, c);
	else
		c->ev_exit = child_event_new(base, SIGCHLD,
		    EV_SIGNAL | EV_PERSIST, child_exit_cb, c);

	if (event_add(c->ev_exit, NULL) == -1 ||
	    event_add(c->out.ev, NULL) == -1 ||
	    event_add(c->err.ev, NULL) == -1 ||
	    event_add(c->ev_errpipe, NULL) == -1 ||
	    (c->ev_in != NULL && event_add(c->ev_in, NULL) == -1))
		goto out_abandon;
	/* A SIGCHLD before our handler existed is lost: look once now. */
	if (c->pidfd == -1)
		event_active(c->ev_exit, EV_SIGNAL, 1);
	if (spec->timeout_ms > 0)
		timer_add_ms(c->ev_timeout, spec->timeout_ms);
	log_debug("child %ld: started %s", (long)pid, spec->argv[0]);
	return (c);

out_abandon:
	save = errno;
	child_free(c);
	errno = save;
	return (NULL);

out_teardown:
	child_teardown(c);
	buf_free(&c->res.out);
	buf_free(&c->res.err);
	free(c);
	errno = save;
	return (NULL);

out_close:
	save = errno;
	if (ctlp[0] != -1) {
		close(ctlp[0]);
		close(ctlp[1]);
	}
	if (errp[0] != -1) {
		close(errp[0]);
		close(errp[1]);
	}
	if (outp[0] != -1) {
		close(outp[0]);
		close(outp[1]);
	}
	if (child_in != -1)
		close(child_in);
	if (c->in_fd != -1)
		close(c->in_fd);
	free(c->in_data);
	buf_free(&c->res.out);
	buf_free(&c->res.err);
	free(c);
	errno = save;
	return (NULL);
}

void
child_terminate(struct child *c)
{
	switch (c->state) {
	case CHILD_S_RUNNING:
		c->terminated = 1;
		child_stop(c);
		break;
	case CHILD_S_DRAINING:
		/* Exited already: stop waiting for the pipes, but not here. */
		event_active(c->ev_linger, EV_TIMEOUT, 1);
		break;
	default:
		break;
	}
}

pid_t
child_pid(const struct child *c)
{
	return (c->pid);
}

void
child_free(struct child *c)
{
	if (c == NULL)
		return;
	if (c->state != CHILD_S_DONE) {
		child_teardown(c);
		child_abandon(c);
	}
	if (c->pidfd != -1)
		close(c->pidfd);
	buf_free(&c->res.err);
	buf_free(&c->res.out);
	free(c);
}
