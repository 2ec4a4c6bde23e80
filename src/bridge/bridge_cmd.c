/*
 * bridge_cmd: at the side of the path (bridge_int.h has the map): the `!`
 * commands of an agent room (bcmd.h), run by the bridge and answered as
 * m.notice by the agent user; a command never reaches the agent. They run
 * once their sync batch is stored (so a restart does not run them again)
 * and act on the room's state at once: !cancel does not wait behind the
 * turn it cancels.
 */
#include "bridge/bridge_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bcmd.h"
#include "core/err.h"
#include "core/log.h"
#include "letta/lapi.h"
#include "letta/letta_msg.h"

#define RESET_WINDOW_MS 60000   /* !reset confirm must follow within */

int bridge_cmd_is(struct bridge *b, const struct sync_ev *ev)
{
	struct bcmd c;

	if (!ev->has_body || strcmp(ev->msgtype, "m.text"))
		return 0;
	return bcmd_parse(ev->body, ev->body_len, b->cmd_prefix, &c) > 0;
}

static int admin(const struct bridge *b, const char *user)
{
	struct bridge_policy p = { .allow = b->admins, .server = "" };

	return b->admins && *b->admins && bridge_allowed(&p, user);
}

/* Who may answer a tool call: [bridge] approvers, else the admins, else
 * nobody (tools may run on the Letta host). */
static const char *approvers(const struct bridge *b)
{
	if (b->approvers && *b->approvers)
		return b->approvers;
	return b->admins && *b->admins ? b->admins : NULL;
}

static int approver(const struct bridge *b, const char *user)
{
	struct bridge_policy p = { .allow = approvers(b), .server = "" };

	return p.allow && bridge_allowed(&p, user);
}

/* ---- notices in the room (and thread) of the command ---- */

struct npush { const char *room; uint8_t *buf; size_t n; };

static int npush_txn(struct store_txn *t, void *arg)
{
	struct npush *c = arg;

	return store_q_push(t, STORE_Q_OUTBOX, c->room, c->buf, c->n, NULL);
}

static void tell(struct broom *r, const char *user, const char *ev,
                 const char *thread, const char *text)
{
	struct bridge_out o = { .kind = BRIDGE_OUT_NOTICE, .body = text,
	                        .body_len = strlen(text) };
	uint8_t buf[BCMD_TEXT_MAX + 1024];
	struct npush c = { r->id, buf, 0 };

	snprintf(o.sender, sizeof o.sender, "%s", user);
	snprintf(o.reply_to, sizeof o.reply_to, "%s", ev);
	snprintf(o.thread, sizeof o.thread, "%s", thread);
	if (bridge_out_encode(&o, buf, sizeof buf, &c.n) ||
	    store_update(r->b->store, npush_txn, &c)) {
		LOG_WARN("bridge", "event=command_answer_lost room=%s", r->id);
		return;
	}
	bridge_kick(r);
}

static void tell_notice(struct broom *r, const char *user, const char *ev,
                        const char *thread, enum bcmd_notice k,
                        const char *detail)
{
	char text[BCMD_TEXT_MAX];

	if (bcmd_notice(text, sizeof text, k, r->b->cmd_prefix, detail) < 0)
		return;
	tell(r, user, ev, thread, text);
}

/* ---- the commands ---- */

struct cmd {
	struct broom *r;
	struct bridge_in m;
	struct store_agent ag;
	struct bcmd c;
};

struct qcount {
	const char *room;
	const char *thread;             /* a thread of its own, or NULL */
	int n;
	char tool[128];
	char conv[LIM_LETTA_APP_ID];    /* the thread's ("": none yet) */
};

static int count_view(struct store_txn *t, void *arg)
{
	struct qcount *c = arg;
	char call[80];

	if (bridge_pending_get(t, c->room, call, sizeof call, c->tool,
	                       sizeof c->tool))
		c->tool[0] = '\0';
	if (c->thread && store_conv_get(t, c->room, c->thread, c->conv,
	                                sizeof c->conv))
		c->conv[0] = '\0';
	return store_q_count(t, STORE_Q_INBOX, c->room, &c->n);
}

/* The "Conversation:" line of !status: the thread's own when the
 * command was said in one (threads = conversation), else the room's. */
