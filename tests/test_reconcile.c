/*
 * test_reconcile: the reconcile engine fed by hand (whoami, then one
 * /sync answer shaped as Synapse 1.67 sends it) over a real store: what
 * it restores, what it refuses, what a second run changes (nothing), and
 * how a missing answer ends it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "prov/provision.h"
#include "reconcile/recon_int.h"
#include "reconcile/reconcile.h"
#include "store/store.h"

#define SRV   "localhost"
#define BOT   "@bot:" SRV
#define AG    "agent-6f1c2b9e-0d4a-4c1e-9a57-2f3b8c0d1e2a"
#define AG2   "agent-00000000-0d4a-4c1e-9a57-2f3b8c0d1e2a"
#define AU    "@letta_" AG ":" SRV
#define AG3   "agent-11111111-0d4a-4c1e-9a57-2f3b8c0d1e2a"
#define AU2   "@letta_" AG2 ":" SRV
#define INST  "0123456789abcdef"

/* One state event as Synapse sends it (unsigned, event_id, ts). */
#define EV(type, sender, key, ts, content) \
	"{\"type\":\"" type "\",\"sender\":\"" sender "\",\"state_key\":\"" \
	key "\",\"origin_server_ts\":" #ts ",\"unsigned\":{\"age\":5}," \
	"\"event_id\":\"$e\",\"content\":" content "}"
#define ROOM(id, events) \
	"\"" id "\":{\"timeline\":{\"events\":[],\"prev_batch\":\"s7\"," \
	"\"limited\":true},\"state\":{\"events\":[" events "]}," \
	"\"account_data\":{\"events\":[]},\"ephemeral\":{\"events\":[]}," \
	"\"unread_notifications\":{\"notification_count\":0," \
	"\"highlight_count\":0},\"summary\":{\"m.joined_member_count\":2}}"

/* Our Space linking !a and !dup; !a and !dup both claim AG (made by
 * its user), !old is AG2's room; !f copies AG's marker (forged); !t is
 * tombstoned; !k was left (the bot kicked); !x has no marker. */
static const char SYNC[] =
	"{\"next_batch\":\"s7\",\"device_one_time_keys_count\":"
	"{\"signed_curve25519\":0},\"rooms\":{\"join\":{"
	ROOM("!space:" SRV,
	     EV("m.room.create", BOT, "", 10, "{\"type\":\"m.space\","
	        "\"room_version\":\"9\",\"creator\":\"" BOT "\"}") ","
	     EV("org.lettamx.space", BOT, "", 11, "{\"v\":1,\"install\":\""
	        INST "\",\"bot\":\"" BOT "\"}") ","
	     EV("m.space.child", BOT, "!dup:" SRV, 12,
	        "{\"via\":[\"" SRV "\"],\"suggested\":true}") ","
	     EV("m.space.child", BOT, "!gone:" SRV, 12, "{}")) ","
	ROOM("!a:" SRV,
	     EV("m.room.create", AU, "", 20, "{\"room_version\":\"9\"}") ","
	     EV("org.lettamx.agent", AU, "", 21, "{\"agent_id\":\"" AG
	        "\",\"v\":1}") ","
	     EV("m.room.name", AU, "", 22, "{\"name\":\"Helpdesk\"}") ","
	     EV("m.room.member", BOT, BOT, 23, "{\"membership\":\"join\"}"))
	","
	ROOM("!dup:" SRV,
	     EV("m.room.create", AU, "", 30, "{}") ","
	     EV("org.lettamx.agent", AU, "", 31, "{\"agent_id\":\"" AG
	        "\"}")) ","
	ROOM("!old:" SRV,
	     EV("m.room.create", BOT, "", 5, "{}") ","
	     EV("org.lettamx.agent", BOT, "", 6, "{\"agent_id\":\"" AG2
	        "\",\"v\":1}")) ","
	ROOM("!f:" SRV,
	     EV("m.room.create", "@m:" SRV, "", 1, "{}") ","
	     EV("org.lettamx.agent", "@m:" SRV, "", 2, "{\"agent_id\":\"" AG
	        "\"}")) ","
	ROOM("!t:" SRV,
	     EV("m.room.create", AU, "", 1, "{}") ","
	     EV("org.lettamx.agent", AU, "", 2, "{\"agent_id\":\"" AG "\"}")
	     "," EV("m.room.tombstone", AU, "", 3, "{\"body\":\"moved\","
	        "\"replacement_room\":\"!a:" SRV "\"}")) ","
	ROOM("!x:" SRV, EV("m.room.create", "@p:" SRV, "", 1, "{}"))
	"},\"leave\":{"
	ROOM("!k:" SRV,
	     EV("m.room.create", AU, "", 1, "{}") ","
	     EV("m.room.member", AU, BOT, 9, "{\"membership\":\"leave\"}"))
	"}}}";

