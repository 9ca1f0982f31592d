/*
 * api: the Lattice wire contract (PROTOCOL.md) on top of the http bridge.
 * Builds the hello and heartbeat payloads, sends authenticated requests to
 * the server and turns each classified HTTP outcome into a verdict the
 * scheduler can act on.  The api owns a copy of the bearer token; no
 * function here ever logs or returns it.
 */
#ifndef API_H
#define API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "http.h"

#define API_MAX_RESPONSE	(4u << 20)
#define API_MAX_BODY		(1u << 20)

struct api;

/* Who this node says it is in hello and heartbeats. */
struct api_identity {
	const char	*node_id;
	const char	*public_ip;
	const char	*public_ip6;
	const char	*wg_ip;
	const char	*wg_pubkey;
	const char	*wg_endpoint;
	int		 wg_port;
};

enum api_verdict {
	API_OK,			/* 2xx */
	API_TRANSIENT,		/* network, timeout, 429, 5xx, 3xx: retry */
	API_UNAUTHORIZED,	/* 401: token wrong, node disabled or gone */
	API_LEASE_INVALID,	/* 403 invalid_task_lease: drop the result */
	API_REJECTED,		/* other 4xx: never resend the same body */
};

/* A Lattice error body {"error":{"code","message","request_id"}}. */
struct api_error {
	char	code[64];
	char	message[256];
	char	request_id[64];
};

/* What a request's callback receives. */
struct api_reply {
	enum api_verdict		 verdict;
	const struct http_response	*http;
	struct api_error		 error;		/* empty if none */
	char				 summary[384];	/* for one log line */
};

typedef void (*api_done_cb)(const struct api_reply *, void *arg);

struct api	*api_new(struct http *, const char *server, const char *token,
		    const struct api_identity *);
void		 api_free(struct api *);
void		 api_set_token(struct api *, const char *);
const char	*api_node_id(const struct api *);

/* Pure pieces, exposed for tests and fuzzing. */
int		 api_parse_error(const char *body, size_t len,
		    struct api_error *ret);
void		 api_classify(const struct http_response *,
		    struct api_reply *ret);
/* The common top-level fields of hello and metrics; a new reference. */
json_t		*api_identity_json(const struct api_identity *);

/*
 * Requests.  Bodies are consumed (their reference is stolen); a body over
 * API_MAX_BODY is refused locally with API_REJECTED, and that callback
 * runs before the call returns.  Otherwise 0 means the request is in
 * flight and the callback fires once, later, from the loop; -1 means it
 * could not be started and no callback will come.
 */
int		 api_hello(struct api *, json_t *host_facts, api_done_cb,
		    void *);
int		 api_metrics(struct api *, json_t *metrics, json_t *host_facts,
		    json_t *extra, api_done_cb, void *);
int		 api_post(struct api *, const char *path, json_t *body,
		    api_done_cb, void *);
int		 api_get(struct api *, const char *path_and_query,
		    api_done_cb, void *);
/* POST text that is already encoded JSON (copied), e.g. a spooled body. */
int		 api_post_raw(struct api *, const char *path, const char *text,
		    size_t len, api_done_cb, void *);

#endif
