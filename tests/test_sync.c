/* sync: requests, and the reader on real Synapse shapes and bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "matrix/sync.h"

struct seen {
	int rooms, events, invites, limited, user_invites, direct;
	char prev[64], inviter[64], invitee[64];
	char body[8][128];
	char names[8][64];
	int rel[8];
	char mxc[8][64];
	int encrypted[8], caption[8];
	int64_t size[8];
};

static int on_room(void *arg, const char *room, int limited,
                   const char *prev)
{
	struct seen *s = arg;

	(void)room;
	s->rooms++;
	s->limited += limited;
	snprintf(s->prev, sizeof s->prev, "%.63s", prev);
	return 0;
}

static int on_event(void *arg, const struct sync_ev *ev)
{
	struct seen *s = arg;

	if (s->events < 8) {
		snprintf(s->body[s->events], 128, "%.127s", ev->body);
		snprintf(s->names[s->events], 64, "%.63s", ev->sender_name);
		s->rel[s->events] = ev->rel;
		snprintf(s->mxc[s->events], 64, "%.63s", ev->mxc);
		s->encrypted[s->events] = ev->encrypted;
		s->caption[s->events] = ev->caption;
		s->size[s->events] = ev->size;
	}
	s->events++;
	return 0;
}

static int on_invite(void *arg, const char *room, const char *inviter)
{
	struct seen *s = arg;

	(void)room;
	s->invites++;
	snprintf(s->inviter, sizeof s->inviter, "%.63s", inviter);
	return 0;
}

static int on_user_invite(void *arg, const char *room, const char *invitee,
                          const char *inviter, int is_direct)
{
	struct seen *s = arg;

	(void)room;
	s->user_invites++;
	s->direct += is_direct;
	snprintf(s->invitee, sizeof s->invitee, "%.63s", invitee);
	snprintf(s->inviter, sizeof s->inviter, "%.63s", inviter);
	return 0;
}

static int parse(const char *doc, struct seen *s, char *next)
{
	struct sync_reader *sr = sync_reader_new();
	struct sync_sink sk = { on_room, on_event, on_invite, s,
	                        "@bot:localhost", NULL, NULL, NULL };
	int r;

	memset(s, 0, sizeof *s);
	r = sync_parse(sr, doc, strlen(doc), &sk, next, 64);
	sync_reader_free(sr);
	return r;
}

#define EV(id, body) "{\"type\":\"m.room.message\",\"sender\":" \
	"\"@alice:localhost\",\"event_id\":\"" id "\",\"origin_server_ts\":1," \
	"\"content\":{\"msgtype\":\"m.text\",\"body\":" body "}}"

static void test_requests(void)
{
	struct proto_req r;

	CHECK_EQ(sync_req(&r, "t", "7", 0, "s1_x", 30000), 0);
	CHECK_STR(r.path, "/_matrix/client/v3/sync?filter=7&timeout=30000"
	          "&since=s1_x");
	CHECK_EQ(sync_req(&r, "t", "7", 0, NULL, 30000), 0);
	CHECK_STR(r.path, "/_matrix/client/v3/sync?filter=7&timeout=0");
	CHECK_EQ(sync_req(&r, "t", NULL, 1, "s", 30000), 0);
	CHECK(strstr(r.path, "filter=%7B%22room%22") != NULL);
	CHECK(strstr(r.path, "%22limit%22%3A1%2C") != NULL);
	CHECK_EQ(sync_req_filter(&r, "t", "@bot:localhost", 50), 0);
	CHECK_STR(r.path, "/_matrix/client/v3/user/%40bot%3Alocalhost/filter");
	CHECK(strstr(r.body, "\"lazy_load_members\":true") != NULL);
	CHECK_EQ(sync_req_messages(&r, "t", "!r:localhost", "t5_x", "s1_x", 50),
	         0);
	CHECK(strstr(r.path, "/rooms/%21r%3Alocalhost/messages?dir=b&limit=50")
	      != NULL);
	CHECK(strstr(r.path, "&from=t5_x&to=s1_x") != NULL);
	CHECK_EQ(sync_req_messages(&r, "t", "!r/../x", NULL, NULL, 5), ERR_INVAL);
	CHECK(sync_event_id_valid("$YcJ238HbTVoHaovoTmr8DIN_Qwd0UA19xEVR-o-7y4Y"));
	CHECK(sync_event_id_valid("$abc:localhost"));
	CHECK(!sync_event_id_valid("$"));
	CHECK(!sync_event_id_valid("$a b"));
	CHECK(!sync_event_id_valid("!abc"));
}

static void test_transcript_shapes(void)
{
	/* Synapse 1.67 shapes (transcript-1.67-stock.json #47, trimmed). */
	static const char doc[] =
	"{\"next_batch\":\"s2\",\"device_lists\":{\"changed\":[]},"
	"\"rooms\":{\"join\":{\"!r:localhost\":{\"timeline\":{\"events\":["
	EV("$1", "\"What is the VPN address?\"") ","
	"{\"type\":\"m.room.message\",\"sender\":\"@alice:localhost\","
	"\"content\":{\"msgtype\":\"m.text\",\"body\":\"> <@alice:localhost> "
	"x\\n\\nand the port?\",\"m.relates_to\":{\"m.in_reply_to\":"
	"{\"event_id\":\"$1\"}}},\"event_id\":\"$2\"},"
	"{\"type\":\"m.room.message\",\"sender\":\"@alice:localhost\","
	"\"content\":{\"msgtype\":\"m.text\",\"body\":\"* edit\","
	"\"m.relates_to\":{\"rel_type\":\"m.replace\",\"event_id\":\"$1\"}},"
	"\"event_id\":\"$3\"},"
	"{\"type\":\"m.room.message\",\"sender\":\"@alice:localhost\","
	"\"content\":{},\"unsigned\":{\"redacted_by\":\"$9\"},"
	"\"event_id\":\"$4\"}],"
	"\"prev_batch\":\"p1\",\"limited\":true},"
	"\"state\":{\"events\":[{\"type\":\"m.room.member\",\"state_key\":"
	"\"@alice:localhost\",\"sender\":\"@alice:localhost\",\"event_id\":"
	"\"$m\",\"content\":{\"membership\":\"join\",\"displayname\":"
	"\"Alice\"}}]},\"ephemeral\":{\"events\":[]}}},"
	"\"invite\":{\"!i:localhost\":{\"invite_state\":{\"events\":["
	"{\"type\":\"m.room.member\",\"sender\":\"@p:localhost\",\"state_key\":"
	"\"@bot:localhost\",\"content\":{\"membership\":\"invite\"}}]}}}}}";
	struct seen s;
	char next[64];

	CHECK_EQ(parse(doc, &s, next), 0);
	CHECK_STR(next, "s2");
	CHECK_EQ(s.rooms, 1);
	CHECK_EQ(s.limited, 1);
	CHECK_STR(s.prev, "p1");
	CHECK_EQ(s.events, 4);
	CHECK_STR(s.body[0], "What is the VPN address?");
	CHECK_STR(s.names[0], "Alice");
	CHECK_EQ(s.rel[1], SYNC_REL_REPLY);
	CHECK_EQ(s.rel[2], SYNC_REL_REPLACE);
	CHECK_EQ(s.invites, 1);
	CHECK_STR(s.inviter, "@p:localhost");
}

