/*
 * agent_user_mappings.json: where a JSON error is, what an entry must
 * hold, what is claimed twice, the diff and the writer.
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "core/json.h"
#include "ops/ops_legacy.h"

#define A1 "agent-11111111-1111-4111-8111-111111111111"
#define A2 "agent-22222222-2222-4222-8222-222222222222"

static char msgs[8192];

static void rep(void *arg, bool fatal, const char *msg)
{
	size_t n = strlen(msgs);

	(void)arg;
	snprintf(msgs + n, sizeof msgs - n, "%s: %s\n", fatal ? "E" : "W", msg);
}

static int parse(const char *text, struct legacy_file *f)
{
	msgs[0] = '\0';
	return legacy_parse(text, strlen(text), f, rep, NULL);
}

static void pos(const char *text, int line, int col)
{
	long at = legacy_json_errpos(text, strlen(text));
	int l, c;

	CHECK(at >= 0);
	legacy_linecol(text, strlen(text), (size_t)at, &l, &c);
	CHECK_EQ(l, line);
	CHECK_EQ(c, col);
}

static void test_error_positions(void)
{
	CHECK_EQ(legacy_json_errpos("{\"a\": [1, 2.5e3, true, null]}", 29), -1);
	pos("{\n  \"a\": 1,\n  \"b\": tru\n}", 3, 11);
	pos("{\n  \"a\": 1\n  \"b\": 2\n}", 3, 3);         /* missing comma */
	pos("{\"a\": [1, 2,]}", 1, 13);                    /* trailing comma */
	pos("{\"a\": \"x", 1, 9);                          /* truncated */
	pos("{\n  \"é\": 01x}", 2, 9);   /* chars, not bytes; no leading zero */
	pos("{} x", 1, 4);                                 /* trailing junk */
	pos("", 1, 1);
	pos("{\"a\": 012}", 1, 8);                        /* leading zero */
	pos("{\"a\": \"\\u12g4\"}", 1, 12);               /* bad \u */
	pos("{\"a\": \"\xc3\x28\"}", 1, 8);                 /* bad UTF-8 */
}

static const char *good =
	"{\n"
	"  \"" A1 "\": {\"agent_id\": \"" A1 "\", \"agent_name\": \"One\",\n"
	"    \"matrix_user_id\": \"@agent_1:x\", \"matrix_password\": \"pw1\",\n"
	"    \"created\": true, \"room_id\": \"!r1:x\", \"room_created\": true,\n"
	"    \"invitation_status\": {\"@admin:x\": \"joined\"}, \"extra\": 1},\n"
	"  \"" A2 "\": {\"agent_id\": \"" A2 "\", \"agent_name\": \"Two\",\n"
	"    \"matrix_user_id\": \"@agent_2:x\", \"matrix_password\": \"pw2\",\n"
	"    \"created\": true, \"room_id\": null, \"room_created\": false,\n"
	"    \"invitation_status\": null}\n"
	"}\n";

static void test_parse_real_shape(void)
{
	struct legacy_file f;

	CHECK_EQ(parse(good, &f), 0);
	CHECK_EQ(f.n, 2);
	CHECK_EQ(f.errors, 0);
	CHECK_EQ(f.warnings, 1);
	CHECK_STR(msgs, "W: " A1 ": unknown field 'extra' ignored\n");
	CHECK_STR(f.e[0].a.name, "One");
	CHECK_STR(f.e[0].a.room_id, "!r1:x");
	CHECK_STR(f.e[0].a.password, "pw1");
	CHECK(f.e[0].a.flags & STORE_AGENT_ROOM_CREATED);
	CHECK_STR(f.e[1].a.room_id, "");
	CHECK(!(f.e[1].a.flags & STORE_AGENT_ROOM_CREATED));
	legacy_free(&f);
}

