/*
 * bridge_stream: step 4, the answer as it comes (bridge_int.h has the map):
 * the news of a streamed send, as the Letta API tells it (struct
 * lapi_events: the answer so far, a tool being run), shown live while the
 * agent works. Which API it came over is not known here.
 *
 * A turn not complete within [bridge] stream_after gets a first message
 * (what the agent has said so far) through the outbox, so it has a
 * transaction id fixed before it is sent; not while what it has said
 * could still become <no-reply/> (nothing yet included): an agent that
 * stays quiet never shows up, not even briefly (bridge_quiet.c). Once the
 * homeserver has it, the message is edited (m.replace) as the agent goes
 * on: at most one edit per EDIT_GAP_MS and LIM_BRIDGE_EDITS per answer,
 * the last of them the final answer. An edit is never queued: one not
 * yet due, or refused with 429, is overtaken by the next text (the
 * newest wins), so a rate-limited agent user sends fewer edits, never a
 * backlog. The final answer is the last edit and goes through the outbox
 * (bridge_out.c), after any edit still in flight and after the gap.
 *
 * The live message's event id is kept in the store (meta "live/<id>")
 * when it leaves the outbox, so a final answer found after a restart
 * still edits it. A stream that breaks off is not re-sent: the turn
 * reads the run's state and the agent's history (bridge_turn.c).
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
#include "letta/letta_msg.h"
#include "letta/letta_stream.h"
#include "store/store.h"

#define EDIT_GAP_MS    1100          /* > 1 s, whatever the jitter */
#define LIVE_TEXT_MAX  8000          /* of an edit's text: it goes twice,
                                      * with its HTML twice, in one event
                                      * under 64 KB (413 M_TOO_LARGE) */
#define PLACEHOLDER    "Thinking…"

enum { L_NONE, L_QUEUED, L_SHOWN };

struct blive {
	struct broom *r;
	/* while the answer is read (NULL afterwards) */
	const struct letta_reply *rep;  /* the answer so far: the Letta
	                                 * API's, valid while it reads */
	char tool[LETTA_STREAM_NAME];   /* running (show_tools), "" none */
	int reading;
	/* the live message */
	int state;                      /* L_* */
	int final;                      /* its final answer is queued */
	char question[LIM_STORE_ID], user[LIM_STORE_ID];
	char thread[LIM_STORE_ID], event[LIM_STORE_ID];
	int reply;
	int edits, dirty;
	int held;                       /* stream_after passed while the
	                                 * answer could still be <no-reply/>:
	                                 * shown once it cannot */
	uint64_t shown;                 /* hash of the text shown (or on its
	                                 * way): the same text is not sent
	                                 * again (past LIVE_TEXT_MAX, more
	                                 * news changes nothing shown) */
	uint64_t due;                   /* monotonic ms: no edit before */
	struct bcall *edit_call;
	struct loop_timer t_edit, t_live;
};

/* ---- what the live message shows ---- */

/* The name of the tool being run as the live message shows it: only
 * [A-Za-z0-9_.-] (it goes into Markdown). Returns its length. */
static size_t tool_shown(const char *name, char *out, size_t cap)
{
	size_t k = 0;

	for (const char *p = name; *p && k + 1 < cap; p++)
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '.')
			out[k++] = *p;
	out[k] = '\0';
	return k;
}

/* The text so far (cut on a character boundary, "…" saying so) or a
 * placeholder, and the tool being run. out holds LIVE_TEXT_MAX + 256. */
static size_t live_text(const struct blive *lv, char *out)
{
	const struct letta_reply *rep = lv->rep;
	size_t n = rep ? json_utf8_fit(rep->text, rep->len, LIVE_TEXT_MAX) : 0;
	char tool[LETTA_STREAM_NAME];

	if (n)
		memcpy(out, rep->text, n);
	else
		n = (size_t)snprintf(out, 64, "%s", PLACEHOLDER);
	if (rep && rep->len > n)
		n += (size_t)snprintf(out + n, 8, " …");
	if (lv->r->b->show_tools && tool_shown(lv->tool, tool, sizeof tool))
		n += (size_t)snprintf(out + n, 200, "\n\n*(running `%s`)*", tool);
	return n;
}

static void out_of(const struct blive *lv, struct bridge_out *o, int kind,
                   const char *body, size_t n, int flags)
{
	memset(o, 0, sizeof *o);
	o->kind = kind;
	o->body = body;
	o->body_len = n;
	o->flags = flags;
	o->reply = lv->reply;
	snprintf(o->sender, sizeof o->sender, "%s", lv->user);
	snprintf(o->reply_to, sizeof o->reply_to, "%s", lv->question);
	snprintf(o->thread, sizeof o->thread, "%s", lv->thread);
}

