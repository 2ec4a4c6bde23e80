#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "letta/letta.h"

#define A1 "agent-6f1c2b9e-0d4a-4c1e-9a57-2f3b8c0d1e2a"
#define A2 "agent-00000000-0000-4000-8000-000000000002"

static struct proto_resp resp(int status, const char *body)
{
	struct proto_resp r = { status, -1, body, strlen(body), 0, NULL };
	return r;
}

static void test_list_request(void)
{
	struct proto_req r;

	CHECK_EQ(letta_req_list(&r, NULL, NULL), 0);
	CHECK_STR(proto_method_str(r.method), "GET");
	CHECK_STR(r.path, "/v1/agents/?limit=50&order=asc"
	          "&include_relationships=tags&include=agent.tags");
	CHECK_STR(r.bearer, "");
	CHECK_EQ(r.has_body, 0);
	CHECK_EQ(letta_req_list(&r, A1, "tok"), 0);
	CHECK(strstr(r.path, "&after=" A1) != NULL);
	CHECK_STR(r.bearer, "tok");
	CHECK_EQ(letta_req_list(&r, "agent-x&limit=1", NULL), ERR_INVAL);
	CHECK(strncmp(letta_user_agent(), "lettamx/", 8) == 0);
}

static void test_get_request(void)
{
	struct proto_req r;

	CHECK_EQ(letta_req_get(&r, A1, NULL), 0);
	CHECK_STR(r.path, "/v1/agents/" A1
	          "?include_relationships=tags&include=agent.tags");
	CHECK_EQ(letta_req_get(&r, "../health", NULL), ERR_INVAL);
}

static const char agent_json[] =
	"{\"id\":\"" A1 "\",\"name\":\"helpdesk\","
	"\"description\":\"Answers IT questions\",\"agent_type\":"
	"\"letta_v1_agent\",\"tags\":[\"matrix\",\"it\"],\"model\":\"x\","
	"\"metadata\":null,\"llm_config\":{\"a\":[1,{\"b\":2}]},"
	"\"created_at\":\"2025-11-20T10:15:30.123456Z\"}";

static void test_agent_parse(void)
{
	struct letta_agent a;
	struct letta_error e;
	struct proto_resp r = resp(200, agent_json);

	CHECK_EQ(letta_get_parse(&r, &a, &e), 0);
	CHECK_STR(a.id, A1);
	CHECK_STR(a.name, "helpdesk");
	CHECK_STR(a.desc, "Answers IT questions");
	CHECK_EQ(a.ntags, 2);
	CHECK_STR(a.tags, "matrix");
	CHECK_STR(a.tags + 7, "it");
	CHECK_EQ(a.sleeptime, 0);
	CHECK(letta_agent_wanted(&a, NULL, NULL));
	CHECK(letta_agent_wanted(&a, "x, it", ""));
	CHECK(!letta_agent_wanted(&a, "x,i", NULL));
	CHECK(!letta_agent_wanted(&a, NULL, "matrix"));
	CHECK(letta_agent_wanted(&a, "matrix", "matri"));
}

static void test_agent_parse_nulls_and_sleeptime(void)
{
	static const char *ok[] = {
		"{\"id\":\"" A1 "\",\"name\":\"x-sleeptime\",\"description\":null}",
		"{\"id\":\"" A1 "\",\"name\":\"x\",\"agent_type\":\"sleeptime_agent\"}",
		"{\"id\":\"" A1 "\",\"name\":\"x\",\"agent_type\":\"voice_sleeptime_agent\","
		"\"tags\":null}",
	};
	struct letta_agent a;
	struct letta_error e;

	for (size_t i = 0; i < 3; i++) {
		struct proto_resp r = resp(200, ok[i]);
		CHECK_EQ(letta_get_parse(&r, &a, &e), 0);
		CHECK_EQ(a.sleeptime, 1);
		CHECK_STR(a.desc, "");
		CHECK(!letta_agent_wanted(&a, NULL, NULL));
	}
}

