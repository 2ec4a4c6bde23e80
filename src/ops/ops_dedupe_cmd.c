/*
 * ops_dedupe_cmd: `lettamx dedupe [--dry-run]` (see ops_dedupe.h for the
 * keeper and the order of the steps).
 *
 * The remap of every agent to its keeper is one transaction after a
 * verified snapshot (store_update_snap proves the snapshot holds the
 * mapping before the change: seed 000's backup was taken after it). The
 * server steps follow one request at a time; each is safe to repeat, so
 * a failure leaves a state `check` reports and a second run finishes.
 * Then it runs `check` and prints the result.
 */
#include "ops/ops_cmd.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/err.h"
#include "core/json.h"
#include "matrix/matrix.h"
#include "ops/ops_dedupe.h"
#include "ops/ops_int.h"
#include "prov/provision.h"
#include "store/store_snap.h"

struct dd {
	struct app app;
	struct ops_recs recs;
	struct ops_graph g;
	struct ops_dd_step *steps;
	size_t nsteps;
	char bot_token[LIM_STORE_SECRET];
	size_t done, failed;
	int run_check;          /* the folds were made: check them */
};

static const char *const kind_name[] = {
	"point the agent at", "link both ways with the Space",
	"unlink from the Space", "tombstone (to",
	"invite its people to", "the agent user leaves", "the bot leaves",
};

static int read_fn(struct store_txn *t, void *arg)
{
	struct dd *d = arg;
	bool clear;
	int r = ops_recs_read(t, &d->recs);

	if (r == 0 && !d->app.pc.bot_token &&
	    store_meta_get_sealed(t, PROV_META_BOT_TOKEN, d->bot_token,
	                          sizeof d->bot_token, &clear) < 0)
		d->bot_token[0] = '\0';
	return r;
}

/* ---- the remap ---- */

static int remap_fn(struct store_txn *t, void *arg)
{
	struct dd *d = arg;
	struct store_agent a;
	int r;

	for (size_t i = 0; i < d->nsteps; i++) {
		const struct ops_dd_step *s = &d->steps[i];

		if (s->kind != OPS_DD_REMAP)
			continue;
		r = store_agent_get(t, d->recs.a[s->agent].agent_id, &a);
		if (r < 0)
			return r;
		snprintf(a.room_id, sizeof a.room_id, "%s", s->keeper);
		/* the bot is in the keeper; provisioning links it again if
		 * need be (an idempotent state write) */
		a.flags |= STORE_AGENT_ROOM_CREATED | PROV_F_BOT_JOINED;
		a.flags &= ~(uint32_t)PROV_F_LINKED;
		if ((r = store_agent_put(t, &a)) < 0)
			return r;
	}
	return 0;
}

/* ---- the server steps ---- */

struct ans {
	struct dd *d;
	const struct ops_dd_step *s;
	int ok;
	struct mx_error e;
};

static int ans_fn(void *arg, const struct proto_resp *resp)
{
	struct ans *a = arg;

	a->ok = mx_ok(resp);
	if (!a->ok)
		mx_error_parse(resp, &a->e);
	return 0;
}

static const char *bot_tok(const struct dd *d)
{
	return d->app.pc.bot_token ? d->app.pc.bot_token : d->bot_token;
}

/* Sends req and counts the outcome; `fine` tells which failure means
 * the step was already done (M_FORBIDDEN of a left room, ...). */
static void send(struct dd *d, const struct ops_dd_step *s,
                 struct proto_req *req, int fine_status)
{
	struct ans a = { d, s, 0, { 0 } };
	char msg[300];

	ops_call(&d->app, OPS_MATRIX, req, ans_fn, &a);
	memset(req->bearer, 0, sizeof req->bearer);
	if (a.ok || (fine_status && a.e.status == fine_status)) {
		d->done++;
		return;
	}
	mx_error_msg(&a.e, msg, sizeof msg);
	d->failed++;
	printf("  failed: %s %s: %s\n", kind_name[s->kind], s->room, msg);
}

/* The joined members of the duplicate, then an invite of each person
 * (not the bot, not the agent user) to the keeper. */
struct members {
	struct dd *d;
	const struct ops_dd_step *s;
};

