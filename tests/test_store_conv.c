/*
 * store_conv: a room's Letta conversation (after !reset on the App
 * Server) is kept per room and thread, and goes with the room's agent in
 * the same transaction: never a stale mapping for a room no agent has
 * (the failure of the Python bridge's cleanup). Direct chats of agent
 * users likewise: found as the agent's rooms, gone with the agent.
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "store/store.h"
#include "storefx.h"

static int64_t fake_clock(void) { return 1763900000000; }

static int put_fn(struct store_txn *t, void *arg)
{
	return store_agent_put(t, arg);
}

static int put1(struct store *s, const char *id, const char *user,
                const char *room)
{
	struct store_agent a;

	memset(&a, 0, sizeof a);
	snprintf(a.agent_id, sizeof a.agent_id, "%s", id);
	snprintf(a.name, sizeof a.name, "Agent %s", id);
	snprintf(a.user_id, sizeof a.user_id, "%s", user);
	snprintf(a.room_id, sizeof a.room_id, "%s", room);
	a.flags = STORE_AGENT_ROOM_CREATED;
	return store_update(s, put_fn, &a);
}

struct conv_get {
	const char *room, *thread;
	char *out;
};

static int conv_get_fn(struct store_txn *t, void *arg)
{
	struct conv_get *g = arg;

	return store_conv_get(t, g->room, g->thread, g->out, 64);
}

static int conv_get(struct store *s, const char *room, const char *thread,
                    char out[64])
{
	struct conv_get g = { room, thread, out };

	return store_view(s, conv_get_fn, &g);
}

struct conv_put {
	const char *room, *thread, *conv;
};

static int conv_put_fn(struct store_txn *t, void *arg)
{
	struct conv_put *c = arg;

	return store_conv_put(t, c->room, c->thread, c->conv);
}

static int conv_put(struct store *s, const char *room, const char *thread,
                    const char *conv)
{
	struct conv_put c = { room, thread, conv };

	return store_update(s, conv_put_fn, &c);
}

static void report_count(const char *problem, void *arg)
{
	(void)problem;
	++*(int *)arg;
}

static int conv_check_fn(struct store_txn *t, void *arg)
{
	return store_check(t, report_count, arg);
}

static void test_conversations(void)
{
	struct store *s = storefx_open(storefx_dir("conv"), 0, fake_clock);
	struct store_agent a;
	struct store_txn *t;
	char out[64];
	int problems = 0;

	CHECK_EQ(put1(s, "agent-a", "@a:x", "!ra:x"), 0);
	CHECK_EQ(put1(s, "agent-b", "@b:x", "!ra:x2"), 0);
	CHECK_EQ(conv_get(s, "!ra:x", NULL, out), ERR_NOTFOUND);
	CHECK_STR(out, "");
	CHECK_EQ(conv_put(s, "!ra:x", NULL, "local-conv-1"), 0);
	CHECK_EQ(conv_put(s, "!ra:x", "$root", "local-conv-2"), 0);
	CHECK_EQ(conv_put(s, "!ra:x2", NULL, "local-conv-3"), 0);
	CHECK_EQ(conv_get(s, "!ra:x", NULL, out), 0);
	CHECK_STR(out, "local-conv-1");
	CHECK_EQ(conv_get(s, "!ra:x", "$root", out), 0);
	CHECK_STR(out, "local-conv-2");
	CHECK_EQ(conv_get(s, "!ra:x", "", out), 0);
	CHECK_STR(out, "local-conv-1");
	/* ids with spaces would be read back as another room's */
	CHECK_EQ(conv_put(s, "!r a:x", NULL, "c"), ERR_INVAL);
	CHECK_EQ(conv_put(s, "!ra:x", NULL, ""), ERR_INVAL);
	CHECK_EQ(store_view(s, conv_check_fn, &problems), 0);
	CHECK_EQ(problems, 0);
	/* the agent moves to another room: its old room's entries go, the
	 * room whose id starts the same stays */
	CHECK_EQ(store_txn_begin(s, true, &t), 0);
	CHECK_EQ(store_agent_get(t, "agent-a", &a), 0);
	snprintf(a.room_id, sizeof a.room_id, "!rnew:x");
	CHECK_EQ(store_agent_put(t, &a), 0);
	CHECK_EQ(store_txn_commit(t), 0);
	CHECK_EQ(conv_get(s, "!ra:x", NULL, out), ERR_NOTFOUND);
	CHECK_EQ(conv_get(s, "!ra:x", "$root", out), ERR_NOTFOUND);
	CHECK_EQ(conv_get(s, "!ra:x2", NULL, out), 0);
	CHECK_STR(out, "local-conv-3");
	/* the agent goes: so does its room's conversation */
	CHECK_EQ(store_txn_begin(s, true, &t), 0);
	CHECK_EQ(store_agent_del(t, "agent-b"), 0);
	CHECK_EQ(store_txn_commit(t), 0);
	CHECK_EQ(conv_get(s, "!ra:x2", NULL, out), ERR_NOTFOUND);
	/* one written for a room no agent has is reported */
	CHECK_EQ(conv_put(s, "!nobody:x", NULL, "local-conv-9"), 0);
	problems = 0;
	CHECK_EQ(store_view(s, conv_check_fn, &problems), 1);
	CHECK_EQ(problems, 1);
	store_close(s);
}

static int meta_put_fn(struct store_txn *t, void *arg)
{
	const char **kv = arg;

	return store_meta_put(t, kv[0], kv[1]);
}

static int meta_has(struct store *s, const char *key)
{
	struct store_txn *t;
	char v[64];
	int e;

	if (store_txn_begin(s, false, &t))
		return -1;
	e = store_meta_get(t, key, v, sizeof v);
	store_txn_abort(t);
	return e == 0;
}

