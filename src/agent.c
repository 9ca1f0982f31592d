/*
 * The scheduler.  One event_base drives everything; each periodic job has
 * its own timer that is re-armed only when the job's request completed, so
 * a slow request delays its own next run and never the others, and no job
 * ever overlaps itself.
 *
 * Session states:
 *
 *   HELLO --ok--> ONLINE --network error / timeout--> HELLO (backoff)
 *     |             |
 *     +----401------+--> UNAUTHORIZED --SIGHUP or long backoff--> HELLO
 *
 * Heartbeats are only sent ONLINE; hello is repeated after the server was
 * unreachable or refused the token, as PROTOCOL.md asks.
 */
#include <sys/utsname.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "agent.h"
#include "api.h"
#include "backoff.h"
#include "config.h"
#include "facts.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "rootfs.h"
#include "task.h"
#include "usage.h"
#include "util.h"
#include "version.h"

#define HELLO_BACKOFF_BASE_MS	1000
#define HELLO_BACKOFF_CAP_MS	(5 * 60 * 1000)
#define AUTH_BACKOFF_BASE_MS	(60 * 1000)
#define AUTH_BACKOFF_CAP_MS	(30 * 60 * 1000)
#define STOP_DRAIN_MS		5000
#define TIMER_SPREAD		0.1	/* +-10% jitter on every interval */

enum agent_state {
	AGENT_HELLO,
	AGENT_ONLINE,
	AGENT_UNAUTHORIZED,
	AGENT_STOPPING,
};

struct agent {
	struct config		*cfg;
	struct event_base	*base;
	struct http		*http;
	struct api		*api;
	struct rootfs		*root;
	struct usage		*usage;
	struct tasks		*tasks;
	int			 tasks_busy;	/* stopping: wait for tasks */
	int			 once_status;
	int			 once;
	int			 exit_status;

	enum agent_state	 state;
	struct backoff		 hello_backoff;
	struct backoff		 auth_backoff;
	struct backoff		 beat_backoff;
	int			 ready_sent;
	char			 last_problem[512];	/* logged once */

	/* Facts: what the server has, and when we last looked. */
	struct facts		 facts_sent;
	int			 facts_known;
	int64_t			 facts_sent_ms;
	int64_t			 facts_checked_ms;
	struct facts		 facts_pending;
	int			 facts_in_flight;

	struct metrics_state	 mstate;
	struct facts_env	 fenv;
	struct utsname		 uts;

	struct event		*hello_timer;
	struct event		*beat_timer;
	struct event		*watchdog_timer;
	struct event		*stop_timer;
	struct event		*sig_term;
	struct event		*sig_int;
	struct event		*sig_hup;
	int			 hello_busy;
	int			 beat_busy;
	int64_t			 beat_started_ms;
};

static void	agent_hello_start(struct agent *);
static void	agent_beat_start(struct agent *);
static void	agent_stop(struct agent *, int status);
static void	agent_tasks_stopped(void *);
static void	agent_tasks_once(struct agent *, int status);

static const char *
agent_state_name(enum agent_state s)
{
	switch (s) {
	case AGENT_HELLO:
		return "hello";
	case AGENT_ONLINE:
		return "online";
	case AGENT_UNAUTHORIZED:
		return "unauthorized";
	case AGENT_STOPPING:
		return "stopping";
	}
	return "?";
}

static void
agent_status(struct agent *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* STATUS= for systemctl status: one short line about the session. */
static void
agent_status(struct agent *a, const char *fmt, ...)
{
	char	 line[300], msg[280];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "STATUS=%s", msg);
	notify_send(line);
}

static void
agent_set_state(struct agent *a, enum agent_state next)
{
	if (a->state == next)
		return;
	log_debug("session %s -> %s", agent_state_name(a->state),
	    agent_state_name(next));
	a->state = next;
}

/* Logs a problem only when it differs from the last one we logged. */
static void
agent_problem(struct agent *a, int prio, const char *what,
    const struct api_reply *r)
{
	char	 line[sizeof(a->last_problem)];

	snprintf(line, sizeof(line), "%s: %s", what, r->summary);
	if (strcmp(line, a->last_problem) == 0) {
		log_debug("%s (again)", line);
		return;
	}
	snprintf(a->last_problem, sizeof(a->last_problem), "%s", line);
	log_kv(prio, NULL, 0, "%s", line);
}

static void
agent_problem_cleared(struct agent *a, const char *what)
{
	if (a->last_problem[0] == '\0')
		return;
	log_info("%s: recovered", what);
	a->last_problem[0] = '\0';
}


