/*
 * Backoff and jitter.  Full jitter (a uniform draw below the exponential
 * ceiling) spreads retries of many agents best; see AWS's "Exponential
 * Backoff And Jitter".
 */
#include <openssl/rand.h>

#include "backoff.h"
#include "log.h"

static uint64_t	(*backoff_rng)(uint64_t);

void
backoff_init(struct backoff *b, int64_t base_ms, int64_t cap_ms)
{
	b->base_ms = base_ms;
	b->cap_ms = cap_ms;
	b->failures = 0;
}

void
backoff_reset(struct backoff *b)
{
	b->failures = 0;
}

int64_t
backoff_ceiling(const struct backoff *b)
{
	int64_t		 ceil = b->base_ms;
	unsigned int	 i;

	for (i = 0; i < b->failures && ceil < b->cap_ms; i++)
		ceil *= 2;
	return ceil < b->cap_ms ? ceil : b->cap_ms;
}

int64_t
backoff_next(struct backoff *b, int64_t min_ms)
{
	int64_t	 ceil, delay;

	ceil = backoff_ceiling(b);
	if (b->failures < 64)
		b->failures++;
	delay = (int64_t)backoff_random((uint64_t)ceil + 1);
	/* A server (or a proxy in front of it) may ask for a day: cap it. */
	if (min_ms > BACKOFF_MAX_MIN_MS)
		min_ms = BACKOFF_MAX_MIN_MS;
	return delay < min_ms ? min_ms : delay;
}

int64_t
backoff_jitter(int64_t interval_ms, double spread)
{
	int64_t	 span = (int64_t)((double)interval_ms * spread);

	if (span <= 0)
		return interval_ms;
	return interval_ms - span +
	    (int64_t)backoff_random((uint64_t)(2 * span) + 1);
}

uint64_t
backoff_random(uint64_t n)
{
	uint64_t	 r, limit;

	if (n <= 1)
		return 0;
	if (backoff_rng != NULL)
		return backoff_rng(n) % n;
	/* Rejection sampling: no modulo bias. */
	limit = UINT64_MAX - UINT64_MAX % n;
	do {
		if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
			fatalx("RAND_bytes failed");
	} while (r >= limit);
	return r % n;
}

void
backoff_set_random(uint64_t (*rng)(uint64_t))
{
	backoff_rng = rng;
}
