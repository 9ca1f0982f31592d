/*
 * selfcheck: --selfcheck-controlplane, the one-shot reachability probe the
 * server's rollback-protected firewall scripts run after an nft commit.
 * GET <server>/api/health without any credentials; success is HTTP 200
 * and nothing else.
 */
#ifndef SELFCHECK_H
#define SELFCHECK_H

struct event_base;
struct config;

/* Runs on base until done; returns the exit status (0 healthy, 1 not). */
int	selfcheck_run(struct event_base *, const struct config *);

#endif
