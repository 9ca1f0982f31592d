/*
 * http: the only module that touches libcurl.  One multi handle, driven by
 * the agent's event_base through curl's socket and timer callbacks, carries
 * every request; connections and TLS sessions are reused between requests.
 *
 * A request is built with http_req_new() and the setters, then handed to
 * http_req_start(), which takes ownership.  Exactly one completion callback
 * fires per started request, from the event loop, with a classified
 * outcome; the request is freed by this module when the callback returns.
 * Redirects are never followed and TLS verification is always on.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct event_base;
struct http;
struct http_req;

enum http_outcome {
	HTTP_RESULT_OK,		/* 2xx */
	HTTP_RESULT_STATUS,	/* any other status except 3xx */
	HTTP_RESULT_REDIRECT,	/* 3xx: never followed */
	HTTP_RESULT_TIMEOUT,	/* connect or total timeout */
	HTTP_RESULT_NETWORK,	/* DNS, connect, reset, TLS, peer refused */
	HTTP_RESULT_TOO_LARGE,	/* response body over the request's cap */
	HTTP_RESULT_CANCELLED,	/* http_free() with the request in flight */
};

struct http_response {
	enum http_outcome	 outcome;
	long			 status;	/* 0 when no answer */
	struct buf		 body;		/* owned by the module */
	int64_t			 retry_after_ms;	/* -1: none */
	int64_t			 elapsed_ms;
	int			 new_connection; /* a TCP connect was needed */
	const char		*error;		/* curl's text, or "" */
};

typedef void (*http_done_cb)(const struct http_response *, void *arg);

struct http_options {
	const char	*ca_file;	/* extra trusted CAs, or NULL */
	const char	*user_agent;
	long		 max_idle_sec;	/* keep idle connections this long */
};

struct http	*http_new(struct event_base *, const struct http_options *);
/* Cancels in-flight requests (their callbacks see HTTP_RESULT_CANCELLED). */
void		 http_free(struct http *);
size_t		 http_in_flight(const struct http *);

/* method is "GET" or "POST"; the URL is copied. */
struct http_req	*http_req_new(const char *method, const char *url);
/* A header line "Name: value", copied; secret values are wiped on free. */
void		 http_req_header(struct http_req *, const char *line);
/* Authorization: Bearer <token>, wiped from memory when the request ends. */
void		 http_req_bearer(struct http_req *, const char *token);
/* JSON body; takes ownership of body (from malloc). */
void		 http_req_json_body(struct http_req *, char *body, size_t len);
void		 http_req_max_response(struct http_req *, size_t);
void		 http_req_timeouts(struct http_req *, int64_t connect_ms,
		    int64_t total_ms);
/*
 * For secrets bound to this host: no proxy whatever the environment says,
 * and a connection is only made to a loopback address.
 */
void		 http_req_loopback_only(struct http_req *);
/* Takes ownership of req; returns 0, or -1 (req freed) if curl refused. */
int		 http_req_start(struct http *, struct http_req *, http_done_cb,
		    void *arg);

const char	*http_outcome_name(enum http_outcome);

#endif
