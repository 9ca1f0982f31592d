/*
 * resolve: asynchronous A/AAAA resolution on the event loop with libevent's
 * evdns, reading the system's resolv.conf and hosts file, with a bounded
 * total time.  Nothing here blocks the base.
 *
 * Ownership: the caller owns the evdns base (resolve_dns_new) and each
 * request (resolve_start); a request's result and its address lists belong
 * to the request until resolve_free(), unless the callback moves them out.
 */
#ifndef RESOLVE_H
#define RESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

struct event_base;
struct evdns_base;
struct resolve_req;

/* Answers split by family, in the order the resolver gave them. */
struct resolve_addrs {
	struct in_addr	*v4;
	size_t		 n4;
	struct in6_addr	*v6;
	size_t		 n6;
};

void	 resolve_addrs_add4(struct resolve_addrs *, const struct in_addr *);
void	 resolve_addrs_add6(struct resolve_addrs *, const struct in6_addr *);
/* Free the lists and zero the struct; accepts an already empty one. */
void	 resolve_addrs_free(struct resolve_addrs *);

enum resolve_status {
	RESOLVE_OK,		/* addrs holds the answers (maybe none) */
	RESOLVE_NOT_FOUND,	/* the name does not exist or has no address */
	RESOLVE_TIMED_OUT,	/* the total time ran out */
	RESOLVE_FAILED,		/* any other resolver error */
};

struct resolve_result {
	enum resolve_status	 status;
	const char		*errstr;	/* static; NULL on RESOLVE_OK */
	struct resolve_addrs	 addrs;
};

/*
 * Called once per request from the loop (never from inside resolve_start).
 * The callback may take over res->addrs by copying it and zeroing the
 * original; the caller frees the request afterwards (or in the callback).
 */
typedef void (*resolve_done_cb)(struct resolve_req *, struct resolve_result *,
    void *arg);

/*
 * A new evdns base reading nameservers and options from resolv_conf and
 * names from hosts (NULL for /etc/resolv.conf and /etc/hosts).  A missing or
 * empty resolv.conf is tolerated as the C library does (127.0.0.1), and a
 * missing hosts file leaves only localhost.  NULL only if libevent fails.
 */
struct evdns_base *resolve_dns_new(struct event_base *,
	    const char *resolv_conf, const char *hosts);
void	 resolve_dns_free(struct evdns_base *);

/*
 * Resolve host (a name or an IP literal, which resolves to itself) to its
 * IPv4 and IPv6 addresses within timeout_ms.  Returns NULL only if the
 * request could not be set up (errno set).
 */
struct resolve_req *resolve_start(struct event_base *, struct evdns_base *,
	    const char *host, int64_t timeout_ms, resolve_done_cb, void *arg);
/*
 * Cancel if still running (the callback is then never called) and free.
 * Accepts NULL.
 */
void	 resolve_free(struct resolve_req *);

#endif