static void conv_line(const struct cmd *k, const struct qcount *q,
                      char *out, size_t cap)
{
	const struct broom *r = k->r;

	if (q->thread && q->conv[0])
		snprintf(out, cap, "%s (this thread's own)", q->conv);
	else if (q->thread)
		snprintf(out, cap, "none yet (this thread's first question "
		         "makes its own)");
	else
		snprintf(out, cap, "%s", r->conv[0] ? r->conv :
		         "the agent's default one");
}

static void do_status(struct cmd *k)
{
	struct qcount q = { k->r->id, NULL, 0, "", "" };
	struct broom *r = k->r;
	/* the turn of the conversation the command was said in: a
	 * thread's lane, or the room's (none: the thread has no turn) */
	struct broom *lr = bridge_lane_find(r, k->m.thread);
	int running = lr && lr->turn != T_IDLE;
	char text[BCMD_TEXT_MAX], turn[128] = "none", pend[256] = "";
	char conv[LIM_LETTA_APP_ID + 64];

	if (running && lr->first_sent) {
		int n = snprintf(turn, sizeof turn, "running for %llu s",
		                 (unsigned long long)((loop_now(r->b->loop) -
		                                       lr->first_sent) / 1000));
		int ed = bridge_stream_edits(lr);

		if (ed >= 0 && n > 0 && (size_t)n < sizeof turn)
			snprintf(turn + n, sizeof turn - (size_t)n, ", shown live "
			         "(%d edit%s so far)", ed, ed == 1 ? "" : "s");
	}
	else if (running)
		snprintf(turn, sizeof turn, "starting");
	/* the store, not the counters: what a restart would find */
	if (k->m.thread[0] && r->b->thread_convs)
		q.thread = k->m.thread;
	store_view(r->b->store, count_view, &q);
	conv_line(k, &q, conv, sizeof conv);
	LOG_DEBUG("bridge", "event=status room=%s nin=%d stored=%d", r->id,
	          r->nin, q.n);
	if (q.tool[0])
		snprintf(pend, sizeof pend, "\nWaiting for approval: the tool "
		         "\"%s\" (%sapprove or %sdeny [reason])", q.tool,
		         r->b->cmd_prefix, r->b->cmd_prefix);
	snprintf(text, sizeof text, "Agent: %s (%s)\nConversation: %s\n"
	         "Waiting messages: %d\nTurn in flight: %s\nLast error: %s%s",
	         k->ag.name, k->ag.agent_id, conv, q.n > 0 && running ?
	         q.n - 1 : q.n, turn, r->last_err[0] ? r->last_err : "none",
	         pend);
	tell(r, k->ag.user_id, k->m.event_id, k->m.thread, text);
}

static int clear_txn(struct store_txn *t, void *arg)
{
	struct broom *r = arg;
	uint8_t *buf = r->b->rec;
	uint64_t seq;
	size_t n;
	int e;

	while (!(e = store_q_first(t, STORE_Q_INBOX, r->id, &seq, buf,
	                           LIM_STORE_QVALUE, &n)))
		if ((e = store_q_del(t, STORE_Q_INBOX, r->id, seq)))
			return e;
	return e == ERR_NOTFOUND ? 0 : e;
}

static void on_letta_cancel(void *arg, const struct lapi_res *res)
{
	(void)arg;
	LOG_INFO("bridge", "event=command_letta what=cancel status=%d err=%s "
	         "body=\"%.100s\"", res->status, err_str(res->err), res->detail);
}

/* !cancel's part in one lane (the room's, or a thread's): what runs in
 * its conversation is stopped, its typing ended. */
static void cancel_lane(struct cmd *k, struct broom *l)
{
	char tok[LIM_STORE_SECRET];

	if (l->turn == T_IDLE && l->parent)
		return;
	l->b->lapi->ops->cancel(l->b->lapi, NULL,
	                        &(const struct lapi_at){ k->ag.agent_id,
	                                                 l->turn != T_IDLE ?
	                                                 l->turn_conv :
	                                                 l->conv },
	                        on_letta_cancel, NULL);
	loop_timer_cancel(l->b->loop, &l->t_typing);
	loop_timer_cancel(l->b->loop, &l->t_wait);
	if (l->typing && !bridge_agent_token(l, k->ag.user_id, tok, sizeof tok))
		bridge_typing(l, k->ag.user_id, tok, 0);
	l->typing = 0;
	bridge_kick(l);
}