static void test_agent_parse_rejects(void)
{
	struct letta_agent a;
	struct letta_error e;
	struct proto_resp r;

	r = resp(200, "{\"name\":\"x\"}");
	CHECK_EQ(letta_get_parse(&r, &a, &e), ERR_PROTO);
	r = resp(200, "{\"id\":\"agent-1\",\"name\":\"x\"}");
	CHECK_EQ(letta_get_parse(&r, &a, &e), ERR_INVAL);
	r = resp(200, "{\"id\":\"" A1 "\",\"name\":7}");
	CHECK_EQ(letta_get_parse(&r, &a, &e), ERR_PROTO);
	r = resp(200, "[1]");
	CHECK_EQ(letta_get_parse(&r, &a, &e), ERR_PROTO);
	r = resp(200, "{\"id\":");
	CHECK_EQ(letta_get_parse(&r, &a, &e), ERR_PROTO);
}

static void test_long_name_is_cut_not_dropped(void)
{
	static char body[4096];
	struct letta_agent a;
	struct letta_error e;
	struct proto_resp r;
	size_t n;

	n = (size_t)snprintf(body, sizeof body, "{\"id\":\"%s\",\"name\":\"", A1);
	for (int i = 0; i < 300; i++)
		n += (size_t)snprintf(body + n, sizeof body - n, "\xc3\xa9");
	snprintf(body + n, sizeof body - n, "\"}");
	r = resp(200, body);
	CHECK_EQ(letta_get_parse(&r, &a, &e), 0);
	CHECK_EQ(strlen(a.name), 254);   /* 127 whole characters */
}

static void test_errors(void)
{
	struct letta_agent a;
	struct letta_error e;
	struct proto_resp r;
	char msg[512];

	r = resp(404, "{\"detail\":\"Agent with ID " A1 " not found\"}");
	CHECK_EQ(letta_get_parse(&r, &a, &e), ERR_NOTFOUND);
	CHECK_EQ(e.status, 404);
	CHECK_STR(e.detail, "Agent with ID " A1 " not found");
	r = resp(401, "{\"detail\":\"Unauthorized\"}");
	CHECK_EQ(letta_get_parse(&r, &a, &e), ERR_CONFIG);
	letta_error_msg(&e, msg, sizeof msg);
	CHECK(strstr(msg, "token_file") != NULL);
	CHECK(strstr(msg, "401") != NULL);
	r = resp(503, "{\"error\":{\"type\":\"x\",\"message\":\"db down\"}}");
	CHECK_EQ(letta_get_parse(&r, &a, &e), ERR_HTTP);
	CHECK_STR(e.detail, "db down");
	CHECK(letta_retryable(503));
	r = resp(502, "<html>bad gateway</html>");
	CHECK_EQ(letta_get_parse(&r, &a, &e), ERR_HTTP);
	CHECK_STR(e.detail, "");
	letta_error_msg(&e, msg, sizeof msg);
	CHECK_STR(msg, "the Letta server failed (HTTP 502)");
	r = resp(0, "");
	CHECK_EQ(letta_get_parse(&r, &a, &e), ERR_CLOSED);
	CHECK(letta_retryable(0));
	CHECK(letta_retryable(409));
	CHECK(!letta_retryable(422));
	CHECK(!letta_retryable(404));
}

/* A page of `n` agents with ids agent-...-<start+i>. */
static const char *page(int start, int n)
{
	static char buf[65536];
	size_t len = 1;

	buf[0] = '[';
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len,
		        "%s{\"id\":\"agent-00000000-0000-4000-8000-%012d\","
		        "\"name\":\"n%d\",\"tags\":[]}", i ? "," : "",
		        start + i, start + i);
	snprintf(buf + len, sizeof buf - len, "]");
	return buf;
}

