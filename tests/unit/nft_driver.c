/*
 * Test driver for the --update-nft-domain-set mode until main.c wires it:
 * takes the same flags (-host -family -table -set -set6 -nft, one
 * "-flag value" pair each, LATTICE_NFT as the fallback for -nft) and exits
 * with nft_run()'s status, so tests/integration/test_nft.sh can drive the
 * real code path against real nftables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "nft.h"

int
main(int argc, char **argv)
{
	struct nft_args		 a;
	struct event_base	*base;
	int			 i, rv;

	memset(&a, 0, sizeof(a));
	a.nft_bin = getenv("LATTICE_NFT");
	for (i = 1; i < argc; i++) {
		const char	*f = argv[i];

		if (strcmp(f, "--update-nft-domain-set") == 0)
			continue;
		if (i + 1 >= argc) {
			fprintf(stderr, "nft_driver: %s needs a value\n", f);
			return (2);
		}
		if (f[0] == '-' && f[1] == '-')
			f++;
		if (strcmp(f, "-host") == 0)
			a.host = argv[++i];
		else if (strcmp(f, "-family") == 0)
			a.family = argv[++i];
		else if (strcmp(f, "-table") == 0)
			a.table = argv[++i];
		else if (strcmp(f, "-set") == 0)
			a.set = argv[++i];
		else if (strcmp(f, "-set6") == 0)
			a.set6 = argv[++i];
		else if (strcmp(f, "-nft") == 0)
			a.nft_bin = argv[++i];
		else {
			fprintf(stderr, "nft_driver: unknown flag %s\n", f);
			return (2);
		}
	}
	log_init(LOG_FORMAT_LOGFMT, getenv("LATTICE_AGENT_DEBUG") != NULL);
	if ((base = event_base_new()) == NULL)
		return (1);
	rv = nft_run(base, &a);
	event_base_free(base);
	return (rv);
}
