/*
 * letta_rest: "a Letta" (lapi.h) over the v1 REST API (letta-api.md):
 * Letta Cloud and the archived server. The requests and their meaning
 * are letta_msg's; this file makes them through the caller's HTTP and
 * turns each answer into a struct lapi_res. A streamed send's events are
 * read in letta_rest_stream.c.
 */
#include "letta/letta_rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/proto_buf.h"
#include "letta/letta_conv.h"
#include "letta/letta_msg.h"

#define LOOK_MS   60000         /* a history read */
#define RUN_MS    30000         /* a look at runs */
#define CMD_MS    30000         /* !cancel */
#define RESET_MS  60000         /* !reset */

/* ---- calls ---- */

struct rcall *rest_call_new(struct rest *l, int kind, lapi_done done,
                            void *arg)
{
	struct rcall *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->l = l;
	c->kind = kind;
	c->done = done;
	c->arg = arg;
	c->next = l->calls;
	if (l->calls)
		l->calls->prev = c;
	l->calls = c;
	return c;
}

void rest_call_free(struct rcall *c)
{
	if (!c)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->l->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	rest_stream_reset(c);
	free(c->summary);
	free(c->rep);
	free(c);
}

/* The reply of call c, made on first use (it is big; pages are touched
 * only as far as it is filled). NULL on allocation failure. */
struct letta_reply *rest_call_rep(struct rcall *c)
{
	if (!c->rep && (c->rep = malloc(sizeof *c->rep)))
		letta_reply_init(c->rep);
	return c->rep;
}

/* Tells c's owner and frees c. */
void rest_call_end(struct rcall *c, const struct lapi_res *res)
{
	if (c->done)
		c->done(c->arg, res);
	rest_call_free(c);
}

/* Starts c's request; the answer goes to on_done. Returns the handle (c
 * itself), or NULL (c freed). */
void *rest_call_start(struct rcall *c, void *owner, const char *method,
                      const char *path, char *body, size_t len, int total_ms,
                      int idle_ms,
                      int (*on_body)(void *, const char *, size_t),
                      void (*on_done)(void *, int, const char *, size_t,
                                      int))
{
	const struct lapi_http *h = &c->l->http;

	if (!h->call(h->io, owner, method, path, body, len, total_ms, idle_ms,
	             on_body, on_done, c)) {
		rest_call_free(c);
		return NULL;
	}
	return c;
}

/* ---- a send that is not streamed ---- */

/* What a failed send means, as the bridge decides on it. */
void rest_send_failed(struct lapi_res *res, int st, const char *body,
                      size_t len, int err)
{
	res->status = st;
	res->err = err;
	res->fail = letta_msg_fail(st, body, len, res->detail,
	                           sizeof res->detail);
	/* it went out and no answer came (a stall, a drop), or a gateway
	 * gave up on it: it may still run */
	if (st)
		res->ambiguous = st == 502 || st == 504;
	else
		res->ambiguous = err != ERR_REFUSED && err != ERR_DNS &&
		                 err != ERR_TLS;
}

/* 1 when conv names a conversation other than the agent's default. */
static int in_conv(const char *conv)
{
	return conv && conv[0] && strcmp(conv, "default");
}

static void on_send(void *arg, int st, const char *body, size_t len, int err)
{
	struct rcall *c = arg;
	struct lapi_res res = { .status = st };
	struct letta_reply *rep;

	if (st >= 200 && st < 300 && (rep = rest_call_rep(c))) {
		if (letta_reply_parse(body, len, rep))
			res.outcome = LAPI_UNREADABLE;
		else
			res.rep = rep;
	} else if (st >= 200 && st < 300) {
		res.err = ERR_NOMEM;
		res.outcome = LAPI_UNREADABLE;
	} else {
		res.outcome = LAPI_FAILED;
		rest_send_failed(&res, st, body, len, err);
	}
	rest_call_end(c, &res);
}

/* The body of q's send (the question, or the answer to the pending
 * tool call) into *body (malloc'd). Returns 0 or an err code. */
