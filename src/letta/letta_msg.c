/*
 * letta_msg: sending a message to an agent and reading its answer.
 */
#include "letta/letta_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/err.h"
#include "core/img.h"
#include "core/ident.h"
#include "core/json.h"
#include "net/proto.h"

/* A path naming agent `agent_id` (checked first: it goes into a URL):
 * fmt has one %s for the id, then optionally one %d for n. */
static int agent_path(char *path, size_t cap, const char *fmt,
                      const char *agent_id, int n)
	__attribute__((format(printf, 3, 0)));

static int agent_path(char *path, size_t cap, const char *fmt,
                      const char *agent_id, int n)
{
	if (!ident_agent_id_valid(agent_id))
		return ERR_INVAL;
	if ((size_t)snprintf(path, cap, fmt, agent_id, n) >= cap)
		return ERR_TOOBIG;
	return 0;
}

int letta_msg_path(char *path, size_t cap, const char *agent_id)
{
	return agent_path(path, cap, "/v1/agents/%s/messages", agent_id, 0);
}

int letta_msg_hist_path(char *path, size_t cap, const char *agent_id,
                        int limit)
{
	/* without conversation_id, a server with conversations (0.16.2+)
	 * lists every one of the agent's (letta services/message_manager
	 * list_messages); servers before ignore it */
	return agent_path(path, cap, "/v1/agents/%s/messages?order=desc"
	                  "&limit=%d&conversation_id=default", agent_id, limit);
}

int letta_msg_stream_path(char *path, size_t cap, const char *agent_id)
{
	return agent_path(path, cap, "/v1/agents/%s/messages/stream",
	                  agent_id, 0);
}

int letta_runs_active_path(char *path, size_t cap, const char *agent_id)
{
	return agent_path(path, cap, "/v1/runs/?agent_id=%s&active=true"
	                  "&limit=%d", agent_id, LIM_LETTA_RUNS_LISTED);
}

/* A Run object still going: created or running (letta-api.md §7). */
static int run_going(const struct json *j, int run)
{
	int v;

	if (json_type(j, run) != JSON_OBJ)
		return -1;
	v = json_get(j, run, "status");
	return json_str_eq(j, v, "running") || json_str_eq(j, v, "created");
}

int letta_runs_going(const char *body, size_t len)
{
	struct json j;
	int r = 0, k;

	json_init(&j);
	if (json_parse(&j, body, len)) {
		r = ERR_PROTO;
	} else if (json_type(&j, 0) == JSON_OBJ) {
		r = run_going(&j, 0);
	} else if (json_type(&j, 0) == JSON_ARR) {
		/* The status of each, not the filter: a server that does not
		 * know `active` lists every run. */
		for (k = json_arr_first(&j, 0); k >= 0 && r == 0;
		     k = json_arr_next(&j, 0, k))
			r = run_going(&j, k);
	} else {
		r = ERR_PROTO;
	}
	json_free(&j);
	return r < 0 ? ERR_PROTO : r;
}

/* }]: the end of every send's body, with max_steps and, streamed, whole
 * messages per step and pings that keep a quiet stream (a long tool run)
 * alive through proxies. */
static int messages_close(struct json_w *w, const struct letta_send *s,
                          size_t *len)
{
	json_w_obj_end(w);
	json_w_arr_end(w);
	json_w_kint(w, "max_steps", s->max_steps);
	if (s->conv)
		json_w_kbool(w, "streaming", s->stream != 0);
	if (s->stream) {
		json_w_kbool(w, "stream_tokens", false);
		json_w_kbool(w, "include_pings", true);
	}
	json_w_obj_end(w);
	return json_w_finish(w, len);
}

/* {"messages":[{ : the start of every send's body. */
static void messages_open(struct json_w *w, char *buf, size_t cap)
{
	json_w_init(w, buf, cap);
	json_w_obj(w);
	json_w_key(w, "messages");
	json_w_arr(w);
	json_w_obj(w);
}

