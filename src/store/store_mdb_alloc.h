/*
 * store_mdb_alloc: forced into LMDB's own files by the Makefile (-include,
 * LMDB_DEFS), nowhere else. Each nested transaction of a store batch
 * (store_batch.c) mallocs a dirty-page list of 2 MiB and a free-page list
 * of 1 MiB and frees them when it ends, an update later. musl serves
 * blocks that large with mmap and returns them with munmap: two of each
 * and a TLB flush per update, a sixth of the daemon's CPU in a burst.
 * Here the last few such blocks are kept for the next transaction.
 *
 * Only blocks this file handed out are kept (a short table of them):
 * whatever else LMDB frees (strdup, posix_memalign) goes to free() as
 * before. Kept blocks are not cleared, as malloc's are not; only the
 * pages a transaction touched stay resident. One thread (the daemon's
 * loop) allocates; LMDB's copy thread does not.
 */
#ifndef LETTAMX_STORE_MDB_ALLOC_H
#define LETTAMX_STORE_MDB_ALLOC_H

#include <stdlib.h>
#include <string.h>

#define MDBA_BIG   (256u << 10)  /* smaller blocks: malloc's own business */
#define MDBA_LIVE  8             /* big blocks handed out, remembered */
#define MDBA_KEEP  4             /* freed big blocks kept */

struct mdba_blk { void *p; size_t n; };

static struct mdba_blk mdba_live[MDBA_LIVE], mdba_kept[MDBA_KEEP];

static void *mdba_malloc(size_t n)
{
	void *p = NULL;
	int i;

	if (n < MDBA_BIG)
		return malloc(n);
	for (i = 0; i < MDBA_KEEP && !p; i++)
		if (mdba_kept[i].p && mdba_kept[i].n == n) {
			p = mdba_kept[i].p;
			mdba_kept[i].p = NULL;
		}
	if (!p && !(p = malloc(n)))
		return NULL;
	for (i = 0; i < MDBA_LIVE; i++)
		if (!mdba_live[i].p) {
			mdba_live[i] = (struct mdba_blk){ p, n };
			break;
		}
	return p;       /* not remembered (table full): free() takes it */
}

/* The size of p if this file handed it out (and forgets it), else 0. */
static size_t mdba_forget(void *p)
{
	for (int i = 0; p && i < MDBA_LIVE; i++)
		if (mdba_live[i].p == p) {
			mdba_live[i].p = NULL;
			return mdba_live[i].n;
		}
	return 0;
}

static void mdba_free(void *p)
{
	size_t n = mdba_forget(p);

	for (int i = 0; n && i < MDBA_KEEP; i++)
		if (!mdba_kept[i].p) {
			mdba_kept[i] = (struct mdba_blk){ p, n };
			return;
		}
	free(p);
}

static void *mdba_realloc(void *p, size_t n)
{
	size_t old = mdba_forget(p);
	void *q;

	if (!old)
		return realloc(p, n);   /* malloc's own block */
	q = malloc(n);
	if (!q)
		return NULL;    /* p stays the caller's; free() takes it */
	memcpy(q, p, old < n ? old : n);
	free(p);
	return q;
}

#define malloc(n)     mdba_malloc(n)
#define free(p)       mdba_free(p)
#define realloc(p, n) mdba_realloc(p, n)

#endif