/* The facts to attach to this heartbeat, or NULL when none are due. */
static json_t *
agent_facts_due(struct agent *a, int64_t now)
{
	int	 changed = 0;

	/* -once reports everything in its single heartbeat. */
	if (a->once) {
		a->facts_in_flight = 1;
		return facts_to_json(&a->facts_pending, time(NULL));
	}
	if (facts_check_due(now, a->facts_checked_ms)) {
		facts_collect(a->root, &a->fenv, &a->facts_pending);
		a->facts_checked_ms = now;
		if (a->facts_known &&
		    !facts_equal(&a->facts_pending, &a->facts_sent))
			log_info("host facts changed; sending them");
	}
	/* Compared every time: a change whose send failed is retried. */
	changed = !facts_equal(&a->facts_pending, &a->facts_sent);
	if (!facts_send_due(now, a->facts_sent_ms, a->facts_known, changed))
		return NULL;
	a->facts_in_flight = 1;
	return facts_to_json(&a->facts_pending, time(NULL));
}

static void
agent_facts_delivered(struct agent *a, int64_t now)
{
	if (!a->facts_in_flight)
		return;
	a->facts_in_flight = 0;
	a->facts_sent = a->facts_pending;
	a->facts_known = 1;
	a->facts_sent_ms = now;
}

/* The server is reachable and knows us: start or keep the periodic jobs. */
static void
agent_online(struct agent *a)
{
	agent_set_state(a, AGENT_ONLINE);
	if (!a->ready_sent) {
		notify_send("READY=1");
		a->ready_sent = 1;
	}
	agent_status(a, "online: reporting to %s every %lld ms",
	    a->cfg->server, (long long)a->cfg->interval_ms);
	if (!a->beat_busy && !evtimer_pending(a->beat_timer, NULL))
		timer_add_ms(a->beat_timer,
		    backoff_jitter(a->cfg->interval_ms, TIMER_SPREAD));
	if (a->usage != NULL)
		usage_start(a->usage);
	tasks_start(a->tasks);
}

/* Stop heartbeats and go back to hello after a backoff. */
static void
agent_offline(struct agent *a, const struct api_reply *r, int unauthorized)
{
	int64_t	 delay;

	evtimer_del(a->beat_timer);
	if (a->usage != NULL)
		usage_pause(a->usage);
	tasks_pause(a->tasks);
	if (unauthorized) {
		agent_set_state(a, AGENT_UNAUTHORIZED);
		delay = backoff_next(&a->auth_backoff, 0);
		agent_problem(a, LOG_ERR, "server refused the node token "
		    "(fix the token and send SIGHUP)", r);
		agent_status(a, "token refused (401); retrying in %llds",
		    (long long)delay / 1000);
	} else {
		agent_set_state(a, AGENT_HELLO);
		delay = backoff_next(&a->hello_backoff,
		    r->http->retry_after_ms);
		agent_problem(a, LOG_WARNING, "server unreachable", r);
		agent_status(a, "server unreachable; retrying in %llds",
		    (long long)delay / 1000);
	}
	log_debug("next hello in %lld ms", (long long)delay);
	timer_add_ms(a->hello_timer, delay);
}

/*
 * A reply that no longer matters: cancelled at teardown, or arriving
 * while stopping (then it may be the last request the stop waits for).
 */
static int
agent_reply_moot(struct agent *a, const struct api_reply *r)
{
	if (r->http->outcome == HTTP_RESULT_CANCELLED)
		return 1;
	if (a->state == AGENT_STOPPING) {
		agent_stop(a, a->exit_status);
		return 1;
	}
	return 0;
}

static void
agent_hello_done(const struct api_reply *r, void *arg)
{
	struct agent	*a = arg;

	a->hello_busy = 0;
	if (agent_reply_moot(a, r))
		return;
	log_debug("hello: %s in %lld ms", r->summary,
	    (long long)r->http->elapsed_ms);
	switch (r->verdict) {
	case API_OK:
		agent_facts_delivered(a, now_mono_ms());
		backoff_reset(&a->hello_backoff);
		backoff_reset(&a->auth_backoff);
		agent_problem_cleared(a, "server");
		if (!a->ready_sent)
			log_info("hello accepted by %s", a->cfg->server);
		if (a->once) {
			agent_set_state(a, AGENT_ONLINE);
			agent_beat_start(a);
			return;
		}
		agent_online(a);
		return;
	case API_UNAUTHORIZED:
		a->facts_in_flight = 0;
		if (a->once)
			break;
		agent_offline(a, r, 1);
		return;
	default:
		a->facts_in_flight = 0;
		if (a->once)
			break;
		agent_offline(a, r, 0);
		return;
	}
	log_warnx("hello failed: %s", r->summary);
	agent_stop(a, 1);
}

