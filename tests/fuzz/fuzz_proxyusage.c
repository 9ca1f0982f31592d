/*
 * libFuzzer target for proxyusage.c: any bytes through the parser for both
 * sources, the report bodies built from what it accepts, and the error
 * contract (short, valid UTF-8, no control characters) checked on what it
 * refuses.  Seeds: tests/fuzz/corpus/proxyusage/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxyusage.h"
#include "utf8.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_text(const char *s)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i, len = strlen(s), n;

	if (len > PROXYUSAGE_ERROR_MAX)
		abort();
	for (i = 0; i < len; i += n) {
		if ((n = utf8_seq_len(u + i, len - i)) == 0)
			abort();
		if (n == 1 && (u[i] < 0x20 || u[i] == 0x7f))
			abort();
	}
}

static void
one(const char *text, size_t len, enum proxyusage_source src)
{
	struct proxyusage_snapshot	*snap = NULL;
	char				 err[PROXYUSAGE_ERROR_MAX + 1], *s;
	json_t				*j;

	if (proxyusage_parse(text, len, src, &snap, err, sizeof(err)) == -1) {
		if (snap != NULL)
			abort();
		check_text(err);
		return;
	}
	if (proxyusage_user_count(snap) > PROXYUSAGE_MAX_USERS)
		abort();
	if ((proxyusage_dropped_count(snap) == 0) !=
	    (proxyusage_dropped_fingerprint(snap) == 0))
		abort();
	if (strlen(proxyusage_dropped_summary(snap)) > 512)
		abort();
	j = proxyusage_report_ok(snap, "node-1", src, 1781438400);
	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		abort();
	free(s);
	json_decref(j);
	proxyusage_snapshot_free(snap);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*text;
	json_t	*j;

	if (size > PROXYUSAGE_MAX_INPUT)
		return 0;
	one((const char *)data, size, PROXYUSAGE_FILE);
	one((const char *)data, size, PROXYUSAGE_HTTP);

	/* The input as a collector error text. */
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	j = proxyusage_report_error("node-1", PROXYUSAGE_HTTP, text,
	    1781438400);
	check_text(json_string_value(json_object_get(json_object_get(j,
	    "snapshot"), "collector_error")));
	json_decref(j);
	free(text);
	return 0;
}
