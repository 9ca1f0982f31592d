/*
 * The Lattice agent API client: payloads, authenticated requests and the
 * mapping from HTTP outcomes to retry decisions (PROTOCOL.md "Errors").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "utf8.h"
#include "util.h"
#include "version.h"

struct api {
	struct http		*http;
	char			*server;
	char			*token;
	char			*node_id;
	struct api_identity	 id;
	char			*strings[5];	/* owned copies behind id */
};

struct api_call {
	api_done_cb	 cb;
	void		*arg;
};

static char *
api_dup(const char *s)
{
	return xstrdup(s != NULL ? s : "");
}

struct api *
api_new(struct http *http, const char *server, const char *token,
    const struct api_identity *id)
{
	struct api	*api;

	api = xcalloc(1, sizeof(*api));
	api->http = http;
	api->server = xstrdup(server);
	api->token = token != NULL ? xstrdup(token) : NULL;
	api->node_id = api_dup(id->node_id);
	api->id = *id;
	api->id.node_id = api->node_id;
	api->id.public_ip = api->strings[0] = api_dup(id->public_ip);
	api->id.public_ip6 = api->strings[1] = api_dup(id->public_ip6);
	api->id.wg_ip = api->strings[2] = api_dup(id->wg_ip);
	api->id.wg_pubkey = api->strings[3] = api_dup(id->wg_pubkey);
	api->id.wg_endpoint = api->strings[4] = api_dup(id->wg_endpoint);
	return api;
}

void
api_free(struct api *api)
{
	size_t	 i;

	if (api == NULL)
		return;
	for (i = 0; i < nitems(api->strings); i++)
		free(api->strings[i]);
	freezero_str(api->token);
	free(api->node_id);
	free(api->server);
	free(api);
}

void
api_set_token(struct api *api, const char *token)
{
	freezero_str(api->token);
	api->token = token != NULL ? xstrdup(token) : NULL;
}

const char *
api_node_id(const struct api *api)
{
	return api->node_id;
}

/* Copy a remote string field for logging: valid UTF-8, no controls. */
static void
api_copy_field(json_t *obj, const char *key, char *out, size_t outlen)
{
	const char	*s = json_string_value(json_object_get(obj, key));
	size_t		 n;

	out[0] = '\0';
	if (s == NULL)
		return;
	n = strlen(s);
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, s, n);
	out[n] = '\0';
	utf8_clean_field(out, outlen - 1);
}

int
api_parse_error(const char *body, size_t len, struct api_error *ret)
{
	json_t		*root, *err;
	json_error_t	 jerr;
	struct api_error e;

	if (body == NULL || len == 0)
		return -1;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return -1;
	err = json_object_get(root, "error");
	if (!json_is_object(err)) {
		json_decref(root);
		return -1;
	}
	api_copy_field(err, "code", e.code, sizeof(e.code));
	api_copy_field(err, "message", e.message, sizeof(e.message));
	api_copy_field(err, "request_id", e.request_id, sizeof(e.request_id));
	json_decref(root);
	*ret = e;
	return 0;
}

void
api_classify(const struct http_response *resp, struct api_reply *ret)
{
	struct api_error	*e = &ret->error;
	long			 st = resp->status;
	int			 answered;

	memset(e, 0, sizeof(*e));
	ret->http = resp;
	answered = resp->outcome == HTTP_RESULT_STATUS ||
	    resp->outcome == HTTP_RESULT_REDIRECT;
	if (answered)
		(void)api_parse_error(resp->body.data, resp->body.len, e);

	switch (resp->outcome) {
	case HTTP_RESULT_OK:
		ret->verdict = API_OK;
		break;
	case HTTP_RESULT_STATUS:
		if (st == 401)
			ret->verdict = API_UNAUTHORIZED;
		else if (st == 403 &&
		    strcmp(e->code, "invalid_task_lease") == 0)
			ret->verdict = API_LEASE_INVALID;
		else if (st == 429 || st >= 500 || st == 408)
			ret->verdict = API_TRANSIENT;
		else
			ret->verdict = API_REJECTED;
		break;
	default:
		/*
		 * A redirect is refused (it could carry the token elsewhere)
		 * but may be a server-side mistake that gets fixed: retry.
		 */
		ret->verdict = API_TRANSIENT;
		break;
	}

	if (answered) {
		snprintf(ret->summary, sizeof(ret->summary),
		    "HTTP %ld%s%s%s%s%s%s", st,
		    e->code[0] != '\0' ? " code=" : "", e->code,
		    e->message[0] != '\0' ? " message=" : "", e->message,
		    e->request_id[0] != '\0' ? " request_id=" : "",
		    e->request_id);
	} else if (resp->outcome == HTTP_RESULT_OK)
		snprintf(ret->summary, sizeof(ret->summary), "HTTP %ld", st);
	else
		snprintf(ret->summary, sizeof(ret->summary), "%s: %s",
		    http_outcome_name(resp->outcome), resp->error);
}

