/*
 * Unit tests for config.c: Go `flag` semantics form by form, environment
 * precedence, per-mode validation messages, token sources, durations and
 * the scrubbing of secrets from the process's own command line.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <curl/curl.h>

#include "config.h"
#include "util.h"

extern char **environ;

#define MAXARGS	16

/* Remove every variable the parser could look at. */
static void
clear_env(void)
{
	char	*names[256], **e;
	size_t	 n = 0, i;

	for (e = environ; *e != NULL && n < nitems(names); e++) {
		if (strncmp(*e, "LATTICE_", 8) == 0)
			names[n++] = xstrndup(*e, strcspn(*e, "="));
	}
	for (i = 0; i < n; i++) {
		unsetenv(names[i]);
		free(names[i]);
	}
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv("STATE_DIRECTORY");
}

/* env is "K=V\nK=V"; a value may be empty. */
static void
set_env(const char *env)
{
	char	*copy, *line, *save = NULL, *eq;

	clear_env();
	if (env == NULL)
		return;
	copy = xstrdup(env);
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		assert_non_null(eq = strchr(line, '='));
		*eq = '\0';
		setenv(line, eq + 1, 1);
	}
	free(copy);
}

/* A writable argv, as the kernel hands one to main(). */
struct args {
	int	 argc;
	char	*argv[MAXARGS + 2];
};

static void
args_init(struct args *a, const char *const *list)
{
	a->argc = 0;
	a->argv[a->argc++] = xstrdup("lattice-agent");
	for (; *list != NULL; list++) {
		assert_true(a->argc <= MAXARGS);
		a->argv[a->argc++] = xstrdup(*list);
	}
	a->argv[a->argc] = NULL;
}

static void
args_free(struct args *a)
{
	int	 i;

	for (i = 0; i < a->argc; i++)
		free(a->argv[i]);
}

static int
parse(const char *env, const char *const *list, struct config *c, char *err,
    size_t errlen)
{
	struct args	 a;
	int		 rc;

	set_env(env);
	args_init(&a, list);
	err[0] = '\0';
	rc = config_parse(c, a.argc, a.argv, err, errlen);
	args_free(&a);
	return rc;
}

/* One field of the config as text, for table checks. */
static void
field_text(const struct config *c, const char *name, char *out, size_t len)
{
#define S(f)	if (strcmp(name, #f) == 0) { \
		snprintf(out, len, "%s", c->f ? c->f : "(null)"); return; }
#define I(f)	if (strcmp(name, #f) == 0) { \
		snprintf(out, len, "%lld", (long long)c->f); return; }
	if (strcmp(name, "mode") == 0) {
		snprintf(out, len, "%s", config_mode_name(c->mode));
		return;
	}
	S(server) I(server_insecure) S(node_id) S(token) S(token_file)
	I(interval_ms) I(allow_exec) I(allow_root_exec) I(no_exec)
	I(allow_insecure_http) S(public_ip) S(public_ip6) S(wg_ip)
	S(wg_pubkey) S(wg_endpoint) I(wg_port) S(usage_file) S(usage_url)
	S(usage_secret) S(usage_secret_file) I(usage_timeout_ms) S(ca_file)
	S(state_dir) S(host_root) I(log_format) I(debug) I(task_concurrency)
	I(shutdown_grace_ms) I(timeout_ms) S(nft_host) S(nft_family)
	S(nft_table) S(nft_set) S(nft_set6) S(nft_bin)
#undef S
#undef I
	fail_msg("unknown field %s", name);
}

/* spec is "field=value;field=value". */
static void
check_fields(const struct config *c, const char *spec, const char *what)
{
	char	*copy, *item, *save = NULL, *eq, got[512];

	copy = xstrdup(spec);
	for (item = strtok_r(copy, ";", &save); item != NULL;
	    item = strtok_r(NULL, ";", &save)) {
		assert_non_null(eq = strchr(item, '='));
		*eq = '\0';
		field_text(c, item, got, sizeof(got));
		if (strcmp(got, eq + 1) != 0)
			fail_msg("%s: %s is \"%s\", want \"%s\"", what, item,
			    got, eq + 1);
	}
	free(copy);
}

struct pcase {
	const char	*env;
	const char	*args[MAXARGS];
	int		 rc;
	const char	*want;	/* rc 0: field spec; rc -1: error substring */
};

#define NT	"-node-id", "n1", "-token", "tok"

