/*
 * letta_appsrv: "a Letta" (lapi.h) over the App Server of Letta Code: one
 * WebSocket carries every agent's runtime (its default conversation),
 * started on first use in the configured tool mode (strict unless the
 * operator chose otherwise: the tools run on the Letta host).
 *
 * An operation waits for the connection and its runtime, then sends one
 * command; its answer, or the turn's news, comes in letta_appsrv_frames.c.
 * When the connection drops, every operation that was sent ends (a send
 * as broken off: the bridge reads the history before it asks again), the
 * runtimes are forgotten (the server forgets this connection's
 * subscriptions and pending approvals too) and the connection is made
 * again after a backoff with jitter.
 *
 * A send goes under a client message id of its own, the question's id
 * and a random suffix: a server that still remembers an id drops a
 * resend of it silently, and a look finds any try by the prefix.
 */
#include "letta/letta_appsrv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/err.h"
#include "core/img.h"
#include "core/log.h"
#include "deps.h"
#include "letta/letta_app_conv.h"
#include "letta/letta_conv.h"
#include "letta/letta_msg.h"
#include "net/ws_conn.h"
#include "store/secret.h"

#define OUT_CAP       (2 * LIM_BRIDGE_TEXT + 4096)  /* a command: the
                                      * text escaped, with room */
#define OP_MS         60000          /* a look, a sync, a cancel */
#define RETRY_MS      1000           /* first wait before reconnecting */
#define RETRY_MAX_MS  30000
#define HIST_PAGE     100            /* messages read back for a look */
#define FULL_RETRY_MS 20             /* the send queue was full */
#define GO_ASKING     1              /* a question while a tool call
                                      * waits for approval */

/* ---- runtimes ---- */

struct art *appsrv_rt(struct appsrv *s, const char *agent,
                      const char *conv, int make)
{
	struct art *rt;

	for (rt = s->rts; rt; rt = rt->next)
		if (!strcmp(rt->agent, agent) && !strcmp(rt->conv, conv))
			return rt;
	if (!make || !(rt = calloc(1, sizeof *rt)))
		return NULL;
	snprintf(rt->agent, sizeof rt->agent, "%s", agent);
	snprintf(rt->conv, sizeof rt->conv, "%s", conv);
	rt->next = s->rts;
	s->rts = rt;
	return rt;
}

static void rt_forget_all(struct appsrv *s)
{
	for (struct art *rt = s->rts; rt; rt = rt->next) {
		/* the server forgets this connection's waiting tool calls:
		 * the room is told, never left waiting */
		if (rt->asking && s->lapsed && !s->stopped)
			s->lapsed(s->hook_arg, rt->agent, rt->tool);
		rt->state = RT_NONE;
		rt->turn = NULL;
		rt->idle = 0;
		rt->asking = 0;
		rt->delta[0] = rt->sent[0] = rt->finished[0] = '\0';
	}
}

static void pump_cb(void *arg)
{
	appsrv_pump(arg);
}

/* ---- operations ---- */

struct letta_reply *appsrv_rep(struct aop *o)
{
	if (!o->rep && (o->rep = malloc(sizeof *o->rep)))
		letta_reply_init(o->rep);
	return o->rep;
}

static void op_unlink(struct aop *o)
{
	struct appsrv *s = o->s;

	if (o->prev)
		o->prev->next = o->next;
	else
		s->ops = o->next;
	if (o->next)
		o->next->prev = o->prev;
	else
		s->ops_tail = o->prev;
	for (struct art *rt = s->rts; rt; rt = rt->next)
		if (rt->turn == o)
			rt->turn = NULL;
}

static void op_free(struct aop *o)
{
	loop_timer_cancel(o->s->loop, &o->t_dead);
	op_unlink(o);
	free(o->text);
	free(o->frame);
	free(o->rep);
	free(o);
}

/* Tells o's owner and frees o. */
void appsrv_end(struct aop *o, const struct lapi_res *res)
{
	lapi_done done = o->done;
	void *arg = o->arg;

	/* unlinked first: the owner may start the next operation */
	loop_timer_cancel(o->s->loop, &o->t_dead);
	op_unlink(o);
	o->prev = o->next = NULL;
	if (done && !o->s->stopped)
		done(arg, res);
	free(o->text);
	free(o->rep);
	free(o);
}

