/*
 * bridge_turn: step 3, the turn (bridge_int.h has the map): the turn of one
 * lane of a room (its main timeline, or a thread with a conversation of
 * its own): the oldest question of the lane goes to its agent once (one
 * turn per conversation; at most max_turns at once), the answer or an
 * explanation to the room's outbox in the transaction that removes the
 * question.
 * Before any re-send the agent's history is read for the question's otid
 * (for an answer to a tool approval: for its approval response); after a
 * restart, a question not found there is sent again only once no run of its
 * agent is going. A turn that ends on an approval request keeps the pending
 * call in that same transaction (the notices: bridge_appr.c); !approve and
 * !deny (bridge_cmd.c) queue the answer as an entry of the inbox.
 */
#include "bridge/bridge_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bcmd.h"
#include "core/err.h"
#include "core/ident.h"
#include "core/img.h"
#include "core/log.h"
#include "core/metrics.h"
#include "letta/lapi.h"
#include "letta/letta_msg.h"

#define HIST_POLL_MS 5000       /* a turn seen running: look again */
#define TYPING_REFRESH_MS 25000 /* typing (30 s) re-sent before it lapses */

/* ---- global cap on turns ---- */

static void slot_release(struct broom *r)
{
	struct bridge *b = r->b;
	struct broom *n;

	if (!r->has_slot)
		return;
	r->has_slot = 0;
	b->turns--;
	if (b->metrics)
		metrics_set(b->metrics, METRICS_TURNS_IN_FLIGHT, NULL, b->turns);
	if ((n = b->slotq)) {
		b->slotq = n->slot_next;
		if (!b->slotq)
			b->slotq_tail = NULL;
		n->slot_next = NULL;
		n->has_slot = 1;
		b->turns++;
		n->turn = n->next_step;
		bridge_kick(n);
	}
}

/* 1 if r holds a slot now; else it waits in line for step `step`. */
static int slot_take(struct broom *r, int step)
{
	struct bridge *b = r->b;

	if (r->has_slot)
		return 1;
	if (b->turns < b->max_turns) {
		b->turns++;
		r->has_slot = 1;
		if (b->metrics)
			metrics_set(b->metrics, METRICS_TURNS_IN_FLIGHT, NULL,
			            b->turns);
		return 1;
	}
	r->turn = T_SLOT;
	r->next_step = step;
	if (b->slotq_tail)
		b->slotq_tail->slot_next = r;
	else
		b->slotq = r;
	b->slotq_tail = r;
	return 0;
}

/* ---- the head of the inbox ---- */

struct head_ctx {
	struct broom *r;
	struct bturn_head *h;
	uint8_t *buf;
	int got;                        /* an entry was read */
	int n;                          /* entries of r's lane */
	int want;                       /* the entry to take: 1 the first
	                                 * of the lane, 2 the second */
	char second[LIM_STORE_ID];      /* want 2: its event id */
};

/* The inbox of r's room, entry by entry: r's lane's (the thread's, or
 * the room's for the main timeline), counted, the wanted one copied. An
 * entry that cannot be read is the room's (its turn drops it). */
static int lane_cb(const char *room, uint64_t seq, const void *data,
                   size_t n, void *arg)
{
	struct head_ctx *c = arg;
	struct bridge_in m;

	(void)room;
	memset(&m, 0, sizeof m);
	if (bridge_in_peek(data, n, m.thread, &m.queued) ?
	    c->r->parent != NULL : !bridge_lane_has(c->r, &m))
		return 0;
	if (++c->n != c->want)
		return 0;
	if (c->want == 2) {
		if (!bridge_in_decode(data, n, &m))
			snprintf(c->second, sizeof c->second, "%s", m.event_id);
		return 0;
	}
	if (n > LIM_STORE_QVALUE)
		return ERR_CORRUPT;
	memcpy(c->buf, data, n);
	c->h->seq = seq;
	c->h->n = n;
	c->got = 1;
	return 0;
}