static void
agent_hello_start(struct agent *a)
{
	json_t	*facts;

	if (a->hello_busy || a->state == AGENT_STOPPING)
		return;
	/* Facts go with every hello: the server may have lost them. */
	facts_collect(a->root, &a->fenv, &a->facts_pending);
	a->facts_checked_ms = now_mono_ms();
	facts = facts_to_json(&a->facts_pending, time(NULL));
	a->facts_in_flight = 1;
	a->hello_busy = 1;
	if (api_hello(a->api, facts, agent_hello_done, a) == -1) {
		a->hello_busy = 0;
		log_warnx("hello: could not start the request");
		timer_add_ms(a->hello_timer,
		    backoff_next(&a->hello_backoff, 0));
	}
}

/*
 * The task poll and the usage report ride right behind each heartbeat:
 * one wakeup per interval, on the connection the heartbeat just used.
 */
static void
agent_cycle_followers(struct agent *a)
{
	tasks_cycle(a->tasks);
	if (a->usage != NULL)
		usage_tick(a->usage);
}

static void
agent_beat_done(const struct api_reply *r, void *arg)
{
	struct agent	*a = arg;
	int64_t		 now = now_mono_ms(), next;

	a->beat_busy = 0;
	if (agent_reply_moot(a, r))
		return;
	log_debug("heartbeat: %s in %lld ms%s", r->summary,
	    (long long)r->http->elapsed_ms,
	    r->http->new_connection ? " (new connection)" : "");
	if (r->verdict != API_OK)
		a->facts_in_flight = 0;
	if (a->once) {
		if (r->verdict != API_OK) {
			log_warnx("heartbeat failed: %s", r->summary);
			agent_stop(a, 1);
			return;
		}
		agent_facts_delivered(a, now);
		if (a->usage != NULL)
			usage_run_once(a->usage);
		else
			agent_tasks_once(a, 0);
		return;
	}

	next = backoff_jitter(a->cfg->interval_ms, TIMER_SPREAD) -
	    (now - a->beat_started_ms);
	switch (r->verdict) {
	case API_OK:
		agent_facts_delivered(a, now);
		backoff_reset(&a->beat_backoff);
		agent_problem_cleared(a, "server");
		break;
	case API_UNAUTHORIZED:
		agent_offline(a, r, 1);
		return;
	case API_TRANSIENT:
		if (r->http->outcome != HTTP_RESULT_STATUS) {
			/* Unreachable: say hello again once it is back. */
			agent_offline(a, r, 0);
			return;
		}
		/* 429 or 5xx: the server is there but wants us to slow down. */
		agent_problem(a, LOG_WARNING, "heartbeat not accepted", r);
		next = backoff_next(&a->beat_backoff, r->http->retry_after_ms);
		if (next < a->cfg->interval_ms)
			next = a->cfg->interval_ms;
		/* Polls and usage would only add load now: skip this cycle. */
		timer_add_ms(a->beat_timer, next);
		return;
	default:
		agent_problem(a, LOG_ERR, "heartbeat rejected", r);
		break;
	}
	timer_add_ms(a->beat_timer, next);
	agent_cycle_followers(a);
}

static void
agent_beat_start(struct agent *a)
{
	struct metrics	 m;
	json_t		*facts;
	int64_t		 now = now_mono_ms();

	if (a->beat_busy || a->state != AGENT_ONLINE)
		return;
	metrics_collect(a->root, &a->mstate, now_mono(), time(NULL), &m);
	facts = agent_facts_due(a, now);
	a->beat_busy = 1;
	a->beat_started_ms = now;
	if (api_metrics(a->api, metrics_to_json(&m), facts,
	    json_pack("{s:o}", "task_sandbox", tasks_sandbox_json(a->tasks)),
	    agent_beat_done, a) == -1) {
		a->beat_busy = 0;
		a->facts_in_flight = 0;
		log_warnx("heartbeat: could not start the request");
		timer_add_ms(a->beat_timer, a->cfg->interval_ms);
	}
}

static void
agent_hello_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	agent_hello_start(arg);
}

static void
agent_beat_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	agent_beat_start(arg);
}

