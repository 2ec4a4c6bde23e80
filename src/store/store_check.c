/*
 * store_check: the indexes checked against the records they derive from,
 * and rebuilt from them (seed 004: a derived value is recomputed, never
 * trusted when it can be stale). For boot and the operator's `check`.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

struct chk {
	struct store_txn *t;
	void (*report)(const char *problem, void *arg);
	void *arg;
	int problems;
};

static void problem(struct chk *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct chk *c, const char *fmt, ...)
{
	char msg[LIM_STORE_WHY];
	va_list ap;

	c->problems++;
	if (!c->report)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->report(msg, c->arg);
}

/* Looks id up in index db; owner gets the agent it names ("" if none). */
static int owner_of(struct store_txn *t, enum store_db db, const char *id,
                    char *owner)
{
	MDB_val k = { strlen(id), (void *)(uintptr_t)id }, v;
	int rc = mdb_get(t->txn, t->s->dbi[db], &k, &v);

	owner[0] = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_mdb_err(t, rc, "index get");
	if (v.mv_size < LIM_STORE_ID) {
		memcpy(owner, v.mv_data, v.mv_size);
		owner[v.mv_size] = 0;
	}
	return 0;
}

/* Every agent's room and user are indexed, to that agent. */
static int check_agent(const struct store_agent *a, void *arg)
{
	struct chk *c = arg;
	char owner[LIM_STORE_ID];
	int r;

	if (a->room_id[0]) {
		if ((r = owner_of(c->t, STORE_BY_ROOM, a->room_id, owner)) < 0)
			return r;
		if (strcmp(owner, a->agent_id))
			problem(c, "agent %s has room %s, which by_room gives "
			        "to '%s'", a->agent_id, a->room_id, owner);
	}
	if (a->user_id[0]) {
		if ((r = owner_of(c->t, STORE_BY_USER, a->user_id, owner)) < 0)
			return r;
		if (strcmp(owner, a->agent_id))
			problem(c, "agent %s has user %s, which by_user gives "
			        "to '%s'", a->agent_id, a->user_id, owner);
	}
	return 0;
}

/* Every index entry names an agent whose record agrees. */
static int check_index(struct chk *c, enum store_db db)
{
	struct store_agent a;
	MDB_cursor *cur;
	MDB_val k, v;
	char id[LIM_STORE_ID], owner[LIM_STORE_ID];
	int rc, r = 0;

	if ((rc = mdb_cursor_open(c->t->txn, c->t->s->dbi[db], &cur)))
		return store_mdb_err(c->t, rc, "cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc && r >= 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size >= LIM_STORE_ID || v.mv_size >= LIM_STORE_ID ||
		    !v.mv_size) {
			problem(c, "%s has a malformed entry", store_db_name[db]);
			continue;
		}
		snprintf(id, sizeof id, "%.*s", (int)k.mv_size,
		         (const char *)k.mv_data);
		snprintf(owner, sizeof owner, "%.*s", (int)v.mv_size,
		         (const char *)v.mv_data);
		r = store_agent_get(c->t, owner, &a);
		if (r == ERR_NOTFOUND || (r == 0 && strcmp(db == STORE_BY_ROOM
		                          ? a.room_id : a.user_id, id)))
			problem(c, "%s entry %s names agent %s, %s",
			        store_db_name[db], id, owner, r ? "which does "
			        "not exist" : "whose record says otherwise");
		r = r == ERR_NOTFOUND ? 0 : r;
	}
	mdb_cursor_close(cur);
	if (r < 0)
		return r;
	return rc == MDB_NOTFOUND ? 0 : store_mdb_err(c->t, rc, "cursor");
}

/* Every room with a conversation of its own (or the bridge's other
 * entries about a room) belongs to an agent, as its room or a direct
 * chat (the store deletes them with the room's agent: one left over is
 * a stale mapping). */
static int check_conv(const char *room, const char *what, void *arg)
{
	struct chk *c = arg;
	char owner[LIM_STORE_ID], agent[LIM_STORE_ID], person[LIM_STORE_ID];
	int r = owner_of(c->t, STORE_BY_ROOM, room, owner);

	if (r < 0)
		return r;
	if (owner[0])
		return 0;
	r = store_dm_get(c->t, room, agent, person, NULL);
	if (r == ERR_NOTFOUND)
		problem(c, "room %s keeps %s but belongs to no agent", room,
		        what);
	return r == ERR_NOTFOUND ? 0 : r;
}

/* Every direct chat names an agent that exists, and no agent's own
 * room. */
static int check_dm(const char *room, const char *agent, const char *person,
                    int joined, void *arg)
{
	struct chk *c = arg;
	struct store_agent a;
	char owner[LIM_STORE_ID];
	int r;

	(void)person;
	(void)joined;
	if (!agent[0] || (r = store_agent_get(c->t, agent, &a)) ==
	    ERR_NOTFOUND) {
		problem(c, "direct chat %s names agent '%s', which does not "
		        "exist", room, agent);
		return 0;
	}
	if (r < 0 || (r = owner_of(c->t, STORE_BY_ROOM, room, owner)) < 0)
		return r;
	if (owner[0])
		problem(c, "room %s is agent %s's room and a direct chat of "
		        "agent %s", room, owner, agent);
	return 0;
}

int store_check(struct store_txn *t,
                void (*report)(const char *problem, void *arg), void *arg)
{
	struct chk c = { t, report, arg, 0 };
	int r = store_agent_each(t, check_agent, &c);

	if (r == 0)
		r = check_index(&c, STORE_BY_ROOM);
	if (r == 0)
		r = check_index(&c, STORE_BY_USER);
	if (r == 0)
		r = store_conv_each(t, check_conv, &c);
	if (r == 0)
		r = store_dm_each(t, check_dm, &c);
	return r < 0 ? r : c.problems;
}

/* ---- rebuilding ---- */

static int add_entry(struct store_txn *t, enum store_db db, const char *id,
                     const char *agent_id)
{
	MDB_val k = { strlen(id), (void *)(uintptr_t)id };
	MDB_val v = { strlen(agent_id), (void *)(uintptr_t)agent_id };
	char owner[LIM_STORE_ID];
	int rc = mdb_put(t->txn, t->s->dbi[db], &k, &v, MDB_NOOVERWRITE);

	if (rc != MDB_KEYEXIST)
		return store_mdb_err(t, rc, "index put");
	owner_of(t, db, id, owner);
	return store_fail(t->s, ERR_EXISTS, "%s %s is claimed by agents %s "
	                  "and %s; resolve that first (nothing changed)",
	                  db == STORE_BY_ROOM ? "room" : "user", id, owner,
	                  agent_id);
}

static int index_agent(const struct store_agent *a, void *arg)
{
	struct store_txn *t = arg;
	int r = 0;

	if (a->room_id[0])
		r = add_entry(t, STORE_BY_ROOM, a->room_id, a->agent_id);
	if (r == 0 && a->user_id[0])
		r = add_entry(t, STORE_BY_USER, a->user_id, a->agent_id);
	return r;
}

int store_reindex(struct store_txn *t)
{
	int rc = mdb_drop(t->txn, t->s->dbi[STORE_BY_ROOM], 0);

	if (!rc)
		rc = mdb_drop(t->txn, t->s->dbi[STORE_BY_USER], 0);
	if (rc)
		return store_mdb_err(t, rc, "index drop");
	return store_agent_each(t, index_agent, t);
}