static int head_read(struct store_txn *t, void *arg)
{
	struct head_ctx *c = arg;
	int e;

	c->want = 1;
	e = store_q_each(t, STORE_Q_INBOX, c->r->id, lane_cb, c);
	if (e < 0)
		return e;
	c->r->lane_n = c->n;
	if (!c->got)
		return ERR_NOTFOUND;
	if (bridge_in_decode(c->buf, c->h->n, &c->h->m))
		return ERR_CORRUPT;
	if ((e = store_agent_of_room(t, c->r->id, &c->h->ag)))
		return e;
	return bridge_thread_conv(t, c->r, c->h);
}

/* The room's questions of thread lanes: each lane made and counted,
 * kicked when it has one (a room's turn never takes them). */
struct disp { struct broom *r; int err, own; };

static int disp_cb(const char *room, uint64_t seq, const void *data,
                   size_t n, void *arg)
{
	struct disp *d = arg;
	struct bridge_in m;
	struct broom *l;

	(void)room;
	(void)seq;
	memset(&m, 0, sizeof m);
	if (bridge_in_peek(data, n, m.thread, &m.queued) ||
	    bridge_lane_has(d->r, &m)) {
		d->own++;
		return 0;
	}
	if (!(l = bridge_lane_of(d->r, &m))) {
		d->err = ERR_NOMEM;
		return 0;
	}
	l->lane_n = l->lane_n < 0 ? 1 : l->lane_n + 1;
	return 0;
}

static int disp_view(struct store_txn *t, void *arg)
{
	struct disp *d = arg;

	return store_q_each(t, STORE_Q_INBOX, d->r->id, disp_cb, d);
}

static void dispatch(struct broom *r)
{
	struct disp d = { r, 0, 0 };

	/* no thread of its own can be queued: nothing to look for (the
	 * path of every question of the main timeline), and every question
	 * queued is the room's */
	if (!r->lanes && !r->lane_maybe) {
		r->lane_n = r->nin;
		return;
	}

	/* -1: not counted in this look yet (the callback's first entry of
	 * a lane sets 1) */
	for (struct broom *l = r->lanes; l; l = l->lane_next)
		l->lane_n = -1;
	if (store_view(r->b->store, disp_view, &d) < 0 || d.err)
		LOG_WARN("bridge", "event=lanes_unread room=%s err=%s", r->id,
		         err_str(d.err));
	else
		r->lane_n = d.own;
	r->lane_maybe = r->lanes != NULL;
	for (struct broom *l = r->lanes; l; l = l->lane_next) {
		if (l->lane_n < 0)
			l->lane_n = 0;
		if (l->lane_n)
			bridge_kick(l);
	}
}

/* Drops an inbox entry that cannot be worked on (one log line). */
static int drop_seq(struct store_txn *t, void *arg)
{
	struct head_ctx *c = arg;

	return store_q_del(t, STORE_Q_INBOX, c->r->id, c->h->seq);
}

/* Reads the head into h (h->m.text points into b->rec). Returns 0,
 * ERR_NOTFOUND (empty), or another error after dropping the entry. */
static int load_head(struct broom *r, struct bturn_head *h)
{
	struct head_ctx c = { r, h, r->b->rec, 0, 0, 1, "" };
	int e;

	memset(h, 0, sizeof *h);
	e = store_view(r->b->store, head_read, &c);
	if (e == ERR_NOTFOUND && !c.got)
		return e;
	if (e == ERR_CORRUPT || e == ERR_NOTFOUND) {
		LOG_WARN("bridge", "event=question_dropped room=%s seq=%llu "
		         "reason=\"%s\"", r->id, (unsigned long long)h->seq,
		         e == ERR_CORRUPT ? "unreadable inbox record"
		                          : "room no longer mapped");
		store_update(r->b->store, drop_seq, &c);
		bridge_inbox_moved(r, -1);
		return ERR_AGAIN;
	}
	return e;
}

/* ---- finishing a turn ---- */

struct fin {
	struct broom *r;
	uint64_t seq;
	const struct bridge_out *o;
	uint8_t *buf;
	const char *agent_id;           /* the agent, to flag or unflag */
	int gone;                       /* Letta said 404 */
	int flags;                      /* of the answer as stored */
	const struct bridge_out *o2;    /* a notice after o, or NULL */
	const struct letta_reply *rep;  /* an answer of Letta: the room's
	                                 * pending call becomes its approval
	                                 * request, or none */
};

