/*
 * The pieces of application-service mode that need no network: the
 * registration file, the homeserver's token checked in constant time,
 * new tokens, and the URL decoding of the ids the homeserver puts in
 * paths and queries.
 */
#include <string.h>

#include "core/err.h"
#include "core/url.h"
#include "harness.h"
#include "matrix/mx_as_reg.h"
#include "store/secret.h"

static void test_registration(void)
{
	char out[2048], why[256];
	struct mx_as_reg r = {
		.id = "lettamx", .url = "http://127.0.0.1:29318",
		.as_token = "AS_tok-1", .hs_token = "HS_tok-2",
		.sender_localpart = "lettamx", .user_prefix = "letta_",
		.server_name = "example.org",
	};
	int n = mx_as_reg_yaml(&r, out, sizeof out, why, sizeof why);

	CHECK_INT(n, >, 0);
	CHECK_EQ((size_t)n, strlen(out));
	CHECK(strstr(out, "\nid: 'lettamx'\n"));
	CHECK(strstr(out, "\nurl: 'http://127.0.0.1:29318'\n"));
	CHECK(strstr(out, "\nas_token: 'AS_tok-1'\n"));
	CHECK(strstr(out, "\nhs_token: 'HS_tok-2'\n"));
	CHECK(strstr(out, "\nsender_localpart: 'lettamx'\n"));
	CHECK(strstr(out, "\nrate_limited: false\n"));
	CHECK(strstr(out, "    - exclusive: true\n"
	                  "      regex: '@letta_.*:example\\.org'\n"));
	CHECK(strstr(out, "  aliases: []\n  rooms: []\n"));
	/* what cannot be written safely is refused, naming it */
	r.url = "http://x/ 'y'";
	CHECK_EQ(mx_as_reg_yaml(&r, out, sizeof out, why, sizeof why),
	         ERR_INVAL);
	CHECK(strstr(why, "[appservice] url"));
	r.url = "http://x";
	r.id = "a b";
	CHECK_EQ(mx_as_reg_yaml(&r, out, sizeof out, why, sizeof why),
	         ERR_INVAL);
	CHECK(strstr(why, "[appservice] id"));
	r.id = "lettamx";
	CHECK_EQ(mx_as_reg_yaml(&r, out, 100, why, sizeof why), ERR_TOOBIG);
}

static void test_users_regex(void)
{
	char out[128];

	CHECK_INT(mx_as_reg_users("bot.", "hs.example:8448", out, sizeof out),
	          >, 0);
	CHECK_STR(out, "@bot\\..*:hs\\.example:8448");
	CHECK_INT(mx_as_reg_users("", "x", out, sizeof out), >, 0);
	CHECK_STR(out, "@.*:x");
	CHECK_EQ(mx_as_reg_users("letta_", "example.org", out, 8), ERR_TOOBIG);
}

static void test_tokens(void)
{
	char a[80], b[80];

	CHECK_EQ(secret_token(a, sizeof a), 0);
	CHECK_EQ(secret_token(b, sizeof b), 0);
	CHECK_EQ(strlen(a), 64);
	CHECK(strspn(a, "0123456789abcdef") == 64);
	CHECK(strcmp(a, b) != 0);
	CHECK_EQ(secret_token(a, 64), ERR_TOOBIG);
	CHECK(secret_equal("hs_tok", "hs_tok"));
	CHECK(!secret_equal("hs_tok", "hs_tol"));
	CHECK(!secret_equal("hs_tok", "hs_to"));
	CHECK(!secret_equal("", "x"));
	CHECK(secret_equal("", ""));
}

static void test_unescape(void)
{
	char out[32];

	CHECK_EQ(url_unescape("%40letta_a%3Ahs", 15, out, sizeof out), 11);
	CHECK_STR(out, "@letta_a:hs");
	CHECK_EQ(url_unescape("a+b", 3, out, sizeof out), 3);
	CHECK_STR(out, "a+b");
	CHECK_EQ(url_unescape("%4", 2, out, sizeof out), ERR_INVAL);
	CHECK_EQ(url_unescape("%zz", 3, out, sizeof out), ERR_INVAL);
	CHECK_EQ(url_unescape("%00", 3, out, sizeof out), ERR_INVAL);
	CHECK_EQ(url_unescape("abcdef", 6, out, 6), ERR_TOOBIG);
	CHECK_EQ(url_query_get("a=1&access_token=x%2By&b", "access_token",
	                       out, sizeof out), 3);
	CHECK_STR(out, "x+y");
	CHECK_EQ(url_query_get("a=1&b", "b", out, sizeof out), 0);
	CHECK_STR(out, "");
	CHECK_EQ(url_query_get("ab=1", "a", out, sizeof out), ERR_NOTFOUND);
	CHECK_EQ(url_query_get("", "a", out, sizeof out), ERR_NOTFOUND);
}

int main(void)
{
	RUN(test_registration);
	RUN(test_users_regex);
	RUN(test_tokens);
	RUN(test_unescape);
	return harness_done("appservice");
}