/* A send the server did not take (fail: LETTA_F_*, why: its words). */
void appsrv_refuse(struct aop *o, int fail, const char *why)
{
	struct lapi_res res = { .outcome = LAPI_FAILED, .fail = fail };

	snprintf(res.detail, sizeof res.detail, "%s", why);
	appsrv_end(o, &res);
}

/* The end of o for a reason other than an answer: `err` on the way. */
static void op_fail(struct aop *o, int err, const char *why)
{
	struct lapi_res res = { .err = err };

	snprintf(res.detail, sizeof res.detail, "%s", why);
	res.found = -1;
	if (o->kind == OP_SEND && o->stage == ST_SENT) {
		/* the history tells; a turn still runs only when the
		 * connection is alive (the server cancels the turn of a
		 * connection that goes away) */
		res.outcome = LAPI_BROKEN;
		res.ambiguous = err == ERR_TIMEOUT;
	} else if (o->kind == OP_SEND) {
		res.outcome = LAPI_FAILED;
		res.fail = LETTA_F_RETRY;
	}
	appsrv_end(o, &res);
}

static void on_dead(void *arg)
{
	struct aop *o = arg;

	LOG_WARN("letta", "event=app_timeout agent=%s op=%d stage=%d", o->agent,
	         o->kind, o->stage);
	op_fail(o, ERR_TIMEOUT, "the App Server did not answer in time");
}

static struct aop *op_new(struct appsrv *s, int kind,
                          const struct lapi_at *at, int64_t ms,
                          lapi_done done, void *arg)
{
	const char *conv = at->conv && at->conv[0] ? at->conv : "default";
	struct aop *o;

	if (s->stopped || !ident_agent_id_valid(at->agent_id) ||
	    !letta_conv_id_ok(conv) || !(o = calloc(1, sizeof *o)))
		return NULL;
	o->s = s;
	o->kind = kind;
	o->done = done;
	o->arg = arg;
	snprintf(o->agent, sizeof o->agent, "%s", at->agent_id);
	snprintf(o->conv, sizeof o->conv, "%s", conv);
	snprintf(o->rid, sizeof o->rid, "r%llu",
	         (unsigned long long)++s->seq);
	loop_timer_init(&o->t_dead, on_dead, o);
	loop_timer_arm(s->loop, &o->t_dead,
	               loop_now(s->loop) + (uint64_t)(ms > 0 ? ms : OP_MS));
	o->prev = s->ops_tail;
	if (s->ops_tail)
		s->ops_tail->next = o;
	else
		s->ops = o;
	s->ops_tail = o;
	loop_defer(s->loop, &s->d_pump, pump_cb, s);
	return o;
}

/* ---- the connection ---- */

static void connect_now(struct appsrv *s);

static void on_retry(void *arg)
{
	connect_now(arg);
}

static void on_open(void *arg)
{
	struct appsrv *s = arg;

	LOG_INFO("letta", "event=app_connected tries=%d", s->tries);
	s->state = AS_READY;
	s->tries = 0;
	appsrv_pump(s);
}

static void on_message(void *arg, const char *text, size_t len)
{
	appsrv_on_message(arg, text, len);
}

/* Every operation that was sent ends, but a reset, which is asked again;
 * those still waiting wait for the next connection (their deadlines
 * still run). */
static void fail_sent(struct appsrv *s, const char *why)
{
	struct aop *o = s->ops, *next;

	struct art *rt;

	for (; o; o = next) {
		next = o->next;
		if (o->stage != ST_SENT)
			continue;
		if (o->kind == OP_RESET) {
			/* asked again over the next connection: its search
			 * finds what the lost one may have made */
			o->stage = ST_WAIT;
			o->phase = RESET_FIND;
			continue;
		}
		if (o->kind == OP_SEND &&
		    (rt = appsrv_rt(s, o->agent, o->conv, 0)))
			snprintf(rt->cut, sizeof rt->cut, "%s", o->cmid);
		op_fail(o, ERR_CLOSED, why);
	}
}

