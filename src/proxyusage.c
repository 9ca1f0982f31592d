/*
 * proxyusage: parse the three shapes a proxy-usage source may produce (the
 * Lattice snapshot, the {"snapshot":...} envelope, V2Ray/Xray stats), apply
 * the server's rules locally (int64 counters >= 0, trimmed ids summed,
 * 4096 users, ids the server would refuse left out) and build the report
 * bodies.  One bad id would make the server reject the whole snapshot, so
 * everything the server checks is checked here first, with an error that
 * names the id, while ids that can never be Lattice users are only dropped.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyusage.h"
#include "utf8.h"
#include "util.h"

/* Longest user id the server accepts, and the longest quoted in texts. */
#define ID_MAX		128
#define ID_QUOTE_MAX	64
#define QUOTE_BUF	(ID_QUOTE_MAX * 4 + 1)
/* Summary of dropped ids: stop listing past this many bytes. */
#define SUMMARY_SOFT	200
/* Numeric overflows rewritten to find the id; past that a plain error. */
#define OVERFLOW_TRIES	2
/*
 * What an integer above 2^63-1 is rewritten to before parsing again: a
 * value of the same length or shorter, padded with spaces, which no counter
 * can legally hold, so the normaliser meets it where the id is known.
 */
#define OVERFLOW_MARK	"{\"\":\"overflow\"}"

struct entry {
	char	*id;
	int64_t	 bytes;
	size_t	 seq;		/* first position in the input */
};

struct proxyusage_snapshot {
	struct entry	*users;		/* sorted by id */
	size_t		 nusers;
	char		**dropped;	/* sorted, unique */
	size_t		 ndropped;
	char		*summary;
	uint64_t	 fingerprint;
	int64_t		 core_uptime_sec;
	char		*at;		/* NULL: not given */
};

/* Parse state: collected (id, bytes) pairs in input order, and errbuf. */
struct pctx {
	struct entry	*v;
	size_t		 n;
	size_t		 cap;
	int		 marked;	/* OVERFLOW_MARK was substituted */
	int64_t		 core_uptime_sec;
	char		*at;
	char		*errbuf;
	size_t		 errlen;
};

