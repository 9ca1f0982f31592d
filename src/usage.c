/*
 * Proxy usage bridge scheduling: source -> proxyusage_parse -> POST
 * /api/agent/proxy-usage, one cycle at a time.  The HTTP source is bound to
 * loopback (no proxy, peer checked before connect) because it carries a
 * local secret; a failed source becomes a collector health report so the
 * dashboard sees the collector is broken without moving the accounting
 * baseline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "proxyusage.h"
#include "usage.h"
#include "utf8.h"
#include "util.h"

struct usage {
	struct http		*http;
	struct api		*api;
	enum proxyusage_source	 source;
	char			*path;
	char			*url;
	char			*secret;
	int64_t			 timeout_ms;
	usage_done_cb		 done;
	void			*done_arg;

	int			 running;	/* periodic cycles wanted */
	int			 busy;		/* a cycle is in flight */
	int			 once;
	usage_sink_cb		 sink;
	void			*sink_arg;
	char			 last_local[PROXYUSAGE_ERROR_MAX + 1];
	char			 last_server[384];
	uint64_t		 last_dropped;
};

static void	usage_cycle(struct usage *);

struct usage *
usage_new(struct http *http, struct api *api,
    const struct config *cfg, usage_done_cb done, void *arg)
{
	struct usage	*u;

	u = xcalloc(1, sizeof(*u));
	u->http = http;
	u->api = api;
	if (cfg->usage_file != NULL) {
		u->source = PROXYUSAGE_FILE;
		u->path = xstrdup(cfg->usage_file);
	} else {
		u->source = PROXYUSAGE_HTTP;
		u->url = xstrdup(cfg->usage_url);
	}
	if (cfg->usage_secret != NULL)
		u->secret = xstrdup(cfg->usage_secret);
	u->timeout_ms = cfg->usage_timeout_ms;
	u->done = done;
	u->done_arg = arg;
	return u;
}

void
usage_free(struct usage *u)
{
	if (u == NULL)
		return;
	freezero_str(u->secret);
	free(u->path);
	free(u->url);
	free(u);
}

void
usage_set_secret(struct usage *u, const char *secret)
{
	freezero_str(u->secret);
	u->secret = secret != NULL ? xstrdup(secret) : NULL;
}

void
usage_start(struct usage *u)
{
	u->running = 1;
}

void
usage_pause(struct usage *u)
{
	u->running = 0;
}

void
usage_tick(struct usage *u)
{
	if (u->running)
		usage_cycle(u);
}

void
usage_run_once(struct usage *u)
{
	u->once = 1;
	usage_cycle(u);
}

void
usage_collect(struct usage *u, usage_sink_cb sink, void *arg)
{
	u->sink = sink;
	u->sink_arg = arg;
	usage_cycle(u);
}

/* The end of a cycle: report it in once mode or while stopping. */
static void
usage_cycle_end(struct usage *u, int ok)
{
	u->busy = 0;
	if (u->once) {
		u->once = 0;
		u->done(u->done_arg, ok);
	} else if (!u->running)
		u->done(u->done_arg, ok);
}

static void
usage_post_done(const struct api_reply *r, void *arg)
{
	struct usage	*u = arg;

	if (r->http->outcome == HTTP_RESULT_CANCELLED) {
		u->busy = 0;
		return;
	}
	if (r->verdict == API_OK) {
		if (u->last_server[0] != '\0')
			log_info("proxy usage: server accepts reports again");
		u->last_server[0] = '\0';
	} else {
		char	 key[sizeof(u->last_server)];

		/* The same refusal (request ids differ) is logged once. */
		snprintf(key, sizeof(key), "%ld %s %s", r->http->status,
		    r->error.code, r->error.message);
		if (strcmp(u->last_server, key) != 0) {
			/* A fresh node gets 400 until it has a profile. */
			log_warnx("proxy usage: server did not accept the "
			    "report: %s", r->summary);
			snprintf(u->last_server, sizeof(u->last_server), "%s",
			    key);
		}
	}
	usage_cycle_end(u, r->verdict == API_OK);
}

