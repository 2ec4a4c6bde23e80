/*
 * bridge_sync: step 1 of a message's path, sync in (bridge_int.h has the
 * map): the bot's /sync long-poll. The events of one answer that reach an
 * agent (and those of the gaps of limited timelines, fetched with /messages
 * back to the previous token) are written to the inbox together with the
 * new token in ONE transaction, and only then worked on: a crash at any
 * point either keeps the old token (the same events come again) or has
 * both. On the very first start (no token) the rooms' history is not
 * answered.
 *
 * An answer that cannot be read at all (over the size cap, invalid
 * UTF-8, not JSON) is synced again with one event per room, then with
 * none, and the rooms are caught up page by page: one bad event costs a
 * log line, never the loop.
 *
 * A catch-up that stops short (LIM_SYNC_CATCHUP, a homeserver that does
 * not give the history, an unreadable event) tells the room with one
 * notice from the agent user, an outbox entry of the same transaction
 * as the token: a crash before it means the gap is caught up again (and
 * told once then), after it the notice is sent once, its transaction id
 * fixed.
 */
#include "bridge/bridge_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "bridge/bcmd.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "prov/provision.h"

#define SYNC_HTTP_SLACK_MS 30000        /* the deadline above the poll */
#define NO_TOKEN_RETRY_MS 5000
#define TRIM_AFTER (256u << 10) /* answers bigger than this: tokens freed */

/* A command (bcmd.h): never stored, run once the batch is committed. */
#define ITEM_CMD (-1)

struct item {
	struct item *next;
	struct broom *room;
	int q;                          /* STORE_Q_INBOX / STORE_Q_OUTBOX,
	                                 * or ITEM_CMD */
	size_t n;
	uint8_t data[];
};

/* Why a catch-up stopped short (0: it did not). */
enum { LOST_NONE, LOST_BOUND, LOST_HISTORY, LOST_UNREADABLE, LOST_OTHER };

/* What the room is told, and the metric's label, per LOST_*. */
static const struct {
	enum bcmd_notice notice;
	const char *label;
} lost_tab[] = {
	[LOST_BOUND] = { BCMD_N_CATCHUP_BOUND, "bound" },
	[LOST_HISTORY] = { BCMD_N_CATCHUP_HISTORY, "history" },
	[LOST_UNREADABLE] = { BCMD_N_CATCHUP_UNREADABLE, "unreadable" },
	[LOST_OTHER] = { BCMD_N_CATCHUP_FAILED, "other" },
};

struct job {                            /* one room's gap */
	struct job *next;
	struct broom *room;
	char from[LIM_STORE_META];
	int fetched, limit, tries;
	int lost;                       /* LOST_* */
	struct item *items;             /* oldest first */
	struct store_agent ag;
};

struct inv {
	struct inv *next;
	char room[LIM_STORE_ID];
	int join;
	/* an agent user's invite (a direct chat): "" for the bot's */
	char agent_id[LIM_STORE_ID], user[LIM_STORE_ID];
	char person[LIM_STORE_ID];
	const char *why;                /* a declined one: static words */
};

struct bsync {
	struct bridge *b;
	struct sync_reader *rd;
	char since[LIM_STORE_META], next[LIM_STORE_META];
	char filter[LIM_STORE_ID];
	int fallback;                   /* 0 filter, 1 one event, 2 none */
	int tries;
	struct loop_timer t;
	struct bcall *call;
	struct item *items, **tail;
	struct job *jobs, **jtail, *cur;
	struct inv *invites;
	struct broom *qdirty;           /* rooms whose respond state is to
	                                 * be written with the token */
	/* while reading */
	struct store_txn *rt;
	struct job *in_job;             /* /messages of this job */
	int mapped;
	struct store_agent ag;          /* of the room being read */
	struct broom *room;             /* it, when mapped and made */
	char room_now[LIM_STORE_ID];    /* its id */
	size_t history;                 /* first start: not answered */
	/* appservice mode: the homeserver pushes transactions (no /sync) */
	int push;
	char txns[LIM_STORE_META];      /* the ids of the last ones taken */
	const char *txn;                /* the one being taken */
};

static void poll_next(struct bsync *s);
static void run_jobs(struct bsync *s);

/* ---- the batch ---- */

static void free_items(struct item *it)
{
	while (it) {
		struct item *n = it->next;

		if (it->room && it->q == STORE_Q_INBOX)
			it->room->pend = 0;
		free(it);
		it = n;
	}
}