static int	 pu_error(struct pctx *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	 seterr(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

const char *
proxyusage_source_name(enum proxyusage_source src)
{
	return src == PROXYUSAGE_FILE ? "file" : "http";
}

/* Write a cleaned, clamped text to errbuf (may be NULL); returns -1. */
static int
seterr_v(char *errbuf, size_t errlen, const char *fmt, va_list ap)
{
	char	 tmp[1024];
	size_t	 max;

	if (errbuf == NULL || errlen == 0)
		return -1;
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	max = errlen - 1 < PROXYUSAGE_ERROR_MAX ? errlen - 1 :
	    PROXYUSAGE_ERROR_MAX;
	utf8_clean_field(tmp, max);
	memcpy(errbuf, tmp, strlen(tmp) + 1);
	return -1;
}

static int
pu_error(struct pctx *p, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	seterr_v(p->errbuf, p->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int
seterr(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	seterr_v(errbuf, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* An id fit to quote in an error text: cleaned and at most 64 bytes. */
static const char *
quote_id(const char *id, char out[QUOTE_BUF])
{
	size_t	 n;

	n = strlen(id);
	if (n > QUOTE_BUF - 1)
		n = QUOTE_BUF - 1;
	memcpy(out, id, n);
	out[n] = '\0';
	utf8_clean_field(out, ID_QUOTE_MAX);
	return out;
}

/* The server's ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$, in ASCII only. */
static int
id_acceptable(const char *id)
{
	size_t	 i;

	if (!isalnum((unsigned char)id[0]) || (unsigned char)id[0] >= 0x80)
		return 0;
	for (i = 1; id[i] != '\0'; i++) {
		if (i >= ID_MAX)
			return 0;
		if ((unsigned char)id[i] >= 0x80)
			return 0;
		if (!isalnum((unsigned char)id[i]) && strchr("_.:-",
		    id[i]) == NULL)
			return 0;
	}
	return 1;
}

static int
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Digits at s[0..n) as a number, or -1. */
static int
digits(const char *s, size_t n)
{
	size_t	 i;
	int	 v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * RFC 3339 as Go's time.Parse(time.RFC3339) takes it: upper-case T and Z,
 * fields in range, the day existing in its month, optional fraction.
 */
static int
rfc3339_valid(const char *s)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int	 y, mo, d, h, mi, se, max;
	size_t	 i;

	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':')
		return 0;
	if ((y = digits(s, 4)) < 0 || (mo = digits(s + 5, 2)) < 1 ||
	    mo > 12 || (d = digits(s + 8, 2)) < 1 ||
	    (h = digits(s + 11, 2)) < 0 || h > 23 ||
	    (mi = digits(s + 14, 2)) < 0 || mi > 59 ||
	    (se = digits(s + 17, 2)) < 0 || se > 59)
		return 0;
	max = mdays[mo - 1] + (mo == 2 && is_leap(y));
	if (d > max)
		return 0;
	s += 19;
	if (*s == '.') {
		for (i = 1; s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == 1 || i > 10)
			return 0;
		s += i;
	}
	if (strcmp(s, "Z") == 0)
		return 1;
	if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || s[3] != ':')
		return 0;
	h = digits(s + 1, 2);
	mi = digits(s + 4, 2);
	return h >= 0 && h <= 23 && mi >= 0 && mi <= 59;
}

/*
 * The JSON string literal that ends just before text[end], decoded by
 * jansson; NULL if there is none.  Used to name a duplicate key.
 */
static char *
string_before(const char *text, size_t end)
{
	json_t	*j;
	char	*s = NULL;
	size_t	 k, bs;

	if (end < 2 || text[end - 1] != '"')
		return NULL;
	for (k = end - 1; k-- > 0;) {
		if (text[k] != '"')
			continue;
		for (bs = 0; bs < k && text[k - 1 - bs] == '\\'; bs++)
			;
		if (bs % 2 == 0)
			break;
	}
	if (k == (size_t)-1)
		return NULL;
	j = json_loadb(text + k, end - k, JSON_DECODE_ANY, NULL);
	if (json_is_string(j))
		s = xstrdup(json_string_value(j));
	json_decref(j);
	return s;
}

/*
 * Rewrite the number that ends at copy[end] (jansson's position of a
 * numeric overflow) so that parsing again gets past it and the normaliser
 * reports it: a real becomes 0.5 (not an integer), a negative -1, a big
 * positive integer OVERFLOW_MARK.  Returns -1 if the token is not found.
 */
static int
mark_overflow(char *copy, size_t len, size_t end)
{
	const char	*repl;
	size_t		 start, n;

	if (end > len)
		return -1;
	for (start = end; start > 0 &&
	    strchr("0123456789+-.eE", copy[start - 1]) != NULL &&
	    copy[start - 1] != '\0'; start--)
		;
	n = end - start;
	if (n == 0)
		return -1;
	if (memchr(copy + start, '.', n) != NULL ||
	    memchr(copy + start, 'e', n) != NULL ||
	    memchr(copy + start, 'E', n) != NULL)
		repl = "0.5";
	else if (copy[start] == '-')
		repl = "-1";
	else
		repl = OVERFLOW_MARK;
	if (strlen(repl) > n)
		return -1;
	memset(copy + start, ' ', n);
	memcpy(copy + start, repl, strlen(repl));
	return 0;
}

/* Parse the whole text as one JSON object or array, nothing after it. */
static json_t *
load_json(struct pctx *p, const char *text, size_t len)
{
	json_error_t	 e;
	json_t		*root = NULL;
	const char	*src = text;
	char		*copy = NULL, *key;
	int		 tries;

	for (tries = 0;; tries++) {
		root = json_loadb(src, len, JSON_REJECT_DUPLICATES, &e);
		if (root != NULL)
			break;
		if (json_error_code(&e) == json_error_duplicate_key &&
		    e.position >= 0 &&
		    (key = string_before(src, (size_t)e.position)) != NULL) {
			char	 q[QUOTE_BUF];

			pu_error(p, "invalid JSON: duplicate key \"%s\"",
			    quote_id(key, q));
			free(key);
			break;
		}
		if (json_error_code(&e) != json_error_numeric_overflow ||
		    tries == OVERFLOW_TRIES || e.position < 0) {
			pu_error(p, "invalid JSON: %s (line %d, column %d)",
			    e.text, e.line, e.column);
			break;
		}
		if (copy == NULL) {
			copy = xmalloc(len);
			memcpy(copy, text, len);
			src = copy;
		}
		if (mark_overflow(copy, len, (size_t)e.position) == -1) {
			pu_error(p, "invalid JSON: %s (line %d, column %d)",
			    e.text, e.line, e.column);
			break;
		}
		p->marked = 1;
	}
	free(copy);
	return root;
}

/* Decimal digits only, as protobuf JSON writes an int64. */
static int
parse_int64_string(const char *s, int64_t *ret, int *ret_negative)
{
	int64_t	 v = 0;
	size_t	 i = 0;
	int	 neg = 0;

	if (s[0] == '-') {
		neg = 1;
		i++;
	}
	if (s[i] == '\0')
		return -1;
	for (; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (INT64_MAX - (s[i] - '0')) / 10) {
			v = -1;		/* too big, however many digits */
			continue;
		}
		if (v >= 0)
			v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	*ret_negative = neg;
	return 0;
}

static int
is_overflow_mark(const struct pctx *p, json_t *v)
{
	return p->marked && json_is_object(v) && json_object_size(v) == 1 &&
	    json_is_string(json_object_get(v, "")) &&
	    strcmp(json_string_value(json_object_get(v, "")), "overflow") == 0;
}

/*
 * A counter: a JSON integer >= 0, or in the stat shape (strings_ok) a
 * string holding one; NULL (no "value" key) is 0.  `what` names it in
 * errors.
 */
static int
get_counter(struct pctx *p, json_t *v, int strings_ok, const char *what,
    int64_t *ret)
{
	int64_t	 n;
	int	 neg;

	if (v == NULL) {
		*ret = 0;	/* omitted zero counter (Xray >= 1.8.24) */
		return 0;
	}
	if (json_is_integer(v)) {
		n = json_integer_value(v);
		if (n < 0)
			return pu_error(p, "%s: negative counter", what);
		*ret = n;
		return 0;
	}
	if (is_overflow_mark(p, v))
		return pu_error(p, "%s: counter above 2^63-1", what);
	if (strings_ok && json_is_string(v) &&
	    parse_int64_string(json_string_value(v), &n, &neg) == 0) {
		if (neg)
			return pu_error(p, "%s: negative counter", what);
		if (n < 0)
			return pu_error(p, "%s: counter above 2^63-1", what);
		*ret = n;
		return 0;
	}
	return pu_error(p, "%s: counter is not an integer", what);
}

/* Trim the id, refuse it empty, check its counter, keep the pair. */
static int
add_user(struct pctx *p, const char *raw, size_t rawlen, json_t *v,
    int strings_ok)
{
	char	*id, what[QUOTE_BUF + 16], q[QUOTE_BUF];
	int64_t	 bytes;

	id = xstrndup(raw, rawlen);
	strtrim(id);
	if (*id == '\0') {
		free(id);
		return pu_error(p, "empty user id");
	}
	snprintf(what, sizeof(what), "user \"%s\"", quote_id(id, q));
	if (get_counter(p, v, strings_ok, what, &bytes) == -1) {
		free(id);
		return -1;
	}
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->v = xreallocarray(p->v, p->cap, sizeof(*p->v));
	}
	p->v[p->n].id = id;
	/* get_counter() set it: pu_error() always returns -1. */
	/* NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Assign) */
	p->v[p->n].bytes = bytes;
	p->v[p->n].seq = p->n;
	p->n++;
	return 0;
}

/* core_uptime_sec and at, wherever the shape keeps them. */
static int
parse_common(struct pctx *p, json_t *obj)
{
	json_t	*v;

	v = json_object_get(obj, "core_uptime_sec");
	if (v != NULL && !json_is_null(v) && get_counter(p, v, 0,
	    "core_uptime_sec", &p->core_uptime_sec) == -1)
		return -1;
	v = json_object_get(obj, "at");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || !rfc3339_valid(json_string_value(v)))
			return pu_error(p, "\"at\" is not an RFC 3339 time");
		p->at = xstrdup(json_string_value(v));
	}
	return 0;
}

static int
parse_snapshot(struct pctx *p, json_t *obj, int file)
{
	static const char	*known[] = { "node_id", "at", "core_uptime_sec",
	    "user_bytes" };
	const char		*key;
	json_t			*ub, *v;
	size_t			 i;

	if (json_object_size(obj) == 0)
		return 0;	/* Xray's "{}": nothing counted yet */
	for (i = 0; i < nitems(known); i++)
		if (json_object_get(obj, known[i]) != NULL)
			break;
	if (i == nitems(known)) {
		if (file && (json_object_get(obj, "stat") != NULL ||
		    json_object_get(obj, "snapshot") != NULL))
			return pu_error(p, "no known field: the stat and "
			    "snapshot shapes are taken from the HTTP source "
			    "only");
		return pu_error(p, "no known field (user_bytes, "
		    "core_uptime_sec, at)");
	}
	if (parse_common(p, obj) == -1)
		return -1;
	ub = json_object_get(obj, "user_bytes");
	if (ub == NULL || json_is_null(ub))
		return 0;
	if (!json_is_object(ub))
		return pu_error(p, "\"user_bytes\" is not an object");
	json_object_foreach(ub, key, v) {
		if (add_user(p, key, strlen(key), v, 0) == -1)
			return -1;
	}
	return 0;
}

/* The id in "user>>>ID>>>traffic>>>uplink|downlink", or NULL. */
static const char *
stat_user(const char *name, size_t len, size_t *ret_len)
{
	static const char	*suffixes[] = { ">>>traffic>>>uplink",
	    ">>>traffic>>>downlink" };
	const char		*prefix = "user>>>";
	size_t			 i, pl = strlen(prefix), sl;

	if (len < pl || strncmp(name, prefix, pl) != 0)
		return NULL;
	for (i = 0; i < nitems(suffixes); i++) {
		sl = strlen(suffixes[i]);
		if (len >= pl + sl &&
		    memcmp(name + len - sl, suffixes[i], sl) == 0) {
			*ret_len = len - pl - sl;
			return name + pl;
		}
	}
	return NULL;
}

static int
parse_stat(struct pctx *p, json_t *root, json_t *stat)
{
	json_t		*e, *name, *value;
	const char	*id;
	size_t		 i, idlen;

	if (parse_common(p, root) == -1)
		return -1;
	if (json_is_null(stat))
		return 0;
	if (!json_is_array(stat))
		return pu_error(p, "\"stat\" is not an array");
	json_array_foreach(stat, i, e) {
		if (!json_is_object(e))
			return pu_error(p, "\"stat\" entry %zu is not an "
			    "object", i);
		name = json_object_get(e, "name");
		if (name == NULL)
			continue;	/* an empty name, omitted */
		if (!json_is_string(name))
			return pu_error(p, "\"stat\" entry %zu: name is not a "
			    "string", i);
		id = stat_user(json_string_value(name),
		    json_string_length(name), &idlen);
		if (id == NULL)
			continue;	/* inbound>>>, outbound>>>, ... */
		value = json_object_get(e, "value");
		if (add_user(p, id, idlen, value, 1) == -1)
			return -1;
	}
	return 0;
}

static int
entry_cmp_id(const void *a, const void *b)
{
	const struct entry	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->id, y->id)) != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
