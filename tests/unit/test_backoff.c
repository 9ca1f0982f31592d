/* Unit tests for backoff.c with a scripted random source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backoff.h"

/* "Random" = the largest value allowed, so ceilings are observable. */
static uint64_t
rng_max(uint64_t n)
{
	return n - 1;
}

static uint64_t
rng_zero(uint64_t n)
{
	return 0;
}

static void
test_exponential_capped(void **state)
{
	struct backoff	 b;
	int64_t		 want[] = { 1000, 2000, 4000, 8000, 10000, 10000 };
	size_t		 i;

	backoff_set_random(rng_max);
	backoff_init(&b, 1000, 10000);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(backoff_next(&b, 0), want[i]);
	backoff_reset(&b);
	assert_int_equal(backoff_next(&b, 0), 1000);
	/* Many failures never overflow. */
	for (i = 0; i < 200; i++)
		assert_int_equal(backoff_next(&b, 0) <= 10000, 1);
	backoff_set_random(NULL);
}

static void
test_min_honoured(void **state)
{
	struct backoff	 b;

	backoff_set_random(rng_zero);
	backoff_init(&b, 1000, 10000);
	assert_int_equal(backoff_next(&b, 0), 0);	/* full jitter */
	assert_int_equal(backoff_next(&b, 7000), 7000);	/* Retry-After */
	/* Retry-After: 86400 does not park the agent for a day. */
	assert_int_equal(backoff_next(&b, 86400000), BACKOFF_MAX_MIN_MS);
	backoff_set_random(NULL);
}

static void
test_jitter_range(void **state)
{
	int	 i;
	int64_t	 v;

	backoff_set_random(rng_zero);
	assert_int_equal(backoff_jitter(10000, 0.1), 9000);
	backoff_set_random(rng_max);
	assert_int_equal(backoff_jitter(10000, 0.1), 11000);
	backoff_set_random(NULL);
	for (i = 0; i < 1000; i++) {
		v = backoff_jitter(10000, 0.1);
		assert_true(v >= 9000 && v <= 11000);
	}
	assert_int_equal(backoff_jitter(5, 0.1), 5);
	assert_int_equal(backoff_random(1), 0);
	assert_int_equal(backoff_random(0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exponential_capped),
		cmocka_unit_test(test_min_honoured),
		cmocka_unit_test(test_jitter_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
