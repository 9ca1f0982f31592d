/*
 * collect: --collect, which prints what the agent would report (HostFacts,
 * a metrics sample and, when a source is configured, the proxy usage
 * report) as pretty JSON on stdout without contacting the server.
 */
#ifndef COLLECT_H
#define COLLECT_H

struct event_base;
struct config;

/* Runs on base until done; returns the exit status. */
int	collect_run(struct event_base *, const struct config *);

#endif