static void batch_free(struct bsync *s)
{
	free_items(s->items);
	s->items = NULL;
	s->tail = &s->items;
	while (s->jobs) {
		struct job *j = s->jobs;

		s->jobs = j->next;
		free_items(j->items);
		free(j);
	}
	s->jtail = &s->jobs;
	s->cur = NULL;
	while (s->invites) {
		struct inv *v = s->invites;

		s->invites = v->next;
		free(v);
	}
}

static struct item *item_new(struct broom *r, int q, const uint8_t *d,
                             size_t n)
{
	struct item *it = malloc(sizeof *it + n);

	if (!it)
		return NULL;
	it->next = NULL;
	it->room = r;
	it->q = q;
	it->n = n;
	memcpy(it->data, d, n);
	return it;
}

/* ---- the sink ---- */

static int on_room(void *arg, const char *room, int limited,
                   const char *prev)
{
	struct bsync *s = arg;
	struct job *j;

	/* its own room, or a direct chat with its user */
	s->mapped = !store_agent_of_room(s->rt, room, &s->ag);
	if (!s->mapped)
		return 0;
	snprintf(s->room_now, sizeof s->room_now, "%s", room);
	if ((s->room = bridge_room_get(s->b, room)))
		bridge_quiet_load(s->rt, s->room);
	if (!limited || !s->since[0] || !prev[0])
		return 0;
	j = calloc(1, sizeof *j);
	if (!j || !(j->room = bridge_room(s->b, room))) {
		free(j);
		return ERR_NOMEM;
	}
	snprintf(j->from, sizeof j->from, "%s", prev);
	j->limit = LIM_SYNC_PAGE;
	j->ag = s->ag;
	*s->jtail = j;
	s->jtail = &j->next;
	return 0;
}

/* The room being read, made now that its respond state must be kept. */
static struct broom *quiet_room(struct bsync *s)
{
	if (!s->room && (s->room = bridge_room(s->b, s->room_now)))
		bridge_quiet_load(s->rt, s->room);
	return s->room;
}

static int on_members(void *arg, const char *room, int64_t joined)
{
	struct bsync *s = arg;

	if (!s->mapped || strcmp(room, s->room_now))
		return 0;
	/* a small room with nothing kept for it is answered as one that
	 * was never counted: no room made (the first sync lists them all) */
	if (!s->room && joined <= BQ_SMALL_JOINED &&
	    !bridge_quiet_stored(s->rt, room))
		return 0;
	if (!quiet_room(s))
		return ERR_NOMEM;
	bridge_quiet_members(s->room, joined, &s->qdirty);
	return 0;
}

static int on_state(void *arg, const struct sync_state *st)
{
	struct bsync *s = arg;

	if (!s->mapped || strcmp(st->room_id, s->room_now) ||
	    strcmp(st->type, SYNC_ROOM_SETTINGS))
		return 0;
	if (!quiet_room(s))
		return ERR_NOMEM;
	bridge_quiet_setting(s->room, st, &s->qdirty);
	return 0;
}

static void add_item(struct bsync *s, struct item *it)
{
	if (s->in_job) {
		/* /messages gives newest first: prepend, oldest ends first */
		it->next = s->in_job->items;
		s->in_job->items = it;
	} else {
		*s->tail = it;
		s->tail = &it->next;
	}
}

/* A notice from agent user `user` in room r as an outbox item of the
 * batch (reply_to "": about the room, no question). NULL on failure. */
static struct item *notice_item(struct broom *r, const char *user,
                                const char *reply_to, const char *text)
{
	struct bridge_out o = { .kind = BRIDGE_OUT_NOTICE, .body = text,
	                        .body_len = strlen(text) };
	uint8_t buf[BCMD_TEXT_MAX + 1024];
	size_t n;

	snprintf(o.sender, sizeof o.sender, "%s", user);
	snprintf(o.reply_to, sizeof o.reply_to, "%s", reply_to);
	if (bridge_out_encode(&o, buf, sizeof buf, &n))
		return NULL;
	return item_new(r, STORE_Q_OUTBOX, buf, n);
}

