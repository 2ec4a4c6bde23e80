/*
 * ops_graph: the room graph for check (1, 2, 6, 7) and dedupe, from the
 * reconcile's one-request read of the bot's full-state /sync
 * (recon_sync_req, rg_parse), with the two facts its model leaves out
 * read from the same answer: each room's m.space.parent and whether the
 * agent user is joined. The rules are reconcile's: our Space is the one
 * whose marker our bot sent (naming our install id, or an older
 * version's {"v":1}); a room's marker counts only when sent by our bot or
 * the agent user it names, in a room one of them made.
 */
#include "ops/ops_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "ops/ops_check.h"
#include "reconcile/reconcile.h"
#include "reconcile/reconcile_graph.h"
#include "store/secret.h"

struct gread {
	struct app *a;
	const struct ops_recs *r;
	struct ops_graph *g;
	char install[64];
	char bot_token[LIM_STORE_SECRET];
	char *why;
	size_t cap;
	int rc;
};

/* The agent user of agent id: the record's, else the derived one. */
static void agent_user(const struct gread *x, const char *agent, char *out)
{
	for (size_t i = 0; i < x->r->n; i++)
		if (!strcmp(x->r->a[i].agent_id, agent)) {
			snprintf(out, IDENT_MXID_MAX + 1, "%s", x->r->a[i].user_id);
			return;
		}
	if (ident_agent_user_id(x->a->pc.user_prefix, agent, x->a->server,
	                        out, IDENT_MXID_MAX + 1) < 0)
		out[0] = '\0';
}

static int counts(const struct gread *x, const struct rg_room *rm)
{
	char user[IDENT_MXID_MAX + 1];
	const char *bot = x->a->bot_user;

	if (rm->mark != RG_MARK_OK)
		return 0;
	agent_user(x, rm->agent_id, user);
	return user[0] && (!strcmp(rm->mark_by, bot) ||
	                   !strcmp(rm->mark_by, user)) &&
	       (!strcmp(rm->creator, bot) || !strcmp(rm->creator, user));
}

/* 2: our bot's marker naming our install; 1: an older one of our bot. */
static int space_rank(const struct gread *x, const struct rg_room *rm)
{
	if (!rm->space_mark || rm->tombstoned ||
	    strcmp(rm->space_by, x->a->bot_user))
		return 0;
	if (!strcmp(rm->space_install, x->install))
		return 2;
	return rm->space_install[0] ? 0 : 1;
}

static const struct rg_room *pick_space(struct gread *x,
                                        const struct rg_graph *rg)
{
	const struct rg_room *best = NULL, *stored = NULL;
	int rank = 0;

	for (size_t i = 0; i < rg->n; i++) {
		const struct rg_room *rm = &rg->room[i];
		int k = rm->bot == RG_JOIN ? space_rank(x, rm) : 0;

		if (!strcmp(rm->id, x->r->space_id))
			stored = rm;
		if (k > rank || (k && k == rank && stored == rm)) {
			best = rm;
			rank = k;
		}
	}
	if (!best && stored && !stored->tombstoned) {
		/* the recorded Space, without (our) marker or the bot out */
		snprintf(x->g->space_id, sizeof x->g->space_id, "%s", stored->id);
		x->g->space_bot_joined = stored->bot == RG_JOIN;
		x->g->space_marker_ours = false;
		return stored;
	}
	if (best) {
		snprintf(x->g->space_id, sizeof x->g->space_id, "%s", best->id);
		x->g->space_bot_joined = true;
		x->g->space_marker_ours = true;
	}
	return best;
}

/* ---- what rg leaves out: parents and the agent user's membership ---- */

static int room_json(const struct json *j, const char *id)
{
	static const char *const parts[] = { "join", "leave" };
	int rooms = json_get(j, 0, "rooms");

	for (size_t p = 0; p < 2 && rooms >= 0; p++) {
		int sec = json_get(j, rooms, parts[p]);
		int v = sec >= 0 ? json_get(j, sec, id) : -1;

		if (v >= 0)
			return v;
	}
	return -1;
}