void letta_msg_w_content(struct json_w *w, const char *text, size_t len,
                         const struct img *im, int hole)
{
	if (!im) {
		json_w_strn(w, text, len);
		return;
	}
	json_w_arr(w);
	json_w_obj(w);
	json_w_kstr(w, "type", "text");
	json_w_key(w, "text");
	json_w_strn(w, text, len);
	json_w_obj_end(w);
	json_w_obj(w);
	json_w_kstr(w, "type", "image");
	json_w_key(w, "source");
	json_w_obj(w);
	json_w_kstr(w, "type", "base64");
	json_w_kstr(w, "media_type", im->type);
	json_w_key(w, "data");
	if (hole)
		json_w_str(w, "");
	else
		json_w_b64(w, im->p, im->n);
	json_w_obj_end(w);
	json_w_obj_end(w);
	json_w_arr_end(w);
}

static int body_into(const struct letta_send *s, const struct img *im,
                     int hole, char *buf, size_t cap, size_t *len)
{
	struct json_w w;

	messages_open(&w, buf, cap);
	json_w_kstr(&w, "role", "user");
	json_w_key(&w, "content");
	letta_msg_w_content(&w, s->text, s->text_len, im, hole);
	/* Servers before 0.6.15 read `text`; every version ignores the key
	 * it does not know (letta-api.md §12). */
	json_w_key(&w, "text");
	json_w_strn(&w, s->text, s->text_len);
	if (s->name && *s->name)
		json_w_kstr(&w, "name", s->name);
	if (s->sender_id)
		json_w_kstr(&w, "sender_id", s->sender_id);
	json_w_kstr(&w, "otid", s->otid);
	return messages_close(&w, s, len);
}

/* The body in a buffer of its own; a picture's data left out (hole), so
 * that its size is learnt from the text alone. */
static int body_alloc(const struct letta_send *s, const struct img *im,
                      char **body, size_t *len)
{
	/* Escaping grows text at most 6x (\u00XX); try the usual 2x first. */
	size_t caps[2] = { 2 * 2 * s->text_len + 1024,
	                   2 * 6 * s->text_len + 1024 };
	int r = ERR_TOOBIG;

	*body = NULL;
	for (int i = 0; i < 2 && r == ERR_TOOBIG; i++) {
		free(*body);
		*body = malloc(caps[i]);
		if (!*body)
			return ERR_NOMEM;
		r = body_into(s, im, 1, *body, caps[i], len);
	}
	if (r) {
		free(*body);
		*body = NULL;
	}
	return r;
}

int letta_msg_body(const struct letta_send *s, char **body, size_t *len)
{
	return body_alloc(s, NULL, body, len);
}

int letta_msg_body_img(const struct letta_send *s, const struct img *im,
                       char **body, size_t *len)
{
	size_t need;
	int r;

	*body = NULL;
	if (!im)
		return letta_msg_body(s, body, len);
	if (!img_ok(im))
		return ERR_INVAL;
	r = body_alloc(s, im, body, &need);
	free(*body);
	*body = NULL;
	if (r)
		return r;
	need += b64_len(im->n) + 1;     /* the data, and the NUL */
	if (!(*body = malloc(need)))
		return ERR_NOMEM;
	r = body_into(s, im, 0, *body, need, len);
	if (r) {                        /* cannot be: the size is known */
		free(*body);
		*body = NULL;
	}
	return r;
}

/* The approval item (letta-api.md §5); the deprecated top-level
 * approve/approval_request_id form is not used. */
static int approval_into(const struct letta_send *s, int approve,
                         const char *call_id, const char *reason, char *buf,
                         size_t cap, size_t *len)
{
	struct json_w w;

	messages_open(&w, buf, cap);
	json_w_kstr(&w, "type", "approval");
	json_w_key(&w, "approvals");
	json_w_arr(&w);
	json_w_obj(&w);
	json_w_kstr(&w, "type", "approval");
	json_w_kstr(&w, "tool_call_id", call_id);
	json_w_kbool(&w, "approve", approve != 0);
	if (reason && *reason)
		json_w_kstr(&w, "reason", reason);
	json_w_obj_end(&w);
	json_w_arr_end(&w);
	return messages_close(&w, s, len);
}