static int members_fn(void *arg, const struct proto_resp *resp)
{
	struct members *m = arg;
	const struct store_agent *ag = &m->d->recs.a[m->s->agent];
	struct json j;
	int o;

	if (!mx_ok(resp))
		return ERR_HTTP;
	json_init(&j);
	if (json_parse(&j, resp->body, resp->len) ||
	    (o = json_get(&j, 0, "joined")) < 0) {
		json_free(&j);
		return ERR_PROTO;
	}
	for (int k = json_obj_first(&j, o); k >= 0; k = json_obj_next(&j, o, k)) {
		char user[IDENT_MXID_MAX + 1];
		struct proto_req req;

		if (json_str(&j, k, user, sizeof user) < 0 ||
		    !strcmp(user, m->d->app.bot_user) ||
		    !strcmp(user, ag->user_id) ||
		    mx_req_invite(&req, bot_tok(m->d), m->s->keeper, user) < 0)
			continue;
		send(m->d, m->s, &req, 403);    /* 403: already in it */
	}
	json_free(&j);
	return 0;
}

static void invite_people(struct dd *d, const struct ops_dd_step *s)
{
	struct members m = { d, s };
	struct proto_req req;
	struct proto_buf p;

	/* GET /rooms/<dup>/joined_members, as the bot (still in it) */
	proto_req_init(&req, PROTO_GET);
	proto_req_bearer(&req, bot_tok(d));
	proto_buf_init(&p, req.path, sizeof req.path);
	proto_buf_str(&p, "/_matrix/client/v3/rooms/");
	proto_buf_urlenc(&p, s->room);
	proto_buf_str(&p, "/joined_members");
	if (p.err || ops_call(&d->app, OPS_MATRIX, &req, members_fn, &m) < 0) {
		d->failed++;
		printf("  failed: could not read the people of %s\n", s->room);
	}
	memset(req.bearer, 0, sizeof req.bearer);
}

/* m.space.parent in the keeper (as its agent user) and m.space.child in
 * the Space (as the bot). */
static void link_keeper(struct dd *d, const struct ops_dd_step *s,
                        const struct store_agent *a)
{
	struct proto_req req;
	char child[IDENT_MXID_MAX + 64], parent[IDENT_MXID_MAX + 96];
	struct json_w w;

	json_w_init(&w, parent, sizeof parent);
	json_w_obj(&w);
	json_w_key(&w, "via");
	json_w_arr(&w);
	json_w_str(&w, d->app.server);
	json_w_arr_end(&w);
	json_w_kbool(&w, "canonical", true);
	json_w_obj_end(&w);
	if (json_w_finish(&w, NULL) < 0 ||
	    mx_space_child_content(child, sizeof child, d->app.server, 1) < 0)
		return;
	if (!mx_req_state_put(&req, a->access_token[0] ? a->access_token :
	                      bot_tok(d), s->keeper, "m.space.parent",
	                      d->g.space_id, parent))
		send(d, s, &req, 0);
	if (!mx_req_state_put(&req, bot_tok(d), d->g.space_id,
	                      "m.space.child", s->keeper, child))
		send(d, s, &req, 0);
}

static void run_step(struct dd *d, const struct ops_dd_step *s)
{
	const struct store_agent *a = &d->recs.a[s->agent];
	struct proto_req req;
	struct json_w w;
	char body[LIM_STORE_ID + 160];

	switch (s->kind) {
	case OPS_DD_UNLINK:
		if (!mx_req_state_put(&req, bot_tok(d), d->g.space_id,
		                      "m.space.child", s->room, "{}"))
			send(d, s, &req, 0);
		break;
	case OPS_DD_LINK:
		link_keeper(d, s, a);
		break;
	case OPS_DD_TOMBSTONE:
		json_w_init(&w, body, sizeof body);
		json_w_obj(&w);
		json_w_kstr(&w, "body", "This agent's conversation moved to "
		            "its kept room.");
		json_w_kstr(&w, "replacement_room", s->keeper);
		json_w_obj_end(&w);
		/* the agent user made the room (power 100); an older
		 * bridge's bot may have none in it */
		if (!json_w_finish(&w, NULL) &&
		    !mx_req_state_put(&req, a->access_token[0] ?
		                      a->access_token : bot_tok(d), s->room,
		                      "m.room.tombstone", "", body))
			send(d, s, &req, 0);
		break;
	case OPS_DD_INVITE:
		invite_people(d, s);
		break;
	case OPS_DD_LEAVE_AGENT:
		if (!mx_req_leave(&req, a->access_token, s->room))
			send(d, s, &req, 403);
		break;
	case OPS_DD_LEAVE_BOT:
		if (!mx_req_leave(&req, bot_tok(d), s->room))
			send(d, s, &req, 403);
		break;
	default:
		break;
	}
}

