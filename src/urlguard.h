/*
 * urlguard: the transport rules for the URLs the agent will talk to,
 * checked with libcurl's URL API (never by hand) before any request.
 *
 * The server URL may be https anywhere, http only to a loopback host
 * (unless the operator allowed cleartext explicitly).  The proxy usage
 * source must be loopback whatever the scheme.  Loopback is decided
 * strictly: only "localhost", a canonical dotted quad in 127.0.0.0/8 or
 * "::1" count, and a host must be written exactly as curl understands it
 * (no numeric, octal, hex, short or percent-encoded spellings), so that
 * nothing curl or a resolver would read differently slips through.
 *
 * Error texts go to errbuf and do not name a flag: the caller adds that.
 */
#ifndef URLGUARD_H
#define URLGUARD_H

#include <stddef.h>

/*
 * Validate the control-plane base URL.  On success *ret_url is a new
 * string (the caller frees it): curl's normalised URL with trailing '/'
 * removed, and *ret_insecure is 1 when it is plain http to a non-loopback
 * host that allow_insecure_http let through (the caller warns), else 0.
 * Returns 0, or -1 with a reason in errbuf.
 */
int	urlguard_server(const char *url, int allow_insecure_http,
	    char **ret_url, int *ret_insecure, char *errbuf, size_t errlen);

/* Validate the loopback proxy usage source URL; 0 or -1 with errbuf. */
int	urlguard_usage_url(const char *url, char *errbuf, size_t errlen);

/*
 * 1 when host (as curl returns it, IPv6 with or without brackets) is
 * loopback by the strict rule above, else 0.
 */
int	urlguard_host_is_loopback(const char *host);

#endif
