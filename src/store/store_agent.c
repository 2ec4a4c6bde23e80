/*
 * store_agent: agent records and their two unique indexes.
 *
 * Record format (version 1), all integers big-endian:
 *   u8 version, u8 form, u32 flags, i64 created_at, i64 updated_at,
 *   i64 deleted_at, then six strings each as u16 length + bytes:
 *   agent_id, name, user_id, room_id, password, access_token.
 * form 0x01 (sealed, see store_seal.c): string 4 is an AES-GCM box of
 * (u16 length + password, u16 length + access_token), string 5 empty.
 * A newer version is refused (ERR_VERSION), never guessed at; a later
 * version adds fields at the end and bumps the number.
 */
#include "store/store_int.h"

#include <string.h>

#include "core/err.h"

#define REC_HEAD 30             /* version, pad, flags, three times */

static void put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

#define REC_SEALED 0x01           /* byte 1: strings 4-5 are one box */
#define SECRETS_MAX (4 + 2 * LIM_STORE_SECRET)
#define BOX_MAX     (SECRETS_MAX + 28)

/* The six strings of a record, in record order. */
static void fields(const struct store_agent *a, const char *f[6],
                   size_t cap[6])
{
	f[0] = a->agent_id, cap[0] = sizeof a->agent_id;
	f[1] = a->name, cap[1] = sizeof a->name;
	f[2] = a->user_id, cap[2] = sizeof a->user_id;
	f[3] = a->room_id, cap[3] = sizeof a->room_id;
	f[4] = a->password, cap[4] = sizeof a->password;
	f[5] = a->access_token, cap[5] = sizeof a->access_token;
}

/* Appends a u16 length and n bytes at *pos. */
static int put_str(unsigned char *buf, size_t cap, size_t *pos,
                   const void *s, size_t n)
{
	if (n > 0xffff || n + 2 > cap - *pos)
		return ERR_TOOBIG;
	put_be(buf + *pos, n, 2);
	memcpy(buf + *pos + 2, s, n);
	*pos += n + 2;
	return 0;
}

/* Reads a u16-length slice at *pos of b[0..n). */
static int get_str(const unsigned char *b, size_t n, size_t *pos,
                   const unsigned char **s, size_t *len)
{
	if (n - *pos < 2)
		return ERR_CORRUPT;
	*len = (size_t)get_be(b + *pos, 2);
	if (*len > n - *pos - 2)
		return ERR_CORRUPT;
	*s = b + *pos + 2;
	*pos += *len + 2;
	return 0;
}

/* Seals password and token into one box appended as string 4 (string 5
 * stays empty). */
static int put_sealed(const struct store_agent *a, const uint8_t *key,
                      unsigned char *buf, size_t cap, size_t *pos)
{
	unsigned char plain[SECRETS_MAX], box[BOX_MAX];
	size_t pn = 0;
	int r, bn;

	if ((r = put_str(plain, sizeof plain, &pn, a->password,
	                 strlen(a->password))) < 0 ||
	    (r = put_str(plain, sizeof plain, &pn, a->access_token,
	                 strlen(a->access_token))) < 0)
		return r;
	bn = store_seal(key, a->agent_id, plain, pn, box, sizeof box);
	memset(plain, 0, sizeof plain);
	if (bn < 0)
		return bn;
	if ((r = put_str(buf, cap, pos, box, (size_t)bn)) < 0)
		return r;
	return put_str(buf, cap, pos, "", 0);
}

int store_rec_encode(const struct store_agent *a, const uint8_t *key,
                     unsigned char *buf, size_t cap)
{
	const char *f[6];
	size_t fc[6], pos = REC_HEAD;
	int r;

	if (cap < REC_HEAD)
		return ERR_TOOBIG;
	buf[0] = STORE_REC_VERSION;
	buf[1] = key ? REC_SEALED : 0;
	put_be(buf + 2, a->flags, 4);
	put_be(buf + 6, (uint64_t)a->created_at, 8);
	put_be(buf + 14, (uint64_t)a->updated_at, 8);
	put_be(buf + 22, (uint64_t)a->deleted_at, 8);
	fields(a, f, fc);
	for (int i = 0; i < (key ? 4 : 6); i++) {
		const char *nul = memchr(f[i], 0, fc[i]);
		if (!nul)
			return ERR_TOOBIG;
		if ((r = put_str(buf, cap, &pos, f[i],
		                 (size_t)(nul - f[i]))) < 0)
			return r;
	}
	if (key && (r = put_sealed(a, key, buf, cap, &pos)) < 0)
		return r;
	return (int)pos;
}

