/*
 * The checks of `lettamx check`, each with its problem planted.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "ops/ops_check.h"
#include "prov/provision.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store/store_snap.h"

static int64_t fake_now = 1763900000000;
static int64_t fake_clock(void) { return fake_now; }

/* What the sink got. */
static char got[16384];
static int ngot;

static void sink_fn(void *arg, const char *check, const char *subject,
                    const char *problem, const char *fix)
{
	size_t n = strlen(got);

	(void)arg;
	ngot++;
	snprintf(got + n, sizeof got - n, "[%s] %s: %s -- fix: %s\n", check,
	         subject, problem, fix);
}

static struct ops_sink sink(void)
{
	got[0] = '\0';
	ngot = 0;
	return (struct ops_sink){ sink_fn, NULL, 0 };
}

static struct store *open_new(const char *name)
{
	static const struct store_opts o = { .clock = fake_clock };
	char dir[512], why[512];
	struct store *s = NULL;

	snprintf(dir, sizeof dir, "%s/%s", harness_tmpdir(), name);
	if (store_open(&s, dir, &o, why, sizeof why))
		harness_fail(__FILE__, __LINE__, "open: %s", why);
	return s;
}

static void agent(struct store_agent *a, const char *id, const char *room)
{
	memset(a, 0, sizeof *a);
	snprintf(a->agent_id, sizeof a->agent_id, "%s", id);
	snprintf(a->name, sizeof a->name, "name of %s", id);
	snprintf(a->user_id, sizeof a->user_id, "@u_%s:x", id);
	snprintf(a->room_id, sizeof a->room_id, "%s", room);
	if (room[0])
		a->flags = STORE_AGENT_ROOM_CREATED;
}

static int put_fn(struct store_txn *t, void *arg)
{
	return store_agent_put(t, arg);
}

static void put(struct store *s, const char *id, const char *room)
{
	struct store_agent a;

	agent(&a, id, room);
	CHECK_EQ(store_update(s, put_fn, &a), 0);
}

/* Writes record a straight into the agents database, past the indexes:
 * how a bug or an older tool could have left the store. */
static int raw_fn(struct store_txn *t, void *arg)
{
	struct store_agent *a = arg;
	unsigned char buf[STORE_REC_MAX];
	int n = store_rec_encode(a, NULL, buf, sizeof buf);
	MDB_val k = { strlen(a->agent_id), a->agent_id };
	MDB_val v = { (size_t)n, buf };

	return n < 0 ? n : mdb_put(t->txn, t->s->dbi[STORE_AGENTS], &k, &v, 0)
	                   ? ERR_STORE : 0;
}

struct run {
	struct ops_sink *s;
	const char *snapdir;
	int rc;
};

static int check_fn(struct store_txn *t, void *arg)
{
	struct run *r = arg;
	struct ops_recs recs;
	int rc = ops_recs_read(t, &recs);

	if (!rc)
		rc = ops_check_store(t, &recs, r->s);
	if (!rc && r->snapdir)
		rc = ops_check_snap(t, &recs, r->snapdir, r->s);
	ops_recs_free(&recs);
	return rc;
}

static void run_checks(struct store *s, struct ops_sink *k, const char *sd)
{
	struct run r = { k, sd, 0 };

	CHECK_EQ(store_view(s, check_fn, &r), 0);
}

static void test_healthy_store(void)
{
	struct store *s = open_new("ok");
	struct ops_sink k = sink();

	put(s, "agent-a", "!a:x");
	put(s, "agent-b", "");
	run_checks(s, &k, NULL);
	CHECK_EQ(k.problems, 0);
	CHECK_STR(got, "");
	store_close(s);
}

static void test_3_shared_room_and_user(void)
{
	struct store *s = open_new("shared");
	struct ops_sink k = sink();
	struct store_agent b;

	put(s, "agent-a", "!a:x");
	agent(&b, "agent-b", "!a:x");
	snprintf(b.user_id, sizeof b.user_id, "@u_agent-a:x");
	CHECK_EQ(store_update(s, raw_fn, &b), 0);
	run_checks(s, &k, NULL);
	CHECK(strstr(got, "[3] agent name of agent-b (agent-b): its room "
	             "!a:x is also agent-a's -- fix: lettamx reconcile"));
	CHECK(strstr(got, "[3] agent name of agent-b (agent-b): its Matrix "
	             "user @u_agent-a:x is also agent-a's"));
	/* and the indexes do not match the records either */
	CHECK(strstr(got, "[5] the store's indexes"));
	store_close(s);
}

