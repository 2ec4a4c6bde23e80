/* bridge_quiet: when an agent stays quiet (issue 21): the no-reply test
 * on text, the prefix a live message waits on, mention detection, and
 * the listen flag of the inbox record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge.h"
#include "bridge/bridge_int.h"
#include "core/err.h"
#include "core/json.h"
#include "harness.h"
#include "syncfx.h"

#define AG "@letta_agent-1:ex.org"

static struct sync_ev msg(const char *text)
{
	return syncfx_msg("m.text", text);
}

static int quiet(const char *s)
{
	return bridge_quiet_text(s, strlen(s));
}

static int prefix(const char *s)
{
	return bridge_quiet_prefix(s, strlen(s));
}

static void test_no_reply_text(void)
{
	CHECK_INT(quiet("<no-reply/>"), ==, BQ_NO_REPLY);
	CHECK_INT(quiet("  <no-reply/>\n\n"), ==, BQ_NO_REPLY);
	CHECK_INT(quiet(""), ==, BQ_EMPTY);
	CHECK_INT(quiet(" \n\t "), ==, BQ_EMPTY);
	CHECK_INT(quiet("<no-reply/> but also this"), ==, 0);
	CHECK_INT(quiet("Sure. <no-reply/>"), ==, 0);
	CHECK_INT(quiet("<no-reply>"), ==, 0);
	CHECK_INT(quiet("<NO-REPLY/>"), ==, 0);
	CHECK_INT(quiet("<no-reply/"), ==, 0);
}

static void test_prefix_holds_the_live_message(void)
{
	CHECK(prefix(""));
	CHECK(prefix("<"));
	CHECK(prefix("  <no-re"));
	CHECK(prefix("<no-reply/>"));
	CHECK(prefix("<no-reply/>\n"));
	CHECK(!prefix("<no-reply/>x"));
	CHECK(!prefix("Hello"));
	CHECK(!prefix("<b>"));
	CHECK(!prefix("<no-reply/> <"));
}

static void test_mentions(void)
{
	struct sync_ev e = msg("hello there");

	CHECK(!bridge_quiet_mentioned(AG, &e));
	/* m.mentions: only its ids count */
	e.has_mentions = 1;
	snprintf(e.mentions, sizeof e.mentions, "@bob:ex.org\n" AG "\n");
	CHECK(bridge_quiet_mentioned(AG, &e));
	snprintf(e.mentions, sizeof e.mentions, "@bob:ex.org\n");
	CHECK(!bridge_quiet_mentioned(AG, &e));
	e = msg("ask " AG " please");
	e.has_mentions = 1;
	CHECK(!bridge_quiet_mentioned(AG, &e));         /* it said whom */
	/* no m.mentions: the id in the body, or a link */
	e.has_mentions = 0;
	CHECK(bridge_quiet_mentioned(AG, &e));
	e = msg(AG ": what now?");
	CHECK(bridge_quiet_mentioned(AG, &e));
	e = msg("was it " AG ".");
	CHECK(bridge_quiet_mentioned(AG, &e));
	e = msg("not " AG "2 nor " AG ".uk nor x" AG);
	CHECK(!bridge_quiet_mentioned(AG, &e));
	e = msg("@letta_agent-1 alone");
	CHECK(!bridge_quiet_mentioned(AG, &e));
	e = msg("agent, hi");
	snprintf(e.mentions, sizeof e.mentions, AG "\n");
	CHECK(bridge_quiet_mentioned(AG, &e));
	snprintf(e.mentions, sizeof e.mentions, AG "x\n");
	CHECK(!bridge_quiet_mentioned(AG, &e));
}