/* Copies slice s[0..n) into a field of capacity cap as a C string. */
static int set_field(char *field, size_t cap, const unsigned char *s,
                     size_t n)
{
	if (n >= cap || memchr(s, 0, n))
		return ERR_CORRUPT;
	memcpy(field, s, n);
	field[n] = 0;
	return 0;
}

static int open_sealed(const unsigned char *box, size_t n,
                       const uint8_t *key, struct store_agent *a)
{
	unsigned char plain[SECRETS_MAX];
	const unsigned char *s;
	size_t pos = 0, len;
	int pn, r;

	if (!key)
		return ERR_CORRUPT;
	pn = store_unseal(key, a->agent_id, box, n, plain, sizeof plain);
	if (pn < 0)
		return pn;
	r = get_str(plain, (size_t)pn, &pos, &s, &len);
	if (r == 0)
		r = set_field(a->password, sizeof a->password, s, len);
	if (r == 0)
		r = get_str(plain, (size_t)pn, &pos, &s, &len);
	if (r == 0)
		r = set_field(a->access_token, sizeof a->access_token, s, len);
	memset(plain, 0, sizeof plain);
	return r == 0 && pos == (size_t)pn ? 0 : ERR_CORRUPT;
}

int store_rec_decode(const void *p, size_t n, const uint8_t *key,
                     struct store_agent *a, unsigned *ver, bool *sealed)
{
	const unsigned char *b = p, *s[6];
	const char *f[6];
	size_t fc[6], len[6], pos = REC_HEAD;
	int r = 0;

	memset(a, 0, sizeof *a);
	*sealed = false;
	if (n < 1)
		return ERR_CORRUPT;
	*ver = b[0];
	if (b[0] > STORE_REC_VERSION)
		return ERR_VERSION;
	if (b[0] == 0 || n < REC_HEAD || (b[1] & ~REC_SEALED))
		return ERR_CORRUPT;
	*sealed = b[1] & REC_SEALED;
	a->flags = (uint32_t)get_be(b + 2, 4);
	a->created_at = (int64_t)get_be(b + 6, 8);
	a->updated_at = (int64_t)get_be(b + 14, 8);
	a->deleted_at = (int64_t)get_be(b + 22, 8);
	fields(a, f, fc);
	for (int i = 0; i < 6 && r == 0; i++)
		r = get_str(b, n, &pos, &s[i], &len[i]);
	if (r < 0 || pos != n)
		return ERR_CORRUPT;
	for (int i = 0; i < (*sealed ? 4 : 6) && r == 0; i++)
		r = set_field((char *)(uintptr_t)f[i], fc[i], s[i], len[i]);
	if (r == 0 && *sealed)
		r = len[5] ? ERR_CORRUPT : open_sealed(s[4], len[4], key, a);
	return r;
}

static MDB_val sval(const char *s)
{
	MDB_val v = { strlen(s), (void *)(uintptr_t)s };
	return v;
}

/* Decodes the record under key k/v (already fetched) and checks that it
 * is the record of the key. */
static int load(struct store_txn *t, const MDB_val *k, const MDB_val *v,
                struct store_agent *a)
{
	const uint8_t *key = t->s->has_key ? t->s->key : NULL;
	unsigned ver = 0;
	bool sealed;
	int r = store_rec_decode(v->mv_data, v->mv_size, key, a, &ver,
	                         &sealed);

