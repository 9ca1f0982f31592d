/*
 * config: command line and environment for every mode of the agent.
 *
 * Installers and server-rendered firewall scripts call the agent exactly as
 * they called the original Go binary, so the parser reproduces Go's `flag`
 * package rule by rule (one or two dashes, "-x=v", "-x v" taking the next
 * argument even when it starts with '-', booleans never consuming the next
 * argument, "--" and the first non-flag ending the flags) and Go's
 * time.ParseDuration.  Values come from built-in defaults, then the
 * environment, then the flags; validation then runs for the chosen mode
 * only, so that a one-shot firewall check never trips over (or reads) a
 * daemon's token.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "urlguard.h"
#include "util.h"

enum config_type {
	CONFIG_T_BOOL,
	CONFIG_T_STRING,
	CONFIG_T_INT,
	CONFIG_T_DURATION,
	CONFIG_T_LOGFMT,
};

/* Where a value came from, to name it in messages. */
enum config_src {
	CONFIG_SRC_DEFAULT,
	CONFIG_SRC_ENV,
	CONFIG_SRC_FLAG,
};

#define CONFIG_SECRET	0x1	/* scrub from argv, never echo */

/* The struct being built plus what only parsing needs. */
struct config_work {
	struct config	 c;
	int		 once, collect, selfcheck, nft, version;
	enum config_src	 src[64];		/* by config_flags index */
	unsigned char	 envbad[64];
};

struct config_flag {
	const char		*name;
	enum config_type	 type;
	size_t			 off;	/* into struct config_work */
	const char		*env;
	int			 flags;
	const char		*usage;
	const char		*def;	/* default shown by -h, or NULL */
};

#define W(f)	offsetof(struct config_work, f)
#define C(f)	offsetof(struct config_work, c.f)

