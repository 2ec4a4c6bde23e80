/*
 * letta_appsrv_frames: what the App Server says, for letta_appsrv.c's
 * operations: the answers to its commands (by request id) and the news of
 * a runtime's turn (by agent): the answer as it comes, a tool call, a
 * tool that waits for approval, the end of the turn.
 *
 * A turn is proven finished only by turn_finished: the history cannot
 * tell an answer cut off by a closed connection (the server cancels the
 * turn of a connection that goes away) from a whole one. So only a try
 * whose turn_finished this process saw counts as answered; any other is
 * asked again under a new id (look_verdict). And a question's turn is
 * known by the server's map of runs to client message ids: what comes
 * before that map names this try is an earlier turn's (after a
 * reconnect, the turn our old connection left ends late).
 */
#include "letta/letta_appsrv.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "letta/letta_app_conv.h"
#include "letta/letta_msg.h"
#include "net/ws_conn.h"

static struct aop *op_of(struct appsrv *s, const char *rid)
{
	if (!rid[0])
		return NULL;
	for (struct aop *o = s->ops; o; o = o->next)
		if (o->stage == ST_SENT && !strcmp(o->rid, rid))
			return o;
	return NULL;
}

/* The runtime a frame is about (one this connection started). */
static struct art *rt_of(struct appsrv *s, const struct letta_app_frame *f)
{
	if (!f->has_runtime || !f->conversation_id[0])
		return NULL;
	return appsrv_rt(s, f->agent_id, f->conversation_id, 0);
}

/* o's runtime, if this connection has one. */
static struct art *rt_of_op(struct appsrv *s, const struct aop *o)
{
	return appsrv_rt(s, o->agent, o->conv, 0);
}

/* ---- answers to commands ---- */

static void on_runtime(struct appsrv *s, const struct letta_app_frame *f)
{
	struct art *rt;

	for (rt = s->rts; rt; rt = rt->next)
		if (rt->state == RT_STARTING && !strcmp(rt->rid, f->request_id))
			break;
	if (!rt)
		return;
	if (f->success) {
		rt->state = RT_READY;
		LOG_INFO("letta", "event=app_runtime agent=%s mode=%s", rt->agent,
		         s->mode);
		appsrv_pump(s);
		return;
	}
	LOG_WARN("letta", "event=app_runtime_refused agent=%s error=\"%.200s\"",
	         rt->agent, f->error);
	rt->state = RT_NONE;
	/* what waits for it fails now; the owner tries again later */
	for (struct aop *o = s->ops, *n; o; o = n) {
		n = o->next;
		if (o->stage == ST_WAIT && !strcmp(o->agent, rt->agent) &&
		    !strcmp(o->conv, rt->conv))
			appsrv_refuse(o, LETTA_F_RETRY, f->error[0] ? f->error
			              : "the App Server refused the runtime");
	}
}

static void on_accepted(struct appsrv *s, const struct letta_app_frame *f)
{
	struct aop *o = op_of(s, f->request_id);
	struct art *rt;

	if (!o || o->kind != OP_SEND)
		return;
	if (f->accepted) {
		/* late (after its run began, the server's map said so):
		 * "queued" then means queued behind nothing any more */
		if (!o->running)
			o->accepted = f->disposition == LETTA_APP_DISP_QUEUED ?
			              ACC_QUEUED : ACC_STARTED;
		return;
	}
	LOG_WARN("letta", "event=app_input_refused agent=%s error=\"%.200s\"",
	         o->agent, f->error);
	if ((rt = rt_of_op(s, o)) && rt->turn == o)
		rt->turn = NULL;
	/* an approval that no longer waits says so: the bridge tells the
	 * room it lapsed */
	appsrv_refuse(o, LETTA_F_REFUSED, f->error[0] ? f->error
	              : "the App Server did not take the message");
}

/* The newest user message whose otid is key or key-<suffix> (a try):
 * its otid into out. Returns 1 when found. */
static int newest_try(struct appsrv *s, int msgs, const char *key, char *out,
                      size_t cap)
{
	size_t n = strlen(key);
	char otid[LIM_LETTA_APP_ID], type[32];

	for (int m = json_arr_first(&s->j, msgs); m >= 0;
	     m = json_arr_next(&s->j, msgs, m)) {
		if (json_get_str(&s->j, m, "message_type", type, sizeof type) ||
		    strcmp(type, "user_message") ||
		    json_get_str(&s->j, m, "otid", otid, sizeof otid))
			continue;
		if (!strncmp(otid, key, n) && (!otid[n] || otid[n] == '-')) {
			snprintf(out, cap, "%s", otid);
			return 1;
		}
	}
	return 0;
}