	if (r == ERR_VERSION)
		return store_fail(t->s, r, "agent record %.*s has format "
		                  "version %u, newer than this lettamx knows "
		                  "(%d)", (int)k->mv_size,
		                  (const char *)k->mv_data, ver,
		                  STORE_REC_VERSION);
	if (r == 0 && (strlen(a->agent_id) != k->mv_size ||
	               memcmp(a->agent_id, k->mv_data, k->mv_size)))
		r = ERR_CORRUPT;
	if (r < 0 && sealed)
		return store_fail(t->s, r, "the secrets of agent record %.*s "
		                  "cannot be unsealed (%s)", (int)k->mv_size,
		                  (const char *)k->mv_data, key ? "damaged, or "
		                  "another master secret" : "no key set");
	if (r < 0)
		return store_fail(t->s, r, "agent record %.*s is corrupt",
		                  (int)k->mv_size, (const char *)k->mv_data);
	return 0;
}

int store_agent_get(struct store_txn *t, const char *agent_id,
                    struct store_agent *a)
{
	MDB_val k = sval(agent_id), v;
	int rc;

	if (!k.mv_size || k.mv_size >= LIM_STORE_ID)
		return store_fail(t->s, ERR_INVAL, "bad agent id");
	rc = mdb_get(t->txn, t->s->dbi[STORE_AGENTS], &k, &v);
	if (rc)
		return store_mdb_err(t, rc, "agent get");
	return load(t, &k, &v, a);
}

/* Reads the owner of `id` in index db into owner[0..LIM_STORE_ID). */
static int index_get(struct store_txn *t, enum store_db db, const char *id,
                     char *owner)
{
	MDB_val k = sval(id), v;
	int rc = mdb_get(t->txn, t->s->dbi[db], &k, &v);

	if (rc)
		return store_mdb_err(t, rc, "index get");
	if (v.mv_size == 0 || v.mv_size >= LIM_STORE_ID)
		return store_fail(t->s, ERR_CORRUPT, "%s entry %s is corrupt",
		                  store_db_name[db], id);
	memcpy(owner, v.mv_data, v.mv_size);
	owner[v.mv_size] = 0;
	return 0;
}

static int by_index(struct store_txn *t, enum store_db db, const char *id,
                    struct store_agent *a)
{
	char owner[LIM_STORE_ID];
	const char *field;
	int r;

	if (!id[0] || strlen(id) >= LIM_STORE_ID)
		return store_fail(t->s, ERR_INVAL, "bad id");
	if ((r = index_get(t, db, id, owner)) < 0)
		return r;
	if ((r = store_agent_get(t, owner, a)) < 0)
		return r == ERR_NOTFOUND ? store_fail(t->s, ERR_CORRUPT,
		       "%s entry %s names agent %s, which does not exist",
		       store_db_name[db], id, owner) : r;
	field = db == STORE_BY_ROOM ? a->room_id : a->user_id;
	if (strcmp(field, id))
		return store_fail(t->s, ERR_CORRUPT, "%s entry %s names agent "
		                  "%s, whose record says %s", store_db_name[db],
		                  id, owner, field);
	return 0;
}

int store_agent_by_room(struct store_txn *t, const char *room_id,
                        struct store_agent *a)
{
	return by_index(t, STORE_BY_ROOM, room_id, a);
}

int store_agent_by_user(struct store_txn *t, const char *user_id,
                        struct store_agent *a)
{
	return by_index(t, STORE_BY_USER, user_id, a);
}

/* Fails with ERR_EXISTS if `id` belongs in index db to another agent. */
static int check_owner(struct store_txn *t, enum store_db db,
                       const char *id, const char *agent_id)
{
	char owner[LIM_STORE_ID];
	int r;

	if (!id[0])
		return 0;
	r = index_get(t, db, id, owner);
	if (r == ERR_NOTFOUND)
		return 0;
	if (r < 0)
		return r;
	if (strcmp(owner, agent_id))
		return store_fail(t->s, ERR_EXISTS, "%s %s already belongs to "
		                  "agent %s; not given to agent %s",
		                  db == STORE_BY_ROOM ? "room" : "user", id,
		                  owner, agent_id);
	return 0;
}

