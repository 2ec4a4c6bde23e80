/*
 * letta_conv: the REST requests that find and make a conversation (exact
 * paths and bodies, checked against letta-openapi.json: the search is
 * GET /v1/conversations/?agent_id&summary_search&limit, the create POST
 * /v1/conversations/?agent_id with {"summary"}), and the reading of their
 * answers: the whole summary and the oldest win, as the server's search
 * matches parts of it.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "letta/letta_conv.h"

#define AG "agent-6f1c2b9e-0d4a-4c1e-9a57-2f3b8c0d1e2a"
#define SUM "Matrix thread $root1 in !r:hs"

#define CONV(id, ag, sum, at) \
	"{\"id\":\"" id "\",\"agent_id\":\"" ag "\",\"summary\":\"" sum \
	"\",\"created_at\":\"" at "\",\"in_context_message_ids\":[]}"

static void test_requests(void)
{
	char path[2048], *body;
	size_t n;

	CHECK_EQ(letta_conv_search_path(path, sizeof path, AG, SUM), 0);
	CHECK_STR(path, "/v1/conversations/?agent_id=" AG "&summary_search="
	          "Matrix%20thread%20%24root1%20in%20%21r%3Ahs&limit=50");
	CHECK_EQ(letta_conv_create_path(path, sizeof path, AG), 0);
	CHECK_STR(path, "/v1/conversations/?agent_id=" AG);
	CHECK_EQ(letta_conv_create_body(SUM, &body, &n), 0);
	CHECK_MEM(body, n, "{\"summary\":\"" SUM "\"}");
	free(body);
	CHECK_EQ(letta_conv_path(path, sizeof path, "conv-1", "/messages"), 0);
	CHECK_STR(path, "/v1/conversations/conv-1/messages");
	/* what cannot go into a path or a body */
	CHECK_EQ(letta_conv_path(path, sizeof path, "conv 1", "/cancel"),
	         ERR_INVAL);
	CHECK_EQ(letta_conv_path(path, sizeof path, "", "/cancel"), ERR_INVAL);
	CHECK_EQ(letta_conv_search_path(path, sizeof path, "agent/../x", SUM),
	         ERR_INVAL);
	CHECK_EQ(letta_conv_search_path(path, sizeof path, AG, ""), ERR_INVAL);
	CHECK_EQ(letta_conv_create_body("\xff", &body, &n), ERR_UTF8);
	CHECK(body == NULL);
	CHECK_EQ(letta_conv_search_path(path, 40, AG, SUM), ERR_TOOBIG);
}

static void test_found(void)
{
	/* the search matches parts: "$root1" also lists "$root10", and
	 * another agent's; two with our summary: the oldest (a first try
	 * whose answer was lost) */
	static const char list[] = "["
		CONV("conv-4", AG, SUM "0", "2026-12-07T18:18:00Z") ","
		CONV("conv-3", AG, SUM, "2026-12-07T18:20:00Z") ","
		CONV("conv-2", "agent-other", SUM, "2026-12-07T18:00:00Z") ","
		CONV("conv-1", AG, SUM, "2026-12-07T18:19:00Z") "]";
	char id[128];

	CHECK_EQ(letta_conv_search_found(list, strlen(list), AG, SUM, id,
	                                 sizeof id), 1);
	CHECK_STR(id, "conv-1");
	CHECK_EQ(letta_conv_search_found("[]", 2, AG, SUM, id, sizeof id), 0);
	CHECK_STR(id, "");
	CHECK_EQ(letta_conv_search_found("{\"detail\":\"x\"}", 14, AG, SUM, id,
	                                 sizeof id), ERR_PROTO);
	CHECK_EQ(letta_conv_search_found("[", 1, AG, SUM, id, sizeof id),
	         ERR_PROTO);
}

static void test_made(void)
{
	static const char made[] = CONV("conv-9", AG, SUM, "2026-12-07T18:21:00Z");
	char id[128];

	CHECK_EQ(letta_conv_made(made, strlen(made), id, sizeof id), 0);
	CHECK_STR(id, "conv-9");
	CHECK_EQ(letta_conv_made("{\"id\":\"a b\"}", 12, id, sizeof id),
	         ERR_PROTO);
	CHECK_STR(id, "");
	CHECK_EQ(letta_conv_made("[]", 2, id, sizeof id), ERR_PROTO);
}

int main(void)
{
	RUN(test_requests);
	RUN(test_found);
	RUN(test_made);
	return harness_done("letta_conv");
}
