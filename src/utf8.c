/*
 * UTF-8 validation, repair and boundary-safe truncation (RFC 3629).
 */
#include <string.h>

#include "utf8.h"

static const char replacement[] = "\xef\xbf\xbd";	/* U+FFFD */

size_t
utf8_seq_len(const unsigned char *s, size_t avail)
{
	unsigned char	 c = s[0];
	size_t		 n, i;
	unsigned char	 lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;		/* overlong */
		else if (c == 0xed)
			hi = 0x9f;		/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;		/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;		/* > U+10FFFF */
	} else
		return 0;
	if (avail < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return n;
}

size_t
utf8_sanitize(struct buf *out, const char *in, size_t len)
{
	const unsigned char	*s = (const unsigned char *)in;
	size_t			 i = 0, start = 0, n, bad = 0;

	buf_reserve(out, len);
	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_seq_len(s + i, len - i)) != 0) {
			i += n;
			continue;
		}
		buf_add(out, in + start, i - start);
		buf_add(out, replacement, sizeof(replacement) - 1);
		bad++;
		start = ++i;
	}
	buf_add(out, in + start, i - start);
	return bad;
}

size_t
utf8_clamp(const char *s, size_t len, size_t max)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 n;

	if (len <= max)
		return len;
	n = max;
	/* Back off over continuation bytes to the start of a character. */
	while (n > 0 && (u[n] & 0xc0) == 0x80)
		n--;
	return n;
}

void
utf8_clean_field(char *s, size_t max)
{
	unsigned char	*u = (unsigned char *)s;
	size_t		 i = 0, o = 0, len = strlen(s), n, k;
	int		 space = 1;	/* drops leading whitespace */

	while (i < len) {
		if ((n = utf8_seq_len(u + i, len - i)) == 0) {
			i++;
			continue;
		}
		/* C0, space, DEL and the two-byte C1 block are all "space". */
		if ((n == 1 && (u[i] <= 0x20 || u[i] == 0x7f)) ||
		    (n == 2 && u[i] == 0xc2 && u[i + 1] < 0xa0)) {
			if (!space)
				u[o++] = ' ';
			space = 1;
			i += n;
			continue;
		}
		for (k = 0; k < n; k++)
			u[o++] = u[i++];
		space = 0;
	}
	while (o > 0 && u[o - 1] == ' ')
		o--;
	o = utf8_clamp(s, o, max);
	while (o > 0 && u[o - 1] == ' ')
		o--;
	s[o] = '\0';
}