struct lpush { struct broom *r; struct bridge_out *o; };

static int lpush_txn(struct store_txn *t, void *arg)
{
	struct lpush *c = arg;

	return bridge_conv_push(t, c->r->b, c->r->id, c->o, c->r->b->rec);
}

/* Queues o in the room's outbox (own transaction). */
static int queue(struct broom *r, struct bridge_out *o)
{
	struct lpush c = { r, o };
	int e = store_update(r->b->store, lpush_txn, &c);

	if (e)
		LOG_WARN("bridge", "event=live_not_stored room=%s err=%s", r->id,
		         err_str(e));
	else
		bridge_kick(r);
	return e;
}

/* ---- edits ---- */

static uint64_t text_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

static void edit_pump(struct broom *r);

static void on_edit(struct bcall *c, int st, const char *body, size_t len,
                    int64_t ra, int err)
{
	struct broom *r = c->room;
	struct blive *lv = r->lv;

	(void)body;
	(void)len;
	if (!lv || lv->edit_call != c)
		return;
	lv->edit_call = NULL;
	if (st != 200) {
		/* not shown: the text it carried comes with the next one */
		lv->edits--;
		lv->dirty = 1;
		lv->shown = 0;
		if (st == 429) {
			int64_t d = ra > EDIT_GAP_MS ? ra : EDIT_GAP_MS;

			lv->due = loop_now(r->b->loop) + (uint64_t)d;
			bridge_metric(r->b, METRICS_RATE_LIMITED, "edit", 1);
		}
		LOG_DEBUG("bridge", "event=edit_failed room=%s status=%d err=%s",
		          r->id, st, err_str(err));
	}
	edit_pump(r);
	bridge_kick(r);         /* a final answer may wait for this edit */
}

static void edit_send(struct broom *r, struct blive *lv, const char *tok)
{
	char path[LIM_PROTO_PATH], txn[80];
	struct bridge_out o;
	char *text = malloc(LIVE_TEXT_MAX + 256), *body = NULL;
	size_t n = 0;

	if (text) {
		size_t tn = live_text(lv, text);
		uint64_t h = text_hash(text, tn);

		if (h == lv->shown) {
			free(text);
			lv->dirty = 0;
			return;
		}
		lv->shown = h;
		out_of(lv, &o, BRIDGE_OUT_TEXT, text, tn, 0);
		o.replaces = lv->event;
		snprintf(txn, sizeof txn, "lmxe.%lld.%d",
		         (long long)store_now(r->b->store), lv->edits);
		body = bridge_conv_event(&o, txn, &n);
	}
	free(text);
	if (!body || bridge_send_path(path, sizeof path, r->id, txn)) {
		free(body);
		return;
	}
	lv->dirty = 0;
	lv->edits++;
	lv->due = loop_now(r->b->loop) + EDIT_GAP_MS;
	lv->edit_call = bridge_call(r->b, r, "PUT", BASE_HS, path, tok, body,
	                            n, 30000, on_edit);
	if (!lv->edit_call)
		lv->edits--;
}

/* Sends the newest text when an edit is due; else arms the timer. The
 * last of LIM_BRIDGE_EDITS is kept for the final answer. */
static void edit_pump(struct broom *r)
{
	struct blive *lv = r->lv;
	char tok[LIM_STORE_SECRET];
	uint64_t now = loop_now(r->b->loop);

	if (!lv || !lv->reading || lv->state != L_SHOWN || lv->final ||
	    !lv->dirty || lv->edit_call || lv->edits >= LIM_BRIDGE_EDITS - 1)
		return;
	if (now < lv->due) {
		if (!loop_timer_armed(&lv->t_edit))
			bridge_arm(r->b, &lv->t_edit, (int64_t)(lv->due - now));
		return;
	}
	if (bridge_agent_token(r, lv->user, tok, sizeof tok))
		return;                 /* a login kicks; the text waits */
	edit_send(r, lv, tok);
}

static void on_edit_timer(void *arg)
{
	edit_pump(arg);
}

/* The agent said more, or started a tool. */
static void progress(struct broom *r)
{
	r->lv->dirty = 1;
	edit_pump(r);
}