entry_cmp_seq(const void *a, const void *b)
{
	const struct entry	*x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* FNV-1a over the sorted ids, each ended by a NUL; never 0 for a set. */
static uint64_t
fingerprint(char **ids, size_t n)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;
	size_t		 i, k;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		for (k = 0; k == 0 || ids[i][k - 1] != '\0'; k++) {
			h ^= (unsigned char)ids[i][k];
			h *= 0x100000001b3ULL;
		}
	return h == 0 ? 1 : h;
}

static char *
summarise(char **ids, size_t n)
{
	struct buf	 b;
	char		 q[QUOTE_BUF];
	size_t		 i;

	buf_init(&b);
	for (i = 0; i < n && b.len < SUMMARY_SOFT; i++) {
		if (i > 0)
			buf_add_str(&b, ", ");
		buf_add_str(&b, quote_id(ids[i], q));
	}
	if (i < n)
		buf_printf(&b, " (+%zu more)", n - i);
	return buf_steal(&b, NULL);
}

/*
 * Sort, sum duplicates, split off the ids the server would refuse and
 * check the user limit.  Takes the entries out of p on success.
 */
static int
finish(struct pctx *p, struct proxyusage_snapshot *s)
{
	char	 q[QUOTE_BUF];
	size_t	 i, n = 0, nk;

	if (p->n > 0)
		qsort(p->v, p->n, sizeof(*p->v), entry_cmp_id);
	for (i = 0; i < p->n; i++) {
		if (n > 0 && strcmp(p->v[n - 1].id, p->v[i].id) == 0) {
			if (p->v[i].bytes > INT64_MAX - p->v[n - 1].bytes)
				return pu_error(p, "user \"%s\": total above "
				    "2^63-1", quote_id(p->v[i].id, q));
			p->v[n - 1].bytes += p->v[i].bytes;
			free(p->v[i].id);
			p->v[i].id = NULL;
			continue;	/* the first has the lower seq */
		}
		p->v[n] = p->v[i];
		if (n++ != i)
			p->v[i].id = NULL;	/* moved, owned once */
	}
	p->n = n;

	s->users = xcalloc(n + 1, sizeof(*s->users));
	s->dropped = xcalloc(n + 1, sizeof(*s->dropped));
	for (i = 0; i < n; i++) {
		if (id_acceptable(p->v[i].id))
			s->users[s->nusers++] = p->v[i];
		else
			s->dropped[s->ndropped++] = p->v[i].id;
	}
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;

	if (s->nusers > PROXYUSAGE_MAX_USERS) {
		/* Name the first user past the limit, in input order. */
		nk = s->nusers;
		qsort(s->users, nk, sizeof(*s->users), entry_cmp_seq);
		pu_error(p, "more than %d users (%zu), first past the limit "
		    "\"%s\"", PROXYUSAGE_MAX_USERS, nk,
		    quote_id(s->users[PROXYUSAGE_MAX_USERS].id, q));
		return -1;
	}
	s->summary = summarise(s->dropped, s->ndropped);
	s->fingerprint = fingerprint(s->dropped, s->ndropped);
	s->core_uptime_sec = p->core_uptime_sec;
	s->at = p->at;
	p->at = NULL;
	return 0;
}