static void test_take(void)
{
	struct bridge b;
	struct broom r;
	struct sync_ev e = msg("hello");

	memset(&b, 0, sizeof b);
	memset(&r, 0, sizeof r);
	CHECK_INT(bridge_quiet_take(&b, &r, AG, &e), ==, BQ_ANSWER);
	b.respond_mention = 1;
	r.q.members = 0;                /* never seen: answered */
	CHECK_INT(bridge_quiet_take(&b, &r, AG, &e), ==, BQ_ANSWER);
	r.q.members = 3;                /* agent, bot, one person */
	CHECK_INT(bridge_quiet_take(&b, &r, AG, &e), ==, BQ_ANSWER);
	r.q.members = 4;
	CHECK_INT(bridge_quiet_take(&b, &r, AG, &e), ==, BQ_DROP);
	b.listen = 1;
	CHECK_INT(bridge_quiet_take(&b, &r, AG, &e), ==, BQ_LISTEN);
	e = msg("hi " AG);
	CHECK_INT(bridge_quiet_take(&b, &r, AG, &e), ==, BQ_ANSWER);
	e = msg("hello");
	r.q.respond = BQ_R_ALWAYS;      /* the room's settings */
	CHECK_INT(bridge_quiet_take(&b, &r, AG, &e), ==, BQ_ANSWER);
	b.respond_mention = 0;
	r.q.respond = BQ_R_MENTION;
	CHECK_INT(bridge_quiet_take(&b, &r, AG, &e), ==, BQ_LISTEN);
}

static void test_listen_flag_record(void)
{
	uint8_t buf[2048], bad[2048];
	struct bridge_in m = { .ts = 1, .queued = 2, .text = "x",
	                       .text_len = 1, .flags = BRIDGE_IN_F_LISTEN };
	struct bridge_in d;
	size_t n, n0;

	snprintf(m.event_id, sizeof m.event_id, "$q1");
	snprintf(m.sender, sizeof m.sender, "@alice:ex.org");
	CHECK_INT(bridge_in_encode(&m, buf, sizeof buf, &n), ==, 0);
	CHECK_INT(bridge_in_decode(buf, n, &d), ==, 0);
	CHECK_INT(d.flags, ==, BRIDGE_IN_F_LISTEN);
	CHECK_INT(d.approval, ==, 0);
	CHECK(!d.thread[0]);
	/* with an approval and a thread too */
	m.approval = BRIDGE_APPROVAL_NO;
	snprintf(m.call_id, sizeof m.call_id, "call-1");
	snprintf(m.thread, sizeof m.thread, "$root");
	CHECK_INT(bridge_in_encode(&m, buf, sizeof buf, &n), ==, 0);
	CHECK_INT(bridge_in_decode(buf, n, &d), ==, 0);
	CHECK_INT(d.flags, ==, BRIDGE_IN_F_LISTEN);
	CHECK_INT(d.approval, ==, BRIDGE_APPROVAL_NO);
	CHECK(!strcmp(d.thread, "$root"));
	/* an old record (no flags) still reads, as none */
	m.flags = 0;
	CHECK_INT(bridge_in_encode(&m, buf, sizeof buf, &n0), ==, 0);
	CHECK_INT(n0, ==, n - 1);
	CHECK_INT(bridge_in_decode(buf, n0, &d), ==, 0);
	CHECK_INT(d.flags, ==, 0);
	/* what the encoder never writes is refused: flags 0, unknown
	 * bits, approval 0 without flags after it */
	memcpy(bad, buf, n0);
	bad[n0] = 0;
	CHECK_INT(bridge_in_decode(bad, n0 + 1, &d), ==, ERR_CORRUPT);
	bad[n0] = 0x2;
	CHECK_INT(bridge_in_decode(bad, n0 + 1, &d), ==, ERR_CORRUPT);
	m.approval = 0;
	m.call_id[0] = '\0';
	m.flags = BRIDGE_IN_F_LISTEN;
	CHECK_INT(bridge_in_encode(&m, buf, sizeof buf, &n), ==, 0);
	CHECK_INT(bridge_in_decode(buf, n - 1, &d), ==, ERR_CORRUPT);
	m.flags = 0x4;
	CHECK_INT(bridge_in_encode(&m, buf, sizeof buf, &n), ==, ERR_INVAL);
}

/* ---- what the sync reader gives of it ---- */

