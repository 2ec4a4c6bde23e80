/*
 * bridge_out: step 6, answer out (bridge_int.h has the map): the outbox of
 * each room (answers and notices sent as the agent user, in order, each
 * with the transaction id fixed when it was stored, until the homeserver
 * accepts it), the login of an agent user whose token was lost, and the
 * best-effort typing notices and receipts.
 */
#include "bridge/bridge_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "matrix/matrix.h"
#include "matrix/mx_cred.h"
#include "store/secret.h"

#include <mbedtls/platform_util.h>

#define CS "/_matrix/client/v3"
#define MX_K_REPLY_TO "org.lettamx.reply_to"
#define MX_K_TXN      "org.lettamx.txn"
#define CHECK_LIMIT   50        /* own events read back after a re-login */

/* ---- paths ---- */

static int path_room(char *out, size_t cap, const char *room,
                     const char *rest, const char *id2, const char *tail)
{
	struct proto_buf p;

	proto_buf_init(&p, out, cap);
	proto_buf_str(&p, CS "/rooms/");
	proto_buf_urlenc(&p, room);
	proto_buf_str(&p, rest);
	if (id2)
		proto_buf_urlenc(&p, id2);
	if (tail)
		proto_buf_str(&p, tail);
	return p.err;
}

int bridge_send_path(char *out, size_t cap, const char *room,
                     const char *txn)
{
	return path_room(out, cap, room, "/send/m.room.message/", txn, NULL);
}

/* A small JSON body on the heap. */
static char *small_body(const char *s, size_t *n)
{
	char *b = strdup(s);

	*n = b ? strlen(b) : 0;
	return b;
}

/* ---- best effort ---- */

static void on_best_effort(struct bcall *c, int st, const char *body,
                           size_t len, int64_t ra, int err)
{
	(void)body;
	(void)len;
	(void)ra;
	if (st != 200)
		LOG_DEBUG("bridge", "event=best_effort_failed url=%.100s "
		          "status=%d err=%s", c->url, st, err_str(err));
}

static void typing_send(struct broom *r, const char *token, int on);

/* One typing request per room at a time, so "off" never overtakes "on"
 * (two connections answer in any order); the last wish is sent next. */
static void on_typing(struct bcall *c, int st, const char *body, size_t len,
                      int64_t ra, int err)
{
	struct broom *r = c->room;
	char tok[LIM_STORE_SECRET];
	int on;

	on_best_effort(c, st, body, len, ra, err);
	r->typing_busy = 0;
	if (!r->typing_next)
		return;
	on = r->typing_next - 1;
	r->typing_next = 0;
	if (!bridge_agent_token(r, r->typing_user, tok, sizeof tok))
		typing_send(r, tok, on);
}

static void typing_send(struct broom *r, const char *token, int on)
{
	char path[LIM_PROTO_PATH];
	size_t n;
	char *body = small_body(on ? "{\"typing\":true,\"timeout\":30000}"
	                           : "{\"typing\":false}", &n);

	if (!body || path_room(path, sizeof path, r->id, "/typing/",
	                       r->typing_user, NULL)) {
		free(body);
		return;
	}
	if (bridge_call(r->b, r, "PUT", BASE_HS, path, token, body, n, 30000,
	                on_typing))
		r->typing_busy = 1;
}

void bridge_typing(struct broom *r, const char *user, const char *token,
                   int on)
{
	r = bridge_room_of(r);          /* typing is the room's */
	snprintf(r->typing_user, sizeof r->typing_user, "%s", user);
	if (r->typing_busy) {
		r->typing_next = on + 1;
		return;
	}
	typing_send(r, token, on);
}

void bridge_receipt(struct broom *r, const char *token, const char *event)
{
	char path[LIM_PROTO_PATH];
	size_t n;
	char *body = small_body("{}", &n);

	r = bridge_room_of(r);
	if (!body || path_room(path, sizeof path, r->id, "/receipt/m.read/",
	                       event, NULL)) {
		free(body);
		return;
	}
	bridge_call(r->b, NULL, "POST", BASE_HS, path, token, body, n, 30000,
	            on_best_effort);
}

