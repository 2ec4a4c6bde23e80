/*
 * bridge_thread: a thread of an agent's room is its own Letta
 * conversation ([bridge] threads = conversation), sharing the agent's
 * memory; the room's main timeline stays the room's conversation.
 *
 * The thread root -> conversation mapping is in the store (store_conv,
 * "conv <room> <root>"). A thread's first question finds or makes the
 * conversation before it goes (T_CONV): the conversation carries a
 * summary fixed by the room and the root (bridge_thread_key), so a try
 * after a crash between Letta's create and our store write, or after a
 * lost store, finds the one made before instead of making a second.
 *
 * A lost store would still lose which conversation a thread talks in
 * after a !reset there (a summary names only the first), so the bot
 * also marks the thread in the room: a state event MX_THREAD_TYPE keyed
 * by the root, naming the newest conversation, which reconcile reads in
 * its one full-state /sync. The mark to post is kept in the store
 * ("thr <room> <root>") with the mapping, in the same transaction, and
 * posted one at a time until the homeserver takes it: a crash or a 429
 * only delays it.
 */
#include "bridge/bridge_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "letta/lapi.h"
#include "matrix/matrix.h"

#define MARK_PREFIX   STORE_META_MARK
#define MARK_TRIES    8         /* then dropped: the answers still name it */

int bridge_thread_conv(struct store_txn *t, const struct broom *r,
                       struct bturn_head *h)
{
	int e;

	h->conv_missing = 0;
	if (!h->m.thread[0] || !r->b->thread_convs || r->b->no_convs) {
		snprintf(h->conv, sizeof h->conv, "%s", r->conv);
		return 0;
	}
	e = store_conv_get(t, r->id, h->m.thread, h->conv, sizeof h->conv);
	if (e == ERR_NOTFOUND) {
		h->conv_missing = 1;
		return 0;
	}
	return e;
}

void bridge_thread_key(const char *room, const char *thread,
                       const char *since, char *out, size_t cap)
{
	if (since && since[0])
		snprintf(out, cap, "Matrix thread %s in %s, since %s", thread,
		         room, since);
	else
		snprintf(out, cap, "Matrix thread %s in %s", thread, room);
}

struct keep {
	const char *room, *thread, *conv;
};

/* "thr <room> <root>" into out[0..STORE_META_KEY]; 0 or ERR_INVAL. */
static int mark_key(char *out, const char *room, const char *thread)
{
	size_t n = strlen(MARK_PREFIX) + strlen(room) + 1 + strlen(thread);

	if (n > STORE_META_KEY || strchr(room, ' ') || strchr(thread, ' '))
		return ERR_INVAL;
	snprintf(out, STORE_META_KEY + 1, MARK_PREFIX "%s %s", room, thread);
	return 0;
}

int bridge_thread_keep(struct store_txn *t, const char *room,
                       const char *thread, const char *conv)
{
	char key[STORE_META_KEY + 1];
	int e = store_conv_put(t, room, thread, conv);

	if (e < 0)
		return e;
	/* a key too long for a mark: the mapping is kept all the same */
	return mark_key(key, room, thread) ? 0 : store_meta_put(t, key, conv);
}

static int keep_txn(struct store_txn *t, void *arg)
{
	const struct keep *k = arg;

	return bridge_thread_keep(t, k->room, k->thread, k->conv);
}

