/*
 * harness: lettamx's tiny unit-test harness.
 *
 * A test file defines `static void test_xxx(void)` functions and a main()
 * that calls RUN(test_xxx) for each, then `return harness_done("suite");`.
 * A test passes when none of its CHECKs failed. A failed CHECK prints
 * file:line, the expression and both values, and the test goes on (so one
 * run shows every broken expectation). harness_done() prints
 *   <suite>: N passed, M failed
 * which tests/run.sh adds up; it returns the process exit status.
 */
#ifndef LETTAMX_HARNESS_H
#define LETTAMX_HARNESS_H

#include <stddef.h>
#include <stdint.h>

void harness_run(const char *name, void (*fn)(void));
int harness_done(const char *suite);

/* Record a failure; used by the CHECK macros. Returns 0. */
int harness_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Scratch directory unique to this test process (created on first use,
 * removed with its contents by harness_done()). */
const char *harness_tmpdir(void);

#define RUN(fn) harness_run(#fn, fn)

#define CHECK(cond) \
	((cond) ? 1 : harness_fail(__FILE__, __LINE__, "CHECK(%s)", #cond))

#define CHECK_INT(a, op, b) do { \
	long long a_ = (long long)(a), b_ = (long long)(b); \
	if (!(a_ op b_)) \
		harness_fail(__FILE__, __LINE__, "%s %s %s: %lld vs %lld", \
		             #a, #op, #b, a_, b_); \
} while (0)

#define CHECK_EQ(a, b) CHECK_INT(a, ==, b)

#define CHECK_STR(a, b) do { \
	const char *a_ = (a), *b_ = (b); \
	if (!harness_str_eq(a_, b_)) \
		harness_fail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", \
		             #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
} while (0)

/* Compares a (ptr, len) slice with a C string. */
#define CHECK_MEM(p, n, s) do { \
	if (!harness_mem_eq((p), (n), (s))) \
		harness_fail(__FILE__, __LINE__, "%s == %s: \"%.*s\" vs \"%s\"", \
		             #p, #s, (int)(n), (const char *)(p), (s)); \
} while (0)

int harness_str_eq(const char *a, const char *b);
int harness_mem_eq(const void *p, size_t n, const char *s);

#endif