/* ---- the command ---- */

static void print_plan(const struct dd *d, int dry)
{
	for (size_t i = 0; i < d->nsteps; i++) {
		const struct ops_dd_step *s = &d->steps[i];
		const struct store_agent *a = &d->recs.a[s->agent];

		printf("%s%s (%s): %s %s%s\n", dry ? "would: " : "", a->name,
		       a->agent_id, kind_name[s->kind],
		       s->kind == OPS_DD_REMAP ? s->keeper : s->room,
		       s->kind == OPS_DD_TOMBSTONE ? ")" : "");
	}
}

static int dedupe(struct dd *d, int dry)
{
	struct store_snap snap;
	char why[256];
	int n, r = ops_graph_read(&d->app, &d->recs, &d->g, why, sizeof why);

	if (r) {
		fprintf(stderr, "lettamx dedupe: %s; nothing was changed\n", why);
		return 2;
	}
	n = ops_dd_plan(&d->recs, &d->g, &d->steps, &d->nsteps);
	if (n < 0)
		return 1;
	if (n == 0) {
		printf("nothing to do: no agent is claimed by more than one "
		       "room, and every mapping points at its agent's room\n");
		return 0;
	}
	print_plan(d, dry);
	if (dry) {
		printf("%d agents to fix; nothing was changed (dry run)\n", n);
		return 0;
	}
	/* always a snapshot, even when only the server changes */
	r = store_update_snap(d->app.store, cfg_get(&d->app.cfg, "store",
	                      "snapshot_dir"), "dedupe", remap_fn, d, &snap);
	if (r < 0) {
		fprintf(stderr, "lettamx dedupe: %s; nothing was changed\n",
		        store_why(d->app.store));
		return 1;
	}
	printf("snapshot %s holds the mapping before the change\n", snap.name);
	for (size_t i = 0; i < d->nsteps; i++)
		run_step(d, &d->steps[i]);
	printf("%d agents folded: %zu requests done, %zu failed%s\n", n,
	       d->done, d->failed, d->failed ? " (run lettamx dedupe "
	       "again)" : "");
	d->run_check = 1;
	return d->failed ? 1 : 0;
}

/* check, as a second opinion on what dedupe left; run after our store is
 * closed (LMDB wants one environment per file and process). */
static int then_check(const char *path)
{
	char *args[] = { "check", "-c", (char *)(uintptr_t)path, NULL };

	printf("lettamx check:\n");
	fflush(stdout);
	return ops_cmd_check(path ? 3 : 1, args);
}

int ops_cmd_dedupe(int argc, char **argv)
{
	static const char *const flags[] = { "--dry-run", NULL };
	static struct dd d;     /* the process's one context */
	const char *path;
	int set[1], r;

	memset(&d, 0, sizeof d);
	if (app_args(argc, argv, flags, &path, set, NULL)) {
		app_usage("dedupe", "[--dry-run]");
		return 2;
	}
	r = app_open(&d.app, path, set[0] ? APP_READ : APP_WRITE);
	if (r)
		return r;
	if (app_net_open(&d.app) || store_view(d.app.store, read_fn, &d) < 0) {
		fprintf(stderr, "lettamx dedupe: %s\n", store_why(d.app.store));
		r = 1;
	} else {
		r = dedupe(&d, set[0]);
	}
	free(d.steps);
	ops_graph_free(&d.g);
	ops_recs_free(&d.recs);
	memset(d.bot_token, 0, sizeof d.bot_token);
	app_close(&d.app);
	if (d.run_check && then_check(path) && !r)
		r = 1;
	return r;
}
