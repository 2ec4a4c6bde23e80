#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "core/ident.h"

static const char agent[] = "agent-6f1c2b9e-0d4a-4c1e-9a57-2f3b8c0d1e2a";

static void test_agent_id_shape(void)
{
	CHECK(ident_agent_id_valid(agent));
	CHECK(!ident_agent_id_valid("agent-6F1C2B9E-0d4a-4c1e-9a57-2f3b8c0d1e2a"));
	CHECK(!ident_agent_id_valid("agent-6f1c2b9e-0d4a-4c1e-9a57-2f3b8c0d1e2"));
	CHECK(!ident_agent_id_valid("agent-6f1c2b9e-0d4a-4c1e-9a57-2f3b8c0d1e2aa"));
	CHECK(!ident_agent_id_valid("agent-6f1c2b9e/0d4a-4c1e-9a57-2f3b8c0d1e2a"));
	CHECK(!ident_agent_id_valid("user-00000000-0000-4000-8000-000000000000"));
	CHECK(!ident_agent_id_valid(""));
	CHECK(!ident_agent_id_valid(NULL));
	/* the App Server's local backend */
	CHECK(ident_agent_id_valid("agent-local-3da277ef-3289-4a21-989d-fb0f9cbecab8"));
	CHECK(!ident_agent_id_valid("agent-local-3da277ef-3289-4a21-989d-fb0f9cbecab"));
	CHECK(!ident_agent_id_valid("agent-local-3DA277EF-3289-4a21-989d-fb0f9cbecab8"));
	CHECK(!ident_agent_id_valid("agent-locale-3da277ef-3289-4a21-989d-fb0f9cbeca"));
	CHECK(!ident_agent_id_valid("agent-local-"));
	CHECK(!ident_agent_id_valid("agent-"));
}

static void test_agent_user_id_from_id_not_name(void)
{
	char out[300];

	CHECK_EQ(ident_agent_user_id("letta_", agent, "example.org", out, sizeof out), 0);
	CHECK_STR(out, "@letta_agent-6f1c2b9e-0d4a-4c1e-9a57-2f3b8c0d1e2a:example.org");
	CHECK_EQ(ident_agent_user_id("", agent, "localhost:8448", out, sizeof out), 0);
	CHECK_STR(out, "@agent-6f1c2b9e-0d4a-4c1e-9a57-2f3b8c0d1e2a:localhost:8448");
	/* an App Server agent: still a valid localpart, the longest prefix */
	CHECK_EQ(ident_agent_user_id("letta_agents_of_the_house_012345",
	                             "agent-local-3da277ef-3289-4a21-989d-fb0f9cbecab8",
	                             "example.org", out, sizeof out), 0);
	CHECK_STR(out, "@letta_agents_of_the_house_012345agent-local-3da277ef-3289-4a21-989d-fb0f9cbecab8:example.org");
	CHECK(ident_matrix_id_valid(out, '@'));
}

static void test_agent_user_id_rejects_bad_parts(void)
{
	char out[300];

	CHECK_EQ(ident_agent_user_id("Letta_", agent, "example.org", out, sizeof out), ERR_INVAL);
	CHECK_EQ(ident_agent_user_id("a b", agent, "example.org", out, sizeof out), ERR_INVAL);
	CHECK_EQ(ident_agent_user_id("x", "helpdesk", "example.org", out, sizeof out), ERR_INVAL);
	CHECK_EQ(ident_agent_user_id("x", agent, "evil.org/../", out, sizeof out), ERR_INVAL);
	CHECK_EQ(ident_agent_user_id("x", agent, "", out, sizeof out), ERR_INVAL);
	CHECK_EQ(ident_agent_user_id("x", agent, "example.org", out, 20), ERR_TOOBIG);
}

static void test_matrix_ids(void)
{
	CHECK(ident_matrix_id_valid("!abc:example.org", '!'));
	CHECK(ident_matrix_id_valid("@alice:localhost:8008", '@'));
	CHECK(!ident_matrix_id_valid("!abc:example.org", '@'));
	CHECK(!ident_matrix_id_valid("!abc", '!'));
	CHECK(!ident_matrix_id_valid("!:example.org", '!'));
	CHECK(!ident_matrix_id_valid("!a b:example.org", '!'));
	CHECK(!ident_matrix_id_valid("!ab\n:example.org", '!'));
	CHECK(!ident_matrix_id_valid(NULL, '!'));
}

int main(void)
{
	RUN(test_agent_id_shape);
	RUN(test_agent_user_id_from_id_not_name);
	RUN(test_agent_user_id_rejects_bad_parts);
	RUN(test_matrix_ids);
	return harness_done("ident");
}
