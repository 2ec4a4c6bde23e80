/* letta_msg: the send body, replies, history by otid, failures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "letta/letta_msg.h"

#define A1 "agent-6f1c2b9e-0d4a-4c1e-9a57-2f3b8c0d1e2a"

static struct letta_reply rep;

static void test_request(void)
{
	char path[256], *body;
	size_t n;
	struct letta_send s = { A1, "[A (@a:x)] hi \"there\"", 21, "a", "@a:x",
	                        "5d2c8f0e-3a41-4b7e-9c11-8e4f2a6b7c90", 20, 0,
	                        0 };

	CHECK_EQ(letta_msg_path(path, sizeof path, A1), 0);
	CHECK_STR(path, "/v1/agents/" A1 "/messages");
	CHECK_EQ(letta_msg_path(path, sizeof path, "agent-x/../y"), ERR_INVAL);
	CHECK_EQ(letta_msg_hist_path(path, sizeof path, A1, 100), 0);
	CHECK_STR(path, "/v1/agents/" A1 "/messages?order=desc&limit=100"
	          "&conversation_id=default");
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
	/* to a conversation: it streams unless told not to, so the flag is
	 * always written */
	s.conv = 1;
	CHECK_EQ(letta_msg_body(&s, &body, &n), 0);
	CHECK(strstr(body, "\"max_steps\":20,\"streaming\":true,"
	             "\"stream_tokens\":false,\"include_pings\":true}") != NULL);
	free(body);
	s.stream = 0;
	CHECK_EQ(letta_msg_body(&s, &body, &n), 0);
	CHECK(strstr(body, "\"max_steps\":20,\"streaming\":false}") != NULL);
	free(body);
	s.conv = 0;
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

static void test_approval_body(void)
{
	struct letta_send s = { .max_steps = 7 };
	char *body;
	size_t n;

	CHECK_EQ(letta_msg_approval_body(&s, 1, "call_1", NULL, &body, &n), 0);
	CHECK_MEM(body, n, "{\"messages\":[{\"type\":\"approval\",\"approvals\":"
	          "[{\"type\":\"approval\",\"tool_call_id\":\"call_1\","
	          "\"approve\":true}]}],\"max_steps\":7}");
	free(body);
	CHECK_EQ(letta_msg_approval_body(&s, 1, "call_1", "", &body, &n), 0);
	CHECK(strstr(body, "reason") == NULL);
	free(body);
	CHECK_EQ(letta_msg_approval_body(&s, 0, "call_1", "no \"way\"\n\x01",
	                                 &body, &n), 0);
	CHECK_MEM(body, n, "{\"messages\":[{\"type\":\"approval\",\"approvals\":"
	          "[{\"type\":\"approval\",\"tool_call_id\":\"call_1\","
	          "\"approve\":false,\"reason\":\"no \\\"way\\\"\\n\\u0001\"}]}],"
	          "\"max_steps\":7}");
	free(body);
	CHECK_EQ(letta_msg_approval_body(&s, 0, "call_1", "bad \xff", &body,
	                                 &n), ERR_UTF8);
	CHECK(body == NULL);
	CHECK_EQ(letta_msg_approval_body(&s, 1, "", NULL, &body, &n),
	         ERR_INVAL);
	/* a long reason of the widest escapes fits */
	char *big = malloc(5001);
	memset(big, 0x02, 5000);
	big[5000] = '\0';
	CHECK_EQ(letta_msg_approval_body(&s, 0, "c", big, &body, &n), 0);
	CHECK_INT(n, >, 30000);
	free(body);
	free(big);
}