/* ---- agent logins ---- */

struct tok_ctx {
	const char *user;
	char *out;
	size_t cap;
	struct store_agent a;
	const char *token;              /* to store */
};

static int tok_view(struct store_txn *t, void *arg)
{
	struct tok_ctx *c = arg;
	int e = store_agent_by_user(t, c->user, &c->a);

	if (!e)
		snprintf(c->out, c->cap, "%s", c->a.access_token);
	return e;
}

static int tok_store(struct store_txn *t, void *arg)
{
	struct tok_ctx *c = arg;
	int e = store_agent_by_user(t, c->user, &c->a);

	if (e)
		return e;
	snprintf(c->a.access_token, sizeof c->a.access_token, "%s", c->token);
	return store_agent_put(t, &c->a);
}

static void on_login(struct bcall *c, int st, const char *body, size_t len,
                     int64_t ra, int err)
{
	struct broom *r = c->room;
	struct proto_resp resp = { .status = st, .retry_after_ms = ra,
	                          .body = body, .len = len };
	struct mx_login lg;
	struct mx_error e;
	struct tok_ctx t;
	int64_t d;

	memset(&t, 0, sizeof t);
	(void)err;
	r->login_call = NULL;
	memset(&e, 0, sizeof e);
	if (st == 200 && !mx_login_parse(&resp, &lg, &e) && lg.access_token[0]) {
		t.user = lg.user_id;
		t.token = lg.access_token;
		if (!store_update(r->b->store, tok_store, &t)) {
			LOG_INFO("bridge", "event=agent_logged_in user=%s",
			         lg.user_id);
			/* A new token is a new transaction scope: answers sent
			 * before must be looked for, not sent again. */
			r->out_check = 1;
			bridge_kick(r);
			return;
		}
	}
	if (st)
		mx_error_parse(&resp, &e);
	d = mx_retry_delay_ms(&e, 0);
	LOG_WARN("bridge", "event=agent_login_failed room=%s status=%d "
	         "errcode=%s", r->id, st, e.errcode);
	bridge_arm(r->b, &r->t_login, d > 0 ? d : 30000);
}

static int start_login(struct broom *r, const struct store_agent *a)
{
	char pw[SECRET_PASSWORD_LEN + 1];
	struct proto_req *q = malloc(sizeof *q);
	char *body;
	int e;

	if (!q)
		return ERR_NOMEM;
	e = secret_agent_password(&r->b->a->master, a->agent_id, pw, sizeof pw);
	if (!e)
		e = mx_req_login(q, a->user_id, pw);
	mbedtls_platform_zeroize(pw, sizeof pw);
	if (e || !(body = malloc(q->body_len + 1))) {
		free(q);
		return e ? e : ERR_NOMEM;
	}
	memcpy(body, q->body, q->body_len);
	r->login_call = bridge_call(r->b, r, "POST", BASE_HS, q->path, NULL,
	                            body, q->body_len, 30000, on_login);
	mbedtls_platform_zeroize(q->body, sizeof q->body);
	free(q);
	return r->login_call ? 0 : ERR_IO;
}

int bridge_agent_token(struct broom *r, const char *user, char *out,
                       size_t cap)
{
	struct tok_ctx c;

	memset(&c, 0, sizeof c);
	c.user = user;
	c.out = out;
	c.cap = cap;
	int e;

	out[0] = '\0';
	r = bridge_room_of(r);          /* a lane's login is its room's */
	/* an application service acts as its users with its own token */
	if (r->b->a->as.on)
		return mx_cred_as(out, cap, r->b->a->as.as_token, user);
	e = store_view(r->b->store, tok_view, &c);
	if (e)
		return e;
	if (out[0])
		return 0;
	if (r->login_call || loop_timer_armed(&r->t_login))
		return ERR_AGAIN;
	e = start_login(r, &c.a);
	return e ? e : ERR_AGAIN;
}

