/* Tests of sse (the event-stream reader, whole, byte by byte and in random
 * pieces) and letta_stream (one streamed chunk's JSON). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "core/sse.h"
#include "letta/letta_stream.h"

#define MAXEV 32

struct got {
	int n;
	char name[MAXEV][40];
	char data[MAXEV][512];
	size_t len[MAXEV];
	bool done[MAXEV], error[MAXEV];
	int stop_after;     /* stop the feed after this many events (0: never) */
};

static int on_event(void *ctx, const struct sse_event *ev)
{
	struct got *g = ctx;

	if (g->n < MAXEV) {
		snprintf(g->name[g->n], sizeof g->name[0], "%s", ev->name);
		if (ev->data_len < sizeof g->data[0])
			memcpy(g->data[g->n], ev->data, ev->data_len + 1);
		g->len[g->n] = ev->data_len;
		g->done[g->n] = ev->done;
		g->error[g->n] = ev->error;
	}
	g->n++;
	if (ev->data[ev->data_len] != '\0')
		harness_fail(__FILE__, __LINE__, "data not NUL-terminated");
	return g->stop_after && g->n == g->stop_after ? ERR_CANCELLED : 0;
}

/* Feeds s in pieces: step 0 = whole, 1 = byte by byte, else pseudo-random
 * sizes from seed step. Returns sse_finish's value. */
static int run(const char *s, size_t n, int step, struct got *g, size_t cap)
{
	static char buf[1 << 16];
	struct sse r;
	unsigned seed = (unsigned)step;
	size_t i = 0;
	int rc = 0;

	memset(g, 0, sizeof *g);
	sse_init(&r, buf, cap, on_event, g);
	while (i < n && rc == 0) {
		size_t k = n - i;
		if (step == 1)
			k = 1;
		else if (step > 1) {
			seed = seed * 1103515245u + 12345u;
			k = 1 + (seed >> 16) % 17;
			if (k > n - i)
				k = n - i;
		}
		rc = sse_feed(&r, s + i, k);
		i += k;
	}
	return rc ? rc : sse_finish(&r);
}

static const char LETTA[] =
	"data: {\"id\":\"ping-1\",\"message_type\":\"ping\",\"run_id\":\"run-1\"}"
	"\n\n"
	": keep-alive comment\n\n"
	"data: {\"message_type\":\"reasoning_message\",\"reasoning\":\"hm\"}\n\n"
	"data: {\"message_type\":\"assistant_message\",\"content\":\"Hi\"}\n\n"
	"data: {\"message_type\":\"stop_reason\",\"stop_reason\":\"end_turn\"}"
	"\n\n"
	"data: {\"message_type\":\"usage_statistics\",\"step_count\":1}\n\n"
	"data: [DONE]\n\n";

static void check_letta(const struct got *g, int rc)
{
	CHECK_EQ(rc, 0);
	CHECK_EQ(g->n, 6);
	CHECK_STR(g->name[0], "message");
	CHECK_STR(g->data[0], "{\"id\":\"ping-1\",\"message_type\":\"ping\","
	          "\"run_id\":\"run-1\"}");
	CHECK_STR(g->data[2], "{\"message_type\":\"assistant_message\","
	          "\"content\":\"Hi\"}");
	CHECK(g->done[5]);
	CHECK(!g->done[4]);
	CHECK_STR(g->data[5], "[DONE]");
}

static void test_letta_stream_any_split(void)
{
	struct got g;

	for (int step = 0; step < 40; step++)
		check_letta(&g, run(LETTA, sizeof LETTA - 1, step, &g, 4096));
}

static void test_crlf_and_cr(void)
{
	struct got g;
	char crlf[1024], cr[1024];
	size_t a = 0, b = 0;

	for (size_t i = 0; i < sizeof LETTA - 1; i++) {
		if (LETTA[i] == '\n') {
			crlf[a++] = '\r';
			crlf[a++] = '\n';
			cr[b++] = '\r';
		} else {
			crlf[a++] = cr[b++] = LETTA[i];
		}
	}
	for (int step = 0; step < 20; step++) {
		check_letta(&g, run(crlf, a, step, &g, 4096));
		check_letta(&g, run(cr, b, step, &g, 4096));
	}
}

