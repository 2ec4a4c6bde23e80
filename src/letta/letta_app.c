/*
 * letta_app: the App Server's WebSocket protocol as data (letta_app.h):
 * first the commands we write, then the server messages we read, last
 * the history reader.
 */
#include "letta/letta_app.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/err.h"
#include "core/img.h"
#include "core/json.h"
#include "letta/letta_app_int.h"
#include "letta/letta_msg.h"
#include "net/proto.h"

int letta_app_id_valid(const char *s, size_t n)
{
	if (!s || n == 0 || n >= LIM_LETTA_APP_ID)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	return 1;
}

static int id_ok(const char *s)
{
	return s && letta_app_id_valid(s, strnlen(s, LIM_LETTA_APP_ID));
}

static int runtime_ok(const struct letta_app_runtime *rt)
{
	return rt && ident_agent_id_valid(rt->agent_id) &&
	       id_ok(rt->conversation_id);
}

/* ---- commands ---- */

int letta_app_cmd_open(struct json_w *w, char *buf, size_t cap,
                       const char *type, const char *request_id)
{
	if (!buf || !id_ok(request_id))
		return ERR_INVAL;
	/* the length is returned as an int */
	json_w_init(w, buf, cap > INT_MAX ? (size_t)INT_MAX : cap);
	json_w_obj(w);
	json_w_kstr(w, "type", type);
	json_w_kstr(w, "request_id", request_id);
	return 0;
}

int letta_app_cmd_close(struct json_w *w)
{
	size_t n;
	int r;

	json_w_obj_end(w);
	r = json_w_finish(w, &n);
	return r ? r : (int)n;
}

/* "key":{"k1":v1,"k2":v2} */
static void put_pair(struct json_w *w, const char *key, const char *k1,
                     const char *v1, const char *k2, const char *v2)
{
	json_w_key(w, key);
	json_w_obj(w);
	json_w_kstr(w, k1, v1);
	json_w_kstr(w, k2, v2);
	json_w_obj_end(w);
}

/* A command whose body is {type, request_id, runtime} and maybe more. */
static int runtime_open(struct json_w *w, char *buf, size_t cap,
                        const char *type, const char *request_id,
                        const struct letta_app_runtime *rt)
{
	if (!runtime_ok(rt))
		return ERR_INVAL;
	if (letta_app_cmd_open(w, buf, cap, type, request_id))
		return ERR_INVAL;
	put_pair(w, "runtime", "agent_id", rt->agent_id, "conversation_id",
	         rt->conversation_id);
	return 0;
}

int letta_app_server_info(char *buf, size_t cap, const char *request_id)
{
	struct json_w w;

	if (letta_app_cmd_open(&w, buf, cap, "app_server_info", request_id))
		return ERR_INVAL;
	return letta_app_cmd_close(&w);
}

int letta_app_agent_list(char *buf, size_t cap, const char *request_id,
                         int limit, const char *after)
{
	struct json_w w;
	int first = !after || !*after;

	if (limit < 1 || limit > LIM_LETTA_APP_LIMIT ||
	    (!first && !ident_agent_id_valid(after)) ||
	    letta_app_cmd_open(&w, buf, cap, "agent_list", request_id))
		return ERR_INVAL;
	json_w_key(&w, "query");
	json_w_obj(&w);
	json_w_kint(&w, "limit", limit);
	if (!first)
		json_w_kstr(&w, "after", after);
	json_w_obj_end(&w);
	return letta_app_cmd_close(&w);
}

/* The permission modes of DevicePermissionMode. */
static int mode_ok(const char *mode)
{
	static const char *const modes[] = {
		"strict", "standard", "acceptEdits", "unrestricted",
	};

	for (size_t i = 0; mode && i < sizeof modes / sizeof modes[0]; i++)
		if (!strcmp(mode, modes[i]))
			return 1;
	return 0;
}

