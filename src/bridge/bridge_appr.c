/*
 * bridge_appr: at the side of step 3 (bridge_int.h has the map): a turn
 * that meets a tool approval (letta-api.md §5): the notice that names the
 * waiting tool and its arguments and says how to answer (!approve, !deny),
 * and the 409 PENDING_APPROVAL of a message sent while the agent waits; and
 * the room's pending call, a store record that bridge_turn_finish keeps in
 * the transaction that ends the turn and !approve / !deny (bridge_cmd.c)
 * read.
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

/* ---- the pending tool call of a room ---- */

#define PEND_KEY STORE_META_APPROVAL

static int pend_key(const char *room, char *key, size_t cap)
{
	return (size_t)snprintf(key, cap, PEND_KEY "%s", room) < cap ? 0
	                                                             : ERR_TOOBIG;
}

/* The record "call_id<TAB>tool[<TAB>thread root]" (no thread: the main
 * timeline's, as every record before threads had their own
 * conversations) into its fields, in val. 0 or ERR_NOTFOUND. */
static int pend_split(char *val, char **tool, char **thread)
{
	char *tab = strchr(val, '\t');

	if (!tab || tab == val)
		return ERR_NOTFOUND;    /* not ours: as if none */
	*tab = '\0';
	*tool = tab + 1;
	*thread = strchr(*tool, '\t');
	if (*thread)
		*(*thread)++ = '\0';
	else
		*thread = "";
	return 0;
}

static int pend_read(struct store_txn *t, const char *room, char *val,
                     size_t cap, char **tool, char **thread)
{
	char key[LIM_STORE_ID];
	int e;

	if (pend_key(room, key, sizeof key))
		return ERR_NOTFOUND;
	if ((e = store_meta_get(t, key, val, cap)))
		return e == ERR_TOOBIG ? ERR_NOTFOUND : e;
	return pend_split(val, tool, thread);
}

int bridge_pending_get(struct store_txn *t, const char *room, char *call_id,
                       size_t ccap, char *tool, size_t tcap)
{
	char val[768], *tl, *th;
	int e = pend_read(t, room, val, sizeof val, &tl, &th);

	if (e)
		return e;
	snprintf(call_id, ccap, "%s", val);
	snprintf(tool, tcap, "%s", tl);
	return 0;
}

int bridge_pending_thread(struct store_txn *t, const char *room,
                          char *thread, size_t cap)
{
	char val[768], *tl, *th;
	int e = pend_read(t, room, val, sizeof val, &tl, &th);

	if (!e)
		snprintf(thread, cap, "%s", th);
	return e;
}

int bridge_pending_put(struct store_txn *t, const char *room,
                       const char *call_id, const char *tool,
                       const char *thread)
{
	char key[LIM_STORE_ID], val[768];
	int n;

	if (pend_key(room, key, sizeof key)) {
		LOG_WARN("bridge", "event=approval_not_kept room=%.80s reason="
		         "\"room id too long\"", room);
		return 0;
	}
	if (strchr(call_id, '\t')) {
		LOG_WARN("bridge", "event=approval_not_kept room=%s reason="
		         "\"call id with a tab\"", room);
		return 0;
	}
	n = thread && thread[0] ?
	    snprintf(val, sizeof val, "%s\t%s\t%s", call_id, tool, thread) :
	    snprintf(val, sizeof val, "%s\t%s", call_id, tool);
	if (n < 0 || (size_t)n >= sizeof val)
		return ERR_TOOBIG;
	/* a tab in a tool's name would end it early: a space */
	for (char *p = val + strlen(call_id) + 1;
	     p < val + strlen(call_id) + 1 + strlen(tool); p++)
		if (*p == '\t')
			*p = ' ';
	return store_meta_put(t, key, val);
}

int bridge_pending_del(struct store_txn *t, const char *room)
{
	char key[LIM_STORE_ID];
	int e;

	if (pend_key(room, key, sizeof key))
		return 0;
	e = store_meta_del(t, key);
	return e == ERR_NOTFOUND ? 0 : e;
}

/* ---- the notices ---- */

/* The turn ended on an approval request: what the agent said, then one
 * notice naming the tool and its arguments and how to answer. */