/* Was try otid (its turn as the history reads: LETTA_APP_TURN_*) taken?
 * 1: yes (a whole answer, or a turn that still runs), 0: ask again. A
 * try this process saw cut off (its connection dropped first: the server
 * cancelled it) is asked again even when the history shows an answer,
 * which may be a fragment; one it saw finish, or one from before a
 * restart that the history shows complete, is posted. */
static int look_verdict(const struct art *rt, const char *otid, int turn)
{
	if (!strcmp(otid, rt->finished))
		return turn == LETTA_APP_TURN_COMPLETE;
	if (!strcmp(otid, rt->cut))
		return 0;
	/* from before a restart: a turn that still runs is waited for; a
	 * finished one may be a fragment (the server cancels the turn of a
	 * connection that goes away and keeps what was said), so it is
	 * asked again: the room gets one whole answer */
	return !rt->idle;
}

static void on_messages(struct appsrv *s, const struct letta_app_frame *f)
{
	struct aop *o = op_of(s, f->request_id);
	struct lapi_res res = { .found = 0 };
	struct art *rt;
	char otid[LIM_LETTA_APP_ID];
	int turn;

	if (!o || o->kind != OP_LOOK)
		return;
	rt = rt_of_op(s, o);
	if (!f->success || f->messages < 0) {
		res.found = -1;
		snprintf(res.detail, sizeof res.detail, "%.200s", f->error[0] ?
		         f->error : "history unreadable");
	} else if (!o->approval &&
	           newest_try(s, f->messages, o->cmid, otid, sizeof otid) &&
	           rt && appsrv_rep(o)) {
		turn = letta_app_hist_find(&s->j, f->messages, otid, o->rep,
		                           NULL);
		res.found = look_verdict(rt, otid, turn);
		if (res.found && turn != LETTA_APP_TURN_COMPLETE) {
			/* taken, and a turn runs: the owner waits until the
			 * loop is idle (going), then looks again */
			letta_reply_init(o->rep);
			snprintf(o->rep->run_id, sizeof o->rep->run_id, "%s",
			         "running");
		}
		res.rep = res.found ? o->rep : NULL;
	}
	/* anything else (absent, cut off, a tool call whose approval went
	 * with its connection, an approval answer): not taken */
	appsrv_end(o, &res);
}

static void on_sync(struct appsrv *s, const struct letta_app_frame *f)
{
	struct aop *o = op_of(s, f->request_id);
	struct lapi_res res = { .going = 0 };
	struct art *rt;

	if (!o || o->kind != OP_GOING)
		return;
	rt = rt_of_op(s, o);
	/* the replay's loop status came before the answer */
	res.going = rt && !rt->idle;
	res.status = f->success ? 200 : 0;
	appsrv_end(o, &res);
}

static void on_abort(struct appsrv *s, const struct letta_app_frame *f)
{
	struct aop *o = op_of(s, f->request_id);
	struct lapi_res res = { .status = f->success ? 200 : 0 };

	if (!o || o->kind != OP_CANCEL)
		return;
	snprintf(res.detail, sizeof res.detail, "%s", f->aborted ?
	         "aborted" : "nothing ran");
	appsrv_end(o, &res);
}

/* ---- a reset: a new conversation ---- */

static void reset_end(struct aop *o, const char *conv, int err,
                      const char *why)
{
	struct lapi_res res = { .err = err, .status = err ? 0 : 200 };

	snprintf(res.conv, sizeof res.conv, "%s", conv);
	snprintf(res.detail, sizeof res.detail, "%.200s", why);
	LOG_INFO("letta", "event=app_conversation agent=%s conv=%s err=%s",
	         o->agent, conv[0] ? conv : "-", err_str(err));
	appsrv_end(o, &res);
}

/* The answer to a reset's search (an earlier try's conversation, or
 * none: make one) or to its create. */