/* Sorted by name, as Go's flag.PrintDefaults lists them. */
static const struct config_flag config_flags[] = {
	{ "allow-exec", CONFIG_T_BOOL, C(allow_exec),
	    "LATTICE_AGENT_ALLOW_EXEC", 0,
	    "run the scripts of leased tasks", NULL },
	{ "allow-insecure-http", CONFIG_T_BOOL, C(allow_insecure_http),
	    "LATTICE_ALLOW_INSECURE_HTTP", 0,
	    "allow cleartext http:// to a non-loopback server (sends the "
	    "token in clear)", NULL },
	{ "allow-root-exec", CONFIG_T_BOOL, C(allow_root_exec),
	    "LATTICE_AGENT_ALLOW_ROOT_EXEC", 0,
	    "let an agent running as root run tasks", NULL },
	{ "ca-file", CONFIG_T_STRING, C(ca_file), "LATTICE_CA_FILE", 0,
	    "extra CA bundle (PEM) to verify the server", NULL },
	{ "collect", CONFIG_T_BOOL, W(collect), NULL, 0,
	    "print the HostFacts, metrics and usage payloads as JSON and "
	    "exit, without contacting a server", NULL },
	{ "debug", CONFIG_T_BOOL, C(debug), "LATTICE_AGENT_DEBUG", 0,
	    "log debug lines (request paths and timings)", NULL },
	{ "family", CONFIG_T_STRING, C(nft_family), NULL, 0,
	    "nft table family for --update-nft-domain-set (inet, ip, ip6)",
	    "inet" },
	{ "host", CONFIG_T_STRING, C(nft_host), NULL, 0,
	    "host name to resolve for --update-nft-domain-set", NULL },
	{ "host-root", CONFIG_T_STRING, C(host_root), "LATTICE_HOST_ROOT", 0,
	    "read /proc, /sys and /etc under this root", "/" },
	{ "interval", CONFIG_T_DURATION, C(interval_ms), NULL, 0,
	    "heartbeat and task poll interval (at least 100ms)", "10s" },
	{ "log-format", CONFIG_T_LOGFMT, C(log_format), "LATTICE_LOG_FORMAT",
	    0, "auto, journal, logfmt or json", "auto" },
	{ "nft", CONFIG_T_STRING, C(nft_bin), "LATTICE_NFT", 0,
	    "absolute path of the nft binary", NULL },
	{ "no-exec", CONFIG_T_BOOL, C(no_exec), "LATTICE_NO_EXEC", 0,
	    "refuse every task, whatever else is set", NULL },
	{ "node-id", CONFIG_T_STRING, C(node_id), "LATTICE_NODE_ID", 0,
	    "node id (required by the daemon and -once)", NULL },
	{ "once", CONFIG_T_BOOL, W(once), NULL, 0,
	    "run one full cycle against the server, then exit", NULL },
	{ "proxy-usage-file", CONFIG_T_STRING, C(usage_file),
	    "LATTICE_PROXY_USAGE_FILE", 0,
	    "JSON proxy usage snapshot file to report", NULL },
	{ "proxy-usage-secret", CONFIG_T_STRING, C(usage_secret),
	    "LATTICE_PROXY_USAGE_SECRET", CONFIG_SECRET,
	    "bearer secret for -proxy-usage-url (prefer the -file form)",
	    NULL },
	{ "proxy-usage-secret-file", CONFIG_T_STRING, C(usage_secret_file),
	    "LATTICE_PROXY_USAGE_SECRET_FILE", 0,
	    "file holding the bearer secret for -proxy-usage-url", NULL },
	{ "proxy-usage-timeout", CONFIG_T_DURATION, C(usage_timeout_ms),
	    "LATTICE_PROXY_USAGE_TIMEOUT", 0,
	    "timeout of one -proxy-usage-url fetch", "3s" },
	{ "proxy-usage-url", CONFIG_T_STRING, C(usage_url),
	    "LATTICE_PROXY_USAGE_URL", 0,
	    "loopback http(s) URL of a proxy usage source", NULL },
	{ "public-ip", CONFIG_T_STRING, C(public_ip), "LATTICE_PUBLIC_IP", 0,
	    "public IPv4 address to report", NULL },
	{ "public-ip6", CONFIG_T_STRING, C(public_ip6), "LATTICE_PUBLIC_IP6",
	    0, "public IPv6 address to report", NULL },
	{ "selfcheck-controlplane", CONFIG_T_BOOL, W(selfcheck), NULL, 0,
	    "check GET <server>/api/health once; exit 0 only on HTTP 200",
	    NULL },
	{ "server", CONFIG_T_STRING, C(server), "LATTICE_SERVER", 0,
	    "control plane base URL", CONFIG_DEFAULT_SERVER },
	{ "set", CONFIG_T_STRING, C(nft_set), NULL, 0,
	    "IPv4 nft set for --update-nft-domain-set", NULL },
	{ "set6", CONFIG_T_STRING, C(nft_set6), NULL, 0,
	    "IPv6 nft set for --update-nft-domain-set", NULL },
	{ "shutdown-grace", CONFIG_T_DURATION, C(shutdown_grace_ms),
	    "LATTICE_SHUTDOWN_GRACE", 0,
	    "how long running tasks may finish after SIGTERM", "10s" },
	{ "state-dir", CONFIG_T_STRING, C(state_dir), "LATTICE_STATE_DIR", 0,
	    "spool directory (default $STATE_DIRECTORY, else "
	    CONFIG_DEFAULT_STATE_DIR ")", NULL },
	{ "table", CONFIG_T_STRING, C(nft_table), NULL, 0,
	    "nft table for --update-nft-domain-set", NULL },
	{ "task-concurrency", CONFIG_T_INT, C(task_concurrency),
	    "LATTICE_TASK_CONCURRENCY", 0,
	    "tasks run at the same time (1..16)", "1" },
	{ "timeout", CONFIG_T_DURATION, C(timeout_ms), NULL, 0,
	    "total time allowed to --selfcheck-controlplane", "10s" },
	{ "token", CONFIG_T_STRING, C(token), "LATTICE_NODE_TOKEN",
	    CONFIG_SECRET, "node token (prefer -token-file)", NULL },
	{ "token-file", CONFIG_T_STRING, C(token_file),
	    "LATTICE_NODE_TOKEN_FILE", 0,
	    "file holding the node token (default "
	    "$CREDENTIALS_DIRECTORY/node-token when present)", NULL },
	{ "update-nft-domain-set", CONFIG_T_BOOL, W(nft), NULL, 0,
	    "resolve -host and replace the nft sets -set/-set6 atomically",
	    NULL },
	{ "version", CONFIG_T_BOOL, W(version), NULL, 0,
	    "print the version and exit", NULL },
	{ "wg-endpoint", CONFIG_T_STRING, C(wg_endpoint),
	    "LATTICE_WG_ENDPOINT", 0, "WireGuard endpoint to report", NULL },
	{ "wg-ip", CONFIG_T_STRING, C(wg_ip), "LATTICE_WG_IP", 0,
	    "WireGuard address (IP or CIDR) to report", NULL },
	{ "wg-port", CONFIG_T_INT, C(wg_port), "LATTICE_WG_PORT", 0,
	    "WireGuard port to report (0..65535)", "0" },
	{ "wg-pubkey", CONFIG_T_STRING, C(wg_pubkey), "LATTICE_WG_PUBKEY", 0,
	    "WireGuard public key to report", NULL },
};

#define CONFIG_NFLAGS	nitems(config_flags)
_Static_assert(nitems(config_flags) <= 64, "grow config_work.src");

static void
config_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
config_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
	/* One line whatever the echoed value held. */
	for (; *errbuf != '\0'; errbuf++) {
		if ((unsigned char)*errbuf < 0x20 || *errbuf == 0x7f)
			*errbuf = '?';
	}
}

const char *
config_mode_name(enum config_mode mode)
{
	switch (mode) {
	case CONFIG_MODE_DAEMON:
		return "daemon";
	case CONFIG_MODE_ONCE:
		return "once";
	case CONFIG_MODE_COLLECT:
		return "collect";
	case CONFIG_MODE_SELFCHECK:
		return "selfcheck";
	case CONFIG_MODE_NFT:
		return "nft";
	case CONFIG_MODE_VERSION:
		return "version";
	case CONFIG_MODE_HELP:
		return "help";
	}
	return "unknown";
}

/*
 * Durations: a transcription of Go's time.ParseDuration, computing in
 * nanoseconds with the same overflow rules, then rounding to milliseconds.
 */
#define CONFIG_NS_MAX	((uint64_t)1 << 63)