json_t *
api_identity_json(const struct api_identity *id)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}",
	    "node_id", id->node_id,
	    "version", AGENT_VERSION,
	    "public_ip", id->public_ip,
	    "public_ipv6", id->public_ip6,
	    "wireguard_ip", id->wg_ip);
}

static void
api_done(const struct http_response *resp, void *arg)
{
	struct api_call	*call = arg;
	struct api_reply reply;

	memset(&reply, 0, sizeof(reply));
	api_classify(resp, &reply);
	call->cb(&reply, call->arg);
	free(call);
}

/* Reports a local refusal through the normal callback path, synchronously. */
static int
api_refuse(api_done_cb cb, void *arg, const char *why)
{
	struct http_response	 resp;
	struct api_reply	 reply;

	memset(&resp, 0, sizeof(resp));
	memset(&reply, 0, sizeof(reply));
	buf_init(&resp.body);
	resp.outcome = HTTP_RESULT_STATUS;
	resp.retry_after_ms = -1;
	resp.error = why;
	reply.verdict = API_REJECTED;
	reply.http = &resp;
	snprintf(reply.summary, sizeof(reply.summary), "not sent: %s", why);
	cb(&reply, arg);
	return 0;
}

/* Send text (copied; NULL for no body) as the JSON body of a request. */
static int
api_send(struct api *api, const char *method, const char *path,
    const char *text, size_t len, api_done_cb cb, void *arg)
{
	struct http_req	*req;
	struct api_call	*call;
	char		*url;

	if (len > API_MAX_BODY)
		return api_refuse(cb, arg, "payload over 1 MiB");
	xasprintf(&url, "%s%s", api->server, path);
	req = http_req_new(method, url);
	free(url);
	if (api->token != NULL)
		http_req_bearer(req, api->token);
	if (text != NULL)
		http_req_json_body(req, xstrndup(text, len), len);
	http_req_max_response(req, API_MAX_RESPONSE);
	call = xcalloc(1, sizeof(*call));
	call->cb = cb;
	call->arg = arg;
	if (log_debug_enabled())
		log_debug("%s %s (%zu bytes)", method, path, len);
	if (http_req_start(api->http, req, api_done, call) == -1) {
		free(call);
		return -1;
	}
	return 0;
}

static int
api_request(struct api *api, const char *method, const char *path,
    json_t *body, api_done_cb cb, void *arg)
{
	char	*text = NULL;
	size_t	 len = 0;
	int	 rc;

	if (body != NULL) {
		text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER |
		    JSON_REAL_PRECISION(10));
		json_decref(body);
		if (text == NULL)
			return api_refuse(cb, arg, "payload not encodable");
		len = strlen(text);
	}
	rc = api_send(api, method, path, text, len, cb, arg);
	free(text);
	return rc;
}

int
api_post_raw(struct api *api, const char *path, const char *text,
    size_t len, api_done_cb cb, void *arg)
{
	return api_send(api, "POST", path, text, len, cb, arg);
}

int
api_post(struct api *api, const char *path, json_t *body, api_done_cb cb,
    void *arg)
{
	return api_request(api, "POST", path, body, cb, arg);
}

int
api_get(struct api *api, const char *path, api_done_cb cb, void *arg)
{
	return api_request(api, "GET", path, NULL, cb, arg);
}

int
api_hello(struct api *api, json_t *host_facts, api_done_cb cb, void *arg)
{
	json_t	*body = api_identity_json(&api->id);

	json_object_set_new(body, "wireguard_public_key",
	    json_string(api->id.wg_pubkey));
	json_object_set_new(body, "wireguard_endpoint",
	    json_string(api->id.wg_endpoint));
	json_object_set_new(body, "wireguard_port",
	    json_integer(api->id.wg_port));
	if (host_facts != NULL)
		json_object_set_new(body, "host_facts", host_facts);
	return api_post(api, "/api/agent/hello", body, cb, arg);
}

int
api_metrics(struct api *api, json_t *metrics, json_t *host_facts,
    json_t *extra, api_done_cb cb, void *arg)
{
	json_t	*body = api_identity_json(&api->id);

	json_object_set_new(body, "metrics", metrics);
	if (host_facts != NULL)
		json_object_set_new(body, "host_facts", host_facts);
	if (extra != NULL) {
		json_object_update(body, extra);
		json_decref(extra);
	}
	return api_post(api, "/api/agent/metrics", body, cb, arg);
}
