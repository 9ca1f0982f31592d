/*
 * libFuzzer target for urlguard.c: the input is one URL.  Beyond "never
 * crash", it checks the guard against curl itself: a cleartext server URL
 * accepted without -allow-insecure-http, and any accepted usage URL, must
 * re-parse to a loopback host, and the normalised server URL must be
 * accepted again unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "urlguard.h"
#include "util.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

/* The host curl connects to for url must be loopback. */
static void
check_loopback(const char *url)
{
	CURLU	*h = curl_url();
	char	*host = NULL;

	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    !urlguard_host_is_loopback(host))
		abort();
	curl_free(host);
	curl_url_cleanup(h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*url, *out, *again, err[256];
	int	 insecure, insecure2;

	if (size > 8192)
		return 0;
	url = xmalloc(size + 1);
	memcpy(url, data, size);
	url[size] = '\0';

	(void)urlguard_host_is_loopback(url);
	if (urlguard_server(url, 0, &out, &insecure, err, sizeof(err)) == 0) {
		if (insecure)
			abort();
		if (strncmp(out, "https://", 8) != 0)
			check_loopback(out);
		if (urlguard_server(out, 0, &again, &insecure2, err,
		    sizeof(err)) != 0 || strcmp(out, again) != 0)
			abort();
		free(again);
		free(out);
	}
	if (urlguard_server(url, 1, &out, &insecure, err, sizeof(err)) == 0)
		free(out);
	if (urlguard_usage_url(url, err, sizeof(err)) == 0)
		check_loopback(url);
	free(url);
	return 0;
}
