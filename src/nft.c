/*
 * The --update-nft-domain-set one-shot mode.  Firewall scripts rendered by
 * the server allow their own control plane by address; this mode refreshes
 * the allowed addresses from DNS right after an nft change and the script
 * rolls back when it exits non-zero.  So it must never half-apply: all sets
 * are flushed and refilled in one `nft -f -` batch, which nft commits as a
 * single netlink transaction or not at all.  Resolution runs on the event
 * loop (resolve.c) and nft runs through the child module, never a shell.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "log.h"
#include "nft.h"
#include "resolve.h"
#include "utf8.h"
#include "util.h"

#define NFT_RESOLVE_TIMEOUT_MS	10000
#define NFT_CHILD_TIMEOUT_MS	10000
#define NFT_CHILD_GRACE_MS	1000
#define NFT_STDERR_CAP		8192
#define NFT_STDOUT_CAP		4096
#define NFT_ERRMSG_MAX		512	/* nft's stderr kept in our message */
#define NFT_ECHO_MAX		64	/* outside input echoed in a message */
#define NFT_NAME_MAX		64
#define NFT_PATH		"PATH=" CHILD_PATH

/* One run of the mode: everything it owns. */
struct nft_run {
	struct event_base	*base;
	const struct nft_args	*args;
	const char		*bin;
	char			 host[NFT_HOST_SIZE];
	struct evdns_base	*dns;
	struct resolve_req	*req;
	struct child		*child;
	struct resolve_addrs	 addrs;
	struct buf		 batch;
	int			 done;
	int			 status;
	char			 errbuf[1024];
};

