/* letta_msg: the send body, replies, history by otid, failures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "harness.h"
#include "letta_msg.h"

#define A1 "agent-6f1c2b9e-0d4a-4c1e-9a57-2f3b8c0d1e2a"

static struct letta_reply rep;

static void test_request(void)
{
	char path[256], *body;
	size_t n;
	struct letta_send s = { A1, "[A (@a:x)] hi \"there\"", 21, "a", "@a:x",
	                        "5d2c8f0e-3a41-4b7e-9c11-8e4f2a6b7c90", 20, 0 };

	CHECK_EQ(letta_msg_path(path, sizeof path, A1), 0);
	CHECK_STR(path, "/v1/agents/" A1 "/messages");
	CHECK_EQ(letta_msg_path(path, sizeof path, "agent-x/../y"), ERR_INVAL);
	CHECK_EQ(letta_msg_hist_path(path, sizeof path, A1, 100), 0);
	CHECK_STR(path, "/v1/agents/" A1 "/messages?order=desc&limit=100");
	CHECK_EQ(letta_msg_body(&s, &body, &n), 0);
	CHECK_MEM(body, n, "{\"messages\":[{\"role\":\"user\",\"content\":"
	          "\"[A (@a:x)] hi \\\"there\\\"\",\"text\":\"[A (@a:x)] hi "
	          "\\\"there\\\"\",\"name\":\"a\",\"sender_id\":\"@a:x\","
	          "\"otid\":\"5d2c8f0e-3a41-4b7e-9c11-8e4f2a6b7c90\"}],"
	          "\"max_steps\":20}");
	free(body);
	s.text = "\x01\x02\x03\x04";
	s.text_len = 4;
	CHECK_EQ(letta_msg_body(&s, &body, &n), 0);
	free(body);
	/* streamed: whole messages per step, pings on, on the route every
	 * server version streams on */
	s.stream = 1;
	CHECK_EQ(letta_msg_body(&s, &body, &n), 0);
	CHECK(strstr(body, "\"max_steps\":20,\"stream_tokens\":false,"
	             "\"include_pings\":true}") != NULL);
	free(body);
	CHECK_EQ(letta_msg_stream_path(path, sizeof path, A1), 0);
	CHECK_STR(path, "/v1/agents/" A1 "/messages/stream");
	CHECK_EQ(letta_msg_stream_path(path, sizeof path, "x/y"), ERR_INVAL);
	CHECK_EQ(letta_msg_stream_path(path, 20, A1), ERR_TOOBIG);
	/* a reply put together from a stream reads as a parsed one */
	letta_reply_init(&rep);
	letta_reply_add(&rep, "one", 3);
	letta_reply_add(&rep, "", 0);
	letta_reply_add(&rep, "two", 3);
	CHECK_STR(rep.text, "one\n\ntwo");
	CHECK_EQ(rep.n, 2);
}

static void test_reply(void)
{
	static const char doc[] = "{\"messages\":["
		"{\"message_type\":\"reasoning_message\",\"reasoning\":\"hm\"},"
		"{\"message_type\":\"assistant_message\",\"content\":\"one\"},"
		"{\"message_type\":\"tool_call_message\",\"tool_call\":{\"name\":"
		"\"web\",\"arguments\":\"{}\"}},"
		"{\"message_type\":\"assistant_message\",\"content\":[{\"type\":"
		"\"text\",\"text\":\"two\"}]}],"
		"\"stop_reason\":{\"message_type\":\"stop_reason\",\"stop_reason\":"
		"\"end_turn\"}}";
	static const char old[] = "{\"messages\":[{\"message_type\":"
		"\"tool_call_message\",\"tool_call\":{\"name\":\"send_message\","
		"\"arguments\":\"{\\\"message\\\":\\\"legacy\\\"}\"}}]}";
	static const char none[] = "{\"messages\":[],\"stop_reason\":"
		"{\"stop_reason\":\"max_steps\"}}";

	CHECK_EQ(letta_reply_parse(doc, strlen(doc), &rep), 0);
	CHECK_EQ(rep.n, 2);
	CHECK_STR(rep.text, "one\n\ntwo");
	CHECK_STR(rep.stop, "end_turn");
	CHECK_EQ(letta_reply_parse(old, strlen(old), &rep), 0);
	CHECK_STR(rep.text, "legacy");
	CHECK_EQ(letta_reply_parse(none, strlen(none), &rep), 0);
	CHECK_EQ(rep.n, 0);
	CHECK(strstr(letta_msg_stop_text(&rep), "max_steps") != NULL);
	CHECK_EQ(letta_reply_parse("[]", 2, &rep), ERR_PROTO);
	/* an answer longer than one event is cut, and says so */
	size_t big = LIM_BRIDGE_ANSWER + 10000;
	char *doc2 = malloc(big + 128);
	size_t o = (size_t)snprintf(doc2, 128, "{\"messages\":[{\"message_type\":"
	                            "\"assistant_message\",\"content\":\"");
	memset(doc2 + o, 'a', big);
	memcpy(doc2 + o + big, "\"}]}", 5);
	CHECK_EQ(letta_reply_parse(doc2, strlen(doc2), &rep), 0);
	CHECK_EQ(rep.cut, 1);
	CHECK_INT(rep.len, <=, LIM_BRIDGE_ANSWER);
	CHECK(strstr(rep.text, "[The answer was cut here") != NULL);
	free(doc2);
}