static void test_approval_request(void)
{
	static const char doc[] = "{\"messages\":["
		"{\"message_type\":\"reasoning_message\",\"reasoning\":\"hm\"},"
		"{\"message_type\":\"approval_request_message\",\"tool_call\":"
		"{\"name\":\"delete_everything\",\"arguments\":"
		"\"{\\\"path\\\": \\\"/tmp/\\u00e9\\\"}\",\"tool_call_id\":"
		"\"call_abc\"},\"tool_calls\":[{\"name\":\"other\","
		"\"arguments\":\"{}\",\"tool_call_id\":\"call_zzz\"}]}],"
		"\"stop_reason\":{\"stop_reason\":\"requires_approval\"}}";
	static const char list[] = "{\"messages\":[{\"message_type\":"
		"\"approval_request_message\",\"tool_call\":null,\"tool_calls\":"
		"[{\"name\":\"web\",\"arguments\":{\"q\":1},\"tool_call_id\":"
		"\"call_2\"}]}]}";
	static const char badid[] = "{\"messages\":[{\"message_type\":"
		"\"approval_request_message\",\"tool_call\":{\"name\":\"t\","
		"\"arguments\":\"{}\",\"tool_call_id\":\"call x\\n\"}}]}";
	static const char hist[] = "["
		"{\"message_type\":\"approval_request_message\",\"tool_call\":"
		"{\"name\":\"rm\",\"arguments\":\"{}\",\"tool_call_id\":\"c9\"}},"
		"{\"message_type\":\"user_message\",\"otid\":\"o1\"}]";

	CHECK_EQ(letta_reply_parse(doc, strlen(doc), &rep), 0);
	CHECK_EQ(rep.approval, 1);
	CHECK_EQ(rep.n, 0);
	CHECK_STR(rep.tool, "delete_everything");
	CHECK_STR(rep.call_id, "call_abc");
	CHECK_STR(rep.args, "{\"path\": \"/tmp/\xc3\xa9\"}");
	CHECK_EQ(rep.args_len, strlen(rep.args));
	CHECK_STR(rep.stop, "requires_approval");
	CHECK_EQ(letta_reply_parse(list, strlen(list), &rep), 0);
	CHECK_STR(rep.tool, "web");
	CHECK_STR(rep.call_id, "call_2");
	CHECK_STR(rep.args, "{\"q\":1}");
	CHECK_EQ(letta_reply_parse(badid, strlen(badid), &rep), 0);
	CHECK_EQ(rep.approval, 1);
	CHECK_STR(rep.call_id, "");
	CHECK_EQ(letta_hist_find(hist, strlen(hist), "o1", &rep), 1);
	CHECK_EQ(rep.approval, 1);
	CHECK_STR(rep.tool, "rm");
	CHECK_STR(rep.call_id, "c9");
	/* a plain reply clears what an earlier parse read */
	CHECK_EQ(letta_reply_parse("{\"messages\":[]}", 15, &rep), 0);
	CHECK_EQ(rep.approval, 0);
	CHECK_STR(rep.call_id, "");
	CHECK_STR(rep.tool, "");
	CHECK_EQ(rep.args_len, 0);
}

/* Arguments longer than shown are cut at a character, with "…". */
static void test_approval_args_cut(void)
{
	size_t k = 1500, o;
	char *doc = malloc(k * 2 + 256);

	o = (size_t)snprintf(doc, 256, "{\"messages\":[{\"message_type\":"
	                     "\"approval_request_message\",\"tool_call\":{"
	                     "\"name\":\"t\",\"tool_call_id\":\"c\","
	                     "\"arguments\":\"x");
	for (size_t i = 0; i < k; i++) {      /* 'x' then é é é ... */
		doc[o++] = '\xc3';
		doc[o++] = '\xa9';
	}
	memcpy(doc + o, "\"}}]}", 6);
	CHECK_EQ(letta_reply_parse(doc, strlen(doc), &rep), 0);
	CHECK_INT(rep.args_len, <, sizeof rep.args);
	CHECK_EQ(rep.args_len, strlen(rep.args));
	CHECK_EQ(memcmp(rep.args + rep.args_len - 3, "\xe2\x80\xa6", 3), 0);
	/* 'x' + whole é's: the cut fell between two characters */
	CHECK_EQ((rep.args_len - 3 - 1) % 2, 0);
	CHECK_INT(rep.args_len, >=, sizeof rep.args - 4);
	free(doc);
}

/* The streaming path records what it read itself, by the same rules. */
static void test_approval_set(void)
{
	char tool[300];

	letta_reply_approval(&rep, "web", "call_9", "{}", 2);
	CHECK_EQ(rep.approval, 1);
	CHECK_STR(rep.tool, "web");
	CHECK_STR(rep.call_id, "call_9");
	CHECK_STR(rep.args, "{}");
	letta_reply_approval(&rep, NULL, "call 9", NULL, 0);
	CHECK_STR(rep.tool, "");
	CHECK_STR(rep.call_id, "");
	CHECK_EQ(rep.args_len, 0);
	memset(tool, 'a', sizeof tool);
	memcpy(tool + 126, "\xc3\xa9", 2);   /* é across the cut */
	tool[sizeof tool - 1] = '\0';
	letta_reply_approval(&rep, tool, "c", "bad \xff", 5);
	CHECK_EQ(strlen(rep.tool), 126);
	CHECK_EQ(rep.args_len, 0);
}