static const struct pcase parse_cases[] = {
	/* defaults */
	{ NULL, { NT }, 0, "mode=daemon;server=http://127.0.0.1:8088;"
	    "node_id=n1;token=tok;token_file=(null);interval_ms=10000;"
	    "usage_timeout_ms=3000;host_root=/;task_concurrency=1;"
	    "shutdown_grace_ms=10000;timeout_ms=10000;nft_family=inet;"
	    "wg_port=0;allow_exec=0;allow_root_exec=0;no_exec=0;debug=0;"
	    "allow_insecure_http=0;server_insecure=0;log_format=0;"
	    "state_dir=/var/lib/lattice-agent;usage_url=(null);"
	    "public_ip=(null);ca_file=(null);nft_bin=(null)" },
	/* values that start with '-' are values */
	{ NULL, { "-node-id", "n1", "-token", "-76a2xyz" }, 0,
	    "token=-76a2xyz" },
	{ NULL, { "--node-id", "-n", "--token", "-" }, 0,
	    "node_id=-n;token=-" },
	{ NULL, { "-node-id", "n1", "-token", "--" }, 0, "token=--" },
	{ NULL, { "-node-id", "n1", "-token=-76a2=x" }, 0, "token=-76a2=x" },
	{ NULL, { "-node-id", "n1", "-token", "-h" }, 0,
	    "mode=daemon;token=-h" },
	/* "--" ends the flags; arguments are refused */
	{ NULL, { NT, "--" }, 0, "mode=daemon" },
	{ NULL, { NT, "--", "-once" }, -1, "unexpected argument \"-once\"" },
	{ NULL, { NT, "extra" }, -1, "unexpected argument \"extra\"" },
	{ NULL, { NT, "-" }, -1, "unexpected argument \"-\"" },
	{ NULL, { NT, "a\nb\tc" }, -1, "unexpected argument \"a?b?c\"" },
	{ NULL, { "extra", NT }, -1, "unexpected argument \"extra\"" },
	{ NULL, { NT, "-allow-exec", "false" }, -1,
	    "write boolean flags as -allow-exec=false" },
	/* Go's error texts */
	{ NULL, { NT, "-nope" }, -1, "flag provided but not defined: -nope" },
	{ NULL, { NT, "--nope=1" }, -1,
	    "flag provided but not defined: -nope" },
	{ NULL, { "-node-id" }, -1, "flag needs an argument: -node-id" },
	{ NULL, { "-node-id", "n1", "-token" }, -1,
	    "flag needs an argument: -token" },
	{ NULL, { NT, "---x" }, -1, "bad flag syntax: ---x" },
	{ NULL, { NT, "-=x" }, -1, "bad flag syntax: -=x" },
	{ NULL, { NT, "--=x" }, -1, "bad flag syntax: --=x" },
	{ NULL, { NT, "-allow-exec=maybe" }, -1,
	    "invalid boolean value \"maybe\" for -allow-exec: parse error" },
	{ NULL, { NT, "-allow-exec=" }, -1,
	    "invalid boolean value \"\" for -allow-exec" },
	{ NULL, { NT, "-interval", "10" }, -1,
	    "invalid value \"10\" for flag -interval: not a duration" },
	{ NULL, { NT, "-wg-port", "abc" }, -1,
	    "invalid value \"abc\" for flag -wg-port: parse error" },
	{ NULL, { NT, "-wg-port", "99999999999" }, -1,
	    "invalid value \"99999999999\" for flag -wg-port: value out of "
	    "range" },
	{ NULL, { NT, "-log-format", "xml" }, -1,
	    "invalid value \"xml\" for flag -log-format" },
	/* help, like Go: wherever it comes, unless an error came first */
	{ NULL, { "-h" }, 0, "mode=help;server=(null);token=(null)" },
	{ NULL, { "-server", "http://example.com", "-token", "t", "-h" }, 0,
	    "mode=help;server=(null);token=(null)" },
	{ NULL, { "-help" }, 0, "mode=help" },
	{ NULL, { "--help" }, 0, "mode=help" },
	{ NULL, { "--h" }, 0, "mode=help" },
	{ NULL, { "-h=1" }, 0, "mode=help" },
	{ NULL, { "-server", "ftp://x", "-h", "-nope" }, 0, "mode=help" },
	{ NULL, { "-nope", "-h" }, -1, "not defined: -nope" },
	{ "LATTICE_AGENT_ALLOW_EXEC=yes", { "-h" }, 0, "mode=help" },
	/* modes */
	{ NULL, { "-version" }, 0, "mode=version;server=(null)" },
	{ NULL, { "--version" }, 0, "mode=version" },
	{ "LATTICE_NODE_TOKEN=t", { "-version", "-server", "gopher://x" }, 0,
	    "mode=version;token=(null)" },
	{ NULL, { NT, "-once" }, 0, "mode=once;token=tok" },
	{ NULL, { NT, "-once=false" }, 0, "mode=daemon" },
	{ NULL, { "-once" }, -1, "-node-id is required" },
	{ NULL, { "-once", "--collect" }, -1, "only one of" },
	{ NULL, { "-version", "--selfcheck-controlplane" }, -1,
	    "only one of" },
	{ NULL, { "--update-nft-domain-set", "-once=1" }, -1, "only one of" },
	{ NULL, { "--collect" }, 0,
	    "mode=collect;server=(null);token=(null);node_id=(null)" },
	{ "LATTICE_NODE_TOKEN=t\nLATTICE_NODE_ID=n", { "--collect" }, 0,
	    "mode=collect;token=(null);node_id=n" },
	{ "LATTICE_SERVER=http://example.com", { "--collect" }, 0,
	    "mode=collect;server=(null)" },
	{ "LATTICE_NODE_TOKEN=t\nLATTICE_NODE_TOKEN_FILE=/nonexistent",
	    { "--selfcheck-controlplane", "-server",
	    "https://lattice.example.com/" }, 0,
	    "mode=selfcheck;token=(null);token_file=(null);"
	    "server=https://lattice.example.com;timeout_ms=10000" },
	{ NULL, { "--selfcheck-controlplane", "-token", "x", "-timeout",
	    "2.5s" }, 0, "mode=selfcheck;server=http://127.0.0.1:8088;"
	    "token=(null);timeout_ms=2500" },
	{ NULL, { "--selfcheck-controlplane", "-server",
	    "http://203.0.113.99" }, -1,
	    "-server: http:// to the non-loopback host 203.0.113.99" },
	{ NULL, { "--selfcheck-controlplane", "-server",
	    "http://203.0.113.99", "-allow-insecure-http" }, 0,
	    "server=http://203.0.113.99;server_insecure=1" },
	{ NULL, { "--selfcheck-controlplane", "-timeout=0" }, -1,
	    "-timeout must be positive" },
	{ NULL, { "--selfcheck-controlplane", "-ca-file",
	    "/nonexistent/ca.pem" }, -1, "-ca-file: cannot read" },
	{ "LATTICE_NODE_TOKEN=t", { "--update-nft-domain-set", "-host",
	    "lattice.example.com", "-table", "lattice_policy", "-set",
	    "c4", "-set6", "c6" }, 0, "mode=nft;token=(null);server=(null);"
	    "nft_host=lattice.example.com;nft_family=inet;"
	    "nft_table=lattice_policy;nft_set=c4;nft_set6=c6;nft_bin=(null)" },
	{ "LATTICE_NFT=/usr/sbin/nft", { "--update-nft-domain-set",
	    "-family", "ip6" }, 0, "nft_bin=/usr/sbin/nft;nft_family=ip6" },
	{ NULL, { "--update-nft-domain-set", "-nft", "/opt/nft",
	    "-family=ip" }, 0, "nft_bin=/opt/nft;nft_family=ip" },
	{ NULL, { "--update-nft-domain-set", "-nft", "nft" }, -1,
	    "-nft must be an absolute path" },
	{ "LATTICE_NFT=sbin/nft", { "--update-nft-domain-set" }, -1,
	    "LATTICE_NFT must be an absolute path" },
	{ NULL, { "--update-nft-domain-set", "-family", "bridge" }, -1,
	    "-family must be inet, ip or ip6" },
	/* environment only, and flags beating it */
	{ "LATTICE_SERVER=https://Lattice.example.com/\nLATTICE_NODE_ID=e1\n"
	    "LATTICE_NODE_TOKEN=etok\nLATTICE_AGENT_ALLOW_EXEC=1\n"
	    "LATTICE_AGENT_ALLOW_ROOT_EXEC=true\nLATTICE_NO_EXEC=T\n"
	    "LATTICE_PUBLIC_IP=203.0.113.5\nLATTICE_PUBLIC_IP6=2001:db8::5\n"
	    "LATTICE_WG_IP=10.8.0.2/24\nLATTICE_WG_PUBKEY=pk\n"
	    "LATTICE_WG_ENDPOINT=203.0.113.5:51820\nLATTICE_WG_PORT=51820\n"
	    "LATTICE_PROXY_USAGE_URL=http://127.0.0.1:19090/stats\n"
	    "LATTICE_PROXY_USAGE_SECRET=sec\n"
	    "LATTICE_PROXY_USAGE_TIMEOUT=1500ms\nLATTICE_AGENT_DEBUG=1\n"
	    "LATTICE_HOST_ROOT=/tmp\nLATTICE_STATE_DIR=/srv/state\n"
	    "LATTICE_TASK_CONCURRENCY=4\nLATTICE_SHUTDOWN_GRACE=1m\n"
	    "LATTICE_LOG_FORMAT=json", { NULL }, 0,
	    "server=https://Lattice.example.com;node_id=e1;token=etok;"
	    "allow_exec=1;allow_root_exec=1;no_exec=1;"
	    "public_ip=203.0.113.5;public_ip6=2001:db8::5;wg_ip=10.8.0.2/24;"
	    "wg_pubkey=pk;wg_endpoint=203.0.113.5:51820;wg_port=51820;"
	    "usage_url=http://127.0.0.1:19090/stats;usage_secret=sec;"
	    "usage_timeout_ms=1500;debug=1;host_root=/tmp;"
	    "state_dir=/srv/state;task_concurrency=4;shutdown_grace_ms=60000;"
	    "log_format=2" },
	{ "LATTICE_NODE_ID=envid\nLATTICE_NODE_TOKEN=envtok\n"
	    "LATTICE_AGENT_ALLOW_EXEC=1\nLATTICE_WG_PORT=1",
	    { "-node-id", "flagid", "-token", "flagtok", "-allow-exec=false",
	    "-wg-port", "2" }, 0,
	    "node_id=flagid;token=flagtok;allow_exec=0;wg_port=2" },
	{ "LATTICE_NODE_ID=e\nLATTICE_NODE_TOKEN=t\nLATTICE_NODE_ID=", { NULL },
	    -1, "-node-id is required" },
	{ "LATTICE_AGENT_ALLOW_EXEC=yes", { NT }, -1,
	    "invalid value \"yes\" for LATTICE_AGENT_ALLOW_EXEC: not a "
	    "boolean" },
	{ "LATTICE_NO_EXEC=on", { NT }, -1, "LATTICE_NO_EXEC" },
	{ "LATTICE_AGENT_ALLOW_EXEC=yes", { NT, "-allow-exec" }, 0,
	    "allow_exec=1" },
	{ "LATTICE_WG_PORT=abc", { NT }, -1,
	    "invalid value \"abc\" for LATTICE_WG_PORT: parse error" },
	{ "LATTICE_WG_PORT=70000", { NT }, -1,
	    "LATTICE_WG_PORT must be between 0 and 65535" },
	{ "LATTICE_PROXY_USAGE_TIMEOUT=3", { NT }, -1,
	    "LATTICE_PROXY_USAGE_TIMEOUT: not a duration" },
	{ "LATTICE_PROXY_USAGE_SECRET=verysecret1\n"
	    "LATTICE_PROXY_USAGE_TIMEOUT=x", { NT }, -1,
	    "LATTICE_PROXY_USAGE_TIMEOUT" },
	{ "LATTICE_SERVER=http://example.com", { NT }, -1,
	    "LATTICE_SERVER: http:// to the non-loopback host example.com" },
	{ "LATTICE_SERVER=http://example.com\nLATTICE_ALLOW_INSECURE_HTTP=1",
	    { NT }, 0, "server=http://example.com;server_insecure=1;"
	    "allow_insecure_http=1" },
	{ "LATTICE_SERVER=http://example.com", { NT, "-server",
	    "http://localhost:8088/" }, 0, "server=http://localhost:8088" },
	{ NULL, { NT, "-server=" }, -1, "-server: the URL is empty" },
	{ NULL, { NT, "-server", "http://0x7f000001:8088" }, -1,
	    "-server: the URL is not written in canonical form" },
	{ NULL, { NT, "-server", "http://u:p@127.0.0.1" }, -1,
	    "-server: user information" },
	{ "STATE_DIRECTORY=/var/lib/a:/var/lib/b", { NT }, 0,
	    "state_dir=/var/lib/a" },
	{ "STATE_DIRECTORY=/var/lib/a\nLATTICE_STATE_DIR=/srv/s", { NT }, 0,
	    "state_dir=/srv/s" },
	{ "LATTICE_STATE_DIR=/srv/s", { NT, "-state-dir", "/x" }, 0,
	    "state_dir=/x" },
	{ NULL, { NT, "-state-dir", "rel" }, -1,
	    "-state-dir must be an absolute path" },
	{ NULL, { NT, "-host-root", "host" }, -1,
	    "-host-root must be an absolute path" },
	{ "LATTICE_HOST_ROOT=host", { "--collect" }, -1,
	    "LATTICE_HOST_ROOT must be an absolute path" },
	{ NULL, { "--collect", "-host-root", "/nonexistent-root" }, -1,
	    "-host-root /nonexistent-root is not a readable directory" },
	{ NULL, { "--collect", "-host-root=" }, 0, "host_root=/" },
	/* ranges */
	{ NULL, { NT, "-interval", "1m30s" }, 0, "interval_ms=90000" },
	{ NULL, { NT, "-interval=100ms" }, 0, "interval_ms=100" },
	{ NULL, { NT, "-interval=99ms" }, -1,
	    "-interval must be at least 100ms" },
	{ NULL, { NT, "-interval=0" }, -1, "-interval must be at least" },
	{ NULL, { NT, "-interval", "-1s" }, -1, "-interval must be at least" },
	{ NULL, { NT, "-wg-port", "65535" }, 0, "wg_port=65535" },
	{ NULL, { NT, "-wg-port", "0x10" }, 0, "wg_port=16" },
	{ NULL, { NT, "-wg-port", "010" }, 0, "wg_port=8" },
	{ NULL, { NT, "-wg-port", "+7" }, 0, "wg_port=7" },
	{ NULL, { NT, "-wg-port", "1_000" }, -1, "parse error" },
	{ NULL, { NT, "-wg-port", "65536" }, -1,
	    "-wg-port must be between 0 and 65535" },
	{ NULL, { NT, "-wg-port", "-1" }, -1, "-wg-port must be between" },
	{ NULL, { NT, "-task-concurrency", "16" }, 0, "task_concurrency=16" },
	{ NULL, { NT, "-task-concurrency", "0" }, -1,
	    "-task-concurrency must be between 1 and 16" },
	{ NULL, { NT, "-task-concurrency", "17" }, -1,
	    "-task-concurrency must be between 1 and 16" },
	{ "LATTICE_TASK_CONCURRENCY=99", { NT }, -1,
	    "LATTICE_TASK_CONCURRENCY must be between 1 and 16" },
	{ NULL, { NT, "-shutdown-grace", "0" }, 0, "shutdown_grace_ms=0" },
	{ NULL, { NT, "-shutdown-grace", "-1s" }, -1,
	    "-shutdown-grace must not be negative" },
	/* reported addresses */
	{ NULL, { NT, "-public-ip", "1.2.3" }, -1,
	    "-public-ip: \"1.2.3\" is not an IPv4 address" },
	{ NULL, { NT, "-public-ip6", "1.2.3.4" }, -1,
	    "-public-ip6: \"1.2.3.4\" is not an IPv6 address" },
	{ NULL, { NT, "-wg-ip", "10.0.0.1" }, 0, "wg_ip=10.0.0.1" },
	{ NULL, { NT, "-wg-ip", "fd00::1/64" }, 0, "wg_ip=fd00::1/64" },
	{ NULL, { NT, "-wg-ip", "10.0.0.1/33" }, -1,
	    "-wg-ip: \"10.0.0.1/33\" is not an IP address or CIDR" },
	{ NULL, { NT, "-wg-ip", "10.0.0.1/" }, -1, "-wg-ip" },
	{ NULL, { NT, "-wg-ip", "10.0.0.1/-1" }, -1, "-wg-ip" },
	{ "LATTICE_WG_IP=nope", { NT }, -1, "LATTICE_WG_IP: \"nope\"" },
	/* proxy usage source */
	{ NULL, { NT, "-proxy-usage-file", "/run/u.json" }, 0,
	    "usage_file=/run/u.json;usage_url=(null)" },
	{ NULL, { NT, "-proxy-usage-file", "/run/u.json", "-proxy-usage-url",
	    "http://127.0.0.1:1/" }, -1,
	    "-proxy-usage-file and -proxy-usage-url are mutually exclusive" },
	{ "LATTICE_PROXY_USAGE_FILE=/run/u.json", { NT, "-proxy-usage-url",
	    "http://127.0.0.1:1/" }, -1,
	    "LATTICE_PROXY_USAGE_FILE and -proxy-usage-url are mutually" },
	{ NULL, { NT, "-proxy-usage-secret", "s" }, -1,
	    "a proxy usage secret is set but -proxy-usage-url is not" },
	{ NULL, { NT, "-proxy-usage-secret-file", "/x", "-proxy-usage-url",
	    "http://127.0.0.1:1/", "-proxy-usage-secret", "s" }, -1,
	    "both -proxy-usage-secret and -proxy-usage-secret-file are set" },
	{ NULL, { NT, "-proxy-usage-url", "http://example.com/stats" }, -1,
	    "-proxy-usage-url: the host example.com is not loopback" },
	{ NULL, { NT, "-proxy-usage-url", "http://127.0.0.1@example.com/" },
	    -1, "-proxy-usage-url: user information" },
	{ NULL, { "--collect", "-proxy-usage-url", "http://2130706433/" },
	    -1, "-proxy-usage-url: the URL is not written in canonical" },
	{ NULL, { NT, "-proxy-usage-url", "http://[::1]:9/s",
	    "-proxy-usage-secret=-s3cr=t" }, 0,
	    "usage_url=http://[::1]:9/s;usage_secret=-s3cr=t" },
	{ NULL, { NT, "-proxy-usage-url", "http://[::1]:9/s",
	    "-proxy-usage-secret", "a b" }, -1,
	    "-proxy-usage-secret: the secret contains whitespace" },
	{ NULL, { NT, "-proxy-usage-url", "http://[::1]:9/s",
	    "-proxy-usage-secret-file", "/nonexistent" }, -1,
	    "-proxy-usage-secret-file /nonexistent: No such file" },
	{ NULL, { NT, "-proxy-usage-timeout", "0s" }, -1,
	    "-proxy-usage-timeout must be positive" },
	{ NULL, { NT, "-proxy-usage-timeout", "100us" }, -1,
	    "-proxy-usage-timeout must be positive" },
	/* tokens given as values */
	{ NULL, { "-node-id", "n" }, -1, "no node token: pass -token-file" },
	{ NULL, { "-token", "t" }, -1,
	    "-node-id is required: pass -node-id ID or set LATTICE_NODE_ID" },
	{ NULL, { "-node-id", "n", "-token", "t", "-token-file", "/x" }, -1,
	    "both -token and -token-file give the node token" },
	{ "LATTICE_NODE_TOKEN=t", { "-node-id", "n", "-token-file", "/x" },
	    -1, "both LATTICE_NODE_TOKEN and -token-file give" },
	{ "LATTICE_NODE_TOKEN_FILE=/x", { "-node-id", "n", "-token", "t" },
	    -1, "both -token and LATTICE_NODE_TOKEN_FILE give" },
	{ "LATTICE_NODE_TOKEN=envtok", { "-node-id", "n", "-token", "t2" }, 0,
	    "token=t2" },
	{ "LATTICE_NODE_TOKEN=envtok", { "-node-id", "n", "-token=" }, -1,
	    "no node token" },
	{ NULL, { "-node-id", "n", "-token", "a\nb" }, -1,
	    "-token: the token contains whitespace" },
	{ "LATTICE_NODE_TOKEN=a b", { "-node-id", "n" }, -1,
	    "LATTICE_NODE_TOKEN: the token contains whitespace" },
	/* the last of a repeated flag wins, as in Go */
	{ NULL, { NT, "-node-id", "n2", "--node-id=n3" }, 0, "node_id=n3" },
	{ NULL, { NT, "-log-format", "journal" }, 0, "log_format=3" },
	{ NULL, { NT, "-debug", "-debug=false" }, 0, "debug=0" },
};

