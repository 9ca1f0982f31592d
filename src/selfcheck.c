/*
 * The control-plane health probe.  It shares the daemon's transport (TLS
 * verification, -ca-file, the http:// loopback guard applied by config) but
 * never reads or sends the node token, and it says what happened in one
 * line on stderr so the calling script's log explains a rollback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "selfcheck.h"
#include "util.h"
#include "version.h"

struct selfcheck {
	struct event_base	*base;
	const char		*url;
	int			 status;
};

static void
selfcheck_done(const struct http_response *resp, void *arg)
{
	struct selfcheck	*sc = arg;

	if (resp->outcome == HTTP_RESULT_CANCELLED)
		return;
	if (resp->outcome == HTTP_RESULT_OK && resp->status == 200) {
		log_info("selfcheck: GET %s: HTTP 200 in %lld ms", sc->url,
		    (long long)resp->elapsed_ms);
		sc->status = 0;
	} else if (resp->outcome == HTTP_RESULT_OK ||
	    resp->outcome == HTTP_RESULT_STATUS ||
	    resp->outcome == HTTP_RESULT_REDIRECT) {
		log_warnx("selfcheck: GET %s: HTTP %ld in %lld ms%s", sc->url,
		    resp->status, (long long)resp->elapsed_ms,
		    resp->outcome == HTTP_RESULT_REDIRECT ?
		    " (redirects are not followed)" : "");
	} else
		log_warnx("selfcheck: GET %s: %s after %lld ms: %s", sc->url,
		    http_outcome_name(resp->outcome),
		    (long long)resp->elapsed_ms, resp->error);
	event_base_loopbreak(sc->base);
}

int
selfcheck_run(struct event_base *base, const struct config *cfg)
{
	struct http_options	 opts;
	struct http		*http;
	struct http_req		*req;
	struct selfcheck	 sc;
	char			*url;

	memset(&opts, 0, sizeof(opts));
	opts.ca_file = cfg->ca_file;
	opts.user_agent = "lattice-agent/" AGENT_VERSION;
	http = http_new(base, &opts);

	xasprintf(&url, "%s/api/health", cfg->server);
	sc.base = base;
	sc.url = url;
	sc.status = 1;
	req = http_req_new("GET", url);
	http_req_max_response(req, 64 * 1024);
	http_req_timeouts(req, cfg->timeout_ms, cfg->timeout_ms);
	if (cfg->server_insecure)
		log_warnx("-allow-insecure-http: probing %s in clear text",
		    cfg->server);
	if (http_req_start(http, req, selfcheck_done, &sc) == -1)
		log_warnx("selfcheck: could not start the request");
	else
		event_base_dispatch(base);
	http_free(http);
	free(url);
	return sc.status;
}
