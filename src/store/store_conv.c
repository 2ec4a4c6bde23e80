/*
 * store_conv: which Letta conversation a room talks in, when it is not
 * the agent's default one (after !reset on a Letta that starts over with
 * a new conversation). Kept in meta under "conv <room>" (and, for a
 * thread of its own, "conv <room> <thread root>"), so that a store
 * snapshot carries it and no new database changes the store's format.
 *
 * An entry lives exactly as long as its room belongs to an agent: the
 * agent's record going, or moving to another room, takes the room's
 * entries with it in the same transaction (store_agent.c), and
 * store_check reports any left behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store_int.h"

#define CONV_PREFIX "conv "
#define CONV_KEY    511         /* LMDB's longest key */

/* "conv <room>[ <thread>]" into out; its length, or ERR_INVAL. */
static int conv_key(char *out, const char *room, const char *thread)
{
	size_t rn = room ? strlen(room) : 0;
	size_t tn = thread ? strlen(thread) : 0;
	size_t n = strlen(CONV_PREFIX) + rn + (tn ? 1 + tn : 0);

	if (!rn || n > CONV_KEY || strchr(room, ' ') ||
	    (tn && strchr(thread, ' ')))
		return ERR_INVAL;
	memcpy(out, CONV_PREFIX, strlen(CONV_PREFIX));
	memcpy(out + strlen(CONV_PREFIX), room, rn);
	if (tn) {
		out[strlen(CONV_PREFIX) + rn] = ' ';
		memcpy(out + strlen(CONV_PREFIX) + rn + 1, thread, tn);
	}
	out[n] = '\0';
	return (int)n;
}

int store_conv_get(struct store_txn *t, const char *room, const char *thread,
                   char *out, size_t cap)
{
	char key[CONV_KEY + 1];
	MDB_val k, v;
	int n = conv_key(key, room, thread), rc;

	if (cap)
		out[0] = '\0';
	if (n < 0)
		return store_fail(t->s, n, "conversation of room %.80s: bad id",
		                  room ? room : "");
	k.mv_size = (size_t)n;
	k.mv_data = key;
	rc = mdb_get(t->txn, t->s->dbi[STORE_META], &k, &v);
	if (rc)
		return store_mdb_err(t, rc, "conversation get");
	if (v.mv_size >= cap)
		return store_fail(t->s, ERR_TOOBIG, "conversation of %s is %zu "
		                  "bytes", room, v.mv_size);
	memcpy(out, v.mv_data, v.mv_size);
	out[v.mv_size] = '\0';
	return 0;
}

int store_conv_put(struct store_txn *t, const char *room, const char *thread,
                   const char *conv)
{
	char key[CONV_KEY + 1];
	MDB_val k, v = { conv ? strlen(conv) : 0, (void *)(uintptr_t)conv };
	int n = conv_key(key, room, thread);

	if (n < 0 || !v.mv_size || v.mv_size >= LIM_STORE_ID)
		return store_fail(t->s, ERR_INVAL, "conversation of room %.80s: "
		                  "bad id", room ? room : "");
	k.mv_size = (size_t)n;
	k.mv_data = key;
	return store_mdb_err(t, mdb_put(t->txn, t->s->dbi[STORE_META], &k, &v,
	                                0), "conversation put");
}

/* Calls fn(key, room part of key, arg) for every entry of `room` (NULL:
 * every room); stops at fn's first non-zero result. The cursor is
 * closed before fn's result is returned, so fn may not write. */
static int each_entry(struct store_txn *t, const char *room,
                      int (*fn)(struct store_txn *t, const MDB_val *k,
                                void *arg), void *arg)
{
	char key[CONV_KEY + 1];
	size_t pn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	if (room) {
		if (conv_key(key, room, NULL) < 0)
			return ERR_INVAL;
	} else {
		snprintf(key, sizeof key, "%s", CONV_PREFIX);
	}
	pn = strlen(key);
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_META], &c)))
		return store_mdb_err(t, rc, "cursor");
	k.mv_size = pn;
	k.mv_data = key;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); !rc && !r;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < pn || memcmp(k.mv_data, key, pn))
			break;
		/* "conv !a:hs" must not take "conv !a:hs2": whole ids */
		if (room && k.mv_size > pn && ((char *)k.mv_data)[pn] != ' ')
			continue;
		r = fn(t, &k, arg);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return store_mdb_err(t, rc, "conversation cursor");
	return r;
}

/* Collects the keys to delete: LMDB's cursor must not outlive a delete
 * of another key, so they go after the walk. */
struct keys {
	int n;
	char key[16][CONV_KEY + 1];
	int more;
};

static int collect(struct store_txn *t, const MDB_val *k, void *arg)
{
	struct keys *ks = arg;

	(void)t;
	if (ks->n == (int)(sizeof ks->key / sizeof ks->key[0])) {
		ks->more = 1;
		return 1;
	}
	memcpy(ks->key[ks->n], k->mv_data, k->mv_size);
	ks->key[ks->n++][k->mv_size] = '\0';
	return 0;
}

/* Deletes the keys of ks. */
static int del_keys(struct store_txn *t, const struct keys *ks)
{
	for (int i = 0; i < ks->n; i++) {
		MDB_val k = { strlen(ks->key[i]), (void *)(uintptr_t)ks->key[i] };
		int rc = mdb_del(t->txn, t->s->dbi[STORE_META], &k, NULL);

		if (rc)
			return store_mdb_err(t, rc, "conversation del");
	}
	return 0;
}

int store_conv_del_room(struct store_txn *t, const char *room)
{
	struct keys *ks;
	int r;

	if (!room || !room[0])
		return 0;
	/* 8 KiB: off the stack */
	if (!(ks = malloc(sizeof *ks)))
		return store_fail(t->s, ERR_NOMEM, "out of memory");
	do {
		ks->n = ks->more = 0;
		if ((r = each_entry(t, room, collect, ks)) >= 0)
			r = del_keys(t, ks);
	} while (r >= 0 && ks->more);
	free(ks);
	return r < 0 ? r : 0;
}

struct each {
	int (*fn)(const char *room, void *arg);
	void *arg;
};

static int each_one(struct store_txn *t, const MDB_val *k, void *arg)
{
	struct each *c = arg;
	char key[CONV_KEY + 1], *room, *sp;

	(void)t;
	memcpy(key, k->mv_data, k->mv_size);
	key[k->mv_size] = '\0';
	room = key + strlen(CONV_PREFIX);
	if ((sp = strchr(room, ' ')))
		*sp = '\0';
	return c->fn(room, c->arg);
}

int store_conv_each(struct store_txn *t,
                    int (*fn)(const char *room, void *arg), void *arg)
{
	struct each c = { fn, arg };

	return each_entry(t, NULL, each_one, &c);
}
