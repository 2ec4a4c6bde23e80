/*
 * bcmd: at the side of the path, with no I/O: room commands and the texts
 * people read (see bcmd.h).
 */
#include "bridge/bcmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/json.h"

static const struct {
	const char *word;
	enum bcmd_kind kind;
} words[] = {
	{ "help", BCMD_HELP }, { "status", BCMD_STATUS },
	{ "cancel", BCMD_CANCEL }, { "approve", BCMD_APPROVE },
	{ "deny", BCMD_DENY }, { "reset", BCMD_RESET },
};

bool bcmd_prefix_ok(const char *p)
{
	size_t n = p ? strlen(p) : 0;

	if (n == 0 || n > BCMD_PREFIX_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c <= ' ' || c > '~' || (c >= '0' && c <= '9') ||
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			return false;
	}
	return true;
}

bool bcmd_admin_only(enum bcmd_kind k)
{
	return k == BCMD_RESET || k == BCMD_RESET_CONFIRM;
}

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Skips a reply fallback: lines "> <@user:server> ..." and "> ...",
 * then one blank line (the rich reply format before Matrix 1.13). */
static size_t skip_fallback(const char *s, size_t n)
{
	size_t i = 0;

	if (n < 4 || memcmp(s, "> <@", 4) != 0)
		return 0;
	while (i < n && s[i] == '>') {
		const char *nl = memchr(s + i, '\n', n - i);
		if (!nl)
			return 0;          /* all quote: not a fallback */
		i = (size_t)(nl - s) + 1;
	}
	if (i < n && s[i] == '\n')
		i++;
	return i;
}

static enum bcmd_kind lookup(const char *w, size_t n)
{
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strlen(words[i].word) == n &&
		    strncasecmp(words[i].word, w, n) == 0)
			return words[i].kind;
	return BCMD_UNKNOWN;
}

/* What the arguments make of command k. */
static enum bcmd_kind with_args(enum bcmd_kind k, const char *a, size_t n)
{
	if (k == BCMD_APPROVE || k == BCMD_DENY)
		return k;
	if (k == BCMD_RESET && n == 7 && strncasecmp(a, "confirm", 7) == 0)
		return BCMD_RESET_CONFIRM;
	return n == 0 ? k : BCMD_BADARGS;
}

int bcmd_parse(const char *body, size_t n, const char *prefix,
               struct bcmd *c)
{
	size_t i, pl, tok, wl, a, b;

	memset(c, 0, sizeof *c);
	c->word = c->arg = "";
	if (!prefix || !*prefix)
		prefix = "!";
	if (!bcmd_prefix_ok(prefix))
		return ERR_INVAL;
	if (!body)
		return BCMD_NONE;
	i = skip_fallback(body, n);
	while (i < n && space(body[i]))
		i++;
	pl = strlen(prefix);
	if (n - i <= pl || memcmp(body + i, prefix, pl) != 0 ||
	    !letter(body[i + pl]))
		return BCMD_NONE;
	i += pl;
	for (tok = i; tok < n && !space(body[tok]); tok++)
		;
	c->word = body + i;
	c->word_len = tok - i;
	wl = c->word_len;
	if (wl > 1 && strchr(".!?", body[i + wl - 1]))
		wl--;                  /* "!help?" */
	for (size_t k = 0; k < wl; k++)
		if (!letter(body[i + k]))
			return c->kind = BCMD_UNKNOWN;
	c->base = lookup(body + i, wl);
	if (c->base == BCMD_UNKNOWN)
		return c->kind = BCMD_UNKNOWN;
	for (a = tok; a < n && space(body[a]); a++)
		;
	for (b = n; b > a && space(body[b - 1]); b--)
		;
	c->kind = with_args(c->base, body + a, b - a);
	if (c->kind == BCMD_APPROVE || c->kind == BCMD_DENY) {
		c->arg = body + a;
		c->arg_len = b - a;
	}
	return c->kind;
}

