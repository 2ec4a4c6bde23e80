/*
 * storefx: the fixture shared by the store tests (header-only, as the
 * Makefile links one test file with the harness): a fresh directory per
 * test, and a store opened there on the test's clock.
 */
#ifndef LETTAMX_STOREFX_H
#define LETTAMX_STOREFX_H

#include <stdio.h>

#include "harness.h"
#include "store/store.h"

/* A fresh store directory for one test (valid until the next call). */
static inline const char *storefx_dir(const char *name)
{
	static char path[512];

	snprintf(path, sizeof path, "%s/%s", harness_tmpdir(), name);
	return path;
}

/* The store at dir (map bytes mapped, 0: the default) on clock; a
 * failure to open fails the test. */
static inline struct store *storefx_open(const char *dir, size_t map,
                                         int64_t (*clock)(void))
{
	struct store_opts o = { .map_size = map, .clock = clock };
	struct store *s = NULL;
	char why[512];
	int r = store_open(&s, dir, &o, why, sizeof why);

	if (r)
		harness_fail(__FILE__, __LINE__, "store_open %s: %d %s", dir, r,
		             why);
	return s;
}

#endif
