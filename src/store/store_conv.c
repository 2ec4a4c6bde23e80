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
 * store_check reports any left behind. So do the bridge's other entries
 * about a room (STORE_META_QUIET, _APPROVAL, _MARK: store.h).
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "store/store_int.h"

#define CONV_PREFIX "conv "
#define CONV_KEY    STORE_META_KEY

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

/* An entry of the room whose "conv <room>" is arg: the room's own key or
 * one of its threads ("conv !a:hs" must not take "conv !a:hs2"). */
static int of_room(const char *key, size_t kn, const char *val, size_t vn,
                   void *arg)
{
	size_t pn = strlen(arg);

	(void)val;
	(void)vn;
	return kn == pn || (kn > pn && key[pn] == ' ');
}

int store_conv_del_room(struct store_txn *t, const char *room)
{
	/* the bridge's other entries about the room go with it too */
	static const char *const more[] = {
		STORE_META_QUIET, STORE_META_APPROVAL, STORE_META_MARK,
	};
	char key[CONV_KEY + 1];
	int e;

	if (!room || !room[0])
		return 0;
	if (conv_key(key, room, NULL) < 0)
		return ERR_INVAL;
	if ((e = store_meta_del_if(t, key, of_room, key)) < 0)
		return e;
	for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
		if ((size_t)snprintf(key, sizeof key, "%s%s", more[i], room) >=
		    sizeof key)
			continue;       /* no such key can have been put */
		if ((e = store_meta_del_if(t, key, of_room, key)) < 0)
			return e;
	}
	return 0;
}

struct each {
	int (*fn)(const char *room, const char *what, void *arg);
	const char *prefix, *what;
	void *arg;
};

static int each_one(const char *key, size_t kn, const char *val, size_t vn,
                    void *arg)
{
	struct each *c = arg;
	char room[CONV_KEY + 1];
	size_t pn = strlen(c->prefix), rn;

	(void)val;
	(void)vn;
	rn = kn - pn;
	memcpy(room, key + pn, rn);
	room[rn] = '\0';
	room[strcspn(room, " ")] = '\0';
	return c->fn(room, c->what, c->arg);
}

int store_conv_each(struct store_txn *t,
                    int (*fn)(const char *room, const char *what,
                              void *arg), void *arg)
{
	static const struct { const char *prefix, *what; } kinds[] = {
		{ CONV_PREFIX, "a Letta conversation" },
		{ STORE_META_QUIET, "what it answers" },
		{ STORE_META_APPROVAL, "a pending tool call" },
		{ STORE_META_MARK, "a thread's mark to post" },
	};
	int e = 0;

	for (size_t i = 0; !e && i < sizeof kinds / sizeof kinds[0]; i++) {
		struct each c = { fn, kinds[i].prefix, kinds[i].what, arg };

		e = store_meta_scan(t, kinds[i].prefix, each_one, &c);
	}
	return e;
}