/* ---- texts ---- */

static int fmt(char *out, size_t cap, const char *f, ...)
	__attribute__((format(printf, 3, 4)));

static int fmt(char *out, size_t cap, const char *f, ...)
{
	va_list ap;
	int k;

	if (!out || cap == 0)
		return ERR_TOOBIG;
	va_start(ap, f);
	k = vsnprintf(out, cap, f, ap);
	va_end(ap);
	if (k < 0)
		return ERR_INVAL;
	if ((size_t)k >= cap) {
		out[0] = '\0';
		return ERR_TOOBIG;
	}
	return k;
}

static const char *pfx(const char *p)
{
	return p && *p ? p : "!";
}

int bcmd_help(char *out, size_t cap, const char *prefix,
              const char *agent_name, bool admin)
{
	const char *p = pfx(prefix);
	char reset[256] = "";

	if (admin)
		snprintf(reset, sizeof reset,
		         "%sreset - start the agent's conversation here (in a "
		         "thread: that thread's) over (you are asked to confirm "
		         "with %sreset confirm)\n",
		         p, p);
	return fmt(out, cap,
	           "This room talks to the Letta agent%s%s%s. Write a message "
	           "and the agent answers here; ask in a thread and it answers "
	           "in that thread. Messages wait their turn, one answer at a "
	           "time.\n"
	           "Commands:\n"
	           "%shelp - this text\n"
	           "%sstatus - the agent, the queue, the answer in progress\n"
	           "%scancel - stop the answer in progress and drop the messages "
	           "waiting\n"
	           "%sapprove - let the agent use the tool it asked about\n"
	           "%sdeny [reason] - refuse it; the agent is told your reason\n"
	           "%s",
	           agent_name ? " \"" : "", agent_name ? agent_name : "",
	           agent_name ? "\"" : "", p, p, p, p, p, reset);
}

int bcmd_hint(char *out, size_t cap, const char *prefix,
              const struct bcmd *c)
{
	const char *p = pfx(prefix);
	int wl = c->word_len > 40 ? 40 : (int)c->word_len;

	while (wl > 0 && ((unsigned char)c->word[wl] & 0xc0) == 0x80 &&
	       (size_t)wl < c->word_len)
		wl--;             /* do not cut a character in two */
	if (c->kind == BCMD_BADARGS && c->base == BCMD_RESET)
		return fmt(out, cap, "%sreset takes nothing or \"confirm\": "
		           "%sreset, then %sreset confirm.", p, p, p);
	if (c->kind == BCMD_BADARGS)
		return fmt(out, cap, "%s%.*s takes no arguments. Say %shelp for "
		           "the commands.", p, wl, c->word, p);
	return fmt(out, cap, "Unknown command %s%.*s%s - it was not sent to "
	           "the agent. Say %shelp for the commands.", p, wl, c->word,
	           (size_t)wl < c->word_len ? "..." : "", p);
}