static struct store *S;
static struct recon_conf C;
static char lines[8192];

static void on_line(void *arg, int kind, const char *text)
{
	size_t n = strlen(lines);

	(void)arg;
	(void)kind;
	snprintf(lines + n, sizeof lines - n, "%s\n", text);
}

static void setup(const char *name)
{
	char dir[512], why[512];

	snprintf(dir, sizeof dir, "%s/%s", harness_tmpdir(), name);
	store_close(S);
	S = NULL;
	if (store_open(&S, dir, NULL, why, sizeof why))
		harness_fail(__FILE__, __LINE__, "store_open: %s", why);
	memset(&C, 0, sizeof C);
	C.store = S;
	C.bot_user = BOT;
	C.bot_token = "bottok";
	C.install_id = INST;
	C.server_name = SRV;
	C.user_prefix = "letta_";
	C.on_line = on_line;
}

static struct proto_resp answer(int status, const char *body)
{
	struct proto_resp r = { status, -1, body, strlen(body), 0, NULL };
	return r;
}

/* One run: whoami answered with `me`, then the /sync with `sync`. */
static int run_once(const char *me, const char *sync, struct recon_report *rep,
                    char *why, size_t cap)
{
	struct recon *r = recon_new(&C);
	struct proto_req req;
	struct proto_resp a;
	char who[300];
	int64_t w;
	int e;

	lines[0] = '\0';
	CHECK_EQ(recon_next(r, &req, &w), RECON_SEND);
	CHECK(strstr(req.path, "/account/whoami") != NULL);
	snprintf(who, sizeof who, "{\"user_id\":\"%s\"}", me);
	a = answer(200, who);
	recon_feed(r, &a);
	if (recon_next(r, &req, &w) == RECON_SEND) {
		CHECK(strstr(req.path, "/sync?full_state=true&timeout=0") != NULL);
		CHECK(strstr(req.path, "filter=%7B") != NULL);  /* inline */
		CHECK_STR(req.bearer, "bottok");
		a = answer(200, sync);
		recon_feed(r, &a);
		CHECK_EQ(recon_next(r, &req, &w), RECON_DONE);
	}
	e = recon_result(r, why, cap);
	*rep = *recon_report(r);
	recon_free(r);
	return e;
}

static int get_fn(struct store_txn *t, void *arg)
{
	struct store_agent *a = arg;

	return store_agent_get(t, a->agent_id, a);
}

static int get_agent(const char *id, struct store_agent *a)
{
	memset(a, 0, sizeof *a);
	snprintf(a->agent_id, sizeof a->agent_id, "%s", id);
	return store_view(S, get_fn, a);
}