static void do_cancel(struct cmd *k)
{
	struct broom *r = k->r;
	int busy = r->turn != T_IDLE || r->nin > 0;

	for (struct broom *l = r->lanes; l; l = l->lane_next)
		busy |= l->turn != T_IDLE;
	if (!busy) {
		tell_notice(r, k->ag.user_id, k->m.event_id, k->m.thread,
		            BCMD_N_NOTHING_TO_CANCEL, NULL);
		return;
	}
	if (store_update(r->b->store, clear_txn, r) == 0 && r->nin) {
		/* the turns in flight find their questions gone and end */
		bridge_inbox_moved(r, -r->nin);
	}
	cancel_lane(k, r);
	for (struct broom *l = r->lanes; l; l = l->lane_next)
		cancel_lane(k, l);
	LOG_INFO("bridge", "event=cancelled room=%s by=%s", r->id, k->m.sender);
	tell_notice(r, k->ag.user_id, k->m.event_id, k->m.thread,
	            BCMD_N_CANCELLED, NULL);
}

struct reset_done {
	struct broom *r;
	const char *conv;               /* "": the room keeps its own */
	const char *thread;             /* a thread's reset, or NULL */
};

/* A reset drops the pending approval of what it starts over, and moves
 * the room (or the thread) to the conversation Letta made for it, in one
 * transaction. */
static int reset_txn(struct store_txn *t, void *arg)
{
	struct reset_done *d = arg;
	char th[LIM_STORE_ID];
	int e = bridge_pending_thread(t, d->r->id, th, sizeof th);

	if (e < 0 && e != ERR_NOTFOUND)
		return e;
	if (!e && !strcmp(th, d->thread ? d->thread : "") &&
	    (e = bridge_pending_del(t, d->r->id)) < 0)
		return e;
	if (!d->conv[0])
		return 0;
	if (d->thread)
		return bridge_thread_keep(t, d->r->id, d->thread, d->conv);
	return store_conv_put(t, d->r->id, NULL, d->conv);
}

/* Why a reset did not happen, in words for the room. */
static const char *reset_why(const struct lapi_res *res, int e, char *buf,
                             size_t cap)
{
	if (e < 0)
		return "the bridge could not keep the new conversation";
	if (res->err == ERR_PROTO && res->detail[0])
		return res->detail;
	if (res->status && res->status != 200) {
		snprintf(buf, cap, "Letta answered with status %d", res->status);
		return buf;
	}
	return "Letta did not answer";
}

static void on_reset(void *arg, const struct lapi_res *res)
{
	struct broom *r = arg;
	char why[64];
	const char *thread = r->rs->is_thread ? r->rs->thread : NULL;
	struct reset_done d = { r, res->conv, thread };
	/* a thread's is a conversation found or made (no HTTP status on
	 * the App Server): its id says it worked */
	int ok = thread ? !res->err && res->conv[0] :
	         res->status == 200 && !res->err, e = 0;

	if (ok && (e = store_update(r->b->store, reset_txn, &d)) < 0)
		LOG_ERROR("bridge", "event=reset_not_kept room=%s err=%s "
		          "why=\"%s\"", r->id, err_str(e),
		          store_why(r->b->store));
	else if (ok && res->conv[0] && !thread)
		snprintf(r->conv, sizeof r->conv, "%s", res->conv);
	else if (ok && res->conv[0])
		bridge_thread_mark(r->b);
	LOG_INFO("bridge", "event=reset room=%s thread=%s status=%d err=%s "
	         "conv=%s", r->id, thread ? thread : "-", res->status,
	         err_str(res->err), ok && res->conv[0] ? res->conv : "-");
	if (!ok && res->err == ERR_INVAL)       /* this Letta cannot */
		tell_notice(r, r->rs->by, r->rs->ev, r->rs->thread,
		            BCMD_N_RESET_UNSUPPORTED, res->detail);
	else if (!ok || e < 0)  /* nothing tries it again: say so */
		tell_notice(r, r->rs->by, r->rs->ev, r->rs->thread,
		            BCMD_N_RESET_FAILED, reset_why(res, e, why,
		                                           sizeof why));
	else
		tell_notice(r, r->rs->by, r->rs->ev, r->rs->thread,
		            thread ? BCMD_N_RESET_THREAD : res->conv[0] ?
		            BCMD_N_RESET_NEW : BCMD_N_RESET_DONE, res->conv);
}