int letta_app_runtime_start(char *buf, size_t cap, const char *request_id,
                            const struct letta_app_runtime *rt,
                            const char *mode, const char *version)
{
	struct json_w w;

	/* here the agent and conversation stand at the top, no runtime */
	if (!runtime_ok(rt) || !mode_ok(mode) || !version ||
	    letta_app_cmd_open(&w, buf, cap, "runtime_start", request_id))
		return ERR_INVAL;
	json_w_kstr(&w, "agent_id", rt->agent_id);
	json_w_kstr(&w, "conversation_id", rt->conversation_id);
	json_w_kstr(&w, "mode", mode);
	put_pair(&w, "client_info", "name", "lettamx", "version", version);
	/* the state replay before the response, in a fixed order */
	json_w_kbool(&w, "wait_for_replay", true);
	return letta_app_cmd_close(&w);
}

/* "payload":{"kind":kind : both inputs. */
static void payload_open(struct json_w *w, const char *kind)
{
	json_w_key(w, "payload");
	json_w_obj(w);
	json_w_kstr(w, "kind", kind);
}

int letta_app_input_message_img(char *buf, size_t cap,
                                const char *request_id,
                                const struct letta_app_runtime *rt,
                                const char *text, size_t len,
                                const struct img *im,
                                const char *client_message_id)
{
	struct json_w w;

	if (!text || !len || !id_ok(client_message_id) ||
	    (im && !img_ok(im)) ||
	    runtime_open(&w, buf, cap, "input", request_id, rt))
		return ERR_INVAL;
	payload_open(&w, "create_message");
	json_w_key(&w, "messages");
	json_w_arr(&w);
	json_w_obj(&w);
	json_w_kstr(&w, "role", "user");
	json_w_key(&w, "content");
	letta_msg_w_content(&w, text, len, im, 0);
	json_w_kstr(&w, "client_message_id", client_message_id);
	json_w_obj_end(&w);
	json_w_arr_end(&w);
	json_w_obj_end(&w);
	return letta_app_cmd_close(&w);
}

int letta_app_input_message(char *buf, size_t cap, const char *request_id,
                            const struct letta_app_runtime *rt,
                            const char *text, size_t len,
                            const char *client_message_id)
{
	return letta_app_input_message_img(buf, cap, request_id, rt, text,
	                                   len, NULL, client_message_id);
}

size_t letta_app_input_message_cap(size_t len, const struct img *im)
{
	/* the keys and the four ids (request, agent, conversation, client
	 * message), each below LIM_LETTA_APP_ID and escaped at most 6x */
	size_t fixed = 512 + 4 * 6 * LIM_LETTA_APP_ID;

	if (im)
		fixed += 128 + strlen(im->type) + b64_len(im->n);
	return fixed + 6 * len;
}

int letta_app_input_approval(char *buf, size_t cap, const char *request_id,
                             const struct letta_app_runtime *rt,
                             const char *perm_id, int allow,
                             const char *message)
{
	struct json_w w;
	int said = message && *message;

	/* the server refuses a deny without a message (ApprovalResponse
	 * DenyDecision.message is required) */
	if (!id_ok(perm_id) || (!allow && !said) ||
	    runtime_open(&w, buf, cap, "input", request_id, rt))
		return ERR_INVAL;
	payload_open(&w, "approval_response");
	json_w_kstr(&w, "request_id", perm_id);
	json_w_key(&w, "decision");
	json_w_obj(&w);
	json_w_kstr(&w, "behavior", allow ? "allow" : "deny");
	if (said)
		json_w_kstr(&w, "message", message);
	json_w_obj_end(&w);
	json_w_obj_end(&w);
	return letta_app_cmd_close(&w);
}

/* {type, request_id, runtime} and, for an abort, run_id null (whatever
 * runs there). */
static int runtime_cmd(char *buf, size_t cap, const char *type,
                       const char *request_id,
                       const struct letta_app_runtime *rt, int run_id)
{
	struct json_w w;

	if (runtime_open(&w, buf, cap, type, request_id, rt))
		return ERR_INVAL;
	if (run_id) {
		json_w_key(&w, "run_id");
		json_w_null(&w);
	}
	return letta_app_cmd_close(&w);
}