static void on_close(void *arg, int code, const char *why)
{
	struct appsrv *s = arg;
	int64_t wait = RETRY_MS;
	uint8_t rnd[2] = { 0, 0 };

	LOG_WARN("letta", "event=app_closed code=%d why=\"%.120s\" tries=%d",
	         code, why, s->tries);
	ws_conn_free(s->ws);
	s->ws = NULL;
	s->state = AS_DOWN;
	rt_forget_all(s);
	fail_sent(s, "the connection to the App Server was lost");
	for (int i = 0; i < s->tries && wait < RETRY_MAX_MS; i++)
		wait *= 2;
	if (wait > RETRY_MAX_MS)
		wait = RETRY_MAX_MS;
	s->tries++;
	/* +-25 %: not in step with other clients after a server restart */
	secret_random(rnd, sizeof rnd);
	wait = wait * 3 / 4 + (wait / 2) * (rnd[0] << 8 | rnd[1]) / 65535;
	if (!s->stopped && s->ops)
		loop_timer_arm(s->loop, &s->t_retry,
		               loop_now(s->loop) + (uint64_t)wait);
}

static void connect_now(struct appsrv *s)
{
	struct ws_conf c = {
		.url = s->url, .bearer = s->bearer[0] ? s->bearer : NULL,
		.on_open = on_open, .on_message = on_message,
		.on_close = on_close, .arg = s,
	};
	int e;

	if (s->img_max) {
		/* a question with a picture is one frame, its base64 in it;
		 * the history (a look) holds pictures as base64 too. The
		 * buffers' pages are used only as far as a message goes and
		 * given back after a big one (ws_conn). */
		struct img big = { "image/webp", NULL, s->img_max };

		c.sendq_cap = LIM_WS_SENDQ + letta_app_input_message_cap(
		              LIM_BRIDGE_TEXT, &big);
		c.msg_cap = LIM_WS_MSG + 2 * b64_len(s->img_max);
	}
	if (s->stopped || s->state != AS_DOWN)
		return;
	e = ws_conn_open(&s->ws, s->loop, s->dns, s->tls, &c);
	if (e) {
		LOG_WARN("letta", "event=app_connect_failed err=%s", err_str(e));
		s->ws = NULL;
		on_close(s, 1006, err_str(e));
		return;
	}
	s->state = AS_CONNECTING;
}

/* Sends the command in s->out (n bytes, or an err code from its
 * writer). Returns 0 or an err code. */
static int put(struct appsrv *s, int n)
{
	int e;

	if (n < 0)
		return n;
	e = ws_conn_send(s->ws, s->out, (size_t)n);
	if (e == ERR_AGAIN)
		s->full = 1;    /* the queue is full: appsrv_pump comes back */
	return e;
}

/* Sends o's own frame (a question with a picture); the send queue
 * keeps a copy, so the frame goes at once. */
static int put_frame(struct appsrv *s, struct aop *o)
{
	int e = ws_conn_send(s->ws, o->frame, o->frame_len);

	if (e == ERR_AGAIN)
		s->full = 1;
	if (!e) {
		free(o->frame);
		o->frame = NULL;
	}
	return e;
}

/* ---- the pump: what can go now ---- */

static void rt_start(struct appsrv *s, struct art *rt)
{
	struct letta_app_runtime r = { rt->agent, rt->conv };

	snprintf(rt->rid, sizeof rt->rid, "r%llu",
	         (unsigned long long)++s->seq);
	if (put(s, letta_app_runtime_start(s->out, OUT_CAP, rt->rid, &r,
	                                   s->mode, LETTAMX_VERSION)))
		return;         /* the queue is full: the next pump */
	rt->state = RT_STARTING;
}