static const char *const notices[BCMD_N__COUNT] = {
	[BCMD_N_MAX_STEPS] = "The agent stopped before finishing: it used all "
		"the steps it may take for one answer. Ask it to go on, or split "
		"the request into smaller ones.",
	[BCMD_N_APPROVAL_NEEDED] = "The agent is waiting for someone to approve "
		"a tool it wants to use, and takes no new messages until then. "
		"Say {p}approve or {p}deny [reason].",
	[BCMD_N_LETTA_ERROR] = "The agent could not answer: {d}. Try again in "
		"a moment; if it keeps failing, tell the person who runs Letta.",
	[BCMD_N_AGENT_GONE] = "This agent no longer exists in Letta, so nothing "
		"here reaches it. Ask the person who runs the bridge to remove "
		"this room or connect another agent.",
	[BCMD_N_AGENT_BUSY] = "The agent is still busy with another answer. "
		"Your message waits and goes next; say {p}cancel to stop the "
		"current answer.",
	[BCMD_N_QUEUE_FULL] = "Too many messages are waiting for this agent, so "
		"this one was not taken. Wait for the answers to come, then send "
		"it again.",
	[BCMD_N_CANCELLED] = "Cancelled: the agent stopped its answer and the "
		"messages that were waiting were dropped.",
	[BCMD_N_NOTHING_TO_CANCEL] = "Nothing to cancel: the agent is not "
		"answering and no message is waiting.",
	[BCMD_N_NO_APPROVAL] = "No tool is waiting for approval.",
	[BCMD_N_APPROVED] = "Approved. The agent goes on; its answer follows.",
	[BCMD_N_DENIED] = "Denied. The agent was told, and answers next.",
	[BCMD_N_RESET_ASK] = "This starts the agent's conversation in this "
		"room over, for everyone: what was said here is no longer in its "
		"context (its memory blocks stay). Say {p}reset confirm within a "
		"minute to do it.",
	[BCMD_N_RESET_DONE] = "Done: the agent's message history was erased.",
	[BCMD_N_RESET_REFUSED] = "Only the bridge's admins may reset the agent.",
	[BCMD_N_RESET_NOT_ASKED] = "Say {p}reset first, then {p}reset "
		"confirm.",
	[BCMD_N_UNREACHABLE] = "Letta did not answer, so the agent could not "
		"reply. The bridge tries again by itself; you need not resend.",
	[BCMD_N_NO_ANSWER] = "The agent finished without writing an answer. "
		"Ask again, perhaps in other words.",
	[BCMD_N_APPROVAL_WAITING] = "The agent is waiting for approval of the "
		"tool \"{d}\" and takes no new messages until then, so this one "
		"was not passed on. Say {p}approve to let it, or {p}deny [reason] "
		"to refuse; then send your message again.",
	[BCMD_N_APPROVAL_STALE] = "Letta did not take this answer: the agent "
		"is no longer waiting for that tool (it was answered some other "
		"way, or its history was reset). Send your message again if you "
		"still need it.",
	[BCMD_N_CATCHUP_BOUND] = "More messages came into this room while the "
		"bridge was away than it catches up on ({d}): the older ones were "
		"not passed to the agent. Send again anything it should answer.",
	[BCMD_N_CATCHUP_HISTORY] = "Messages came into this room while the "
		"bridge was away, and the homeserver did not give it the older "
		"ones: they were not passed to the agent. Send again anything it "
		"should answer.",
	[BCMD_N_CATCHUP_UNREADABLE] = "A message came into this room while the "
		"bridge was away that it could not read, and the messages before "
		"that one were not passed to the agent. Send again anything it "
		"should answer.",
	[BCMD_N_CATCHUP_FAILED] = "Messages came into this room while the "
		"bridge was away that it could not catch up on: the older ones "
		"were not passed to the agent. Send again anything it should "
		"answer.",
	[BCMD_N_APPROVE_REFUSED] = "Only the people named in the bridge's "
		"approvers (or, when none are named, its admins) may answer a "
		"tool call: the agent still waits.",
	[BCMD_N_APPROVE_NOBODY] = "Nobody may answer tool calls here: the "
		"bridge has no approvers and no admins configured ([bridge] "
		"approvers). The agent still waits; {p}cancel stops it.",
	[BCMD_N_APPROVAL_LAPSED] = "The agent's request to use the tool "
		"\"{d}\" lapsed: Letta lost it when its connection to the bridge "
		"dropped, so the tool did not run. Ask again if you still need "
		"it.",
	[BCMD_N_RESET_UNSUPPORTED] = "The agent's history was not erased: {d}",
	[BCMD_N_RESET_NEW] = "Done: this room now talks to the agent in a new "
		"conversation ({d}). What was said before stays in Letta, out of "
		"the agent's context; its memory blocks stay.",
	[BCMD_N_RESET_THREAD] = "Done: this thread now talks to the agent in "
		"a new conversation ({d}). The room's main conversation is "
		"unchanged; the agent's memory blocks stay.",
	[BCMD_N_RESET_FAILED] = "The conversation was not started over: {d}. "
		"Nothing changed; say {p}reset again later.",
};