/* 1 when the turn of rep ended paused on a tool call we can answer. */
int bridge_turn_waits_approval(const struct letta_reply *rep)
{
	return rep && rep->approval && rep->call_id[0] &&
	       (!rep->stop[0] || !strcmp(rep->stop, "requires_approval"));
}

/* The pending call in the transaction that finishes the turn: stored
 * when the answer asks for approval, gone when it does not. */
static int fin_pending(struct store_txn *t, struct fin *f)
{
	if (!f->rep)
		return 0;
	if (bridge_turn_waits_approval(f->rep))
		return bridge_pending_put(t, f->r->id, f->rep->call_id,
		                          f->rep->tool, f->o ? f->o->thread : "");
	return bridge_pending_del(t, f->r->id);
}

static int fin_txn(struct store_txn *t, void *arg)
{
	struct fin *f = arg;
	int e;

	if (f->o) {
		struct bridge_out o = *f->o;

		/* a live message of this question: the answer is its last
		 * edit */
		o.flags |= bridge_stream_flags(t, f->r, o.reply_to);
		f->flags = o.flags;
		if ((e = bridge_conv_push(t, f->r->b, f->r->id, &o, f->buf)))
			return e;
	}
	if (f->o2 && (e = bridge_conv_push(t, f->r->b, f->r->id, f->o2, f->buf)))
		return e;
	if ((e = fin_pending(t, f)))
		return e;
	if (f->agent_id) {
		struct store_agent a;

		/* 404: flagged; an answer again (the agent came back): not */
		if (!store_agent_get(t, f->agent_id, &a) &&
		    !!(a.flags & BRIDGE_F_AGENT_GONE) != f->gone) {
			a.flags ^= BRIDGE_F_AGENT_GONE;
			if ((e = store_agent_put(t, &a)))
				return e;
		}
	}
	e = store_q_del(t, STORE_Q_INBOX, f->r->id, f->seq);
	return e == ERR_NOTFOUND ? 0 : e;
}

static void turn_end(struct broom *r, const char *user)
{
	char tok[LIM_STORE_SECRET];

	slot_release(r);
	bridge_stream_close(r);
	loop_timer_cancel(r->b->loop, &r->t_wait);
	loop_timer_cancel(r->b->loop, &r->t_typing);
	if (r->typing && user && *user &&
	    !bridge_agent_token(r, user, tok, sizeof tok))
		bridge_typing(r, user, tok, 0);
	r->typing = 0;
	r->turn = T_IDLE;
	r->tries = 0;
	r->look_tries = 0;
	r->check_first = 0;
	r->resumed = 0;
	r->runs_check = RUNS_UNASKED;
	r->first_sent = 0;
	r->unsure_until = 0;
	/* one "queued" notice per stretch of waiting: again only once the
	 * room has caught up */
	if (!r->lane_n)
		r->wait_noticed = 0;
	r->run_id[0] = '\0';
	r->run_over = 0;
	bridge_img_drop(r);
	bridge_kick(r);
}

/* The head is still the question this call was for; else the turn
 * ends (a !cancel took it away). */
int bridge_turn_head_still(struct broom *r, struct bturn_head *h)
{
	if (load_head(r, h) || h->seq != r->head) {
		turn_end(r, h->ag.user_id);
		return 0;
	}
	return 1;
}

struct broom *bridge_turn_answered(struct broom *r, struct bturn_head *h)
{
	r->turn_call = NULL;
	return bridge_turn_head_still(r, h) ? r : NULL;
}

/* The question h is answered with `text` (kind BRIDGE_OUT_*), then
 * notice `note` (NULL: none); rep: Letta's answer (NULL: none), whose
 * approval request is kept as the room's pending call. */
