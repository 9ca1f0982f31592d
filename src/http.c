/*
 * The libcurl multi interface on top of libevent, after curl's hiperfifo.c
 * example: curl tells us which sockets to watch and when to wake it; we
 * translate libevent's readiness into curl_multi_socket_action() calls and
 * collect finished transfers with curl_multi_info_read().  Nothing here
 * blocks: DNS runs on curl's resolver thread.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <event2/event.h>

#include "http.h"
#include "log.h"
#include "util.h"

#define HTTP_DEFAULT_MAX_RESPONSE	(4u << 20)
#define HTTP_DEFAULT_CONNECT_MS		10000
#define HTTP_DEFAULT_TOTAL_MS		30000
#define HTTP_SYSTEM_CA_DIR		"/etc/ssl/certs"
#define HTTP_IDLE_HANDLES		4	/* easy handles kept for reuse */

struct http_req {
	TAILQ_ENTRY(http_req)	 entry;
	struct curl_slist	*resolve;
	struct http		*http;
	CURL			*easy;
	char			*method;
	char			*url;
	struct curl_slist	*headers;
	char			*bearer;	/* header line, wiped on free */
	char			*body;
	size_t			 body_len;
	size_t			 max_response;
	int64_t			 connect_ms;
	int64_t			 total_ms;
	int			 loopback_only;
	int			 too_large;
	int			 peer_refused;
	int64_t			 started_ms;
	struct buf		 response;
	http_done_cb		 cb;
	void			*arg;
	char			 errbuf[CURL_ERROR_SIZE];
};

TAILQ_HEAD(http_reqs, http_req);

struct http_sock {
	struct event	*ev;
	int		 what;
};

struct http {
	struct event_base	*base;
	CURLM			*multi;
	CURLSH			*share;
	struct event		*timer;
	struct http_reqs	 reqs;
	size_t			 nreqs;
	char			*ca_file;
	char			*user_agent;
	int			 ca_dir_hashed;
	int			 closing;
	long			 max_idle_sec;
	char			*noproxy;
	/* curl_easy_init costs more than a whole request: recycle them. */
	CURL			*idle[HTTP_IDLE_HANDLES];
	size_t			 nidle;
};

static void	http_check_done(struct http *);

