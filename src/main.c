/*
 * lattice-agent: parse the command line like Go's flag package, set up
 * logging and the libraries, and hand over to the mode asked for.  Usage
 * errors exit 2 with one line naming the flag; nothing touches the network
 * before the configuration is known to be good.
 */
#include <sys/prctl.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "agent.h"
#include "collect.h"
#include "config.h"
#include "log.h"
#include "nft.h"
#include "notify.h"
#include "selfcheck.h"
#include "version.h"

static int
main_oneshot(struct config *cfg)
{
	struct event_base	*base;
	struct nft_args		 nargs;
	int			 status;

	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	switch (cfg->mode) {
	case CONFIG_MODE_SELFCHECK:
		status = selfcheck_run(base, cfg);
		break;
	case CONFIG_MODE_NFT:
		memset(&nargs, 0, sizeof(nargs));
		nargs.host = cfg->nft_host;
		nargs.family = cfg->nft_family;
		nargs.table = cfg->nft_table;
		nargs.set = cfg->nft_set;
		nargs.set6 = cfg->nft_set6;
		nargs.nft_bin = cfg->nft_bin;
		status = nft_run(base, &nargs);
		break;
	default:
		status = collect_run(base, cfg);
		break;
	}
	event_base_free(base);
	return status;
}

int
main(int argc, char **argv)
{
	struct config	 cfg;
	char		 err[512];
	int		 status;

	/* Peers that hang up must not kill us; writes report EPIPE. */
	signal(SIGPIPE, SIG_IGN);

	if (config_parse(&cfg, argc, argv, err, sizeof(err)) == -1) {
		fprintf(stderr, "lattice-agent: %s\n", err);
		return 2;
	}
	switch (cfg.mode) {
	case CONFIG_MODE_VERSION:
		printf("lattice-agent %s\n", AGENT_VERSION);
		config_free(&cfg);
		return 0;
	case CONFIG_MODE_HELP:
		/* Like Go's flag package: usage on stderr, exit 0. */
		config_usage(stderr);
		config_free(&cfg);
		return 0;
	default:
		break;
	}

	/*
	 * Secrets live in this process: no core dumps, and no reading of our
	 * /proc files (environ, mem) by same-uid processes such as tasks.
	 */
	config_scrub_environment();
	if (prctl(PR_SET_DUMPABLE, 0) == -1)
		log_warn("prctl(PR_SET_DUMPABLE)");
	log_init(cfg.log_format, cfg.debug);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init");
	notify_init();

	switch (cfg.mode) {
	case CONFIG_MODE_DAEMON:
	case CONFIG_MODE_ONCE:
		status = agent_run(&cfg);
		break;
	default:
		status = main_oneshot(&cfg);
		break;
	}

	notify_close();
	curl_global_cleanup();
	config_free(&cfg);
	return status;
}
