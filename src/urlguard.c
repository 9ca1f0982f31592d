/*
 * urlguard: decide whether a configured URL may be used, with libcurl's URL
 * API doing all the parsing.  curl is lenient on purpose (it accepts
 * "0x7f000001", "127.1", "%31%32%37.0.0.1" and "http:/host" and hands back
 * a normalised host), so besides asking curl what it understood we insist
 * that the URL as written starts with exactly "<scheme>://<host>" as curl
 * returns them: any spelling curl had to reinterpret is refused.  That
 * comparison is the only look at the raw text, and it fails closed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "urlguard.h"
#include "util.h"

/* What curl understood of a URL that passed the common checks. */
struct urlguard_parts {
	char	*scheme;	/* lower case, "http" or "https" */
	char	*host;		/* IPv6 in brackets */
	char	*url;		/* curl's normalised full URL */
};

static void
urlguard_parts_clear(struct urlguard_parts *p)
{
	curl_free(p->scheme);
	curl_free(p->host);
	curl_free(p->url);
	memset(p, 0, sizeof(*p));
}

/* 1 when curl has a non-empty or empty-but-present value for part. */
static int
urlguard_has_part(CURLU *h, CURLUPart part)
{
	char	*v = NULL;

	if (curl_url_get(h, part, &v, 0) != CURLUE_OK)
		return 0;
	curl_free(v);
	return 1;
}

/*
 * The host must follow "scheme://" verbatim (ignoring case) and be followed
 * by a port, a path, the end or (when allowed) a query.
 */
static int
urlguard_written_as_parsed(const char *url, const struct urlguard_parts *p,
    int allow_query)
{
	size_t	 slen = strlen(p->scheme), hlen = strlen(p->host);
	char	 next;

	if (strncasecmp(url, p->scheme, slen) != 0 ||
	    strncmp(url + slen, "://", 3) != 0)
		return 0;
	url += slen + 3;
	if (strncasecmp(url, p->host, hlen) != 0)
		return 0;
	next = url[hlen];
	return next == '\0' || next == ':' || next == '/' ||
	    (allow_query && next == '?');
}

static int
urlguard_parse(const char *url, int allow_query, struct urlguard_parts *ret,
    char *errbuf, size_t errlen)
{
	struct urlguard_parts	 p = { NULL, NULL, NULL };
	CURLU			*h;
	CURLUcode		 rc;
	const unsigned char	*c;

	if (url == NULL || *url == '\0') {
		snprintf(errbuf, errlen, "the URL is empty");
		return -1;
	}
	for (c = (const unsigned char *)url; *c != '\0'; c++) {
		if (*c <= 0x20 || *c >= 0x7f) {
			snprintf(errbuf, errlen, "the URL contains a space, "
			    "control or non-ASCII byte (write IDN hosts in "
			    "punycode)");
			return -1;
		}
	}
	if ((h = curl_url()) == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	if ((rc = curl_url_set(h, CURLUPART_URL, url, 0)) != CURLUE_OK) {
		snprintf(errbuf, errlen, "not a valid URL (%s)",
		    curl_url_strerror(rc));
		goto fail;
	}
	if (curl_url_get(h, CURLUPART_SCHEME, &p.scheme, 0) != CURLUE_OK ||
	    (strcmp(p.scheme, "http") != 0 && strcmp(p.scheme, "https") != 0)) {
		snprintf(errbuf, errlen, "only http:// and https:// URLs are "
		    "allowed");
		goto fail;
	}
	if (urlguard_has_part(h, CURLUPART_USER) ||
	    urlguard_has_part(h, CURLUPART_PASSWORD) ||
	    urlguard_has_part(h, CURLUPART_OPTIONS)) {
		snprintf(errbuf, errlen, "user information (user:password@) "
		    "in the URL is not allowed");
		goto fail;
	}
	if (curl_url_get(h, CURLUPART_HOST, &p.host, 0) != CURLUE_OK ||
	    *p.host == '\0') {
		snprintf(errbuf, errlen, "the URL has no host");
		goto fail;
	}
	if (p.host[strspn(p.host, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:[]")] != '\0') {
		snprintf(errbuf, errlen, "the host contains characters no "
		    "host name has");
		goto fail;
	}
	if (urlguard_has_part(h, CURLUPART_ZONEID)) {
		snprintf(errbuf, errlen, "an IPv6 zone id is not allowed");
		goto fail;
	}
	if (urlguard_has_part(h, CURLUPART_FRAGMENT) ||
	    (!allow_query && urlguard_has_part(h, CURLUPART_QUERY))) {
		snprintf(errbuf, errlen, "the URL must not have a %s",
		    allow_query ? "fragment (#...)" :
		    "query (?...) or fragment (#...)");
		goto fail;
	}
	if (!urlguard_written_as_parsed(url, &p, allow_query)) {
		snprintf(errbuf, errlen, "the URL is not written in canonical "
		    "form (curl reads its host as \"%s\"); write it as "
		    "%s://%s[:port]/path", p.host, p.scheme, p.host);
		goto fail;
	}
	if (curl_url_get(h, CURLUPART_URL, &p.url, 0) != CURLUE_OK) {
		snprintf(errbuf, errlen, "not a valid URL");
		goto fail;
	}
	curl_url_cleanup(h);
	*ret = p;
	return 0;
fail:
	urlguard_parts_clear(&p);
	curl_url_cleanup(h);
	return -1;
}

int
urlguard_host_is_loopback(const char *host)
{
	struct in_addr	 a;
	char		 canon[INET_ADDRSTRLEN];

	if (host == NULL)
		return 0;
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (strcmp(host, "::1") == 0 || strcmp(host, "[::1]") == 0)
		return 1;
	/* Dotted quad only, no leading zeros: must survive a round trip. */
	if (inet_pton(AF_INET, host, &a) != 1 ||
	    inet_ntop(AF_INET, &a, canon, sizeof(canon)) == NULL ||
	    strcmp(canon, host) != 0)
		return 0;
	return (ntohl(a.s_addr) >> 24) == 127;
}

int
urlguard_server(const char *url, int allow_insecure_http, char **ret_url,
    int *ret_insecure, char *errbuf, size_t errlen)
{
	struct urlguard_parts	 p;
	size_t			 len;
	int			 insecure = 0;

	if (urlguard_parse(url, 0, &p, errbuf, errlen) == -1)
		return -1;
	if (strcmp(p.scheme, "http") == 0 &&
	    !urlguard_host_is_loopback(p.host)) {
		if (!allow_insecure_http) {
			snprintf(errbuf, errlen, "http:// to the non-loopback "
			    "host %s would send the node token in clear text; "
			    "use https:// (or -allow-insecure-http if you "
			    "really mean it)", p.host);
			urlguard_parts_clear(&p);
			return -1;
		}
		insecure = 1;
	}
	len = strlen(p.url);
	while (len > 0 && p.url[len - 1] == '/')
		len--;
	*ret_url = xstrndup(p.url, len);
	*ret_insecure = insecure;
	urlguard_parts_clear(&p);
	return 0;
}

int
urlguard_usage_url(const char *url, char *errbuf, size_t errlen)
{
	struct urlguard_parts	 p;
	int			 ok;

	if (urlguard_parse(url, 1, &p, errbuf, errlen) == -1)
		return -1;
	if (!(ok = urlguard_host_is_loopback(p.host)))
		snprintf(errbuf, errlen, "the host %s is not loopback (use "
		    "localhost, 127.0.0.0/8 or [::1])", p.host);
	urlguard_parts_clear(&p);
	return ok ? 0 : -1;
}