static int send_body(const struct lapi_ask *q, char **body, size_t *len)
{
	struct letta_send s = {
		.agent_id = q->agent_id, .text = q->text,
		.text_len = q->text_len, .name = q->name,
		.sender_id = q->sender_id, .otid = q->cmid,
		.max_steps = q->max_steps, .stream = q->stream,
		.conv = in_conv(q->conv),
	};
	char *why;
	int e;

	if (!q->approval)
		return letta_msg_body_img(&s, q->img, body, len);
	if (!(why = malloc(q->text_len + 1)))
		return ERR_NOMEM;
	memcpy(why, q->text, q->text_len);
	why[q->text_len] = '\0';
	e = letta_msg_approval_body(&s, q->approval == LAPI_ALLOW, q->call_id,
	                            why, body, len);
	free(why);
	return e;
}

static void *op_send(struct lapi *base, void *owner, const struct lapi_ask *q,
                     const struct lapi_events *ev, lapi_done done, void *arg,
                     int *err)
{
	struct rest *l = (struct rest *)base;
	struct rcall *c;
	char path[256], *body;
	size_t len;
	void *h;

	if (in_conv(q->conv))
		*err = letta_conv_path(path, sizeof path, q->conv, "/messages");
	else
		*err = q->stream ? letta_msg_stream_path(path, sizeof path,
		                                         q->agent_id)
		                 : letta_msg_path(path, sizeof path, q->agent_id);
	if (*err || (*err = send_body(q, &body, &len)))
		return NULL;
	*err = ERR_AGAIN;
	if (!(c = rest_call_new(l, RC_SEND, done, arg))) {
		free(body);
		return NULL;
	}
	if (q->stream)
		h = rest_stream_start(c, owner, path, body, len, q, ev);
	else
		h = rest_call_start(c, owner, "POST", path, body, len,
		                    (int)q->timeout_ms, 0, NULL, on_send);
	if (h)
		*err = 0;
	return h;
}

/* ---- what the history says ---- */

static void on_look(void *arg, int st, const char *body, size_t len,
                    int err)
{
	struct rcall *c = arg;
	struct lapi_res res = { .status = st, .err = err };
	struct letta_reply *rep = st == 200 ? rest_call_rep(c) : NULL;

	res.found = -1;
	if (rep && c->kind == RC_PENDING)
		res.found = letta_hist_pending(body, len, rep);
	else if (rep && c->approval)
		res.found = letta_hist_find_approval(body, len, c->key, rep);
	else if (rep)
		res.found = letta_hist_find(body, len, c->key, rep);
	if (res.found < 0) {
		res.found = -1;
		snprintf(res.detail, sizeof res.detail, "%s", st == 404 ?
		         "agent not found" : "history unreadable");
	}
	res.rep = res.found == 1 ? rep : NULL;
	rest_call_end(c, &res);
}

/* The newest messages of at's conversation: the agent's default one,
 * or another (a thread's). */
static int hist_path(char *path, size_t cap, const struct lapi_at *at)
{
	char tail[64];

	if (!in_conv(at->conv))
		return letta_msg_hist_path(path, cap, at->agent_id,
		                           LIM_BRIDGE_HISTORY);
	snprintf(tail, sizeof tail, "/messages?order=desc&limit=%d",
	         LIM_BRIDGE_HISTORY);
	return letta_conv_path(path, cap, at->conv, tail);
}

/* Reads the history of at's conversation for key (an otid, or the call
 * id of an approval; "" for RC_PENDING). */
static void *start_look(struct rest *l, void *owner, int kind,
                        const struct lapi_at *at, const char *key,
                        int approval, lapi_done done, void *arg)
{
	char path[256];
	struct rcall *c;

	if (!key || strlen(key) >= sizeof c->key ||
	    hist_path(path, sizeof path, at) ||
	    !(c = rest_call_new(l, kind, done, arg)))
		return NULL;
	snprintf(c->key, sizeof c->key, "%s", key);
	c->approval = approval;
	return rest_call_start(c, owner, "GET", path, NULL, 0, LOOK_MS, 0,
	                       NULL, on_look);
}

static void *op_look(struct lapi *base, void *owner, const struct lapi_ask *q,
                     lapi_done done, void *arg)
{
	struct lapi_at at = { q->agent_id, q->conv };

	return start_look((struct rest *)base, owner, RC_LOOK, &at,
	                  q->approval ? q->call_id : q->cmid, q->approval,
	                  done, arg);
}

static void *op_pending(struct lapi *base, void *owner,
                        const struct lapi_at *at, lapi_done done, void *arg)
{
	return start_look((struct rest *)base, owner, RC_PENDING, at, "", 0,
	                  done, arg);
}

/* ---- runs ---- */

