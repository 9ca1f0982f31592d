/*
 * lattice-agent: entry point.  Parses the command line and hands over to
 * the mode it asked for.
 */
#include <stdio.h>
#include <string.h>

#include "version.h"

int
main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-version") == 0 ||
	    strcmp(argv[1], "--version") == 0)) {
		printf("lattice-agent %s\n", AGENT_VERSION);
		return 0;
	}
	return 2;
}
