/*
 * dedupe's keeper and plan over a hand-made graph (seed 000: 33 agents
 * pointed at duplicates the cleanup deleted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/ops_dedupe.h"

static struct store_agent recs[3];
static struct ops_graph_room rooms[8];
static struct ops_graph g;
static struct ops_recs r;

static void room(int i, const char *id, const char *agent, int64_t ts,
                 bool linked)
{
	memset(&rooms[i], 0, sizeof rooms[i]);
	snprintf(rooms[i].room_id, sizeof rooms[i].room_id, "%s", id);
	snprintf(rooms[i].marker_agent, sizeof rooms[i].marker_agent, "%s",
	         agent);
	rooms[i].bot_joined = rooms[i].agent_joined = true;
	rooms[i].create_ts = ts;
	rooms[i].child = linked;
	if (linked)
		snprintf(rooms[i].parent, sizeof rooms[i].parent, "!space:x");
}

static void fixture(void)
{
	memset(recs, 0, sizeof recs);
	for (int i = 0; i < 3; i++) {
		snprintf(recs[i].agent_id, sizeof recs[i].agent_id, "agent-%c",
		         'a' + i);
		snprintf(recs[i].user_id, sizeof recs[i].user_id, "@%c:x",
		         'a' + i);
	}
	snprintf(recs[0].room_id, sizeof recs[0].room_id, "!a2:x");
	snprintf(recs[1].room_id, sizeof recs[1].room_id, "!gone:x");
	snprintf(recs[2].room_id, sizeof recs[2].room_id, "!c1:x");
	room(0, "!a1:x", "agent-a", 100, true);
	room(1, "!a2:x", "agent-a", 200, false);   /* mapped: the keeper */
	room(2, "!b1:x", "agent-b", 300, false);
	room(3, "!b2:x", "agent-b", 400, true);    /* linked: the keeper */
	room(4, "!b3:x", "agent-b", 50, false);
	room(5, "!c1:x", "agent-c", 10, true);     /* alone: nothing to do */
	room(6, "!c0:x", "agent-c", 5, true);
	rooms[6].tombstoned = true;                /* already folded */
	room(7, "!c9:x", "agent-c", 1, true);
	rooms[7].bot_joined = false;               /* the bot left it */
	memset(&g, 0, sizeof g);
	snprintf(g.space_id, sizeof g.space_id, "!space:x");
	g.rooms = rooms;
	g.n = 8;
	r.a = recs;
	r.n = 3;
}

static void test_keeper_as_reconcile_chooses(void)
{
	fixture();
	CHECK_STR(ops_dd_keeper(&recs[0], g.space_id, &g)->room_id, "!a2:x");
	CHECK_STR(ops_dd_keeper(&recs[1], g.space_id, &g)->room_id, "!b2:x");
	CHECK_STR(ops_dd_keeper(&recs[2], g.space_id, &g)->room_id, "!c1:x");
	/* neither mapped nor linked: the oldest, then the smaller id */
	rooms[3].child = false;
	CHECK_STR(ops_dd_keeper(&recs[1], g.space_id, &g)->room_id, "!b3:x");
	rooms[2].create_ts = 50;
	CHECK_STR(ops_dd_keeper(&recs[1], g.space_id, &g)->room_id, "!b1:x");
}

static void test_plan_remaps_first_then_folds(void)
{
	struct ops_dd_step *s = NULL;
	size_t n = 0;
	char got[2048] = "";
	static const char *const kind[] = { "remap", "link", "unlink",
	                                    "tombstone",
	                                    "invite", "leave-agent",
	                                    "leave-bot" };

	fixture();
	CHECK_EQ(ops_dd_plan(&r, &g, &s, &n), 2);
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(got);

		snprintf(got + k, sizeof got - k, "%s %s %s>%s\n",
		         kind[s[i].kind], recs[s[i].agent].agent_id,
		         s[i].room, s[i].keeper);
	}
	CHECK_STR(got,
	          "unlink agent-a !a1:x>!a2:x\n"
	          "tombstone agent-a !a1:x>!a2:x\n"
	          "invite agent-a !a1:x>!a2:x\n"
	          "leave-agent agent-a !a1:x>!a2:x\n"
	          "leave-bot agent-a !a1:x>!a2:x\n"
	          "remap agent-b >!b2:x\n"
	          "link agent-b >!b2:x\n"
	          "unlink agent-b !b1:x>!b2:x\n"
	          "tombstone agent-b !b1:x>!b2:x\n"
	          "invite agent-b !b1:x>!b2:x\n"
	          "leave-agent agent-b !b1:x>!b2:x\n"
	          "leave-bot agent-b !b1:x>!b2:x\n"
	          "unlink agent-b !b3:x>!b2:x\n"
	          "tombstone agent-b !b3:x>!b2:x\n"
	          "invite agent-b !b3:x>!b2:x\n"
	          "leave-agent agent-b !b3:x>!b2:x\n"
	          "leave-bot agent-b !b3:x>!b2:x\n");
	free(s);
	/* a mapping to a room the bot left, with one room that counts */
	s = NULL;
	snprintf(recs[2].room_id, sizeof recs[2].room_id, "!c9:x");
	CHECK_EQ(ops_dd_plan(&r, &g, &s, &n), 3);
	CHECK_EQ(s[n - 2].kind, OPS_DD_REMAP);
	CHECK_STR(s[n - 2].keeper, "!c1:x");
	CHECK_EQ(s[n - 1].kind, OPS_DD_LINK);
	free(s);
	snprintf(recs[2].room_id, sizeof recs[2].room_id, "!c1:x");
	/* once folded (tombstoned), nothing is left to do */
	rooms[0].tombstoned = rooms[2].tombstoned = true;
	rooms[4].bot_joined = false;
	recs[1].room_id[0] = '\0';
	snprintf(recs[1].room_id, sizeof recs[1].room_id, "!b2:x");
	s = NULL;
	CHECK_EQ(ops_dd_plan(&r, &g, &s, &n), 0);
	CHECK_EQ(n, 0);
	free(s);
}

int main(void)
{
	RUN(test_keeper_as_reconcile_chooses);
	RUN(test_plan_remaps_first_then_folds);
	return harness_done("ops_dedupe");
}