int letta_msg_approval_body(const struct letta_send *s, int approve,
                            const char *call_id, const char *reason,
                            char **body, size_t *len)
{
	size_t n = strlen(call_id) + (reason ? strlen(reason) : 0), cap;
	int r;

	*body = NULL;
	if (!*call_id)
		return ERR_INVAL;
	if (n > ((size_t)1 << 24))
		return ERR_TOOBIG;
	cap = 6 * n + 256;              /* \u00XX is the widest escape */
	if (!(*body = malloc(cap)))
		return ERR_NOMEM;
	r = approval_into(s, approve, call_id, reason, *body, cap, len);
	if (r) {
		free(*body);
		*body = NULL;
	}
	return r;
}

/* ---- reading replies ---- */

/* Empties r without touching the whole text buffer. */
static void reply_reset(struct letta_reply *r)
{
	r->text[0] = '\0';
	r->len = 0;
	r->n = r->cut = r->approval = r->later = 0;
	r->stop[0] = '\0';
	r->run_id[0] = '\0';
	r->tool[0] = r->call_id[0] = r->args[0] = '\0';
	r->args_len = 0;
}

/* Said where an answer too long for one Matrix event ends. */
static const char cut_note[] = "\n\n[The answer was cut here: it is longer "
                               "than the bridge passes on.]";
#define TEXT_ROOM (LIM_BRIDGE_ANSWER - (sizeof cut_note - 1))

/* Appends s[0..n) as a new message (join 0: a blank line after the one
 * before) or as more of the last one (join 1). */
static void put_text(struct letta_reply *r, const char *s, size_t n,
                     int join)
{
	size_t room;

	if (!n || r->cut)
		return;
	if ((!join || !r->n) && r->n++ && r->len + 2 <= TEXT_ROOM) {
		memcpy(r->text + r->len, "\n\n", 2);
		r->len += 2;
	}
	room = TEXT_ROOM - r->len;
	if (n > room) {
		r->cut = 1;
		n = json_utf8_fit(s, n, room);
	}
	memcpy(r->text + r->len, s, n);
	r->len += n;
	if (r->cut) {
		memcpy(r->text + r->len, cut_note, sizeof cut_note - 1);
		r->len += sizeof cut_note - 1;
	}
	r->text[r->len] = '\0';
}

static void add_text(struct letta_reply *r, const char *s, size_t n)
{
	put_text(r, s, n, 0);
}

/* Appends string value v (unescaped). */
static void add_str(struct letta_reply *r, const struct json *j, int v)
{
	size_t n = 0, cap;
	char *tmp;
	size_t raw;

	if (json_type(j, v) != JSON_STR)
		return;
	json_raw(j, v, &raw);
	cap = raw + 1;
	tmp = malloc(cap);
	if (!tmp)
		return;
	if (!json_strn(j, v, tmp, cap, &n) && !memchr(tmp, 0, n))
		add_text(r, tmp, n);
	free(tmp);
}

/* content: a string, or parts {"type":"text","text":...}. */
static void add_content(struct letta_reply *r, const struct json *j, int c)
{
	if (json_type(j, c) == JSON_STR) {
		add_str(r, j, c);
		return;
	}
	for (int p = json_arr_first(j, c); p >= 0; p = json_arr_next(j, c, p))
		if (json_str_eq(j, json_get(j, p, "type"), "text"))
			add_str(r, j, json_get(j, p, "text"));
}