/* The queue is full: the person is told instead. */
static int refuse(struct bsync *s, struct broom *r, const struct sync_ev *ev)
{
	char text[256];
	struct item *it;

	snprintf(text, sizeof text, "Your message was not passed on to the "
	         "agent: %d messages are already waiting. Please send it "
	         "again later.", r->nin + r->pend);
	if (!(it = notice_item(r, s->ag.user_id, ev->event_id, text)))
		return ERR_NOMEM;
	LOG_WARN("bridge", "event=queue_full room=%s event_id=%s waiting=%d",
	         r->id, ev->event_id, r->nin + r->pend);
	add_item(s, it);
	return 0;
}

static int on_event(void *arg, const struct sync_ev *ev)
{
	struct bsync *s = arg;
	struct bridge *b = s->b;
	struct store_agent other;
	struct bridge_in m = { 0 };
	const char *why;
	struct broom *r;
	struct item *it;
	size_t n;
	int len, q = STORE_Q_INBOX, take;

	if (!s->mapped)
		return 0;
	if (!bridge_wanted(&b->pol, ev, !store_agent_by_user(s->rt, ev->sender,
	                                                      &other), &why)) {
		LOG_DEBUG("bridge", "event=not_for_agent room=%s event_id=%s "
		          "why=\"%s\"", ev->room_id, ev->event_id, why);
		return 0;
	}
	if (!s->since[0]) {
		s->history++;
		return 0;
	}
	if (!(r = bridge_room(b, ev->room_id)))
		return ERR_NOMEM;
	bridge_quiet_load(s->rt, r);    /* once: a room made for this */
	if (bridge_cmd_is(b, ev)) {
		/* a command: the agent never reads it */
		len = (int)ev->body_len;
		memcpy(b->text, ev->body, ev->body_len < LIM_BRIDGE_TEXT ?
		       ev->body_len : LIM_BRIDGE_TEXT);
		if (ev->body_len > LIM_BRIDGE_TEXT)
			len = LIM_BRIDGE_TEXT;
		q = ITEM_CMD;
	} else if ((take = bridge_quiet_take(b, r, s->ag.user_id, ev)) ==
	           BQ_DROP) {
		LOG_DEBUG("bridge", "event=not_addressed room=%s event_id=%s",
		          ev->room_id, ev->event_id);
		return 0;
	} else if (r->nin + r->pend >= b->queue_limit) {
		if (take == BQ_LISTEN)
			return 0;       /* not asked: no notice to refuse */
		return refuse(s, r, ev);
	} else {
		len = bridge_quiet_read(b, ev, take == BQ_LISTEN);
		m.flags = take == BQ_LISTEN ? BRIDGE_IN_F_LISTEN : 0;
		/* a picture asked about goes to the agent (bridge_img.c) */
		if (take == BQ_ANSWER && b->img_max && ev->mxc[0] &&
		    !strcmp(ev->msgtype, "m.image")) {
			m.flags |= BRIDGE_IN_F_IMAGE;
			snprintf(m.mxc, sizeof m.mxc, "%s", ev->mxc);
			m.img_size = ev->size;
		}
	}
	if (len <= 0)
		return 0;
	snprintf(m.event_id, sizeof m.event_id, "%s", ev->event_id);
	snprintf(m.sender, sizeof m.sender, "%s", ev->sender);
	if (ev->rel == SYNC_REL_THREAD)
		snprintf(m.thread, sizeof m.thread, "%s", ev->thread_root);
	m.ts = ev->ts;
	m.queued = store_now(b->store);
	m.text = b->text;
	m.text_len = (size_t)len;
	if (bridge_in_encode(&m, b->rec, LIM_STORE_QVALUE, &n)) {
		LOG_WARN("sync", "event=event_skipped room=%s event_id=%s "
		         "reason=\"cannot be stored\"", ev->room_id, ev->event_id);
		return 0;
	}
	if (!(it = item_new(r, q, b->rec, n)))
		return ERR_NOMEM;
	if (q == STORE_Q_INBOX)
		r->pend++;
	if (m.thread[0])
		r->lane_maybe = 1;
	add_item(s, it);
	return 0;
}

static int on_invite(void *arg, const char *room, const char *inviter)
{
	struct bsync *s = arg;
	struct store_agent a;
	struct inv *v;
	int ours = inviter[0] && !store_agent_by_user(s->rt, inviter, &a);

	if (!ours && !s->b->decline_invites) {
		LOG_INFO("bridge", "event=invite_ignored room=%s inviter=%s", room,
		         inviter);
		return 0;
	}
	if (!(v = calloc(1, sizeof *v)))
		return ERR_NOMEM;
	snprintf(v->room, sizeof v->room, "%s", room);
	v->join = ours;
	v->next = s->invites;
	s->invites = v;
	LOG_INFO("bridge", "event=invite room=%s inviter=%s action=%s", room,
	         inviter[0] ? inviter : "?", ours ? "join" : "decline");
	return 0;
}

