/*
 * notify: the service manager's readiness protocol (sd_notify) spoken over
 * $NOTIFY_SOCKET directly, without libsystemd.  One process-wide datagram
 * socket, owned here; everything is a no-op when the agent was not started
 * by a manager that set NOTIFY_SOCKET.  Sends never block.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <stdint.h>

/*
 * Read NOTIFY_SOCKET (a path or an abstract "@name") and open the socket.
 * 0 when ready or when unset; -1 with errno (EINVAL: unusable address).
 */
int	notify_init(void);

/*
 * Send one state datagram such as "READY=1\nSTATUS=connected".  0 when sent
 * or when notify is off; -1 with errno (EAGAIN when the manager's queue is
 * full: the message is dropped rather than block).
 */
int	notify_send(const char *state);

/*
 * The watchdog period in microseconds from WATCHDOG_USEC, or 0 when unset,
 * invalid, or meant for another process (WATCHDOG_PID != getpid()).
 */
int64_t	notify_watchdog_usec(void);

/* 1 when notify_init() opened a socket. */
int	notify_enabled(void);

/* Close the socket; safe to call when never opened. */
void	notify_close(void);

#endif