static const struct {
	const char	*name;
	uint64_t	 ns;
} config_units[] = {
	{ "ns", 1ULL },
	{ "us", 1000ULL },
	{ "\xc2\xb5s", 1000ULL },	/* U+00B5 micro sign */
	{ "\xce\xbcs", 1000ULL },	/* U+03BC Greek mu */
	{ "ms", 1000000ULL },
	{ "s", 1000000000ULL },
	{ "m", 60000000000ULL },
	{ "h", 3600000000000ULL },
};

int
config_parse_duration(const char *s, int64_t *ret_ms)
{
	uint64_t	 d = 0, ms;
	int		 neg = 0;

	if (s == NULL)
		return -1;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0) {
		*ret_ms = 0;
		return 0;
	}
	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		uint64_t	 v = 0, f = 0, unit = 0;
		double		 scale = 1;
		const char	*start;
		size_t		 ulen, i;
		int		 pre, post = 0, foverflow = 0;

		if (!(*s == '.' || (*s >= '0' && *s <= '9')))
			return -1;
		for (start = s; *s >= '0' && *s <= '9'; s++) {
			if (v > CONFIG_NS_MAX / 10)
				return -1;
			v = v * 10 + (uint64_t)(*s - '0');
			if (v > CONFIG_NS_MAX)
				return -1;
		}
		pre = s != start;
		if (*s == '.') {
			for (start = ++s; *s >= '0' && *s <= '9'; s++) {
				uint64_t	 y;

				if (foverflow)
					continue;
				if (f > (CONFIG_NS_MAX - 1) / 10) {
					foverflow = 1;
					continue;
				}
				y = f * 10 + (uint64_t)(*s - '0');
				if (y > CONFIG_NS_MAX) {
					foverflow = 1;
					continue;
				}
				f = y;
				scale *= 10;
			}
			post = s != start;
		}
		if (!pre && !post)
			return -1;
		for (ulen = 0; s[ulen] != '\0' && s[ulen] != '.' &&
		    !(s[ulen] >= '0' && s[ulen] <= '9'); ulen++)
			;
		if (ulen == 0)
			return -1;	/* missing unit */
		for (i = 0; i < nitems(config_units); i++) {
			if (strlen(config_units[i].name) == ulen &&
			    memcmp(config_units[i].name, s, ulen) == 0) {
				unit = config_units[i].ns;
				break;
			}
		}
		if (unit == 0)
			return -1;	/* unknown unit */
		s += ulen;
		if (v > CONFIG_NS_MAX / unit)
			return -1;
		v *= unit;
		if (f > 0) {
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > CONFIG_NS_MAX)
				return -1;
		}
		d += v;
		if (d > CONFIG_NS_MAX)
			return -1;
	}
	if (!neg && d > CONFIG_NS_MAX - 1)
		return -1;
	ms = (d + 500000) / 1000000;
	*ret_ms = neg ? -(int64_t)ms : (int64_t)ms;
	return 0;
}

/* Go's strconv.ParseBool. */
static int
config_parse_bool(const char *s, int *ret)
{
	static const char	*yes[] = { "1", "t", "T", "TRUE", "true",
				    "True" };
	static const char	*no[] = { "0", "f", "F", "FALSE", "false",
				    "False" };
	size_t			 i;

	for (i = 0; i < nitems(yes); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*ret = 1;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*ret = 0;
			return 0;
		}
	}
	return -1;
}

/*
 * Go's strconv.ParseInt(s, 0, 64) as flag.Int uses it (sign, 0x/0o/0b and
 * leading-0 octal prefixes), except that '_' separators are refused, then
 * narrowed to int.  Returns a reason or NULL.
 */
static const char *
config_parse_int(const char *s, int *ret)
{
	uint64_t	 v = 0, lim;
	unsigned int	 base = 10, dig;
	int		 neg = 0;
	const char	*start;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
		base = 8;
		s += 2;
	} else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
		base = 2;
		s += 2;
	} else if (s[0] == '0' && s[1] != '\0') {
		base = 8;
		s++;
	}
	lim = neg ? (uint64_t)-(int64_t)INT32_MIN : (uint64_t)INT32_MAX;
	for (start = s; *s != '\0'; s++) {
		if (*s >= '0' && *s <= '9')
			dig = (unsigned int)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			dig = (unsigned int)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			dig = (unsigned int)(*s - 'A' + 10);
		else
			return "parse error";
		if (dig >= base)
			return "parse error";
		if (v > (lim - dig) / base)
			return "value out of range";
		v = v * base + dig;
	}
	if (s == start)
		return "parse error";
	*ret = neg ? (int)-(int64_t)v : (int)v;
	return NULL;
}

/* "-flag" or "LATTICE_X", whichever set this value. */
static const char *
config_src_name(const struct config_work *w, const struct config_flag *f,
    char *buf, size_t len)
{
	size_t	 i = (size_t)(f - config_flags);

	if (w->src[i] == CONFIG_SRC_ENV && f->env != NULL)
		return f->env;
	snprintf(buf, len, "-%s", f->name);
	return buf;
}

static const struct config_flag *
config_find(const char *name, size_t len)
{
	size_t	 i;

	for (i = 0; i < CONFIG_NFLAGS; i++) {
		if (strlen(config_flags[i].name) == len &&
		    strncmp(config_flags[i].name, name, len) == 0)
			return &config_flags[i];
	}
	return NULL;
}