/* ---- notices ---- */

struct push_ctx { const char *room; uint8_t *buf; size_t n; };

static int push_out(struct store_txn *t, void *arg)
{
	struct push_ctx *c = arg;

	return store_q_push(t, STORE_Q_OUTBOX, c->room, c->buf, c->n, NULL);
}

int bridge_notice(struct broom *r, const char *agent_user,
                  const char *reply_to, const char *text)
{
	struct bridge_out o = { .kind = BRIDGE_OUT_NOTICE, .body = text,
	                        .body_len = strlen(text) };
	uint8_t buf[1024];
	struct push_ctx c = { r->id, buf, 0 };
	int e;

	snprintf(o.sender, sizeof o.sender, "%s", agent_user);
	snprintf(o.reply_to, sizeof o.reply_to, "%s", reply_to);
	e = bridge_out_encode(&o, buf, sizeof buf, &c.n);
	if (!e)
		e = store_update(r->b->store, push_out, &c);
	if (!e)
		bridge_kick(r);
	return e;
}

/* ---- the outbox ---- */

struct ohead {
	struct broom *r;
	uint64_t seq;
	uint8_t *buf;
	size_t n;
	struct bridge_out o;
	char txn[128];
	char conv[LIM_LETTA_APP_ID];    /* h->o.conv's */
};

/* The conversation the room keeps for the entry's thread, named in its
 * event (read here, not kept in the record: a !reset in the thread
 * moves it). None when it cannot be read: the answer goes anyway. */
static void ohead_conv(struct store_txn *t, struct ohead *h)
{
	const struct bridge *b = h->r->b;

	if (!h->o.thread[0] || !b->thread_convs || b->no_convs)
		return;
	if (!store_conv_get(t, h->r->id, h->o.thread, h->conv,
	                    sizeof h->conv) && h->conv[0])
		h->o.conv = h->conv;
}

static int ohead_view(struct store_txn *t, void *arg)
{
	struct ohead *h = arg;
	int e = store_q_first(t, STORE_Q_OUTBOX, h->r->id, &h->seq, h->buf,
	                      LIM_STORE_QVALUE, &h->n);

	if (e)
		return e;
	if (bridge_out_decode(h->buf, h->n, &h->o))
		return ERR_CORRUPT;
	ohead_conv(t, h);
	return store_txnid(t, h->seq, h->txn, sizeof h->txn);
}

/* ---- the store's record of a live message ---- */

static void live_key(const char *room, char key[48])
{
	char id[37];

	/* a fixed-length key whatever the room id's length */
	bridge_otid(room, "$live", id);
	snprintf(key, 48, "live/%s", id);
}

int bridge_live_put(struct store_txn *t, const char *room,
                    const char *question, const char *event_id)
{
	char key[48], val[2 * LIM_STORE_ID + 2];

	live_key(room, key);
	snprintf(val, sizeof val, "%s %s", question, event_id);
	return store_meta_put(t, key, val);
}

int bridge_live_get(struct store_txn *t, const char *room,
                    const char *question, char *event_id, size_t cap)
{
	char key[48], val[2 * LIM_STORE_ID + 2];
	size_t q = strlen(question);
	int e;

	live_key(room, key);
	event_id[0] = '\0';
	e = store_meta_get(t, key, val, sizeof val);
	if (e)
		return e;
	if (strncmp(val, question, q) || val[q] != ' ' || val[q + 1] != '$')
		return ERR_NOTFOUND;    /* an older question's: not ours */
	snprintf(event_id, cap, "%s", val + q + 1);
	return 0;
}

int bridge_live_del(struct store_txn *t, const char *room,
                    const char *question)
{
	char key[48], ev[LIM_STORE_ID];
	int e = bridge_live_get(t, room, question, ev, sizeof ev);

	if (e == ERR_NOTFOUND)
		return 0;
	live_key(room, key);
	return e ? e : store_meta_del(t, key);
}