void bridge_turn_finish(struct broom *r, struct bturn_head *h, int kind,
                        const char *text, size_t len, int gone,
                        const struct letta_reply *rep, const char *note)
{
	struct bridge_out o = { .kind = kind, .body = text, .body_len = len };
	struct bridge_out o2 = { .kind = BRIDGE_OUT_NOTICE };
	/* the agent may stay quiet (bridge_quiet.c): nothing posted */
	int quiet = bridge_quiet_is(h, kind, text, len, rep);
	struct fin f = { r, h->seq, quiet ? NULL : &o, NULL, NULL, gone, 0,
	                 NULL, rep };
	uint8_t *buf = r->b->orec;
	int e;

	snprintf(o.sender, sizeof o.sender, "%s", h->ag.user_id);
	snprintf(o.reply_to, sizeof o.reply_to, "%s", h->m.event_id);
	snprintf(o.thread, sizeof o.thread, "%s", h->m.thread);
	o.reply = !o.thread[0] && r->b->reply_rich;
	if (note && !quiet) {
		memcpy(o2.sender, o.sender, sizeof o.sender);
		memcpy(o2.reply_to, o.reply_to, sizeof o.reply_to);
		memcpy(o2.thread, o.thread, sizeof o.thread);
		o2.body = note;
		o2.body_len = strlen(note);
		f.o2 = &o2;
	}
	f.buf = buf;
	if (gone || ((h->ag.flags & BRIDGE_F_AGENT_GONE) &&
	             kind == BRIDGE_OUT_TEXT))
		f.agent_id = h->ag.agent_id;
	e = store_update(r->b->store, fin_txn, &f);
	if (e) {
		/* Nothing changed: the question stays; try again later. */
		LOG_ERROR("bridge", "event=answer_not_stored room=%s err=%s",
		          r->id, err_str(e));
		r->check_first = 1;     /* it ran: take it from the history */
		r->turn = T_WAIT;
		bridge_arm(r->b, &r->t_turn, bridge_backoff(1000, r->tries++));
		return;
	}
	bridge_inbox_moved(r, -1);
	if (quiet) {
		bridge_quiet_done(r, h, quiet);
		turn_end(r, h->ag.user_id);
		return;
	}
	if (f.flags & BRIDGE_OUT_F_FINAL)
		bridge_stream_final_queued(r, h->m.event_id);
	if (kind != BRIDGE_OUT_TEXT && !bridge_turn_waits_approval(rep))
		bridge_metric(r->b, METRICS_MSG_FAILED, "letta", 1);
	LOG_INFO("bridge", "event=answered room=%s event_id=%s kind=%s "
	         "bytes=%zu", r->id, h->m.event_id,
	         kind == BRIDGE_OUT_TEXT ? "answer" : "notice", len);
	turn_end(r, h->ag.user_id);
}

static void finish(struct broom *r, struct bturn_head *h, int kind,
                   const char *text, size_t len, int gone)
{
	bridge_turn_finish(r, h, kind, text, len, gone, NULL, NULL);
}

static void finish_notice(struct broom *r, struct bturn_head *h,
                          const char *text, int gone)
{
	snprintf(bridge_room_of(r)->last_err, sizeof r->last_err, "%s", text);
	finish(r, h, BRIDGE_OUT_NOTICE, text, strlen(text), gone);
}

void bridge_turn_pause(struct broom *r, int64_t ms)
{
	slot_release(r);
	r->turn = T_WAIT;
	bridge_arm(r->b, &r->t_turn, ms);
}

/* A failed try, counted in *tries: wait and go again, or tell the
 * person after the last. */
static void try_again(struct broom *r, struct bturn_head *h, int *tries,
                      const char *why)
{
	slot_release(r);
	if (++*tries >= LIM_BRIDGE_TRIES) {
		char msg[512];

		snprintf(msg, sizeof msg, "The agent could not be reached "
		         "(%s). Please try again later.", why);
		LOG_WARN("bridge", "event=turn_failed room=%s event_id=%s "
		         "reason=\"%s\"", r->id, h->m.event_id, why);
		finish_notice(r, h, msg, 0);
		return;
	}
	r->turn = T_WAIT;
	bridge_arm(r->b, &r->t_turn,
	           bridge_backoff(LIM_BRIDGE_BACKOFF_MS, *tries - 1));
}

/* A send that failed. */
static void retry_or_give_up(struct broom *r, struct bturn_head *h,
                             const char *why)
{
	try_again(r, h, &r->tries, why);
}

void bridge_turn_retry(struct broom *r, struct bturn_head *h, const char *why)
{
	retry_or_give_up(r, h, why);
}