/* The fallback of old servers: a send_message tool call's arguments. */
static void add_tool_call(struct letta_reply *r, const struct json *j, int m)
{
	int tc = json_get(j, m, "tool_call"), args;
	struct json aj;
	char *raw;
	size_t n;

	if (tc < 0)
		tc = json_get(j, m, "function_call");
	if (tc < 0 || !json_str_eq(j, json_get(j, tc, "name"), "send_message"))
		return;
	args = json_get(j, tc, "arguments");
	if (json_type(j, args) != JSON_STR)
		return;
	json_raw(j, args, &n);
	raw = malloc(n + 1);
	if (!raw || json_strn(j, args, raw, n + 1, &n)) {
		free(raw);
		return;
	}
	json_init(&aj);
	if (!json_parse(&aj, raw, n) && json_type(&aj, 0) == JSON_OBJ)
		add_str(r, &aj, json_get(&aj, 0, "message"));
	json_free(&aj);
	free(raw);
}

/* The arguments as shown: cut at a character, "…" saying so. */
static void set_args(struct letta_reply *r, const char *s, size_t n)
{
	static const char more[] = "\xe2\x80\xa6";      /* U+2026 */
	size_t k;

	if (!s || memchr(s, 0, n) || !json_utf8_valid(s, n))
		return;
	if (n < sizeof r->args) {
		memcpy(r->args, s, n);
		r->args_len = n;
	} else {
		k = json_utf8_fit(s, n, sizeof r->args - sizeof more);
		memcpy(r->args, s, k);
		memcpy(r->args + k, more, sizeof more - 1);
		r->args_len = k + sizeof more - 1;
	}
	r->args[r->args_len] = '\0';
}

/* A tool_call_id is sent back as it came, never cut: printable ASCII
 * that fits, else none (the call then cannot be answered from here). */
static void set_call_id(struct letta_reply *r, const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n >= sizeof r->call_id)
		return;
	for (size_t i = 0; i < n; i++)
		if (id[i] <= ' ' || id[i] > '~')
			return;
	memcpy(r->call_id, id, n + 1);
}

void letta_reply_approval(struct letta_reply *r, const char *tool,
                          const char *call_id, const char *args,
                          size_t args_len)
{
	size_t n = tool ? strlen(tool) : 0;

	r->approval = 1;
	r->tool[0] = r->call_id[0] = r->args[0] = '\0';
	r->args_len = 0;
	set_call_id(r, call_id);
	if (tool && json_utf8_valid(tool, n)) {
		n = json_utf8_fit(tool, n, sizeof r->tool - 1);
		memcpy(r->tool, tool, n);
		r->tool[n] = '\0';
	}
	set_args(r, args, args_len);
}

/* A string member of o unescaped on the heap (free it), or NULL. */
static char *str_dup(const struct json *j, int o, const char *key,
                     size_t *n)
{
	int v = json_get(j, o, key);
	char *s;

	if (json_type(j, v) != JSON_STR)
		return NULL;
	json_raw(j, v, n);
	if (!(s = malloc(*n + 1)))
		return NULL;
	if (json_strn(j, v, s, *n + 1, n) || memchr(s, 0, *n)) {
		free(s);
		return NULL;
	}
	return s;
}

/* An approval_request_message: which tool, with what, under which id.
 * A later request of the same reply replaces an earlier one. */
static void add_approval(struct letta_reply *r, const struct json *j, int m)
{
	int tc = json_get(j, m, "tool_call"), a;
	char *tool = NULL, *id = NULL, *args = NULL;
	const char *raw = NULL;
	size_t n = 0, an = 0;

	if (json_type(j, tc) != JSON_OBJ) {
		a = json_get(j, m, "tool_calls");
		tc = json_type(j, a) == JSON_ARR ? json_arr_first(j, a) : -1;
	}
	if (json_type(j, tc) == JSON_OBJ) {
		tool = str_dup(j, tc, "name", &n);
		id = str_dup(j, tc, "tool_call_id", &n);
		a = json_get(j, tc, "arguments");
		/* not the usual JSON string: show the JSON value itself */
		if (json_type(j, a) == JSON_STR)
			raw = args = str_dup(j, tc, "arguments", &an);
		else if (a >= 0)
			raw = json_raw(j, a, &an);
	}
	letta_reply_approval(r, tool, id, raw, an);
	free(tool);
	free(id);
	free(args);
}

static int is_user(const struct json *j, int m)
{
	return json_str_eq(j, json_get(j, m, "message_type"), "user_message");
}