static void
usage_post(struct usage *u, json_t *body)
{
	if (u->sink != NULL) {
		u->busy = 0;
		u->sink(body, u->sink_arg);
		return;
	}
	if (api_post(u->api, "/api/agent/proxy-usage", body, usage_post_done,
	    u) == -1) {
		log_warnx("proxy usage: could not start the request");
		usage_cycle_end(u, 0);
	}
}

/* Local state: log a failure once, and the recovery once. */
static void
usage_local_state(struct usage *u, const char *err)
{
	if (err == NULL) {
		if (u->last_local[0] != '\0')
			log_info("proxy usage: collector works again");
		u->last_local[0] = '\0';
		return;
	}
	if (strcmp(u->last_local, err) == 0)
		return;
	log_warnx("proxy usage: collector failed: %s", err);
	snprintf(u->last_local, sizeof(u->last_local), "%s", err);
}

static void
usage_report_error(struct usage *u, const char *err)
{
	usage_local_state(u, err);
	usage_post(u, proxyusage_report_error(api_node_id(u->api), u->source,
	    err, time(NULL)));
}

static void
usage_report_text(struct usage *u, const char *text, size_t len)
{
	struct proxyusage_snapshot	*snap;
	char				 err[PROXYUSAGE_ERROR_MAX + 1];
	uint64_t			 fp;

	if (proxyusage_parse(text, len, u->source, &snap, err,
	    sizeof(err)) == -1) {
		usage_report_error(u, err);
		return;
	}
	usage_local_state(u, NULL);
	fp = proxyusage_dropped_fingerprint(snap);
	if (fp != u->last_dropped && proxyusage_dropped_count(snap) > 0)
		log_warnx("proxy usage: left out %zu user id(s) the server "
		    "cannot accept: %s", proxyusage_dropped_count(snap),
		    proxyusage_dropped_summary(snap));
	u->last_dropped = fp;
	usage_post(u, proxyusage_report_ok(snap, api_node_id(u->api),
	    u->source, time(NULL)));
	proxyusage_snapshot_free(snap);
}

static void
usage_fetch_done(const struct http_response *resp, void *arg)
{
	struct usage	*u = arg;
	char		 err[PROXYUSAGE_ERROR_MAX + 1];

	if (resp->outcome == HTTP_RESULT_CANCELLED) {
		u->busy = 0;
		return;
	}
	if (resp->outcome == HTTP_RESULT_OK) {
		usage_report_text(u, resp->body.data, resp->body.len);
		return;
	}
	switch (resp->outcome) {
	case HTTP_RESULT_STATUS:
	case HTTP_RESULT_REDIRECT:
		snprintf(err, sizeof(err), "source answered HTTP %ld%s",
		    resp->status, resp->outcome == HTTP_RESULT_REDIRECT ?
		    " (redirects are not followed)" : "");
		break;
	case HTTP_RESULT_TOO_LARGE:
		snprintf(err, sizeof(err), "source answer over 1 MiB");
		break;
	case HTTP_RESULT_TIMEOUT:
		snprintf(err, sizeof(err), "source timed out after %lld ms",
		    (long long)u->timeout_ms);
		break;
	default:
		snprintf(err, sizeof(err), "source unreachable: %s",
		    resp->error);
		break;
	}
	utf8_clean_field(err, PROXYUSAGE_ERROR_MAX);
	usage_report_error(u, err);
}

static void
usage_cycle(struct usage *u)
{
	struct http_req	*req;
	char		*text, err[PROXYUSAGE_ERROR_MAX + 1];
	size_t		 len;

	if (u->busy)
		return;
	u->busy = 1;
	if (u->source == PROXYUSAGE_FILE) {
		if (proxyusage_read_file(u->path, &text, &len, err,
		    sizeof(err)) == -1) {
			usage_report_error(u, err);
			return;
		}
		usage_report_text(u, text, len);
		free(text);
		return;
	}
	req = http_req_new("GET", u->url);
	http_req_loopback_only(req);
	http_req_header(req, "Accept: application/json");
	if (u->secret != NULL)
		http_req_bearer(req, u->secret);
	http_req_max_response(req, PROXYUSAGE_MAX_INPUT);
	http_req_timeouts(req, u->timeout_ms, u->timeout_ms);
	if (http_req_start(u->http, req, usage_fetch_done, u) == -1) {
		u->busy = 0;
		log_warnx("proxy usage: could not start the request");
	}
}
