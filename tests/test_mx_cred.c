/*
 * mx_cred: a credential is one string; an application service acting as
 * a user puts the user in the URL's query and only its token in the
 * header.
 */
#include <string.h>

#include "core/err.h"
#include "core/proto_buf.h"
#include "harness.h"
#include "matrix/mx_cred.h"

static void test_own_token(void)
{
	char tok[64], url[256];
	const char *user = "x";
	struct proto_buf u;

	CHECK_EQ(mx_cred_split("syt_abc", tok, sizeof tok, &user), 0);
	CHECK_STR(tok, "syt_abc");
	CHECK(user == NULL);
	proto_buf_init(&u, url, sizeof url);
	proto_buf_str(&u, "https://hs/_matrix/client/v3/account/whoami");
	mx_cred_url(&u, user);
	CHECK_STR(url, "https://hs/_matrix/client/v3/account/whoami");
}

static void test_acting_as_a_user(void)
{
	char cred[128], tok[64], url[256];
	const char *user;
	struct proto_buf u;

	CHECK_EQ(mx_cred_as(cred, sizeof cred, "as_tok", "@letta_a:hs"), 0);
	CHECK_EQ(mx_cred_split(cred, tok, sizeof tok, &user), 0);
	CHECK_STR(tok, "as_tok");
	CHECK_STR(user, "@letta_a:hs");
	/* a path without a query, and one with */
	proto_buf_init(&u, url, sizeof url);
	proto_buf_str(&u, "http://hs/_matrix/client/v3/join/%21r%3Ahs");
	mx_cred_url(&u, user);
	CHECK_STR(url, "http://hs/_matrix/client/v3/join/%21r%3Ahs"
	          "?user_id=%40letta_a%3Ahs");
	proto_buf_init(&u, url, sizeof url);
	proto_buf_str(&u, "http://hs/x?limit=1");
	mx_cred_url(&u, user);
	CHECK_STR(url, "http://hs/x?limit=1&user_id=%40letta_a%3Ahs");
}

static void test_refusals(void)
{
	char cred[16], tok[4];
	const char *user;

	CHECK_EQ(mx_cred_as(cred, sizeof cred, "", "@a:hs"), ERR_INVAL);
	CHECK_EQ(mx_cred_as(cred, sizeof cred, "t", ""), ERR_INVAL);
	CHECK_EQ(mx_cred_as(cred, sizeof cred, "t\x1f", "@a:hs"), ERR_INVAL);
	CHECK_EQ(mx_cred_as(cred, sizeof cred, "token", "@a-long-one:hs"),
	         ERR_TOOBIG);
	CHECK_STR(cred, "");
	CHECK_EQ(mx_cred_split("longer_than_four", tok, sizeof tok, &user),
	         ERR_TOOBIG);
	CHECK_STR(tok, "");
}

int main(void)
{
	RUN(test_own_token);
	RUN(test_acting_as_a_user);
	RUN(test_refusals);
	return harness_done("mx_cred");
}