/* A look at the history that failed: counted apart from the sends, so
 * that the looks a failed send brings do not use up its tries (each is
 * bounded on its own). */
static void look_failed(struct broom *r, struct bturn_head *h,
                        const char *why)
{
	try_again(r, h, &r->look_tries, why);
}

/* ---- Letta answers ---- */

static void reply_done(struct broom *r, struct bturn_head *h,
                       const struct letta_reply *rep)
{
	const char *text;

	if (bridge_turn_waits_approval(rep)) {
		bridge_appr_asked(r, h, rep);
		return;
	}
	if (rep->n > 0) {
		bridge_turn_finish(r, h, BRIDGE_OUT_TEXT, rep->text, rep->len,
		                   0, rep, NULL);
		return;
	}
	text = letta_msg_stop_text(rep);
	snprintf(bridge_room_of(r)->last_err, sizeof r->last_err, "%s", text);
	bridge_turn_finish(r, h, BRIDGE_OUT_NOTICE, text, strlen(text), 0, rep,
	                   NULL);
}

/* A send that got no usable answer: tell, or look and go again. */
static void send_failed(struct broom *r, struct bturn_head *h,
                        const struct lapi_res *res)
{
	char msg[512];

	LOG_WARN("bridge", "event=letta_failed room=%s agent=%s status=%d "
	         "err=%s detail=\"%.120s\"", r->id, h->ag.agent_id,
	         res->status, err_str(res->err), res->detail);
	switch (res->fail) {
	case LETTA_F_GONE:
		finish_notice(r, h, "This agent no longer exists in Letta, so "
		              "it cannot answer.", 1);
		return;
	case LETTA_F_APPROVAL:
		bridge_appr_waits(r, h);
		return;
	case LETTA_F_REFUSED:
		if (h->m.approval) {
			/* e.g. re-sent after a restart: nothing waits any more */
			bcmd_notice(msg, sizeof msg, BCMD_N_APPROVAL_STALE,
			            r->b->cmd_prefix, NULL);
			finish_notice(r, h, msg, 0);
			return;
		}
		if (res->status)
			snprintf(msg, sizeof msg, "Letta refused this message "
			         "(HTTP %d%s%s).", res->status,
			         res->detail[0] ? ": " : "", res->detail);
		else
			snprintf(msg, sizeof msg, "Letta refused this message "
			         "(%s).", res->detail);
		finish_notice(r, h, msg, 0);
		return;
	default:
		/* The turn may have run (a lost answer): look before re-sending.
		 * A request not in the agent's history within two deadlines of
		 * being sent is taken as lost (letta-api.md §11: the input is
		 * stored as the turn starts). */
		r->check_first = 1;
		if (res->ambiguous)
			r->unsure_until = r->sent_at + 2 * (uint64_t)r->b->letta_timeout;
		retry_or_give_up(r, h, res->fail == LETTA_F_BUSY ? "busy" :
		                 res->status ? "server error" : err_str(res->err));
	}
}

/* A send is over: the answer, or a look at the run and the history when
 * its stream broke off (never a second send of a turn that may be
 * running). */
static void on_sent(void *arg, const struct lapi_res *res)
{
	struct broom *r = arg;
	struct bturn_head h;

	r->turn_call = NULL;
	if (r->b->metrics)
		metrics_letta_ms(r->b->metrics,
		                 (double)(loop_now(r->b->loop) - r->sent_at));
	if (!bridge_turn_head_still(r, &h)) {
		bridge_stream_done(r);
		return;
	}
	switch (res->outcome) {
	case LAPI_ANSWERED:
		reply_done(r, &h, res->rep);
		break;
	case LAPI_UNREADABLE:
		r->check_first = 1;
		retry_or_give_up(r, &h, "unreadable answer");
		break;
	case LAPI_BROKEN:
		LOG_WARN("bridge", "event=stream_broken room=%s run=%s err=%s",
		         r->id, r->run_id[0] ? r->run_id : "-",
		         err_str(res->err));
		r->check_first = 1;
		if (res->ambiguous)
			r->unsure_until = r->sent_at +
			                  2 * (uint64_t)r->b->letta_timeout;
		retry_or_give_up(r, &h, "the answer's stream broke off");
		break;
	default:
		send_failed(r, &h, res);
	}
	bridge_stream_done(r);
}

