/*
 * bridge: the shared state and the wiring of a message's path (see
 * bridge_int.h for the map): rooms, the bridge's HTTP calls, timers, start
 * and stop; the steps call it, and it starts each step.
 */
#include "bridge/bridge_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/app_letta.h"
#include "bridge/bcmd.h"
#include "core/err.h"
#include "core/img.h"
#include "core/log.h"
#include "core/metrics.h"
#include "letta/lapi.h"
#include "letta/letta.h"
#include "matrix/mx_cred.h"
#include "net/srv.h"
#include "prov/provision.h"
#include "store/secret.h"

#define NHASH 1024

/* ---- calls ---- */

static void call_unlink(struct bcall *c)
{
	struct bridge *b = c->b;

	if (c->prev)
		c->prev->next = c->next;
	else
		b->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void call_free(struct bcall *c)
{
	free(c->url);
	free(c->body);
	free(c);
}

static void call_done(void *arg, struct http_resp *hr, int err)
{
	struct bcall *c = arg;
	int st = (err == 0 || err == ERR_HTTP) ? hr->status : 0;

	call_unlink(c);
	c->done(c, st, st ? hr->body : "", st ? hr->body_len : 0,
	        st ? hr->retry_after_ms : -1, err);
	call_free(c);
}

static int call_body(void *arg, const char *data, size_t len)
{
	struct bcall *c = arg;

	return c->on_body(c, data, len);
}

void bridge_call_forget(struct bridge *b, struct bcall *c)
{
	http_cancel(b->http, &c->h);
	call_unlink(c);
	call_free(c);
}

struct bcall *bridge_call(struct bridge *b, struct broom *room,
                          const char *method, int base, const char *path,
                          const char *token, char *body, size_t body_len,
                          int total_ms,
                          void (*done)(struct bcall *, int, const char *,
                                       size_t, int64_t, int))
{
	return bridge_call_body(b, room, method, base, path, token, body,
	                        body_len, total_ms, 0, NULL, done);
}

/* A call to base + path, not started yet. NULL on allocation failure or
 * while the bridge stops (body freed). */
static struct bcall *call_make(struct bridge *b, struct broom *room,
                               const char *method, int base,
                               const char *path, const char *token,
                               char *body, size_t body_len, int total_ms,
                               int idle_ms)
{
	const char *bs = base == BASE_LETTA ? b->letta : b->hs, *user = NULL;
	struct bcall *c = calloc(1, sizeof *c);
	char tok[LIM_MX_TOKEN] = "";
	/* room for an application service's "&user_id=" and the id, each
	 * byte of it percent-encoded at worst */
	size_t ul = strlen(bs) + strlen(path) + 16 + 3 * LIM_STORE_ID, n = 0;
	struct proto_buf u;

	if (!c || !(c->url = malloc(ul)) || b->stopping ||
	    (token && mx_cred_split(token, tok, sizeof tok, &user))) {
		free(body);
		if (c)
			free(c->url);
		free(c);
		return NULL;
	}
	proto_buf_init(&u, c->url, ul);
	proto_buf_str(&u, bs);
	proto_buf_str(&u, path);
	mx_cred_url(&u, user);
	c->b = b;
	c->room = room;
	c->body = body;
	c->hdr[n++] = (struct httpp_field){ "User-Agent", letta_user_agent() };
	c->hdr[n++] = (struct httpp_field){ "Accept", "application/json" };
	if (tok[0]) {
		snprintf(c->auth, sizeof c->auth, "Bearer %s", tok);
		c->hdr[n++] = (struct httpp_field){ "Authorization", c->auth };
		memset(tok, 0, sizeof tok);
	}
	if (body)
		c->hdr[n++] = (struct httpp_field){ "Content-Type",
		                                    "application/json" };
	c->h.method = method;
	c->h.url = c->url;
	c->h.hdrs = c->hdr;
	c->h.nhdrs = n;
	c->h.body = body;
	c->h.body_len = body ? body_len : 0;
	c->h.total_ms = total_ms;
	c->h.first_byte_ms = total_ms;
	c->h.idle_ms = idle_ms > 0 && idle_ms < total_ms ? idle_ms : total_ms;
	c->h.body_cap = base == BASE_LETTA ? LIM_BRIDGE_LETTA_RESP
	                                   : LIM_SYNC_RESP;
	c->h.on_done = call_done;
	c->h.arg = c;
	/* A Letta turn is never re-sent behind our back (a dead kept
	 * connection): only the history check decides to send again. */
	c->h.no_replay = base == BASE_LETTA && !strcmp(method, "POST");
	return c;
}

/* Starts c (made by call_make). Returns it, or NULL (c freed). */
static struct bcall *call_go(struct bridge *b, struct bcall *c,
                             const char *path)
{
	if (c->on_body)
		c->h.on_body = call_body;
	if (http_request(b->http, &c->h)) {
		LOG_WARN("bridge", "event=request_refused url_path=%.80s", path);
		call_free(c);
		return NULL;
	}
	c->next = b->calls;
	if (b->calls)
		b->calls->prev = c;
	b->calls = c;
	return c;
}

struct bcall *bridge_call_body(struct bridge *b, struct broom *room,
                               const char *method, int base,
                               const char *path, const char *token,
                               char *body, size_t body_len, int total_ms,
                               int idle_ms,
                               int (*on_body)(struct bcall *, const char *,
                                              size_t),
                               void (*done)(struct bcall *, int,
                                            const char *, size_t, int64_t,
                                            int))
{
	struct bcall *c = call_make(b, room, method, base, path, token, body,
	                            body_len, total_ms, idle_ms);

	if (!c)
		return NULL;
	c->done = done;
	c->on_body = on_body;
	return call_go(b, c, path);
}

/* ---- Letta's requests (struct lapi_http of letta/lapi.h) ---- */

static void letta_done(struct bcall *c, int st, const char *body, size_t len,
                       int64_t ra, int err)
{
	(void)ra;
	c->l_done(c->l_arg, st, body, len, err);
}

static int letta_body(struct bcall *c, const char *data, size_t len)
{
	return c->l_body(c->l_arg, data, len);
}

/* The requests of the Letta API's REST implementation: calls of the
 * bridge like its own (counted, cancelled when it stops), to the Letta
 * base URL with its token. */
static void *letta_call(void *io, void *owner, const char *method,
                        const char *path, char *body, size_t body_len,
                        int total_ms, int idle_ms,
                        int (*on_body)(void *, const char *, size_t),
                        void (*done)(void *, int, const char *, size_t, int),
                        void *arg)
{
	struct bridge *b = io;
	struct bcall *c = call_make(b, owner, method, BASE_LETTA, path,
	                            b->letta_token, body, body_len, total_ms,
	                            idle_ms);

	if (!c)
		return NULL;
	c->l_done = done;
	c->l_body = on_body;
	c->l_arg = arg;
	c->done = letta_done;
	c->on_body = on_body ? letta_body : NULL;
	return call_go(b, c, path);
}

int64_t bridge_backoff(int64_t base_ms, int tries)
{
	int64_t d = base_ms;
	uint8_t rnd[2] = { 0, 0 };

	for (int i = 0; i < tries && d < LIM_BRIDGE_BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > LIM_BRIDGE_BACKOFF_MAX_MS)
		d = LIM_BRIDGE_BACKOFF_MAX_MS;
	secret_random(rnd, sizeof rnd);
	/* +-25 %: many rooms failing at once do not retry in step */
	return d * 3 / 4 + (d / 2) * (rnd[0] << 8 | rnd[1]) / 65535;
}

void bridge_arm(struct bridge *b, struct loop_timer *t, int64_t ms)
{
	loop_timer_arm(b->loop, t, loop_now(b->loop) + (uint64_t)(ms > 0 ? ms
	                                                             : 0));
}

/* ---- metrics (none when the daemon keeps none) ---- */

void bridge_metric(struct bridge *b, int id, const char *label, double v)
{
	if (b->metrics)
		metrics_add(b->metrics, id, label, v);
}

void bridge_inbox_moved(struct broom *r, int delta)
{
	struct bridge *b = r->b;

	r = bridge_room_of(r);
	if (delta < 0 && r->nin + delta < 0)
		delta = -r->nin;
	r->nin += delta;
	b->queued += delta;
	if (b->metrics)
		metrics_set(b->metrics, METRICS_QUEUE_DEPTH, "inbox", b->queued);
}

/* ---- rooms ---- */

static size_t hash_of(const char *s)
{
	size_t h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

static void lanes_reap(struct broom *r);

static void on_kick(void *arg)
{
	struct broom *r = arg;

	if (r->b->stopping)
		return;
	if (r->parent) {
		/* a lane: its turn; its room sends what it answered and
		 * frees it once it holds nothing */
		bridge_turn_run(r);
		bridge_kick(r->parent);
		return;
	}
	lanes_reap(r);
	bridge_turn_run(r);
	bridge_out_run(r);
}

static void on_turn_timer(void *arg)
{
	struct broom *r = arg;

	if (r->turn == T_WAIT)
		r->turn = T_IDLE;
	bridge_turn_run(r);
}


static void on_out_timer(void *arg)
{
	struct broom *r = arg;

	if (r->out == O_WAIT)
		r->out = O_IDLE;
	bridge_out_run(r);
}

static void on_login_timer(void *arg)
{
	bridge_kick(arg);
}

static void turn_timers_init(struct broom *r)
{
	loop_timer_init(&r->t_turn, on_turn_timer, r);
	loop_timer_init(&r->t_typing, bridge_turn_typing_timer, r);
	loop_timer_init(&r->t_wait, bridge_turn_wait_timer, r);
	loop_timer_init(&r->t_out, on_out_timer, r);
	loop_timer_init(&r->t_login, on_login_timer, r);
}

static int conv_view(struct store_txn *t, void *arg)
{
	struct broom *r = arg;
	int e = store_conv_get(t, r->id, NULL, r->conv, sizeof r->conv);

	return e == ERR_NOTFOUND ? 0 : e;
}

struct broom *bridge_room_get(struct bridge *b, const char *id)
{
	struct broom *r = b->hash[hash_of(id) % b->nhash];

	for (; r; r = r->hnext)
		if (!strcmp(r->id, id))
			return r;
	return NULL;
}

struct broom *bridge_room(struct bridge *b, const char *id)
{
	size_t h = hash_of(id) % b->nhash;
	struct broom *r = bridge_room_get(b, id);
	int e;

	if (r)
		return r;
	r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	snprintf(r->id, sizeof r->id, "%s", id);
	r->b = b;
	/* a store that cannot say is the agent's default conversation:
	 * the room still gets answers, and the log says why */
	if ((e = store_view(b->store, conv_view, r)) < 0) {
		LOG_ERROR("bridge", "event=conversation_unread room=%s err=%s "
		          "why=\"%s\"", r->id, err_str(e), store_why(b->store));
		r->conv[0] = '\0';
	}
	turn_timers_init(r);
	r->hnext = b->hash[h];
	b->hash[h] = r;
	return r;
}

/* ---- lanes ---- */

struct broom *bridge_room_of(struct broom *r)
{
	return r->parent ? r->parent : r;
}

/* The lane key of a question in `thread`: the thread when it talks in
 * its own conversation, else the room's (""). */
static const char *lane_key(const struct bridge *b, const char *thread)
{
	return thread[0] && b->thread_convs && !b->no_convs ? thread : "";
}

int bridge_lane_has(const struct broom *r, const struct bridge_in *m)
{
	return !strcmp(r->lane ? r->lane : "", lane_key(r->b, m->thread));
}

struct broom *bridge_lane_find(struct broom *r, const char *thread)
{
	const char *key = lane_key(r->b, thread);

	r = bridge_room_of(r);
	if (!key[0])
		return r;
	for (struct broom *l = r->lanes; l; l = l->lane_next)
		if (!strcmp(l->lane, key))
			return l;
	return NULL;
}

struct broom *bridge_lane_of(struct broom *r, const struct bridge_in *m)
{
	struct broom *l;

	r = bridge_room_of(r);
	if ((l = bridge_lane_find(r, m->thread)))
		return l;
	if (!(l = calloc(1, sizeof *l)) || !(l->lane = strdup(m->thread))) {
		free(l);
		return NULL;
	}
	memcpy(l->id, r->id, sizeof l->id);
	memcpy(l->conv, r->conv, sizeof l->conv);
	l->b = r->b;
	l->parent = r;
	turn_timers_init(l);
	/* stored before this process started: the last one may have sent
	 * it, so the history is read first (as resume_cb does for a room) */
	if (m->queued < r->b->started) {
		l->check_first = 1;
		l->resumed = 1;
	}
	l->lane_next = r->lanes;
	r->lanes = l;
	LOG_DEBUG("bridge", "event=lane_made room=%s thread=%s", r->id,
	          l->lane);
	return l;
}

/* 1 when lane l holds nothing: no question, turn, live message, picture
 * or timer (no call of its own can come any more). */
static int lane_idle(const struct broom *l)
{
	return l->turn == T_IDLE && !l->turn_call && !l->lv && !l->img &&
	       !l->img_paid && !l->img_queued && !l->has_slot &&
	       !l->lane_n && !l->typing &&
	       !loop_timer_armed(&l->t_turn) &&
	       !loop_timer_armed(&l->t_typing) &&
	       !loop_timer_armed(&l->t_wait);
}

static void lane_free(struct broom *l)
{
	loop_defer_cancel(l->b->loop, &l->kick);
	loop_timer_cancel(l->b->loop, &l->t_turn);
	loop_timer_cancel(l->b->loop, &l->t_typing);
	loop_timer_cancel(l->b->loop, &l->t_wait);
	bridge_stream_free(l);
	bridge_img_drop(l);
	free(l->lane);
	free(l);
}

/* Frees the room's lanes that hold nothing (from the room's deferred
 * call: no lane's own call is on the stack then). */
static void lanes_reap(struct broom *r)
{
	for (struct broom **p = &r->lanes, *l; (l = *p); ) {
		if (!lane_idle(l)) {
			p = &l->lane_next;
			continue;
		}
		*p = l->lane_next;
		LOG_DEBUG("bridge", "event=lane_freed room=%s thread=%s", r->id,
		          l->lane);
		lane_free(l);
	}
}

/* The outbox's news of a live message goes to the lane it is of. */
static struct broom *lane_of_question(struct broom *r, const char *question)
{
	for (struct broom *l = r->lanes; l; l = l->lane_next)
		if (bridge_stream_is(l, question))
			return l;
	return r;
}

static void watch_shown(struct broom *r, const char *question,
                        const char *event_id)
{
	bridge_stream_shown(lane_of_question(r, question), question, event_id);
}

static void watch_final_sent(struct broom *r, const char *question)
{
	bridge_stream_final_sent(lane_of_question(r, question), question);
}

static int watch_final_wait(struct broom *r, const char *question,
                            int64_t *ms)
{
	return bridge_stream_final_wait(lane_of_question(r, question),
	                                question, ms);
}

void bridge_kick(struct broom *r)
{
	if (!r->b->stopping)
		loop_defer(r->b->loop, &r->kick, on_kick, r);
}

/* ---- the store's batch ---- */

/* Each pass's updates (inbox and token, answers, outbox deletions) are
 * one commit, made here before the loop polls: every request built in
 * the pass is written only after a poll, so it leaves after what it
 * depends on is on disk ("txn id fixed before the first attempt", "inbox
 * and token in one transaction" hold as before; a kill -9 loses at most
 * a pass that nobody outside has seen). A batch that cannot be committed
 * stops the daemon before it polls again: nothing built on it leaves. */
static void before_poll(void *arg)
{
	struct bridge *b = arg;

	if (store_batch_flush(b->store) == 0)
		return;
	LOG_ERROR("bridge", "event=store_lost why=\"%s\" msg=\"the last "
	          "updates could not be stored: stopping before anything "
	          "built on them is sent; a restart goes on from what is "
	          "stored\"", store_why(b->store));
	loop_stop(b->loop);
}

static void batch_start(struct bridge *b)
{
	if (store_batch_start(b->store) == 0)
		loop_before_poll(b->loop, before_poll, b);
}

static void batch_stop(struct bridge *b)
{
	loop_before_poll(b->loop, NULL, NULL);
	if (store_batch_stop(b->store) < 0)
		LOG_ERROR("bridge", "event=store_lost why=\"%s\"",
		          store_why(b->store));
}

/* ---- start and stop ---- */

struct resume { struct bridge *b; enum store_queue q; };

static int resume_cb(const char *room, uint64_t seq, const void *data,
                     size_t n, void *arg)
{
	struct resume *rs = arg;
	struct broom *r = bridge_room(rs->b, room);

	(void)seq;
	(void)data;
	(void)n;
	if (!r)
		return ERR_NOMEM;
	if (rs->q == STORE_Q_INBOX) {
		bridge_inbox_moved(r, 1);
		r->lane_maybe = 1;      /* the first look says */
		/* A turn may have run before the restart: look first. */
		r->check_first = 1;
		r->resumed = 1;
	} else {
		/* Sent with a token of another process, maybe: look first. */
		r->out_check = 1;
	}
	bridge_kick(r);
	return 0;
}

static int resume_view(struct store_txn *t, void *arg)
{
	struct resume *rs = arg;
	int e;

	rs->q = STORE_Q_INBOX;
	e = store_q_each(t, STORE_Q_INBOX, NULL, resume_cb, rs);
	if (e)
		return e;
	rs->q = STORE_Q_OUTBOX;
	return store_q_each(t, STORE_Q_OUTBOX, NULL, resume_cb, rs);
}

static void copy_base(char *dst, size_t cap, const char *src)
{
	size_t n;

	snprintf(dst, cap, "%s", src ? src : "");
	n = strlen(dst);
	while (n && dst[n - 1] == '/')
		dst[--n] = '\0';
}

static int bot_token_view(struct store_txn *t, void *arg)
{
	struct bridge *b = arg;
	bool clear = false;

	return store_meta_get_sealed(t, PROV_META_BOT_TOKEN, b->bot_token,
	                             sizeof b->bot_token, &clear);
}

/* [bridge] image_max_bytes and image_memory: the memory must hold one
 * picture of the most bytes, or no such picture could ever go. */
static void configure_img(struct bridge *b, struct app *a)
{
	const struct cfg *c = &a->cfg;
	size_t cap;

	b->img_copies = a->letta_api == LAPI_APP ? 2 : 1;
	b->img_max = (size_t)cfg_num(c, "bridge", "image_max_bytes");
	b->img_mem = (size_t)cfg_num(c, "bridge", "image_memory");
	if (b->img_max > IMG_MAX_BYTES)
		b->img_max = IMG_MAX_BYTES;
	if (!b->img_max || bridge_img_cost(b, b->img_max) <= b->img_mem)
		return;
	cap = b->img_max;
	while (cap > 0 && bridge_img_cost(b, cap) > b->img_mem)
		cap -= cap > 65536 ? 65536 : cap;
	LOG_WARN("bridge", "event=config_adjusted key=image_max_bytes "
	         "from=%zu to=%zu msg=\"[bridge] image_memory (%zu bytes) "
	         "holds no picture of image_max_bytes: raise it to %zu or "
	         "more\"", b->img_max, cap, b->img_mem,
	         bridge_img_cost(b, b->img_max));
	b->img_max = cap;
}

static void configure(struct bridge *b, struct app *a)
{
	const struct cfg *c = &a->cfg;
	const char *inv = cfg_get(c, "bridge", "invites");

	b->pol.bot = a->bot_user;
	b->pol.server = a->server;
	b->pol.allow = cfg_get(c, "bridge", "allow");
	b->pol.sender_format = cfg_get(c, "bridge", "sender_format");
	b->max_steps = (int)cfg_num(c, "bridge", "max_steps");
	b->queue_limit = (int)cfg_num(c, "bridge", "queue_limit");
	b->max_turns = (int)cfg_num(c, "bridge", "max_turns");
	b->letta_timeout = cfg_num(c, "bridge", "letta_timeout");
	b->wait_notice = cfg_num(c, "bridge", "wait_notice");
	b->poll_ms = (int)cfg_num(c, "bridge", "sync_timeout");
	if (b->poll_ms <= 0)
		b->poll_ms = SYNC_POLL_MS;
	b->split_bytes = (int)cfg_num(c, "bridge", "split_bytes");
	b->reply_rich = !strcmp(cfg_get(c, "bridge", "reply_style"), "reply");
	b->cmd_prefix = cfg_get(c, "bridge", "command_prefix");
	if (!b->cmd_prefix || !bcmd_prefix_ok(b->cmd_prefix))
		b->cmd_prefix = "!";
	b->admins = cfg_get(c, "bridge", "admins");
	b->approvers = cfg_get(c, "bridge", "approvers");
	b->stream = cfg_num(c, "bridge", "stream") != 0;
	b->stream_after = cfg_num(c, "bridge", "stream_after");
	b->show_tools = !strcmp(cfg_get(c, "bridge", "show_tools"), "compact");
	b->thread_convs = !strcmp(cfg_get(c, "bridge", "threads"),
	                          "conversation");
	b->respond_mention = !strcmp(cfg_get(c, "bridge", "respond"),
	                             "mention");
	b->listen = cfg_num(c, "bridge", "listen") != 0;
	configure_img(b, a);
	b->decline_invites = !inv || !strcmp(inv, "decline");
	inv = cfg_get(c, "bridge", "agent_invites");
	b->agent_invites = !inv || !strcmp(inv, "direct") ?
	                   BRIDGE_INVITES_DIRECT : !strcmp(inv, "any") ?
	                   BRIDGE_INVITES_ANY : BRIDGE_INVITES_NONE;
	if (b->max_turns < 1)
		b->max_turns = 1;
	if (b->queue_limit < 1)
		b->queue_limit = 20;
	if (b->letta_timeout <= 0)
		b->letta_timeout = 300000;
	if (b->max_steps < 1)
		b->max_steps = 20;
	copy_base(b->hs, sizeof b->hs, cfg_get(c, "matrix", "homeserver_url"));
	copy_base(b->letta, sizeof b->letta, cfg_get(c, "letta", "base_url"));
	b->letta_token = a->letta_token[0] ? a->letta_token : NULL;
	if (a->bot_token[0])
		snprintf(b->bot_token, sizeof b->bot_token, "%s", a->bot_token);
	else if (store_view(a->store, bot_token_view, b))
		b->bot_token[0] = '\0';
}

/* The Letta the gate found: the REST API through the bridge's own
 * calls, or the App Server over its WebSocket. */
static struct lapi *letta_of(struct bridge *b, struct app *a)
{
	struct lapi_app_conf ac;

	if (a->letta_api != LAPI_APP)
		return lapi_rest_new(&(struct lapi_http){ letta_call, b });
	app_letta_conf(a, &ac);
	ac.img_max = b->img_max;
	ac.lapsed = bridge_appr_lapsed;
	ac.arg = b;
	LOG_INFO("bridge", "event=letta_api api=app-server mode=%s", ac.mode);
	return lapi_app_new(&ac);
}

static void on_ping(struct bcall *c, int st, const char *body, size_t len,
                    int64_t ra, int err)
{
	(void)c;
	(void)ra;
	if (st == 200)
		LOG_INFO("bridge", "event=appservice_ping ok=1 answer=%.*s",
		         (int)(len < 80 ? len : 80), body);
	else if (st == 404 || (st == 400 && len && strstr(body,
	                                                  "M_UNRECOGNIZED")))
		LOG_INFO("bridge", "event=appservice_ping ok=0 msg=\"the "
		         "homeserver has no ping (before Matrix 1.7): its "
		         "transactions are the check\"");
	else
		LOG_ERROR("bridge", "event=appservice_ping ok=0 status=%d err=%s "
		          "answer=\"%.*s\" msg=\"the homeserver could not reach "
		          "lettamx: check [appservice] url in the registration "
		          "it loaded\"", st, err_str(err),
		          (int)(len < 160 ? len : 160), body ? body : "");
}

/* Asks the homeserver to call us once (Matrix 1.7): a wrong URL in the
 * registration shows at start, not when the first message is lost. */
static void as_ping(struct bridge *b)
{
	const char *id = cfg_get(&b->a->cfg, "appservice", "id");
	char path[LIM_PROTO_PATH], *body = strdup("{}");
	struct proto_buf p;

	proto_buf_init(&p, path, sizeof path);
	proto_buf_str(&p, "/_matrix/client/v1/appservice/");
	proto_buf_urlenc(&p, id ? id : "");
	proto_buf_str(&p, "/ping");
	if (!body || p.err) {
		free(body);
		return;
	}
	bridge_call(b, NULL, "POST", BASE_HS, path, b->a->as.as_token, body, 2,
	            30000, on_ping);
}

/* appservice mode: the homeserver's transactions come to [appservice]
 * listen. Returns 0 or ERR_CONFIG / ERR_IO (said in the log). */
static int as_listen(struct bridge *b)
{
	const struct cfg *c = &b->a->cfg;
	struct srv_conf sc = {
		.listen = cfg_get(c, "appservice", "listen"),
		.key = "[appservice] listen",
		.remote_key = "[appservice] allow_remote",
		.allow_remote = cfg_num(c, "appservice", "allow_remote") != 0,
		.body_max = LIM_AS_TXN,
		.time_ms = 60000,       /* a big transaction on a slow link */
		.head = bridge_as_head, .fn = bridge_as_handler, .arg = b,
	};
	char why[256];
	int e = srv_open_conf(&b->as_srv, b->loop, &sc, why, sizeof why);

	if (e)
		LOG_ERROR("bridge", "event=appservice_listen_failed why=\"%s\"",
		          why);
	return e;
}

int bridge_in_list(const char *list, char sep, const char *item)
{
	char seps[2] = { sep, '\0' };
	size_t n = strlen(item);

	for (const char *p = list; *p; ) {
		size_t k = strcspn(p, seps);

		if (k == n && !memcmp(p, item, n))
			return 1;
		p += k + (p[k] == sep);
	}
	return 0;
}

struct bridge *bridge_start(struct app *a, const char *bot_token,
                            struct metrics *m)
{
	struct bridge *b = calloc(1, sizeof *b);
	struct resume rs;

	if (!b || !(b->hash = calloc(NHASH, sizeof *b->hash)) ||
	    !(b->rec = malloc(LIM_STORE_QVALUE)) ||
	    !(b->orec = malloc(LIM_STORE_QVALUE)) ||
	    !(b->md_body = malloc(LIM_BRIDGE_EVENT)) ||
	    !(b->md_html = malloc(LIM_BRIDGE_EVENT)) ||
	    !(b->md_work = malloc(BRIDGE_SPLIT_WORK)) ||
	    !(b->text = malloc(LIM_BRIDGE_TEXT))) {
		LOG_ERROR("bridge", "event=start_failed err=%s",
		          err_str(ERR_NOMEM));
		bridge_free(b);
		return NULL;
	}
	b->a = a;
	b->loop = a->net.loop;
	b->http = a->net.http;
	b->store = a->store;
	b->nhash = NHASH;
	b->metrics = m;
	b->watch.shown = watch_shown;
	b->watch.final_sent = watch_final_sent;
	b->watch.final_wait = watch_final_wait;
	b->started = store_now(a->store);
	loop_timer_init(&b->t_mark, bridge_thread_mark_timer, b);
	configure(b, a);
	if (!(b->lapi = letta_of(b, a))) {
		LOG_ERROR("bridge", "event=start_failed err=%s",
		          err_str(ERR_NOMEM));
		bridge_free(b);
		return NULL;
	}
	if (bot_token && *bot_token)
		snprintf(b->bot_token, sizeof b->bot_token, "%s", bot_token);
	if (!b->bot_token[0])
		LOG_WARN("bridge", "event=no_bot_token msg=\"the bot has no "
		         "access token yet; /sync waits for provisioning\"");
	batch_start(b);
	rs.b = b;
	if (store_view(b->store, resume_view, &rs))
		LOG_ERROR("bridge", "event=resume_failed why=\"%s\"",
		          store_why(b->store));
	b->sync = bridge_sync_start(b);
	bridge_thread_mark(b);          /* what a stop left unposted */
	if (a->as.on && as_listen(b) < 0) {
		bridge_free(b);
		return NULL;
	}
	if (a->as.on) {
		as_ping(b);
		bridge_dm_resume(b);
		bridge_dm_scan(b);
	}
	LOG_INFO("bridge", "event=started max_turns=%d queue_limit=%d "
	         "letta_timeout_ms=%lld", b->max_turns, b->queue_limit,
	         (long long)b->letta_timeout);
	return b;
}

/* bridge_stop for a room or a lane: nothing of it runs any more. */
static void room_stop(struct bridge *b, struct broom *r)
{
	loop_timer_cancel(b->loop, &r->t_turn);
	loop_timer_cancel(b->loop, &r->t_typing);
	loop_timer_cancel(b->loop, &r->t_wait);
	loop_timer_cancel(b->loop, &r->t_out);
	loop_timer_cancel(b->loop, &r->t_login);
	loop_defer_cancel(b->loop, &r->kick);
	bridge_stream_stop(r);
	bridge_img_stop(r);
	r->turn_call = r->out_call = r->login_call = NULL;
	r->typing_busy = 0;
}

void bridge_stop(struct bridge *b)
{
	if (!b || b->stopping)
		return;
	b->stopping = 1;
	bridge_sync_stop(b->sync);
	srv_close(b->as_srv);   /* the homeserver resends what it did not
	                         * hear 200 for */
	b->as_srv = NULL;
	if (b->lapi)
		b->lapi->ops->stop(b->lapi);
	loop_timer_cancel(b->loop, &b->t_mark);
	b->mark_call = NULL;
	while (b->calls) {
		struct bcall *c = b->calls;

		http_cancel(b->http, &c->h);
		call_unlink(c);
		call_free(c);
	}
	for (size_t i = 0; i < b->nhash; i++)
		for (struct broom *r = b->hash[i]; r; r = r->hnext) {
			room_stop(b, r);
			for (struct broom *l = r->lanes; l; l = l->lane_next)
				room_stop(b, l);
		}
	batch_stop(b);
	LOG_INFO("bridge", "event=stopped");
}

void bridge_free(struct bridge *b)
{
	if (!b)
		return;
	bridge_stop(b);
	bridge_sync_free(b->sync);
	srv_close(b->as_srv);
	/* after the stop: what Letta's calls left behind */
	if (b->lapi)
		b->lapi->ops->free(b->lapi);
	for (size_t i = 0; b->hash && i < b->nhash; i++) {
		struct broom *r = b->hash[i], *n;

		for (; r; r = n) {
			n = r->hnext;
			while (r->lanes) {
				struct broom *l = r->lanes;

				r->lanes = l->lane_next;
				lane_free(l);
			}
			bridge_stream_free(r);
			bridge_img_drop(r);
			free(r->rs);
			free(r);
		}
	}
	free(b->hash);
	free(b->rec);
	free(b->orec);
	free(b->md_body);
	free(b->md_html);
	free(b->md_work);
	free(b->text);
	free(b);
}