static void test_4_derived_flags(void)
{
	struct store *s = open_new("flags");
	struct ops_sink k = sink();
	struct store_agent a;

	agent(&a, "agent-a", "!a:x");
	a.flags = 0;                            /* room id, not created */
	CHECK_EQ(store_update(s, put_fn, &a), 0);
	agent(&a, "agent-b", "");
	a.flags = STORE_AGENT_ROOM_CREATED;     /* created, no room id */
	CHECK_EQ(store_update(s, put_fn, &a), 0);
	agent(&a, "agent-c", "!c:x");
	a.flags |= PROV_F_UNLINKED;             /* unlinked, not deleted */
	CHECK_EQ(store_update(s, put_fn, &a), 0);
	run_checks(s, &k, NULL);
	CHECK_EQ(k.problems, 3);
	CHECK(strstr(got, "[4] agent name of agent-a (agent-a): it has room "
	             "!a:x but room_created is not set -- fix: lettamx "
	             "reconcile"));
	CHECK(strstr(got, "[4] agent name of agent-b (agent-b): room_created "
	             "is set but it has no room id"));
	CHECK(strstr(got, "[4] agent name of agent-c (agent-c): it is marked "
	             "unlinked"));
	store_close(s);
}

static int del_index_fn(struct store_txn *t, void *arg)
{
	MDB_val k = { strlen(arg), arg };

	return mdb_del(t->txn, t->s->dbi[STORE_BY_ROOM], &k, NULL) ? ERR_STORE
	                                                            : 0;
}

static int schema_fn(struct store_txn *t, void *arg)
{
	return store_meta_put(t, "schema", arg);
}

static void test_5_index_and_schema(void)
{
	struct store *s = open_new("index");
	struct ops_sink k = sink();

	put(s, "agent-a", "!a:x");
	CHECK_EQ(store_update(s, del_index_fn, "!a:x"), 0);
	run_checks(s, &k, NULL);
	CHECK_EQ(k.problems, 1);
	CHECK(strstr(got, "[5] the store's indexes: ") && strstr(got, "!a:x"));
	CHECK(strstr(got, "fix: lettamx run (rebuilds"));
	k = sink();
	CHECK_EQ(store_update(s, schema_fn, "0"), 0);
	run_checks(s, &k, NULL);
	CHECK(strstr(got, "[5] the store: its schema version is '0', this "
	             "lettamx writes 1"));
	store_close(s);
}

static void test_8_snapshots(void)
{
	struct store *s = open_new("snap");
	char sd[512];
	struct ops_sink k = sink();

	snprintf(sd, sizeof sd, "%s/snap-snaps", harness_tmpdir());
	put(s, "agent-a", "!a:x");
	run_checks(s, &k, sd);
	CHECK_EQ(k.problems, 1);
	CHECK(strstr(got, "[8] the snapshots: there is no snapshot") &&
	      strstr(got, "fix: lettamx snapshot"));
	/* a snapshot, then a change: the snapshot differs, as it must */
	CHECK_EQ(store_snapshot(s, sd, "t", NULL), 0);
	fake_now += 1000;
	put(s, "agent-b", "!b:x");
	k = sink();
	run_checks(s, &k, sd);
	CHECK_EQ(k.problems, 0);
	/* seed 000: a change, then a "backup" that claims to be older */
	fake_now += 1000;
	put(s, "agent-c", "!c:x");
	fake_now -= 500;
	CHECK_EQ(store_snapshot(s, sd, "late", NULL), 0);
	fake_now += 500;
	k = sink();
	run_checks(s, &k, sd);
	CHECK_EQ(k.problems, 1);
	CHECK(strstr(got, "holds exactly the current state although agent "
	             "agent-c changed after it"));
	store_close(s);
}

/* ---- Letta ---- */

static void test_letta_both_ways(void)
{
	struct ops_recs r = { 0 };
	struct letta_list l;
	struct store_agent a[2];
	struct letta_agent la[2];
	struct ops_sink k = sink();

	agent(&a[0], "agent-a", "!a:x");
	agent(&a[1], "agent-gone", "!g:x");
	r.a = a;
	r.n = 2;
	memset(la, 0, sizeof la);
	snprintf(la[0].id, sizeof la[0].id, "agent-a");
	snprintf(la[1].id, sizeof la[1].id, "agent-new");
	snprintf(la[1].name, sizeof la[1].name, "newcomer");
	letta_list_init(&l);
	l.agents = la;
	l.n = 2;
	l.done = 1;
	ops_check_letta(&r, &l, NULL, NULL, &k);
	CHECK_EQ(k.problems, 1);        /* incomplete: no absence inferred */
	CHECK(strstr(got, "[letta] agent newcomer (agent-new): it has no "
	             "mapping"));
	k = sink();
	l.complete = 1;
	ops_check_letta(&r, &l, NULL, NULL, &k);
	CHECK_EQ(k.problems, 2);
	CHECK(strstr(got, "(agent-gone): its agent no longer exists in Letta"));
	a[1].deleted_at = 1;            /* already known: provisioning's */
	k = sink();
	ops_check_letta(&r, &l, NULL, NULL, &k);
	CHECK_EQ(k.problems, 1);
}