/* The summary of the conversation a !reset makes, fixed by the room and
 * the command's event: a second try of the same !reset finds the
 * first's conversation. */
static void reset_key(const struct broom *r, char *out, size_t cap)
{
	snprintf(out, cap, "Matrix room %s, since %s", r->id, r->rs->ev);
}

static void do_reset(struct cmd *k, int confirm)
{
	struct broom *r = k->r;
	struct lapi_at at = { k->ag.agent_id, r->conv };
	char key[2 * LIM_STORE_ID + 64];
	uint64_t now = loop_now(r->b->loop);
	void *h;

	if (!admin(r->b, k->m.sender)) {
		tell_notice(r, k->ag.user_id, k->m.event_id, k->m.thread,
		            BCMD_N_RESET_REFUSED, NULL);
		return;
	}
	if (!r->rs && !(r->rs = calloc(1, sizeof *r->rs))) {
		tell_notice(r, k->ag.user_id, k->m.event_id, k->m.thread,
		            BCMD_N_RESET_FAILED, "out of memory");
		return;
	}
	if (!confirm) {
		r->rs->asked = now;
		snprintf(r->rs->by, sizeof r->rs->by, "%s", k->m.sender);
		tell_notice(r, k->ag.user_id, k->m.event_id, k->m.thread,
		            BCMD_N_RESET_ASK, NULL);
		return;
	}
	if (!r->rs->asked || now - r->rs->asked > RESET_WINDOW_MS ||
	    strcmp(r->rs->by, k->m.sender)) {
		tell_notice(r, k->ag.user_id, k->m.event_id, k->m.thread,
		            BCMD_N_RESET_NOT_ASKED, NULL);
		return;
	}
	r->rs->asked = 0;
	/* the notice is told by the agent user: keep who and where */
	snprintf(r->rs->by, sizeof r->rs->by, "%s", k->ag.user_id);
	snprintf(r->rs->ev, sizeof r->rs->ev, "%s", k->m.event_id);
	snprintf(r->rs->thread, sizeof r->rs->thread, "%s", k->m.thread);
	/* in a thread of its own: a new conversation for the thread */
	r->rs->is_thread = k->m.thread[0] && r->b->thread_convs;
	if (r->rs->is_thread) {
		bridge_thread_key(r->id, k->m.thread, k->m.event_id, key,
		                  sizeof key);
		at.conv = "";
		h = r->b->lapi->ops->conv(r->b->lapi, r, &at, key, on_reset, r);
	} else {
		reset_key(r, key, sizeof key);
		h = r->b->lapi->ops->reset(r->b->lapi, r, &at, key, on_reset,
		                           r);
	}
	if (!h)
		tell_notice(r, r->rs->by, r->rs->ev, r->rs->thread,
		            BCMD_N_RESET_FAILED, "Letta could not be asked");
}

/* !approve / !deny: the answer waits its turn in the inbox like a
 * message (in order, typing, the answer told as usual); the pending call
 * is taken in the same transaction, so a second one finds nothing. */
struct appr {
	struct cmd *k;
	uint8_t *buf;
	int queued;
	char tool[128];
};

static int approve_txn(struct store_txn *t, void *arg)
{
	struct appr *a = arg;
	struct bridge_in m = a->k->m;
	size_t n;
	int e;

	e = bridge_pending_get(t, a->k->r->id, m.call_id, sizeof m.call_id,
	                       a->tool, sizeof a->tool);
	if (e)
		return e == ERR_NOTFOUND ? 0 : e;
	/* the answer goes where the turn paused: its thread's conversation,
	 * and the agent's words after it into that thread */
	if ((e = bridge_pending_thread(t, a->k->r->id, m.thread,
	                               sizeof m.thread)))
		return e;
	m.approval = a->k->c.kind == BCMD_APPROVE ? BRIDGE_APPROVAL_YES
	                                         : BRIDGE_APPROVAL_NO;
	m.text = a->k->c.arg;
	m.text_len = a->k->c.arg_len;
	if ((e = bridge_in_encode(&m, a->buf, LIM_STORE_QVALUE, &n)) ||
	    (e = bridge_pending_del(t, a->k->r->id)) ||
	    (e = store_q_push(t, STORE_Q_INBOX, a->k->r->id, a->buf, n, NULL)))
		return e;
	a->queued = 1;
	if (m.thread[0])
		a->k->r->lane_maybe = 1;        /* the thread's lane takes it */
	return 0;
}