/* The question's way to Letta, and back through the history. */
static void ask_of(struct broom *r, const struct bturn_head *h,
                   struct lapi_ask *q, char otid[37], char name[64])
{
	bridge_otid(r->id, h->m.event_id, otid);
	bridge_letta_name(h->m.sender, name, 64);
	*q = (struct lapi_ask){
		.agent_id = h->ag.agent_id, .conv = h->conv, .text = h->m.text,
		.text_len = h->m.text_len, .name = name,
		.sender_id = h->m.sender, .cmid = otid,
		.call_id = h->m.call_id, .max_steps = r->b->max_steps,
		.stream = r->b->stream, .timeout_ms = r->b->letta_timeout,
	};
	if (h->m.approval)
		q->approval = h->m.approval == BRIDGE_APPROVAL_YES ? LAPI_ALLOW
		                                                   : LAPI_DENY;
}

static void on_look(void *arg, const struct lapi_res *res)
{
	struct broom *r = arg;
	const struct letta_reply *rep = res->rep;
	char otid[37];
	struct bturn_head h;

	if (!(r = bridge_turn_answered(r, &h)))
		return;
	if (res->found < 0) {
		look_failed(r, &h, res->detail);
		return;
	}
	bridge_otid(r->id, h.m.event_id, otid);
	slot_release(r);
	if (res->found == 1 && rep->run_id[0] && !r->run_over) {
		/* The turn's run may still be going (a restart, a broken
		 * stream): its answer is whole once the run is over. */
		snprintf(r->run_id, sizeof r->run_id, "%s", rep->run_id);
		r->turn = T_IDLE;
		bridge_kick(r);
	} else if (res->found == 1 &&
	           (rep->n > 0 || bridge_turn_waits_approval(rep))) {
		LOG_INFO("bridge", "event=turn_recovered room=%s otid=%s", r->id,
		         otid);
		reply_done(r, &h, rep);
	} else if (res->found == 1) {
		/* It ran or runs: never again. Wait for its answer. */
		if (!r->first_sent)
			r->first_sent = loop_now(r->b->loop);
		if (loop_now(r->b->loop) - r->first_sent >
		    (uint64_t)r->b->letta_timeout)
			finish_notice(r, &h, "The agent took the message but no "
			              "answer could be read back.", 0);
		else {
			r->turn = T_WAIT;
			bridge_arm(r->b, &r->t_turn, HIST_POLL_MS);
		}
	} else if (loop_now(r->b->loop) < r->unsure_until) {
		r->turn = T_WAIT;
		bridge_arm(r->b, &r->t_turn, (int64_t)(r->unsure_until -
		                                       loop_now(r->b->loop)));
	} else {
		/* Not in the history. After a restart the send may have just
		 * reached Letta, its input not written yet: re-sent once no
		 * run of the agent is going, the history read again after
		 * that look. (In this process a failed send is answered, or
		 * waited for until unsure_until, so no look is needed.) */
		if (!r->resumed || r->runs_check == RUNS_CLEAR) {
			r->check_first = 0;
			r->unsure_until = 0;
		} else {
			r->runs_check = RUNS_ASK;
		}
		r->turn = T_IDLE;
		bridge_kick(r);
	}
}

/* ---- the turn ---- */

static void start_hist(struct broom *r, struct bturn_head *h)
{
	char otid[37], name[64];
	struct lapi_ask q;

	if (!ident_agent_id_valid(h->ag.agent_id)) {
		finish_notice(r, h, "This room's agent id is not valid.", 0);
		return;
	}
	ask_of(r, h, &q, otid, name);
	r->turn = T_HIST;
	r->turn_call = r->b->lapi->ops->look(r->b->lapi, r, &q, on_look, r);
	if (!r->turn_call)
		look_failed(r, h, "request refused");
}