/* Whether an agent user takes person's invite (is_direct as the invite
 * said): [bridge] agent_invites, and a person allowed to talk to
 * agents. Returns NULL (take it) or why not. */
static const char *dm_refusal(const struct bridge *b, const char *person,
                              int is_direct)
{
	if (b->agent_invites == BRIDGE_INVITES_NONE)
		return "this bridge takes no invites of its agents";
	if (b->agent_invites == BRIDGE_INVITES_DIRECT && !is_direct)
		return "agents join direct chats only";
	if (!person[0] || !bridge_allowed(&b->pol, person))
		return "you may not talk to this bridge's agents";
	return NULL;
}

/* An invite of someone else than the bot (pushed in appservice mode):
 * one of our agent users asked into a room. */
static int on_user_invite(void *arg, const char *room, const char *invitee,
                          const char *inviter, int is_direct)
{
	struct bsync *s = arg;
	struct store_agent a, own;
	const char *why;
	struct inv *v;

	if (store_agent_by_user(s->rt, invitee, &a) ||
	    !store_agent_by_room(s->rt, room, &own))
		return 0;       /* not ours, or the agent's own room */
	why = dm_refusal(s->b, inviter, is_direct);
	if (!(v = calloc(1, sizeof *v)))
		return ERR_NOMEM;
	snprintf(v->room, sizeof v->room, "%s", room);
	snprintf(v->agent_id, sizeof v->agent_id, "%s", a.agent_id);
	snprintf(v->user, sizeof v->user, "%s", a.user_id);
	snprintf(v->person, sizeof v->person, "%s", inviter);
	v->join = !why;
	v->why = why;
	v->next = s->invites;
	s->invites = v;
	LOG_INFO("bridge", "event=agent_invite room=%s agent=%s inviter=%s "
	         "direct=%d action=%s why=\"%s\"", room, a.agent_id,
	         inviter[0] ? inviter : "?", is_direct, why ? "decline" : "join",
	         why ? why : "");
	return 0;
}

static const struct sync_sink sink_tmpl = {
	.on_room = on_room, .on_event = on_event, .on_invite = on_invite,
	.on_user_invite = on_user_invite, .on_members = on_members,
	.on_state = on_state,
};

/* ---- committing ---- */

static int push_list(struct store_txn *t, struct item *it)
{
	int e;

	for (; it; it = it->next)
		if (it->q != ITEM_CMD &&
		    (e = store_q_push(t, it->q, it->room->id, it->data, it->n,
		                      NULL)))
			return e;
	return 0;
}

static int txns_view(struct store_txn *t, void *arg)
{
	struct bsync *s = arg;

	return bridge_as_txns_get(t, s->txns, sizeof s->txns);
}

static int commit_txn(struct store_txn *t, void *arg)
{
	struct bsync *s = arg;
	int e;

	for (struct job *j = s->jobs; j; j = j->next)
		if ((e = push_list(t, j->items)))
			return e;
	if ((e = push_list(t, s->items)))
		return e;
	for (struct inv *v = s->invites; v; v = v->next)
		if (v->agent_id[0] && v->join &&
		    (e = store_dm_put(t, v->room, v->agent_id, v->person,
		                      0)))
			return e;
	if ((e = bridge_quiet_save(t, s->qdirty)))
		return e;
	if (s->push)
		return bridge_as_txns_put(t, s->txns, s->txn);
	return store_meta_put(t, SYNC_META_TOKEN, s->next);
}

static void took(struct item *it)
{
	for (; it; it = it->next) {
		if (it->q == ITEM_CMD)
			bridge_cmd_run(it->room, it->data, it->n);
		if (it->q == STORE_Q_INBOX && it->room->pend) {
			bridge_metric(it->room->b, METRICS_MSG_RECEIVED, NULL,
			              it->room->pend);
			bridge_inbox_moved(it->room, it->room->pend);
			it->room->pend = 0;
		}
		bridge_kick(it->room);
	}
}