static int
nft_is_space(int c)
{
	return (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\f' || c == '\v');
}

/* Copy outside input into a message safely: printable ASCII, clamped. */
static void
nft_echo(char *out, size_t outlen, const char *s)
{
	size_t	 i, n = 0;

	for (i = 0; s[i] != '\0' && n + 4 < outlen; i++) {
		if (i == NFT_ECHO_MAX) {
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		out[n++] = (s[i] > 0x20 && s[i] < 0x7f && s[i] != '"' &&
		    s[i] != '\\') ? s[i] : '?';
	}
	out[n] = '\0';
}

static int
nft_label_char(int c)
{
	return ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
}

int
nft_host_normalise(const char *host, char *ret_host, char *errbuf,
    size_t errlen)
{
	char		 h[NFT_HOST_SIZE + 1], echo[NFT_ECHO_MAX + 8];
	char		 canon[INET6_ADDRSTRLEN];
	const char	*s, *e, *label;
	size_t		 len, i, llen, nlabel;
	struct in_addr	 in4;
	struct in6_addr	 in6;
	int		 digits_only = 0;

	if (host == NULL)
		host = "";
	for (s = host; nft_is_space((unsigned char)*s); s++)
		;
	for (e = s + strlen(s); e > s && nft_is_space((unsigned char)e[-1]);
	    e--)
		;
	len = e - s;
	if (len == 0) {
		snprintf(errbuf, errlen, "-host is required: the control "
		    "plane's host name to resolve");
		return (-1);
	}
	nft_echo(echo, sizeof(echo), s);
	if (len > NFT_HOST_SIZE) {	/* 253 plus one trailing dot */
		snprintf(errbuf, errlen, "-host \"%s\" is longer than 253 "
		    "characters", echo);
		return (-1);
	}
	for (i = 0; i < len; i++) {
		unsigned char	c = s[i];

		h[i] = (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
	}
	h[len] = '\0';

	if (strchr(h, ':') != NULL) {
		if (inet_pton(AF_INET6, h, &in6) != 1 ||
		    inet_ntop(AF_INET6, &in6, canon, sizeof(canon)) == NULL) {
			snprintf(errbuf, errlen, "-host \"%s\" is not a valid "
			    "IPv6 address or host name", echo);
			return (-1);
		}
		strcpy(ret_host, canon);
		return (0);
	}
	if (h[len - 1] == '.')
		h[--len] = '\0';
	if (len == 0 || len > NFT_HOST_SIZE - 1) {
		snprintf(errbuf, errlen, "-host \"%s\" is not a valid host "
		    "name: %s", echo, len == 0 ? "empty" :
		    "longer than 253 characters");
		return (-1);
	}
	if (inet_pton(AF_INET, h, &in4) == 1) {
		if (inet_ntop(AF_INET, &in4, canon, sizeof(canon)) == NULL)
			return (-1);
		strcpy(ret_host, canon);
		return (0);
	}

	label = h;
	nlabel = 0;
	for (i = 0; i <= len; i++) {
		unsigned char	c = h[i];

		if (c != '.' && c != '\0') {
			if (!nft_label_char(c)) {
				if (c > 0x20 && c < 0x7f)
					snprintf(errbuf, errlen, "-host \"%s\" "
					    "is not a valid host name: '%c' is "
					    "not allowed (letters, digits, "
					    "hyphens and dots only)", echo, c);
				else
					snprintf(errbuf, errlen, "-host \"%s\" "
					    "is not a valid host name: byte "
					    "0x%02x is not allowed", echo, c);
				return (-1);
			}
			continue;
		}
		llen = &h[i] - label;
		nlabel++;
		if (llen == 0 || llen > 63) {
			snprintf(errbuf, errlen, "-host \"%s\" is not a valid "
			    "host name: label %zu is %s", echo, nlabel,
			    llen == 0 ? "empty" : "longer than 63 characters");
			return (-1);
		}
		if (label[0] == '-' || label[llen - 1] == '-') {
			snprintf(errbuf, errlen, "-host \"%s\" is not a valid "
			    "host name: label %zu starts or ends with a "
			    "hyphen", echo, nlabel);
			return (-1);
		}
		digits_only = strspn(label, "0123456789") >= llen;
		label = &h[i + 1];
	}
	if (digits_only) {
		/* "1.2.3", "2130706433", "010.0.0.1": not names, not IPs. */
		snprintf(errbuf, errlen, "-host \"%s\" is neither a valid IPv4 "
		    "address nor a host name (its last label is numeric)",
		    echo);
		return (-1);
	}
	memcpy(ret_host, h, len + 1);
	return (0);
}

int
nft_family_valid(const char *family)
{
	return (family != NULL && (strcmp(family, "inet") == 0 ||
	    strcmp(family, "ip") == 0 || strcmp(family, "ip6") == 0));
}

int
nft_name_valid(const char *name)
{
	size_t	 i;

	if (name == NULL || name[0] == '\0' || (name[0] >= '0' &&
	    name[0] <= '9'))
		return (0);
	for (i = 0; name[i] != '\0'; i++) {
		unsigned char	c = name[i];

		if (i >= NFT_NAME_MAX)
			return (0);
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_'))
			return (0);
	}
	return (1);
}

static int
nft_given(const char *s)
{
	return (s != NULL && s[0] != '\0');
}

static int
nft_check_name(const char *flag, const char *what, const char *name,
    char *errbuf, size_t errlen)
{
	char	 echo[NFT_ECHO_MAX + 8];

	if (nft_name_valid(name))
		return (0);
	nft_echo(echo, sizeof(echo), name);
	snprintf(errbuf, errlen, "%s \"%s\" is not a valid nft %s name: use "
	    "letters, digits and '_', not starting with a digit, at most 64 "
	    "characters", flag, echo, what);
	return (-1);
}

int
nft_validate(const struct nft_args *a, char *ret_host, char *errbuf,
    size_t errlen)
{
	char		 host[NFT_HOST_SIZE], echo[NFT_ECHO_MAX + 8];
	const char	*family = a->family != NULL ? a->family :
			    NFT_DEFAULT_FAMILY;
	size_t		 i;

	if (nft_host_normalise(a->host, host, errbuf, errlen) == -1)
		return (-1);
	if (!nft_family_valid(family)) {
		nft_echo(echo, sizeof(echo), family);
		snprintf(errbuf, errlen, "-family \"%s\" is not valid: use "
		    "inet, ip or ip6", echo);
		return (-1);
	}
	if (!nft_given(a->table)) {
		snprintf(errbuf, errlen, "-table is required: the nft table "
		    "that holds the sets");
		return (-1);
	}
	if (nft_check_name("-table", "table", a->table, errbuf, errlen) == -1)
		return (-1);
	if (!nft_given(a->set) && !nft_given(a->set6)) {
		snprintf(errbuf, errlen, "no set given: pass -set (IPv4 set), "
		    "-set6 (IPv6 set) or both");
		return (-1);
	}
	if (nft_given(a->set) &&
	    nft_check_name("-set", "set", a->set, errbuf, errlen) == -1)
		return (-1);
	if (nft_given(a->set6) &&
	    nft_check_name("-set6", "set", a->set6, errbuf, errlen) == -1)
		return (-1);
	if (nft_given(a->set) && strcmp(family, "ip6") == 0) {
		snprintf(errbuf, errlen, "-set is an IPv4 set and needs "
		    "-family inet or ip, not ip6");
		return (-1);
	}
	if (nft_given(a->set6) && strcmp(family, "ip") == 0) {
		snprintf(errbuf, errlen, "-set6 is an IPv6 set and needs "
		    "-family inet or ip6, not ip");
		return (-1);
	}
	if (nft_given(a->set) && nft_given(a->set6) &&
	    strcmp(a->set, a->set6) == 0) {
		snprintf(errbuf, errlen, "-set and -set6 both name \"%s\": "
		    "the IPv4 and IPv6 sets must be different sets", a->set);
		return (-1);
	}
	if (a->nft_bin != NULL) {
		for (i = 0; a->nft_bin[i] != '\0'; i++)
			if ((unsigned char)a->nft_bin[i] < 0x20 ||
			    a->nft_bin[i] == 0x7f)
				break;
		if (a->nft_bin[0] != '/' || a->nft_bin[i] != '\0' ||
		    i >= 4096) {
			snprintf(errbuf, errlen, "-nft (LATTICE_NFT) must be "
			    "the absolute path of the nft binary");
			return (-1);
		}
	}
	memcpy(ret_host, host, strlen(host) + 1);
	return (0);
}

static int
nft_cmp4(const void *a, const void *b)
{
	return (memcmp(a, b, sizeof(struct in_addr)));
}

static int
nft_cmp6(const void *a, const void *b)
{
	return (memcmp(a, b, sizeof(struct in6_addr)));
}

/* Sort n elements of size sz and squeeze out duplicates; new count. */
static size_t
nft_sort_unique(void *base, size_t n, size_t sz,
    int (*cmp)(const void *, const void *))
{
	unsigned char	*p = base;
	size_t		 i, out;

	if (n < 2)
		return (n);
	qsort(p, n, sz, cmp);
	for (i = 1, out = 1; i < n; i++) {
		if (cmp(p + (out - 1) * sz, p + i * sz) == 0)
			continue;
		if (out != i)
			memcpy(p + out * sz, p + i * sz, sz);
		out++;
	}
	return (out);
}

void
nft_addrs_canon(struct resolve_addrs *a)
{
	a->n4 = nft_sort_unique(a->v4, a->n4, sizeof(*a->v4), nft_cmp4);
	a->n6 = nft_sort_unique(a->v6, a->n6, sizeof(*a->v6), nft_cmp6);
}

int
nft_check_answers(const struct nft_args *a, const char *host,
    const struct resolve_addrs *addrs, char *errbuf, size_t errlen)
{
	int	 want4 = nft_given(a->set), want6 = nft_given(a->set6);

	if (want4 && want6) {
		if (addrs->n4 + addrs->n6 > 0)
			return (0);
		snprintf(errbuf, errlen, "%s has no IPv4 (A) or IPv6 (AAAA) "
		    "address; sets left unchanged", host);
		return (-1);
	}
	if (want4 && addrs->n4 == 0) {
		snprintf(errbuf, errlen, "%s has no IPv4 (A) address for "
		    "-set%s; set left unchanged", host, addrs->n6 > 0 ?
		    " (only IPv6 answers: pass -set6 to use them)" : "");
		return (-1);
	}
	if (want6 && addrs->n6 == 0) {
		snprintf(errbuf, errlen, "%s has no IPv6 (AAAA) address for "
		    "-set6%s; set left unchanged", host, addrs->n4 > 0 ?
		    " (only IPv4 answers: pass -set to use them)" : "");
		return (-1);
	}
	return (0);
}

static void
nft_batch_set(struct buf *out, const char *family, const char *table,
    const char *set, int af, const void *addrs, size_t n)
{
	char		 s[INET6_ADDRSTRLEN];
	size_t		 i, sz = af == AF_INET ? sizeof(struct in_addr) :
			    sizeof(struct in6_addr);

	buf_printf(out, "flush set %s %s %s\n", family, table, set);
	if (n == 0)
		return;
	buf_printf(out, "add element %s %s %s { ", family, table, set);
	for (i = 0; i < n; i++) {
		if (inet_ntop(af, (const unsigned char *)addrs + i * sz, s,
		    sizeof(s)) == NULL)
			continue;	/* cannot happen with these sizes */
		buf_printf(out, "%s%s", i > 0 ? ", " : "", s);
	}
	buf_add_str(out, " }\n");
}

void
nft_batch(struct buf *out, const struct nft_args *a,
    const struct resolve_addrs *addrs)
{
	const char	*family = a->family != NULL ? a->family :
			    NFT_DEFAULT_FAMILY;

	if (nft_given(a->set))
		nft_batch_set(out, family, a->table, a->set, AF_INET,
		    addrs->v4, addrs->n4);
	if (nft_given(a->set6))
		nft_batch_set(out, family, a->table, a->set6, AF_INET6,
		    addrs->v6, addrs->n6);
}

static void
nft_fail(struct nft_run *run, int status)
{
	run->status = status;
	run->done = 1;
}

/* nft's stderr as one bounded, printable line. */
static void
nft_stderr_line(char *out, size_t outlen, const struct buf *err)
{
	struct buf	 clean;

	buf_init(&clean);
	utf8_sanitize(&clean, err->data != NULL ? err->data : "", err->len);
	utf8_clean_field(clean.data, NFT_ERRMSG_MAX);
	snprintf(out, outlen, "%s", clean.data[0] != '\0' ? clean.data :
	    "(no message)");
	buf_free(&clean);
}

static void
nft_child_done(struct nft_run *run, struct child_result *res)
{
	char	 msg[NFT_ERRMSG_MAX + 8];

	switch (res->end) {
	case CHILD_EXITED:
		if (res->exit_code == 0) {
			run->status = NFT_EXIT_OK;
			break;
		}
		nft_stderr_line(msg, sizeof(msg), &res->err);
		snprintf(run->errbuf, sizeof(run->errbuf), "%s failed (exit "
		    "%d), no set was changed: %s", run->bin, res->exit_code,
		    msg);
		run->status = NFT_EXIT_FAIL;
		break;
	case CHILD_SIGNALED:
		snprintf(run->errbuf, sizeof(run->errbuf), "%s killed by "
		    "signal %d; the sets may or may not have changed",
		    run->bin, res->signo);
		run->status = NFT_EXIT_FAIL;
		break;
	case CHILD_TIMED_OUT:
	case CHILD_KILLED:
		snprintf(run->errbuf, sizeof(run->errbuf), "%s did not finish "
		    "within %d s and was killed; the sets may or may not have "
		    "changed", run->bin, NFT_CHILD_TIMEOUT_MS / 1000);
		run->status = NFT_EXIT_FAIL;
		break;
	case CHILD_SPAWN_FAILED:
		snprintf(run->errbuf, sizeof(run->errbuf), "cannot run %s: "
		    "%s: %s", run->bin, res->spawn_step != NULL ?
		    res->spawn_step : "spawn", strerror(res->spawn_errno));
		run->status = NFT_EXIT_FAIL;
		break;
	}
	run->done = 1;
}

static void
nft_child_cb(struct child *c, struct child_result *res, void *arg)
{
	nft_child_done(arg, res);
}

static void
nft_apply(struct nft_run *run)
{
	const char		*argv[] = { run->bin, "-f", "-", NULL };
	const char		*envp[] = { NFT_PATH, NULL };
	struct child_spec	 spec;

	nft_batch(&run->batch, run->args, &run->addrs);
	log_debug("nft batch for %s:\n%s", run->host, run->batch.data);

	memset(&spec, 0, sizeof(spec));
	spec.argv = argv;
	spec.envp = envp;
	spec.cwd = "/";
	spec.stdin_data = run->batch.data;
	spec.stdin_len = run->batch.len;
	spec.stdout_cap = NFT_STDOUT_CAP;
	spec.stderr_cap = NFT_STDERR_CAP;
	spec.timeout_ms = NFT_CHILD_TIMEOUT_MS;
	spec.kill_grace_ms = NFT_CHILD_GRACE_MS;
	spec.sandbox = 0;	/* nft needs CAP_NET_ADMIN, kept as is */
	run->child = child_spawn(run->base, &spec, nft_child_cb, run);
	if (run->child == NULL) {
		snprintf(run->errbuf, sizeof(run->errbuf), "cannot run %s: %s",
		    run->bin, strerror(errno));
		nft_fail(run, NFT_EXIT_FAIL);
	}
}

static void
nft_resolved(struct nft_run *run, struct resolve_result *res)
{
	if (res->status != RESOLVE_OK) {
		snprintf(run->errbuf, sizeof(run->errbuf), "cannot resolve "
		    "%s: %s; sets left unchanged", run->host, res->errstr);
		nft_fail(run, NFT_EXIT_FAIL);
		return;
	}
	run->addrs = res->addrs;
	memset(&res->addrs, 0, sizeof(res->addrs));
	nft_addrs_canon(&run->addrs);
	if (nft_check_answers(run->args, run->host, &run->addrs,
	    run->errbuf, sizeof(run->errbuf)) == -1) {
		nft_fail(run, NFT_EXIT_FAIL);
		return;
	}
	nft_apply(run);
}

static void
nft_resolve_cb(struct resolve_req *req, struct resolve_result *res,
    void *arg)
{
	nft_resolved(arg, res);
}

static void
nft_log_success(const struct nft_run *run)
{
	const struct nft_args	*a = run->args;
	char			 n4[32], n6[32];
	struct log_kv		 kv[] = {
		{ "host", run->host },
		{ "family", a->family != NULL ? a->family :
		    NFT_DEFAULT_FAMILY },
		{ "table", a->table },
		{ "set", nft_given(a->set) ? a->set : NULL },
		{ "set6", nft_given(a->set6) ? a->set6 : NULL },
		{ "ipv4", nft_given(a->set) ? n4 : NULL },
		{ "ipv6", nft_given(a->set6) ? n6 : NULL },
	};

	snprintf(n4, sizeof(n4), "%zu", run->addrs.n4);
	snprintf(n6, sizeof(n6), "%zu", run->addrs.n6);
	log_kv(LOG_INFO, kv, nitems(kv), "nft domain sets updated");
}

int
nft_run(struct event_base *base, const struct nft_args *args)
{
	struct nft_run		 run;
	int			 explicit_bin = args->nft_bin != NULL;

	memset(&run, 0, sizeof(run));
	run.base = base;
	run.args = args;
	run.bin = explicit_bin ? args->nft_bin : NFT_DEFAULT_BIN;
	buf_init(&run.batch);

	if (nft_validate(args, run.host, run.errbuf,
	    sizeof(run.errbuf)) == -1) {
		log_warnx("update-nft-domain-set: %s", run.errbuf);
		return (NFT_EXIT_USAGE);
	}
	/* A wrong -nft is a usage error; a missing default nft is not. */
	if (access(run.bin, X_OK) == -1) {
		log_warnx("update-nft-domain-set: cannot execute %s: %s%s",
		    run.bin, strerror(errno), explicit_bin ? "" :
		    " (install nftables or name the binary with -nft)");
		return (explicit_bin ? NFT_EXIT_USAGE : NFT_EXIT_FAIL);
	}

	run.dns = resolve_dns_new(base, NULL, NULL);
	if (run.dns == NULL) {
		snprintf(run.errbuf, sizeof(run.errbuf), "cannot set up the "
		    "DNS resolver");
		nft_fail(&run, NFT_EXIT_FAIL);
		goto out;
	}
	run.req = resolve_start(base, run.dns, run.host,
	    NFT_RESOLVE_TIMEOUT_MS, nft_resolve_cb, &run);
	if (run.req == NULL) {
		snprintf(run.errbuf, sizeof(run.errbuf), "cannot resolve %s: "
		    "%s", run.host, strerror(errno));
		nft_fail(&run, NFT_EXIT_FAIL);
		goto out;
	}
	while (!run.done) {
		/* 1: nothing left to wait for, which would be a bug here. */
		if (event_base_loop(base, EVLOOP_ONCE) != 0) {
			snprintf(run.errbuf, sizeof(run.errbuf), "event loop "
			    "stopped before the update finished");
			nft_fail(&run, NFT_EXIT_FAIL);
		}
	}

out:
	if (run.status == NFT_EXIT_OK)
		nft_log_success(&run);
	else
		log_warnx("update-nft-domain-set: %s", run.errbuf);
	child_free(run.child);
	resolve_free(run.req);
	/* Let a cancelled lookup's late evdns callback free its context. */
	if (run.dns != NULL)
		(void)event_base_loop(base, EVLOOP_NONBLOCK);
	resolve_dns_free(run.dns);
	resolve_addrs_free(&run.addrs);
	buf_free(&run.batch);
	return (run.status);
}
