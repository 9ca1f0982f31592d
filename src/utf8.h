/*
 * utf8: make arbitrary bytes valid UTF-8 and cut strings on character
 * boundaries.  The server rejects JSON strings that are not valid UTF-8 and
 * counts limits in bytes, so every string built from outside data (task
 * output, /proc text) passes through here.
 */
#ifndef UTF8_H
#define UTF8_H

#include <stddef.h>

#include "util.h"

/*
 * Append in[0..len) to out with every byte that is not part of a valid
 * UTF-8 sequence (overlong forms, surrogates, > U+10FFFF, truncated
 * sequences) replaced by U+FFFD.  Returns the number of replacements.
 */
size_t	 utf8_sanitize(struct buf *out, const char *in, size_t len);

/* Length of the valid sequence starting at s (1-4), or 0 if invalid. */
size_t	 utf8_seq_len(const unsigned char *s, size_t avail);

/*
 * Largest n <= max such that s[0..n) ends on a character boundary.
 * s[0..len) must be valid UTF-8.
 */
size_t	 utf8_clamp(const char *s, size_t len, size_t max);

/*
 * Clean a short text field in place for the server: invalid UTF-8 is
 * dropped, control characters (C0, DEL, C1) become spaces, runs of
 * whitespace collapse to one space, both ends are trimmed, and the result
 * is clamped to max bytes on a character boundary.
 */
void	 utf8_clean_field(char *s, size_t max);

#endif
