/*
 * letta_stream: one streamed chunk of a Letta answer (see letta_stream.h).
 */
#include "letta/letta_stream.h"

#include <string.h>

#include "core/err.h"

struct pool {
	char *buf;
	size_t cap, len;
	int err;
};

static const char *const stops[] = {
	[LETTA_STOP_END_TURN] = "end_turn",
	[LETTA_STOP_MAX_STEPS] = "max_steps",
	[LETTA_STOP_TOOL_RULE] = "tool_rule",
	[LETTA_STOP_REQUIRES_APPROVAL] = "requires_approval",
	[LETTA_STOP_ERROR] = "error",
	[LETTA_STOP_LLM_API_ERROR] = "llm_api_error",
	[LETTA_STOP_INVALID_LLM_RESPONSE] = "invalid_llm_response",
	[LETTA_STOP_INVALID_TOOL_CALL] = "invalid_tool_call",
	[LETTA_STOP_NO_TOOL_CALL] = "no_tool_call",
	[LETTA_STOP_MAX_TOKENS_EXCEEDED] = "max_tokens_exceeded",
	[LETTA_STOP_CONTEXT_WINDOW_OVERFLOW] =
		"context_window_overflow_in_system_prompt",
	[LETTA_STOP_INSUFFICIENT_CREDITS] = "insufficient_credits",
	[LETTA_STOP_CANCELLED] = "cancelled",
};

enum letta_stop letta_stop_from(const char *s)
{
	for (size_t i = 1; s && i < sizeof stops / sizeof stops[0]; i++)
		if (stops[i] && strcmp(stops[i], s) == 0)
			return (enum letta_stop)i;
	return LETTA_STOP_UNKNOWN;
}

bool letta_stop_failed(enum letta_stop s)
{
	return s >= LETTA_STOP_ERROR && s <= LETTA_STOP_INSUFFICIENT_CREDITS;
}

/* ---- strings into the pool ---- */

/* Appends string v (unescaped) at the end of the pool, NUL-terminated,
 * without counting the NUL, so several appends join. */
static void pool_add(struct pool *p, const struct json *j, int v)
{
	size_t n;
	int r;

	if (p->err)
		return;
	if (p->len >= p->cap) {
		p->err = ERR_TOOBIG;
		return;
	}
	r = json_strn(j, v, p->buf + p->len, p->cap - p->len, &n);
	if (r < 0) {
		p->err = r;
		return;
	}
	p->len += n;
}

/* Starts a string in the pool; returns where it begins. */
static const char *pool_begin(struct pool *p, size_t *mark)
{
	*mark = p->len;
	if (p->len < p->cap)
		p->buf[p->len] = '\0';
	return p->len < p->cap ? p->buf + p->len : "";
}

/* Ends the string started at mark: the NUL is kept. */
static void pool_end(struct pool *p, size_t mark, size_t *n)
{
	if (n)
		*n = p->err ? 0 : p->len - mark;
	if (!p->err && p->len < p->cap)
		p->len++;             /* keep the NUL */
	else if (!p->err)
		p->err = ERR_TOOBIG;
}

/* String member key of o into the pool; "" when absent or null; an error
 * when present with another type. */
static const char *pool_member(struct pool *p, const struct json *j, int o,
                               const char *key, size_t *n)
{
	int v = json_get(j, o, key);
	size_t mark;
	const char *s;

	if (n)
		*n = 0;
	if (v < 0 || json_type(j, v) == JSON_NULL)
		return "";
	if (json_type(j, v) != JSON_STR) {
		if (!p->err)
			p->err = ERR_PROTO;
		return "";
	}
	s = pool_begin(p, &mark);
	pool_add(p, j, v);
	pool_end(p, mark, n);
	return p->err ? "" : s;
}

/* A short id: unescaped, or cut when longer than the field (ids are only
 * compared). */
