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
 */
#include "bridge/bridge_int.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "letta/lapi.h"

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

static int keep_txn(struct store_txn *t, void *arg)
{
	const struct keep *k = arg;

	return store_conv_put(t, k->room, k->thread, k->conv);
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