struct got {
	int64_t joined;
	char respond_type[64], sender[64];
	int states, events;
	int has_mentions[4];
	char mentions[4][LIM_SYNC_MENTIONS];
};

static int g_members(void *arg, const char *room, int64_t joined)
{
	(void)room;
	((struct got *)arg)->joined = joined;
	return 0;
}

static int g_state(void *arg, const struct sync_state *st)
{
	struct got *g = arg;

	if (!strcmp(st->type, SYNC_ROOM_SETTINGS)) {
		json_get_str(st->j, st->content, "respond", g->respond_type,
		             sizeof g->respond_type);
		snprintf(g->sender, sizeof g->sender, "%s", st->sender);
	}
	g->states++;
	return 0;
}

static int g_event(void *arg, const struct sync_ev *ev)
{
	struct got *g = arg;

	if (g->events < 4 && !ev->is_state) {
		g->has_mentions[g->events] = ev->has_mentions;
		memcpy(g->mentions[g->events], ev->mentions, LIM_SYNC_MENTIONS);
		g->events++;
	}
	return 0;
}

static void test_sync_reader(void)
{
	static const char doc[] =
		"{\"next_batch\":\"s2\",\"rooms\":{\"join\":{\"!r:ex.org\":{"
		"\"summary\":{\"m.joined_member_count\":4},"
		"\"state\":{\"events\":[{\"type\":\"org.lettamx.room_settings\","
		"\"state_key\":\"\",\"sender\":\"@admin:ex.org\","
		"\"event_id\":\"$s1\",\"content\":{\"respond\":\"always\"}}]},"
		"\"timeline\":{\"events\":["
		"{\"type\":\"m.room.message\",\"sender\":\"@a:ex.org\","
		"\"event_id\":\"$1\",\"content\":{\"msgtype\":\"m.text\","
		"\"body\":\"hi\",\"m.mentions\":{\"user_ids\":[\"" AG "\","
		"\"@b:ex.org\", 7]}}},"
		"{\"type\":\"m.room.message\",\"sender\":\"@a:ex.org\","
		"\"event_id\":\"$2\",\"content\":{\"msgtype\":\"m.text\","
		"\"body\":\"agent: hi\",\"format\":\"org.matrix.custom.html\","
		"\"formatted_body\":\"<a href=\\\"https://matrix.to/#/%40letta_"
		"agent-1%3Aex.org\\\">agent</a>: hi <a href='https://matrix.to/#/"
		"@b:ex.org?via=ex.org'>b</a>\"}},"
		"{\"type\":\"m.room.message\",\"sender\":\"@a:ex.org\","
		"\"event_id\":\"$3\",\"content\":{\"msgtype\":\"m.text\","
		"\"body\":\"plain\"}}]}}}}}";
	struct sync_reader *sr = sync_reader_new();
	struct got g;
	struct sync_sink sk = { .on_event = g_event, .on_members = g_members,
	                        .on_state = g_state, .arg = &g };
	char next[64];

	memset(&g, 0, sizeof g);
	CHECK_INT(sync_parse(sr, doc, sizeof doc - 1, &sk, next, sizeof next),
	          ==, 0);
	CHECK_INT(g.joined, ==, 4);
	CHECK_INT(g.states, ==, 1);
	CHECK(!strcmp(g.respond_type, "always"));
	CHECK(!strcmp(g.sender, "@admin:ex.org"));
	CHECK_INT(g.events, ==, 3);
	CHECK_INT(g.has_mentions[0], ==, 1);
	CHECK(!strcmp(g.mentions[0], AG "\n@b:ex.org\n"));
	CHECK_INT(g.has_mentions[1], ==, 0);
	CHECK(!strcmp(g.mentions[1], AG "\n@b:ex.org\n"));
	CHECK(!strcmp(g.mentions[2], ""));
	sync_reader_free(sr);
}

int main(void)
{
	RUN(test_no_reply_text);
	RUN(test_prefix_holds_the_live_message);
	RUN(test_mentions);
	RUN(test_take);
	RUN(test_listen_flag_record);
	RUN(test_sync_reader);
	return harness_done("quiet");
}