#define IMG(id, content) "{\"type\":\"m.room.message\",\"sender\":" \
	"\"@alice:localhost\",\"event_id\":\"" id "\",\"content\":{" \
	"\"msgtype\":\"m.image\"," content "}}"

/* A picture's content (issue 21): its mxc URI when it is one (checked:
 * nothing a path could be made of), encrypted when it has `file`, a
 * caption when filename differs from body. */
static void test_media(void)
{
	static const char doc[] =
	"{\"next_batch\":\"s3\",\"rooms\":{\"join\":{\"!r:localhost\":"
	"{\"timeline\":{\"events\":["
	IMG("$1", "\"body\":\"cat.png\",\"url\":\"mxc://localhost/AbC\","
	    "\"info\":{\"size\":1234,\"mimetype\":\"image/png\"}") ","
	IMG("$2", "\"body\":\"look\",\"filename\":\"cat.png\","
	    "\"url\":\"mxc://localhost/x_y-z\"") ","
	IMG("$3", "\"body\":\"a.png\",\"file\":{\"url\":"
	    "\"mxc://localhost/enc\",\"v\":\"v2\"}") ","
	IMG("$4", "\"body\":\"a.png\",\"url\":\"mxc://localhost/../x\"") ","
	IMG("$5", "\"body\":\"a.png\",\"url\":\"https://evil/x\"") ","
	IMG("$6", "\"body\":\"a.png\",\"filename\":\"a.png\","
	    "\"url\":\"mxc:\\/\\/localhost\\/esc\"")
	"]}}}}}";
	struct seen s;
	char next[64];

	CHECK_EQ(parse(doc, &s, next), 0);
	CHECK_EQ(s.events, 6);
	CHECK_STR(s.mxc[0], "mxc://localhost/AbC");
	CHECK_EQ(s.size[0], 1234);
	CHECK_EQ(s.caption[0], 0);
	CHECK_STR(s.mxc[1], "mxc://localhost/x_y-z");
	CHECK_EQ(s.caption[1], 1);
	CHECK_EQ(s.size[1], -1);
	CHECK_STR(s.mxc[2], "");
	CHECK_EQ(s.encrypted[2], 1);
	CHECK_STR(s.mxc[3], "");
	CHECK_STR(s.mxc[4], "");
	/* escaped: not taken (a sender's client never escapes one) */
	CHECK_STR(s.mxc[5], "");
	CHECK_EQ(s.caption[5], 0);
}