void bridge_appr_asked(struct broom *r, struct bturn_head *h,
                       const struct letta_reply *rep)
{
	char note[BCMD_TEXT_MAX];

	if (bcmd_approval_text(note, sizeof note, r->b->cmd_prefix,
	                       rep->tool, rep->args, rep->args_len) < 0)
		bcmd_notice(note, sizeof note, BCMD_N_APPROVAL_NEEDED,
		            r->b->cmd_prefix, NULL);
	LOG_INFO("bridge", "event=approval_asked room=%s tool=\"%.60s\" "
	         "call_id=%s", r->id, rep->tool, rep->call_id);
	if (rep->n > 0)
		bridge_turn_finish(r, h, BRIDGE_OUT_TEXT, rep->text, rep->len,
		                   0, rep, note);
	else
		bridge_turn_finish(r, h, BRIDGE_OUT_NOTICE, note, strlen(note),
		                   0, rep, NULL);
}

static int pending_view(struct store_txn *t, void *arg)
{
	char **p = arg, call[80];

	return bridge_pending_get(t, p[0], call, sizeof call, p[1], 128);
}

/* The 409 notice: the waiting tool named when known; rep (NULL: none)
 * a pending call learnt from the history, kept with the notice. */
static void approval_told(struct broom *r, struct bturn_head *h,
                          const char *tool, const struct letta_reply *rep)
{
	char text[BCMD_TEXT_MAX];

	if (bcmd_notice(text, sizeof text, tool[0] ? BCMD_N_APPROVAL_WAITING
	                                           : BCMD_N_APPROVAL_NEEDED,
	                r->b->cmd_prefix, tool) < 0)
		snprintf(text, sizeof text, "The agent is waiting for approval "
		         "of a tool call.");
	snprintf(bridge_room_of(r)->last_err, sizeof r->last_err, "The agent is waiting for "
	         "a tool approval.");
	bridge_turn_finish(r, h, BRIDGE_OUT_NOTICE, text, strlen(text), 0, rep,
	                   NULL);
}

static void on_pending(void *arg, const struct lapi_res *res)
{
	struct broom *r = arg;
	const struct letta_reply *rep = res->rep;
	struct bturn_head h;

	if (!(r = bridge_turn_answered(r, &h)))
		return;
	if (res->found == 1 && bridge_turn_waits_approval(rep)) {
		LOG_INFO("bridge", "event=approval_found room=%s tool=\"%.60s\" "
		         "call_id=%s", r->id, rep->tool, rep->call_id);
		approval_told(r, &h, rep->tool, rep);
	} else {
		approval_told(r, &h, "", NULL);
	}
}

/* 409 PENDING_APPROVAL: the message is not taken; say which tool waits
 * and how to answer. A pause this room's turns did not see (asked for
 * elsewhere, or before an upgrade) is looked up in the history first. */
void bridge_appr_waits(struct broom *r, struct bturn_head *h)
{
	struct lapi_at at = { h->ag.agent_id, h->conv };
	char tool[128] = "";
	char *p[2] = { r->id, tool };

	if (!store_view(r->b->store, pending_view, p) && tool[0]) {
		approval_told(r, h, tool, NULL);
		return;
	}
	r->turn = T_HIST;
	r->turn_call = r->b->lapi->ops->pending(r->b->lapi, r, &at,
	                                        on_pending, r);
	if (!r->turn_call)
		approval_told(r, h, "", NULL);
}

/* ---- a tool call the App Server lost ---- */

struct lapse {
	const char *agent;
	struct store_agent ag;
	int had;                        /* the room's pending call was it */
};

static int lapse_txn(struct store_txn *t, void *arg)
{
	struct lapse *l = arg;
	char call[80], tool[128];
	int e;

	if ((e = store_agent_get(t, l->agent, &l->ag)) || !l->ag.room_id[0])
		return e == ERR_NOTFOUND ? 0 : e;
	e = bridge_pending_get(t, l->ag.room_id, call, sizeof call, tool,
	                       sizeof tool);
	if (e)
		return e == ERR_NOTFOUND ? 0 : e;
	l->had = 1;
	return bridge_pending_del(t, l->ag.room_id);
}

void bridge_appr_lapsed(void *arg, const char *agent_id, const char *tool)
{
	struct bridge *b = arg;
	struct lapse l = { .agent = agent_id };
	char note[BCMD_TEXT_MAX];
	struct broom *r;

	if (store_update(b->store, lapse_txn, &l) || !l.had ||
	    !(r = bridge_room(b, l.ag.room_id)))
		return;
	LOG_INFO("bridge", "event=approval_lapsed room=%s tool=\"%.60s\"",
	         r->id, tool);
	if (bcmd_notice(note, sizeof note, BCMD_N_APPROVAL_LAPSED,
	                b->cmd_prefix, tool) >= 0)
		bridge_notice(r, l.ag.user_id, "", note);
}