static int send_turn(struct appsrv *s, struct aop *o, struct art *rt)
{
	struct letta_app_runtime r = { o->agent, o->conv };
	char perm[LIM_LETTA_APP_ID + 8];

	if (rt->turn)
		return ERR_AGAIN;       /* one turn at a time */
	/* a question waits until the conversation is idle: after a restart
	 * the turn our last connection left is still being cancelled */
	if (!o->approval && !rt->idle)
		return ERR_AGAIN;
	if (!o->approval && o->frame)
		return rt->asking ? GO_ASKING : put_frame(s, o);
	if (!o->approval)
		return rt->asking ? GO_ASKING : put(s, letta_app_input_message(
		                  s->out, OUT_CAP, o->rid, &r, o->text,
		                  o->text_len, o->cmid));
	rt->asking = 0;
	snprintf(perm, sizeof perm, "perm-%s", o->call_id);
	/* a deny needs words for the agent; an allow may carry some */
	if (o->approval == LAPI_ALLOW)
		return put(s, letta_app_input_approval(s->out, OUT_CAP, o->rid,
		                                       &r, perm, 1, o->text));
	return put(s, letta_app_input_approval(s->out, OUT_CAP, o->rid, &r,
	                                       perm, 0, o->text_len ? o->text
	                                       : "Denied from the Matrix room."));
}

/* Sends o's command. Returns 0 (sent), ERR_AGAIN (not now) or an err
 * code (o cannot go). */
static int op_go(struct appsrv *s, struct aop *o, struct art *rt)
{
	struct letta_app_runtime r = { o->agent, o->conv };
	int e;

	switch (o->kind) {
	case OP_RESET:
		return put(s, o->phase == RESET_FIND ?
		           letta_app_conv_list(s->out, OUT_CAP, o->rid, o->agent,
		                               o->text) :
		           letta_app_conv_create(s->out, OUT_CAP, o->rid,
		                                 o->agent, o->text));
	case OP_SEND:
		e = send_turn(s, o, rt);
		if (!e) {
			rt->turn = o;
			rt->delta[0] = '\0';
			snprintf(rt->sent, sizeof rt->sent, "%s", o->cmid);
		}
		return e;
	case OP_LOOK:
		return put(s, letta_app_messages_list(s->out, OUT_CAP, o->rid, &r,
		                                      HIST_PAGE, NULL));
	case OP_GOING:
		return put(s, letta_app_sync(s->out, OUT_CAP, o->rid, &r));
	default:
		return put(s, letta_app_abort(s->out, OUT_CAP, o->rid, &r));
	}
}

/* o's runtime, started if need be: NULL while it is not ready (or o
 * failed; `quiet`: o is left waiting, nothing is called back). */
static struct art *ready_rt(struct appsrv *s, struct aop *o, int quiet)
{
	struct art *rt = appsrv_rt(s, o->agent, o->conv, 1);