static void extras(const struct json *j, struct ops_graph_room *m,
                   const char *user)
{
	int o = room_json(j, m->room_id), st, ev;

	st = o >= 0 ? json_get(j, o, "state") : -1;
	ev = st >= 0 ? json_get(j, st, "events") : -1;
	for (int e = json_arr_first(j, ev); e >= 0; e = json_arr_next(j, ev, e)) {
		int t = json_get(j, e, "type"), k = json_get(j, e, "state_key");
		int c = json_get(j, e, "content"), mem;

		if (t < 0 || k < 0 || json_type(j, c) != JSON_OBJ)
			continue;
		if (json_str_eq(j, t, "m.space.parent") && json_count(j, c) &&
		    !m->parent[0])
			json_str(j, k, m->parent, sizeof m->parent);
		mem = json_get(j, c, "membership");
		if (json_str_eq(j, t, "m.room.member") && user[0] &&
		    json_str_eq(j, k, user) && mem >= 0 &&
		    json_str_eq(j, mem, "join"))
			m->agent_joined = true;
	}
}

static int fill(struct gread *x, const struct rg_graph *rg,
                const struct json *j)
{
	const struct rg_room *space = pick_space(x, rg);
	struct ops_graph *g = x->g;

	g->rooms = calloc(rg->n ? rg->n : 1, sizeof *g->rooms);
	if (!g->rooms)
		return ERR_NOMEM;
	for (size_t i = 0; i < rg->n; i++) {
		const struct rg_room *rm = &rg->room[i];
		struct ops_graph_room *m = &g->rooms[g->n];
		char user[IDENT_MXID_MAX + 1] = "";

		if (rm->is_space || rm->bot == RG_INVITE)
			continue;
		g->n++;
		snprintf(m->room_id, sizeof m->room_id, "%s", rm->id);
		if (counts(x, rm)) {
			snprintf(m->marker_agent, sizeof m->marker_agent, "%s",
			         rm->agent_id);
			agent_user(x, rm->agent_id, user);
		}
		m->bot_joined = rm->bot == RG_JOIN;
		m->tombstoned = rm->tombstoned != 0;
		m->create_ts = rm->create_ts;
		m->child = space && rg_linked(rg, space, rm->id);
		extras(j, m, user);
	}
	return 0;
}

static int sync_fn(void *arg, const struct proto_resp *resp)
{
	struct gread *x = arg;
	struct rg_graph rg;
	struct json j;
	struct mx_error e;

	if (!mx_ok(resp)) {
		mx_error_parse(resp, &e);
		mx_error_msg(&e, x->why, x->cap);
		return x->rc = ERR_HTTP;
	}
	rg_init(&rg);
	json_init(&j);
	x->rc = rg_parse(&rg, resp->body, resp->len, x->a->bot_user);
	if (x->rc)
		snprintf(x->why, x->cap, "the homeserver's /sync answer: %s",
		         rg.why[0] ? rg.why : err_str(x->rc));
	else if ((x->rc = json_parse(&j, resp->body, resp->len)) == 0)
		x->rc = fill(x, &rg, &j);
	json_free(&j);
	rg_free(&rg);
	return x->rc;
}

int ops_graph_read(struct app *a, const struct ops_recs *r,
                   struct ops_graph *g, char *why, size_t cap)
{
	struct gread x = { a, r, g, "", "", why, cap, 0 };
	struct proto_req req;

	memset(g, 0, sizeof *g);
	why[0] = '\0';
	if (secret_install_id(&a->master, x.install, sizeof x.install) < 0 ||
	    recon_bot_token(a->store, a->pc.bot_token, x.bot_token,
	                    sizeof x.bot_token) < 0) {
		snprintf(why, cap, "no bot token yet (run lettamx provision)");
		return ERR_CONFIG;
	}
	if (recon_sync_req(&req, x.bot_token) < 0) {
		snprintf(why, cap, "the bot's token is too long");
		return ERR_TOOBIG;
	}
	ops_call(a, OPS_MATRIX, &req, sync_fn, &x);
	memset(&req, 0, sizeof req);
	memset(x.bot_token, 0, sizeof x.bot_token);
	return x.rc;
}

void ops_graph_free(struct ops_graph *g)
{
	free(g->rooms);
	memset(g, 0, sizeof *g);
}