static void
test_parse_table(void **state)
{
	struct config	 c;
	char		 err[512], what[64];
	size_t		 i;
	int		 rc;

	for (i = 0; i < nitems(parse_cases); i++) {
		snprintf(what, sizeof(what), "case %zu", i);
		memset(&c, 0x5a, sizeof(c));
		rc = parse(parse_cases[i].env, parse_cases[i].args, &c, err,
		    sizeof(err));
		if (rc != parse_cases[i].rc)
			fail_msg("%s (%s): rc %d, err \"%s\"", what,
			    parse_cases[i].args[0], rc, err);
		if (rc == 0) {
			check_fields(&c, parse_cases[i].want, what);
			config_free(&c);
			continue;
		}
		if (strstr(err, parse_cases[i].want) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"", what, err,
			    parse_cases[i].want);
		/* one line, and *ret untouched */
		assert_null(strchr(err, '\n'));
		assert_int_equal(c.interval_ms, (int64_t)0x5a5a5a5a5a5a5a5aLL);
	}
	clear_env();
}

/* Every non-boolean flag in the four Go spellings. */
static void
test_every_flag_every_form(void **state)
{
	static const struct {
		const char	*flag;
		const char	*val;
		const char	*spec;
		const char	*mode;	/* extra mode flag or NULL */
	} flags[] = {
		{ "server", "https://x.example/", "server=https://x.example",
		    NULL },
		{ "node-id", "n9", "node_id=n9", NULL },
		{ "token", "-tok", "token=-tok", NULL },
		{ "interval", "1.5s", "interval_ms=1500", NULL },
		{ "public-ip", "198.51.100.7", "public_ip=198.51.100.7", NULL },
		{ "public-ip6", "2001:db8::7", "public_ip6=2001:db8::7", NULL },
		{ "wg-ip", "10.1.0.1/16", "wg_ip=10.1.0.1/16", NULL },
		{ "wg-pubkey", "-pk=", "wg_pubkey=-pk=", NULL },
		{ "wg-endpoint", "h:1", "wg_endpoint=h:1", NULL },
		{ "wg-port", "51820", "wg_port=51820", NULL },
		{ "proxy-usage-file", "/f", "usage_file=/f", NULL },
		{ "proxy-usage-url", "http://localhost:1/s",
		    "usage_url=http://localhost:1/s", NULL },
		{ "proxy-usage-timeout", "2h45m",
		    "usage_timeout_ms=9900000", NULL },
		{ "ca-file", "/dev/null", "ca_file=/dev/null", NULL },
		{ "state-dir", "/s", "state_dir=/s", NULL },
		{ "log-format", "logfmt", "log_format=1", NULL },
		{ "host-root", "/tmp", "host_root=/tmp", NULL },
		{ "task-concurrency", "3", "task_concurrency=3", NULL },
		{ "shutdown-grace", "250ms", "shutdown_grace_ms=250", NULL },
		{ "timeout", "3s", "timeout_ms=3000",
		    "--selfcheck-controlplane" },
		{ "host", "a.example", "nft_host=a.example",
		    "--update-nft-domain-set" },
		{ "family", "ip6", "nft_family=ip6",
		    "--update-nft-domain-set" },
		{ "table", "t", "nft_table=t", "--update-nft-domain-set" },
		{ "set", "-s", "nft_set=-s", "--update-nft-domain-set" },
		{ "set6", "s6", "nft_set6=s6", "--update-nft-domain-set" },
		{ "nft", "/bin/nft", "nft_bin=/bin/nft",
		    "--update-nft-domain-set" },
	};
	struct config	 c;
	char		 err[512], a1[64], a2[128];
	size_t		 i;
	int		 form;

	for (i = 0; i < nitems(flags); i++) {
		for (form = 0; form < 4; form++) {
			const char	*list[8];
			size_t		 n = 0;

			if (flags[i].mode != NULL)
				list[n++] = flags[i].mode;
			else {
				list[n++] = "-node-id=n0";
				if (strcmp(flags[i].flag, "token") != 0)
					list[n++] = "-token=t0";
			}
			snprintf(a1, sizeof(a1), "%s%s", form & 1 ? "--" : "-",
			    flags[i].flag);
			if (form & 2) {
				snprintf(a2, sizeof(a2), "%s=%s", a1,
				    flags[i].val);
				list[n++] = a2;
			} else {
				list[n++] = a1;
				list[n++] = flags[i].val;
			}
			if (strcmp(flags[i].flag, "node-id") == 0)
				list[0] = "-token=t0";
			list[n] = NULL;
			if (parse(NULL, list, &c, err, sizeof(err)) != 0)
				fail_msg("%s form %d: %s", flags[i].flag, form,
				    err);
			check_fields(&c, flags[i].spec, a1);
			config_free(&c);
		}
	}
	clear_env();
}

