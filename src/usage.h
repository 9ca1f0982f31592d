/*
 * usage: the proxy usage bridge's schedule.  Once per heartbeat interval it
 * reads the configured source (a local file, or a loopback HTTP endpoint
 * through the http bridge with the local secret), normalises it with
 * proxyusage.c and posts either the snapshot or a collector health report
 * to the server.  Problems are logged once per change of state.
 */
#ifndef USAGE_H
#define USAGE_H

#include <jansson.h>

struct event_base;
struct http;
struct api;
struct config;
struct usage;

/* Called after each cycle in once mode (ok: the server accepted it). */
typedef void (*usage_done_cb)(void *arg, int ok);

struct usage	*usage_new(struct event_base *, struct http *, struct api *,
		    const struct config *, usage_done_cb, void *arg);
void		 usage_free(struct usage *);
/* Begin periodic cycles (idempotent); the first runs soon. */
void		 usage_start(struct usage *);
/* Stop scheduling; a cycle in flight completes. */
void		 usage_pause(struct usage *);
/* Run one cycle now and report through the done callback. */
void		 usage_run_once(struct usage *);
void		 usage_set_secret(struct usage *, const char *);
/*
 * --collect: run one cycle but hand the report body (a new reference) to
 * sink instead of posting it.
 */
typedef void (*usage_sink_cb)(json_t *body, void *arg);
void		 usage_collect(struct usage *, usage_sink_cb, void *arg);

#endif
