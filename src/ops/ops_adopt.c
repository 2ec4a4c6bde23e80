/*
 * ops_adopt: after import-json, the legacy rooms become ours, so that the
 * next start keeps them (reconcile maps a room only when it carries our
 * marker, sent by the agent user in a room it made, with the bot in it;
 * without that a legacy room looks gone and a new one would be made).
 *
 * Per imported agent with a room: log its user in with the imported
 * password (the token is stored, sealed), the agent user sets our marker
 * and invites the bot, the bot joins. Every step is safe to repeat, so an
 * import that could not reach the homeserver is finished by running it
 * again. Only agents whose record lacks the bot's membership are done.
 */
#include "ops/ops_int.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "matrix/matrix.h"
#include "ops/ops_legacy.h"
#include "prov/provision.h"

struct adopt {
	struct app *a;
	char bot[LIM_STORE_SECRET];
	size_t done, failed;
	int unreachable;        /* no answer: the rest is not tried */
};

struct ans {
	int ok;
	struct mx_error e;
	struct mx_login l;
	int login;
};

static int ans_fn(void *arg, const struct proto_resp *resp)
{
	struct ans *x = arg;

	if (x->login) {
		x->ok = mx_login_parse(resp, &x->l, &x->e) == 0;
		return 0;
	}
	x->ok = mx_ok(resp);
	if (!x->ok)
		mx_error_parse(resp, &x->e);
	return 0;
}

/* Sends req; 1 when it succeeded (or failed with `fine`), else prints
 * why and returns 0. */
static int call(struct adopt *ad, struct proto_req *req, struct ans *x,
                const char *what, const char *id, int fine)
{
	char msg[300];

	ops_call(ad->a, OPS_MATRIX, req, ans_fn, x);
	memset(req->bearer, 0, sizeof req->bearer);
	if (x->ok || (fine && x->e.status == fine))
		return 1;
	mx_error_msg(&x->e, msg, sizeof msg);
	fprintf(stderr, "warning: %s: %s failed: %s\n", id, what, msg);
	if (x->e.status == 0)
		ad->unreachable = 1;
	return 0;
}

static int get_fn(struct store_txn *t, void *arg)
{
	struct store_agent *a = arg;

	return store_agent_get(t, a->agent_id, a);
}

static int put_fn(struct store_txn *t, void *arg)
{
	return store_agent_put(t, arg);
}

static int bot_fn(struct store_txn *t, void *arg)
{
	struct adopt *ad = arg;
	bool clear;

	return store_meta_get_sealed(t, PROV_META_BOT_TOKEN, ad->bot,
	                             sizeof ad->bot, &clear);
}

/* The bot's token: configured, stored by provisioning, or a login with
 * [matrix] bot_password_file. */
static int bot_token(struct adopt *ad)
{
	struct proto_req req;
	struct ans x;

	if (ad->a->pc.bot_token) {
		snprintf(ad->bot, sizeof ad->bot, "%s", ad->a->pc.bot_token);
		return 0;
	}
	if (store_view(ad->a->store, bot_fn, ad) == 0)
		return 0;
	memset(&x, 0, sizeof x);
	x.login = 1;
	if (!ad->a->pc.bot_password ||
	    mx_req_login(&req, ad->a->bot_user, ad->a->pc.bot_password) < 0 ||
	    !call(ad, &req, &x, "the bot's login", ad->a->bot_user, 0))
		return ERR_CONFIG;
	snprintf(ad->bot, sizeof ad->bot, "%s", x.l.access_token);
	memset(&x.l, 0, sizeof x.l);
	return 0;
}

static int login(struct adopt *ad, struct store_agent *rec)
{
	struct proto_req req;
	struct ans x;

	memset(&x, 0, sizeof x);
	x.login = 1;
	if (mx_req_login(&req, rec->user_id, rec->password) < 0 ||
	    !call(ad, &req, &x, "the login of its user", rec->agent_id, 0))
		return 0;
	snprintf(rec->access_token, sizeof rec->access_token, "%s",
	         x.l.access_token);
	memset(&x.l, 0, sizeof x.l);
	return 1;
}

