/*
 * usage: the proxy usage bridge's cycle.  Once per heartbeat interval it
 * reads the configured source (a local file, or a loopback HTTP endpoint
 * through the http bridge with the local secret), normalises it with
 * proxyusage.c and posts either the snapshot or a collector health report
 * to the server.  Problems are logged once per change of state.
 */
#ifndef USAGE_H
#define USAGE_H

#include <jansson.h>

struct http;
struct api;
struct config;
struct usage;

/* Called after each cycle in once mode (ok: the server accepted it). */
typedef void (*usage_done_cb)(void *arg, int ok);

struct usage	*usage_new(struct http *, struct api *,
		    const struct config *, usage_done_cb, void *arg);
void		 usage_free(struct usage *);
/* Allow periodic cycles (idempotent). */
void		 usage_start(struct usage *);
/* Stop; a cycle in flight completes. */
void		 usage_pause(struct usage *);
/*
 * A heartbeat cycle completed: run a usage cycle unless paused or one is
 * still in flight.  This is the only periodic trigger, so usage reports
 * follow the heartbeat's cadence and share its wakeup and connection.
 */
void		 usage_tick(struct usage *);
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