static void on_conv(void *arg, const struct lapi_res *res)
{
	struct broom *r = arg;
	struct bturn_head h;
	struct keep k;
	int e;

	if (!(r = bridge_turn_answered(r, &h)))
		return;
	if (res->err == ERR_INVAL) {
		/* this Letta cannot: threads share the room's conversation
		 * until lettamx starts again, and the thread is told */
		LOG_WARN("bridge", "event=thread_convs_unsupported room=%s "
		         "detail=\"%.120s\"", r->id, res->detail);
		r->b->no_convs = 1;
		bridge_notice(r, h.ag.user_id, h.m.event_id, "This Letta server "
		              "cannot keep a thread apart (it has no "
		              "conversations), so the agent answers in the "
		              "room's conversation.");
		r->turn = T_IDLE;
		bridge_kick(r);
		return;
	}
	if (res->err || !res->conv[0]) {
		LOG_WARN("bridge", "event=thread_conv_failed room=%s thread=%s "
		         "status=%d err=%s detail=\"%.120s\"", r->id,
		         h.m.thread, res->status, err_str(res->err), res->detail);
		bridge_turn_retry(r, &h, res->detail[0] ? res->detail :
		                  "the thread's conversation could not be made");
		return;
	}
	k = (struct keep){ r->id, h.m.thread, res->conv };
	if ((e = store_update(r->b->store, keep_txn, &k)) < 0) {
		LOG_ERROR("bridge", "event=thread_conv_not_kept room=%s err=%s "
		          "why=\"%s\"", r->id, err_str(e),
		          store_why(r->b->store));
		bridge_turn_retry(r, &h, "the thread's conversation could not "
		                  "be kept");
		return;
	}
	LOG_INFO("bridge", "event=thread_conv room=%s thread=%s conv=%s", r->id,
	         h.m.thread, res->conv);
	bridge_thread_mark(r->b);
	r->turn = T_IDLE;
	bridge_kick(r);
}

void bridge_thread_make(struct broom *r, struct bturn_head *h)
{
	struct lapi_at at = { h->ag.agent_id, "" };
	char key[2 * LIM_STORE_ID + 32];

	bridge_thread_key(r->id, h->m.thread, NULL, key, sizeof key);
	r->turn = T_CONV;
	r->turn_call = r->b->lapi->ops->conv(r->b->lapi, r, &at, key, on_conv,
	                                     r);
	if (!r->turn_call)
		bridge_turn_retry(r, h, "the thread's conversation could not be "
		                  "asked for");
}

/* ---- the marks ---- */

/* The first mark the store holds, and whether it is still worth
 * posting: the room is an agent's own (the bot is in it; a direct chat
 * has no marks) and still keeps that conversation for the thread. */
struct mark {
	int found, stale;
	char key[STORE_META_KEY + 1];
	char room[LIM_STORE_ID], thread[LIM_STORE_ID];
	char conv[LIM_LETTA_APP_ID];
};

static int first_mark(const char *key, size_t kn, const char *val,
                      size_t vn, void *arg)
{
	struct mark *m = arg;
	size_t pn = strlen(MARK_PREFIX), rn, tn;
	const char *sp;

	m->found = 1;
	m->stale = 1;
	memcpy(m->key, key, kn);
	m->key[kn] = '\0';
	sp = memchr(key + pn, ' ', kn - pn);
	if (!sp || vn >= sizeof m->conv || (rn = (size_t)(sp - key) - pn) >=
	    sizeof m->room || (tn = kn - pn - rn - 1) >= sizeof m->thread)
		return 1;
	memcpy(m->room, key + pn, rn);
	m->room[rn] = '\0';
	memcpy(m->thread, sp + 1, tn);          /* a key has no NUL */
	m->thread[tn] = '\0';
	memcpy(m->conv, val, vn);
	m->conv[vn] = '\0';
	m->stale = 0;
	return 1;
}

static int mark_view(struct store_txn *t, void *arg)
{
	struct mark *m = arg;
	struct store_agent a;
	char conv[LIM_LETTA_APP_ID];
	int e = store_meta_scan(t, MARK_PREFIX, first_mark, m);

	if (e < 0 || !m->found || m->stale)
		return e < 0 ? e : 0;
	m->stale = store_agent_by_room(t, m->room, &a) ||
	           store_conv_get(t, m->room, m->thread, conv, sizeof conv) ||
	           strcmp(conv, m->conv);
	return 0;
}

/* A mark as posted: dropped once taken, unless a newer one took its
 * place meanwhile. */
struct mark_sent {
	const char *key, *conv;
};

static int mark_del(struct store_txn *t, void *arg)
{
	const struct mark_sent *m = arg;
	char conv[LIM_LETTA_APP_ID];
	int e = store_meta_get(t, m->key, conv, sizeof conv);

	if (e == ERR_NOTFOUND || (!e && strcmp(conv, m->conv)))
		return 0;
	return e ? e : store_meta_del(t, m->key);
}

static void mark_drop(struct bridge *b, const char *key, const char *conv)
{
	struct mark_sent m = { key, conv };

	b->mark_tries = 0;
	if (store_update(b->store, mark_del, &m) < 0)
		LOG_ERROR("bridge", "event=thread_mark_not_dropped why=\"%s\"",
		          store_why(b->store));
}