static void test_fields(void)
{
	static const char s[] =
		"event: error\ndata: {\"a\":1}\n\n"            /* named */
		"data:no space\ndata:  two spaces\n\n"          /* joined */
		"id: 7\nretry: 100\nfoo: bar\ndata\n\n"         /* ignored fields, empty data */
		"event: only-a-name\n\n"                        /* no data: nothing */
		":comment\ndata: x\n\n"
		"event: cancelled\ndata: {\"message\":\"Run was cancelled\"}\n\n"
		"event: "
		"a-very-long-event-name-that-goes-on-and-on-and-on\ndata: y\n\n";
	struct got g;

	for (int step = 0; step < 20; step++) {
		CHECK_EQ(run(s, sizeof s - 1, step, &g, 4096), ERR_PROTO);
		CHECK_EQ(g.n, 6);
		CHECK_STR(g.name[0], "error");
		CHECK(g.error[0]);
		CHECK_STR(g.data[1], "no space\n two spaces");
		CHECK_STR(g.name[1], "message");
		CHECK_STR(g.data[2], "");
		CHECK_EQ(g.len[2], 0);
		CHECK_STR(g.data[3], "x");
		CHECK_STR(g.name[4], "cancelled");
		CHECK_STR(g.name[5], "?");
	}
}

static void test_end_without_done(void)
{
	struct got g;
	static const char cut[] = "data: {\"message_type\":\"assistant_message\""
	                          ",\"content\":\"par";
	static const char noblank[] =
		"data: {\"message_type\":\"stop_reason\",\"stop_reason\":"
		"\"llm_api_error\"}\n\nevent: error\ndata: {\"message_type\":"
		"\"error_message\",\"message\":\"boom\"}\n";
	static const char twolines[] = "data: a\ndata: b";

	for (int step = 0; step < 10; step++) {
		/* a half line is dropped: no event, and the end is reported */
		CHECK_EQ(run(cut, sizeof cut - 1, step, &g, 4096), ERR_CLOSED);
		CHECK_EQ(g.n, 0);
		/* the error event's lines are complete: it is delivered */
		CHECK_EQ(run(noblank, sizeof noblank - 1, step, &g, 4096),
		         ERR_PROTO);
		CHECK_EQ(g.n, 2);
		CHECK(g.error[1]);
		/* complete first line kept, half second line dropped */
		CHECK_EQ(run(twolines, sizeof twolines - 1, step, &g, 4096),
		         ERR_CLOSED);
		CHECK_EQ(g.n, 1);
		CHECK_STR(g.data[0], "a");
		CHECK_EQ(run("", 0, step, &g, 4096), ERR_CLOSED);
	}
}

static void test_event_size_cap(void)
{
	struct got g;
	char s[300];
	size_t n = (size_t)snprintf(s, sizeof s, "data: %0100d\n\ndata: %0150d"
	                            "\n\n", 1, 2);

	/* 100 bytes of data + "\n" + NUL fit in 102 */
	for (int step = 0; step < 10; step++) {
		CHECK_EQ(run(s, n, step, &g, 102), ERR_TOOBIG);
		CHECK_EQ(g.n, 1);
		CHECK_EQ(g.len[0], 100);
	}
	CHECK_EQ(run(s, n, 0, &g, 101), ERR_TOOBIG);
	CHECK_EQ(g.n, 0);
	/* two data lines count together */
	CHECK_EQ(run("data: 12345\ndata: 6789\n\n", 24, 1, &g, 11), ERR_TOOBIG);
}

/* A reader that starts small and grows its buffer between feeds (as the
 * bridge does) reads the same events; a smaller buffer is refused. */
