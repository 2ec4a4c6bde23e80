/*
 * store_q: the inbox and outbox, one FIFO per room inside one database
 * each. Keys are room_id NUL be64(seq): LMDB orders keys bytewise, so a
 * cursor walks one room's entries oldest first, and a room's entries are
 * contiguous (a room id has no NUL).
 */
#include "store/store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define Q_KEY_MAX (LIM_STORE_ID + 9)

/* Builds the key of (room, seq) in buf; returns its length or < 0. */
static int q_key(const char *room, uint64_t seq, unsigned char *buf)
{
	size_t n = strlen(room);

	if (!n || n >= LIM_STORE_ID)
		return ERR_INVAL;
	memcpy(buf, room, n);
	buf[n] = 0;
	for (int i = 0; i < 8; i++)
		buf[n + 1 + i] = (unsigned char)(seq >> (56 - 8 * i));
	return (int)n + 9;
}

/* Splits a key into its room (pointer into the key, length *rn) and seq;
 * false for a key not of that shape. */
static bool q_split(const MDB_val *k, size_t *rn, uint64_t *seq)
{
	const unsigned char *p = k->mv_data;
	const unsigned char *nul = memchr(p, 0, k->mv_size);

	if (!nul || (size_t)(nul - p) + 9 != k->mv_size)
		return false;
	*rn = (size_t)(nul - p);
	*seq = 0;
	for (int i = 0; i < 8; i++)
		*seq = *seq << 8 | nul[1 + i];
	return true;
}

/* Takes the next sequence number from meta "q_seq". */
static int next_seq(struct store_txn *t, uint64_t *seq)
{
	char buf[32], *end;
	unsigned long long v = 0;
	int r = store_meta_get(t, "q_seq", buf, sizeof buf);

	if (r == 0) {
		v = strtoull(buf, &end, 10);
		if (*end)
			return store_fail(t->s, ERR_CORRUPT, "meta q_seq is "
			                  "not a number");
	} else if (r != ERR_NOTFOUND) {
		return r;
	}
	*seq = v + 1;
	snprintf(buf, sizeof buf, "%" PRIu64, *seq);
	return store_meta_put(t, "q_seq", buf);
}

int store_q_push(struct store_txn *t, enum store_queue q, const char *room,
                 const void *data, size_t n, uint64_t *seq)
{
	unsigned char kb[Q_KEY_MAX];
	MDB_val k, v = { n, (void *)(uintptr_t)data };
	uint64_t s = 0;
	int r, kn;

	if (n > LIM_STORE_QVALUE)
		return store_fail(t->s, ERR_TOOBIG, "queue entry of %zu bytes",
		                  n);
	if ((r = next_seq(t, &s)) < 0)
		return r;
	if ((kn = q_key(room, s, kb)) < 0)
		return store_fail(t->s, kn, "bad room id");
	k.mv_size = (size_t)kn;
	k.mv_data = kb;
	r = mdb_put(t->txn, t->s->dbi[q], &k, &v, MDB_NOOVERWRITE);
	if (r == MDB_KEYEXIST)
		return store_fail(t->s, ERR_CORRUPT, "%s entry %" PRIu64
		                  " exists: meta q_seq is behind",
		                  store_db_name[q], s);
	if ((r = store_mdb_err(t, r, "queue put")) < 0)
		return r;
	if (seq)
		*seq = s;
	return 0;
}

/* Positions c on the first entry of room (or the first entry at all). */
static int q_seek(MDB_cursor *c, const char *room, MDB_val *k, MDB_val *v,
                  unsigned char *kb)
{
	int kn;

	if (!room)
		return mdb_cursor_get(c, k, v, MDB_FIRST);
	if ((kn = q_key(room, 0, kb)) < 0)
		return MDB_NOTFOUND;
	k->mv_size = (size_t)kn;
	k->mv_data = kb;
	return mdb_cursor_get(c, k, v, MDB_SET_RANGE);
}

static bool in_room(const MDB_val *k, const char *room, uint64_t *seq,
                    size_t *rn)
{
	if (!q_split(k, rn, seq))
		return false;
	return !room || (strlen(room) == *rn && !memcmp(k->mv_data, room, *rn));
}

int store_q_each(struct store_txn *t, enum store_queue q, const char *room,
                 int (*fn)(const char *room, uint64_t seq, const void *data,
                           size_t n, void *arg),
                 void *arg)
{
	unsigned char kb[Q_KEY_MAX];
	char rb[LIM_STORE_ID];
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t seq;
	size_t rn;
	int rc, r = 0;

	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[q], &c)))
		return store_mdb_err(t, rc, "cursor");
	for (rc = q_seek(c, room, &k, &v, kb); !rc && !r;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (!in_room(&k, room, &seq, &rn))
			break;
		if (rn >= sizeof rb) {
			r = store_fail(t->s, ERR_CORRUPT, "bad queue key");
			break;
		}
		memcpy(rb, k.mv_data, rn + 1);
		r = fn(rb, seq, v.mv_data, v.mv_size, arg);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return store_mdb_err(t, rc, "cursor");
	return r;
}

struct first {
	uint64_t *seq;
	void *out;
	size_t cap, *n;
	int r;
};

static int take_first(const char *room, uint64_t seq, const void *data,
                      size_t n, void *arg)
{
	struct first *f = arg;

	(void)room;
	*f->seq = seq;
	*f->n = n;
	if (n > f->cap)
		return f->r = ERR_TOOBIG;
	memcpy(f->out, data, n);
	return 1;
}

int store_q_first(struct store_txn *t, enum store_queue q, const char *room,
                  uint64_t *seq, void *out, size_t cap, size_t *n)
{
	struct first f = { seq, out, cap, n, 0 };
	int r;

	if (!room)
		return ERR_INVAL;
	r = store_q_each(t, q, room, take_first, &f);
	if (r < 0)
		return r == ERR_TOOBIG ? store_fail(t->s, r, "queue entry "
		       "larger than the buffer") : r;
	return r == 1 ? 0 : ERR_NOTFOUND;
}

int store_q_del(struct store_txn *t, enum store_queue q, const char *room,
                uint64_t seq)
{
	unsigned char kb[Q_KEY_MAX];
	MDB_val k;
	int kn = q_key(room, seq, kb);

	if (kn < 0)
		return store_fail(t->s, kn, "bad room id");
	k.mv_size = (size_t)kn;
	k.mv_data = kb;
	return store_mdb_err(t, mdb_del(t->txn, t->s->dbi[q], &k, NULL),
	                     "queue del");
}

static int count_one(const char *room, uint64_t seq, const void *data,
                     size_t n, void *arg)
{
	(void)room;
	(void)seq;
	(void)data;
	(void)n;
	++*(int *)arg;
	return 0;
}

int store_q_count(struct store_txn *t, enum store_queue q, const char *room,
                  int *n)
{
	*n = 0;
	return store_q_each(t, q, room, count_one, n);
}