struct odel {
	const char *room;
	uint64_t seq;
	const struct bridge_out *o;     /* the entry, NULL: not needed */
	const char *event_id;           /* what the homeserver made of it */
};

static int odel_txn(struct store_txn *t, void *arg)
{
	struct odel *d = arg;
	int e = store_q_del(t, STORE_Q_OUTBOX, d->room, d->seq);

	if (e && e != ERR_NOTFOUND)
		return e;
	/* a live message is kept as it leaves the outbox, the final
	 * answer takes it along */
	if (d->o && (d->o->flags & BRIDGE_OUT_F_LIVE) && d->event_id)
		return bridge_live_put(t, d->room, d->o->reply_to, d->event_id);
	if (d->o && (d->o->flags & BRIDGE_OUT_F_FINAL))
		return bridge_live_del(t, d->room, d->o->reply_to);
	return 0;
}

/* Removes the head (sent as event_id, or NULL: dropped). */
static void out_done(struct broom *r, uint64_t seq,
                     const struct bridge_out *o, const char *event_id)
{
	struct odel d = { r->id, seq, o, event_id };

	if (store_update(r->b->store, odel_txn, &d))
		LOG_ERROR("bridge", "event=outbox_not_updated room=%s", r->id);
	else if (o && (o->flags & BRIDGE_OUT_F_LIVE) && event_id)
		r->b->watch.shown(r, o->reply_to, event_id);
	else if (o && (o->flags & BRIDGE_OUT_F_FINAL))
		r->b->watch.final_sent(r, o->reply_to);
	r->out = O_IDLE;
	r->out_tries = 0;
	bridge_kick(r);
}

static void out_next(struct broom *r, uint64_t seq)
{
	out_done(r, seq, NULL, NULL);
}

/* The event id of a send's answer into out ("" if none). */
static void sent_id(const char *body, size_t len, char *out, size_t cap)
{
	struct json j;

	out[0] = '\0';
	json_init(&j);
	if (!json_parse(&j, body, len) && json_type(&j, 0) == JSON_OBJ)
		json_str(&j, json_get(&j, 0, "event_id"), out, cap);
	json_free(&j);
	if (out[0] != '$')
		out[0] = '\0';
}

/* Loads the head into h (buf from the caller). Returns 0, ERR_NOTFOUND,
 * or ERR_AGAIN after dropping an unreadable entry. */
static int out_load(struct broom *r, struct ohead *h)
{
	int e;

	h->r = r;
	h->seq = 0;
	e = store_view(r->b->store, ohead_view, h);
	if (e == ERR_CORRUPT) {
		LOG_WARN("bridge", "event=answer_dropped room=%s seq=%llu "
		         "reason=\"unreadable outbox record\"", r->id,
		         (unsigned long long)h->seq);
		out_next(r, h->seq);
		return ERR_AGAIN;
	}
	return e;
}

static void out_wait(struct broom *r, int64_t ms)
{
	r->out = O_WAIT;
	bridge_arm(r->b, &r->t_out, ms);
}

/* 1 when our event with transaction id txn is in a /messages answer;
 * its event id into ev[0..cap). */
static int found_txn(const char *body, size_t len, const char *txn,
                     char *ev, size_t cap)
{
	struct json j;
	int chunk, found = 0;

	ev[0] = '\0';
	json_init(&j);
	if (!json_parse(&j, body, len) && json_type(&j, 0) == JSON_OBJ &&
	    json_type(&j, chunk = json_get(&j, 0, "chunk")) == JSON_ARR)
		for (int e = json_arr_first(&j, chunk); e >= 0 && !found;
		     e = json_arr_next(&j, chunk, e)) {
			int c = json_get(&j, e, "content");

			found = c >= 0 && json_str_eq(&j, json_get(&j, c, MX_K_TXN),
			                              txn);
			if (found && json_str(&j, json_get(&j, e, "event_id"), ev,
			                      cap))
				ev[0] = '\0';
		}
	json_free(&j);
	if (ev[0] != '$')
		ev[0] = '\0';
	return found;
}