static void on_membership(struct bcall *c, int st, const char *body,
                          size_t len, int64_t ra, int err)
{
	(void)body;
	(void)len;
	(void)ra;
	if (st != 200)
		LOG_WARN("bridge", "event=invite_answer_failed url=%.100s "
		         "status=%d err=%s", c->url, st, err_str(err));
}

static void answer_invites(struct bsync *s)
{
	char path[LIM_PROTO_PATH];
	struct proto_buf p;

	for (struct inv *v = s->invites; v; v = v->next) {
		char *body;

		if (v->agent_id[0]) {   /* a direct chat with an agent */
			bridge_dm_answer(s->b, v->room, v->user, v->join, v->why);
			continue;
		}
		body = strdup("{}");
		proto_buf_init(&p, path, sizeof path);
		proto_buf_str(&p, v->join ? "/_matrix/client/v3/join/"
		                          : "/_matrix/client/v3/rooms/");
		proto_buf_urlenc(&p, v->room);
		if (!v->join)
			proto_buf_str(&p, "/leave");
		if (!body || p.err) {
			free(body);
			continue;
		}
		bridge_call(s->b, NULL, "POST", BASE_HS, path, s->b->bot_token,
		            body, 2, 30000, on_membership);
	}
}

static void commit(struct bsync *s)
{
	/* An empty long-poll that ends with the same token: nothing to
	 * write (no fsync per idle period). */
	int same = !s->items && !s->jobs && !s->qdirty && s->since[0] &&
	           !strcmp(s->since, s->next);
	int e = same ? 0 : store_update(s->b->store, commit_txn, s);

	if (e) {
		/* Nothing was written: the same events come again. */
		LOG_ERROR("bridge", "event=sync_not_stored err=%s why=\"%s\"",
		          err_str(e), store_why(s->b->store));
		batch_free(s);
		bridge_arm(s->b, &s->t, bridge_backoff(1000, s->tries++));
		return;
	}
	bridge_quiet_saved(&s->qdirty);
	if (!s->since[0])
		LOG_INFO("bridge", "event=first_sync history_not_answered=%zu",
		         s->history);
	s->history = 0;
	if (s->b->metrics)
		metrics_sync_ok(s->b->metrics, loop_now(s->b->loop));
	for (struct job *j = s->jobs; j; j = j->next) {
		if (j->lost)
			bridge_metric(s->b, METRICS_CATCHUP_INCOMPLETE,
			              lost_tab[j->lost].label, 1);
		took(j->items);
	}
	took(s->items);
	answer_invites(s);
	snprintf(s->since, sizeof s->since, "%s", s->next);
	s->fallback = 0;
	s->tries = 0;
	batch_free(s);
	poll_next(s);
}

/* ---- catching up a limited timeline ---- */

/* v with a thousands separator, as people read it (v < 1,000,000). */
static void thousands(char *out, size_t cap, int v)
{
	if (v >= 1000)
		snprintf(out, cap, "%d,%03d", v / 1000, v % 1000);
	else
		snprintf(out, cap, "%d", v);
}

/* One notice that older messages never reached the agent, first of the
 * room's items: stored with the token, so told once per gap. */
static void tell_lost(struct bsync *s, struct job *j)
{
	char text[BCMD_TEXT_MAX], bound[16];
	struct item *it;

	thousands(bound, sizeof bound, LIM_SYNC_CATCHUP);
	if (bcmd_notice(text, sizeof text, lost_tab[j->lost].notice,
	                s->b->cmd_prefix, bound) < 0 ||
	    !(it = notice_item(j->room, j->ag.user_id, "", text))) {
		LOG_WARN("bridge", "event=catch_up_notice_lost room=%s",
		         j->room->id);
		return;
	}
	it->next = j->items;
	j->items = it;
}

/* The job is over; lost (LOST_*) says why it stopped short, `why` in
 * the log's words. */
static void job_done(struct bsync *s, struct job *j, int lost,
                     const char *why)
{
	if (lost) {
		LOG_WARN("bridge", "event=catch_up_incomplete room=%s fetched=%d "
		         "reason=\"%s\"", j->room->id, j->fetched, why);
		j->lost = lost;
		tell_lost(s, j);
	}
	s->cur = j->next;
	run_jobs(s);
}

/* A refusal that asking again does not change: a token the homeserver
 * no longer takes, history the bot may not see, a room gone (401, 429,
 * 5xx and no answer are tried again). */