int
proxyusage_parse(const char *text, size_t len, enum proxyusage_source src,
    struct proxyusage_snapshot **ret_snap, char *errbuf, size_t errlen)
{
	struct pctx			 p;
	struct proxyusage_snapshot	*s = NULL;
	json_t				*root, *stat, *snap, *ub;
	size_t				 i;
	int				 r = -1;

	memset(&p, 0, sizeof(p));
	p.errbuf = errbuf;
	p.errlen = errlen;
	if ((root = load_json(&p, text, len)) == NULL)
		return -1;
	if (!json_is_object(root)) {
		pu_error(&p, "not a JSON object");
		goto out_root;
	}
	stat = json_object_get(root, "stat");
	snap = json_object_get(root, "snapshot");
	ub = json_object_get(root, "user_bytes");
	if (src == PROXYUSAGE_FILE)
		r = parse_snapshot(&p, root, 1);
	else if ((stat != NULL) + (snap != NULL) + (ub != NULL) > 1)
		pu_error(&p, "more than one of stat, snapshot, user_bytes");
	else if (stat != NULL)
		r = parse_stat(&p, root, stat);
	else if (snap != NULL && !json_is_object(snap))
		pu_error(&p, "\"snapshot\" is not an object");
	else
		r = parse_snapshot(&p, snap != NULL ? snap : root, 0);
	if (r == -1)
		goto out_entries;

