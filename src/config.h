/*
 * config: the command line and environment, parsed the way the original Go
 * agent's `flag` package parsed them, then validated for the chosen mode.
 *
 * config_parse() is the only entry point main() needs: it reads argv and
 * the environment (flags win over env), validates everything the chosen
 * mode uses, reads token and secret files, and fills a struct config that
 * the caller owns and releases with config_free().  Usage errors come back
 * as one line in errbuf (the caller prints it and exits 2); nothing is
 * logged here.  Secrets taken from argv are overwritten in place so
 * /proc/<pid>/cmdline no longer shows them, and every secret is registered
 * with log_add_secret() (and removed again by config_free()).
 *
 * Token sources: a value (-token, else LATTICE_NODE_TOKEN) or a file
 * (-token-file, else LATTICE_NODE_TOKEN_FILE); giving both kinds is an
 * error.  With neither, $CREDENTIALS_DIRECTORY/node-token is used when it
 * exists.  Token and secret files: regular, at most 4096 bytes, trimmed,
 * not empty, no inner whitespace or control characters.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

#define CONFIG_DEFAULT_SERVER	"http://127.0.0.1:8088"
#define CONFIG_DEFAULT_STATE_DIR "/var/lib/lattice-agent"
#define CONFIG_MIN_INTERVAL_MS	100
#define CONFIG_MAX_SECRET	4096

enum config_mode {
	CONFIG_MODE_DAEMON,
	CONFIG_MODE_ONCE,
	CONFIG_MODE_COLLECT,
	CONFIG_MODE_SELFCHECK,
	CONFIG_MODE_NFT,
	CONFIG_MODE_VERSION,
	CONFIG_MODE_HELP,
};

/*
 * Every string is owned by the struct (NULL when unset; never "", except
 * that an empty -server is an error).  Fields a mode does not use keep
 * whatever was given, unvalidated: read only those of your mode.
 */
struct config {
	enum config_mode mode;
	char		*server;	/* validated, no trailing '/'; NULL in
					   collect, nft, version, help */
	int		 server_insecure; /* cleartext to a remote host was
					   allowed: the caller warns */
	char		*node_id;
	char		*token;		/* daemon/once only, else NULL */
	char		*token_file;	/* re-read on SIGHUP, else NULL */
	int64_t		 interval_ms;	/* -interval, default 10s, >= 100ms */
	int		 allow_exec;
	int		 allow_root_exec;
	int		 no_exec;
	int		 allow_insecure_http;
	char		*public_ip;
	char		*public_ip6;
	char		*wg_ip;
	char		*wg_pubkey;
	char		*wg_endpoint;
	int		 wg_port;	/* 0..65535 */
	char		*usage_file;
	char		*usage_url;	/* validated loopback URL */
	char		*usage_secret;	/* from the flag, env or the file */
	char		*usage_secret_file; /* re-read on SIGHUP, else NULL */
	int64_t		 usage_timeout_ms; /* default 3s */
	char		*ca_file;
	char		*state_dir;	/* the choice; the spool checks it */
	char		*host_root;	/* default "/" */
	enum log_format	 log_format;
	int		 debug;
	int		 task_concurrency; /* default 1, 1..16 */
	int64_t		 shutdown_grace_ms; /* default 10s */
	int64_t		 timeout_ms;	/* -timeout (one-shot modes), 10s */
	char		*nft_host;
	char		*nft_family;	/* default "inet" */
	char		*nft_table;
	char		*nft_set;
	char		*nft_set6;
	char		*nft_bin;	/* absolute path, or NULL: "nft" */
};

/*
 * Parse argv (argv[0] is the program name) and the environment into
 * *ret.  Returns 0 (also for -h, mode CONFIG_MODE_HELP: print usage, exit
 * 0) or -1 with one line in errbuf, *ret untouched (exit 2).
 */
int	config_parse(struct config *ret, int argc, char **argv, char *errbuf,
	    size_t errlen);

/* Release everything (secrets zeroed); accepts NULL. */
void	config_free(struct config *);

/*
 * Wipe secret values from the process environment block after
 * config_parse() copied them, so /proc/<pid>/environ stops showing them.
 */
void	config_scrub_environment(void);

/*
 * SIGHUP: re-read token_file and usage_secret_file.  All or nothing: on
 * error -1 with errbuf and the old values are kept.  0 also when there is
 * nothing to re-read.
 */
int	config_reload_secrets(struct config *, char *errbuf, size_t errlen);

/*
 * Go's time.ParseDuration ("10s", "1m30s", "1.5h", "-2ms", "0"; units ns
 * us µs ms s m h), result rounded to the nearest millisecond.  0 or -1
 * (syntax or overflow); *ret_ms untouched on failure.
 */
int	config_parse_duration(const char *, int64_t *ret_ms);

/* Print the usage listing of every flag, as Go's flag package does. */
void	config_usage(FILE *);

/* The name of a mode for messages ("daemon", "selfcheck", ...). */
const char *config_mode_name(enum config_mode);

#endif