static void test_growing_buffer(void)
{
	static const char in[] = "data: {\"a\":\"0123456789012345\"}\n\n"
	                         "data: [DONE]\n\n";
	struct got g;
	struct sse r;
	char *buf = malloc(8);
	size_t cap = 8;

	memset(&g, 0, sizeof g);
	sse_init(&r, buf, cap, on_event, &g);
	for (size_t i = 0; i < sizeof in - 1; i++) {
		if (r.len + 2 > r.cap) {
			char *nb = realloc(buf, cap * 2);

			CHECK(nb != NULL);
			buf = nb;
			cap *= 2;
			sse_set_buf(&r, buf, cap);
		}
		CHECK_EQ(sse_feed(&r, in + i, 1), 0);
	}
	CHECK_EQ(sse_finish(&r), 0);
	CHECK_EQ(g.n, 2);
	CHECK_STR(g.data[0], "{\"a\":\"0123456789012345\"}");
	CHECK(g.done[1]);
	CHECK_EQ(cap, 32);
	sse_set_buf(&r, buf, 1);        /* too small: ignored */
	CHECK(r.data == buf && r.cap == 32);
	free(buf);
}

static void test_callback_stops(void)
{
	struct got g;
	static char buf[256];
	struct sse r;

	memset(&g, 0, sizeof g);
	g.stop_after = 2;
	sse_init(&r, buf, sizeof buf, on_event, &g);
	CHECK_EQ(sse_feed(&r, LETTA, sizeof LETTA - 1), ERR_CANCELLED);
	CHECK_EQ(g.n, 2);
	CHECK_EQ(sse_feed(&r, "data: x\n\n", 9), ERR_CANCELLED);   /* sticky */
	CHECK_EQ(g.n, 2);
	sse_init(&r, buf, 1, on_event, &g);
	CHECK_EQ(sse_feed(&r, "x", 1), ERR_INVAL);
}

/* ---- letta_stream ---- */

static struct json j;
static char pool[4096];

static int parse(struct letta_stream_msg *m, const char *ev, const char *s)
{
	return letta_stream_parse(m, &j, ev, s, strlen(s), pool, sizeof pool);
}

static void test_chunk_assistant(void)
{
	struct letta_stream_msg m;

	CHECK_EQ(parse(&m, "message", "{\"id\":\"message-1\",\"otid\":\"o1\","
	               "\"message_type\":\"assistant_message\",\"run_id\":\"run-9\""
	               ",\"seq_id\":4,\"content\":\"Hello \\\"you\\\" \\u00e9\"}"), 0);
	CHECK_EQ(m.kind, LETTA_SK_ASSISTANT);
	CHECK_STR(m.text, "Hello \"you\" \xc3\xa9");
	CHECK_EQ(m.text_len, 14);
	CHECK_STR(m.id, "message-1");
	CHECK_STR(m.otid, "o1");
	CHECK_STR(m.run_id, "run-9");
	CHECK_EQ(m.seq_id, 4);
	CHECK_EQ(parse(&m, NULL, "{\"message_type\":\"assistant_message\","
	               "\"seq_id\":null,\"content\":[{\"type\":\"text\",\"text\":"
	               "\"a\"},{\"type\":\"image\"},{\"type\":\"text\",\"text\":"
	               "\"b\"}]}"), 0);
	CHECK_STR(m.text, "ab");
	CHECK_EQ(m.text_len, 2);
	CHECK_EQ(m.seq_id, -1);
	/* wrong type of a field we read */
	CHECK_EQ(parse(&m, NULL, "{\"message_type\":\"assistant_message\","
	               "\"content\":5}"), ERR_PROTO);
	CHECK_EQ(m.kind, LETTA_SK_OTHER);
	CHECK_EQ(parse(&m, NULL, "{\"message_type\":7}"), ERR_PROTO);
}