static void do_approve(struct cmd *k)
{
	struct appr a = { k, NULL, 0, "" };
	struct broom *r = k->r;
	int e;

	if (!approver(r->b, k->m.sender)) {
		LOG_INFO("bridge", "event=approval_refused room=%s by=%s", r->id,
		         k->m.sender);
		tell_notice(r, k->ag.user_id, k->m.event_id, k->m.thread,
		            approvers(r->b) ? BCMD_N_APPROVE_REFUSED
		                            : BCMD_N_APPROVE_NOBODY, NULL);
		return;
	}
	a.buf = malloc(LIM_STORE_QVALUE);
	e = a.buf ? store_update(r->b->store, approve_txn, &a) : ERR_NOMEM;

	free(a.buf);
	if (e) {
		LOG_WARN("bridge", "event=approval_not_queued room=%s err=%s",
		         r->id, err_str(e));
		tell_notice(r, k->ag.user_id, k->m.event_id, k->m.thread,
		            BCMD_N_LETTA_ERROR, "the bridge could not store the "
		            "answer");
		return;
	}
	if (!a.queued) {
		tell_notice(r, k->ag.user_id, k->m.event_id, k->m.thread,
		            BCMD_N_NO_APPROVAL, NULL);
		return;
	}
	LOG_INFO("bridge", "event=approval_queued room=%s tool=\"%.60s\" "
	         "approve=%d by=%s", r->id, a.tool, k->c.kind == BCMD_APPROVE,
	         k->m.sender);
	bridge_inbox_moved(r, 1);
	tell_notice(r, k->ag.user_id, k->m.event_id, k->m.thread,
	            k->c.kind == BCMD_APPROVE ? BCMD_N_APPROVED : BCMD_N_DENIED,
	            NULL);
	bridge_kick(r);
}

static int cmd_view(struct store_txn *t, void *arg)
{
	struct cmd *k = arg;

	return store_agent_of_room(t, k->r->id, &k->ag);
}

void bridge_cmd_run(struct broom *r, const uint8_t *data, size_t n)
{
	struct cmd *k = calloc(1, sizeof *k);
	char text[BCMD_TEXT_MAX];

	if (!k)
		return;
	k->r = r;
	if (bridge_in_decode(data, n, &k->m) ||
	    store_view(r->b->store, cmd_view, k) ||
	    bcmd_parse(k->m.text, k->m.text_len, r->b->cmd_prefix, &k->c) <= 0) {
		free(k);
		return;
	}
	LOG_INFO("bridge", "event=command room=%s kind=%d sender=%s", r->id,
	         (int)k->c.kind, k->m.sender);
	switch (k->c.kind) {
	case BCMD_HELP:
		if (bcmd_help(text, sizeof text, r->b->cmd_prefix, k->ag.name,
		              admin(r->b, k->m.sender)) >= 0)
			tell(r, k->ag.user_id, k->m.event_id, k->m.thread, text);
		break;
	case BCMD_STATUS:
		do_status(k);
		break;
	case BCMD_CANCEL:
		do_cancel(k);
		break;
	case BCMD_RESET:
	case BCMD_RESET_CONFIRM:
		do_reset(k, k->c.kind == BCMD_RESET_CONFIRM);
		break;
	case BCMD_APPROVE:
	case BCMD_DENY:
		do_approve(k);
		break;
	default:
		if (bcmd_hint(text, sizeof text, r->b->cmd_prefix, &k->c) >= 0)
			tell(r, k->ag.user_id, k->m.event_id, k->m.thread, text);
	}
	free(k);
}