/* An event with a body that is not a string, one without an event id,
 * one without content: each skipped, the others read. */
static void test_bad_events_are_skipped(void)
{
	static const char doc[] =
	"{\"next_batch\":\"s3\",\"rooms\":{\"join\":{\"!r:localhost\":"
	"{\"timeline\":{\"events\":["
	EV("$1", "{\"not\":\"a string\"}") ","
	EV("$2", "42") ","
	"{\"type\":\"m.room.message\",\"sender\":\"@alice:localhost\","
	"\"content\":{\"msgtype\":\"m.text\",\"body\":\"no id\"}},"
	"{\"type\":\"m.room.message\",\"sender\":\"@alice:localhost\","
	"\"event_id\":\"$5\"},"
	"17,"
	EV("$6", "\"fine\"") "]}}}}}";
	struct seen s;
	char next[64];

	CHECK_EQ(parse(doc, &s, next), 0);
	CHECK_EQ(s.events, 1);
	CHECK_STR(s.body[0], "fine");
	CHECK_STR(next, "s3");
}

static void test_unreadable_documents(void)
{
	struct seen s;
	char next[64];
	size_t big = 10u << 20;
	char *doc = malloc(big + 64);

	/* invalid UTF-8: the whole answer is refused, the caller falls
	 * back to a sync without timelines */
	CHECK_EQ(parse("{\"next_batch\":\"s\",\"rooms\":{\"join\":{\"!r:l\":"
	               "{\"timeline\":{\"events\":[" EV("$1", "\"\xff\xfe\"")
	               "]}}}}}", &s, next), ERR_UTF8);
	CHECK_EQ(s.events, 0);
	CHECK_EQ(parse("{\"rooms\":{}}", &s, next), ERR_PROTO);
	CHECK_EQ(parse("[1,2]", &s, next), ERR_PROTO);
	CHECK_EQ(parse("{\"next_batch\":", &s, next), ERR_PROTO);
	/* a 10 MB timeline: over the document cap */
	if (doc) {
		size_t n = (size_t)snprintf(doc, 64, "{\"next_batch\":\"s\",\"x\":\"");
		memset(doc + n, 'a', big);
		memcpy(doc + n + big, "\"}", 3);
		CHECK_EQ(parse(doc, &s, next), ERR_TOOBIG);
		free(doc);
	}
}