static void test_lost_store_rebuilt_from_the_graph(void)
{
	struct recon_report rep;
	struct store_agent a;
	char why[512];

	setup("lost");
	CHECK_EQ(run_once(BOT, SYNC, &rep, why, sizeof why), 0);
	CHECK_EQ(rep.requests, 2);
	CHECK_EQ(rep.restored, 2);
	CHECK_EQ(rep.conflicts, 1);
	CHECK_EQ(rep.forged, 1);
	CHECK_EQ(rep.space, RECON_SPACE_FOUND);
	CHECK_STR(rep.space_id, "!space:" SRV);
	CHECK_EQ(rep.rooms, 8);
	CHECK(rep.changed);
	/* no local mapping: the one linked in the Space wins */
	CHECK(strstr(lines, "keeping !dup:" SRV " (linked in the Space)"));
	CHECK(strstr(lines, "forged: room !f:" SRV " claims agent " AG));
	CHECK_EQ(get_agent(AG, &a), 0);
	CHECK_STR(a.room_id, "!dup:" SRV);
	CHECK_STR(a.user_id, AU);
	CHECK_EQ(a.access_token[0], 0);
	CHECK_EQ(a.flags & (STORE_AGENT_ROOM_CREATED | PROV_F_BOT_JOINED |
	                    PROV_F_LINKED), STORE_AGENT_ROOM_CREATED |
	         PROV_F_BOT_JOINED | PROV_F_LINKED);
	CHECK_EQ(get_agent(AG2, &a), 0);
	CHECK_STR(a.room_id, "!old:" SRV);
	CHECK_EQ(a.flags & PROV_F_LINKED, 0);       /* provisioning links it */
	/* a second run changes nothing */
	CHECK_EQ(run_once(BOT, SYNC, &rep, why, sizeof why), 0);
	CHECK_EQ(rep.changed, 0);
	CHECK_EQ(rep.kept, 2);
	CHECK_EQ(rep.restored + rep.repaired + rep.stale, 0);
	CHECK_EQ(rep.space, RECON_SPACE_KEPT);
}

static int put_fn(struct store_txn *t, void *arg)
{
	return store_agent_put(t, arg);
}

static void test_local_mapping_kept_stale_cleared(void)
{
	struct recon_report rep;
	struct store_agent a;
	char why[512];

	setup("local");
	/* AG mapped to !a (not the linked one: still kept), AG2 to the
	 * room the bot was kicked from */
	memset(&a, 0, sizeof a);
	snprintf(a.agent_id, sizeof a.agent_id, AG);
	snprintf(a.user_id, sizeof a.user_id, AU);
	snprintf(a.room_id, sizeof a.room_id, "!a:" SRV);
	a.flags = STORE_AGENT_ROOM_CREATED | PROV_F_BOT_JOINED | PROV_F_NAMED;
	CHECK_EQ(store_update(S, put_fn, &a), 0);
	snprintf(a.agent_id, sizeof a.agent_id, AG2);
	snprintf(a.user_id, sizeof a.user_id, AU2);
	snprintf(a.room_id, sizeof a.room_id, "!k:" SRV);
	CHECK_EQ(store_update(S, put_fn, &a), 0);
	CHECK_EQ(run_once(BOT, SYNC, &rep, why, sizeof why), 0);
	CHECK(strstr(lines, "keeping !a:" SRV " (mapped locally)"));
	CHECK(strstr(lines, "stale: agent " AG2 " room !k:" SRV ": the bot "
	             "was kicked by " AU "; repaired with !old:" SRV));
	CHECK_EQ(rep.kept, 1);
	CHECK_EQ(rep.stale, 1);
	CHECK_EQ(rep.repaired, 1);
	CHECK_EQ(get_agent(AG2, &a), 0);
	CHECK_STR(a.room_id, "!old:" SRV);
	CHECK_EQ(run_once(BOT, SYNC, &rep, why, sizeof why), 0);
	CHECK_EQ(rep.changed, 0);
	/* a room gone from the graph, and no other room of the agent: the
	 * mapping is cleared and flagged for provisioning */
	snprintf(a.agent_id, sizeof a.agent_id, AG3);
	snprintf(a.user_id, sizeof a.user_id, "@letta_" AG3 ":" SRV);
	snprintf(a.room_id, sizeof a.room_id, "!gone:" SRV);
	a.flags = STORE_AGENT_ROOM_CREATED | PROV_F_BOT_JOINED | PROV_F_LINKED;
	CHECK_EQ(store_update(S, put_fn, &a), 0);
	CHECK_EQ(run_once(BOT, SYNC, &rep, why, sizeof why), 0);
	CHECK(strstr(lines, "stale: agent " AG3 " room !gone:" SRV ": gone"));
	CHECK_EQ(rep.stale, 1);
	CHECK_EQ(get_agent(AG3, &a), 0);
	CHECK_STR(a.room_id, "");
	CHECK_EQ(a.flags, RECON_F_STALE);
	CHECK_EQ(run_once(BOT, SYNC, &rep, why, sizeof why), 0);
	CHECK_EQ(rep.changed, 0);
}