static void on_conv(struct appsrv *s, const struct letta_app_frame *f)
{
	struct aop *o = op_of(s, f->request_id);
	char id[LIM_LETTA_APP_ID];
	int kind = letta_app_conv_answer(&s->j), r;

	if (!o || o->kind != OP_RESET || kind == LETTA_APP_CONV_NONE)
		return;
	if (kind == LETTA_APP_CONV_CREATED) {
		r = letta_app_conv_made(&s->j, id, sizeof id);
		reset_end(o, r ? "" : id, r ? ERR_PROTO : 0, f->error[0] ?
		          f->error : "the App Server made no conversation");
		return;
	}
	r = letta_app_conv_found(&s->j, o->agent, o->text, id, sizeof id);
	if (r == 1) {
		reset_end(o, id, 0, "");
	} else if (r < 0) {
		reset_end(o, "", ERR_PROTO, f->error[0] ? f->error :
		          "the App Server's list of conversations was "
		          "unreadable");
	} else {
		/* none yet: make it (the next pump sends the create) */
		o->phase = RESET_MAKE;
		o->stage = ST_WAIT;
		snprintf(o->rid, sizeof o->rid, "r%llu",
		         (unsigned long long)++s->seq);
		appsrv_pump(s);
	}
}

/* ---- a turn's news ---- */

/* The loop's map of runs to client message ids names o's try: from now
 * on the runtime's news is o's. An approval's answer has no id; its
 * news is its own once the loop runs. */
static void own_run(struct appsrv *s, struct aop *o,
                    const struct letta_app_frame *f)
{
	char id[LIM_LETTA_APP_ID];

	if (o->approval) {
		if (strcmp(f->status, "WAITING_ON_INPUT"))
			o->running = 1;
		return;
	}
	if (o->running || f->cmids_by_run < 0)
		return;
	for (int k = json_obj_first(&s->j, f->cmids_by_run); k >= 0;
	     k = json_obj_next(&s->j, f->cmids_by_run, k))
		for (int v = json_arr_first(&s->j, k + 1); v >= 0;
		     v = json_arr_next(&s->j, k + 1, v))
			if (!json_str(&s->j, v, id, sizeof id) &&
			    !strcmp(id, o->cmid)) {
				/* its run started (a queued input, e.g. after
				 * an abort, too) */
				o->running = 1;
				o->accepted = ACC_STARTED;
			}
}

/* The turn's send, or NULL when none (or its owner stopped reading:
 * then it ends as broken off). A turn's news is the send's only once the
 * server took its input and started it: what comes before is an earlier
 * turn's (its end after a restart, when our old connection's turn is
 * cancelled late). */
static struct aop *turn_of(struct art *rt)
{
	struct aop *o = rt ? rt->turn : NULL;
	struct lapi_res res = { .outcome = LAPI_BROKEN, .err = ERR_CLOSED };

	if (o && o->accepted != ACC_STARTED)
		return NULL;
	if (o && o->stream && o->ev->stop(o->arg)) {
		rt->turn = NULL;
		appsrv_end(o, &res);
		return NULL;
	}
	return o && appsrv_rep(o) ? o : NULL;
}

static void on_text(struct art *rt, struct aop *o,
                    const struct letta_app_frame *f)
{
	if (strcmp(rt->delta, f->delta_id)) {
		snprintf(rt->delta, sizeof rt->delta, "%s", f->delta_id);
		letta_reply_add(o->rep, f->text, f->text_len);
	} else {
		letta_reply_more(o->rep, f->text, f->text_len);
	}
	if (o->stream)
		o->ev->text(o->arg, o->rep);
}

static void on_delta(struct appsrv *s, const struct letta_app_frame *f)
{
	struct art *rt = rt_of(s, f);
	struct aop *o = turn_of(rt);

	if (o)
		o->running = 1;         /* news of its own run */
	if (!o || f->subagent) {
		if (rt)
			LOG_DEBUG("letta", "event=app_delta_dropped agent=%s "
			          "kind=%d owned=%d subagent=%d", rt->agent,
			          (int)f->dkind, o != NULL, f->subagent);
		return;
	}
	if (f->run_id[0] && !o->run_id[0]) {
		snprintf(o->run_id, sizeof o->run_id, "%s", f->run_id);
		if (o->stream)
			o->ev->run(o->arg, o->run_id);
	}
	switch (f->dkind) {
	case LETTA_APP_D_ASSISTANT:
		on_text(rt, o, f);
		break;
	case LETTA_APP_D_TOOL_CALL:
		if (o->stream)
			o->ev->tool(o->arg, f->tool);
		break;
	case LETTA_APP_D_STOP:
		if (!f->waiting)
			snprintf(o->rep->stop, sizeof o->rep->stop, "%s", f->stop);
		break;
	case LETTA_APP_D_ERROR:
		LOG_WARN("letta", "event=app_turn_error agent=%s terminal=%d "
		         "error=\"%.200s\"", rt->agent, f->is_terminal, f->error);
		if (f->is_terminal && !o->rep->stop[0])
			snprintf(o->rep->stop, sizeof o->rep->stop, "error");
		break;
	default:
		break;
	}
}

