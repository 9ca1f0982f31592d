/*
 * One-shot collection for operators and tests: two metrics samples a short
 * interval apart (so cpu_percent and the network speeds are real), taken
 * on the event loop with a timer rather than a sleep.
 */
#include <sys/utsname.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "api.h"
#include "collect.h"
#include "config.h"
#include "facts.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "rootfs.h"
#include "usage.h"
#include "util.h"
#include "version.h"

#define COLLECT_SAMPLE_GAP_MS	250

struct collect {
	const struct config	*cfg;
	struct event_base	*base;
	struct rootfs		*root;
	struct metrics_state	 mstate;
	json_t			*out;
	struct http		*http;
	struct api		*api;
	struct usage		*usage;
	int			 pending;
};

static void
collect_finish_one(struct collect *c)
{
	if (--c->pending == 0)
		event_base_loopbreak(c->base);
}

static void
collect_sample_cb(evutil_socket_t fd, short events, void *arg)
{
	struct collect	*c = arg;
	struct metrics	 m;

	metrics_collect(c->root, &c->mstate, now_mono(), time(NULL), &m);
	json_object_set_new(c->out, "metrics", metrics_to_json(&m));
	collect_finish_one(c);
}

static void
collect_usage_cb(json_t *body, void *arg)
{
	struct collect	*c = arg;

	json_object_set_new(c->out, "proxy_usage", body);
	collect_finish_one(c);
}

int
collect_run(struct event_base *base, const struct config *cfg)
{
	struct collect		 c;
	struct facts		 f;
	struct facts_env	 fenv;
	struct utsname		 uts;
	struct metrics		 first;
	struct event		*timer;
	struct timeval		 gap = { 0, COLLECT_SAMPLE_GAP_MS * 1000 };
	int			 status = 0;

	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	c.base = base;
	if ((c.root = rootfs_open(cfg->host_root)) == NULL) {
		log_warn("-host-root %s", cfg->host_root);
		return 1;
	}
	uname(&uts);
	memset(&fenv, 0, sizeof(fenv));
	fenv.machine = uts.machine;
	fenv.container = strcmp(cfg->host_root, "/") == 0 ?
	    getenv("container") : NULL;
	facts_collect(c.root, &fenv, &f);
	c.out = json_object();
	json_object_set_new(c.out, "host_facts", facts_to_json(&f,
	    time(NULL)));

	metrics_collect(c.root, &c.mstate, now_mono(), time(NULL), &first);
	if ((timer = evtimer_new(base, collect_sample_cb, &c)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(timer, &gap);
	c.pending = 1;

	if (cfg->usage_file != NULL || cfg->usage_url != NULL) {
		struct http_options	 hopts;
		struct api_identity	 id;

		memset(&hopts, 0, sizeof(hopts));
		hopts.user_agent = "lattice-agent/" AGENT_VERSION;
		c.http = http_new(base, &hopts);
		memset(&id, 0, sizeof(id));
		id.node_id = cfg->node_id;
		c.api = api_new(c.http, "", NULL, &id);
		c.usage = usage_new(c.http, c.api, cfg, NULL, NULL);
		c.pending++;
		usage_collect(c.usage, collect_usage_cb, &c);
	}
	event_base_dispatch(base);

	if (json_dumpf(c.out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) ==
	    -1 || fputc('\n', stdout) == EOF || fflush(stdout) == EOF) {
		log_warn("--collect: writing to stdout");
		status = 1;
	}
	event_free(timer);
	http_free(c.http);
	usage_free(c.usage);
	api_free(c.api);
	json_decref(c.out);
	rootfs_free(c.root);
	return status;
}