static void test_messages_page(void)
{
	static const char doc[] = "{\"chunk\":[" EV("$2", "\"b\"") ","
	                          EV("$1", "\"a\"") "],\"start\":\"t9\","
	                          "\"end\":\"t7\"}";
	struct sync_reader *sr = sync_reader_new();
	struct seen s;
	struct sync_sink sk = { NULL, on_event, NULL, &s, NULL, NULL, NULL, NULL };
	char end[64];

	memset(&s, 0, sizeof s);
	CHECK_EQ(sync_messages_parse(sr, doc, strlen(doc), "!r:localhost", &sk,
	                             end, sizeof end), 0);
	CHECK_EQ(s.events, 2);
	CHECK_STR(s.body[0], "b");
	CHECK_STR(end, "t7");
	CHECK_EQ(sync_messages_parse(sr, "{\"chunk\":[]}", 12, "!r:l", &sk, end,
	                             sizeof end), 0);
	CHECK_STR(end, "");
	sync_reader_free(sr);
}

/* An application service transaction: events of several rooms in one
 * array, the room told when it changes, an invite of the bot as an
 * m.room.member event. */
static void test_transaction(void)
{
	static const char txn[] =
		"{\"events\":["
		"{\"room_id\":\"!a:localhost\",\"type\":\"m.room.message\","
		"\"sender\":\"@alice:localhost\",\"event_id\":\"$1\","
		"\"origin_server_ts\":1,\"content\":{\"msgtype\":\"m.text\","
		"\"body\":\"one\"},\"unsigned\":{\"age\":3}},"
		"{\"room_id\":\"!a:localhost\",\"type\":\"m.room.message\","
		"\"sender\":\"@alice:localhost\",\"event_id\":\"$2\","
		"\"content\":{\"msgtype\":\"m.text\",\"body\":\"two\"}},"
		"{\"room_id\":\"!b:localhost\",\"type\":\"m.room.member\","
		"\"sender\":\"@carol:localhost\",\"event_id\":\"$3\","
		"\"state_key\":\"@bot:localhost\",\"content\":{\"membership\""
		":\"invite\"}},"
		"{\"type\":\"m.room.message\",\"event_id\":\"$4\"},"
		"{\"room_id\":\"!d:localhost\",\"type\":\"m.room.member\","
		"\"sender\":\"@dan:localhost\",\"event_id\":\"$6\","
		"\"state_key\":\"@letta_x:localhost\",\"content\":{"
		"\"membership\":\"invite\",\"is_direct\":true}},"
		"{\"room_id\":\"!c:localhost\",\"type\":\"m.room.message\","
		"\"sender\":\"@bob:localhost\",\"event_id\":\"$5\","
		"\"content\":{\"msgtype\":\"m.text\",\"body\":\"three\"}}"
		"]}";
	struct sync_reader *sr = sync_reader_new();
	struct seen s;
	struct sync_sink sk = { on_room, on_event, on_invite, &s,
	                        "@bot:localhost", on_user_invite, NULL,
	                        NULL };

	memset(&s, 0, sizeof s);
	CHECK_EQ(sync_txn_parse(sr, txn, strlen(txn), &sk), 0);
	CHECK_EQ(s.events, 3);
	CHECK_STR(s.body[0], "one");
	CHECK_STR(s.body[1], "two");
	CHECK_STR(s.body[2], "three");
	CHECK_EQ(s.invites, 1);
	CHECK_EQ(s.user_invites, 1);
	CHECK_EQ(s.direct, 1);
	CHECK_STR(s.invitee, "@letta_x:localhost");
	CHECK_STR(s.inviter, "@dan:localhost");
	CHECK_EQ(s.rooms, 4);
	CHECK_EQ(sync_reader_skipped(sr), 1);   /* no room_id */
	/* not a transaction */
	CHECK_EQ(sync_txn_parse(sr, "{}", 2, &sk), ERR_PROTO);
	CHECK_EQ(sync_txn_parse(sr, "{\"events\":{}}", 13, &sk), ERR_PROTO);
	CHECK_INT(sync_txn_parse(sr, "{\"events\":[", 11, &sk), <, 0);
	sync_reader_free(sr);
}

int main(void)
{
	RUN(test_requests);
	RUN(test_transcript_shapes);
	RUN(test_media);
	RUN(test_bad_events_are_skipped);
	RUN(test_unreadable_documents);
	RUN(test_messages_page);
	RUN(test_transaction);
	return harness_done("test_sync");
}