static void get_id(const struct json *j, int o, const char *key, char *out,
                   size_t cap)
{
	int v = json_get(j, o, key);
	size_t n;

	out[0] = '\0';
	if (v < 0 || json_type(j, v) != JSON_STR)
		return;
	if (json_str(j, v, out, cap) == 0)
		return;
	const char *raw = json_raw(j, v, &n);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, raw, n);
	out[n] = '\0';
}

static int64_t get_int(const struct json *j, int o, const char *key,
                       int64_t dflt)
{
	int64_t v;

	if (json_get_int(j, o, key, INT64_MIN, INT64_MAX, &v) == 0)
		return v;
	return dflt;
}

/* ---- per message type ---- */

static void read_content(struct letta_stream_msg *m, struct pool *p,
                         const struct json *j, int o)
{
	int c = json_get(j, o, "content");
	size_t mark;

	if (c < 0 || json_type(j, c) != JSON_ARR) {
		m->text = pool_member(p, j, o, "content", &m->text_len);
		return;
	}
	m->text = pool_begin(p, &mark);
	for (int e = json_arr_first(j, c); e >= 0; e = json_arr_next(j, c, e)) {
		int t = json_get(j, e, "text");
		if (json_type(j, e) == JSON_OBJ &&
		    json_str_eq(j, json_get(j, e, "type"), "text") &&
		    json_type(j, t) == JSON_STR)
			pool_add(p, j, t);
	}
	pool_end(p, mark, &m->text_len);
}

static void read_tool(struct letta_stream_msg *m, struct pool *p,
                      const struct json *j, int o)
{
	int call = json_get(j, o, "tool_call");
	int calls = json_get(j, o, "tool_calls");
	int a;

	if (json_type(j, calls) == JSON_ARR)
		m->ncalls = (unsigned)json_count(j, calls);
	if (json_type(j, call) != JSON_OBJ && m->ncalls)
		call = json_arr_first(j, calls);
	if (json_type(j, call) != JSON_OBJ)
		return;
	if (!m->ncalls)
		m->ncalls = 1;
	m->tool.name = pool_member(p, j, call, "name", NULL);
	m->tool.call_id = pool_member(p, j, call, "tool_call_id", NULL);
	a = json_get(j, call, "arguments");
	if (json_type(j, a) == JSON_OBJ) {
		/* not the documented string form: keep the JSON as sent */
		size_t n, mark;
		const char *raw = json_raw(j, a, &n);
		m->tool.arguments = pool_begin(p, &mark);
		if (!p->err && n < p->cap - p->len) {
			memcpy(p->buf + p->len, raw, n);
			p->len += n;
			p->buf[p->len] = '\0';
		} else {
			p->err = ERR_TOOBIG;
		}
		pool_end(p, mark, &m->tool.arguments_len);
	} else {
		m->tool.arguments = pool_member(p, j, call, "arguments",
		                                &m->tool.arguments_len);
	}
}

static void read_error(struct letta_stream_msg *m, struct pool *p,
                       const struct json *j, int o)
{
	int e = json_get(j, o, "error");
	int src = json_type(j, e) == JSON_OBJ ? e : o;

	m->kind = LETTA_SK_ERROR;
	get_id(j, src, json_type(j, e) == JSON_OBJ ? "type" : "error_type",
	       m->error_type, sizeof m->error_type);
	if (!m->error_type[0])
		get_id(j, o, "code", m->error_type, sizeof m->error_type);
	m->text = pool_member(p, j, src, "message", &m->text_len);
	if (!m->text_len && json_type(j, e) == JSON_STR)
		m->text = pool_member(p, j, o, "error", &m->text_len);
	if (!m->text_len && json_type(j, json_get(j, src, "detail")) ==
	    JSON_STR)
		m->text = pool_member(p, j, src, "detail", &m->text_len);
}

static const struct {
	const char *type;
	enum letta_stream_kind kind;
} kinds[] = {
	{ "assistant_message", LETTA_SK_ASSISTANT },
	{ "reasoning_message", LETTA_SK_REASONING },
	{ "hidden_reasoning_message", LETTA_SK_HIDDEN_REASONING },
	{ "tool_call_message", LETTA_SK_TOOL_CALL },
	{ "tool_return_message", LETTA_SK_TOOL_RETURN },
	{ "approval_request_message", LETTA_SK_APPROVAL },
	{ "stop_reason", LETTA_SK_STOP },
	{ "usage_statistics", LETTA_SK_USAGE },
	{ "ping", LETTA_SK_PING },
	{ "error_message", LETTA_SK_ERROR },
};