/* The message that starts our turn: the user message with `otid`, or
 * (otid NULL) the approval response naming `call_id`. */
static int is_ours(const struct json *j, int m, const char *otid,
                   const char *call_id)
{
	int a;

	if (otid)
		return is_user(j, m) && json_str_eq(j, json_get(j, m, "otid"),
		                                    otid);
	if (!json_str_eq(j, json_get(j, m, "message_type"),
	                 "approval_response_message") ||
	    json_type(j, a = json_get(j, m, "approvals")) != JSON_ARR)
		return 0;
	for (int e = json_arr_first(j, a); e >= 0; e = json_arr_next(j, a, e))
		if (json_str_eq(j, json_get(j, e, "tool_call_id"), call_id))
			return 1;
	return 0;
}

/* One LettaMessage of a reply. */
static void add_message(struct letta_reply *r, const struct json *j, int m)
{
	int t = json_get(j, m, "message_type"), c;

	if (t < 0)
		return;
	if (json_str_eq(j, t, "assistant_message")) {
		c = json_get(j, m, "content");
		if (c < 0)
			c = json_get(j, m, "assistant_message");
		add_content(r, j, c);
	} else if (json_str_eq(j, t, "tool_call_message") ||
	           json_str_eq(j, t, "function_call")) {
		add_tool_call(r, j, m);
	} else if (json_str_eq(j, t, "approval_request_message")) {
		add_approval(r, j, m);
	} else if (r->approval && r->call_id[0] &&
	           is_ours(j, m, NULL, r->call_id)) {
		/* answered later in the history read: nothing waits */
		r->approval = 0;
		r->tool[0] = r->call_id[0] = r->args[0] = '\0';
		r->args_len = 0;
	}
}

int letta_reply_parse(const char *body, size_t len, struct letta_reply *r)
{
	struct json j;
	int msgs, sr, rr = 0;

	reply_reset(r);
	json_init(&j);
	if (json_parse(&j, body, len) || json_type(&j, 0) != JSON_OBJ ||
	    json_type(&j, msgs = json_get(&j, 0, "messages")) != JSON_ARR) {
		rr = ERR_PROTO;
		goto out;
	}
	for (int m = json_arr_first(&j, msgs); m >= 0;
	     m = json_arr_next(&j, msgs, m))
		add_message(r, &j, m);
	sr = json_get(&j, 0, "stop_reason");
	if (sr >= 0 && json_get_str(&j, sr, "stop_reason", r->stop,
	                            sizeof r->stop))
		r->stop[0] = '\0';
out:
	json_free(&j);
	return rr;
}

static int hist_find(const char *body, size_t len, const char *otid,
                     const char *call_id, struct letta_reply *r)
{
	struct json j;
	int idx[LIM_BRIDGE_HISTORY], n = 0, found = -1, rr = 0;

	reply_reset(r);
	json_init(&j);
	if (json_parse(&j, body, len) || json_type(&j, 0) != JSON_ARR) {
		rr = ERR_PROTO;
		goto out;
	}
	for (int m = json_arr_first(&j, 0); m >= 0 && n < LIM_BRIDGE_HISTORY;
	     m = json_arr_next(&j, 0, m)) {
		idx[n] = m;
		if (is_ours(&j, m, otid, call_id)) {
			found = n;
			break;
		}
		n++;
	}
	if (found < 0)
		goto out;
	rr = 1;
	/* Newest first: the turn is what lies between our question and the
	 * next user message, read oldest first. */
	int start = 0;
	for (int k = found - 1; k >= 0; k--)
		if (is_user(&j, idx[k]))
			start = k + 1;
	for (int k = found - 1; k >= start; k--) {
		add_message(r, &j, idx[k]);
		r->later++;
	}
	/* the run, to ask whether it is over: the question's own, or that
	 * of the first message after it */
	for (int k = found; k >= start && !r->run_id[0]; k--)
		if (json_get_str(&j, idx[k], "run_id", r->run_id,
		                 sizeof r->run_id))
			r->run_id[0] = '\0';
out:
	json_free(&j);
	return rr;
}