static void
agent_watchdog_cb(evutil_socket_t fd, short events, void *arg)
{
	notify_send("WATCHDOG=1");
}

static void
agent_stop_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct agent	*a = arg;

	log_warnx("shutdown: %zu request(s) still in flight, giving up",
	    http_in_flight(a->http));
	event_base_loopbreak(a->base);
}

/*
 * Begin (or continue) an orderly stop: no new work, in-flight requests get
 * STOP_DRAIN_MS, then the loop ends.  Called again as each request drains.
 */
static void
agent_stop(struct agent *a, int status)
{
	if (a->state != AGENT_STOPPING) {
		a->exit_status = status;
		agent_set_state(a, AGENT_STOPPING);
		notify_send("STOPPING=1");
		evtimer_del(a->hello_timer);
		evtimer_del(a->beat_timer);
		if (a->usage != NULL)
			usage_pause(a->usage);
		/* Tasks get their grace and delivery window first. */
		a->tasks_busy = 1;
		tasks_shutdown(a->tasks, agent_tasks_stopped, a);
	}
	if (http_in_flight(a->http) == 0 && !a->tasks_busy)
		event_base_loopbreak(a->base);
}

static void
agent_tasks_stopped(void *arg)
{
	struct agent	*a = arg;

	a->tasks_busy = 0;
	timer_add_ms(a->stop_timer, STOP_DRAIN_MS);
	agent_stop(a, a->exit_status);
}

static void
agent_tasks_once_done(void *arg, int ok)
{
	struct agent	*a = arg;

	agent_stop(a, a->once_status != 0 || !ok ? 1 : 0);
}

/* -once: after heartbeat and usage, one task poll and its results. */
static void
agent_tasks_once(struct agent *a, int status)
{
	a->once_status = status;
	tasks_run_once(a->tasks, agent_tasks_once_done, a);
}

static void
agent_usage_done(void *arg, int ok)
{
	struct agent	*a = arg;

	if (a->once)
		agent_tasks_once(a, ok ? 0 : 1);
	else if (a->state == AGENT_STOPPING)
		agent_stop(a, a->exit_status);
}

static void
agent_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	struct agent	*a = arg;
	char		 err[256];

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (a->state != AGENT_STOPPING)
			log_info("received %s, stopping",
			    sig == SIGTERM ? "SIGTERM" : "SIGINT");
		agent_stop(a, 0);
		break;
	case SIGHUP:
		if (config_reload_secrets(a->cfg, err, sizeof(err)) == -1) {
			log_warnx("SIGHUP: %s; keeping the previous secrets",
			    err);
			break;
		}
		log_info("SIGHUP: token and secrets re-read");
		api_set_token(a->api, a->cfg->token);
		if (a->usage != NULL)
			usage_set_secret(a->usage, a->cfg->usage_secret);
		if (a->state == AGENT_UNAUTHORIZED ||
		    a->state == AGENT_HELLO) {
			evtimer_del(a->hello_timer);
			agent_set_state(a, AGENT_HELLO);
			agent_hello_start(a);
		}
		break;
	}
}

static struct event *
agent_signal(struct agent *a, int sig)
{
	struct event	*ev;

	if ((ev = evsignal_new(a->base, sig, agent_signal_cb, a)) == NULL ||
	    evsignal_add(ev, NULL) == -1)
		fatalx("cannot watch signal %d", sig);
	return ev;
}