int letta_app_abort(char *buf, size_t cap, const char *request_id,
                    const struct letta_app_runtime *rt)
{
	return runtime_cmd(buf, cap, "abort_message", request_id, rt, 1);
}

int letta_app_sync(char *buf, size_t cap, const char *request_id,
                   const struct letta_app_runtime *rt)
{
	return runtime_cmd(buf, cap, "sync", request_id, rt, 0);
}

int letta_app_messages_list(char *buf, size_t cap, const char *request_id,
                            const struct letta_app_runtime *rt, int limit,
                            const char *before)
{
	struct json_w w;
	int newest = !before || !*before;

	if (limit < 1 || limit > LIM_LETTA_APP_LIMIT || !runtime_ok(rt) ||
	    (!newest && !id_ok(before)) ||
	    letta_app_cmd_open(&w, buf, cap, "conversation_messages_list", request_id))
		return ERR_INVAL;
	json_w_kstr(&w, "conversation_id", rt->conversation_id);
	json_w_key(&w, "query");
	json_w_obj(&w);
	/* "default" is found by its agent; naming it always costs nothing */
	json_w_kstr(&w, "agent_id", rt->agent_id);
	json_w_kint(&w, "limit", limit);
	json_w_kstr(&w, "order", "desc");
	if (!newest)
		json_w_kstr(&w, "before", before);
	json_w_obj_end(&w);
	return letta_app_cmd_close(&w);
}

/* ---- reading server messages ---- */

/* Member key of o into out[0..cap) by the id rule: whole printable ASCII
 * or "". */
static void get_id(const struct json *j, int o, const char *key, char *out,
                   size_t cap)
{
	size_t n;

	if (json_strn(j, json_get(j, o, key), out, cap, &n) ||
	    !letta_app_id_valid(out, n))
		out[0] = '\0';
}

/* String v into out[0..cap) by the display rule: cut at a character;
 * "" when not a string or holding a NUL. */
static void put_text(const struct json *j, int v, char *out, size_t cap)
{
	int cut;

	if (json_type(j, v) != JSON_STR || proto_str_cut(j, v, out, cap,
	                                                 &cut) < 0)
		out[0] = '\0';
}

/* true: 1; false, absent or not a boolean: 0. */
static int get_flag(const struct json *j, int o, const char *key)
{
	bool b = false;

	return json_get_bool(j, o, key, &b) == 0 && b;
}

/* An error: a string, or an object with a message (LettaErrorMessage,
 * detail when it has none). */
static void get_error(const struct json *j, int o, const char *key,
                      struct letta_app_frame *f)
{
	int e = json_get(j, o, key);

	if (json_type(j, e) == JSON_OBJ) {
		int m = json_get(j, e, "message");

		e = m >= 0 ? m : json_get(j, e, "detail");
	}
	put_text(j, e, f->error, sizeof f->error);
}

/* A text being put together: s[0..len) of cap (NUL included), cut at a
 * character once full. */
struct tbuf {
	char *s;
	size_t cap, len;
	int cut;
};

/* Appends string v. A string holding a NUL is left out (the reply is a
 * C string). Returns 0 or ERR_NOMEM. */
static int tb_add(struct tbuf *b, const struct json *j, int v)
{
	int n;

	if (b->cut || json_type(j, v) != JSON_STR)
		return 0;
	n = proto_str_cut(j, v, b->s + b->len, b->cap - b->len, &b->cut);
	if (n < 0) {
		b->s[b->len] = '\0';
		return n == ERR_NOMEM ? n : 0;
	}
	b->len += (size_t)n;
	return 0;
}

/* content: a string, or parts of which the text ones are joined. */
static int tb_content(struct tbuf *b, const struct json *j, int c)
{
	int r = 0;

	if (json_type(j, c) == JSON_STR)
		return tb_add(b, j, c);
	for (int p = json_arr_first(j, c); p >= 0 && !r;
	     p = json_arr_next(j, c, p))
		if (json_str_eq(j, json_get(j, p, "type"), "text"))
			r = tb_add(b, j, json_get(j, p, "text"));
	return r;
}

