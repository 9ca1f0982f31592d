/*
 * backoff: capped exponential backoff with full jitter, and jittered
 * intervals, from OpenSSL's CSPRNG so a fleet started in the same second
 * does not stay in step.  Pure apart from the random source, which tests
 * can replace.
 */
#ifndef BACKOFF_H
#define BACKOFF_H

#include <stdint.h>

/* The longest Retry-After honoured; a larger request is clamped. */
#define BACKOFF_MAX_MIN_MS	(15 * 60 * 1000)

struct backoff {
	int64_t		 base_ms;
	int64_t		 cap_ms;
	unsigned int	 failures;
};

void	 backoff_init(struct backoff *, int64_t base_ms, int64_t cap_ms);
void	 backoff_reset(struct backoff *);
/*
 * Record one more failure and return the delay before the next try:
 * uniform in [0, min(cap, base * 2^failures)], at least min_ms (e.g. a
 * server's Retry-After, clamped to BACKOFF_MAX_MIN_MS).
 */
int64_t	 backoff_next(struct backoff *, int64_t min_ms);
/* Upper bound of the delay the next failure may draw (for logs). */
int64_t	 backoff_ceiling(const struct backoff *);

/* interval scaled by a uniform factor in [1 - spread, 1 + spread]. */
int64_t	 backoff_jitter(int64_t interval_ms, double spread);
/* Uniform in [0, n). */
uint64_t backoff_random(uint64_t n);
/* Tests: replace the random source (NULL restores OpenSSL's). */
void	 backoff_set_random(uint64_t (*)(uint64_t));

#endif