static void on_going(void *arg, int st, const char *body, size_t len,
                     int err)
{
	struct rcall *c = arg;
	struct lapi_res res = { .status = st, .err = err };

	/* anything but "one is going" (over, unreadable, a server without
	 * runs) lets the history tell */
	res.going = st == 200 && letta_runs_going(body, len) == 1;
	rest_call_end(c, &res);
}

static void *op_going(struct lapi *base, void *owner,
                      const struct lapi_at *at, const char *run_id,
                      lapi_done done, void *arg)
{
	char path[200];
	struct proto_buf p;
	struct rcall *c;

	if (run_id) {
		proto_buf_init(&p, path, sizeof path);
		proto_buf_str(&p, "/v1/runs/");
		proto_buf_urlenc(&p, run_id);
		if (p.err)
			return NULL;
	} else if (letta_runs_active_path(path, sizeof path, at->agent_id)) {
		return NULL;
	}
	if (!(c = rest_call_new((struct rest *)base, RC_GOING, done, arg)))
		return NULL;
	return rest_call_start(c, owner, "GET", path, NULL, 0, RUN_MS, 0, NULL,
	                       on_going);
}

/* ---- commands ---- */

void rest_on_cmd(void *arg, int st, const char *body, size_t len, int err)
{
	struct rcall *c = arg;
	struct lapi_res res = { .status = st, .err = err };

	snprintf(res.detail, sizeof res.detail, "%.*s",
	         (int)(len < 100 ? len : 100), body ? body : "");
	rest_call_end(c, &res);
}

/* method /v1/agents/<id>/messages with its last `strip` bytes replaced
 * by tail, and body json. */
static void *agent_cmd(struct rest *l, void *owner, const char *agent_id,
                       const char *method, size_t strip, const char *tail,
                       const char *json, int ms, lapi_done done, void *arg)
{
	char path[256], *body;
	struct rcall *c;
	size_t n;

	if (letta_msg_path(path, sizeof path, agent_id) ||
	    (n = strlen(path)) < strip ||
	    n - strip + strlen(tail) + 1 > sizeof path)
		return NULL;
	memcpy(path + n - strip, tail, strlen(tail) + 1);
	if (!(body = strdup(json)))
		return NULL;
	if (!(c = rest_call_new(l, RC_CMD, done, arg))) {
		free(body);
		return NULL;
	}
	return rest_call_start(c, owner, method, path, body, strlen(body), ms,
	                       0, NULL, rest_on_cmd);
}

static void *op_cancel(struct lapi *base, void *owner,
                       const struct lapi_at *at, lapi_done done, void *arg)
{
	if (in_conv(at->conv))
		return rest_conv_cancel((struct rest *)base, owner, at, done,
		                        arg);
	return agent_cmd((struct rest *)base, owner, at->agent_id, "POST", 0,
	                 "/cancel", "{}", CMD_MS, done, arg);
}

/* PATCH /v1/agents/<id>/reset-messages: the room keeps the agent's
 * default conversation (key is for a Letta that makes a new one; a
 * thread starts over in a new conversation, lapi's conv). */
static void *op_reset(struct lapi *base, void *owner,
                      const struct lapi_at *at, const char *key,
                      lapi_done done, void *arg)
{
	(void)key;
	return agent_cmd((struct rest *)base, owner, at->agent_id, "PATCH",
	                 strlen("/messages"), "/reset-messages",
	                 "{\"add_default_initial_messages\":false}", RESET_MS,
	                 done, arg);
}

/* ---- the object ---- */

static void op_free(struct lapi *base)
{
	struct rest *l = (struct rest *)base;

	if (!l)
		return;
	/* calls the caller's HTTP dropped when it stopped */
	while (l->calls)
		rest_call_free(l->calls);
	free(l);
}

/* The caller's HTTP cancels its requests itself when it stops; their
 * calls are freed with the object. */
static void op_stop(struct lapi *base)
{
	(void)base;
}

static const struct lapi_ops rest_ops = {
	.send = op_send, .look = op_look, .pending = op_pending,
	.going = op_going, .cancel = op_cancel, .reset = op_reset,
	.conv = rest_conv_find, .stop = op_stop, .free = op_free,
};

struct lapi *lapi_rest_new(const struct lapi_http *http)
{
	struct rest *l = calloc(1, sizeof *l);

	if (!l)
		return NULL;
	l->base.ops = &rest_ops;
	l->http = *http;
	return &l->base;
}