static void on_check(struct bcall *c, int st, const char *body, size_t len,
                     int64_t ra, int err)
{
	struct broom *r = c->room;
	struct ohead h;
	uint8_t *buf = r->b->rec;
	char ev[LIM_STORE_ID];

	(void)ra;
	(void)err;
	r->out_call = NULL;
	h.buf = buf;
	if (out_load(r, &h)) {
		r->out = O_IDLE;
		bridge_kick(r);
		return;
	}
	if (st != 200) {
		out_wait(r, bridge_backoff(LIM_BRIDGE_BACKOFF_MS, r->out_tries++));
		return;
	}
	r->out_check = 0;
	if (found_txn(body, len, h.txn, ev, sizeof ev)) {
		LOG_INFO("bridge", "event=answer_already_sent room=%s txn=%s",
		         r->id, h.txn);
		out_done(r, h.seq, &h.o, ev[0] ? ev : NULL);
		return;
	}
	r->out = O_IDLE;
	bridge_kick(r);
}

/* An answer the homeserver refused for good: gone from the outbox, and
 * the person told (a notice is dropped without one: nothing loops). */
static void out_dropped(struct broom *r, struct ohead *h, int st,
                        const char *errcode)
{
	struct bridge_out o = h->o;
	char msg[256];

	out_done(r, h->seq, &h->o, NULL);
	if (o.kind != BRIDGE_OUT_TEXT)
		return;
	snprintf(msg, sizeof msg, "A part of the agent's answer could not be "
	         "posted in this room: the homeserver refused it (HTTP %d%s%s).",
	         st, errcode[0] ? " " : "", errcode);
	if (bridge_notice(r, o.sender, o.reply_to, msg))
		LOG_WARN("bridge", "event=notice_lost room=%s", r->id);
}

static void on_put(struct bcall *c, int st, const char *body, size_t len,
                   int64_t ra, int err)
{
	struct broom *r = c->room;
	struct proto_resp resp = { .status = st, .retry_after_ms = ra,
	                          .body = body, .len = len };
	struct mx_error e;
	struct ohead h;
	int64_t d;

	r->out_call = NULL;
	h.buf = r->b->rec;
	if (out_load(r, &h)) {
		r->out = O_IDLE;
		bridge_kick(r);
		return;
	}
	if (st == 200) {
		char ev[LIM_STORE_ID];

		if (h.o.kind == BRIDGE_OUT_TEXT && !(h.o.flags & BRIDGE_OUT_F_LIVE))
			bridge_metric(r->b, METRICS_MSG_ANSWERED, NULL, 1);
		sent_id(body, len, ev, sizeof ev);
		out_done(r, h.seq, &h.o, ev[0] ? ev : NULL);
		return;
	}
	mx_error_parse(&resp, &e);
	LOG_WARN("bridge", "event=send_failed room=%s status=%d errcode=%s "
	         "err=%s", r->id, st, e.errcode, err_str(err));
	if (mx_error_is(&e, "M_UNKNOWN_TOKEN") || st == 401) {
		struct tok_ctx t;

		memset(&t, 0, sizeof t);
		t.user = h.o.sender;
		t.token = "";
		store_update(r->b->store, tok_store, &t);
		r->out_check = 1;
		out_wait(r, 0);
		return;
	}
	d = mx_retry_delay_ms(&e, r->out_tries++);
	if (st == 429) {
		bridge_metric(r->b, METRICS_RATE_LIMITED, "send", 1);
		bridge_metric(r->b, METRICS_RATE_WAIT_MS, "send", (double)d);
	}
	/* too large will not fix itself; other refusals get a few tries */
	if (d < 0 && (st == 413 || r->out_tries >= LIM_BRIDGE_OUT_TRIES)) {
		LOG_ERROR("bridge", "event=answer_dropped room=%s txn=%s "
		          "status=%d errcode=%s", r->id, h.txn, st, e.errcode);
		out_dropped(r, &h, st, e.errcode);
		return;
	}
	out_wait(r, d >= 0 ? d : bridge_backoff(LIM_BRIDGE_BACKOFF_MS,
	                                        r->out_tries));
}