const char *
http_outcome_name(enum http_outcome o)
{
	switch (o) {
	case HTTP_RESULT_OK:
		return "ok";
	case HTTP_RESULT_STATUS:
		return "http-status";
	case HTTP_RESULT_REDIRECT:
		return "redirect-refused";
	case HTTP_RESULT_TIMEOUT:
		return "timeout";
	case HTTP_RESULT_NETWORK:
		return "network";
	case HTTP_RESULT_TOO_LARGE:
		return "too-large";
	case HTTP_RESULT_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

/*
 * OpenSSL's hashed directory loads only the certificates a handshake needs;
 * the bundle file is parsed whole (tens of ms per process).  Use the
 * directory when c_rehash links ("xxxxxxxx.0") are present.
 */
static int
http_ca_dir_is_hashed(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 i;
	int		 found = 0;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while (!found && (de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 10 ||
		    strcmp(de->d_name + 8, ".0") != 0)
			continue;
		for (i = 0; i < 8; i++) {
			if (strchr("0123456789abcdef", de->d_name[i]) == NULL)
				break;
		}
		found = i == 8;
	}
	closedir(d);
	return found;
}

/*
 * Like Go's ProxyFromEnvironment, which the original agent used: proxy
 * variables are honoured, but never for loopback destinations.  Setting
 * CURLOPT_NOPROXY replaces NO_PROXY, so carry that over.
 */
static char *
http_noproxy_list(void)
{
	const char	*env = getenv("NO_PROXY");
	char		*list;

	if (env == NULL || *env == '\0')
		env = getenv("no_proxy");
	if (env != NULL && *env != '\0')
		xasprintf(&list, "%s,localhost,127.0.0.0/8,::1", env);
	else
		list = xstrdup("localhost,127.0.0.0/8,::1");
	return list;
}

/* libevent -> curl: a watched socket became ready. */
static void
http_sock_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http	*http = arg;
	int		 flags = 0, running;

	if (events & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (events & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(http->multi, fd, flags, &running);
	http_check_done(http);
}

/* libevent -> curl: curl's timeout expired. */
static void
http_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http	*http = arg;
	int		 running;

	curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_check_done(http);
}

/* curl -> libevent: watch (or stop watching) a socket. */
static int
http_curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
	struct http	 *http = userp;
	struct http_sock *sock = socketp;
	short		  kind;

	if (what == CURL_POLL_REMOVE) {
		/* curl may remove a socket we never saw: tolerate it. */
		if (sock != NULL) {
			event_free(sock->ev);
			free(sock);
			curl_multi_assign(http->multi, s, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (sock == NULL) {
		sock = xcalloc(1, sizeof(*sock));
		sock->ev = event_new(http->base, s, kind, http_sock_cb, http);
		if (sock->ev == NULL)
			fatalx("event_new");
		curl_multi_assign(http->multi, s, sock);
	} else if (sock->what != what) {
		event_del(sock->ev);
		event_assign(sock->ev, http->base, s, kind, http_sock_cb, http);
	} else
		return 0;
	sock->what = what;
	event_add(sock->ev, NULL);
	return 0;
}

/* curl -> libevent: (re)arm the single multi timer. */
static int
http_curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http	*http = userp;

	if (timeout_ms < 0)
		evtimer_del(http->timer);
	else
		timer_add_ms(http->timer, timeout_ms);
	return 0;
}

struct http *
http_new(struct event_base *base, const struct http_options *opts)
{
	struct http	*http;

	http = xcalloc(1, sizeof(*http));
	http->base = base;
	TAILQ_INIT(&http->reqs);
	if (opts->ca_file != NULL)
		http->ca_file = xstrdup(opts->ca_file);
	http->user_agent = xstrdup(opts->user_agent);
	http->max_idle_sec = opts->max_idle_sec > 0 ? opts->max_idle_sec : 118;
	http->ca_dir_hashed = http_ca_dir_is_hashed(HTTP_SYSTEM_CA_DIR);
	http->noproxy = http_noproxy_list();

	if ((http->multi = curl_multi_init()) == NULL)
		fatalx("curl_multi_init");
	if ((http->share = curl_share_init()) == NULL)
		fatalx("curl_share_init");
	/* Single-threaded use: the share needs no lock callbacks. */
	curl_share_setopt(http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(http->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION);
	if ((http->timer = evtimer_new(base, http_timer_cb, http)) == NULL)
		fatalx("evtimer_new");
	curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION,
	    http_curl_socket_cb);
	curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
	curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION,
	    http_curl_timer_cb);
	curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
	curl_multi_setopt(http->multi, CURLMOPT_MAXCONNECTS, 4L);
	return http;
}

size_t
http_in_flight(const struct http *http)
{
	return http->nreqs;
}

struct http_req *
http_req_new(const char *method, const char *url)
{
	struct http_req	*req;

	req = xcalloc(1, sizeof(*req));
	req->method = xstrdup(method);
	req->url = xstrdup(url);
	req->max_response = HTTP_DEFAULT_MAX_RESPONSE;
	req->connect_ms = HTTP_DEFAULT_CONNECT_MS;
	req->total_ms = HTTP_DEFAULT_TOTAL_MS;
	buf_init(&req->response);
	return req;
}

void
http_req_header(struct http_req *req, const char *line)
{
	struct curl_slist	*l;

	if ((l = curl_slist_append(req->headers, line)) == NULL)
		fatalx("curl_slist_append");
	req->headers = l;
}

void
http_req_bearer(struct http_req *req, const char *token)
{
	freezero_str(req->bearer);
	xasprintf(&req->bearer, "Authorization: Bearer %s", token);
}

void
http_req_json_body(struct http_req *req, char *body, size_t len)
{
	free(req->body);
	req->body = body;
	req->body_len = len;
	http_req_header(req, "Content-Type: application/json");
}

void
http_req_max_response(struct http_req *req, size_t max)
{
	req->max_response = max;
}

void
http_req_timeouts(struct http_req *req, int64_t connect_ms, int64_t total_ms)
{
	req->connect_ms = connect_ms;
	req->total_ms = total_ms;
}

void
http_req_loopback_only(struct http_req *req)
{
	req->loopback_only = 1;
}

static void
http_req_free(struct http_req *req)
{
	struct curl_slist	*l;

	if (req == NULL)
		return;
	if (req->easy != NULL)
		curl_easy_cleanup(req->easy);
	/* Headers may hold the bearer line copy: wipe before freeing. */
	for (l = req->headers; l != NULL; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(req->headers);
	curl_slist_free_all(req->resolve);
	freezero_str(req->bearer);
	free(req->body);
	free(req->method);
	free(req->url);
	buf_free(&req->response);
	free(req);
}

static size_t
http_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_req	*req = arg;
	size_t		 n = size * nmemb;

	if (n > req->max_response - req->response.len) {
		req->too_large = 1;
		return 0;	/* aborts the transfer with CURLE_WRITE_ERROR */
	}
	buf_add(&req->response, data, n);
	return n;
}

static int
http_addr_is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	}
	return 0;
}