/* stream_after passed and the turn is not over: the first message. */
static void on_live_timer(void *arg)
{
	struct broom *r = arg;
	struct blive *lv = r->lv;
	struct bridge_out o;
	char *text;
	size_t n;

	if (!lv || !lv->reading || lv->state != L_NONE)
		return;
	/* an answer that may yet be <no-reply/> (nothing said so far
	 * included) is not shown: the agent may stay quiet */
	lv->held = !lv->rep || bridge_quiet_prefix(lv->rep->text,
	                                           lv->rep->len);
	if (lv->held)
		return;
	if (!(text = malloc(LIVE_TEXT_MAX + 256)))
		return;
	n = live_text(lv, text);
	lv->shown = text_hash(text, n);
	out_of(lv, &o, BRIDGE_OUT_TEXT, text, n, BRIDGE_OUT_F_LIVE);
	if (!queue(r, &o)) {
		lv->state = L_QUEUED;
		lv->dirty = 0;
		LOG_INFO("bridge", "event=answer_live room=%s event_id=%s", r->id,
		         lv->question);
	}
	free(text);
}

void bridge_stream_shown(struct broom *r, const char *question,
                         const char *event_id)
{
	struct blive *lv = r->lv;

	if (!lv || strcmp(lv->question, question))
		return;
	lv->state = L_SHOWN;
	snprintf(lv->event, sizeof lv->event, "%s", event_id);
	lv->due = loop_now(r->b->loop) + EDIT_GAP_MS;
	edit_pump(r);
}

/* ---- the answer as it comes (struct lapi_events) ---- */

static void ev_text(void *arg, const struct letta_reply *rep)
{
	struct broom *r = arg;

	if (!r->lv || !r->lv->reading)
		return;
	r->lv->rep = rep;
	r->lv->tool[0] = '\0';
	if (r->lv->held && !bridge_quiet_prefix(rep->text, rep->len)) {
		on_live_timer(r);       /* it was due: shown now */
		return;
	}
	progress(r);
}

static void ev_tool(void *arg, const char *tool)
{
	struct broom *r = arg;

	if (!r->lv || !r->lv->reading)
		return;
	snprintf(r->lv->tool, sizeof r->lv->tool, "%s", tool);
	if (tool[0] && r->b->show_tools)
		progress(r);
}

static void ev_run(void *arg, const char *run_id)
{
	struct broom *r = arg;

	if (!r->run_id[0])
		snprintf(r->run_id, sizeof r->run_id, "%s", run_id);
}

static void ev_bad(void *arg, int err)
{
	struct broom *r = arg;

	LOG_WARN("bridge", "event=stream_event_unreadable room=%s err=%s",
	         r->id, err_str(err));
}

static int ev_stop(void *arg)
{
	struct broom *r = arg;

	return !r->lv || !r->lv->reading;
}

const struct lapi_events bridge_stream_events = {
	.text = ev_text, .tool = ev_tool, .run = ev_run, .bad = ev_bad,
	.stop = ev_stop,
};

static void reader_free(struct blive *lv)
{
	lv->rep = NULL;
	lv->reading = 0;
	lv->tool[0] = '\0';
}

static struct blive *live_new(struct broom *r)
{
	struct blive *lv = calloc(1, sizeof *lv);

	if (!lv)
		return NULL;
	lv->r = r;
	loop_timer_init(&lv->t_edit, on_edit_timer, r);
	loop_timer_init(&lv->t_live, on_live_timer, r);
	return lv;
}

static void live_free(struct broom *r)
{
	struct blive *lv = r->lv;

	if (!lv)
		return;
	loop_timer_cancel(r->b->loop, &lv->t_edit);
	loop_timer_cancel(r->b->loop, &lv->t_live);
	reader_free(lv);
	free(lv);
	r->lv = NULL;
}

/* The live state for question: the one kept for it (a re-send after a
 * broken stream), or a new one. */
static struct blive *live_for(struct broom *r, const char *question)
{
	if (r->lv && strcmp(r->lv->question, question))
		live_free(r);
	if (!r->lv && (r->lv = live_new(r)))
		snprintf(r->lv->question, sizeof r->lv->question, "%s", question);
	return r->lv;
}

int bridge_stream_begin(struct broom *r, const char *question,
                        const char *user, const char *thread, int reply)
{
	struct blive *lv = live_for(r, question);

	if (!lv || lv->reading)
		return ERR_NOMEM;
	lv->reading = 1;
	snprintf(lv->user, sizeof lv->user, "%s", user);
	snprintf(lv->thread, sizeof lv->thread, "%s", thread);
	lv->reply = reply;
	r->run_id[0] = '\0';
	r->run_over = 0;
	if (lv->state == L_NONE)
		bridge_arm(r->b, &lv->t_live, r->b->stream_after);
	else
		lv->dirty = 1;  /* a re-send: the live message goes on */
	return 0;
}

void bridge_stream_done(struct broom *r)
{
	struct blive *lv = r->lv;

	if (!lv)
		return;
	loop_timer_cancel(r->b->loop, &lv->t_live);
	loop_timer_cancel(r->b->loop, &lv->t_edit);
	/* the text shown so far stays; what came after it is read again
	 * from the history, or is the final answer */
	reader_free(lv);
	if (lv->state == L_NONE)
		live_free(r);
}

