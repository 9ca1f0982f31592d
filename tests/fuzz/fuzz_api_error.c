/* libFuzzer target: Lattice error bodies (api_parse_error). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_error	 e;

	if (api_parse_error((const char *)data, size, &e) == 0) {
		/* Fields are always terminated, bounded and clean. */
		if (strlen(e.code) >= sizeof(e.code) ||
		    strlen(e.message) >= sizeof(e.message) ||
		    strlen(e.request_id) >= sizeof(e.request_id))
			__builtin_trap();
	}
	return 0;
}