static void test_chunk_tools(void)
{
	struct letta_stream_msg m;

	CHECK_EQ(parse(&m, NULL, "{\"message_type\":\"tool_call_message\","
	               "\"tool_call\":{\"name\":\"web_search\",\"arguments\":"
	               "\"{\\\"q\\\": \\\"x\\\"}\",\"tool_call_id\":\"call_1\"},"
	               "\"tool_calls\":[{\"name\":\"web_search\"}]}"), 0);
	CHECK_EQ(m.kind, LETTA_SK_TOOL_CALL);
	CHECK_STR(m.tool.name, "web_search");
	CHECK_STR(m.tool.arguments, "{\"q\": \"x\"}");
	CHECK_EQ(m.tool.arguments_len, 10);
	CHECK_STR(m.tool.call_id, "call_1");
	CHECK_EQ(m.ncalls, 1);
	/* only tool_calls, deltas with nulls */
	CHECK_EQ(parse(&m, NULL, "{\"message_type\":\"approval_request_message\""
	               ",\"tool_call\":null,\"tool_calls\":[{\"name\":\"rm\","
	               "\"arguments\":null,\"tool_call_id\":\"c2\"},{\"name\":"
	               "\"ls\"}]}"), 0);
	CHECK_EQ(m.kind, LETTA_SK_APPROVAL);
	CHECK_STR(m.tool.name, "rm");
	CHECK_STR(m.tool.arguments, "");
	CHECK_STR(m.tool.call_id, "c2");
	CHECK_EQ(m.ncalls, 2);
	CHECK_EQ(parse(&m, NULL, "{\"message_type\":\"tool_call_message\","
	               "\"tool_call\":{\"name\":\"f\",\"arguments\":{\"a\":[1]}}}"),
	         0);
	CHECK_STR(m.tool.arguments, "{\"a\":[1]}");
	CHECK_EQ(parse(&m, NULL, "{\"message_type\":\"tool_return_message\","
	               "\"tool_return\":\"42\",\"status\":\"success\","
	               "\"tool_call_id\":\"call_1\"}"), 0);
	CHECK_EQ(m.kind, LETTA_SK_TOOL_RETURN);
	CHECK_STR(m.text, "42");
	CHECK(m.tool_ok);
	CHECK_EQ(parse(&m, NULL, "{\"message_type\":\"tool_return_message\","
	               "\"tool_return\":\"no\",\"status\":\"error\"}"), 0);
	CHECK(!m.tool_ok);
	CHECK_EQ(parse(&m, NULL, "{\"message_type\":\"tool_call_message\","
	               "\"tool_call\":{\"name\":3}}"), ERR_PROTO);
}

static void test_chunk_stop_usage_ping(void)
{
	struct letta_stream_msg m;

	CHECK_EQ(parse(&m, NULL, "{\"message_type\":\"stop_reason\","
	               "\"stop_reason\":\"requires_approval\"}"), 0);
	CHECK_EQ(m.kind, LETTA_SK_STOP);
	CHECK_EQ(m.stop, LETTA_STOP_REQUIRES_APPROVAL);
	CHECK(!letta_stop_failed(m.stop));
	CHECK_EQ(parse(&m, NULL, "{\"message_type\":\"stop_reason\","
	               "\"stop_reason\":\"something_new\"}"), 0);
	CHECK_EQ(m.stop, LETTA_STOP_UNKNOWN);
	CHECK_STR(m.stop_str, "something_new");
	CHECK(letta_stop_failed(letta_stop_from("llm_api_error")));
	CHECK(letta_stop_failed(letta_stop_from("insufficient_credits")));
	CHECK(!letta_stop_failed(letta_stop_from("cancelled")));
	CHECK_EQ(letta_stop_from("max_steps"), LETTA_STOP_MAX_STEPS);
	CHECK_EQ(parse(&m, NULL, "{\"message_type\":\"usage_statistics\","
	               "\"completion_tokens\":61,\"prompt_tokens\":2950,"
	               "\"total_tokens\":3011,\"step_count\":2,\"run_ids\":null}"),
	         0);
	CHECK_EQ(m.kind, LETTA_SK_USAGE);
	CHECK_EQ(m.total_tokens, 3011);
	CHECK_EQ(m.step_count, 2);
	CHECK_EQ(parse(&m, NULL, "{\"message_type\":\"ping\",\"run_id\":"
	               "\"run-x\"}"), 0);
	CHECK_EQ(m.kind, LETTA_SK_PING);
	CHECK_STR(m.run_id, "run-x");
	CHECK_EQ(parse(&m, NULL, "[DONE]"), 0);
	CHECK_EQ(m.kind, LETTA_SK_DONE);
	CHECK_EQ(parse(&m, NULL, "{\"message_type\":\"user_message\","
	               "\"content\":\"x\"}"), 0);
	CHECK_EQ(m.kind, LETTA_SK_OTHER);
	CHECK_EQ(parse(&m, NULL, "{\"message_type\":\"future_message\"}"), 0);
	CHECK_EQ(m.kind, LETTA_SK_OTHER);
	CHECK_EQ(parse(&m, NULL, "not json"), ERR_PROTO);
	CHECK_EQ(parse(&m, NULL, "[1]"), ERR_PROTO);
}