	s = xcalloc(1, sizeof(*s));
	if ((r = finish(&p, s)) == -1) {
		proxyusage_snapshot_free(s);
		goto out_entries;
	}
	*ret_snap = s;

out_entries:
	for (i = 0; i < p.n; i++)
		free(p.v[i].id);
	free(p.v);
	free(p.at);
out_root:
	json_decref(root);
	return r;
}

void
proxyusage_snapshot_free(struct proxyusage_snapshot *s)
{
	size_t	 i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nusers; i++)
		free(s->users[i].id);
	free(s->users);
	for (i = 0; i < s->ndropped; i++)
		free(s->dropped[i]);
	free(s->dropped);
	free(s->summary);
	free(s->at);
	free(s);
}

size_t
proxyusage_user_count(const struct proxyusage_snapshot *s)
{
	return s->nusers;
}

size_t
proxyusage_dropped_count(const struct proxyusage_snapshot *s)
{
	return s->ndropped;
}

const char *
proxyusage_dropped_summary(const struct proxyusage_snapshot *s)
{
	return s->summary;
}

uint64_t
proxyusage_dropped_fingerprint(const struct proxyusage_snapshot *s)
{
	return s->fingerprint;
}

/* {"node_id":..., "snapshot":{"node_id":..., "at":...}}; returns inner. */
static json_t *
report_new(const char *node_id, const char *at, json_t **ret_inner)
{
	json_t	*body, *inner;

	body = json_object();
	inner = json_object();
	json_object_set_new(body, "node_id", json_string(node_id));
	json_object_set_new(body, "snapshot", inner);
	json_object_set_new(inner, "node_id", json_string(node_id));
	json_object_set_new(inner, "at", json_string(at));
	*ret_inner = inner;
	return body;
}