static void start_send(struct broom *r, struct bturn_head *h)
{
	char otid[37], name[64];
	struct lapi_ask q;
	struct img im;
	int e = 0;

	ask_of(r, h, &q, otid, name);
	if (bridge_img_of(r, h, &im))
		q.img = &im;
	if (r->b->stream && !(h->m.flags & BRIDGE_IN_F_LISTEN) &&
	    bridge_stream_begin(r, h->m.event_id, h->ag.user_id, h->m.thread,
	                        !h->m.thread[0] && r->b->reply_rich)) {
		retry_or_give_up(r, h, "request refused");
		return;
	}
	r->turn = T_SEND;
	r->runs_check = RUNS_UNASKED;
	r->sent_at = loop_now(r->b->loop);
	if (!r->first_sent)
		r->first_sent = loop_now(r->b->loop);
	r->turn_call = r->b->lapi->ops->send(r->b->lapi, r, &q,
	                                     &bridge_stream_events, on_sent, r,
	                                     &e);
	if (r->turn_call)
		return;
	bridge_stream_done(r);
	r->turn = T_IDLE;
	if (e == ERR_AGAIN)
		retry_or_give_up(r, h, "request refused");
	else
		finish_notice(r, h, "This message could not be passed on to "
		              "the agent.", 0);
}

/* ---- a run whose stream broke off ---- */

#define RUN_POLL_MS 2000

/* 1 when a run the turn waits on is still going and the wait is not
 * over: look again in RUN_POLL_MS. Anything else (over, unreadable, a
 * server without runs) lets the history tell. */
static int run_wait(struct broom *r, int going)
{
	if (!r->first_sent)
		r->first_sent = loop_now(r->b->loop);   /* after a restart */
	if (!going || loop_now(r->b->loop) - r->first_sent >=
	    (uint64_t)r->b->letta_timeout)
		return 0;
	r->turn = T_WAIT;
	bridge_arm(r->b, &r->t_turn, RUN_POLL_MS);
	return 1;
}

/* A look at runs answered: the turn's own run (T_RUN, its stream broke
 * off) or, before a re-send, the agent's runs (T_RUNS). While one is
 * going, wait and look again (the history first, for T_RUNS: the run may
 * be this turn's, its input not written yet); once none is, the history
 * decides (for T_RUNS, one more read of it). */
static void on_going(void *arg, const struct lapi_res *res)
{
	struct broom *r = arg;
	struct bturn_head h;
	int own;

	if (!(r = bridge_turn_answered(r, &h)))
		return;
	own = r->turn == T_RUN;
	slot_release(r);
	LOG_DEBUG("bridge", "event=run_checked room=%s run=%s status=%d",
	          r->id, own ? r->run_id : "(any)", res->status);
	if (run_wait(r, res->going)) {
		if (!own) {
			LOG_INFO("bridge", "event=turn_waits_for_run room=%s "
			         "agent=%s", r->id, h.ag.agent_id);
			r->runs_check = RUNS_UNASKED;
		}
		return;
	}
	if (own)
		r->run_over = 1;
	else
		r->runs_check = RUNS_CLEAR;
	r->turn = T_IDLE;
	bridge_kick(r);
}

static void start_runs(struct broom *r, struct bturn_head *h)
{
	struct lapi_at at = { h->ag.agent_id, h->conv };

	r->turn = T_RUNS;
	r->turn_call = r->b->lapi->ops->going(r->b->lapi, r, &at, NULL,
	                                      on_going, r);
	if (!r->turn_call) {
		r->runs_check = RUNS_CLEAR;
		start_hist(r, h);
	}
}

static void start_run(struct broom *r, struct bturn_head *h)
{
	struct lapi_at at = { h->ag.agent_id, h->conv };

	r->turn = T_RUN;
	r->turn_call = r->b->lapi->ops->going(r->b->lapi, r, &at, r->run_id,
	                                      on_going, r);
	if (!r->turn_call) {
		r->run_over = 1;
		start_hist(r, h);
	}
}

/* Receipt and typing when the question is taken up. */
static void taken_up(struct broom *r, struct bturn_head *h)
{
	char tok[LIM_STORE_SECRET];

	if (bridge_agent_token(r, h->ag.user_id, tok, sizeof tok))
		return;
	if (r->receipt_for != h->seq) {
		r->receipt_for = h->seq;
		bridge_receipt(r, tok, h->m.event_id);
	}
	if (!r->typing) {
		r->typing = 1;
		bridge_typing(r, h->ag.user_id, tok, 1);
		bridge_arm(r->b, &r->t_typing, TYPING_REFRESH_MS);
	}
	if (r->lane_n > 1 && !r->wait_noticed && r->b->wait_notice > 0 &&
	    !loop_timer_armed(&r->t_wait))
		bridge_arm(r->b, &r->t_wait, r->b->wait_notice);
}