/* config_src_name() by flag name (which must exist). */
static const char *
config_who(const struct config_work *w, const char *flag, char *buf,
    size_t len)
{
	return config_src_name(w, config_find(flag, strlen(flag)), buf, len);
}

/*
 * Store one value.  from_env names the variable for messages; else the
 * flag is named as Go names it.  Secrets are never echoed.
 */
static int
config_set(struct config_work *w, const struct config_flag *f,
    const char *val, const char *from_env, char *errbuf, size_t errlen)
{
	char		*base = (char *)w + f->off;
	const char	*why = NULL, *shown;
	char		 name[64];
	int64_t		 ms;
	int		 b;

	shown = (f->flags & CONFIG_SECRET) ? "..." : val;
	switch (f->type) {
	case CONFIG_T_BOOL:
		if (config_parse_bool(val, &b) == -1) {
			if (from_env != NULL)
				config_err(errbuf, errlen, "invalid value "
				    "\"%s\" for %s: not a boolean (use 1, "
				    "true, 0 or false)", shown, from_env);
			else
				config_err(errbuf, errlen, "invalid boolean "
				    "value \"%s\" for -%s: parse error",
				    shown, f->name);
			return -1;
		}
		*(int *)(void *)base = b;
		break;
	case CONFIG_T_STRING:
		if (f->flags & CONFIG_SECRET)
			freezero_str(*(char **)(void *)base);
		else
			free(*(char **)(void *)base);
		*(char **)(void *)base = xstrdup(val);
		break;
	case CONFIG_T_INT:
		if ((why = config_parse_int(val, &b)) != NULL)
			break;
		*(int *)(void *)base = b;
		break;
	case CONFIG_T_DURATION:
		if (config_parse_duration(val, &ms) == -1) {
			why = "not a duration (use Go syntax such as 10s, "
			    "1m30s or 250ms)";
			break;
		}
		*(int64_t *)(void *)base = ms;
		break;
	case CONFIG_T_LOGFMT:
		if (log_format_parse(val, (enum log_format *)(void *)base) ==
		    -1)
			why = "use auto, journal, logfmt or json";
		break;
	}
	if (why != NULL) {
		if (from_env != NULL)
			config_err(errbuf, errlen, "invalid value \"%s\" for "
			    "%s: %s", shown, from_env, why);
		else {
			snprintf(name, sizeof(name), "-%s", f->name);
			config_err(errbuf, errlen, "invalid value \"%s\" for "
			    "flag %s: %s", shown, name, why);
		}
		return -1;
	}
	w->src[f - config_flags] = from_env != NULL ? CONFIG_SRC_ENV :
	    CONFIG_SRC_FLAG;
	return 0;
}

static void
config_defaults(struct config_work *w)
{
	const char	*sd;

	memset(w, 0, sizeof(*w));
	w->c.mode = CONFIG_MODE_DAEMON;
	w->c.server = xstrdup(CONFIG_DEFAULT_SERVER);
	w->c.interval_ms = 10000;
	w->c.usage_timeout_ms = 3000;
	w->c.host_root = xstrdup("/");
	w->c.log_format = LOG_FORMAT_AUTO;
	w->c.task_concurrency = 1;
	w->c.shutdown_grace_ms = 10000;
	w->c.timeout_ms = 10000;
	w->c.nft_family = xstrdup("inet");
	/* systemd's StateDirectory= may list several, ':'-separated. */
	if ((sd = getenv("STATE_DIRECTORY")) != NULL && *sd != '\0')
		w->c.state_dir = xstrndup(sd, strcspn(sd, ":"));
	else
		w->c.state_dir = xstrdup(CONFIG_DEFAULT_STATE_DIR);
}

/*
 * Apply every non-empty variable.  A bad value is only an error when no
 * flag overrides it, so pass 0 marks it and pass 1 (after the flags)
 * reports the first one still in effect.
 */
static int
config_apply_env(struct config_work *w, int pass, char *errbuf,
    size_t errlen)
{
	const char	*v;
	size_t		 i;

	for (i = 0; i < CONFIG_NFLAGS; i++) {
		if (config_flags[i].env == NULL)
			continue;
		if ((v = getenv(config_flags[i].env)) == NULL || *v == '\0')
			continue;
		if (pass == 1 && (!w->envbad[i] ||
		    w->src[i] == CONFIG_SRC_FLAG))
			continue;
		if (config_set(w, &config_flags[i], v, config_flags[i].env,
		    errbuf, errlen) == -1) {
			if (pass == 1)
				return -1;
			w->envbad[i] = 1;
		}
	}
	return 0;
}

/*
 * Go's FlagSet.Parse.  Returns 0 when done, 1 for -h/-help, -1 on error.
 * Secret values are copied, then wiped from argv.
 */