json_t *
proxyusage_report_ok(const struct proxyusage_snapshot *s,
    const char *node_id, enum proxyusage_source src, time_t now)
{
	json_t	*body, *inner, *ub;
	char	 ts[RFC3339_LEN];
	size_t	 i;

	fmt_rfc3339(ts, now);
	body = report_new(node_id, s->at != NULL ? s->at : ts, &inner);
	json_object_set_new(inner, "core_uptime_sec",
	    json_integer(s->core_uptime_sec));
	ub = json_object();
	for (i = 0; i < s->nusers; i++)
		json_object_set_new(ub, s->users[i].id,
		    json_integer(s->users[i].bytes));
	json_object_set_new(inner, "user_bytes", ub);
	json_object_set_new(inner, "collector_source",
	    json_string(proxyusage_source_name(src)));
	json_object_set_new(inner, "collector_status", json_string("ok"));
	json_object_set_new(inner, "collector_checked_at", json_string(ts));
	return body;
}

json_t *
proxyusage_report_error(const char *node_id, enum proxyusage_source src,
    const char *error, time_t now)
{
	json_t	*body, *inner;
	char	 ts[RFC3339_LEN], *e;

	fmt_rfc3339(ts, now);
	body = report_new(node_id, ts, &inner);
	e = xstrdup(error != NULL ? error : "");
	utf8_clean_field(e, PROXYUSAGE_ERROR_MAX);
	json_object_set_new(inner, "collector_source",
	    json_string(proxyusage_source_name(src)));
	json_object_set_new(inner, "collector_status", json_string("error"));
	json_object_set_new(inner, "collector_error",
	    json_string(*e != '\0' ? e : "unknown error"));
	json_object_set_new(inner, "collector_checked_at", json_string(ts));
	free(e);
	return body;
}

int
proxyusage_read_file(const char *path, char **ret_text, size_t *ret_len,
    char *errbuf, size_t errlen)
{
	char	*text;
	size_t	 len;

	if ((text = read_small_file(path, PROXYUSAGE_MAX_INPUT, &len)) ==
	    NULL) {
		if (errno == EINVAL)
			return seterr(errbuf, errlen, "usage file: not a "
			    "regular file");
		if (errno == EFBIG)
			return seterr(errbuf, errlen, "usage file: larger "
			    "than 1 MiB");
		return seterr(errbuf, errlen, "usage file: %s",
		    strerror(errno));
	}
	*ret_text = text;
	*ret_len = len;
	return 0;
}