/* Copies tmpl, putting the prefix for "{p}" and detail for "{d}". */
static int expand(char *out, size_t cap, const char *tmpl, const char *p,
                  const char *d)
{
	size_t len = 0;

	if (!out || cap == 0)
		return ERR_TOOBIG;
	for (const char *t = tmpl; *t; ) {
		const char *s = t;
		size_t n = 1;
		if (t[0] == '{' && (t[1] == 'p' || t[1] == 'd') && t[2] == '}') {
			s = t[1] == 'p' ? p : d;
			n = strlen(s);
			t += 3;
		} else {
			t++;
		}
		if (n >= cap - len) {
			out[0] = '\0';
			return ERR_TOOBIG;
		}
		memcpy(out + len, s, n);
		len += n;
	}
	out[len] = '\0';
	return (int)len;
}

int bcmd_notice(char *out, size_t cap, enum bcmd_notice k,
                const char *prefix, const char *detail)
{
	if ((unsigned)k >= BCMD_N__COUNT)
		return ERR_INVAL;
	if (!detail || !*detail)
		detail = "Letta reported an error";
	return expand(out, cap, notices[k], pfx(prefix), detail);
}

static const struct {
	const char *type;
	const char *words;
} errwords[] = {
	{ "llm_timeout", "the language model took too long to answer" },
	{ "llm_rate_limit", "the language model's provider is limiting "
	  "requests right now" },
	{ "llm_authentication", "the language model's provider refused "
	  "Letta's key" },
	{ "llm_empty_response", "the language model gave an empty answer" },
	{ "llm_error", "the language model failed" },
	{ "llm_api_error", "the language model failed" },
	{ "invalid_llm_response", "the language model gave an answer Letta "
	  "could not use" },
	{ "invalid_tool_call", "the agent called a tool the wrong way" },
	{ "no_tool_call", "the agent did not produce an answer" },
	{ "max_tokens_exceeded", "the answer grew longer than the model may "
	  "write" },
	{ "context_window_overflow_in_system_prompt", "the agent's "
	  "instructions and memory no longer fit the model" },
	{ "insufficient_credits", "the model provider's credits ran out" },
	{ "stream_incomplete", "the answer was cut off" },
	{ "internal_error", "Letta had an internal error" },
};

const char *bcmd_error_words(const char *type)
{
	for (size_t i = 0; type && i < sizeof errwords / sizeof errwords[0];
	     i++)
		if (strcmp(errwords[i].type, type) == 0)
			return errwords[i].words;
	return "Letta reported an error";
}

int bcmd_approval_text(char *out, size_t cap, const char *prefix,
                       const char *tool, const char *args, size_t args_len)
{
	const char *p = pfx(prefix);
	size_t shown = args ? args_len : 0;
	char more[64] = "";

	if (shown > BCMD_ARGS_SHOWN) {
		shown = BCMD_ARGS_SHOWN;
		while (shown > 0 && ((unsigned char)args[shown] & 0xc0) == 0x80)
			shown--;
		snprintf(more, sizeof more, " ... (%zu bytes in all)", args_len);
	}
	if (!json_utf8_valid(args ? args : "", shown))
		shown = 0;
	return fmt(out, cap, "The agent wants to use the tool \"%s\"%s%.*s%s\n"
	           "Say %sapprove to let it, or %sdeny [reason] to refuse.",
	           tool && *tool ? tool : "(unnamed)",
	           shown ? " with these arguments:\n" : ".", (int)shown,
	           args ? args : "", more, p, p);
}