static void test_chunk_errors(void)
{
	struct letta_stream_msg m;

	CHECK_EQ(parse(&m, "error", "{\"message_type\":\"error_message\","
	               "\"run_id\":\"run-1\",\"error_type\":\"llm_timeout\","
	               "\"message\":\"The LLM timed out\",\"detail\":\"d\"}"), 0);
	CHECK_EQ(m.kind, LETTA_SK_ERROR);
	CHECK_STR(m.error_type, "llm_timeout");
	CHECK_STR(m.text, "The LLM timed out");
	CHECK_EQ(parse(&m, "error", "{\"error\":\"boom\",\"code\":"
	               "\"INTERNAL_SERVER_ERROR\"}"), 0);
	CHECK_EQ(m.kind, LETTA_SK_ERROR);
	CHECK_STR(m.error_type, "INTERNAL_SERVER_ERROR");
	CHECK_STR(m.text, "boom");
	CHECK_EQ(parse(&m, NULL, "{\"error\":{\"type\":\"llm_rate_limit\","
	               "\"message\":\"slow down\"}}"), 0);
	CHECK_EQ(m.kind, LETTA_SK_ERROR);
	CHECK_STR(m.error_type, "llm_rate_limit");
	CHECK_STR(m.text, "slow down");
	CHECK_EQ(parse(&m, "cancelled", "{\"message\":\"Run was cancelled\"}"),
	         0);
	CHECK_EQ(m.kind, LETTA_SK_CANCELLED);
	CHECK_STR(m.text, "Run was cancelled");
}

static void test_chunk_pool_cap(void)
{
	struct letta_stream_msg m;
	char small[9];
	const char *s = "{\"message_type\":\"assistant_message\",\"content\":"
	                "\"12345678\"}";

	CHECK_EQ(letta_stream_parse(&m, &j, NULL, s, strlen(s), small, 8),
	         ERR_TOOBIG);
	CHECK_STR(m.text, "");
	CHECK_EQ(letta_stream_parse(&m, &j, NULL, s, strlen(s), small, 9), 0);
	CHECK_STR(m.text, "12345678");
	/* a long id is cut, not an error */
	char big[400];
	snprintf(big, sizeof big, "{\"message_type\":\"ping\",\"run_id\":"
	         "\"run-%0200d\"}", 1);
	CHECK_EQ(parse(&m, NULL, big), 0);
	CHECK_EQ(strlen(m.run_id), LETTA_STREAM_ID - 1);
}

int main(void)
{
	json_init(&j);
	RUN(test_letta_stream_any_split);
	RUN(test_crlf_and_cr);
	RUN(test_fields);
	RUN(test_end_without_done);
	RUN(test_event_size_cap);
	RUN(test_growing_buffer);
	RUN(test_callback_stops);
	RUN(test_chunk_assistant);
	RUN(test_chunk_tools);
	RUN(test_chunk_stop_usage_ping);
	RUN(test_chunk_errors);
	RUN(test_chunk_pool_cap);
	json_free(&j);
	return harness_done("sse");
}
