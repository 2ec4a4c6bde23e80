/* Tests of bcmd: room commands and the texts people read. */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "bridge/bcmd.h"
#include "core/json.h"

static struct bcmd c;

static int parse(const char *s, const char *prefix)
{
	return bcmd_parse(s, strlen(s), prefix, &c);
}

static void test_commands(void)
{
	CHECK_EQ(parse("!help", NULL), BCMD_HELP);
	CHECK_EQ(parse("  !HELP  \n", NULL), BCMD_HELP);
	CHECK_EQ(parse("!help?", NULL), BCMD_HELP);
	CHECK_EQ(parse("!status", "!"), BCMD_STATUS);
	CHECK_EQ(parse("!cancel", NULL), BCMD_CANCEL);
	CHECK_EQ(parse("!approve", NULL), BCMD_APPROVE);
	CHECK_EQ(c.arg_len, 0);
	CHECK_EQ(parse("!approve  looks fine ", NULL), BCMD_APPROVE);
	CHECK_MEM(c.arg, c.arg_len, "looks fine");
	CHECK_EQ(parse("!deny", NULL), BCMD_DENY);
	CHECK_STR(c.arg, "");
	CHECK_EQ(parse("!deny  too risky,\nask Bob first\n", NULL), BCMD_DENY);
	CHECK_MEM(c.arg, c.arg_len, "too risky,\nask Bob first");
	CHECK_EQ(parse("!reset", NULL), BCMD_RESET);
	CHECK_EQ(parse("!reset confirm", NULL), BCMD_RESET_CONFIRM);
	CHECK_EQ(parse("!Reset CONFIRM\n", NULL), BCMD_RESET_CONFIRM);
	CHECK(bcmd_admin_only(BCMD_RESET));
	CHECK(bcmd_admin_only(BCMD_RESET_CONFIRM));
	CHECK(!bcmd_admin_only(BCMD_CANCEL));
}

static void test_not_commands(void)
{
	CHECK_EQ(parse("hello !help", NULL), BCMD_NONE);
	CHECK_EQ(parse("!", NULL), BCMD_NONE);
	CHECK_EQ(parse("!!!", NULL), BCMD_NONE);
	CHECK_EQ(parse("! help", NULL), BCMD_NONE);
	CHECK_EQ(parse("!1st", NULL), BCMD_NONE);
	CHECK_EQ(parse("", NULL), BCMD_NONE);
	CHECK_EQ(bcmd_parse(NULL, 0, NULL, &c), BCMD_NONE);
	CHECK_EQ(parse("/help", NULL), BCMD_NONE);
	/* not cut: the text only starts like a prefix */
	CHECK_EQ(bcmd_parse("!help", 1, NULL, &c), BCMD_NONE);
}

static void test_unknown_and_badargs(void)
{
	CHECK_EQ(parse("!frobnicate now", NULL), BCMD_UNKNOWN);
	CHECK_MEM(c.word, c.word_len, "frobnicate");
	CHECK_EQ(parse("!important: the server is down", NULL), BCMD_UNKNOWN);
	CHECK_MEM(c.word, c.word_len, "important:");
	CHECK_EQ(parse("!help-me", NULL), BCMD_UNKNOWN);
	CHECK_EQ(parse("!status now", NULL), BCMD_BADARGS);
	CHECK_EQ(c.base, BCMD_STATUS);
	CHECK_EQ(parse("!reset everything", NULL), BCMD_BADARGS);
	CHECK_EQ(c.base, BCMD_RESET);
	CHECK_EQ(parse("!cancel all", NULL), BCMD_BADARGS);
}

static void test_prefix(void)
{
	CHECK_EQ(parse("%%help", "%%"), BCMD_HELP);
	CHECK_EQ(parse("!help", "%%"), BCMD_NONE);
	CHECK_EQ(parse("%help", "%%"), BCMD_NONE);
	CHECK(bcmd_prefix_ok("!"));
	CHECK(bcmd_prefix_ok("::"));
	CHECK(!bcmd_prefix_ok("a"));
	CHECK(!bcmd_prefix_ok("! "));
	CHECK(!bcmd_prefix_ok("123456789"));
	CHECK(!bcmd_prefix_ok(""));
	CHECK(!bcmd_prefix_ok("\xc2\xa1"));
	CHECK_EQ(parse("!help", "x"), ERR_INVAL);
}

static void test_reply_fallback(void)
{
	CHECK_EQ(parse("> <@alice:example.org> what now?\n> second line\n\n"
	               "!cancel", NULL), BCMD_CANCEL);
	/* a quote the person wrote is no fallback */
	CHECK_EQ(parse("> quote\n\n!cancel", NULL), BCMD_NONE);
	CHECK_EQ(parse("> <@alice:example.org> only a quote", NULL), BCMD_NONE);
}