static void test_another_user_and_no_answer(void)
{
	struct recon_report rep;
	struct recon *r;
	struct proto_req req;
	struct proto_resp none = { 0, -1, "", 0, ERR_TLS, "the cause" };
	char why[512];
	int64_t w;

	setup("refused");
	CHECK_EQ(run_once("@other:" SRV, SYNC, &rep, why, sizeof why),
	         ERR_CONFIG);
	CHECK(strstr(why, "@other:" SRV) && strstr(why, BOT));
	/* a certificate that failed: no retry, the cause is the message */
	r = recon_new(&C);
	CHECK_EQ(recon_next(r, &req, &w), RECON_SEND);
	recon_feed(r, &none);
	CHECK_EQ(recon_next(r, &req, &w), RECON_DONE);
	CHECK_EQ(recon_result(r, why, sizeof why), ERR_TLS);
	CHECK_STR(why, "the cause");
	recon_free(r);
	/* refused: a few quick retries, then the cause */
	none.neterr = ERR_REFUSED;
	r = recon_new(&C);
	CHECK_EQ(recon_next(r, &req, &w), RECON_SEND);
	for (int i = 0; i < 3; i++) {
		recon_feed(r, &none);
		CHECK_EQ(recon_next(r, &req, &w), RECON_WAIT);
		CHECK(w > 0 && w <= 2000);
		recon_wake(r);
		CHECK_EQ(recon_next(r, &req, &w), RECON_SEND);
	}
	recon_feed(r, &none);
	CHECK_EQ(recon_next(r, &req, &w), RECON_DONE);
	CHECK_EQ(recon_result(r, why, sizeof why), ERR_REFUSED);
	recon_free(r);
}

/* Thread marks (org.lettamx.thread) in AG2's room !old: $r1 (the store
 * keeps a conversation for it), $r2 twice (the later is the newer, as
 * after a !reset), $r4, $bad (no conversation), one sent by a person;
 * one more in !x, which belongs to no agent. */
#define MARK(key, by, conv) \
	EV("org.lettamx.thread", by, key, 40, "{\"conversation\":\"" conv \
	   "\",\"v\":1}")
static const char THREADS[] =
	"{\"next_batch\":\"s9\",\"rooms\":{\"join\":{"
	ROOM("!old:" SRV,
	     EV("m.room.create", BOT, "", 5, "{}") ","
	     EV("org.lettamx.agent", BOT, "", 6, "{\"agent_id\":\"" AG2
	        "\",\"v\":1}") ","
	     MARK("$r1", BOT, "conv-a") "," MARK("$r2", BOT, "conv-old") ","
	     MARK("$r4", BOT, "conv-d") "," MARK("$r2", BOT, "conv-new") ","
	     EV("org.lettamx.thread", BOT, "$bad", 41, "{\"v\":1}") ","
	     MARK("$r5", "@m:" SRV, "conv-evil")) ","
	ROOM("!x:" SRV, EV("m.room.create", "@p:" SRV, "", 1, "{}") ","
	     MARK("$r6", BOT, "conv-x"))
	"}}}";

struct conv_q {
	const char *room, *thread;
	char conv[256];
};

static int conv_get_fn(struct store_txn *t, void *arg)
{
	struct conv_q *q = arg;

	return store_conv_get(t, q->room, q->thread, q->conv, sizeof q->conv);
}