/* A tool waits for approval: the turn's answer so far and the tool call
 * go to the owner as a paused turn (stop requires_approval); the answer
 * to it is a send of its own. */
static void on_control(struct appsrv *s, const struct letta_app_frame *f)
{
	struct art *rt = rt_of(s, f);
	struct aop *o = turn_of(rt);
	struct lapi_res res = { .outcome = LAPI_ANSWERED };
	char perm[LIM_LETTA_APP_ID + 8];

	snprintf(perm, sizeof perm, "perm-%s", f->call_id);
	if (!rt)
		return;
	rt->asking = 1;
	snprintf(rt->tool, sizeof rt->tool, "%s", f->tool);
	if (!o || strcmp(perm, f->request_id)) {
		LOG_WARN("letta", "event=app_approval_unowned agent=%s tool=\"%.60s\" "
		         "request=%s", rt->agent, f->tool, f->request_id);
		return;
	}
	letta_reply_approval(o->rep, f->tool, f->call_id, f->input,
	                     f->input_len);
	snprintf(o->rep->stop, sizeof o->rep->stop, "requires_approval");
	rt->turn = NULL;
	res.rep = o->rep;
	appsrv_end(o, &res);
	/* the answer leaves (committed, then written) before the frames
	 * that came after this one are read: they are status news */
	if (s->ws)
		ws_conn_yield(s->ws);
}

static void on_turn(struct appsrv *s, const struct letta_app_frame *f)
{
	struct art *rt = rt_of(s, f);
	struct aop *o;
	struct lapi_res res = { .outcome = LAPI_ANSWERED };

	if (!rt)
		return;
	if (rt->turn && rt->turn->accepted == ACC_QUEUED) {
		/* the turn before ours ended: ours runs next */
		rt->turn->accepted = ACC_STARTED;
		return;
	}
	if (rt->turn && (!rt->turn->accepted ||
	                 (!rt->turn->running && !f->error[0])))
		return;         /* an earlier turn's end (after a reconnect,
		                 * the turn our old connection left is
		                 * cancelled late), not this one's */
	/* proof the last input's turn ran to its end (for a look later) */
	snprintf(rt->finished, sizeof rt->finished, "%s", rt->sent);
	rt->asking = 0;
	if (!(o = turn_of(rt)))
		return;
	if (f->error[0])
		LOG_WARN("letta", "event=app_turn_failed agent=%s stop=%s "
		         "error=\"%.200s\"", rt->agent, f->stop, f->error);
	if (!o->rep->stop[0])
		snprintf(o->rep->stop, sizeof o->rep->stop, "%s", f->stop);
	LOG_DEBUG("letta", "event=app_turn_finished agent=%s stop=%s "
	          "messages=%d bytes=%zu", rt->agent, o->rep->stop, o->rep->n,
	          o->rep->len);
	rt->turn = NULL;
	res.rep = o->rep;
	appsrv_end(o, &res);
}

void appsrv_on_message(struct appsrv *s, const char *text, size_t len)
{
	struct letta_app_frame *f = s->f;
	struct art *rt;
	int e = letta_app_frame_parse(&s->j, text, len, f);

	if (e) {
		LOG_WARN("letta", "event=app_frame_unreadable err=%s", err_str(e));
		return;
	}
	switch (f->type) {
	case LETTA_APP_F_RUNTIME:  on_runtime(s, f);  break;
	case LETTA_APP_F_ACCEPTED: on_accepted(s, f); break;
	case LETTA_APP_F_MESSAGES: on_messages(s, f); break;
	case LETTA_APP_F_SYNC:     on_sync(s, f);     break;
	case LETTA_APP_F_ABORT:    on_abort(s, f);    break;
	case LETTA_APP_F_DELTA:    on_delta(s, f);    break;
	case LETTA_APP_F_CONTROL:  on_control(s, f);  break;
	case LETTA_APP_F_TURN:     on_turn(s, f);     break;
	case LETTA_APP_F_LOOP:
		/* the map may name a question's try before input_accepted
		 * comes (seen on a loaded server): the try's id is proof
		 * enough; an approval's answer has no id, so it waits for
		 * its acceptance */
		if ((rt = rt_of(s, f)) && rt->turn &&
		    (rt->turn->accepted || !rt->turn->approval))
			own_run(s, rt->turn, f);
		if (rt && rt->idle != f->idle) {
			rt->idle = f->idle;
			if (rt->idle)   /* a question may wait for it */
				appsrv_pump(s);
		}
		break;
	default:        /* the answers letta_app.h does not read */
		on_conv(s, f);
		break;
	}
}