int letta_hist_find(const char *body, size_t len, const char *otid,
                    struct letta_reply *r)
{
	return hist_find(body, len, otid, NULL, r);
}

int letta_hist_find_approval(const char *body, size_t len,
                             const char *call_id, struct letta_reply *r)
{
	return hist_find(body, len, NULL, call_id, r);
}

int letta_hist_pending(const char *body, size_t len,
                       struct letta_reply *r)
{
	struct json j;
	int rr = 0, k = 0;

	reply_reset(r);
	json_init(&j);
	if (json_parse(&j, body, len) || json_type(&j, 0) != JSON_ARR) {
		rr = ERR_PROTO;
		goto out;
	}
	/* newest first: a request not yet followed by an answer waits */
	for (int m = json_arr_first(&j, 0); m >= 0 && k++ < LIM_BRIDGE_HISTORY;
	     m = json_arr_next(&j, 0, m)) {
		int t = json_get(&j, m, "message_type");

		if (json_str_eq(&j, t, "approval_request_message")) {
			add_approval(r, &j, m);
			rr = 1;
			break;
		}
		if (is_user(&j, m) ||
		    json_str_eq(&j, t, "approval_response_message"))
			break;
	}
out:
	json_free(&j);
	return rr;
}

int letta_msg_fail(int status, const char *body, size_t len, char *detail,
                   size_t cap)
{
	struct json j;
	int d, code = -1, pending = 0, cut;

	detail[0] = '\0';
	json_init(&j);
	if (status && !json_parse(&j, body, len) &&
	    json_type(&j, 0) == JSON_OBJ) {
		d = json_get(&j, 0, "detail");
		if (json_type(&j, d) == JSON_OBJ) {
			code = json_get(&j, d, "code");
			pending = json_str_eq(&j, code, "PENDING_APPROVAL");
			proto_str_cut(&j, json_get(&j, d, "message"), detail, cap,
			              &cut);
		} else if (d >= 0) {
			proto_str_cut(&j, d, detail, cap, &cut);
		} else if ((d = json_get(&j, 0, "error")) >= 0) {
			proto_str_cut(&j, json_get(&j, d, "message"), detail, cap,
			              &cut);
		}
	}
	json_free(&j);
	if (status == 0 || status == 408 || status == 429 || status >= 500)
		return LETTA_F_RETRY;
	if (status == 404)
		return LETTA_F_GONE;
	if (status == 409)
		return pending ? LETTA_F_APPROVAL : LETTA_F_BUSY;
	return LETTA_F_REFUSED;
}

const char *letta_msg_stop_text(const struct letta_reply *r)
{
	static const struct { const char *stop, *text; } t[] = {
		{ "max_steps", "The agent stopped before answering: it used all "
		  "the steps it may take for one message (max_steps)." },
		{ "requires_approval", "The agent is waiting for approval of a "
		  "tool call before it can answer." },
		{ "cancelled", "The agent's turn was cancelled before it "
		  "answered." },
		{ "no_tool_call", "The agent ended its turn without an answer." },
		{ "end_turn", "The agent ended its turn without an answer." },
		{ "insufficient_credits", "The agent cannot answer: its LLM "
		  "provider's credits are used up." },
		{ "context_window_overflow_in_system_prompt", "The agent cannot "
		  "answer: its context window is too small for its system "
		  "prompt." },
	};

	if (r->approval)
		return t[1].text;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (!strcmp(r->stop, t[i].stop))
			return t[i].text;
	return "The agent could not answer: its turn ended with an error.";
}

/* ---- a reply read from a stream ---- */

void letta_reply_init(struct letta_reply *r)
{
	reply_reset(r);
}

void letta_reply_add(struct letta_reply *r, const char *s, size_t n)
{
	add_text(r, s, n);
}

void letta_reply_more(struct letta_reply *r, const char *s, size_t n)
{
	put_text(r, s, n, 1);
}
