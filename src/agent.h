/*
 * agent: the daemon.  Owns the event base and every long-lived module, and
 * schedules hello, heartbeats (metrics, facts when due), proxy usage and
 * task polling, each on its own jittered timer with its own backoff.
 * Runtime trouble never ends the daemon: it logs once per change of state,
 * backs off and keeps reporting.
 */
#ifndef AGENT_H
#define AGENT_H

struct config;

/*
 * Run the daemon (CONFIG_MODE_DAEMON) until SIGTERM/SIGINT, or one full
 * cycle (CONFIG_MODE_ONCE).  Returns the process exit status.  cfg stays
 * owned by the caller but may be updated on SIGHUP.
 */
int	agent_run(struct config *cfg);

#endif
