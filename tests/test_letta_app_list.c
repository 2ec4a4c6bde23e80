/*
 * letta_app_list's pager: agent_list pages as the App Server gives them
 * (most recently used first, `after` = the last id, an unknown cursor
 * starts over, no has_more), complete only when nothing can be missing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "harness.h"
#include "letta/letta_app_list.h"

static struct letta_app_frame *F;
static struct json J;

/* agent-local-<uuid> of agent n */
static const char *aid(int n)
{
	static char buf[8][64];
	char *b = buf[n % 8];

	snprintf(b, 64, "agent-local-00000000-0000-4000-8000-%012d", n);
	return b;
}

/* An agent_list_response to request `rid`: agents "n:stamp,..." where
 * the stamp is a minute of 2026-12-07T13 ("" : none); n < 0 is an agent
 * without a name. */
static int feed(struct letta_app_pager *g, const char *rid, const char *spec)
{
	static char text[8192];
	size_t o;
	const char *p = spec;
	int r;

	o = (size_t)snprintf(text, sizeof text, "{\"type\":\"agent_list_"
	                     "response\",\"request_id\":\"%s\",\"success\":"
	                     "true,\"agents\":[", rid);
	while (p && *p) {
		int n = (int)strtol(p, NULL, 10), m = -1;
		const char *colon = strchr(p, ':'), *comma = strchr(p, ',');

		if (colon && (!comma || colon < comma))
			m = (int)strtol(colon + 1, NULL, 10);
		o += (size_t)snprintf(text + o, sizeof text - o, "%s{\"id\":"
		                      "\"%s\",%s\"tags\":[],\"message_ids\":[]",
		                      text[o - 1] == '[' ? "" : ",",
		                      aid(n < 0 ? -n : n), n < 0 ? "" :
		                      "\"name\":\"x\",");
		if (m >= 0)
			o += (size_t)snprintf(text + o, sizeof text - o,
			                      ",\"last_run_completion\":\"2026-12-"
			                      "07T13:%02d:00.000Z\"", m);
		o += (size_t)snprintf(text + o, sizeof text - o, "}");
		p = comma ? comma + 1 : NULL;
	}
	snprintf(text + o, sizeof text - o, "]}");
	r = letta_app_frame_parse(&J, text, strlen(text), F);
	if (r)
		return r;
	return letta_app_pager_feed(g, &J, F);
}

/* The next command: its request id into rid, and its `after` ("": none) */
static void next(struct letta_app_pager *g, char *rid, const char *after,
                 int limit)
{
	char buf[512], want[160];
	int n = letta_app_pager_next(g, buf, sizeof buf);

	CHECK(n > 0);
	if (n <= 0)
		return;
	snprintf(rid, 32, "%s", g->rid);
	CHECK(strstr(buf, "\"type\":\"agent_list\"") != NULL);
	snprintf(want, sizeof want, "\"limit\":%d", limit);
	CHECK(strstr(buf, want) != NULL);
	if (after[0]) {
		snprintf(want, sizeof want, "\"after\":\"%s\"", after);
		CHECK(strstr(buf, want) != NULL);
	} else {
		CHECK(strstr(buf, "\"after\"") == NULL);
	}
}

static int listed(const struct letta_list *l, int n)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->agents[i].id, aid(n)))
			return 1;
	return 0;
}

/* One exchange: the cursor the pager must send (-1: none), the page the
 * server answers (feed's spec), what feed must return. */
struct step {
	int after;
	const char *page;
	int want;
};