static void test_bad_entries_all_named(void)
{
	struct legacy_file f;
	const char *bad =
		"{\"agent-nope\": {},\n"
		" \"" A1 "\": {\"agent_id\": \"" A2 "\", \"agent_name\": 5,\n"
		"   \"matrix_user_id\": \"bob\", \"room_id\": \"#alias:x\"},\n"
		" \"" A2 "\": [1]}";

	CHECK_EQ(parse(bad, &f), ERR_PROTO);
	CHECK_EQ(f.errors, 6);
	CHECK(strstr(msgs, "E: key 'agent-nope' is not a Letta agent id"));
	CHECK(strstr(msgs, "E: " A1 ": agent_id '" A2 "' differs from its "
	             "key"));
	CHECK(strstr(msgs, "E: " A1 ": agent_name is not a string"));
	CHECK(strstr(msgs, "E: " A1 ": matrix_user_id 'bob' is not a Matrix "
	             "user id"));
	CHECK(strstr(msgs, "E: " A1 ": room_id '#alias:x' is not a Matrix "
	             "room id"));
	CHECK(strstr(msgs, "E: " A2 ": the entry is not an object"));
	legacy_free(&f);
}

static void test_claimed_twice(void)
{
	char text[4096];
	struct legacy_file f;

	snprintf(text, sizeof text, "{\"%s\": {\"agent_name\": \"a\", "
	         "\"matrix_user_id\": \"@same:x\", \"room_id\": \"!r:x\"}, "
	         "\"%s\": {\"agent_name\": \"b\", \"matrix_user_id\": "
	         "\"@same:x\", \"room_id\": \"!r:x\"}, \"%s\": {}}", A1, A2, A1);
	CHECK_EQ(parse(text, &f), ERR_PROTO);
	CHECK(strstr(msgs, "E: room !r:x is claimed by both " A1 " and " A2));
	CHECK(strstr(msgs, "E: user @same:x is claimed by both " A1 " and "
	             A2));
	CHECK(strstr(msgs, "E: agent " A1 " is claimed by both " A1 " and "
	             A1));
	legacy_free(&f);
}

static void test_json_error_reported_with_place(void)
{
	struct legacy_file f;

	CHECK_EQ(parse("{\n  \"" A1 "\": {\"agent_name\": \"x\",", &f),
	         ERR_PROTO);
	CHECK_STR(msgs, "E: line 2, column 68: the JSON ends too early "
	          "(truncated?)\n");
	CHECK_EQ(parse("[1, 2]", &f), ERR_PROTO);
	CHECK(strstr(msgs, "not a JSON object keyed by agent id"));
}

static void test_diff_and_write(void)
{
	struct legacy_file f;
	struct store_agent s;
	struct json_w w;
	char buf[2048];
	size_t n;
	int count = 0;

	CHECK_EQ(parse(good, &f), 0);
	s = f.e[0].a;
	msgs[0] = '\0';
	CHECK_EQ(legacy_diff(&f.e[0], &s, rep, &count), 0);
	snprintf(s.room_id, sizeof s.room_id, "!other:x");
	snprintf(s.password, sizeof s.password, "changed");
	CHECK_EQ(legacy_diff(&f.e[0], &s, rep, &count), 2);
	CHECK(strstr(msgs, A1 ": room_id differs: file '!r1:x', store "
	             "'!other:x'"));
	CHECK(strstr(msgs, "matrix_password differs: file '(hidden)'"));
	CHECK(!strstr(msgs, "changed"));
	CHECK_EQ(legacy_diff(&f.e[1], NULL, rep, &count), 1);
	json_w_init(&w, buf, sizeof buf);
	json_w_obj(&w);
	legacy_write(&w, &f.e[1].a, false);
	json_w_obj_end(&w);
	CHECK_EQ(json_w_finish(&w, &n), 0);
	CHECK_STR(buf, "{\"" A2 "\":{\"agent_id\":\"" A2 "\",\"agent_name\":"
	          "\"Two\",\"matrix_user_id\":\"@agent_2:x\",\"created\":true,"
	          "\"room_id\":null,\"room_created\":false,"
	          "\"invitation_status\":null}}");
	json_w_init(&w, buf, sizeof buf);
	json_w_obj(&w);
	legacy_write(&w, &f.e[0].a, true);
	json_w_obj_end(&w);
	CHECK_EQ(json_w_finish(&w, &n), 0);
	CHECK(strstr(buf, "\"matrix_password\":\"pw1\""));
	legacy_free(&f);
}

int main(void)
{
	RUN(test_error_positions);
	RUN(test_parse_real_shape);
	RUN(test_bad_entries_all_named);
	RUN(test_claimed_twice);
	RUN(test_json_error_reported_with_place);
	RUN(test_diff_and_write);
	return harness_done("ops_legacy");
}