/* Refuses, before connect(2), any peer that is not a loopback address. */
static curl_socket_t
http_opensocket_cb(void *arg, curlsocktype purpose,
    struct curl_sockaddr *addr)
{
	struct http_req	*req = arg;

	if (req->loopback_only && !http_addr_is_loopback(&addr->addr)) {
		req->peer_refused = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype | SOCK_CLOEXEC,
	    addr->protocol);
}

/*
 * "localhost" means this host whatever /etc/hosts says: pin it to the
 * loopback addresses for the URL's port.
 */
static void
http_req_pin_localhost(struct http_req *req)
{
	CURLU	*u;
	char	*port = NULL, *entry;

	if ((u = curl_url()) == NULL)
		fatalx("curl_url");
	if (curl_url_set(u, CURLUPART_URL, req->url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
	    CURLUE_OK) {
		xasprintf(&entry, "localhost:%s:127.0.0.1,[::1]", port);
		req->resolve = curl_slist_append(req->resolve, entry);
		free(entry);
		curl_easy_setopt(req->easy, CURLOPT_RESOLVE, req->resolve);
	}
	curl_free(port);
	curl_url_cleanup(u);
}

static int
http_req_has_header(const struct http_req *req, const char *name)
{
	const struct curl_slist	*l;
	size_t			 n = strlen(name);

	for (l = req->headers; l != NULL; l = l->next) {
		if (strncasecmp(l->data, name, n) == 0 && l->data[n] == ':')
			return 1;
	}
	return 0;
}

/* curl -> OpenSSL: load -ca-file into the verify store next to the system's. */
static CURLcode
http_ssl_ctx_cb(CURL *easy, void *sslctx, void *arg)
{
	struct http	*http = arg;

	if (SSL_CTX_load_verify_locations(sslctx, http->ca_file, NULL) != 1)
		return CURLE_SSL_CACERT_BADFILE;
	return CURLE_OK;
}

static void
http_req_setup(struct http *http, struct http_req *req)
{
	CURL	*e = req->easy;

	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, req);
	curl_easy_setopt(e, CURLOPT_SHARE, http->share);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (http->ca_dir_hashed) {
		curl_easy_setopt(e, CURLOPT_CAPATH, HTTP_SYSTEM_CA_DIR);
		curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
	}
	if (http->ca_file != NULL) {
		/* -ca-file adds to the system's trust, whatever its form. */
		curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, http_ssl_ctx_cb);
		curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, http);
	}
	curl_easy_setopt(e, CURLOPT_USERAGENT, http->user_agent);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)req->connect_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->total_ms);
	curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, http->max_idle_sec);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)req->max_response);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, http_opensocket_cb);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, req);
	/* Drop curl's default headers we have no use for: bytes on the wire. */
	if (!http_req_has_header(req, "Accept"))
		http_req_header(req, "Accept:");
	http_req_header(req, "Expect:");
	if (req->bearer != NULL)
		http_req_header(req, req->bearer);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
	if (req->loopback_only) {
		/* An empty proxy string disables every proxy variable. */
		curl_easy_setopt(e, CURLOPT_PROXY, "");
		curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
		http_req_pin_localhost(req);
	} else
		curl_easy_setopt(e, CURLOPT_NOPROXY, http->noproxy);
	if (strcmp(req->method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS,
		    req->body != NULL ? req->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)req->body_len);
	} else if (strcmp(req->method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
}

static CURL *
http_easy_get(struct http *http)
{
	if (http->nidle > 0)
		return http->idle[--http->nidle];
	return curl_easy_init();
}

/* Back to the pool with every option reset, or freed when it is full. */
static void
http_easy_put(struct http *http, CURL *easy)
{
	if (http->nidle == HTTP_IDLE_HANDLES || http->closing) {
		curl_easy_cleanup(easy);
		return;
	}
	curl_easy_reset(easy);
	http->idle[http->nidle++] = easy;
}

int
http_req_start(struct http *http, struct http_req *req, http_done_cb cb,
    void *arg)
{
	if (http->closing || (req->easy = http_easy_get(http)) == NULL) {
		http_req_free(req);
		return -1;
	}
	req->http = http;
	req->cb = cb;
	req->arg = arg;
	http_req_setup(http, req);
	req->started_ms = now_mono_ms();
	if (curl_multi_add_handle(http->multi, req->easy) != CURLM_OK) {
		http_req_free(req);
		return -1;
	}
	TAILQ_INSERT_TAIL(&http->reqs, req, entry);
	http->nreqs++;
	return 0;
}

static void
http_classify(struct http_req *req, CURLcode rc, struct http_response *resp)
{
	long		 status = 0, connects = 0;
	curl_off_t	 retry_after = 0;

	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(req->easy, CURLINFO_NUM_CONNECTS, &connects);
	resp->status = status;
	resp->new_connection = connects > 0;
	resp->retry_after_ms = -1;
	if (curl_easy_getinfo(req->easy, CURLINFO_RETRY_AFTER,
	    &retry_after) == CURLE_OK && retry_after > 0)
		resp->retry_after_ms = (int64_t)retry_after * 1000;
	resp->error = req->errbuf;

	if (req->too_large || rc == CURLE_FILESIZE_EXCEEDED)
		resp->outcome = HTTP_RESULT_TOO_LARGE;
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		resp->outcome = HTTP_RESULT_TIMEOUT;
	else if (rc != CURLE_OK) {
		resp->outcome = HTTP_RESULT_NETWORK;
		if (req->peer_refused)
			resp->error = "refused: peer is not a loopback address";
		else if (req->errbuf[0] == '\0')
			resp->error = curl_easy_strerror(rc);
	} else if (status >= 200 && status < 300)
		resp->outcome = HTTP_RESULT_OK;
	else if (status >= 300 && status < 400)
		resp->outcome = HTTP_RESULT_REDIRECT;
	else
		resp->outcome = HTTP_RESULT_STATUS;
}

static void
http_finish(struct http *http, struct http_req *req, CURLcode rc,
    int cancelled)
{
	struct http_response	 resp;

	memset(&resp, 0, sizeof(resp));
	if (cancelled) {
		resp.outcome = HTTP_RESULT_CANCELLED;
		resp.retry_after_ms = -1;
		resp.error = "cancelled";
	} else
		http_classify(req, rc, &resp);
	resp.elapsed_ms = now_mono_ms() - req->started_ms;
	resp.body = req->response;
	curl_multi_remove_handle(http->multi, req->easy);
	TAILQ_REMOVE(&http->reqs, req, entry);
	http->nreqs--;
	if (req->cb != NULL)
		req->cb(&resp, req->arg);
	/* After the callback: resp.error may point into the handle. */
	http_easy_put(http, req->easy);
	req->easy = NULL;
	http_req_free(req);
}

static void
http_check_done(struct http *http)
{
	CURLMsg		*msg;
	struct http_req	*req;
	int		 left;

	while ((msg = curl_multi_info_read(http->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &req);
		http_finish(http, req, msg->data.result, 0);
	}
}

void
http_free(struct http *http)
{
	struct http_req	*req;

	if (http == NULL)
		return;
	http->closing = 1;
	while ((req = TAILQ_FIRST(&http->reqs)) != NULL)
		/* The analyzer loses TAILQ_REMOVE's head update. */
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		http_finish(http, req, CURLE_OK, 1);
	/* curl_multi_cleanup may call the socket callback: base still alive. */
	curl_multi_cleanup(http->multi);
	while (http->nidle > 0)
		curl_easy_cleanup(http->idle[--http->nidle]);
	curl_share_cleanup(http->share);
	event_free(http->timer);
	free(http->ca_file);
	free(http->user_agent);
	free(http->noproxy);
	free(http);
}
