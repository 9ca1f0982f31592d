/*
 * libFuzzer target for config.c: the input is a command line, one argument
 * per line (the first line is an optional duration fed to
 * config_parse_duration as well).  Checks that parsing never crashes or
 * leaks, that errors are one line, that secrets are scrubbed from argv and
 * that an accepted server URL obeys the transport rule.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "config.h"
#include "urlguard.h"
#include "util.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Only the command line matters; never a real token source. */
	clearenv();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	 c;
	char		*text, *p, *nl, *av[66], err[512];
	int64_t		 ms;
	int		 ac = 0;

	if (size > 4096)
		return 0;
	text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	p = text;
	av[ac++] = "lattice-agent";
	while (ac < 65) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl = '\0';
		av[ac++] = p;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	av[ac] = NULL;
	(void)config_parse_duration(av[1], &ms);

	err[0] = '\0';
	if (config_parse(&c, ac, av, err, sizeof(err)) == -1) {
		if (err[0] == '\0' || strchr(err, '\n') != NULL)
			abort();
	} else {
		if (c.server != NULL && strncmp(c.server, "https://", 8) != 0) {
			CURLU	*h = curl_url();
			char	*host = NULL;

			if (strncmp(c.server, "http://", 7) != 0 ||
			    curl_url_set(h, CURLUPART_URL, c.server, 0) != 0 ||
			    curl_url_get(h, CURLUPART_HOST, &host, 0) != 0)
				abort();
			if (!c.server_insecure &&
			    !urlguard_host_is_loopback(host))
				abort();
			curl_free(host);
			curl_url_cleanup(h);
		}
		if (c.token != NULL && strpbrk(c.token, " \t\r\n") != NULL)
			abort();
		config_free(&c);
	}
	free(text);
	return 0;
}