/* The bridge's other entries about a room (what it answers, its pending
 * tool call, a thread's mark to post) go with the room; a room whose id
 * starts the same keeps its own. */
static void test_room_entries_go_with_it(void)
{
	struct store *s = storefx_open(storefx_dir("roommeta"), 0, fake_clock);
	int problems;
	static const char *const keys[] = {
		STORE_META_QUIET "!rq:x", STORE_META_APPROVAL "!rq:x",
		STORE_META_MARK "!rq:x $root1", STORE_META_QUIET "!rq:x2",
		STORE_META_APPROVAL "!rq:x2", STORE_META_MARK "!rq:x2 $r",
	};
	struct store_txn *t;

	CHECK_EQ(put1(s, "agent-q", "@q:x", "!rq:x"), 0);
	CHECK_EQ(put1(s, "agent-r", "@r:x", "!rq:x2"), 0);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *kv[2] = { keys[i], "v" };

		CHECK_EQ(store_update(s, meta_put_fn, kv), 0);
	}
	CHECK_EQ(store_txn_begin(s, true, &t), 0);
	CHECK_EQ(store_agent_del(t, "agent-q"), 0);
	CHECK_EQ(store_txn_commit(t), 0);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		CHECK_EQ(meta_has(s, keys[i]), i >= 3);
	problems = 0;
	CHECK_EQ(store_view(s, conv_check_fn, &problems), 0);
	CHECK_EQ(problems, 0);
	/* one left for a room no agent has (a direct chat would be one's)
	 * is reported */
	CHECK_EQ(store_update(s, meta_put_fn, (const char *[]){
		STORE_META_APPROVAL "!gone:x", "call" }), 0);
	CHECK_EQ(store_view(s, conv_check_fn, &problems), 1);
	CHECK_EQ(problems, 1);
	store_close(s);
}

struct dm_q {
	const char *room;
	struct store_agent a;
};

static int dm_of_room(struct store_txn *t, void *arg)
{
	struct dm_q *q = arg;

	return store_agent_of_room(t, q->room, &q->a);
}

static int dm_put_fn(struct store_txn *t, void *arg)
{
	const char **p = arg;

	return store_dm_put(t, p[0], p[1], p[2], p[3] != NULL);
}

struct dm_got {
	const char *room;
	char agent[LIM_STORE_ID], person[LIM_STORE_ID];
	int joined;
};

static int dm_get_fn(struct store_txn *t, void *arg)
{
	struct dm_got *g = arg;

	return store_dm_get(t, g->room, g->agent, g->person, &g->joined);
}

static void test_direct_chats(void)
{
	struct store *s = storefx_open(storefx_dir("dm"), 0, fake_clock);
	const char *dm1[4] = { "!dm1:x", "agent-a", "@alice:x", NULL };
	const char *dm2[4] = { "!dm2:x", "agent-a", "@bob:x", "joined" };
	const char *bad[4] = { "!dm3:x", "agent-a", "@a b:x", NULL };
	const char *gone[4] = { "!dm4:x", "agent-zz", "@bob:x", NULL };
	struct dm_q q = { .room = "!dm1:x" };
	struct dm_got g = { .room = "!dm1:x" };
	struct store_txn *t;
	int problems = 0;

	CHECK_EQ(put1(s, "agent-a", "@a:x", "!ra:x"), 0);
	CHECK_EQ(store_update(s, dm_put_fn, dm1), 0);
	CHECK_EQ(store_update(s, dm_put_fn, dm2), 0);
	CHECK_EQ(store_update(s, dm_put_fn, bad), ERR_INVAL);
	/* recorded as it was put, joined (nothing to do at start) or not */
	CHECK_EQ(store_view(s, dm_get_fn, &g), 0);
	CHECK_STR(g.agent, "agent-a");
	CHECK_STR(g.person, "@alice:x");
	CHECK_EQ(g.joined, 0);
	g.room = "!dm2:x";
	CHECK_EQ(store_view(s, dm_get_fn, &g), 0);
	CHECK_STR(g.person, "@bob:x");
	CHECK_EQ(g.joined, 1);
	/* a direct chat is the agent's room as the bridge sees rooms */
	CHECK_EQ(store_view(s, dm_of_room, &q), 0);
	CHECK_STR(q.a.agent_id, "agent-a");
	q.room = "!ra:x";
	CHECK_EQ(store_view(s, dm_of_room, &q), 0);
	CHECK_STR(q.a.agent_id, "agent-a");
	q.room = "!other:x";
	CHECK_EQ(store_view(s, dm_of_room, &q), ERR_NOTFOUND);
	CHECK_EQ(store_view(s, conv_check_fn, &problems), 0);
	/* one naming an agent the store does not have is reported */
	CHECK_EQ(store_update(s, dm_put_fn, gone), 0);
	CHECK_EQ(store_view(s, conv_check_fn, &problems), 1);
	/* the agent goes: its direct chats with it, the other stays */
	CHECK_EQ(store_txn_begin(s, true, &t), 0);
	CHECK_EQ(store_agent_del(t, "agent-a"), 0);
	CHECK_EQ(store_txn_commit(t), 0);
	q.room = "!dm2:x";
	CHECK_EQ(store_view(s, dm_of_room, &q), ERR_NOTFOUND);
	q.room = "!dm4:x";
	CHECK_EQ(store_view(s, dm_of_room, &q), ERR_NOTFOUND);
	store_close(s);
}

int main(void)
{
	RUN(test_conversations);
	RUN(test_room_entries_go_with_it);
	RUN(test_direct_chats);
	return harness_done("store_conv");
}