	if (!rt) {
		if (!quiet)
			op_fail(o, ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (rt->state == RT_NONE)
		rt_start(s, rt);
	return rt->state == RT_READY ? rt : NULL;
}

/* Puts what can go now into the send queue. `quiet`: called from inside
 * an operation's call, where nothing may be called back: what would fail
 * or be refused waits for the deferred pump. */
static void pump(struct appsrv *s, int quiet)
{
	struct aop *o, *next;
	struct art *rt = NULL;
	int e;

	if (s->stopped)
		return;
	if (!quiet && s->state == AS_DOWN && s->ops &&
	    !loop_timer_armed(&s->t_retry))
		connect_now(s);
	if (s->state != AS_READY)
		return;
	s->full = 0;
	for (o = s->ops; o; o = next) {
		next = o->next;
		if (o->stage != ST_WAIT)
			continue;
		/* a reset talks about conversations, not in one */
		if (o->kind != OP_RESET && !(rt = ready_rt(s, o, quiet)))
			continue;
		e = op_go(s, o, rt);
		if (!e)
			o->stage = ST_SENT;
		else if (quiet)
			continue;
		else if (e == GO_ASKING)
			appsrv_refuse(o, LETTA_F_APPROVAL, "a tool call waits for "
			              "approval");
		else if (e != ERR_AGAIN)
			op_fail(o, e, "the command could not be sent");
	}
	/* ws_conn says nothing when its queue drains: look again soon */
	if (s->full && !loop_timer_armed(&s->t_full))
		loop_timer_arm(s->loop, &s->t_full,
		               loop_now(s->loop) + FULL_RETRY_MS);
}

void appsrv_pump(struct appsrv *s)
{
	pump(s, 0);
}

/* ---- the interface ---- */

/* This try's client message id: the question's, '-', 8 hex digits. */
static int try_id(char *out, size_t cap, const char *cmid)
{
	uint8_t r[4];

	if (secret_random(r, sizeof r))
		return ERR_IO;
	return (size_t)snprintf(out, cap, "%s-%02x%02x%02x%02x", cmid, r[0],
	                        r[1], r[2], r[3]) < cap ? 0 : ERR_TOOBIG;
}

/* A question with picture im: its frame now, into o->frame. */
static int img_frame(struct appsrv *s, struct aop *o, const struct img *im)
{
	struct letta_app_runtime r = { o->agent, o->conv };
	size_t cap = letta_app_input_message_cap(o->text_len, im);
	int n;

	if (im->n > s->img_max)
		return ERR_TOOBIG;
	if (!(o->frame = malloc(cap)))
		return ERR_AGAIN;
	n = letta_app_input_message_img(o->frame, cap, o->rid, &r, o->text,
	                                o->text_len, im, o->cmid);
	if (n < 0)
		return n;
	o->frame_len = (size_t)n;
	return 0;
}

static void *op_send(struct lapi *base, void *owner, const struct lapi_ask *q,
                     const struct lapi_events *ev, lapi_done done, void *arg,
                     int *err)
{
	struct appsrv *s = (struct appsrv *)base;
	struct aop *o;

	(void)owner;
	*err = ERR_INVAL;
	if (!q->text_len && !q->approval)
		return NULL;
	if (q->approval && (!q->call_id || !q->call_id[0] ||
	                    strlen(q->call_id) >= sizeof o->call_id))
		return NULL;
	*err = ERR_AGAIN;
	if (!(o = op_new(s, OP_SEND, &(struct lapi_at){ q->agent_id, q->conv },
	                 q->timeout_ms, done, arg)))
		return NULL;
	o->ev = ev;
	o->stream = q->stream && ev;
	o->approval = q->approval;
	if (q->approval)
		snprintf(o->call_id, sizeof o->call_id, "%s", q->call_id);
	if ((*err = try_id(o->cmid, sizeof o->cmid, q->cmid ? q->cmid : "")) ||
	    !(o->text = malloc(q->text_len + 1))) {
		*err = *err ? *err : ERR_AGAIN;
		op_free(o);
		return NULL;
	}
	memcpy(o->text, q->text, q->text_len);
	o->text[q->text_len] = '\0';
	o->text_len = q->text_len;
	if (q->img && !q->approval && (*err = img_frame(s, o, q->img))) {
		op_free(o);
		return NULL;
	}
	*err = 0;
	/* Into the send queue now: it leaves after the next poll, after this
	 * pass's commit, as an HTTP request would. The pump op_new deferred
	 * runs a pass later when the caller is itself a deferred call (the
	 * bridge's turns are): one more poll on each question's way. */
	pump(s, 1);
	return o;
}

static void *op_look(struct lapi *base, void *owner, const struct lapi_ask *q,
                     lapi_done done, void *arg)
{
	struct aop *o;
	const char *key = q->approval ? q->call_id : q->cmid;

	(void)owner;
	if (!key || strlen(key) >= sizeof o->cmid ||
	    !(o = op_new((struct appsrv *)base, OP_LOOK,
	                 &(struct lapi_at){ q->agent_id, q->conv }, 0, done,
	                 arg)))
		return NULL;
	snprintf(o->cmid, sizeof o->cmid, "%s", key);
	o->approval = q->approval;
	return o;
}

/* An operation answered without asking the server, from the loop. */
static void on_now(void *arg)
{
	struct aop *o = arg;
	struct lapi_res res = { .found = 0 };

	appsrv_end(o, &res);
}

static void *answer_now(struct appsrv *s, int kind, const struct lapi_at *at,
                        lapi_done done, void *arg)
{
	struct aop *o = op_new(s, kind, at, 0, done, arg);

	if (!o)
		return NULL;
	o->stage = ST_SENT;     /* never sent */
	loop_timer_cancel(s->loop, &o->t_dead);
	loop_timer_init(&o->t_dead, on_now, o);
	loop_timer_arm(s->loop, &o->t_dead, loop_now(s->loop));
	return o;
}

/* The server keeps a waiting tool call with the connection that saw it
 * and tells it then (control_request): none waits for a new one. */
static void *op_pending(struct lapi *base, void *owner,
                        const struct lapi_at *at, lapi_done done, void *arg)
{
	(void)owner;
	return answer_now((struct appsrv *)base, OP_NONE, at, done, arg);
}

static void *op_going(struct lapi *base, void *owner,
                      const struct lapi_at *at, const char *run_id,
                      lapi_done done, void *arg)
{
	(void)owner;
	(void)run_id;   /* one turn runs in a conversation at a time */
	return op_new((struct appsrv *)base, OP_GOING, at, 0, done, arg);
}

static void *op_cancel(struct lapi *base, void *owner,
                       const struct lapi_at *at, lapi_done done, void *arg)
{
	(void)owner;
	return op_new((struct appsrv *)base, OP_CANCEL, at, 0, done, arg);
}

/* The server keeps a conversation's messages for good: starting over is
 * a new conversation, summarised by key so that a second try finds it
 * (letta_appsrv_frames.c reads the answers). */
static void *op_reset(struct lapi *base, void *owner,
                      const struct lapi_at *at, const char *key,
                      lapi_done done, void *arg)
{
	size_t n = key ? strlen(key) : 0;
	struct aop *o;

	(void)owner;
	if (!n || n >= LETTA_CONV_SUMMARY ||
	    !(o = op_new((struct appsrv *)base, OP_RESET, at, 0, done, arg)))
		return NULL;
	if (!(o->text = strdup(key))) {
		op_free(o);
		return NULL;
	}
	o->phase = RESET_FIND;
	return o;
}

static void drop_all(struct appsrv *s)
{
	while (s->ops)
		op_free(s->ops);
}

static void op_stop(struct lapi *base)
{
	struct appsrv *s = (struct appsrv *)base;

	s->stopped = 1;
	loop_timer_cancel(s->loop, &s->t_retry);
	loop_timer_cancel(s->loop, &s->t_full);
	loop_defer_cancel(s->loop, &s->d_pump);
	drop_all(s);
	if (s->ws)
		ws_conn_close(s->ws, 1001, "lettamx stops");
}

static void op_destroy(struct lapi *base)
{
	struct appsrv *s = (struct appsrv *)base;

	if (!s)
		return;
	s->stopped = 1;
	loop_timer_cancel(s->loop, &s->t_retry);
	loop_timer_cancel(s->loop, &s->t_full);
	loop_defer_cancel(s->loop, &s->d_pump);
	drop_all(s);
	ws_conn_free(s->ws);
	while (s->rts) {
		struct art *rt = s->rts;

		s->rts = rt->next;
		free(rt);
	}
	json_free(&s->j);
	free(s->f);
	free(s->out);
	memset(s->bearer, 0, sizeof s->bearer);
	free(s);
}

static const struct lapi_ops app_ops = {
	.send = op_send, .look = op_look, .pending = op_pending,
	.going = op_going, .cancel = op_cancel, .reset = op_reset,
	/* a thread's conversation is found or made as a reset's is */
	.conv = op_reset, .stop = op_stop, .free = op_destroy,
};

struct lapi *lapi_app_new(const struct lapi_app_conf *c)
{
	struct appsrv *s;

	if (!c->url || strlen(c->url) >= sizeof s->url ||
	    (c->bearer && strlen(c->bearer) >= sizeof s->bearer) ||
	    !c->mode || strlen(c->mode) >= sizeof s->mode ||
	    !(s = calloc(1, sizeof *s)))
		return NULL;
	s->base.ops = &app_ops;
	s->loop = c->loop;
	s->dns = c->dns;
	s->tls = c->tls;
	snprintf(s->url, sizeof s->url, "%s", c->url);
	snprintf(s->bearer, sizeof s->bearer, "%s", c->bearer ? c->bearer : "");
	snprintf(s->mode, sizeof s->mode, "%s", c->mode);
	s->lapsed = c->lapsed;
	s->hook_arg = c->arg;
	s->img_max = c->img_max;
	loop_timer_init(&s->t_retry, on_retry, s);
	loop_timer_init(&s->t_full, pump_cb, s);
	json_init(&s->j);
	if (!(s->f = malloc(sizeof *s->f)) || !(s->out = malloc(OUT_CAP))) {
		op_destroy(&s->base);
		return NULL;
	}
	return &s->base;
}