static void
agent_setup(struct agent *a, struct config *cfg)
{
	struct http_options	 hopts;
	struct api_identity	 id;
	struct tasks_config	 tcfg;
	const char		*container;
	int64_t			 wd;

	a->cfg = cfg;
	a->once = cfg->mode == CONFIG_MODE_ONCE;
	if ((a->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if ((a->root = rootfs_open(cfg->host_root)) == NULL)
		fatal("host root %s", cfg->host_root);

	uname(&a->uts);
	container = getenv("container");
	a->fenv.machine = a->uts.machine;
	a->fenv.container = strcmp(cfg->host_root, "/") == 0 ?
	    container : NULL;

	memset(&hopts, 0, sizeof(hopts));
	hopts.ca_file = cfg->ca_file;
	hopts.user_agent = "lattice-agent/" AGENT_VERSION;
	/* Keep the connection across at least a few intervals. */
	hopts.max_idle_sec = (long)(cfg->interval_ms / 1000) * 3 + 30;
	a->http = http_new(a->base, &hopts);

	memset(&id, 0, sizeof(id));
	id.node_id = cfg->node_id;
	id.public_ip = cfg->public_ip;
	id.public_ip6 = cfg->public_ip6;
	id.wg_ip = cfg->wg_ip;
	id.wg_pubkey = cfg->wg_pubkey;
	id.wg_endpoint = cfg->wg_endpoint;
	id.wg_port = cfg->wg_port;
	a->api = api_new(a->http, cfg->server, cfg->token, &id);

	if (cfg->usage_file != NULL || cfg->usage_url != NULL)
		a->usage = usage_new(a->http, a->api, cfg,
		    agent_usage_done, a);

	memset(&tcfg, 0, sizeof(tcfg));
	tcfg.allow_exec = cfg->allow_exec;
	tcfg.allow_root_exec = cfg->allow_root_exec;
	tcfg.no_exec = cfg->no_exec;
	tcfg.state_dir = cfg->state_dir;
	tcfg.interval_ms = cfg->interval_ms;
	tcfg.concurrency = cfg->task_concurrency;
	tcfg.shutdown_grace_ms = cfg->shutdown_grace_ms;
	tcfg.node_id = cfg->node_id;
	a->tasks = tasks_new(a->base, a->api, &tcfg);

	backoff_init(&a->hello_backoff, HELLO_BACKOFF_BASE_MS,
	    HELLO_BACKOFF_CAP_MS);
	backoff_init(&a->auth_backoff, AUTH_BACKOFF_BASE_MS,
	    AUTH_BACKOFF_CAP_MS);
	backoff_init(&a->beat_backoff, cfg->interval_ms, HELLO_BACKOFF_CAP_MS);

	a->hello_timer = evtimer_new(a->base, agent_hello_timer_cb, a);
	a->beat_timer = evtimer_new(a->base, agent_beat_timer_cb, a);
	a->stop_timer = evtimer_new(a->base, agent_stop_timer_cb, a);
	if (a->hello_timer == NULL || a->beat_timer == NULL ||
	    a->stop_timer == NULL)
		fatalx("evtimer_new");
	a->sig_term = agent_signal(a, SIGTERM);
	a->sig_int = agent_signal(a, SIGINT);
	a->sig_hup = agent_signal(a, SIGHUP);

	if ((wd = notify_watchdog_usec()) > 0) {
		struct timeval	 tv;

		/* Ping at half the watchdog period, as sd_notify(3) advises. */
		wd /= 2;
		tv.tv_sec = wd / 1000000;
		tv.tv_usec = wd % 1000000;
		a->watchdog_timer = event_new(a->base, -1, EV_PERSIST,
		    agent_watchdog_cb, a);
		if (a->watchdog_timer == NULL)
			fatalx("event_new");
		evtimer_add(a->watchdog_timer, &tv);
	}
}

static void
agent_teardown(struct agent *a)
{
	/*
	 * Requests first: their cancelled callbacks only clear flags.  Then
	 * the modules and timers, then the base (STYLE.md's order).
	 */
	http_free(a->http);
	usage_free(a->usage);
	tasks_free(a->tasks);
	if (a->watchdog_timer != NULL)
		event_free(a->watchdog_timer);
	event_free(a->hello_timer);
	event_free(a->beat_timer);
	event_free(a->stop_timer);
	event_free(a->sig_term);
	event_free(a->sig_int);
	event_free(a->sig_hup);
	api_free(a->api);
	rootfs_free(a->root);
	event_base_free(a->base);
}

int
agent_run(struct config *cfg)
{
	struct agent	 a;
	int64_t		 splay;

	memset(&a, 0, sizeof(a));
	log_set_node_id(cfg->node_id);
	agent_setup(&a, cfg);
	if (cfg->server_insecure)
		log_warnx("-allow-insecure-http: the node token travels in "
		    "clear text to %s", cfg->server);
	log_info("lattice-agent %s starting: server %s, interval %lld ms",
	    AGENT_VERSION, cfg->server, (long long)cfg->interval_ms);

	/*
	 * A fleet restarted at once (an upgrade, a power cut) must not knock
	 * on the server in step: start somewhere in the first interval.
	 */
	splay = a.once ? 0 : (int64_t)backoff_random(
	    (uint64_t)(cfg->interval_ms < 10000 ? cfg->interval_ms : 10000));
	timer_add_ms(a.hello_timer, splay);
	agent_status(&a, "starting");

	event_base_dispatch(a.base);

	agent_teardown(&a);
	return a.exit_status;
}
