/*
 * store_dm: the direct chats of agent users (a person invited an agent
 * user to a room of their own, and the agent user joined): room ->
 * agent and person, in meta under "dm <room>", so that the bridge answers
 * there as in the agent's own room ("agent person", and " j" once the
 * agent user joined and marked it). An agent's direct chats go with its
 * record in the same transaction (store_agent.c), and store_check
 * reports one that names no agent.
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "store/store_int.h"

#define DM_PREFIX "dm "

static int dm_key(char *out, size_t cap, const char *room)
{
	if (!room || !room[0] || strchr(room, ' ') ||
	    (size_t)snprintf(out, cap, DM_PREFIX "%s", room) >= cap)
		return ERR_INVAL;
	return 0;
}

#define DM_VAL (2 * LIM_STORE_ID + 4)

int store_dm_put(struct store_txn *t, const char *room, const char *agent_id,
                 const char *person, int joined)
{
	char key[STORE_META_KEY + 1], val[DM_VAL];

	if (dm_key(key, sizeof key, room) || !agent_id[0] || !person[0] ||
	    strchr(agent_id, ' ') || strchr(person, ' ') ||
	    (size_t)snprintf(val, sizeof val, "%s %s%s", agent_id, person,
	                     joined ? " j" : "") >= sizeof val)
		return store_fail(t->s, ERR_INVAL, "direct chat %.80s: bad "
		                  "ids", room ? room : "");
	return store_meta_put(t, key, val);
}

/* "agent person[ j]" into its parts. */
static int split(const char *val, char *agent, char *person, int *joined)
{
	const char *sp = strchr(val, ' '), *p = sp ? sp + 1 : NULL;
	size_t an = sp ? (size_t)(sp - val) : 0, pn;

	if (!sp || !an || an >= LIM_STORE_ID)
		return ERR_CORRUPT;
	pn = strcspn(p, " ");
	*joined = !strcmp(p + pn, " j");
	if (!pn || pn >= LIM_STORE_ID || (p[pn] && !*joined))
		return ERR_CORRUPT;
	memcpy(agent, val, an);
	agent[an] = '\0';
	memcpy(person, p, pn);
	person[pn] = '\0';
	return 0;
}

int store_dm_get(struct store_txn *t, const char *room,
                 char agent[LIM_STORE_ID], char person[LIM_STORE_ID],
                 int *joined)
{
	char key[STORE_META_KEY + 1], val[DM_VAL];
	int e, j;

	if (dm_key(key, sizeof key, room))
		return ERR_NOTFOUND;
	if ((e = store_meta_get(t, key, val, sizeof val)))
		return e;
	e = split(val, agent, person, &j);
	if (joined)
		*joined = j;
	return e;
}

int store_dm_del(struct store_txn *t, const char *room)
{
	char key[STORE_META_KEY + 1];

	if (dm_key(key, sizeof key, room))
		return ERR_NOTFOUND;
	return store_meta_del(t, key);
}

struct agent_q {
	const char *id;
};

/* An entry whose value names the agent of arg (struct agent_q). */
static int of_agent(const char *key, size_t kn, const char *val, size_t vn,
                    void *arg)
{
	const struct agent_q *q = arg;
	size_t an = strlen(q->id);

	(void)key;
	(void)kn;
	return vn > an && val[an] == ' ' && !memcmp(val, q->id, an);
}

int store_dm_del_agent(struct store_txn *t, const char *agent_id)
{
	struct agent_q q = { agent_id };

	return store_meta_del_if(t, DM_PREFIX, of_agent, &q);
}

struct each {
	int (*fn)(const char *room, const char *agent, const char *person,
	          int joined, void *arg);
	void *arg;
};

static int each_one(const char *key, size_t kn, const char *val, size_t vn,
                    void *arg)
{
	struct each *c = arg;
	char room[STORE_META_KEY + 1], v[DM_VAL];
	char agent[LIM_STORE_ID], person[LIM_STORE_ID];
	size_t pn = strlen(DM_PREFIX);
	int joined = 0;

	if (kn - pn > STORE_META_KEY || vn >= sizeof v)
		return 0;
	memcpy(room, key + pn, kn - pn);
	room[kn - pn] = '\0';
	memcpy(v, val, vn);
	v[vn] = '\0';
	if (split(v, agent, person, &joined))
		agent[0] = person[0] = '\0';    /* reported as naming none */
	return c->fn(room, agent, person, joined, c->arg);
}

int store_dm_each(struct store_txn *t,
                  int (*fn)(const char *room, const char *agent,
                            const char *person, int joined, void *arg),
                  void *arg)
{
	struct each c = { fn, arg };

	return store_meta_scan(t, DM_PREFIX, each_one, &c);
}

int store_agent_of_room(struct store_txn *t, const char *room,
                        struct store_agent *a)
{
	char agent[LIM_STORE_ID], person[LIM_STORE_ID];
	int e = store_agent_by_room(t, room, a);

	if (e != ERR_NOTFOUND)
		return e;
	if ((e = store_dm_get(t, room, agent, person, NULL)))
		return e == ERR_CORRUPT ? ERR_NOTFOUND : e;
	return store_agent_get(t, agent, a);
}