static void test_history(void)
{
	/* newest first: a later question, our turn's answer, our question */
	static const char doc[] = "["
		"{\"message_type\":\"user_message\",\"otid\":\"o2\"},"
		"{\"message_type\":\"assistant_message\",\"content\":\"b\"},"
		"{\"message_type\":\"assistant_message\",\"content\":\"a\"},"
		"{\"message_type\":\"reasoning_message\",\"reasoning\":\"r\"},"
		"{\"message_type\":\"user_message\",\"otid\":\"o1\"},"
		"{\"message_type\":\"assistant_message\",\"content\":\"old\"}]";

	CHECK_EQ(letta_hist_find(doc, strlen(doc), "o1", &rep), 1);
	CHECK_STR(rep.text, "a\n\nb");
	CHECK_EQ(rep.later, 3);
	CHECK_EQ(letta_hist_find(doc, strlen(doc), "o2", &rep), 1);
	CHECK_EQ(rep.n, 0);
	CHECK_EQ(letta_hist_find(doc, strlen(doc), "o3", &rep), 0);
	CHECK_EQ(letta_hist_find("{}", 2, "o1", &rep), ERR_PROTO);
	CHECK_STR(rep.run_id, "");
}

/* The run of a turn found in the history: the question's own, else the
 * first message after it that names one (never a later turn's). */
static void test_history_run(void)
{
	static const char doc[] = "["
		"{\"message_type\":\"user_message\",\"otid\":\"o2\","
		"\"run_id\":\"run-later\"},"
		"{\"message_type\":\"assistant_message\",\"content\":\"b\","
		"\"run_id\":\"run-2\"},"
		"{\"message_type\":\"assistant_message\",\"content\":\"a\","
		"\"run_id\":\"run-1\"},"
		"{\"message_type\":\"user_message\",\"otid\":\"o1\","
		"\"run_id\":null}]";
	static const char own[] = "[{\"message_type\":\"user_message\","
		"\"otid\":\"o1\",\"run_id\":\"run-own\"}]";

	CHECK_EQ(letta_hist_find(doc, strlen(doc), "o1", &rep), 1);
	CHECK_STR(rep.run_id, "run-1");
	CHECK_EQ(letta_hist_find(own, strlen(own), "o1", &rep), 1);
	CHECK_STR(rep.run_id, "run-own");
}

static void test_failures(void)
{
	static const char pend[] = "{\"detail\":{\"code\":\"PENDING_APPROVAL\","
		"\"message\":\"CONFLICT: waiting\",\"pending_request_id\":\"x\"}}";
	static const char busy[] = "{\"detail\":\"CONFLICT: Another request\"}";
	char d[128];

	CHECK_EQ(letta_msg_fail(409, pend, strlen(pend), d, sizeof d),
	         LETTA_F_APPROVAL);
	CHECK_STR(d, "CONFLICT: waiting");
	CHECK_EQ(letta_msg_fail(409, busy, strlen(busy), d, sizeof d),
	         LETTA_F_BUSY);
	CHECK_EQ(letta_msg_fail(404, "{\"detail\":\"gone\"}", 17, d, sizeof d),
	         LETTA_F_GONE);
	CHECK_EQ(letta_msg_fail(503, "", 0, d, sizeof d), LETTA_F_RETRY);
	CHECK_EQ(letta_msg_fail(0, "", 0, d, sizeof d), LETTA_F_RETRY);
	CHECK_EQ(letta_msg_fail(400, "{\"detail\":\"Message content is empty\"}",
	                        37, d, sizeof d), LETTA_F_REFUSED);
	static const char cred[] = "{\"error\":{\"type\":\"x\",\"message\":"
	                           "\"no credits\"}}";
	CHECK_EQ(letta_msg_fail(402, cred, strlen(cred), d, sizeof d),
	         LETTA_F_REFUSED);
	CHECK_STR(d, "no credits");
}

int main(void)
{
	RUN(test_request);
	RUN(test_reply);
	RUN(test_history);
	RUN(test_history_run);
	RUN(test_failures);
	return harness_done("test_letta_msg");
}
