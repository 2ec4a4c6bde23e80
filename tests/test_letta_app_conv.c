/*
 * letta_app_conv: the commands that find and make an App Server
 * conversation (exact JSON), and the reading of their answers, with
 * answers as the real server (0.32.18) sent them: a search by summary is
 * a substring match, so "…$ev1" also lists "…$ev10".
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "harness.h"
#include "letta/letta_app_conv.h"

#define AG "agent-local-9371390e-12c6-4b65-a058-b75c50e4955d"
#define SUM "Matrix room !r:hs, since $ev1"

#define CONV(id, sum, at) \
	"{\"id\":\"" id "\",\"agent_id\":\"" AG "\",\"archived\":false," \
	"\"archived_at\":null,\"created_at\":\"" at "\",\"updated_at\":\"" \
	at "\",\"last_message_at\":null,\"summary\":" sum "," \
	"\"in_context_message_ids\":[]}"

static const char F_MADE[] =
	"{\"type\":\"conversation_create_response\",\"request_id\":\"r5\","
	"\"success\":true,\"conversation\":"
	CONV("local-conv-1", "\"" SUM "\"", "2026-12-07T18:16:11.851Z") "}";

/* newest first, as the server lists them */
static const char F_LISTED[] =
	"{\"type\":\"conversation_list_response\",\"request_id\":\"r6\","
	"\"success\":true,\"conversations\":["
	CONV("local-conv-2", "\"" SUM "0\"", "2026-12-07T18:16:11.887Z") ","
	CONV("local-conv-1", "\"" SUM "\"", "2026-12-07T18:16:11.851Z") "]}";

static const char F_NONE[] =
	"{\"type\":\"conversation_list_response\",\"request_id\":\"r7\","
	"\"success\":true,\"conversations\":[]}";

static struct json j;
static char buf[1024];

static int parse(const char *s)
{
	return json_parse(&j, s, strlen(s)) < 0 ? -1 : 0;
}

static void test_commands(void)
{
	CHECK_INT(letta_app_conv_list(buf, sizeof buf, "r6", AG, SUM), >, 0);
	CHECK_STR(buf, "{\"type\":\"conversation_list\",\"request_id\":\"r6\","
	          "\"query\":{\"agent_id\":\"" AG "\",\"summary_search\":\""
	          SUM "\",\"limit\":50}}");
	CHECK_INT(letta_app_conv_create(buf, sizeof buf, "r5", AG, SUM), >, 0);
	CHECK_STR(buf, "{\"type\":\"conversation_create\",\"request_id\":"
	          "\"r5\",\"body\":{\"agent_id\":\"" AG "\",\"summary\":\""
	          SUM "\"}}");
	/* what cannot go */
	CHECK_EQ(letta_app_conv_list(buf, sizeof buf, "r6", "agent x", SUM),
	         ERR_INVAL);
	CHECK_EQ(letta_app_conv_list(buf, sizeof buf, "r 6", AG, SUM),
	         ERR_INVAL);
	CHECK_EQ(letta_app_conv_create(buf, sizeof buf, "r5", AG, ""),
	         ERR_INVAL);
	CHECK_EQ(letta_app_conv_create(buf, sizeof buf, "r5", AG, "\xff\xfe"),
	         ERR_UTF8);
	CHECK_EQ(letta_app_conv_create(buf, 20, "r5", AG, SUM), ERR_TOOBIG);
}

static void test_answers(void)
{
	char id[128];

	CHECK_EQ(parse(F_MADE), 0);
	CHECK_EQ(letta_app_conv_answer(&j), LETTA_APP_CONV_CREATED);
	CHECK_EQ(letta_app_conv_made(&j, id, sizeof id), 0);
	CHECK_STR(id, "local-conv-1");
	/* the exact summary, not the one it is a prefix of */
	CHECK_EQ(parse(F_LISTED), 0);
	CHECK_EQ(letta_app_conv_answer(&j), LETTA_APP_CONV_LISTED);
	CHECK_EQ(letta_app_conv_found(&j, AG, SUM, id, sizeof id), 1);
	CHECK_STR(id, "local-conv-1");
	CHECK_EQ(letta_app_conv_found(&j, AG, SUM "0", id, sizeof id), 1);
	CHECK_STR(id, "local-conv-2");
	/* another agent's conversation with that summary is not ours */
	CHECK_EQ(letta_app_conv_found(&j, "agent-other", SUM, id, sizeof id), 0);
	CHECK_EQ(parse(F_NONE), 0);
	CHECK_EQ(letta_app_conv_found(&j, AG, SUM, id, sizeof id), 0);
}

/* Two conversations with one summary (two clients raced): the oldest,
 * which the first try made, whichever order the list comes in. */
static void test_oldest_wins(void)
{
	static const char two[] =
		"{\"type\":\"conversation_list_response\",\"request_id\":\"r\","
		"\"success\":true,\"conversations\":["
		CONV("local-conv-4", "\"" SUM "\"", "2026-12-07T18:20:00.000Z") ","
		CONV("local-conv-3", "\"" SUM "\"", "2026-12-07T18:19:00.000Z")
		"]}";
	char id[128];

	CHECK_EQ(parse(two), 0);
	CHECK_EQ(letta_app_conv_found(&j, AG, SUM, id, sizeof id), 1);
	CHECK_STR(id, "local-conv-3");
}

static void test_refusals(void)
{
	char id[128];

	CHECK_EQ(parse("{\"type\":\"conversation_create_response\",\"request_"
	               "id\":\"r\",\"success\":false,\"conversation\":null,"
	               "\"error\":\"Agent not found\"}"), 0);
	CHECK_EQ(letta_app_conv_made(&j, id, sizeof id), ERR_PROTO);
	CHECK_STR(id, "");
	/* an id that cannot go back in a command */
	CHECK_EQ(parse("{\"type\":\"conversation_create_response\",\"success\""
	               ":true,\"conversation\":{\"id\":\"local conv\"}}"), 0);
	CHECK_EQ(letta_app_conv_made(&j, id, sizeof id), ERR_PROTO);
	CHECK_EQ(parse("{\"type\":\"conversation_list_response\",\"success\":"
	               "true,\"conversations\":{}}"), 0);
	CHECK_EQ(letta_app_conv_found(&j, AG, SUM, id, sizeof id), ERR_PROTO);
	CHECK_EQ(parse("{\"type\":\"agent_list_response\"}"), 0);
	CHECK_EQ(letta_app_conv_answer(&j), LETTA_APP_CONV_NONE);
	CHECK_EQ(parse("[1]"), 0);
	CHECK_EQ(letta_app_conv_answer(&j), LETTA_APP_CONV_NONE);
}

int main(void)
{
	json_init(&j);
	RUN(test_commands);
	RUN(test_answers);
	RUN(test_oldest_wins);
	RUN(test_refusals);
	json_free(&j);
	return harness_done("letta_app_conv");
}