static int refused_for_good(int st)
{
	return st == 400 || st == 403 || st == 404;
}

static void on_page(struct bcall *c, int st, const char *body, size_t len,
                    int64_t ra, int err)
{
	struct bsync *s = c->b->sync;
	struct job *j = s->cur;
	struct sync_sink sk = sink_tmpl;
	char end[LIM_STORE_META];
	int e;

	(void)ra;
	s->call = NULL;
	if (st != 200) {
		if (refused_for_good(st) || ++j->tries >= LIM_BRIDGE_TRIES) {
			LOG_WARN("bridge", "event=catch_up_refused room=%s "
			         "status=%d err=%s", j->room->id, st, err_str(err));
			job_done(s, j, LOST_HISTORY, "the homeserver did not give "
			         "the history");
			return;
		}
		LOG_WARN("bridge", "event=catch_up_retry room=%s status=%d err=%s",
		         j->room->id, st, err_str(err));
		bridge_arm(s->b, &s->t, bridge_backoff(LIM_BRIDGE_BACKOFF_MS,
		                                       j->tries));
		return;
	}
	sk.arg = s;
	sk.me = s->b->pol.bot;
	s->in_job = j;
	s->mapped = 1;
	s->ag = j->ag;
	s->room = j->room;
	if (store_txn_begin(s->b->store, false, &s->rt)) {
		s->in_job = NULL;
		job_done(s, j, LOST_OTHER, "store unreadable");
		return;
	}
	e = sync_messages_parse(s->rd, body, len, j->room->id, &sk, end,
	                        sizeof end);
	if (len > TRIM_AFTER)
		sync_reader_trim(s->rd);
	store_txn_abort(s->rt);
	s->rt = NULL;
	s->in_job = NULL;
	if (e && j->limit > 1) {
		LOG_WARN("bridge", "event=catch_up_page_unreadable room=%s err=%s",
		         j->room->id, err_str(e));
		j->limit = 1;           /* go around the bad event */
		run_jobs(s);
		return;
	}
	if (e) {
		job_done(s, j, LOST_UNREADABLE, "an unreadable event; older ones "
		         "not answered");
		return;
	}
	j->fetched += j->limit;
	j->tries = 0;
	if (!end[0]) {
		job_done(s, j, LOST_NONE, NULL);
	} else if (j->fetched >= LIM_SYNC_CATCHUP) {
		job_done(s, j, LOST_BOUND, "more messages while away than the "
		         "catch-up bound; older ones not answered");
	} else {
		snprintf(j->from, sizeof j->from, "%s", end);
		j->limit = LIM_SYNC_PAGE;
		run_jobs(s);
	}
}

static void run_jobs(struct bsync *s)
{
	struct proto_req *q;
	struct job *j = s->cur;

	if (s->b->stopping)
		return;
	if (!j) {
		commit(s);
		return;
	}
	q = malloc(sizeof *q);
	if (!q || sync_req_messages(q, s->b->bot_token, j->room->id, j->from,
	                            s->since, j->limit)) {
		free(q);
		job_done(s, j, LOST_OTHER, "request too long");
		return;
	}
	s->call = bridge_call(s->b, NULL, "GET", BASE_HS, q->path,
	                      s->b->bot_token, NULL, 0, 60000, on_page);
	free(q);
	if (!s->call)
		bridge_arm(s->b, &s->t, 1000);
}

/* ---- the long-poll ---- */

static int reread_token(struct store_txn *t, void *arg)
{
	struct bsync *s = arg;
	bool clear;

	return store_meta_get_sealed(t, PROV_META_BOT_TOKEN, s->b->bot_token,
	                             sizeof s->b->bot_token, &clear);
}