static int conv_put_fn(struct store_txn *t, void *arg)
{
	struct conv_q *q = arg;

	return store_conv_put(t, q->room, q->thread, q->conv);
}

/* The conversation the store keeps for thread of !old, "" none. */
static const char *conv_of(const char *thread)
{
	static struct conv_q q;

	q.room = "!old:" SRV;
	q.thread = thread;
	if (store_view(S, conv_get_fn, &q))
		q.conv[0] = '\0';
	return q.conv;
}

static void test_thread_marks_put_back(void)
{
	struct conv_q kept = { "!old:" SRV, "$r1", "conv-kept" };
	struct recon_report rep;
	char why[512];

	setup("threads");
	CHECK_EQ(store_update(S, conv_put_fn, &kept), 0);
	C.dry_run = 1;
	CHECK_EQ(run_once(BOT, THREADS, &rep, why, sizeof why), 0);
	CHECK_EQ(rep.threads, 2);
	CHECK(rep.changed);
	CHECK(strstr(lines, "would restore: room !old:" SRV " thread $r2 "
	             "conversation conv-new"));
	CHECK_STR(conv_of("$r2"), "");
	C.dry_run = 0;
	CHECK_EQ(run_once(BOT, THREADS, &rep, why, sizeof why), 0);
	CHECK_EQ(rep.threads, 2);
	CHECK_EQ(rep.restored, 1);
	CHECK_EQ(rep.forged, 1);
	CHECK(strstr(lines, "forged: room !old:" SRV " thread $r5"));
	CHECK_STR(conv_of("$r1"), "conv-kept");        /* never replaced */
	CHECK_STR(conv_of("$r2"), "conv-new");         /* the newer mark */
	CHECK_STR(conv_of("$r4"), "conv-d");
	CHECK_STR(conv_of("$bad"), "");
	CHECK_STR(conv_of("$r5"), "");
	kept.room = "!x:" SRV;
	kept.thread = "$r6";
	CHECK_EQ(store_view(S, conv_get_fn, &kept), ERR_NOTFOUND);
	/* a second run changes nothing */
	CHECK_EQ(run_once(BOT, THREADS, &rep, why, sizeof why), 0);
	CHECK_EQ(rep.threads, 0);
	CHECK_EQ(rep.changed, 0);
}

static const char ODD[] =
	"{\"next_batch\":\"s\",\"rooms\":{\"join\":{\"!a:b\":{\"state\":"
	"{\"events\":[1,{\"type\":2},{\"type\":\"org.lettamx.agent\","
	"\"sender\":\"nobody\",\"state_key\":\"\",\"content\":"
	"{\"agent_id\":\"" AG "\"}}]}},\"not a room\":{}}}}";

static void test_graph_refuses_what_is_not_a_sync(void)
{
	static const char *const bad[] = {
		"[]", "{}", "{\"next_batch\":1}", "{\"next_batch\":\"s\","
		"\"rooms\":[]}", "{\"next_batch\":\"s\",\"rooms\":{\"join\":"
		"{\"!a:b\":1}}}", "{\"next_batch\":\"s\",\"rooms\":{\"join\":"
		"{\"!a:b\":{\"state\":{\"events\":{}}}}}}", "not json",
	};
	struct rg_graph g;

	rg_init(&g);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK(rg_parse(&g, bad[i], strlen(bad[i]), BOT) < 0);
	/* malformed events are ignored, the room kept without them */
	CHECK_EQ(rg_parse(&g, ODD, strlen(ODD), BOT), 0);
	CHECK_EQ(g.n, 1);
	CHECK_EQ(g.room[0].mark, RG_MARK_NONE);
	rg_free(&g);
}

int main(void)
{
	RUN(test_lost_store_rebuilt_from_the_graph);
	RUN(test_local_mapping_kept_stale_cleared);
	RUN(test_another_user_and_no_answer);
	RUN(test_graph_refuses_what_is_not_a_sync);
	RUN(test_thread_marks_put_back);
	store_close(S);
	return harness_done("reconcile");
}