void bridge_stream_close(struct broom *r)
{
	struct blive *lv = r->lv;
	static const char stopped[] = "*(The agent stopped before it "
	                              "answered.)*";
	struct bridge_out o;

	if (!lv)
		return;
	if (lv->state != L_NONE && !lv->final) {
		/* cancelled, or the question went away: the live message
		 * must not keep saying the agent works */
		char *text = malloc(LIVE_TEXT_MAX + 256);
		size_t n = 0;

		if (text && lv->rep && lv->rep->len) {
			n = live_text(lv, text);
			n += (size_t)snprintf(text + n, 64, "\n\n%s", stopped);
		} else if (text) {
			n = (size_t)snprintf(text, LIVE_TEXT_MAX, "%s", stopped);
		}
		if (text) {
			out_of(lv, &o, BRIDGE_OUT_NOTICE, text, n,
			       BRIDGE_OUT_F_FINAL);
			if (!queue(r, &o))
				lv->final = 1;
		}
		free(text);
	}
	reader_free(lv);
	loop_timer_cancel(r->b->loop, &lv->t_live);
	loop_timer_cancel(r->b->loop, &lv->t_edit);
	if (lv->state == L_NONE || !lv->final)
		live_free(r);
}

int bridge_stream_busy(const struct broom *r)
{
	return r->lv && r->lv->final;
}

/* ---- the final answer ---- */

struct lscan { const char *question; int found; };

static int lscan_cb(const char *room, uint64_t seq, const void *data,
                    size_t n, void *arg)
{
	struct lscan *s = arg;
	struct bridge_out o;

	(void)room;
	(void)seq;
	if (!bridge_out_decode(data, n, &o) && (o.flags & BRIDGE_OUT_F_LIVE) &&
	    !strcmp(o.reply_to, s->question))
		s->found = 1;
	return s->found;
}

int bridge_stream_flags(struct store_txn *t, struct broom *r,
                        const char *question)
{
	struct lscan s = { question, 0 };
	char ev[LIM_STORE_ID];

	if (r->lv && r->lv->state != L_NONE && !strcmp(r->lv->question,
	                                               question))
		return BRIDGE_OUT_F_FINAL;
	/* an earlier run's: sent (kept in the store) or still queued */
	if (!bridge_live_get(t, r->id, question, ev, sizeof ev))
		return BRIDGE_OUT_F_FINAL;
	store_q_each(t, STORE_Q_OUTBOX, r->id, lscan_cb, &s);
	return s.found ? BRIDGE_OUT_F_FINAL : 0;
}

void bridge_stream_final_queued(struct broom *r, const char *question)
{
	if (r->lv && !strcmp(r->lv->question, question) &&
	    r->lv->state != L_NONE)
		r->lv->final = 1;
}

void bridge_stream_final_sent(struct broom *r, const char *question)
{
	struct blive *lv = r->lv;

	if (!lv || strcmp(lv->question, question) || !lv->final)
		return;
	LOG_INFO("bridge", "event=answer_final room=%s edits=%d", r->id,
	         lv->state == L_SHOWN ? lv->edits + 1 : 0);
	if (lv->state == L_SHOWN) {
		bridge_metric(r->b, METRICS_LIVE_ANSWERS, NULL, 1);
		bridge_metric(r->b, METRICS_EDITS, NULL, lv->edits + 1);
	}
	live_free(r);
	bridge_kick(r);         /* the next turn may start */
}

int bridge_stream_final_wait(struct broom *r, const char *question,
                             int64_t *ms)
{
	struct blive *lv = r->lv;
	uint64_t now = loop_now(r->b->loop);

	*ms = 0;
	if (!lv || strcmp(lv->question, question) || lv->state != L_SHOWN)
		return 0;
	if (lv->edit_call)
		return 1;
	if (now < lv->due) {
		*ms = (int64_t)(lv->due - now);
		return 1;
	}
	return 0;
}

int bridge_stream_is(const struct broom *r, const char *question)
{
	return r->lv && !strcmp(r->lv->question, question);
}

int bridge_stream_edits(const struct broom *r)
{
	return r->lv && r->lv->state == L_SHOWN ? r->lv->edits : -1;
}

void bridge_stream_stop(struct broom *r)
{
	if (!r->lv)
		return;
	loop_timer_cancel(r->b->loop, &r->lv->t_edit);
	loop_timer_cancel(r->b->loop, &r->lv->t_live);
	r->lv->edit_call = NULL;
}

void bridge_stream_free(struct broom *r)
{
	live_free(r);
}