static void sync_failed(struct bsync *s, int st, const char *body,
                        size_t len, int64_t ra, int err)
{
	struct proto_resp resp = { .status = st, .retry_after_ms = ra,
	                          .body = body, .len = len };
	struct mx_error e;
	int64_t d;

	mx_error_parse(&resp, &e);
	if (st == 400 && mx_error_is(&e, "M_UNKNOWN") && s->since[0]) {
		LOG_ERROR("bridge", "event=sync_token_refused msg=\"the "
		          "homeserver no longer knows our sync token; starting "
		          "over: messages sent meanwhile are not answered\"");
		s->since[0] = '\0';
	}
	if (st == 401 && !s->b->a->bot_token[0])
		store_view(s->b->store, reread_token, s);
	d = st == 429 && e.retry_after_ms >= 0 ? e.retry_after_ms
	    : bridge_backoff(LIM_BRIDGE_BACKOFF_MS, s->tries);
	s->tries++;
	if (s->b->metrics) {
		char why[96];

		snprintf(why, sizeof why, "sync: %s %s", st ? "HTTP" : "",
		         st ? e.errcode : err_str(err));
		metrics_sync_failed(s->b->metrics, loop_now(s->b->loop), why);
		metrics_add(s->b->metrics, METRICS_RECONNECTS, "sync", 1);
		if (st == 429)
			metrics_add(s->b->metrics, METRICS_RATE_LIMITED, "sync", 1);
	}
	LOG_WARN("bridge", "event=sync_failed status=%d errcode=%s err=%s "
	         "retry_ms=%lld", st, e.errcode, err_str(err), (long long)d);
	bridge_arm(s->b, &s->t, d);
}

static void on_sync(struct bcall *c, int st, const char *body, size_t len,
                    int64_t ra, int err)
{
	struct bsync *s = c->b->sync;
	struct sync_sink sk = sink_tmpl;
	int e;

	s->call = NULL;
	if (err == ERR_TOOBIG || (st == 200 && err == 0 && len == 0)) {
		e = ERR_TOOBIG;
	} else if (st != 200) {
		sync_failed(s, st, body, len, ra, err);
		return;
	} else {
		sk.arg = s;
		sk.me = s->b->pol.bot;
		e = store_txn_begin(s->b->store, false, &s->rt);
		if (!e) {
			e = sync_parse(s->rd, body, len, &sk, s->next,
			               sizeof s->next);
			store_txn_abort(s->rt);
			s->rt = NULL;
			if (len > TRIM_AFTER)
				sync_reader_trim(s->rd);
		}
	}
	if (e) {
		batch_free(s);
		if (e == ERR_NOMEM || e == ERR_STORE || s->fallback >= 2) {
			sync_failed(s, 0, "", 0, -1, e);
			return;
		}
		s->fallback++;
		LOG_WARN("bridge", "event=sync_unreadable err=%s next=\"sync "
		         "again with %s event per room, then catch up\"",
		         err_str(e), s->fallback == 1 ? "one" : "no");
		poll_next(s);
		return;
	}
	s->cur = s->jobs;
	run_jobs(s);
}

static void on_filter(struct bcall *c, int st, const char *body, size_t len,
                      int64_t ra, int err);

static int meta_view(struct store_txn *t, void *arg)
{
	struct bsync *s = arg;

	if (store_meta_get(t, SYNC_META_TOKEN, s->since, sizeof s->since))
		s->since[0] = '\0';
	if (store_meta_get(t, SYNC_META_FILTER, s->filter, sizeof s->filter))
		s->filter[0] = '\0';
	return 0;
}

static int filter_put(struct store_txn *t, void *arg)
{
	struct bsync *s = arg;

	return store_meta_put(t, SYNC_META_FILTER, s->filter);
}

static void poll_next(struct bsync *s)
{
	struct bridge *b = s->b;
	struct proto_req *q;
	int r;

	if (b->stopping)
		return;
	if (!b->bot_token[0]) {
		store_view(b->store, reread_token, s);
		if (!b->bot_token[0]) {
			bridge_arm(b, &s->t, NO_TOKEN_RETRY_MS);
			return;
		}
	}
	if (!(q = malloc(sizeof *q)))
		return;
	if (!s->filter[0]) {
		r = sync_req_filter(q, b->bot_token, b->pol.bot, LIM_SYNC_TIMELINE);
		if (!r)
			s->call = bridge_call(b, NULL, "POST", BASE_HS, q->path,
			                      b->bot_token, strdup(q->body),
			                      q->body_len, 30000, on_filter);
	} else {
		r = sync_req(q, b->bot_token, s->fallback ? NULL : s->filter,
		             s->fallback == 1 ? 1 : 0, s->since, b->poll_ms);
		if (!r)
			s->call = bridge_call(b, NULL, "GET", BASE_HS, q->path,
			                      b->bot_token, NULL, 0,
			                      b->poll_ms + SYNC_HTTP_SLACK_MS,
			                      on_sync);
	}
	free(q);
	if (r || !s->call) {
		LOG_ERROR("bridge", "event=sync_request_failed err=%s",
		          err_str(r));
		bridge_arm(b, &s->t, bridge_backoff(1000, s->tries++));
	}
}