static const struct scenario {
	const char *what;
	int limit;
	struct step s[6];               /* ended by a NULL page */
	int complete, n;
	int found;                      /* an agent that must be listed */
} scenarios[] = {
	{ "one short page", 5, { { -1, "3:9,2:8,1:7", 1 } }, 1, 3, 1 },
	{ "no agents: complete and empty (deletes nothing later)", 5,
	  { { -1, "", 1 } }, 1, 0, -1 },
	{ "pages after the last id; a short one; the first page again", 2,
	  { { -1, "5:9,4:8", 0 }, { 4, "3:7,2:6", 0 }, { 2, "1:5", 0 },
	    { -1, "5:9,4:8", 1 } }, 1, 5, 1 },
	{ "3 runs a turn after the first page: first now, past the "
	  "cursor, the check finds it", 2,
	  { { -1, "5:9,4:8", 0 }, { 4, "2:6,1:5", 0 }, { 1, "", 0 },
	    { -1, "3:30,5:9", 1 } }, 1, 5, 3 },
	{ "a full page used meanwhile: one more may be beyond", 2,
	  { { -1, "5:9,4:8", 0 }, { 4, "1:5", 0 }, { -1, "3:31,2:30", 1 } },
	  0, 5, 2 },
	{ "4 deleted: its cursor starts over; each agent once", 2,
	  { { -1, "5:9,4:8", 0 }, { 4, "5:9,3:7", 0 }, { 3, "2:6", 0 },
	    { -1, "5:9,3:7", 1 } }, 1, 4, 4 },
	{ "a server that ignores after: the same page again", 2,
	  { { -1, "5:9,4:8", 0 }, { 4, "5:9,4:8", ERR_PROTO } }, 0, 2, 5 },
	{ "an agent that cannot be read may be one we know", 5,
	  { { -1, "3:9,-2:8,1:7", 1 } }, 0, 2, 1 },
};

static void test_scenarios(void)
{
	struct letta_app_pager g;
	struct letta_list l;
	char rid[32];

	for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
		const struct scenario *c = &scenarios[i];
		int r;

		letta_list_init(&l);
		letta_app_pager_init(&g, &l, c->limit);
		for (const struct step *s = c->s; s->page; s++) {
			next(&g, rid, s->after < 0 ? "" : aid(s->after),
			     c->limit);
			if ((r = feed(&g, rid, s->page)) != s->want)
				harness_fail(__FILE__, __LINE__, "%s: page %d: "
				             "%d, not %d", c->what,
				             (int)(s - c->s) + 1, r, s->want);
		}
		if (!l.done || l.complete != c->complete || l.n != (size_t)c->n
		    || (c->found >= 0 && !listed(&l, c->found)))
			harness_fail(__FILE__, __LINE__, "%s: done %d complete "
			             "%d agents %zu (%s)", c->what, l.done,
			             l.complete, l.n, g.why);
		letta_list_reset(&l);
	}
}

/* The answer to anything else, or one the server refused. */
static void test_answers_that_are_not_a_page(void)
{
	static const char refused[] = "{\"type\":\"agent_list_response\","
		"\"request_id\":\"lettamx-list-1\",\"success\":false,\"agents\":"
		"[],\"error\":\"backend down\"}";
	static const char status[] = "{\"type\":\"update_device_status\"}";
	struct letta_app_pager g;
	struct letta_list l;
	char rid[32];

	letta_list_init(&l);
	letta_app_pager_init(&g, &l, 5);
	next(&g, rid, "", 5);
	CHECK_EQ(feed(&g, "lettamx-list-9", "1:1"), ERR_AGAIN);
	CHECK_EQ(letta_app_frame_parse(&J, status, strlen(status), F), 0);
	CHECK_EQ(letta_app_pager_feed(&g, &J, F), ERR_AGAIN);
	CHECK(!l.done);
	CHECK_EQ(letta_app_frame_parse(&J, refused, strlen(refused), F), 0);
	CHECK_EQ(letta_app_pager_feed(&g, &J, F), ERR_HTTP);
	CHECK(l.done && !l.complete);
	CHECK_STR(g.why, "the App Server did not list its agents: backend "
	          "down");
	/* after the end: nothing is taken, nothing is asked */
	CHECK_EQ(feed(&g, rid, "2:2"), ERR_AGAIN);
	CHECK_EQ(letta_app_pager_next(&g, rid, sizeof rid), 0);
	CHECK_EQ(l.n, 0);
	letta_list_reset(&l);
}

int main(void)
{
	F = malloc(sizeof *F);
	if (!F)
		return 1;
	json_init(&J);
	RUN(test_scenarios);
	RUN(test_answers_that_are_not_a_page);
	json_free(&J);
	free(F);
	return harness_done("letta_app_list");
}