void bridge_turn_run(struct broom *r)
{
	struct bturn_head h;
	int e;

	if (r->b->stopping)
		return;
	if (!r->parent)
		dispatch(r);    /* threads with a lane of their own */
	if (r->turn == T_IDLE && bridge_stream_busy(r))
		return;         /* the last live answer's final edit first */
	if (r->turn != T_IDLE) {
		/* Busy: a newer message waiting gets one notice, later. */
		if (r->lane_n > 1 && !r->wait_noticed && r->b->wait_notice > 0 &&
		    !loop_timer_armed(&r->t_wait))
			bridge_arm(r->b, &r->t_wait, r->b->wait_notice);
		return;
	}
	e = load_head(r, &h);
	if (e == ERR_AGAIN) {
		bridge_kick(r);
		return;
	}
	if (e) {
		r->turn = T_IDLE;
		if (e == ERR_NOTFOUND) {
			r->wait_noticed = 0;    /* caught up */
			/* nothing queued: no turn of before a restart, and
			 * no slot to hold (a thread that found no
			 * conversation handed its questions to the room) */
			r->check_first = 0;
			r->resumed = 0;
			slot_release(r);
			bridge_img_drop(r);     /* a !cancel took its question */
			/* a !cancel during a wait: the live message still
			 * says the agent works */
			bridge_stream_close(r);
		}
		if (e != ERR_NOTFOUND)
			LOG_ERROR("bridge", "event=inbox_unreadable room=%s err=%s",
			          r->id, err_str(e));
		return;
	}
	if (h.seq != r->head) {
		r->head = h.seq;
		r->tries = 0;
		r->look_tries = 0;
		r->first_sent = 0;
		r->runs_check = RUNS_UNASKED;
	}
	r->turn = T_IDLE;
	taken_up(r, &h);
	/* a picture's memory before a slot: a turn waiting for it holds
	 * none that a question without one could use */
	if (!h.conv_missing && !r->check_first && !bridge_img_room(r, &h))
		return;
	if (!slot_take(r, T_IDLE))
		return;
	snprintf(r->turn_conv, sizeof r->turn_conv, "%s", h.conv);
	if (h.conv_missing)
		bridge_thread_make(r, &h);
	else if (r->check_first && r->run_id[0] && !r->run_over)
		start_run(r, &h);
	else if (r->check_first && r->runs_check == RUNS_ASK)
		start_runs(r, &h);
	else if (r->check_first)
		start_hist(r, &h);
	else if (bridge_img_wanted(r, &h))
		bridge_img_fetch(r, &h);
	else
		start_send(r, &h);
}

void bridge_turn_typing_timer(void *arg)
{
	struct broom *r = arg;
	char tok[LIM_STORE_SECRET];
	struct bturn_head h;

	if (!r->typing || load_head(r, &h))
		return;
	if (!bridge_agent_token(r, h.ag.user_id, tok, sizeof tok))
		bridge_typing(r, h.ag.user_id, tok, 1);
	bridge_arm(r->b, &r->t_typing, TYPING_REFRESH_MS);
}

static int second_view(struct store_txn *t, void *arg)
{
	struct head_ctx *c = arg;

	c->want = 2;
	return store_q_each(t, STORE_Q_INBOX, c->r->id, lane_cb, c);
}

/* A message has waited behind another for wait_notice: one notice. */
void bridge_turn_wait_timer(void *arg)
{
	struct broom *r = arg;
	struct bturn_head h;
	struct head_ctx c = { r, &h, NULL, 0, 0, 2, "" };

	if (r->wait_noticed || r->turn == T_IDLE || load_head(r, &h))
		return;
	store_view(r->b->store, second_view, &c);
	if (!c.second[0])
		return;
	r->wait_noticed = 1;
	bridge_notice(r, h.ag.user_id, c.second, "Your message is queued: the "
	              "agent is still answering an earlier one.");
}