/* Every boolean flag: bare, =value in each ParseBool form, env forms. */
static void
test_every_bool(void **state)
{
	static const struct {
		const char	*flag;
		const char	*field;
		const char	*env;
	} bools[] = {
		{ "allow-exec", "allow_exec", "LATTICE_AGENT_ALLOW_EXEC" },
		{ "allow-root-exec", "allow_root_exec",
		    "LATTICE_AGENT_ALLOW_ROOT_EXEC" },
		{ "no-exec", "no_exec", "LATTICE_NO_EXEC" },
		{ "allow-insecure-http", "allow_insecure_http",
		    "LATTICE_ALLOW_INSECURE_HTTP" },
		{ "debug", "debug", "LATTICE_AGENT_DEBUG" },
	};
	static const char *yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *no[] = { "0", "f", "F", "FALSE", "false", "False" };
	struct config	 c;
	char		 err[512], arg[64], spec[64], env[128];
	size_t		 i, j;
	int		 dashes, v;

	for (i = 0; i < nitems(bools); i++) {
		for (dashes = 1; dashes <= 2; dashes++) {
			const char	*list[] = { NT, arg, NULL };

			snprintf(arg, sizeof(arg), "%.*s%s", dashes, "--",
			    bools[i].flag);
			assert_int_equal(parse(NULL, list, &c, err,
			    sizeof(err)), 0);
			snprintf(spec, sizeof(spec), "%s=1", bools[i].field);
			check_fields(&c, spec, arg);
			config_free(&c);
		}
		for (v = 0; v <= 1; v++) {
			for (j = 0; j < nitems(yes); j++) {
				const char	*val = v ? yes[j] : no[j];
				const char	*list[] = { NT, arg, NULL };
				const char	*none[] = { NT, NULL };

				snprintf(arg, sizeof(arg), "-%s=%s",
				    bools[i].flag, val);
				snprintf(spec, sizeof(spec), "%s=%d",
				    bools[i].field, v);
				assert_int_equal(parse(NULL, list, &c, err,
				    sizeof(err)), 0);
				check_fields(&c, spec, arg);
				config_free(&c);
				snprintf(env, sizeof(env), "%s=%s",
				    bools[i].env, val);
				assert_int_equal(parse(env, none, &c, err,
				    sizeof(err)), 0);
				check_fields(&c, spec, env);
				config_free(&c);
			}
		}
	}
	clear_env();
}

