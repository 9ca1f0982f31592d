/* libFuzzer target: the UTF-8 sanitiser, clamp and field cleaner. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Is s[0..len) valid UTF-8 (NUL allowed)? */
static int
valid(const char *s, size_t len)
{
	size_t	 i = 0, n;

	while (i < len) {
		if ((n = utf8_seq_len((const unsigned char *)s + i,
		    len - i)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf	 b;
	char		*field;
	size_t		 cut;

	buf_init(&b);
	utf8_sanitize(&b, (const char *)data, size);
	if (!valid(b.data, b.len))
		__builtin_trap();
	cut = utf8_clamp(b.data, b.len, size / 2);
	if (cut > size / 2 || !valid(b.data, cut))
		__builtin_trap();
	buf_free(&b);

	field = xstrndup((const char *)data, size);
	utf8_clean_field(field, 96);
	if (strlen(field) > 96 || !valid(field, strlen(field)))
		__builtin_trap();
	free(field);
	return 0;
}