static void start_check(struct broom *r, struct ohead *h, const char *tok)
{
	char path[LIM_PROTO_PATH], filt[LIM_STORE_ID + 64];
	struct proto_buf p;

	snprintf(filt, sizeof filt, "{\"senders\":[\"%s\"],\"types\":"
	         "[\"m.room.message\"]}", h->o.sender);
	if (path_room(path, sizeof path, r->id, "/messages?dir=b&limit=", NULL,
	              NULL))
		return;
	proto_buf_init(&p, path + strlen(path), sizeof path - strlen(path));
	proto_buf_fmt(&p, "%d&filter=", CHECK_LIMIT);
	proto_buf_urlenc(&p, filt);
	if (p.err)
		return;
	r->out = O_CHECK;
	r->out_call = bridge_call(r->b, r, "GET", BASE_HS, path, tok, NULL, 0,
	                          60000, on_check);
	if (!r->out_call)
		out_wait(r, 1000);
}

struct live_q { const char *room, *question; char *ev; };

static int live_view(struct store_txn *t, void *arg)
{
	struct live_q *q = arg;

	return bridge_live_get(t, q->room, q->question, q->ev, LIM_STORE_ID);
}

/* The final answer of a live message is its last edit, once the edit
 * before it is back and the gap is kept. Returns 1 to send now (with
 * h->o.replaces set when there is a live message), 0 when it waits. */
static int final_ready(struct broom *r, struct ohead *h, char *ev)
{
	struct live_q q = { r->id, h->o.reply_to, ev };
	int64_t ms = 0;

	if (r->b->watch.final_wait(r, h->o.reply_to, &ms)) {
		if (ms > 0)
			out_wait(r, ms);
		return 0;
	}
	ev[0] = '\0';
	if (!store_view(r->b->store, live_view, &q) && ev[0])
		h->o.replaces = ev;
	return 1;
}

static void start_put(struct broom *r, struct ohead *h, const char *tok)
{
	char path[LIM_PROTO_PATH], ev[LIM_STORE_ID];
	size_t n;
	char *body;

	if ((h->o.flags & BRIDGE_OUT_F_FINAL) && !final_ready(r, h, ev))
		return;
	if (path_room(path, sizeof path, r->id, "/send/m.room.message/",
	              h->txn, NULL) || !(body = bridge_conv_event(&h->o, h->txn, &n))) {
		LOG_ERROR("bridge", "event=answer_dropped room=%s reason=\"cannot "
		          "build the request\"", r->id);
		out_done(r, h->seq, &h->o, NULL);
		return;
	}
	r->out = O_SEND;
	r->out_call = bridge_call(r->b, r, "PUT", BASE_HS, path, tok, body, n,
	                          60000, on_put);
	if (!r->out_call)
		out_wait(r, 1000);
}

void bridge_out_run(struct broom *r)
{
	char tok[LIM_STORE_SECRET];
	struct ohead h;
	int e;

	if (r->b->stopping || r->out != O_IDLE)
		return;
	h.buf = r->b->rec;
	e = out_load(r, &h);
	if (e)
		return;
	e = bridge_agent_token(r, h.o.sender, tok, sizeof tok);
	if (e == ERR_AGAIN)
		return;         /* the login kicks the room */
	if (e == ERR_NOTFOUND) {
		/* No agent of ours posts as this user any more. */
		LOG_WARN("bridge", "event=answer_dropped room=%s reason=\"%s is "
		         "no agent user of ours any more\"", r->id, h.o.sender);
		out_done(r, h.seq, &h.o, NULL);
		return;
	}
	if (e) {
		LOG_WARN("bridge", "event=answer_waits room=%s reason=\"no agent "
		         "user %s: %s\"", r->id, h.o.sender, err_str(e));
		out_wait(r, 30000);
		return;
	}
	if (r->out_check)
		start_check(r, &h, tok);
	else
		start_put(r, &h, tok);
}