static void read_kind(struct letta_stream_msg *m, struct pool *p,
                      const struct json *j, int o)
{
	switch (m->kind) {
	case LETTA_SK_ASSISTANT:
		read_content(m, p, j, o);
		break;
	case LETTA_SK_REASONING:
		m->text = pool_member(p, j, o, "reasoning", &m->text_len);
		break;
	case LETTA_SK_TOOL_CALL: case LETTA_SK_APPROVAL:
		read_tool(m, p, j, o);
		break;
	case LETTA_SK_TOOL_RETURN:
		m->text = pool_member(p, j, o, "tool_return", &m->text_len);
		m->tool.call_id = pool_member(p, j, o, "tool_call_id", NULL);
		m->tool_ok = json_str_eq(j, json_get(j, o, "status"), "success");
		break;
	case LETTA_SK_STOP:
		get_id(j, o, "stop_reason", m->stop_str, sizeof m->stop_str);
		m->stop = letta_stop_from(m->stop_str);
		break;
	case LETTA_SK_USAGE:
		m->prompt_tokens = get_int(j, o, "prompt_tokens", 0);
		m->completion_tokens = get_int(j, o, "completion_tokens", 0);
		m->total_tokens = get_int(j, o, "total_tokens", 0);
		m->step_count = get_int(j, o, "step_count", 0);
		break;
	case LETTA_SK_ERROR:
		read_error(m, p, j, o);
		break;
	default:
		break;
	}
}

static void clear(struct letta_stream_msg *m)
{
	memset(m, 0, sizeof *m);
	m->seq_id = -1;
	m->text = m->tool.name = m->tool.arguments = m->tool.call_id = "";
}

int letta_stream_parse(struct letta_stream_msg *m, struct json *j,
                       const char *event, const char *data, size_t n,
                       char *buf, size_t cap)
{
	struct pool p = { .buf = buf, .cap = cap };
	int r, mt;

	clear(m);
	if (!buf || cap == 0)
		return ERR_INVAL;
	buf[0] = '\0';
	if (n == 6 && memcmp(data, "[DONE]", 6) == 0) {
		m->kind = LETTA_SK_DONE;
		return 0;
	}
	if ((r = json_parse(j, data, n)) < 0)
		return r;
	if (json_type(j, 0) != JSON_OBJ)
		return ERR_PROTO;
	get_id(j, 0, "id", m->id, sizeof m->id);
	get_id(j, 0, "otid", m->otid, sizeof m->otid);
	get_id(j, 0, "run_id", m->run_id, sizeof m->run_id);
	get_id(j, 0, "step_id", m->step_id, sizeof m->step_id);
	m->seq_id = get_int(j, 0, "seq_id", -1);
	mt = json_get(j, 0, "message_type");
	if (mt >= 0 && json_type(j, mt) != JSON_STR)
		return ERR_PROTO;
	for (size_t i = 0; mt >= 0 && i < sizeof kinds / sizeof kinds[0]; i++)
		if (json_str_eq(j, mt, kinds[i].type))
			m->kind = kinds[i].kind;
	if (event && strcmp(event, "error") == 0)
		m->kind = LETTA_SK_ERROR;
	else if (event && strcmp(event, "cancelled") == 0)
		m->kind = LETTA_SK_CANCELLED;
	else if (mt < 0 && json_get(j, 0, "error") >= 0)
		m->kind = LETTA_SK_ERROR;
	if (m->kind == LETTA_SK_CANCELLED)
		m->text = pool_member(&p, j, 0, "message", &m->text_len);
	else
		read_kind(m, &p, j, 0);
	if (p.err) {
		int e = p.err;
		clear(m);
		return e;
	}
	return 0;
}
