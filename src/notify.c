/*
 * notify: sd_notify over NOTIFY_SOCKET.  The protocol is one AF_UNIX
 * datagram of newline-separated KEY=VALUE lines per state change; an
 * address starting with '@' lives in the abstract namespace.  We keep the
 * socket open for the life of the process and send with MSG_DONTWAIT so a
 * stuck manager can never stall the event loop.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "notify.h"

static struct {
	int			 fd;
	struct sockaddr_un	 addr;
	socklen_t		 addrlen;
} notify_state = { -1, { 0 }, 0 };

int
notify_init(void)
{
	const char	*path;
	size_t		 len;
	int		 fd;

	notify_close();
	if ((path = getenv("NOTIFY_SOCKET")) == NULL || *path == '\0')
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len < 2 ||
	    len > sizeof(notify_state.addr.sun_path)) {
		errno = EINVAL;
		return -1;
	}
	if (path[0] == '/' && len == sizeof(notify_state.addr.sun_path)) {
		errno = EINVAL;		/* no room for the terminator */
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&notify_state.addr, 0, sizeof(notify_state.addr));
	notify_state.addr.sun_family = AF_UNIX;
	memcpy(notify_state.addr.sun_path, path, len);
	if (path[0] == '@')
		notify_state.addr.sun_path[0] = '\0';
	notify_state.addrlen = (socklen_t)(offsetof(struct sockaddr_un,
	    sun_path) + len + (path[0] == '/' ? 1 : 0));
	notify_state.fd = fd;
	return 0;
}

int
notify_enabled(void)
{
	return notify_state.fd != -1;
}

int
notify_send(const char *state)
{
	ssize_t	 n;

	if (notify_state.fd == -1)
		return 0;
	do {
		n = sendto(notify_state.fd, state, strlen(state),
		    MSG_DONTWAIT | MSG_NOSIGNAL,
		    (struct sockaddr *)&notify_state.addr,
		    notify_state.addrlen);
	} while (n == -1 && errno == EINTR);
	return n == -1 ? -1 : 0;
}

/* Parse a positive decimal integer that must fill the whole string. */
static int
notify_parse_u64(const char *s, uint64_t *ret)
{
	uint64_t	 v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return 0;
}

int64_t
notify_watchdog_usec(void)
{
	uint64_t	 usec, pid;
	const char	*p;

	if (notify_parse_u64(getenv("WATCHDOG_USEC"), &usec) == -1 ||
	    usec == 0 || usec > INT64_MAX)
		return 0;
	if ((p = getenv("WATCHDOG_PID")) != NULL && *p != '\0' &&
	    (notify_parse_u64(p, &pid) == -1 || pid != (uint64_t)getpid()))
		return 0;
	return (int64_t)usec;
}

void
notify_close(void)
{
	if (notify_state.fd != -1) {
		close(notify_state.fd);
		notify_state.fd = -1;
	}
}