/* Raw JSON value v (valid UTF-8: the document was checked) appended. */
static void tb_raw(struct tbuf *b, const struct json *j, int v)
{
	size_t n;
	const char *s = json_raw(j, v, &n);

	if (!s || b->cut)
		return;
	if (n > b->cap - 1 - b->len) {
		n = json_utf8_fit(s, n, b->cap - 1 - b->len);
		b->cut = 1;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* A tool_call_message or approval_request_message: tool_call, else the
 * first of tool_calls; the arguments (a JSON string, or an object kept
 * as sent) into b. Fills name (cut) and call_id (whole or ""). */
static int read_tool(const struct json *j, int m, char *name, size_t ncap,
                     char *call_id, size_t icap, struct tbuf *b)
{
	int tc = json_get(j, m, "tool_call"), a;

	name[0] = call_id[0] = '\0';
	if (json_type(j, tc) != JSON_OBJ)
		tc = json_arr_first(j, json_get(j, m, "tool_calls"));
	if (json_type(j, tc) != JSON_OBJ)
		return 0;
	put_text(j, json_get(j, tc, "name"), name, ncap);
	get_id(j, tc, "tool_call_id", call_id, icap);
	a = json_get(j, tc, "arguments");
	if (json_type(j, a) == JSON_OBJ)
		tb_raw(b, j, a);
	return tb_add(b, j, a);
}

static void get_stop(struct letta_app_frame *f, const struct json *j, int o)
{
	get_id(j, o, "stop_reason", f->stop, sizeof f->stop);
	f->stop_code = letta_stop_from(f->stop);
}

/* delta.message_type by enum letta_app_dkind (error_message reads as
 * loop_error). */
static const char *const dnames[] = {
	NULL, "assistant_message", "tool_call_message",
	"approval_request_message", "stop_reason", "loop_error",
};
_Static_assert(sizeof dnames / sizeof dnames[0] == LETTA_APP_D_ERROR + 1,
               "dnames follows enum letta_app_dkind");

/* The kind's own fields; text into b. */
static int delta_kind(struct letta_app_frame *f, const struct json *j,
                      int d, struct tbuf *b)
{
	switch (f->dkind) {
	case LETTA_APP_D_ASSISTANT:
		return tb_content(b, j, json_get(j, d, "content"));
	case LETTA_APP_D_TOOL_CALL:
	case LETTA_APP_D_APPROVAL:
		return read_tool(j, d, f->tool, sizeof f->tool, f->call_id,
		                 sizeof f->call_id, b);
	case LETTA_APP_D_STOP:
		get_stop(f, j, d);
		f->waiting = f->stop_code == LETTA_STOP_REQUIRES_APPROVAL;
		return 0;
	case LETTA_APP_D_ERROR:
		get_stop(f, j, d);
		f->is_terminal = get_flag(j, d, "is_terminal");
		get_error(j, d, "message", f);
		if (!f->error[0])
			put_text(j, json_get(j, d, "detail"), f->error,
			         sizeof f->error);
		return 0;
	default:
		return 0;
	}
}

static int read_delta(struct letta_app_frame *f, const struct json *j)
{
	struct tbuf b = { f->text, sizeof f->text, 0, 0 };
	int d = json_get(j, 0, "delta"), mt, r;
	int64_t seq;

	if (json_type(j, d) != JSON_OBJ)
		return 0;       /* a delta we cannot read: nothing to do */
	mt = json_get(j, d, "message_type");
	for (size_t i = 1; i < sizeof dnames / sizeof dnames[0]; i++)
		if (json_str_eq(j, mt, dnames[i]))
			f->dkind = (enum letta_app_dkind)i;
	if (json_str_eq(j, mt, "error_message"))
		f->dkind = LETTA_APP_D_ERROR;
	f->subagent = json_type(j, json_get(j, 0, "subagent_id")) == JSON_STR;
	get_id(j, d, "id", f->delta_id, sizeof f->delta_id);
	get_id(j, d, "run_id", f->run_id, sizeof f->run_id);
	if (!json_get_int(j, d, "seq_id", 0, INT64_MAX, &seq))
		f->seq_id = seq;
	r = delta_kind(f, j, d, &b);
	f->text_len = b.len;
	f->text_cut = b.cut;
	return r;
}

/* control_request can_use_tool: the permission id is the frame's own
 * request_id (read with every frame). */
static void read_control(struct letta_app_frame *f, const struct json *j)
{
	int rq = json_get(j, 0, "request"), in;
	size_t n;

	if (!json_str_eq(j, json_get(j, rq, "subtype"), "can_use_tool")) {
		f->type = LETTA_APP_F_OTHER;    /* not ours to answer */
		return;
	}
	put_text(j, json_get(j, rq, "tool_name"), f->tool, sizeof f->tool);
	get_id(j, rq, "tool_call_id", f->call_id, sizeof f->call_id);
	in = json_get(j, rq, "input");
	if (json_type(j, in) != JSON_OBJ || !(f->input = json_raw(j, in, &n))) {
		f->input = "";
		return;
	}
	if (n > LIM_LETTA_APP_INPUT) {
		n = json_utf8_fit(f->input, n, LIM_LETTA_APP_INPUT);
		f->input_cut = 1;
	}
	f->input_len = n;
}

static void read_loop(struct letta_app_frame *f, const struct json *j)
{
	int ls = json_get(j, 0, "loop_status"), runs, c;

	get_id(j, ls, "status", f->status, sizeof f->status);
	runs = json_get(j, ls, "active_run_ids");
	f->active_runs = json_type(j, runs) == JSON_ARR ? json_count(j, runs)
	                                                : 0;
	f->idle = !strcmp(f->status, "WAITING_ON_INPUT") && !f->active_runs;
	c = json_get(j, ls, "client_message_ids_by_run_id");
	f->cmids_by_run = json_type(j, c) == JSON_OBJ ? c : -1;
}

/* The payload array of a success response; ERR_PROTO without one. */
static int get_array(const struct letta_app_frame *f, const struct json *j,
                     const char *key, int *out)
{
	int a = json_get(j, 0, key);

	*out = json_type(j, a) == JSON_ARR ? a : -1;
	return f->success && *out < 0 ? ERR_PROTO : 0;
}

static int read_type(struct letta_app_frame *f, const struct json *j)
{
	int64_t v;
	int d;

	switch (f->type) {
	case LETTA_APP_F_INFO:
		put_text(j, json_get(j, 0, "letta_code_version"), f->version,
		         sizeof f->version);
		if (!json_get_int(j, 0, "protocol_version", 0, INT_MAX, &v))
			f->protocol_version = v;
		return 0;
	case LETTA_APP_F_AGENTS:
		return get_array(f, j, "agents", &f->agents);
	case LETTA_APP_F_ACCEPTED:
		f->accepted = get_flag(j, 0, "accepted");
		d = json_get(j, 0, "disposition");
		f->disposition = json_str_eq(j, d, "started") ?
		                 LETTA_APP_DISP_STARTED :
		                 json_str_eq(j, d, "queued") ?
		                 LETTA_APP_DISP_QUEUED : LETTA_APP_DISP_NONE;
		return 0;
	case LETTA_APP_F_DELTA:
		return read_delta(f, j);
	case LETTA_APP_F_CONTROL:
		read_control(f, j);
		return 0;
	case LETTA_APP_F_TURN:
		get_id(j, 0, "turn_id", f->turn_id, sizeof f->turn_id);
		get_id(j, 0, "run_id", f->run_id, sizeof f->run_id);
		get_stop(f, j, 0);
		return 0;
	case LETTA_APP_F_ABORT:
		f->aborted = get_flag(j, 0, "aborted");
		return 0;
	case LETTA_APP_F_LOOP:
		read_loop(f, j);
		return 0;
	case LETTA_APP_F_MESSAGES:
		get_id(j, 0, "next_before", f->next_before,
		       sizeof f->next_before);
		f->has_more = get_flag(j, 0, "has_more");
		return get_array(f, j, "messages", &f->messages);
	default:        /* RUNTIME, SYNC: success, error, runtime only */
		return 0;
	}
}

/* The types read, by enum letta_app_ftype. */
static const char *const fnames[] = {
	NULL, "app_server_info_response", "agent_list_response",
	"runtime_start_response", "input_accepted", "stream_delta",
	"control_request", "turn_finished", "abort_message_response",
	"sync_response", "update_loop_status",
	"conversation_messages_list_response",
};
_Static_assert(sizeof fnames / sizeof fnames[0] == LETTA_APP_F_MESSAGES + 1,
               "fnames follows enum letta_app_ftype");

/* Empties f without touching the whole text buffer (half a MiB). */
static void frame_reset(struct letta_app_frame *f)
{
	memset(f, 0, offsetof(struct letta_app_frame, text));
	f->text[0] = '\0';
	f->protocol_version = f->seq_id = -1;
	f->agents = f->messages = f->cmids_by_run = -1;
	f->input = "";
}

/* The common part of every frame: request_id, runtime, success, error. */
static void read_common(struct letta_app_frame *f, const struct json *j)
{
	int rt = json_get(j, 0, "runtime");

	get_id(j, 0, "request_id", f->request_id, sizeof f->request_id);
	if (json_type(j, rt) == JSON_OBJ) {
		f->has_runtime = 1;
		get_id(j, rt, "agent_id", f->agent_id, sizeof f->agent_id);
		if (!ident_agent_id_valid(f->agent_id))
			f->agent_id[0] = '\0';
		get_id(j, rt, "conversation_id", f->conversation_id,
		       sizeof f->conversation_id);
	}
	f->success = get_flag(j, 0, "success");
	get_error(j, 0, "error", f);
}

int letta_app_frame_parse(struct json *j, const char *text, size_t len,
                          struct letta_app_frame *f)
{
	int t, r;

	frame_reset(f);
	if ((r = json_parse(j, text, len)) < 0)
		return r;
	t = json_get(j, 0, "type");
	if (json_type(j, 0) != JSON_OBJ || json_type(j, t) != JSON_STR)
		return ERR_PROTO;
	read_common(f, j);
	for (size_t i = 1; i < sizeof fnames / sizeof fnames[0]; i++)
		if (json_str_eq(j, t, fnames[i]))
			f->type = (enum letta_app_ftype)i;
	r = read_type(f, j);
	if (r < 0) {
		frame_reset(f);
		return r;
	}
	return 0;
}

/* ---- the history ---- */

static int msg_is(const struct json *j, int m, const char *type)
{
	return json_str_eq(j, json_get(j, m, "message_type"), type);
}

/* One assistant message's text (its parts joined) onto the reply. */
static int hist_text(struct letta_reply *r, const struct json *j, int m)
{
	int c = json_get(j, m, "content"), rr;
	struct tbuf b = { NULL, 0, 0, 0 };

	/* unescaped text is never longer than the JSON it came in, so it
	 * is never cut here (the reply cuts it at its own size) */
	if (!json_raw(j, c, &b.cap))
		return 0;
	if (!(b.s = malloc(++b.cap)))
		return ERR_NOMEM;
	b.s[0] = '\0';
	rr = tb_content(&b, j, c);
	letta_reply_add(r, b.s, b.len);
	free(b.s);
	return rr;
}

/* The approval request m onto the reply (letta_reply_approval). */
static int hist_approval(struct letta_reply *r, const struct json *j, int m)
{
	char tool[sizeof r->tool], id[LIM_LETTA_APP_ID];
	struct tbuf b = { NULL, 0, 0, 0 };
	int rr;

	/* letta_reply_approval keeps sizeof r->args of the arguments */
	b.cap = sizeof r->args + 8;
	if (!(b.s = malloc(b.cap)))
		return ERR_NOMEM;
	b.s[0] = '\0';
	rr = read_tool(j, m, tool, sizeof tool, id, sizeof id, &b);
	letta_reply_approval(r, tool, id, b.s, b.len);
	free(b.s);
	return rr;
}

static int is_user(const struct json *j, int m)
{
	return msg_is(j, m, "user_message");
}

/* True when a tool_return_message in idx[k-1] .. idx[end+1] (newer than
 * the request at k) answers tool call m. */
static int answered(const struct json *j, const int *idx, int k, int end,
                    int m)
{
	char id[LIM_LETTA_APP_ID];
	int tc = json_get(j, m, "tool_call");

	if (json_type(j, tc) != JSON_OBJ)
		tc = json_arr_first(j, json_get(j, m, "tool_calls"));
	get_id(j, tc, "tool_call_id", id, sizeof id);
	for (int i = k - 1; id[0] && i > end; i--)
		if (msg_is(j, idx[i], "tool_return_message") &&
		    json_str_eq(j, json_get(j, idx[i], "tool_call_id"), id))
			return 1;
	return 0;
}

/* The newest tool call of the turn idx[start] .. idx[end+1] that has no
 * result and no answer after it, onto r. Returns 1 (one waits), 0, or
 * ERR_NOMEM. */
static int hist_pending(struct letta_reply *r, const struct json *j,
                        const int *idx, int start, int end)
{
	for (int k = end + 1; k <= start; k++) {
		int m = idx[k];

		if (msg_is(j, m, "assistant_message"))
			return 0;
		if (msg_is(j, m, "approval_request_message") &&
		    !answered(j, idx, k, end, m)) {
			int rr = hist_approval(r, j, m);
			return rr < 0 ? rr : 1;
		}
	}
	return 0;
}

/* Reads the turn idx[start] (its oldest) .. idx[end+1] into r. Returns
 * LETTA_APP_TURN_* or ERR_NOMEM. */
static int hist_turn(struct letta_reply *r, const struct json *j,
                     const int *idx, int start, int end)
{
	int answer = 0, stop = 0, rr = 0, m;

	for (int k = start; k > end && rr >= 0; k--) {
		m = idx[k];
		r->later++;
		if (msg_is(j, m, "assistant_message")) {
			answer = 1;
			rr = hist_text(r, j, m);
		} else if (msg_is(j, m, "approval_request_message") ||
		           msg_is(j, m, "tool_call_message") ||
		           msg_is(j, m, "tool_return_message")) {
			answer = 0;     /* the agent went on after its words */
		} else if (msg_is(j, m, "stop_reason")) {
			stop = 1;
			get_id(j, m, "stop_reason", r->stop, sizeof r->stop);
		}
	}
	if (rr < 0)
		return rr;
	/* a stop ends the turn, unless it is the pause of an approval */
	if (stop && strcmp(r->stop, "requires_approval"))
		return LETTA_APP_TURN_COMPLETE;
	if ((rr = hist_pending(r, j, idx, start, end)) != 0)
		return rr < 0 ? rr : LETTA_APP_TURN_WAITING;
	return answer ? LETTA_APP_TURN_COMPLETE : LETTA_APP_TURN_CUT;
}

int letta_app_hist_find(const struct json *j, int messages,
                        const char *client_message_id,
                        struct letta_reply *r, int *batched)
{
	int idx[LIM_LETTA_APP_LIMIT], n = 0, found = -1, start, end;

	letta_reply_init(r);
	if (batched)
		*batched = 0;
	if (json_type(j, messages) != JSON_ARR)
		return ERR_PROTO;
	if (!client_message_id || !*client_message_id)
		return LETTA_APP_TURN_ABSENT;
	for (int m = json_arr_first(j, messages); m >= 0 && found < 0 &&
	     n < LIM_LETTA_APP_LIMIT; m = json_arr_next(j, messages, m)) {
		idx[n] = m;
		if (is_user(j, m) && json_str_eq(j, json_get(j, m, "otid"),
		                                 client_message_id))
			found = n;
		n++;
	}
	if (found < 0)
		return LETTA_APP_TURN_ABSENT;
	/* newest first: what is newer than ours has a smaller index */
	for (start = found - 1; start >= 0 && is_user(j, idx[start]); start--)
		if (batched)
			(*batched)++;
	for (end = start; end >= 0 && !is_user(j, idx[end]); end--)
		;
	return hist_turn(r, j, idx, start, end);
}