/* After a restart an approval turn is found by its approval response. */
static void test_history_approval(void)
{
	static const char doc[] = "["
		"{\"message_type\":\"assistant_message\",\"content\":\"Done.\"},"
		"{\"message_type\":\"tool_return_message\",\"tool_return\":\"ok\"},"
		"{\"message_type\":\"approval_response_message\",\"approvals\":"
		"[{\"type\":\"approval\",\"tool_call_id\":\"call_1\","
		"\"approve\":true}]},"
		"{\"message_type\":\"approval_request_message\",\"tool_call\":"
		"{\"name\":\"rm\",\"arguments\":\"{}\",\"tool_call_id\":"
		"\"call_1\"}},"
		"{\"message_type\":\"user_message\",\"otid\":\"o1\"}]";

	CHECK_EQ(letta_hist_find_approval(doc, strlen(doc), "call_1", &rep), 1);
	CHECK_STR(rep.text, "Done.");
	CHECK_EQ(rep.approval, 0);
	CHECK_EQ(rep.later, 2);
	CHECK_EQ(letta_hist_find_approval(doc, strlen(doc), "call_2", &rep), 0);
	/* the question's turn: its request was answered since */
	CHECK_EQ(letta_hist_find(doc, strlen(doc), "o1", &rep), 1);
	CHECK_EQ(rep.approval, 0);
	CHECK_STR(rep.call_id, "");
}

/* A pause the bridge did not see: found in the history. */
static void test_history_pending(void)
{
	static const char waits[] = "["
		"{\"message_type\":\"reasoning_message\",\"reasoning\":\"r\"},"
		"{\"message_type\":\"approval_request_message\",\"tool_call\":"
		"{\"name\":\"rm\",\"arguments\":\"{}\",\"tool_call_id\":"
		"\"call_7\"}},"
		"{\"message_type\":\"user_message\",\"otid\":\"o1\"}]";
	static const char answered[] = "["
		"{\"message_type\":\"approval_response_message\",\"approvals\":[]},"
		"{\"message_type\":\"approval_request_message\",\"tool_call\":"
		"{\"name\":\"rm\",\"arguments\":\"{}\",\"tool_call_id\":"
		"\"call_7\"}}]";

	CHECK_EQ(letta_hist_pending(waits, strlen(waits), &rep), 1);
	CHECK_STR(rep.tool, "rm");
	CHECK_STR(rep.call_id, "call_7");
	CHECK_EQ(letta_hist_pending(answered, strlen(answered), &rep), 0);
	CHECK_EQ(rep.approval, 0);
	CHECK_EQ(letta_hist_pending("[]", 2, &rep), 0);
	CHECK_EQ(letta_hist_pending("{}", 2, &rep), ERR_PROTO);
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

/* Runs still going: one Run or a list, whatever the filter did. */
static void test_runs(void)
{
	char path[256];
#define GOING(s) letta_runs_going(s, sizeof s - 1)

	CHECK_EQ(letta_runs_active_path(path, sizeof path, A1), 0);
	CHECK_STR(path, "/v1/runs/?agent_id=" A1 "&active=true&limit=5");
	CHECK_EQ(letta_runs_active_path(path, sizeof path, "agent-x&y"),
	         ERR_INVAL);
	CHECK_EQ(letta_runs_active_path(path, 20, A1), ERR_TOOBIG);
	CHECK_EQ(GOING("{\"id\":\"run-1\",\"status\":\"running\"}"), 1);
	CHECK_EQ(GOING("{\"id\":\"run-1\",\"status\":\"created\"}"), 1);
	CHECK_EQ(GOING("{\"id\":\"run-1\",\"status\":\"completed\"}"), 0);
	CHECK_EQ(GOING("[]"), 0);
	/* a server that ignores `active` lists finished runs too */
	CHECK_EQ(GOING("[{\"status\":\"completed\"},{\"status\":"
	               "\"cancelled\"}]"), 0);
	CHECK_EQ(GOING("[{\"status\":\"failed\"},{\"status\":\"running\"}]"),
	         1);
	CHECK_EQ(GOING("[{\"status\":\"running\"},7]"), 1);
	CHECK_EQ(GOING("[7,{\"status\":\"running\"}]"), ERR_PROTO);
	CHECK_EQ(GOING("{\"detail\":\"Not Found\"}"), 0);
	CHECK_EQ(GOING("\"running\""), ERR_PROTO);
	CHECK_EQ(GOING("[{\"status\":"), ERR_PROTO);
#undef GOING
}

int main(void)
{
	RUN(test_request);
	RUN(test_reply);
	RUN(test_history);
	RUN(test_history_run);
	RUN(test_failures);
	RUN(test_approval_body);
	RUN(test_approval_request);
	RUN(test_approval_args_cut);
	RUN(test_approval_set);
	RUN(test_history_approval);
	RUN(test_history_pending);
	RUN(test_runs);
	return harness_done("test_letta_msg");
}