/* Moves index entry old -> new for agent_id (either may be ""). */
static int reindex(struct store_txn *t, enum store_db db, const char *old,
                   const char *new, const char *agent_id)
{
	MDB_val k, v = sval(agent_id);
	int rc = 0;

	if (!strcmp(old, new))
		return 0;
	if (old[0]) {
		k = sval(old);
		rc = mdb_del(t->txn, t->s->dbi[db], &k, NULL);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	if (!rc && new[0]) {
		k = sval(new);
		rc = mdb_put(t->txn, t->s->dbi[db], &k, &v, 0);
	}
	return store_mdb_err(t, rc, "index put");
}

static bool terminated(const char *s, size_t cap)
{
	return memchr(s, 0, cap) != NULL;
}

static int valid_agent(struct store_txn *t, const struct store_agent *a)
{
	if (!terminated(a->agent_id, sizeof a->agent_id) ||
	    !a->agent_id[0] || !terminated(a->name, sizeof a->name) ||
	    !terminated(a->user_id, sizeof a->user_id) ||
	    !terminated(a->room_id, sizeof a->room_id) ||
	    !terminated(a->password, sizeof a->password) ||
	    !terminated(a->access_token, sizeof a->access_token))
		return store_fail(t->s, ERR_INVAL, "agent record with an "
		                  "empty id or an unterminated field");
	return 0;
}

int store_agent_put(struct store_txn *t, const struct store_agent *a)
{
	static const struct store_agent none;
	struct store_agent old, rec = *a;
	unsigned char buf[STORE_REC_MAX];
	MDB_val k, v;
	int r, n;

	if ((r = valid_agent(t, a)) < 0)
		return r;
	r = store_agent_get(t, a->agent_id, &old);
	if (r == ERR_NOTFOUND)
		old = none;
	else if (r < 0)
		return r;
	/* every check before the first write: a refusal changes nothing */
	if ((r = check_owner(t, STORE_BY_ROOM, a->room_id, a->agent_id)) < 0 ||
	    (r = check_owner(t, STORE_BY_USER, a->user_id, a->agent_id)) < 0)
		return r;
	rec.created_at = old.agent_id[0] ? old.created_at :
	                 a->created_at ? a->created_at : store_now(t->s);
	rec.updated_at = store_now(t->s);
	n = store_rec_encode(&rec, t->s->has_key ? t->s->key : NULL, buf,
	                     sizeof buf);
	memset(&rec, 0, sizeof rec);
	if (n < 0)
		return store_fail(t->s, n, "agent record too big or unsealable");
	/* a room the agent leaves takes its conversations with it */
	if (strcmp(old.room_id, a->room_id) &&
	    (r = store_conv_del_room(t, old.room_id)) < 0)
		return r;
	if ((r = reindex(t, STORE_BY_ROOM, old.room_id, a->room_id,
	                 a->agent_id)) < 0 ||
	    (r = reindex(t, STORE_BY_USER, old.user_id, a->user_id,
	                 a->agent_id)) < 0)
		return r;
	k = sval(a->agent_id);
	v.mv_size = (size_t)n;
	v.mv_data = buf;
	return store_mdb_err(t, mdb_put(t->txn, t->s->dbi[STORE_AGENTS], &k,
	                                &v, 0), "agent put");
}

int store_agent_del(struct store_txn *t, const char *agent_id)
{
	struct store_agent old;
	MDB_val k;
	int r;

	if ((r = store_agent_get(t, agent_id, &old)) < 0)
		return r;
	if ((r = store_conv_del_room(t, old.room_id)) < 0 ||
	    (r = store_dm_del_agent(t, agent_id)) < 0 ||
	    (r = reindex(t, STORE_BY_ROOM, old.room_id, "", agent_id)) < 0 ||
	    (r = reindex(t, STORE_BY_USER, old.user_id, "", agent_id)) < 0)
		return r;
	k = sval(agent_id);
	return store_mdb_err(t, mdb_del(t->txn, t->s->dbi[STORE_AGENTS], &k,
	                                NULL), "agent del");
}

int store_agent_each(struct store_txn *t,
                     int (*fn)(const struct store_agent *a, void *arg),
                     void *arg)
{
	struct store_agent a;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_AGENTS], &c);
	if (rc)
		return store_mdb_err(t, rc, "cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); !rc && !r;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if ((r = load(t, &k, &v, &a)) < 0)
			break;
		r = fn(&a, arg);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return store_mdb_err(t, rc, "cursor");
	return r;
}