/* ---- the graph ---- */

static void graph_fixture(struct ops_recs *r, struct store_agent *a,
                          struct ops_graph *g, struct ops_graph_room *rooms)
{
	memset(r, 0, sizeof *r);
	memset(g, 0, sizeof *g);
	agent(&a[0], "agent-a", "!a:x");
	agent(&a[1], "agent-b", "!b:x");
	r->a = a;
	r->n = 2;
	snprintf(r->space_id, sizeof r->space_id, "!space:x");
	snprintf(g->space_id, sizeof g->space_id, "!space:x");
	g->space_bot_joined = g->space_marker_ours = true;
	for (int i = 0; i < 2; i++) {
		memset(&rooms[i], 0, sizeof rooms[i]);
		snprintf(rooms[i].room_id, sizeof rooms[i].room_id, "%s",
		         a[i].room_id);
		snprintf(rooms[i].marker_agent, sizeof rooms[i].marker_agent,
		         "%.42s", a[i].agent_id);
		snprintf(rooms[i].parent, sizeof rooms[i].parent, "!space:x");
		rooms[i].bot_joined = rooms[i].agent_joined = true;
		rooms[i].child = true;
	}
	g->rooms = rooms;
	g->n = 2;
}

static void test_graph_checks(void)
{
	struct ops_recs r;
	struct store_agent a[2];
	struct ops_graph g;
	struct ops_graph_room rooms[2];
	struct ops_sink k = sink();

	graph_fixture(&r, a, &g, rooms);
	ops_check_graph(&r, &g, &k);
	CHECK_EQ(k.problems, 0);
	/* 1: a stale mapping (seed 000's key check) */
	g.n = 1;
	ops_check_graph(&r, &g, &k);
	CHECK(strstr(got, "[1] agent name of agent-b (agent-b): its room !b:x "
	             "does not exist or the bot was never in it: a stale "
	             "mapping -- fix: lettamx reconcile"));
	graph_fixture(&r, a, &g, rooms);
	rooms[1].bot_joined = false;
	k = sink();
	ops_check_graph(&r, &g, &k);
	CHECK_EQ(k.problems, 1);
	CHECK(strstr(got, "its room !b:x was left by the bot: a stale mapping"));
	graph_fixture(&r, a, &g, rooms);
	rooms[0].agent_joined = false;
	k = sink();
	ops_check_graph(&r, &g, &k);
	CHECK_EQ(k.problems, 1);
	CHECK(strstr(got, "[1] agent name of agent-a (agent-a): its user "));
	/* 2 and 6 */
	graph_fixture(&r, a, &g, rooms);
	g.space_marker_ours = false;
	snprintf(r.space_id, sizeof r.space_id, "!old:x");
	k = sink();
	ops_check_graph(&r, &g, &k);
	CHECK_EQ(k.problems, 2);
	CHECK(strstr(got, "[2] !space:x: the Space's marker does not name"));
	CHECK(strstr(got, "[6] the Space: the store records the Space "
	             "'!old:x' but the server's is !space:x"));
	g.space_id[0] = '\0';
	k = sink();
	ops_check_graph(&r, &g, &k);
	CHECK(strstr(got, "[2] the Space: there is no Space"));
	/* 7 */
	graph_fixture(&r, a, &g, rooms);
	snprintf(rooms[1].marker_agent, sizeof rooms[1].marker_agent,
	         "agent-a");
	rooms[0].child = false;
	k = sink();
	ops_check_graph(&r, &g, &k);
	CHECK_EQ(k.problems, 2);
	CHECK(strstr(got, "[7] agent name of agent-b (agent-b): the marker of "
	             "its room !b:x names 'agent-a'"));
	CHECK(strstr(got, "[7] agent name of agent-a (agent-a): its room !a:x "
	             "is not linked both ways with the Space (parent ok, "
	             "child missing)"));
}

int main(void)
{
	RUN(test_healthy_store);
	RUN(test_3_shared_room_and_user);
	RUN(test_4_derived_flags);
	RUN(test_5_index_and_schema);
	RUN(test_8_snapshots);
	RUN(test_letta_both_ways);
	RUN(test_graph_checks);
	return harness_done("ops_check");
}
