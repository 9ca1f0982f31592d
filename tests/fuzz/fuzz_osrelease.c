/*
 * libFuzzer target for the os-release(5) parser of facts.c: quoting,
 * escapes and comments from hostile text, into normal and tiny buffers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "facts.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*keys[] = { "ID", "VERSION_ID", "NAME", "" };
	char			*text, out[FACTS_STR_MAX + 1], tiny[2];
	size_t			 i;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		facts_os_release_value(text, keys[i], out, sizeof(out));
		if (strlen(out) >= sizeof(out))
			abort();
		facts_os_release_value(text, keys[i], tiny, sizeof(tiny));
		if (strlen(tiny) >= sizeof(tiny))
			abort();
	}
	free(text);
	return 0;
}