static void test_listing_pages_until_short_page(void)
{
	struct letta_list l;
	struct letta_error e;
	struct proto_req r;
	struct proto_resp p;

	letta_list_init(&l);
	CHECK_EQ(letta_list_next(&l, &r, NULL), 0);
	CHECK(strstr(r.path, "after") == NULL);
	p = resp(200, page(0, 50));
	CHECK_EQ(letta_list_feed(&l, &p, &e), 0);
	CHECK_EQ(letta_list_next(&l, &r, NULL), 0);
	CHECK(strstr(r.path, "&after=agent-00000000-0000-4000-8000-000000000049") != NULL);
	p = resp(200, page(50, 50));
	CHECK_EQ(letta_list_feed(&l, &p, &e), 0);
	p = resp(200, page(100, 3));
	CHECK_EQ(letta_list_feed(&l, &p, &e), 1);
	CHECK_EQ(l.n, 103);
	CHECK_EQ(l.pages, 3);
	CHECK_EQ(l.complete, 1);
	CHECK_EQ(letta_list_next(&l, &r, NULL), ERR_INVAL);
	CHECK_STR(l.agents[102].name, "n102");
	letta_list_reset(&l);

	letta_list_init(&l);
	p = resp(200, page(0, 50));
	CHECK_EQ(letta_list_feed(&l, &p, &e), 0);
	p = resp(200, "[]");
	CHECK_EQ(letta_list_feed(&l, &p, &e), 1);
	CHECK_EQ(l.complete, 1);
	CHECK_EQ(l.n, 50);
	letta_list_reset(&l);
}

/* letta-api.md §3: a cursor that vanished gives page 1 again. */
static void test_listing_stops_on_repeated_id_incomplete(void)
{
	struct letta_list l;
	struct letta_error e;
	struct proto_resp p;

	letta_list_init(&l);
	p = resp(200, page(0, 50));
	CHECK_EQ(letta_list_feed(&l, &p, &e), 0);
	p = resp(200, page(0, 50));
	CHECK_EQ(letta_list_feed(&l, &p, &e), 1);
	CHECK_EQ(l.done, 1);
	CHECK_EQ(l.complete, 0);
	CHECK_EQ(l.n, 50);
	letta_list_reset(&l);
}

static void test_listing_failures_are_incomplete(void)
{
	struct letta_list l;
	struct letta_error e;
	struct proto_resp p;
	static char bad[65536];

	letta_list_init(&l);
	p = resp(200, page(0, 50));
	CHECK_EQ(letta_list_feed(&l, &p, &e), 0);
	p = resp(500, "{\"detail\":\"An unknown error occurred\"}");
	CHECK_EQ(letta_list_feed(&l, &p, &e), ERR_HTTP);
	CHECK_EQ(l.done, 1);
	CHECK_EQ(l.complete, 0);
	letta_list_reset(&l);

	letta_list_init(&l);
	p = resp(200, "{\"data\":[]}");
	CHECK_EQ(letta_list_feed(&l, &p, &e), ERR_PROTO);
	CHECK_EQ(l.complete, 0);
	letta_list_reset(&l);

	/* one unreadable agent: the rest is kept, the listing incomplete */
	letta_list_init(&l);
	snprintf(bad, sizeof bad, "%s", page(0, 3));
	memcpy(strstr(bad, "agent-00000000-0000-4000-8000-000000000001"),
	       "agent-X", 7);
	p = resp(200, bad);
	CHECK_EQ(letta_list_feed(&l, &p, &e), 1);
	CHECK_EQ(l.n, 2);
	CHECK_EQ(l.bad, 1);
	CHECK_EQ(l.complete, 0);
	letta_list_reset(&l);
}

int main(void)
{
	RUN(test_list_request);
	RUN(test_get_request);
	RUN(test_agent_parse);
	RUN(test_agent_parse_nulls_and_sleeptime);
	RUN(test_agent_parse_rejects);
	RUN(test_long_name_is_cut_not_dropped);
	RUN(test_errors);
	RUN(test_listing_pages_until_short_page);
	RUN(test_listing_stops_on_repeated_id_incomplete);
	RUN(test_listing_failures_are_incomplete);
	return harness_done("letta");
}