static void test_help_text(void)
{
	char out[BCMD_TEXT_MAX];
	int n = bcmd_help(out, sizeof out, "!", "Support Bot", false);

	CHECK_INT(n, >, 100);
	CHECK_EQ((size_t)n, strlen(out));
	CHECK(strstr(out, "Letta agent \"Support Bot\"") != NULL);
	CHECK(strstr(out, "!cancel - stop") != NULL);
	CHECK(strstr(out, "!deny [reason]") != NULL);
	CHECK(strstr(out, "reset") == NULL);
	n = bcmd_help(out, sizeof out, "%%", NULL, true);
	CHECK(strstr(out, "%%reset confirm") != NULL);
	CHECK(strstr(out, "Letta agent. ") != NULL);
	CHECK_EQ(bcmd_help(out, 20, "!", NULL, true), ERR_TOOBIG);
	CHECK_STR(out, "");
}

static void test_hint(void)
{
	char out[256];

	parse("!frob", NULL);
	CHECK_INT(bcmd_hint(out, sizeof out, "!", &c), >, 0);
	CHECK_STR(out, "Unknown command !frob - it was not sent to the agent. "
	          "Say !help for the commands.");
	parse("!status now", NULL);
	bcmd_hint(out, sizeof out, "!", &c);
	CHECK_STR(out, "!status takes no arguments. Say !help for the "
	          "commands.");
	parse("!reset x", NULL);
	bcmd_hint(out, sizeof out, "!", &c);
	CHECK(strstr(out, "!reset confirm") != NULL);
	/* a long unknown word is shortened, never cut inside a character */
	char w[200] = "!x";
	for (int i = 0; i < 60; i++)
		memcpy(w + 2 + 2 * i, "\xc3\xa9", 3);
	parse(w, NULL);
	bcmd_hint(out, sizeof out, "!", &c);
	CHECK(json_utf8_valid(out, strlen(out)));
	CHECK(strstr(out, "...") != NULL);
}

static void test_notices(void)
{
	char out[BCMD_TEXT_MAX];

	for (int k = 0; k < BCMD_N__COUNT; k++) {
		int n = bcmd_notice(out, sizeof out, (enum bcmd_notice)k, "!",
		                    NULL);
		CHECK_INT(n, >, 20);
		CHECK(strchr(out, '{') == NULL);     /* no placeholder left */
		CHECK(strchr(out, '%') == NULL);
	}
	bcmd_notice(out, sizeof out, BCMD_N_APPROVAL_NEEDED, "::", NULL);
	CHECK(strstr(out, "Say ::approve or ::deny [reason].") != NULL);
	bcmd_notice(out, sizeof out, BCMD_N_APPROVAL_WAITING, "::", "rm_rf");
	CHECK(strstr(out, "the tool \"rm_rf\"") != NULL);
	CHECK(strstr(out, "Say ::approve to let it, or ::deny [reason]") != NULL);
	bcmd_notice(out, sizeof out, BCMD_N_LETTA_ERROR, "!",
	            bcmd_error_words("llm_timeout"));
	CHECK_STR(out, "The agent could not answer: the language model took "
	          "too long to answer. Try again in a moment; if it keeps "
	          "failing, tell the person who runs Letta.");
	bcmd_notice(out, sizeof out, BCMD_N_CATCHUP_BOUND, "!", "1,000");
	CHECK_STR(out, "More messages came into this room while the bridge was "
	          "away than it catches up on (1,000): the older ones were not "
	          "passed to the agent. Send again anything it should answer.");
	CHECK_STR(bcmd_error_words("whatever"), "Letta reported an error");
	CHECK_STR(bcmd_error_words(NULL), "Letta reported an error");
	CHECK_EQ(bcmd_notice(out, sizeof out, BCMD_N__COUNT, "!", NULL),
	         ERR_INVAL);
	CHECK_EQ(bcmd_notice(out, 10, BCMD_N_CANCELLED, "!", NULL), ERR_TOOBIG);
}

static void test_approval_text(void)
{
	char out[BCMD_TEXT_MAX], args[2000];
	const char *a = "{\"path\": \"/\"}";

	CHECK_INT(bcmd_approval_text(out, sizeof out, "!", "delete_everything",
	                             a, strlen(a)), >, 0);
	CHECK_STR(out, "The agent wants to use the tool \"delete_everything\" "
	          "with these arguments:\n{\"path\": \"/\"}\nSay !approve to "
	          "let it, or !deny [reason] to refuse.");
	bcmd_approval_text(out, sizeof out, "!", "ls", "", 0);
	CHECK(strstr(out, "\"ls\".\nSay !approve") != NULL);
	memset(args, 'x', sizeof args);
	memcpy(args + 799, "\xc3\xa9", 2);
	bcmd_approval_text(out, sizeof out, "!", "t", args, sizeof args);
	CHECK(strstr(out, " ... (2000 bytes in all)") != NULL);
	CHECK(json_utf8_valid(out, strlen(out)));
}

int main(void)
{
	RUN(test_commands);
	RUN(test_not_commands);
	RUN(test_unknown_and_badargs);
	RUN(test_prefix);
	RUN(test_reply_fallback);
	RUN(test_help_text);
	RUN(test_hint);
	RUN(test_notices);
	RUN(test_approval_text);
	return harness_done("bcmd");
}