static void
test_durations(void **state)
{
	static const struct {
		const char	*in;
		int		 ok;
		int64_t		 ms;
	} cases[] = {
		{ "10s", 1, 10000 }, { "1m30s", 1, 90000 }, { "250ms", 1, 250 },
		{ "1.5s", 1, 1500 }, { "2h45m", 1, 9900000 }, { "0", 1, 0 },
		{ "+0", 1, 0 }, { "-0", 1, 0 }, { "1.5h", 1, 5400000 },
		{ "-1s", 1, -1000 }, { "+5s", 1, 5000 }, { ".5s", 1, 500 },
		{ "1.s", 1, 1000 }, { "1h1m1s1ms1us1ns", 1, 3661001 },
		{ "100us", 1, 0 }, { "500us", 1, 1 }, { "499999ns", 1, 0 },
		{ "1500\xc2\xb5s", 1, 2 }, { "1500\xce\xbcs", 1, 2 },
		{ "0s", 1, 0 }, { "0.0001s", 1, 0 }, { "1.0005s", 1, 1001 },
		{ "2562047h", 1, 9223369200000LL },
		{ "2562047h47m16.854775807s", 1, 9223372036855LL },
		{ "9223372036854775807ns", 1, 9223372036855LL },
		{ "-9223372036854775808ns", 1, -9223372036855LL },
		{ "1.00000000000000000000000000000000001s", 1, 1000 },
		{ "", 0, 0 }, { "10", 0, 0 }, { "1d", 0, 0 }, { "s", 0, 0 },
		{ ".s", 0, 0 }, { "-", 0, 0 }, { "+", 0, 0 },
		{ "1.2.3s", 0, 0 },
		{ "9223372036854775808ns", 0, 0 }, { "2562048h", 0, 0 },
		{ "99999999999999999999s", 0, 0 }, { " 1s", 0, 0 },
		{ "1s ", 0, 0 }, { "1 s", 0, 0 }, { "1S", 0, 0 },
		{ "1sec", 0, 0 }, { "--1s", 0, 0 }, { "1e3s", 0, 0 },
		{ "0x10s", 0, 0 }, { "1ms1", 0, 0 }, { "\xc2\xb5s", 0, 0 },
		{ "1\xc2s", 0, 0 },
	};
	int64_t	 ms;
	size_t	 i;

	assert_int_equal(config_parse_duration(NULL, &ms), -1);
	for (i = 0; i < nitems(cases); i++) {
		ms = 12345;
		if ((config_parse_duration(cases[i].in, &ms) == 0) !=
		    cases[i].ok)
			fail_msg("\"%s\": expected %s", cases[i].in,
			    cases[i].ok ? "ok" : "error");
		if (cases[i].ok && ms != cases[i].ms)
			fail_msg("\"%s\": %lld ms, want %lld", cases[i].in,
			    (long long)ms, (long long)cases[i].ms);
		if (!cases[i].ok)
			assert_int_equal(ms, 12345);
	}
}

