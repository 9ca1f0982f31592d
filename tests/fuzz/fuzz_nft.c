/*
 * libFuzzer target for the --update-nft-domain-set input handling: host
 * normalisation and the whole validate -> canonicalise -> answer rules ->
 * batch path.  Input: up to five '\n'-separated fields (host, family,
 * table, set, set6); the rest, after a NUL, is raw address bytes (the low
 * bit of each chunk's first byte picks IPv4 or IPv6).  Checks that an
 * accepted host is a fixed point of normalisation, that canonical lists are
 * strictly ascending, and that the batch is nothing but well-formed nft
 * statements for the validated names.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nft.h"
#include "resolve.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_host(const char *in)
{
	char	 out[NFT_HOST_SIZE], again[NFT_HOST_SIZE], err[512];
	size_t	 i;

	if (nft_host_normalise(in, out, err, sizeof(err)) == -1)
		return;
	if (strlen(out) > 253)
		abort();
	for (i = 0; out[i] != '\0'; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyz0123456789.-:",
		    out[i]) == NULL)
			abort();
	if (nft_host_normalise(out, again, err, sizeof(err)) == -1 ||
	    strcmp(out, again) != 0)
		abort();
}

static void
check_batch(const char *batch, const struct nft_args *a)
{
	const char	*line = batch, *nl;
	char		 p1[256], p2[256];

	snprintf(p1, sizeof(p1), "flush set %s %s ", a->family, a->table);
	snprintf(p2, sizeof(p2), "add element %s %s ", a->family, a->table);
	for (; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			abort();	/* every statement ends its line */
		if (strncmp(line, p1, strlen(p1)) != 0 &&
		    strncmp(line, p2, strlen(p2)) != 0)
			abort();
		for (; line < nl; line++)
			if (*line < 0x20 || *line > 0x7e || *line == ';')
				abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char			*text, *fields[5] = { NULL }, *p;
	char			 host[NFT_HOST_SIZE], err[512];
	size_t			 textlen, i, nf = 0;
	struct resolve_addrs	 addrs;
	struct nft_args		 a;
	struct buf		 b;

	textlen = strnlen((const char *)data, size);
	text = xstrndup((const char *)data, textlen);
	check_host(text);

	for (p = text; nf < nitems(fields); nf++) {
		fields[nf] = p;
		if ((p = strchr(p, '\n')) == NULL)
			break;
		*p++ = '\0';
	}
	memset(&a, 0, sizeof(a));
	a.host = fields[0];
	a.family = fields[1];
	a.table = fields[2];
	a.set = fields[3];
	a.set6 = fields[4];
	if (nft_validate(&a, host, err, sizeof(err)) == -1)
		goto out;
	if (a.family == NULL)
		a.family = NFT_DEFAULT_FAMILY;

	memset(&addrs, 0, sizeof(addrs));
	for (i = textlen + 1; i < size; ) {
		if ((data[i] & 1) == 0 && size - i >= 4) {
			struct in_addr	 in;

			memcpy(&in, data + i, 4);
			resolve_addrs_add4(&addrs, &in);
			i += 4;
		} else if (size - i >= 16) {
			struct in6_addr	 in6;

			memcpy(&in6, data + i, 16);
			resolve_addrs_add6(&addrs, &in6);
			i += 16;
		} else
			break;
	}
	nft_addrs_canon(&addrs);
	for (i = 1; i < addrs.n4; i++)
		if (memcmp(&addrs.v4[i - 1], &addrs.v4[i], 4) >= 0)
			abort();
	for (i = 1; i < addrs.n6; i++)
		if (memcmp(&addrs.v6[i - 1], &addrs.v6[i], 16) >= 0)
			abort();
	(void)nft_check_answers(&a, host, &addrs, err, sizeof(err));
	buf_init(&b);
	nft_batch(&b, &a, &addrs);
	check_batch(b.data != NULL ? b.data : "", &a);
	buf_free(&b);
	resolve_addrs_free(&addrs);
out:
	free(text);
	return (0);
}
