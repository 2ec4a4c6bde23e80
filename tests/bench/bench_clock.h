/*
 * bench_clock: what the C benchmarks share: a monotonic clock in
 * microseconds and the comparison that sorts runs for a median.
 */
#ifndef LETTAMX_BENCH_CLOCK_H
#define LETTAMX_BENCH_CLOCK_H

#include <time.h>

static inline double us_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static inline int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

#endif
