/*
 * Asynchronous host resolution for the one-shot modes.  evdns_getaddrinfo()
 * with AF_UNSPEC asks for A and AAAA together, answers names from the hosts
 * file and IP literals without any query, and never blocks the loop.  Two
 * quirks of evdns shape this file: its callback may run inside
 * evdns_getaddrinfo() itself, and after a cancel it still calls back later
 * from the loop.  So every result is delivered through an event of our own,
 * and the evdns side lives in a small context that is detached (and freed
 * by the late callback) when the request times out or is freed first.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "log.h"
#include "resolve.h"
#include "util.h"

/* The evdns half of a request; outlives it when evdns calls back late. */
struct resolve_gai {
	struct resolve_req			*req;	/* NULL once detached */
	struct evdns_getaddrinfo_request	*handle;
};

struct resolve_req {
	struct event		*deadline;
	struct event		*deliver;
	struct resolve_gai	*gai;		/* NULL: answered or detached */
	resolve_done_cb		 cb;
	void			*arg;
	struct resolve_result	 res;
};

void
resolve_addrs_add4(struct resolve_addrs *a, const struct in_addr *in)
{
	a->v4 = xreallocarray(a->v4, a->n4 + 1, sizeof(*a->v4));
	a->v4[a->n4++] = *in;
}

void
resolve_addrs_add6(struct resolve_addrs *a, const struct in6_addr *in6)
{
	a->v6 = xreallocarray(a->v6, a->n6 + 1, sizeof(*a->v6));
	a->v6[a->n6++] = *in6;
}

void
resolve_addrs_free(struct resolve_addrs *a)
{
	free(a->v4);
	free(a->v6);
	memset(a, 0, sizeof(*a));
}

/* evdns writes its own warnings to stderr; keep them for -debug. */
static void
resolve_evdns_log(int severity, const char *msg)
{
	log_debug("evdns: %s", msg);
}

struct evdns_base *
resolve_dns_new(struct event_base *base, const char *resolv_conf,
    const char *hosts)
{
	struct evdns_base	*dns;

	/*
	 * Not EVDNS_BASE_INITIALIZE_NAMESERVERS: libevent then refuses a
	 * missing or empty resolv.conf, where the C library (and evdns's own
	 * parser) fall back to 127.0.0.1.  Any parse result is acceptable.
	 */
	evdns_set_log_fn(resolve_evdns_log);
	dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (dns == NULL)
		return (NULL);
	(void)evdns_base_resolv_conf_parse(dns,
	    DNS_OPTIONS_ALL & ~DNS_OPTION_HOSTSFILE,
	    resolv_conf != NULL ? resolv_conf : "/etc/resolv.conf");
	/*
	 * NULL would load only evdns's built-in localhost entries, so name
	 * the file.  A missing file leaves just those (127.0.0.1 and ::1).
	 */
	(void)evdns_base_load_hosts(dns, hosts != NULL ? hosts : "/etc/hosts");
	/*
	 * The 0x20 case trick drops answers from resolvers that do not echo
	 * the question's case; a one-shot lookup gains little from it.
	 */
	(void)evdns_base_set_option(dns, "randomize-case:", "0");
	return (dns);
}

void
resolve_dns_free(struct evdns_base *dns)
{
	if (dns != NULL)
		evdns_base_free(dns, 0);
}

static void
resolve_collect(struct resolve_addrs *addrs, const struct evutil_addrinfo *ai)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	for (; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_addr == NULL)
			continue;
		if (ai->ai_family == AF_INET &&
		    ai->ai_addrlen >= sizeof(*sin)) {
			sin = (const struct sockaddr_in *)(void *)ai->ai_addr;
			resolve_addrs_add4(addrs, &sin->sin_addr);
		} else if (ai->ai_family == AF_INET6 &&
		    ai->ai_addrlen >= sizeof(*sin6)) {
			sin6 = (const struct sockaddr_in6 *)(void *)ai->ai_addr;
			resolve_addrs_add6(addrs, &sin6->sin6_addr);
		}
	}
}

static void
resolve_finish(struct resolve_req *req, enum resolve_status status,
    const char *errstr)
{
	req->res.status = status;
	req->res.errstr = errstr;
	event_del(req->deadline);
	event_active(req->deliver, EV_TIMEOUT, 0);
}

/* evdns's answer: record it and let our own event deliver it. */
static void
resolve_gai_cb(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct resolve_gai	*gai = arg;
	struct resolve_req	*req = gai->req;

	if (req == NULL) {
		/* Detached: the request is gone; this is the late call. */
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		free(gai);
		return;
	}
	req->gai = NULL;
	switch (err) {
	case 0:
		resolve_collect(&req->res.addrs, ai);
		resolve_finish(req, RESOLVE_OK, NULL);
		break;
	case EVUTIL_EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
		resolve_finish(req, RESOLVE_NOT_FOUND,
		    "name not found (no A or AAAA record)");
		break;
	default:
		resolve_finish(req, RESOLVE_FAILED, evutil_gai_strerror(err));
		break;
	}
	if (ai != NULL)
		evutil_freeaddrinfo(ai);
	free(gai);
}

/* Give up on evdns: cancel, and let its late callback free the context. */
static void
resolve_detach(struct resolve_req *req)
{
	struct resolve_gai	*gai = req->gai;

	if (gai == NULL)
		return;
	req->gai = NULL;
	gai->req = NULL;
	evdns_getaddrinfo_cancel(gai->handle);
}

static void
resolve_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resolve_req	*req = arg;

	resolve_detach(req);
	resolve_finish(req, RESOLVE_TIMED_OUT, "timed out");
}

static void
resolve_deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resolve_req	*req = arg;

	req->cb(req, &req->res, req->arg);
}

struct resolve_req *
resolve_start(struct event_base *base, struct evdns_base *dns,
    const char *host, int64_t timeout_ms, resolve_done_cb cb, void *arg)
{
	struct resolve_req			*req;
	struct resolve_gai			*gai;
	struct evdns_getaddrinfo_request	*handle;
	struct evutil_addrinfo			 hints;

	if (timeout_ms <= 0) {
		errno = EINVAL;
		return (NULL);
	}
	req = xcalloc(1, sizeof(*req));
	req->cb = cb;
	req->arg = arg;
	req->deadline = evtimer_new(base, resolve_deadline_cb, req);
	req->deliver = event_new(base, -1, 0, resolve_deliver_cb, req);
	if (req->deadline == NULL || req->deliver == NULL)
		goto out_free;
	timer_add_ms(req->deadline, timeout_ms);

	gai = xcalloc(1, sizeof(*gai));
	gai->req = req;
	req->gai = gai;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	/* One entry per address rather than one per socket type. */
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	handle = evdns_getaddrinfo(dns, host, NULL, &hints, resolve_gai_cb,
	    gai);
	if (req->gai == NULL) {
		/* Answered inside evdns_getaddrinfo(); gai is already freed. */
	} else if (handle != NULL) {
		/* Still running: the callback is due later. */
		gai->handle = handle;
	} else {
		/* Refused without ever calling back. */
		req->gai = NULL;
		free(gai);
		resolve_finish(req, RESOLVE_FAILED, "resolver refused request");
	}
	return (req);

out_free:
	resolve_free(req);
	errno = ENOMEM;
	return (NULL);
}

void
resolve_free(struct resolve_req *req)
{
	if (req == NULL)
		return;
	resolve_detach(req);
	if (req->deliver != NULL)
		event_free(req->deliver);
	if (req->deadline != NULL)
		event_free(req->deadline);
	resolve_addrs_free(&req->res.addrs);
	free(req);
}