static int adopt_one(struct adopt *ad, struct store_agent *rec)
{
	struct proto_req req;
	struct ans x;
	struct json_w w;
	char marker[128];

	if (!rec->access_token[0] && !login(ad, rec))
		return 0;
	json_w_init(&w, marker, sizeof marker);
	json_w_obj(&w);
	json_w_kstr(&w, "agent_id", rec->agent_id);
	json_w_kint(&w, "v", MX_MARKER_V);
	json_w_obj_end(&w);
	memset(&x, 0, sizeof x);
	if (json_w_finish(&w, NULL) < 0 ||
	    mx_req_state_put(&req, rec->access_token, rec->room_id,
	                     MX_MARKER_TYPE, "", marker) < 0 ||
	    !call(ad, &req, &x, "our marker", rec->agent_id, 0))
		return 0;
	memset(&x, 0, sizeof x);
	if (mx_req_invite(&req, rec->access_token, rec->room_id,
	                  ad->a->bot_user) < 0 ||
	    !call(ad, &req, &x, "the bot's invite", rec->agent_id, 403))
		return 0;
	memset(&x, 0, sizeof x);
	if (mx_req_join(&req, ad->bot, rec->room_id) < 0 ||
	    !call(ad, &req, &x, "the bot's join", rec->agent_id, 0))
		return 0;
	rec->flags |= PROV_F_BOT_JOINED | STORE_AGENT_ROOM_CREATED;
	return 1;
}

int ops_adopt(struct app *a, const struct legacy_file *f, int dry)
{
	static struct adopt ad;         /* the process's one adoption */
	struct store_agent rec;
	size_t todo = 0;

	memset(&ad, 0, sizeof ad);
	ad.a = a;
	for (size_t i = 0; i < f->n && !ad.unreachable; i++) {
		int r;

		memset(&rec, 0, sizeof rec);
		snprintf(rec.agent_id, sizeof rec.agent_id, "%s",
		         f->e[i].a.agent_id);
		r = store_view(a->store, get_fn, &rec);
		if (r == ERR_NOTFOUND && dry)   /* not imported yet */
			rec = f->e[i].a;
		else if (r < 0)
			continue;
		if (!rec.room_id[0] || (rec.flags & PROV_F_BOT_JOINED))
			continue;
		todo++;
		if (dry)
			continue;
		if (!ad.bot[0] && (app_net_open(a) || bot_token(&ad))) {
			fprintf(stderr, "warning: the legacy rooms were not "
			        "adopted: no bot token (set [matrix] "
			        "bot_token_file or bot_password_file, then run "
			        "lettamx import-json FILE again)\n");
			return 1;
		}
		if (adopt_one(&ad, &rec) && store_update(a->store, put_fn,
		                                          &rec) >= 0)
			ad.done++;
		else
			ad.failed++;
		memset(&rec, 0, sizeof rec);
	}
	memset(ad.bot, 0, sizeof ad.bot);
	if (dry) {
		printf("would adopt %zu legacy rooms (our marker, the bot "
		       "joined)\n", todo);
		return 0;
	}
	if (ad.done || !ad.failed)
		printf("adopted %zu legacy rooms (our marker set by the agent "
		       "user, the bot joined)\n", ad.done);
	if (ad.failed || ad.unreachable)
		fprintf(stderr, "warning: %zu legacy rooms are not adopted%s: "
		        "run lettamx import-json FILE again when the homeserver "
		        "has them (else the next start makes new rooms)\n",
		        todo - ad.done, ad.unreachable ? " (the homeserver did "
		        "not answer)" : "");
	return ad.failed || ad.unreachable ? 1 : 0;
}
