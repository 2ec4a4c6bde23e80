/*
 * store_batch: many updates, one commit (see store.h). The daemon's
 * bridge makes two or three updates per message, each a commit with two
 * fsyncs; under a burst the loop spent most of its time waiting on the
 * disk. In a batch each update is a nested transaction of one open write
 * transaction (its own writes are undone when fn fails), committed to
 * disk once per loop pass, before anything built from it can leave.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

int store_batch_start(struct store *s)
{
	if (s->read_only)
		return store_fail(s, ERR_INVAL, "the store %s is open "
		                  "read-only", s->dir);
	s->batching = true;
	return 0;
}

bool store_batch_lost(const struct store *s)
{
	return s->batch_lost;
}

int store_batch_flush(struct store *s)
{
	struct store_txn *t = s->batch;
	int r;

	if (!t)
		return s->batch_lost ? ERR_STORE : 0;
	s->batch = NULL;
	s->batch_n = 0;
	r = store_txn_commit(t);
	if (r < 0) {
		s->batch_lost = true;
		LOG_ERROR("store", "event=batch_lost path=%s why=\"%s\"",
		          s->dir, s->why);
		return ERR_STORE;
	}
	return 0;
}

int store_batch_stop(struct store *s)
{
	int r = store_batch_flush(s);

	s->batching = false;
	return r;
}

/* Grows the map before a batch opens when more than half of it is used:
 * a full map inside a batch costs a commit in the middle of the pass,
 * and a map too full to commit the batch would lose it. */
static void make_room(struct store *s)
{
	MDB_envinfo info;
	MDB_stat st;

	if (s->ntxn || mdb_env_info(s->env, &info) ||
	    mdb_env_stat(s->env, &st))
		return;
	if (((size_t)info.me_last_pgno + 1) * st.ms_psize > s->map_size / 2 &&
	    s->map_size < LIM_STORE_MAP_MAX)
		store_grow_map(s);
}

static int batch_open(struct store *s)
{
	make_room(s);
	s->batch_n = 0;
	return store_txn_open(s, true, &s->batch);
}

/* One update as a nested transaction: 1 done (result in *r), 0 when the
 * map is full (nothing of fn's kept), or < 0. */
static int nested(struct store *s, int (*fn)(struct store_txn *, void *),
                  void *arg, int *r)
{
	struct store_txn ct = { .s = s, .write = true };
	int rc = mdb_txn_begin(s->env, s->batch->txn, 0, &ct.txn);

	if (rc)
		return store_fail(s, ERR_STORE, "cannot begin a nested "
		                  "transaction on %s: %s", s->dir,
		                  mdb_strerror(rc));
	s->in_child = true;
	*r = fn(&ct, arg);
	s->in_child = false;
	if (ct.full) {
		mdb_txn_abort(ct.txn);
		return 0;
	}
	if (*r < 0) {
		mdb_txn_abort(ct.txn);
		return *r;
	}
	rc = mdb_txn_commit(ct.txn);        /* into the batch: no I/O */
	if (rc == MDB_MAP_FULL)
		return 0;
	if (rc)
		return store_fail(s, ERR_STORE, "commit on %s: %s", s->dir,
		                  mdb_strerror(rc));
	return 1;
}

int store_batch_update(struct store *s,
                       int (*fn)(struct store_txn *, void *), void *arg)
{
	int r = 0, e;

	for (;;) {
		if (s->batch_lost)
			return store_fail(s, ERR_STORE, "an earlier batch of "
			                  "updates to %s was lost", s->dir);
		if (!s->batch && (e = batch_open(s)) < 0)
			return e;
		e = nested(s, fn, arg, &r);
		if (e < 0)
			return e;
		if (e == 1) {
			if (++s->batch_n >= LIM_STORE_BATCH &&
			    (e = store_batch_flush(s)) < 0)
				return e;
			return r;
		}
		/* The map is full: what the batch holds goes to disk, the
		 * map grows, fn runs again. */
		if ((e = store_batch_flush(s)) < 0)
			return e;
		if ((e = store_grow_map(s)) < 0)
			return e;
	}
}