static int
config_apply_argv(struct config_work *w, int argc, char **argv,
    char *errbuf, size_t errlen)
{
	const struct config_flag	*f;
	const char			*prev_bool = NULL;
	char				*s, *name, *val, *eq;
	size_t				 nlen;
	int				 i;

	for (i = 1; i < argc; i++) {
		s = argv[i];
		if (strlen(s) < 2 || s[0] != '-') {
			if (prev_bool != NULL)
				config_err(errbuf, errlen, "unexpected "
				    "argument \"%s\": write boolean flags as "
				    "-%s=%s", s, prev_bool, s);
			else
				config_err(errbuf, errlen, "unexpected "
				    "argument \"%s\": the agent takes no "
				    "arguments besides flags", s);
			return -1;
		}
		name = s + 1;
		if (*name == '-') {
			name++;
			if (*name == '\0') {		/* "--" */
				if (i + 1 < argc) {
					config_err(errbuf, errlen,
					    "unexpected argument \"%s\": the "
					    "agent takes no arguments besides "
					    "flags", argv[i + 1]);
					return -1;
				}
				return 0;
			}
		}
		if (*name == '\0' || *name == '-' || *name == '=') {
			config_err(errbuf, errlen, "bad flag syntax: %s", s);
			return -1;
		}
		val = NULL;
		if ((eq = strchr(name, '=')) != NULL) {
			nlen = (size_t)(eq - name);
			val = eq + 1;
		} else
			nlen = strlen(name);
		if ((f = config_find(name, nlen)) == NULL) {
			if ((nlen == 1 && name[0] == 'h') ||
			    (nlen == 4 && strncmp(name, "help", 4) == 0))
				return 1;
			config_err(errbuf, errlen, "flag provided but not "
			    "defined: -%.*s", (int)nlen, name);
			return -1;
		}
		prev_bool = NULL;
		if (f->type == CONFIG_T_BOOL) {
			if (val == NULL) {
				val = "true";
				prev_bool = f->name;
			}
		} else if (val == NULL) {
			if (i + 1 >= argc) {
				config_err(errbuf, errlen, "flag needs an "
				    "argument: -%s", f->name);
				return -1;
			}
			val = argv[++i];
		}
		if (config_set(w, f, val, NULL, errbuf, errlen) == -1)
			return -1;
		if (f->flags & CONFIG_SECRET)
			explicit_bzero(val, strlen(val));
	}
	return 0;
}

/* Printable ASCII without spaces: what can go into a Bearer header. */
static int
config_secret_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	}
	return 1;
}