/* A temp dir holding files for the token tests. */
static char	tmpdir[64];

static void
write_file(const char *name, const char *data, size_t len, mode_t mode)
{
	char	 path[128];
	int	 fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static int
setup_tmp(void **state)
{
	char	 big[5000];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	write_file("tok", "  filetok\n", 10, 0600);
	write_file("tok2", "othertok\n", 9, 0600);
	write_file("empty", "", 0, 0600);
	write_file("blank", " \n\t\n", 4, 0600);
	memset(big, 'a', sizeof(big));
	write_file("big", big, 4097, 0600);
	write_file("max", big, 4096, 0600);
	write_file("inner", "to ken\n", 7, 0600);
	write_file("nul", "to\0ken", 6, 0600);
	write_file("sec", "localsecret\n", 12, 0600);
	return 0;
}

static int
teardown_tmp(void **state)
{
	char	 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Replace each "%s" in tmpl by dir (no printf: tmpl is data). */
static void
subst(char *out, size_t len, const char *tmpl, const char *dir)
{
	struct buf	 b;
	const char	*p;

	buf_init(&b);
	while ((p = strstr(tmpl, "%s")) != NULL) {
		buf_add(&b, tmpl, (size_t)(p - tmpl));
		buf_add_str(&b, dir);
		tmpl = p + 2;
	}
	buf_add_str(&b, tmpl);
	assert_true(b.len < len);
	memcpy(out, b.data, b.len + 1);
	buf_free(&b);
}

static void
test_token_files(void **state)
{
	static const struct {
		const char	*env;	/* %s = tmpdir */
		const char	*file;	/* -token-file %s/<file> or NULL */
		int		 rc;
		const char	*want;
	} cases[] = {
		{ NULL, "tok", 0, "token=filetok;token_file=%s/tok" },
		{ "LATTICE_NODE_TOKEN_FILE=%s/tok2", NULL, 0,
		    "token=othertok;token_file=%s/tok2" },
		{ "LATTICE_NODE_TOKEN_FILE=%s/tok2", "tok", 0,
		    "token=filetok" },
		{ NULL, "max", 0, "token_file=%s/max" },
		{ NULL, "empty", -1, "-token-file %s/empty: is empty" },
		{ NULL, "blank", -1, "-token-file %s/blank: is empty" },
		{ NULL, "big", -1,
		    "-token-file %s/big: larger than 4096 bytes" },
		{ NULL, "inner", -1, "contains whitespace or control" },
		{ NULL, "nul", -1, "contains a NUL byte" },
		{ NULL, ".", -1, "-token-file %s/.: not a regular file" },
		{ NULL, "missing", -1,
		    "-token-file %s/missing: No such file or directory" },
		{ "LATTICE_NODE_TOKEN_FILE=%s/empty", NULL, -1,
		    "LATTICE_NODE_TOKEN_FILE %s/empty: is empty" },
		/* systemd credentials: used only when nothing else is set */
		{ "CREDENTIALS_DIRECTORY=%s/creds", NULL, 0,
		    "token=credtok;token_file=%s/creds/node-token" },
		{ "CREDENTIALS_DIRECTORY=%s/creds", "tok", 0,
		    "token=filetok;token_file=%s/tok" },
		{ "CREDENTIALS_DIRECTORY=%s/creds\nLATTICE_NODE_TOKEN=envtok",
		    NULL, 0, "token=envtok;token_file=(null)" },
		{ "CREDENTIALS_DIRECTORY=%s", NULL, -1, "no node token" },
		{ "CREDENTIALS_DIRECTORY=%s/badcreds", NULL, -1,
		    "credential %s/badcreds/node-token: is empty" },
	};
	struct config	 c;
	char		 env[256], want[256], file[128], err[512], dir[128];
	size_t		 i;
	int		 rc;

	snprintf(dir, sizeof(dir), "%s/creds", tmpdir);
	mkdir(dir, 0700);
	write_file("creds/node-token", "credtok\n", 8, 0600);
	snprintf(dir, sizeof(dir), "%s/badcreds", tmpdir);
	mkdir(dir, 0700);
	write_file("badcreds/node-token", "\n", 1, 0600);

	for (i = 0; i < nitems(cases); i++) {
		const char	*list[] = { "-node-id", "n", "-token-file",
				    file, NULL };

		if (cases[i].file == NULL)
			list[2] = NULL;
		snprintf(file, sizeof(file), "%s/%s", tmpdir,
		    cases[i].file ? cases[i].file : "");
		if (cases[i].env != NULL)
			subst(env, sizeof(env), cases[i].env, tmpdir);
		subst(want, sizeof(want), cases[i].want, tmpdir);
		rc = parse(cases[i].env ? env : NULL, list, &c, err,
		    sizeof(err));
		if (rc != cases[i].rc)
			fail_msg("token case %zu: rc %d err %s", i, rc, err);
		if (rc == 0) {
			check_fields(&c, want, "token case");
			config_free(&c);
		} else if (strstr(err, want) == NULL)
			fail_msg("token case %zu: \"%s\" lacks \"%s\"", i,
			    err, want);
	}
	clear_env();
}

static void
test_usage_secret_file(void **state)
{
	struct config	 c;
	char		 f[128], err[512];
	const char	*list[] = { "--collect", "-proxy-usage-url",
			    "http://127.0.0.1:1/", "-proxy-usage-secret-file",
			    f, NULL };

	snprintf(f, sizeof(f), "%s/sec", tmpdir);
	assert_int_equal(parse(NULL, list, &c, err, sizeof(err)), 0);
	assert_string_equal(c.usage_secret, "localsecret");
	assert_string_equal(c.usage_secret_file, f);
	config_free(&c);
	snprintf(f, sizeof(f), "%s/big", tmpdir);
	assert_int_equal(parse(NULL, list, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "-proxy-usage-secret-file"));
	assert_non_null(strstr(err, "larger than 4096"));
	clear_env();
}

static void
test_reload_secrets(void **state)
{
	struct config	 c;
	char		 tf[128], sf[128], err[512];
	const char	*list[] = { "-node-id", "n", "-token-file", tf,
			    "-proxy-usage-url", "http://127.0.0.1:1/",
			    "-proxy-usage-secret-file", sf, NULL };

	write_file("rtok", "first\n", 6, 0600);
	write_file("rsec", "s1\n", 3, 0600);
	snprintf(tf, sizeof(tf), "%s/rtok", tmpdir);
	snprintf(sf, sizeof(sf), "%s/rsec", tmpdir);
	assert_int_equal(parse(NULL, list, &c, err, sizeof(err)), 0);
	assert_string_equal(c.token, "first");
	assert_string_equal(c.usage_secret, "s1");

	/* both change */
	write_file("rtok", "second", 6, 0600);
	write_file("rsec", "s2", 2, 0600);
	assert_int_equal(config_reload_secrets(&c, err, sizeof(err)), 0);
	assert_string_equal(c.token, "second");
	assert_string_equal(c.usage_secret, "s2");

	/* unchanged is fine */
	assert_int_equal(config_reload_secrets(&c, err, sizeof(err)), 0);
	assert_string_equal(c.token, "second");

	/* one bad file: nothing changes */
	write_file("rtok", "third", 5, 0600);
	write_file("rsec", "", 0, 0600);
	assert_int_equal(config_reload_secrets(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is empty"));
	assert_string_equal(c.token, "second");
	assert_string_equal(c.usage_secret, "s2");
	write_file("rsec", "s3", 2, 0600);
	unlink(tf);
	assert_int_equal(config_reload_secrets(&c, err, sizeof(err)), -1);
	assert_string_equal(c.token, "second");
	assert_string_equal(c.usage_secret, "s2");
	config_free(&c);

	/* nothing to re-read */
	{
		const char	*l2[] = { NT, NULL };

		assert_int_equal(parse(NULL, l2, &c, err, sizeof(err)), 0);
		assert_int_equal(config_reload_secrets(&c, err, sizeof(err)),
		    0);
		assert_string_equal(c.token, "tok");
		config_free(&c);
	}
	clear_env();
}

/* The secret's bytes in argv are gone after parsing; the rest stays. */
static void
test_argv_scrubbed(void **state)
{
	static const char *const list[] = { "-node-id", "n", "-token",
	    "-76a2SECRETVALUE", "-proxy-usage-url", "http://127.0.0.1:1/",
	    "--proxy-usage-secret=USAGESECRET", NULL };
	struct args	 a;
	struct config	 c;
	char		 err[512];
	size_t		 i;

	clear_env();
	args_init(&a, list);
	assert_int_equal(config_parse(&c, a.argc, a.argv, err, sizeof(err)),
	    0);
	assert_string_equal(c.token, "-76a2SECRETVALUE");
	assert_string_equal(c.usage_secret, "USAGESECRET");
	assert_string_equal(a.argv[1], "-node-id");
	assert_string_equal(a.argv[2], "n");
	assert_string_equal(a.argv[3], "-token");
	for (i = 0; i < strlen("-76a2SECRETVALUE"); i++)
		assert_int_equal(a.argv[4][i], '\0');
	assert_string_equal(a.argv[6], "http://127.0.0.1:1/");
	assert_memory_equal(a.argv[7], "--proxy-usage-secret=\0", 22);
	for (i = 0; i < strlen("USAGESECRET"); i++)
		assert_int_equal(a.argv[7][21 + i], '\0');
	config_free(&c);
	args_free(&a);

	/* also on a usage error and in modes that ignore the token */
	{
		static const char *const l2[] = { "--selfcheck-controlplane",
		    "-token=SELFTOKEN", "-nope", NULL };

		args_init(&a, l2);
		assert_int_equal(config_parse(&c, a.argc, a.argv, err,
		    sizeof(err)), -1);
		assert_memory_equal(a.argv[2], "-token=\0\0\0\0\0\0\0\0\0", 16);
		args_free(&a);
	}
}

/* Run by the child: parse our real argv, then read /proc/self/cmdline. */
static int
scrub_child(int argc, char **argv)
{
	struct config	 c;
	char		 err[512], buf[4096];
	ssize_t		 n, len = 0;
	int		 fd;

	if (config_parse(&c, argc, argv, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 3;
	}
	if ((fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC)) == -1)
		return 4;
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	if (memmem(buf, (size_t)len, "SECRETTOKEN", 11) != NULL ||
	    memmem(buf, (size_t)len, "USAGESECRET", 11) != NULL)
		return 1;
	if (memmem(buf, (size_t)len, "nodeid42", 8) == NULL)
		return 5;		/* the rest must still be there */
	config_free(&c);
	return 0;
}

static void
test_proc_cmdline_scrubbed(void **state)
{
	char	*argv[] = { "test_config", "-node-id", "nodeid42", "-token",
		    "-SECRETTOKEN", "-proxy-usage-url", "http://127.0.0.1:1/",
		    "-proxy-usage-secret=USAGESECRET", NULL };
	char	*envp[] = { "TEST_CONFIG_SCRUB_CHILD=1", NULL };
	char	 self[4096];
	ssize_t	 n;
	pid_t	 pid;
	int	 status;

	/* The real path: under valgrind /proc/self/exe is valgrind. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execve(self, argv, envp);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_usage_lists_every_flag(void **state)
{
	static const char *names[] = { "-server", "-node-id", "-token ",
	    "-token-file", "-interval", "-allow-exec", "-allow-root-exec",
	    "-no-exec", "-allow-insecure-http", "-public-ip ", "-public-ip6",
	    "-wg-ip", "-wg-pubkey", "-wg-endpoint", "-wg-port",
	    "-proxy-usage-file", "-proxy-usage-url", "-proxy-usage-secret ",
	    "-proxy-usage-secret-file", "-proxy-usage-timeout", "-ca-file",
	    "-state-dir", "-log-format", "-debug", "-host-root", "-once",
	    "-collect", "-task-concurrency", "-shutdown-grace", "-timeout",
	    "-selfcheck-controlplane", "-update-nft-domain-set", "-host ",
	    "-family", "-table", "-set ", "-set6", "-nft ", "-version",
	    "-help", "LATTICE_NODE_TOKEN_FILE", "(default 10s)",
	    "(default \"http://127.0.0.1:8088\")" };
	char	*text = NULL;
	size_t	 len = 0, i;
	FILE	*fp;

	assert_non_null(fp = open_memstream(&text, &len));
	config_usage(fp);
	fclose(fp);
	for (i = 0; i < nitems(names); i++) {
		if (strstr(text, names[i]) == NULL)
			fail_msg("usage lacks %s", names[i]);
	}
	assert_non_null(strstr(text, "  -interval duration\n"));
	assert_non_null(strstr(text, "  -allow-exec\n"));
	free(text);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_every_flag_every_form),
		cmocka_unit_test(test_every_bool),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_token_files),
		cmocka_unit_test(test_usage_secret_file),
		cmocka_unit_test(test_reload_secrets),
		cmocka_unit_test(test_argv_scrubbed),
		cmocka_unit_test(test_proc_cmdline_scrubbed),
		cmocka_unit_test(test_usage_lists_every_flag),
	};
	int	 rc;

	if (getenv("TEST_CONFIG_SCRUB_CHILD") != NULL)
		return scrub_child(argc, argv);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
	curl_global_cleanup();
	return rc;
}