/* The answer to the PUT of the mark b->mark_key (a mark that comes
 * first in the store meanwhile is not this one). */
static void on_mark(struct bcall *c, int st, const char *body, size_t len,
                    int64_t ra, int err)
{
	struct bridge *b = c->b;
	struct proto_resp resp = { .status = st, .retry_after_ms = ra,
	                          .body = body, .len = len };
	struct mx_error e;
	int64_t d;

	b->mark_call = NULL;
	if (st == 200) {
		LOG_INFO("bridge", "event=thread_marked mark=\"%s\" conv=%s",
		         b->mark_key, b->mark_conv);
		mark_drop(b, b->mark_key, b->mark_conv);
		bridge_thread_mark(b);
		return;
	}
	mx_error_parse(&resp, &e);
	d = mx_retry_delay_ms(&e, b->mark_tries++);
	if (st == 429)
		bridge_metric(b, METRICS_RATE_LIMITED, "state", 1);
	if (d < 0 || b->mark_tries >= MARK_TRIES) {
		/* the answers in the thread still name the conversation */
		LOG_WARN("bridge", "event=thread_mark_dropped mark=\"%s\" "
		         "status=%d errcode=%s err=%s", b->mark_key, st,
		         e.errcode, err_str(err));
		mark_drop(b, b->mark_key, b->mark_conv);
		bridge_thread_mark(b);
		return;
	}
	bridge_arm(b, &b->t_mark, d);
}

void bridge_thread_mark_timer(void *arg)
{
	bridge_thread_mark(arg);
}

/* The mark's PUT, as the bot. 0, or an error (the mark is dropped). */
static int mark_send(struct bridge *b, const struct mark *m)
{
	struct proto_req *q = malloc(sizeof *q);
	char content[LIM_LETTA_APP_ID + 64], *body = NULL;
	struct json_w w;
	int e;

	if (!q)
		return ERR_NOMEM;
	json_w_init(&w, content, sizeof content);
	json_w_obj(&w);
	json_w_kstr(&w, MX_THREAD_K_CONV, m->conv);
	json_w_kint(&w, "v", MX_MARKER_V);
	json_w_obj_end(&w);
	e = json_w_finish(&w, NULL);
	if (!e)
		e = mx_req_state_put(q, NULL, m->room, MX_THREAD_TYPE, m->thread,
		                     content);
	if (!e && !(body = malloc(q->body_len + 1)))
		e = ERR_NOMEM;
	if (!e) {
		memcpy(body, q->body, q->body_len);
		snprintf(b->mark_key, sizeof b->mark_key, "%s", m->key);
		snprintf(b->mark_conv, sizeof b->mark_conv, "%s", m->conv);
		b->mark_call = bridge_call(b, NULL, "PUT", BASE_HS, q->path,
		                           b->bot_token, body, q->body_len, 30000,
		                           on_mark);
		e = b->mark_call ? 0 : ERR_IO;
	}
	free(q);
	return e;
}

void bridge_thread_mark(struct bridge *b)
{
	struct mark m;
	int e;

	if (b->stopping || b->mark_call || loop_timer_armed(&b->t_mark) ||
	    !b->bot_token[0])
		return;
	/* stale ones go first, a few per pass */
	for (int i = 0; i < 16; i++) {
		memset(&m, 0, sizeof m);
		if (store_view(b->store, mark_view, &m) < 0 || !m.found)
			return;
		if (!m.stale)
			break;
		LOG_DEBUG("bridge", "event=thread_mark_stale mark=\"%.200s\"",
		          m.key);
		mark_drop(b, m.key, m.conv);
	}
	if (m.stale)
		return;
	if ((e = mark_send(b, &m)) == ERR_IO) {
		bridge_arm(b, &b->t_mark, bridge_backoff(LIM_BRIDGE_BACKOFF_MS,
		                                         b->mark_tries++));
		return;
	}
	if (e) {
		LOG_WARN("bridge", "event=thread_mark_dropped mark=\"%s\" "
		         "err=%s", m.key, err_str(e));
		mark_drop(b, m.key, m.conv);
	}
}