/* Read a token or secret file; what names it in messages. */
static int
config_read_secret(const char *path, const char *what, char **ret,
    char *errbuf, size_t errlen)
{
	char	*s;
	size_t	 len;

	if ((s = read_small_file(path, CONFIG_MAX_SECRET, &len)) == NULL) {
		if (errno == EINVAL)
			config_err(errbuf, errlen, "%s %s: not a regular file",
			    what, path);
		else if (errno == EFBIG)
			config_err(errbuf, errlen, "%s %s: larger than %d "
			    "bytes", what, path, CONFIG_MAX_SECRET);
		else
			config_err(errbuf, errlen, "%s %s: %s", what, path,
			    strerror(errno));
		return -1;
	}
	if (strlen(s) != len) {
		config_err(errbuf, errlen, "%s %s: contains a NUL byte", what,
		    path);
		goto fail;
	}
	strtrim(s);
	if (*s == '\0') {
		config_err(errbuf, errlen, "%s %s: is empty", what, path);
		goto fail;
	}
	if (!config_secret_ok(s)) {
		config_err(errbuf, errlen, "%s %s: contains whitespace or "
		    "control characters", what, path);
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	explicit_bzero(s, len);
	free(s);
	return -1;
}

/* The node token for daemon and -once. */
static int
config_token(struct config_work *w, char *errbuf, size_t errlen)
{
	struct config	*c = &w->c;
	struct stat	 st;
	const char	*cd, *what;
	char		 n1[32], n2[32], *path = NULL;

	if (c->token != NULL && c->token_file != NULL) {
		config_err(errbuf, errlen, "both %s and %s give the node "
		    "token: keep only one (preferably the token file)",
		    config_who(w, "token", n1, sizeof(n1)),
		    config_who(w, "token-file", n2, sizeof(n2)));
		return -1;
	}
	if (c->token != NULL) {
		if (!config_secret_ok(c->token)) {
			config_err(errbuf, errlen, "%s: the token contains "
			    "whitespace or control characters",
			    config_who(w, "token", n1, sizeof(n1)));
			return -1;
		}
		return 0;
	}
	if (c->token_file == NULL &&
	    (cd = getenv("CREDENTIALS_DIRECTORY")) != NULL && *cd != '\0') {
		xasprintf(&path, "%s/node-token", cd);
		if (stat(path, &st) == 0 || errno != ENOENT)
			c->token_file = path;
		else
			free(path);
	}
	if (c->token_file == NULL) {
		config_err(errbuf, errlen, "no node token: pass -token-file "
		    "FILE (or LATTICE_NODE_TOKEN_FILE, or a node-token "
		    "credential), -token or LATTICE_NODE_TOKEN");
		return -1;
	}
	if (c->token_file == path)
		what = "credential";
	else
		what = config_who(w, "token-file", n2, sizeof(n2));
	return config_read_secret(c->token_file, what, &c->token, errbuf,
	    errlen);
}

/* Proxy usage source: file or loopback URL with an optional secret. */
static int
config_usage_source(struct config_work *w, char *errbuf, size_t errlen)
{
	struct config	*c = &w->c;
	char		 n1[40], n2[40], err[256];

	if (c->usage_file != NULL && c->usage_url != NULL) {
		config_err(errbuf, errlen, "%s and %s are mutually exclusive: "
		    "keep only one",
		    config_who(w, "proxy-usage-file", n1, sizeof(n1)),
		    config_who(w, "proxy-usage-url", n2, sizeof(n2)));
		return -1;
	}
	if (c->usage_secret != NULL && c->usage_secret_file != NULL) {
		config_err(errbuf, errlen, "both %s and %s are set: keep only "
		    "one (preferably the file)",
		    config_who(w, "proxy-usage-secret", n1, sizeof(n1)),
		    config_who(w, "proxy-usage-secret-file", n2,
		    sizeof(n2)));
		return -1;
	}
	if ((c->usage_secret != NULL || c->usage_secret_file != NULL) &&
	    c->usage_url == NULL) {
		config_err(errbuf, errlen, "a proxy usage secret is set but "
		    "-proxy-usage-url is not: the secret is only sent to that "
		    "URL");
		return -1;
	}
	if (c->usage_url != NULL &&
	    urlguard_usage_url(c->usage_url, err, sizeof(err)) == -1) {
		config_err(errbuf, errlen, "%s: %s",
		    config_who(w, "proxy-usage-url", n1, sizeof(n1)), err);
		return -1;
	}
	if (c->usage_secret != NULL && !config_secret_ok(c->usage_secret)) {
		config_err(errbuf, errlen, "%s: the secret contains whitespace "
		    "or control characters",
		    config_who(w, "proxy-usage-secret", n1, sizeof(n1)));
		return -1;
	}
	if (c->usage_secret_file != NULL &&
	    config_read_secret(c->usage_secret_file,
	    config_who(w, "proxy-usage-secret-file", n1, sizeof(n1)),
	    &c->usage_secret, errbuf, errlen) == -1)
		return -1;
	if (c->usage_timeout_ms <= 0) {
		config_err(errbuf, errlen, "%s must be positive (e.g. 3s)",
		    config_who(w, "proxy-usage-timeout", n1, sizeof(n1)));
		return -1;
	}
	return 0;
}

/* The addresses reported in hello: syntax only, the server judges. */
static int
config_addresses(struct config_work *w, char *errbuf, size_t errlen)
{
	struct config	*c = &w->c;
	unsigned char	 a[16];
	char		 n[32], *slash, *ip, *end;
	long		 plen;
	int		 af, ok;

	if (c->public_ip != NULL && inet_pton(AF_INET, c->public_ip, a) != 1) {
		config_err(errbuf, errlen, "%s: \"%s\" is not an IPv4 address",
		    config_who(w, "public-ip", n, sizeof(n)), c->public_ip);
		return -1;
	}
	if (c->public_ip6 != NULL &&
	    inet_pton(AF_INET6, c->public_ip6, a) != 1) {
		config_err(errbuf, errlen, "%s: \"%s\" is not an IPv6 address",
		    config_who(w, "public-ip6", n, sizeof(n)), c->public_ip6);
		return -1;
	}
	if (c->wg_ip != NULL) {
		ip = xstrdup(c->wg_ip);
		plen = -1;
		if ((slash = strchr(ip, '/')) != NULL) {
			*slash++ = '\0';
			errno = 0;
			plen = strtol(slash, &end, 10);
			if (*slash < '0' || *slash > '9' || *end != '\0' ||
			    errno != 0)
				plen = 999;
		}
		af = strchr(ip, ':') != NULL ? AF_INET6 : AF_INET;
		ok = inet_pton(af, ip, a) == 1 &&
		    plen <= (af == AF_INET ? 32 : 128);
		free(ip);
		if (!ok) {
			config_err(errbuf, errlen, "%s: \"%s\" is not an IP "
			    "address or CIDR",
			    config_who(w, "wg-ip", n, sizeof(n)), c->wg_ip);
			return -1;
		}
	}
	if (c->wg_port < 0 || c->wg_port > 65535) {
		config_err(errbuf, errlen, "%s must be between 0 and 65535",
		    config_who(w, "wg-port", n, sizeof(n)));
		return -1;
	}
	return 0;
}

static int
config_server(struct config_work *w, char *errbuf, size_t errlen)
{
	struct config	*c = &w->c;
	char		 err[256], n[32], *url;
	int		 insecure;

	if (urlguard_server(c->server != NULL ? c->server : "",
	    c->allow_insecure_http, &url, &insecure, err, sizeof(err)) == -1) {
		config_err(errbuf, errlen, "%s: %s",
		    config_who(w, "server", n, sizeof(n)), err);
		return -1;
	}
	free(c->server);
	c->server = url;
	c->server_insecure = insecure;
	return 0;
}

/* An optional path flag that must be absolute when set. */
static int
config_abs_path(struct config_work *w, const char *flag, const char *path,
    char *errbuf, size_t errlen)
{
	char	 n[32];

	if (path == NULL || path[0] == '/')
		return 0;
	config_err(errbuf, errlen, "%s must be an absolute path (got \"%s\")",
	    config_src_name(w, config_find(flag, strlen(flag)), n, sizeof(n)),
	    path);
	return -1;
}

/* The host root must be a directory we can open, or nothing can be read. */
static int
config_host_root(struct config_work *w, char *errbuf, size_t errlen)
{
	struct stat	 st;
	char		 n[32];

	/* An empty -host-root="" means the default, like an unset variable. */
	if (w->c.host_root == NULL)
		w->c.host_root = xstrdup("/");
	if (stat(w->c.host_root, &st) == 0 && S_ISDIR(st.st_mode) &&
	    access(w->c.host_root, R_OK | X_OK) == 0)
		return 0;
	config_err(errbuf, errlen, "%s %s is not a readable directory",
	    config_src_name(w, config_find("host-root", 9), n, sizeof(n)),
	    w->c.host_root);
	return -1;
}

static int
config_validate(struct config_work *w, char *errbuf, size_t errlen)
{
	struct config	*c = &w->c;
	char		 n[32];
	int		 daemon;

	daemon = c->mode == CONFIG_MODE_DAEMON || c->mode == CONFIG_MODE_ONCE;
	if (c->mode == CONFIG_MODE_DAEMON || c->mode == CONFIG_MODE_ONCE ||
	    c->mode == CONFIG_MODE_SELFCHECK) {
		if (config_server(w, errbuf, errlen) == -1)
			return -1;
		if (c->ca_file != NULL && access(c->ca_file, R_OK) == -1) {
			config_err(errbuf, errlen, "%s: cannot read %s: %s",
			    config_who(w, "ca-file", n, sizeof(n)), c->ca_file,
			    strerror(errno));
			return -1;
		}
	} else {
		free(c->server);
		c->server = NULL;
	}
	if (c->mode == CONFIG_MODE_SELFCHECK || c->mode == CONFIG_MODE_NFT) {
		if (c->timeout_ms <= 0) {
			config_err(errbuf, errlen, "-timeout must be positive "
			    "(e.g. 10s)");
			return -1;
		}
	}
	if (c->mode == CONFIG_MODE_NFT) {
		if (config_abs_path(w, "nft", c->nft_bin, errbuf, errlen) == -1)
			return -1;
		if (c->nft_family == NULL ||
		    (strcmp(c->nft_family, "inet") != 0 &&
		    strcmp(c->nft_family, "ip") != 0 &&
		    strcmp(c->nft_family, "ip6") != 0)) {
			config_err(errbuf, errlen, "-family must be inet, ip "
			    "or ip6");
			return -1;
		}
	}
	if (!daemon && c->mode != CONFIG_MODE_COLLECT)
		return 0;

	/* daemon, -once and --collect */
	if (config_abs_path(w, "host-root", c->host_root, errbuf, errlen) ==
	    -1 || config_host_root(w, errbuf, errlen) == -1 ||
	    config_addresses(w, errbuf, errlen) == -1 ||
	    config_usage_source(w, errbuf, errlen) == -1)
		return -1;
	if (!daemon)
		return 0;

	if (c->node_id == NULL) {
		config_err(errbuf, errlen, "-node-id is required: pass "
		    "-node-id ID or set LATTICE_NODE_ID");
		return -1;
	}
	if (config_token(w, errbuf, errlen) == -1)
		return -1;
	if (c->interval_ms < CONFIG_MIN_INTERVAL_MS) {
		config_err(errbuf, errlen, "-interval must be at least 100ms "
		    "(e.g. 10s)");
		return -1;
	}
	if (c->task_concurrency < 1 || c->task_concurrency > 16) {
		config_err(errbuf, errlen, "%s must be between 1 and 16",
		    config_who(w, "task-concurrency", n, sizeof(n)));
		return -1;
	}
	if (c->shutdown_grace_ms < 0) {
		config_err(errbuf, errlen, "%s must not be negative",
		    config_who(w, "shutdown-grace", n, sizeof(n)));
		return -1;
	}
	if (config_abs_path(w, "state-dir", c->state_dir, errbuf, errlen) ==
	    -1)
		return -1;
	return 0;
}

/* Empty strings mean unset, as os.Getenv("X") == "" did in Go. */
static void
config_drop_empty(struct config_work *w)
{
	char	**p;
	size_t	  i;

	for (i = 0; i < CONFIG_NFLAGS; i++) {
		if (config_flags[i].type != CONFIG_T_STRING)
			continue;
		p = (char **)(void *)((char *)w + config_flags[i].off);
		if (*p != NULL && **p == '\0' && p != &w->c.server) {
			free(*p);
			*p = NULL;
		}
	}
}

static int
config_pick_mode(struct config_work *w, char *errbuf, size_t errlen)
{
	int	 n;

	n = w->once + w->collect + w->selfcheck + w->nft + w->version;
	if (n > 1) {
		config_err(errbuf, errlen, "only one of -once, --collect, "
		    "--selfcheck-controlplane, --update-nft-domain-set and "
		    "-version may be given");
		return -1;
	}
	if (w->version)
		w->c.mode = CONFIG_MODE_VERSION;
	else if (w->once)
		w->c.mode = CONFIG_MODE_ONCE;
	else if (w->collect)
		w->c.mode = CONFIG_MODE_COLLECT;
	else if (w->selfcheck)
		w->c.mode = CONFIG_MODE_SELFCHECK;
	else if (w->nft)
		w->c.mode = CONFIG_MODE_NFT;
	else
		w->c.mode = CONFIG_MODE_DAEMON;
	return 0;
}

/* Release the strings without touching the log's secret list. */
static void
config_clear(struct config *c)
{
	freezero_str(c->token);
	freezero_str(c->usage_secret);
	free(c->server);
	free(c->node_id);
	free(c->token_file);
	free(c->public_ip);
	free(c->public_ip6);
	free(c->wg_ip);
	free(c->wg_pubkey);
	free(c->wg_endpoint);
	free(c->usage_file);
	free(c->usage_url);
	free(c->usage_secret_file);
	free(c->ca_file);
	free(c->state_dir);
	free(c->host_root);
	free(c->nft_host);
	free(c->nft_family);
	free(c->nft_table);
	free(c->nft_set);
	free(c->nft_set6);
	free(c->nft_bin);
	memset(c, 0, sizeof(*c));
}

int
config_parse(struct config *ret, int argc, char **argv, char *errbuf,
    size_t errlen)
{
	struct config_work	 w;
	int			 rc;

	config_defaults(&w);
	config_apply_env(&w, 0, errbuf, errlen);
	if ((rc = config_apply_argv(&w, argc, argv, errbuf, errlen)) == -1)
		goto fail;
	if (rc == 1) {
		freezero_str(w.c.token);
		freezero_str(w.c.usage_secret);
		free(w.c.server);
		w.c.token = w.c.usage_secret = w.c.server = NULL;
		w.c.mode = CONFIG_MODE_HELP;
		*ret = w.c;
		return 0;
	}
	if (config_apply_env(&w, 1, errbuf, errlen) == -1)
		goto fail;
	config_drop_empty(&w);
	if (config_pick_mode(&w, errbuf, errlen) == -1)
		goto fail;
	/* Only the daemon and -once use the node token at all. */
	if (w.c.mode != CONFIG_MODE_DAEMON && w.c.mode != CONFIG_MODE_ONCE) {
		freezero_str(w.c.token);
		free(w.c.token_file);
		w.c.token = w.c.token_file = NULL;
	}
	if (w.c.mode == CONFIG_MODE_VERSION) {
		free(w.c.server);
		w.c.server = NULL;
	} else if (config_validate(&w, errbuf, errlen) == -1)
		goto fail;
	if (w.c.token != NULL)
		log_add_secret(w.c.token);
	if (w.c.usage_secret != NULL)
		log_add_secret(w.c.usage_secret);
	*ret = w.c;
	return 0;
fail:
	config_clear(&w.c);
	return -1;
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	if (c->token != NULL)
		log_remove_secret(c->token);
	if (c->usage_secret != NULL)
		log_remove_secret(c->usage_secret);
	config_clear(c);
}

/* Swap in a re-read secret, keeping the log's redaction list in step. */
static void
config_swap_secret(char **slot, char *fresh)
{
	if (*slot != NULL && strcmp(*slot, fresh) == 0) {
		freezero_str(fresh);
		return;
	}
	log_add_secret(fresh);
	if (*slot != NULL) {
		log_remove_secret(*slot);
		freezero_str(*slot);
	}
	*slot = fresh;
}

int
config_reload_secrets(struct config *c, char *errbuf, size_t errlen)
{
	char	*token = NULL, *secret = NULL;

	if (c->token_file != NULL && config_read_secret(c->token_file,
	    "token file", &token, errbuf, errlen) == -1)
		return -1;
	if (c->usage_secret_file != NULL &&
	    config_read_secret(c->usage_secret_file, "proxy usage secret file",
	    &secret, errbuf, errlen) == -1) {
		freezero_str(token);
		return -1;
	}
	if (token != NULL)
		config_swap_secret(&c->token, token);
	if (secret != NULL)
		config_swap_secret(&c->usage_secret, secret);
	return 0;
}

void
config_usage(FILE *fp)
{
	const struct config_flag	*f;
	const char			*type;
	size_t				 i;

	fprintf(fp, "Usage of lattice-agent:\n");
	for (i = 0; i < CONFIG_NFLAGS; i++) {
		f = &config_flags[i];
		switch (f->type) {
		case CONFIG_T_BOOL:
			type = NULL;
			break;
		case CONFIG_T_INT:
			type = "int";
			break;
		case CONFIG_T_DURATION:
			type = "duration";
			break;
		default:
			type = "string";
			break;
		}
		fprintf(fp, "  -%s%s%s\n    \t%s", f->name, type ? " " : "",
		    type ? type : "", f->usage);
		if (f->def != NULL)
			fprintf(fp, f->type == CONFIG_T_STRING ?
			    " (default \"%s\")" : " (default %s)", f->def);
		if (f->env != NULL)
			fprintf(fp, " [env %s]", f->env);
		fputc('\n', fp);
	}
	fprintf(fp, "  -h, -help\n    \tprint this help\n");
}

void
config_scrub_environment(void)
{
	static const char	*names[] = {
		"LATTICE_NODE_TOKEN",
		"LATTICE_PROXY_USAGE_SECRET",
	};
	char			*v;
	size_t			 i;

	/* getenv points into the block the kernel shows: overwrite it. */
	for (i = 0; i < nitems(names); i++) {
		if ((v = getenv(names[i])) != NULL)
			explicit_bzero(v, strlen(v));
	}
}