static void on_filter(struct bcall *c, int st, const char *body, size_t len,
                      int64_t ra, int err)
{
	struct bsync *s = c->b->sync;
	struct proto_resp resp = { .status = st, .retry_after_ms = ra,
	                          .body = body, .len = len };
	struct mx_error e;

	s->call = NULL;
	memset(&e, 0, sizeof e);
	if (sync_filter_parse(&resp, s->filter, sizeof s->filter, &e) ||
	    store_update(s->b->store, filter_put, s)) {
		s->filter[0] = '\0';
		sync_failed(s, st, body, len, ra, err);
		return;
	}
	LOG_INFO("bridge", "event=filter_stored id=%s", s->filter);
	poll_next(s);
}

static void on_timer(void *arg)
{
	struct bsync *s = arg;

	if (s->cur)
		run_jobs(s);
	else
		poll_next(s);
}

int bridge_sync_push(struct bsync *s, const char *txn, const char *body,
                     size_t len)
{
	struct sync_sink sk = sink_tmpl;
	int e;

	if (!s || !s->push || !bridge_as_txn_ok(txn))
		return ERR_INVAL;
	if ((e = store_view(s->b->store, txns_view, s)) < 0)
		return e;
	if (bridge_as_txn_seen(s->txns, txn)) {
		LOG_INFO("bridge", "event=txn_again txn=%s msg=\"taken before: "
		         "answered without taking it twice\"", txn);
		return 0;
	}
	sk.arg = s;
	sk.me = s->b->pol.bot;
	if (!(e = store_txn_begin(s->b->store, false, &s->rt))) {
		e = sync_txn_parse(s->rd, body, len, &sk);
		store_txn_abort(s->rt);
		s->rt = NULL;
		if (len > TRIM_AFTER)
			sync_reader_trim(s->rd);
	}
	s->txn = txn;
	if (e == ERR_PROTO || e == ERR_UTF8 || e == ERR_TOOBIG) {
		/* it will never read better: taken as empty, or the
		 * homeserver would resend it for good and stall the rest */
		LOG_ERROR("bridge", "event=txn_unreadable txn=%s err=%s bytes=%zu",
		          txn, err_str(e), len);
		batch_free(s);
		e = 0;
	}
	/* the events and the id in one transaction: a crash before it
	 * commits has neither, and the homeserver sends it again */
	if (!e)
		e = store_update(s->b->store, commit_txn, s);
	if (e) {
		LOG_WARN("bridge", "event=txn_not_taken txn=%s err=%s why=\"%s\"",
		         txn, err_str(e), e == ERR_STORE ?
		         store_why(s->b->store) : "unreadable");
		batch_free(s);
		return e;
	}
	bridge_quiet_saved(&s->qdirty);
	if (s->b->metrics)
		metrics_sync_ok(s->b->metrics, loop_now(s->b->loop));
	took(s->items);
	answer_invites(s);
	batch_free(s);
	return 0;
}

struct bsync *bridge_sync_start(struct bridge *b)
{
	struct bsync *s = calloc(1, sizeof *s);

	if (!s || !(s->rd = sync_reader_new())) {
		free(s);
		LOG_ERROR("bridge", "event=sync_not_started err=%s",
		          err_str(ERR_NOMEM));
		return NULL;
	}
	s->b = b;
	s->tail = &s->items;
	s->jtail = &s->jobs;
	b->sync = s;
	loop_timer_init(&s->t, on_timer, s);
	if (b->a->pc.as_token) {
		/* pushed: every event is new (the homeserver sends only what
		 * came after the service was registered) */
		s->push = 1;
		snprintf(s->since, sizeof s->since, "pushed");
		return s;
	}
	store_view(b->store, meta_view, s);
	if (!s->since[0])
		LOG_INFO("bridge", "event=first_start msg=\"messages already in "
		         "the rooms are not answered\"");
	bridge_arm(b, &s->t, 0);
	return s;
}

void bridge_sync_stop(struct bsync *s)
{
	if (!s)
		return;
	loop_timer_cancel(s->b->loop, &s->t);
	s->call = NULL;         /* cancelled with every call of the bridge */
}

void bridge_sync_free(struct bsync *s)
{
	if (!s)
		return;
	batch_free(s);
	sync_reader_free(s->rd);
	free(s);
}
