/*
 * prov_agent: one agent's provisioning step machine (see provision.h).
 *
 * Each step either skips (the store says it is done) or builds exactly one
 * request; its answer moves the step on, retries it after a wait, or fails
 * the agent. Steps rebuild their request from state, so a retry is the
 * same step entered again.
 */
#include "prov/prov_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ident.h"
#include "core/json.h"
#include "core/log.h"
#include "matrix/mx_cred.h"
#include "store/store_snap.h"

/* ---- small helpers ---- */

void prov_fatal(struct prov *p, int err, const char *fmt, ...)
{
	va_list ap;

	if (p->fatal)
		return;
	p->fatal = err;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof p->why, fmt, ap);
	va_end(ap);
	LOG_ERROR("provision", "event=stopped err=%s why=\"%s\"",
	          err_str(err), p->why);
	p->phase = PH_DONE;
}

static int put_rec(struct store_txn *t, void *arg)
{
	return store_agent_put(t, arg);
}

int prov_before_change(struct prov *p)
{
	struct store_snap snap;
	int r;

	if (p->snapped || !p->c->snapdir)
		return 0;
	r = store_snapshot(p->c->store, p->c->snapdir, "provision", &snap);
	if (r < 0) {
		prov_fatal(p, r, "no change without a backup: the snapshot "
		           "failed: %s", store_why(p->c->store));
		return r;
	}
	p->snapped = 1;
	LOG_INFO("provision", "event=snapshot name=%s", snap.name);
	return 0;
}

int prov_save(struct prov *p)
{
	int r = prov_before_change(p);

	if (r < 0)
		return r;
	r = store_update(p->c->store, put_rec, &p->rec);
	if (r >= 0)
		p->dirty = 0;

	if (r < 0)
		prov_fatal(p, r, "store: %s", store_why(p->c->store));
	return r;
}

struct get_arg {
	const char *id;
	struct store_agent *rec;
};

static int get_rec(struct store_txn *t, void *arg)
{
	struct get_arg *g = arg;

	return store_agent_get(t, g->id, g->rec);
}

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src);
}

static const char *bot(const struct prov *p)
{
	return p->bot_token;
}

/* The agent user's own token, or the application service acting as it
 * (the store keeps no token then). */
static const char *agent_tok(const struct prov *p)
{
	return p->c->as_token ? p->cred : p->rec.access_token;
}

/* ---- reports ---- */

void prov_agent_done(struct prov *p)
{
	/* Steps that only repeat harmlessly after a crash (display name,
	 * link, join, a new token) are committed once, here. */
	if (p->dirty && !p->c->dry_run)
		prov_save(p);
	prov_avatar_free(p);
	p->rep.agent_id = p->a->id;
	p->rep.name = p->a->name;
	p->rep.why = p->awhy;
	p->rep.index = ++p->finished;
	p->rep.total = p->sum.agents;
	if (p->rep.user == PROV_R_FAILED || p->rep.room == PROV_R_FAILED ||
	    p->rep.space == PROV_R_FAILED)
		p->sum.failed++;
	if (p->on_agent)
		p->on_agent(p->arg, &p->rep);
	p->a = NULL;
}

void prov_agent_fail(struct prov *p, const char *why)
{
	copy(p->awhy, sizeof p->awhy, why);
	LOG_WARN("provision", "event=agent_failed agent=%s why=\"%s\"",
	         p->a->id, why);
	if (p->rep.user != PROV_R_MADE && !p->rec.access_token[0] &&
	    !(p->rec.flags & (STORE_AGENT_ROOM_CREATED | PROV_F_NAMED)))
		p->rep.user = PROV_R_FAILED;
	else if (!(p->rec.flags & STORE_AGENT_ROOM_CREATED))
		p->rep.room = PROV_R_FAILED;
	else
		p->rep.space = PROV_R_FAILED;
	p->step = S_FINISH;
}

int prov_on_mx_error(struct prov *p, const struct mx_error *e, int as_agent)
{
	char msg[LIM_PROTO_DETAIL + 64];
	int64_t d;

	if (e->status == 429)
		return prov_rate_limited(p, e);
	if (as_agent && mx_error_is(e, "M_UNKNOWN_TOKEN") && p->c->as_token) {
		prov_fatal(p, ERR_CONFIG, "the homeserver does not know our "
		           "application service's token: load the file that "
		           "lettamx appservice registration writes in its "
		           "app_service_config_files and restart it");
		return 0;
	}
	if (as_agent && mx_error_is(e, "M_UNKNOWN_TOKEN") && !p->relogged) {
		p->relogged = 1;
		p->resume = p->step;
		p->rec.access_token[0] = '\0';
		p->step = S_TOKEN;
		return 0;
	}
	if (!as_agent && mx_error_is(e, "M_UNKNOWN_TOKEN") &&
	    p->step != S_LOGIN && p->step != S_REGISTER &&
	    p->step != S_SS_REGISTER) {
		prov_bot_refused(p);
		return 0;
	}
	d = mx_retry_delay_ms(e, p->attempt);
	if (d >= 0 && p->attempt < LIM_PROV_ATTEMPTS) {
		p->attempt++;
		p->wait_ms = d;
		LOG_INFO("provision", "event=retry agent=%s status=%d "
		         "wait_ms=%lld", p->a ? p->a->id : "-", e->status,
		         (long long)d);
		return 0;
	}
	mx_error_msg(e, msg, sizeof msg);
	if (p->a)
		prov_agent_fail(p, msg);
	else            /* no answer: the transport's cause */
		prov_fatal(p, e->status || !e->neterr ? ERR_HTTP : e->neterr,
		           "%s", msg);
	return 0;
}

void prov_go(struct prov *p, int s)
{
	p->step = s;
	p->attempt = 0;
	p->rl_n = 0;
}

/* ---- one agent: starting ---- */

static int first_user_step(int reg)
{
	switch (reg) {
	case MX_REG_SHARED_SECRET: return S_SS_NONCE;
	case MX_REG_ADMIN_API:     return S_ADMIN_PUT;
	default:                   return S_REGISTER;   /* the service's
	                                                 * too */
	}
}

static void go_back(struct prov *p);

/* An application service's agent: no password (one kept from client
 * mode stays sealed in the record, unused), a credential that acts as
 * the user, and a registration first unless the user is known to exist
 * (a second one only answers M_USER_IN_USE). */
static int as_start(struct prov *p)
{
	int r = mx_cred_as(p->cred, sizeof p->cred, p->c->as_token,
	                   p->rec.user_id);

	if (r < 0) {
		prov_fatal(p, r, "agent %s: cannot act as %s", p->a->id,
		           p->rec.user_id);
		return r;
	}
	p->password[0] = '\0';
	p->rep.renamed = (p->rec.flags & PROV_F_NAMED) &&
	                 strcmp(p->rec.name, p->a->name) != 0;
	prov_go(p, p->rec.flags & (STORE_AGENT_ROOM_CREATED | PROV_F_NAMED)
	        ? S_DISPLAYNAME : S_REGISTER);
	go_back(p);
	return 0;
}

int prov_agent_start(struct prov *p)
{
	const struct prov_conf *c = p->c;
	struct get_arg g = { p->a->id, &p->rec };
	int r;

	memset(&p->rep, 0, sizeof p->rep);
	p->awhy[0] = '\0';
	p->relogged = p->fresh_user = p->invite_tried = 0;
	p->nonce[0] = '\0';
	p->resume = -1;
	p->ncand = p->ci = 0;
	r = store_view(c->store, get_rec, &g);
	if (r == ERR_NOTFOUND) {
		p->rep.unknown = 1;
		memset(&p->rec, 0, sizeof p->rec);
		copy(p->rec.agent_id, sizeof p->rec.agent_id, p->a->id);
		r = ident_agent_user_id(c->user_prefix, p->a->id,
		                        c->server_name, p->rec.user_id,
		                        sizeof p->rec.user_id);
	}
	if (r < 0) {
		prov_fatal(p, r, "agent %s: %s", p->a->id, r == ERR_STORE ?
		      store_why(c->store) : err_str(r));
		return r;
	}
	snprintf(p->localpart, sizeof p->localpart, "%.*s",
	         (int)strcspn(p->rec.user_id + 1, ":"), p->rec.user_id + 1);
	if (c->as_token)
		return as_start(p);
	/* A stored password is the user's: ours was derived the same way,
	 * and an imported one (import-json) is what the legacy bridge made
	 * the user with, so the existing user is logged in, not re-made. */
	if (p->rec.password[0])
		copy(p->password, sizeof p->password, p->rec.password);
	else if ((r = secret_agent_password(c->master, p->a->id, p->password,
	                                    sizeof p->password)) < 0) {
		prov_fatal(p, r, "cannot derive the password of %s", p->a->id);
		return r;
	}
	copy(p->rec.password, sizeof p->rec.password, p->password);
	p->rep.renamed = (p->rec.flags & PROV_F_NAMED) &&
	                 strcmp(p->rec.name, p->a->name) != 0;
	/* A user known to exist (a room of it, a name set: e.g. a record
	 * rebuilt from the room graph, without a token) gets a token only
	 * when it must act (settle), not with a login at every start. */
	prov_go(p, p->rec.access_token[0] || (p->rec.flags &
	        (STORE_AGENT_ROOM_CREATED | PROV_F_NAMED | PROV_F_RL_LIFTED))
	        ? S_DISPLAYNAME : first_user_step(c->reg));
	go_back(p);
	return 0;
}

/* Back within (or after) the grace period: nothing is lost; an unlinked
 * room is linked again. */
static void go_back(struct prov *p)
{
	if (!p->rec.deleted_at || p->c->dry_run)
		return;
	p->rec.deleted_at = 0;
	if (p->rec.flags & PROV_F_UNLINKED)
		p->rec.flags &= ~(PROV_F_UNLINKED | PROV_F_LINKED);
	p->sum.returned++;
	p->dirty = 1;
}

void prov_agent_plan(struct prov *p)
{
	uint32_t f = p->rec.flags;

	p->rep.user = p->rec.access_token[0] || (f & (STORE_AGENT_ROOM_CREATED
	              | PROV_F_NAMED)) ? PROV_R_KEPT : PROV_R_MADE;
	p->rep.room = (f & STORE_AGENT_ROOM_CREATED) ? PROV_R_KEPT
	                                             : PROV_R_MADE;
	p->rep.space = (f & PROV_F_LINKED) && !(f & PROV_F_UNLINKED) ?
	               PROV_R_KEPT : PROV_R_MADE;
	if (p->rep.unknown) {
		/* The real run looks its room up by the marker first (a lost
		 * store makes nothing twice): what it will make is unknown. */
		p->sum.unknown++;
		prov_agent_done(p);
		return;
	}
	p->sum.users_made += p->rep.user == PROV_R_MADE;
	p->sum.rooms_made += p->rep.room == PROV_R_MADE;
	p->sum.linked += p->rep.space == PROV_R_MADE;
	p->sum.renamed += p->rep.renamed;
	prov_agent_done(p);
}

/* ---- one agent: building the next request ---- */

static int build_room(struct prov *p, struct proto_req *req)
{
	const struct prov_conf *c = p->c;
	struct mx_room_spec s = {
		.agent_id = p->a->id, .name = p->a->name, .topic = p->a->desc,
		.agent_user = p->rec.user_id, .bot_user = c->bot_user,
		.space_id = p->space_id[0] ? p->space_id : NULL,
		.via = c->server_name, .invite = c->invite,
		.ninvite = c->ninvite,
		.restricted = c->access == PROV_ACCESS_SPACE &&
		              p->space_id[0],
	};

	/* The intent first: a crash after this point makes the next run
	 * look for the room instead of creating another. */
	if (!(p->rec.flags & PROV_F_ROOM_INTENT)) {
		p->rec.flags |= PROV_F_ROOM_INTENT;
		if (prov_save(p) < 0)
			return ERR_STORE;
	}
	return mx_req_create_room(req, agent_tok(p), &s);
}

static int build_name(struct proto_req *req, const char *token,
                      const char *room, const char *name)
{
	char content[LIM_LETTA_NAME * 6 + 32];
	struct json_w w;
	int r;

	json_w_init(&w, content, sizeof content);
	json_w_obj(&w);
	json_w_kstr(&w, "name", name);
	json_w_obj_end(&w);
	r = json_w_finish(&w, NULL);
	return r ? r : mx_req_state_put(req, token, room, "m.room.name", "",
	                                 content);
}

static int build_ss_register(struct prov *p, struct proto_req *req)
{
	char mac[SECRET_SHA1_HEX + 1];
	int r = secret_synapse_mac(p->c->shared_secret ? p->c->shared_secret
	                           : "", p->nonce, p->localpart, p->password,
	                           0, mac, sizeof mac);

	return r ? r : mx_req_ss_register(req, p->nonce, p->localpart,
	                                  p->password, mac);
}

/* Steps sent with the agent user's own token. */
static int as_agent_user(int step)
{
	return step == S_DISPLAYNAME || step == S_ROOM_NAME ||
	       step == S_JOINED || step == S_MARKER || step == S_CREATE ||
	       step == S_INVITE_BOT || step == S_TOMB ||
	       step == S_AVATAR_UP || step == S_AVATAR_USER ||
	       step == S_AVATAR_ROOM;
}

static int skip_done(struct prov *p);

/* Before the agent user's first own request: its limits lifted (where
 * the bot may), and a token (only now: a user with nothing to do costs
 * no login). */
static int settle(struct prov *p)
{
	int s = skip_done(p);

	if (!as_agent_user(s) || p->c->as_token)
		return s;       /* the service acts as its users at once */
	if (p->bot_admin == 1 && p->c->rl_override &&
	    !(p->rec.flags & PROV_F_RL_LIFTED)) {
		p->resume = s;
		prov_go(p, S_OVERRIDE);
	} else if (!p->rec.access_token[0]) {
		p->resume = s;
		prov_go(p, S_TOKEN);
	}
	return p->step;
}

int prov_agent_settle(struct prov *p)
{
	return settle(p);
}

/* Skips the steps with nothing to do. Returns the step that needs a
 * request, or S_FINISH. */
static int skip_done(struct prov *p)
{
	uint32_t f = p->rec.flags;

	for (;;) {
		switch (p->step) {
		case S_DISPLAYNAME:
			if ((f & PROV_F_NAMED) &&
			    !strcmp(p->rec.name, p->a->name)) {
				prov_go(p, S_ROOM);
				continue;
			}
			return p->step;
		case S_ROOM:
			if ((f & STORE_AGENT_ROOM_CREATED) && p->rec.room_id[0])
				prov_go(p, S_LINK);
			else if (p->fresh_user && !(f & PROV_F_ROOM_INTENT))
				prov_go(p, S_CREATE);  /* a new user has no rooms */
			else
				prov_go(p, S_JOINED);
			continue;
		case S_LINK:
			if ((f & PROV_F_LINKED) || !p->space_id[0]) {
				prov_go(p, S_JOIN);
				continue;
			}
			return p->step;
		case S_JOIN:
			if (f & PROV_F_BOT_JOINED) {
				prov_go(p, S_AVATAR);
				continue;
			}
			return p->step;
		case S_AVATAR:
			prov_go(p, prov_avatar_want(p));
			continue;
		default:
			return p->step;
		}
	}
}

int prov_agent_build(struct prov *p, struct proto_req *req)
{
	const struct prov_conf *c = p->c;
	char content[256];

	switch (settle(p)) {
	case S_REGISTER:
		if (c->as_token)
			return mx_req_register_as(req, c->as_token,
			                          p->localpart);
		return mx_req_register(req, c->reg, p->localpart, p->password,
		                       c->reg_token, p->nonce);
	case S_SS_NONCE:
		return mx_req_ss_nonce(req);
	case S_SS_REGISTER:
		return build_ss_register(p, req);
	case S_ADMIN_PUT:
		return mx_req_admin_user(req, bot(p), p->rec.user_id,
		                         p->password, p->a->name);
	case S_LOGIN:
		return mx_req_login(req, p->localpart, p->password);
	case S_TOKEN:
		if (p->admin_login == 0 || p->bot_admin == 0) {
			prov_go(p, S_LOGIN);    /* no admin API for us */
			return mx_req_login(req, p->localpart, p->password);
		}
		return mx_req_admin_login(req, bot(p), p->rec.user_id);
	case S_OVERRIDE:
		return mx_req_override_ratelimit(req, bot(p), p->rec.user_id);
	case S_DISPLAYNAME:
		return mx_req_displayname(req, agent_tok(p), p->rec.user_id,
		                          p->a->name);
	case S_ROOM_NAME:
		return build_name(req, agent_tok(p), p->rec.room_id,
		                  p->a->name);
	case S_JOINED:
		return mx_req_joined_rooms(req, agent_tok(p));
	case S_MARKER:
		return mx_req_state_get(req, agent_tok(p), p->cand[p->ci],
		                        MX_MARKER_TYPE, "");
	case S_TOMB:
		return mx_req_state_get(req, agent_tok(p), p->cand[p->ci],
		                        "m.room.tombstone", "");
	case S_CREATE:
		return build_room(p, req);
	case S_LINK:
		if (mx_space_child_content(content, sizeof content,
		                           c->server_name, 1))
			return ERR_TOOBIG;
		return mx_req_state_put(req, bot(p), p->space_id,
		                        "m.space.child", p->rec.room_id,
		                        content);
	case S_JOIN:
		return mx_req_join(req, bot(p), p->rec.room_id);
	case S_INVITE_BOT:
		return mx_req_invite(req, agent_tok(p), p->rec.room_id,
		                     c->bot_user);
	case S_AVATAR_GET:
		return prov_avatar_build(p, req, bot(p));
	case S_AVATAR_UP:
	case S_AVATAR_USER:
	case S_AVATAR_ROOM:
		return prov_avatar_build(p, req, agent_tok(p));
	default:
		return 1;       /* S_FINISH: no request */
	}
}

/* ---- one agent: reading the answer ---- */

static int set_token(struct prov *p, const char *token, int made);

/* A register / shared-secret register / login answer with a token. */
static int got_token(struct prov *p, const struct mx_login *l, int made)
{
	if (!l->access_token[0]) {      /* inhibit_login: log in instead */
		prov_go(p, S_TOKEN);
		return 0;
	}
	return set_token(p, l->access_token, made);
}

static int set_token(struct prov *p, const char *token, int made)
{
	copy(p->rec.access_token, sizeof p->rec.access_token, token);
	log_add_secret(p->rec.access_token);
	if (made) {
		p->fresh_user = 1;
		p->rep.user = PROV_R_MADE;
		p->sum.users_made++;
	}
	p->dirty = 1;
	if (p->resume >= 0) {
		prov_go(p, p->resume);
		p->resume = -1;
	} else {
		prov_go(p, S_DISPLAYNAME);
	}
	return 0;
}

static int feed_register(struct prov *p, const struct proto_resp *resp)
{
	struct mx_login l;
	struct mx_error e;
	struct mx_uia u;
	char msg[512];
	int r = mx_login_parse(resp, &l, &e), d, have_u;

	if (p->c->as_token && (r == 0 || mx_error_is(&e, "M_USER_IN_USE"))) {
		/* made now, or by an earlier run: the service acts as it */
		if (r == 0) {
			p->fresh_user = 1;
			p->rep.user = PROV_R_MADE;
			p->sum.users_made++;
		}
		prov_go(p, S_DISPLAYNAME);
		return 0;
	}
	if (r == 0)
		return got_token(p, &l, 1);
	if (r == ERR_PROTO) {
		prov_agent_fail(p, "the homeserver's registration answer is "
		           "malformed");
		return 0;
	}
	if (mx_error_is(&e, "M_USER_IN_USE")) {
		prov_go(p, S_TOKEN);         /* ours, from an earlier run */
		return 0;
	}
	have_u = resp->status == 401 && !mx_uia_parse(resp, &u);
	if (have_u && p->c->reg == MX_REG_TOKEN && !p->nonce[0] &&
	    u.session[0] && (u.stages & MX_STAGE_TOKEN)) {
		/* the session to present the token in: go on at once */
		copy(p->nonce, sizeof p->nonce, u.session);
		return 0;
	}
	d = mx_reg_diagnose(p->c->reg, &e, have_u ? &u : NULL, msg,
	                    sizeof msg);
	if (d == MX_DIAG_MODE)
		prov_fatal(p, ERR_CONFIG, "registration = %s: %s",
		      mx_reg_name(p->c->reg), msg);
	else if (d == MX_DIAG_AGENT)
		prov_agent_fail(p, msg);
	else if (!prov_on_mx_error(p, &e, 0) && p->step == S_SS_REGISTER)
		p->step = S_SS_NONCE;   /* a nonce is good for one try */
	else if (p->step == S_REGISTER)
		p->nonce[0] = '\0';    /* start the UIA again: a finished
		                         * session is gone */
	return 0;
}

static int feed_nonce(struct prov *p, const struct proto_resp *resp)
{
	struct mx_error e;
	char msg[512];
	int r = mx_nonce_parse(resp, p->nonce, &e);

	if (r == 0) {
		p->step = S_SS_REGISTER;
		return 0;
	}
	if (r != ERR_PROTO &&
	    mx_reg_diagnose(MX_REG_SHARED_SECRET, &e, NULL, msg,
	                    sizeof msg) == MX_DIAG_MODE) {
		prov_fatal(p, ERR_CONFIG, "registration = shared-secret: %s", msg);
		return 0;
	}
	return r == ERR_PROTO ? (prov_agent_fail(p, "malformed nonce"), 0)
	                      : prov_on_mx_error(p, &e, 0);
}

static int feed_admin_put(struct prov *p, const struct proto_resp *resp)
{
	struct mx_error e;
	char msg[512];

	if (mx_ok(resp)) {
		if (resp->status == 201) {
			p->rep.user = PROV_R_MADE;
			p->sum.users_made++;
			p->fresh_user = 1;
		}
		/* The call set the display name: no second request for it
		 * (a room made later gets the name in createRoom). */
		if (!(p->rec.flags & (STORE_AGENT_ROOM_CREATED |
		                      PROV_F_ROOM_INTENT))) {
			copy(p->rec.name, sizeof p->rec.name, p->a->name);
			p->rec.flags |= PROV_F_NAMED;
			p->dirty = 1;
		}
		prov_go(p, S_TOKEN);
		return 0;
	}
	mx_error_parse(resp, &e);
	if (mx_reg_diagnose(MX_REG_ADMIN_API, &e, NULL, msg, sizeof msg)
	    == MX_DIAG_MODE) {
		prov_fatal(p, ERR_CONFIG, "registration = admin-api: %s", msg);
		return 0;
	}
	return prov_on_mx_error(p, &e, 0);
}

static int feed_login(struct prov *p, const struct proto_resp *resp)
{
	struct mx_login l;
	struct mx_error e;
	int made = p->rep.user == PROV_R_MADE;
	int r = mx_login_parse(resp, &l, &e);

	if (r == 0) {
		if (made)       /* counted when the admin API made it */
			p->sum.users_made--;
		p->sum.logins++;
		return got_token(p, &l, made);
	}
	if (r == ERR_PROTO) {
		prov_agent_fail(p, "the homeserver's login answer is malformed");
		return 0;
	}
	if (e.status == 403 || mx_error_is(&e, "M_FORBIDDEN")) {
		/* Never retried in a loop: an operator must act. */
		prov_agent_fail(p, "the user exists but our derived password does "
		           "not open it: restore the master secret file it "
		           "was made with, or reset its password (registration "
		           "= admin-api does that), or remove the account");
		return 0;
	}
	return prov_on_mx_error(p, &e, 0);
}

/* The admin login API's answer: a token, or (absent, not an admin) the
 * password login instead, for this and every later agent of the run. */
static int feed_token(struct prov *p, const struct proto_resp *resp)
{
	char tok[LIM_MX_TOKEN];
	struct mx_error e;
	int made = p->rep.user == PROV_R_MADE;
	int r = mx_admin_login_parse(resp, tok, &e);

	if (r == 0) {
		p->admin_login = 1;
		p->sum.admin_logins++;
		if (made)
			p->sum.users_made--;
		r = set_token(p, tok, made);
		memset(tok, 0, sizeof tok);
		return r;
	}
	if (r != ERR_PROTO && mx_error_is(&e, "M_NOT_FOUND")) {
		p->step = S_LOGIN;      /* no such user: the login says why */
		p->attempt = 0;
		return 0;
	}
	if (r != ERR_PROTO && mx_admin_absent(&e)) {
		if (p->admin_login != 0)
			LOG_INFO("provision", "event=admin_login_absent status=%d "
			         "fallback=password_login", e.status);
		p->admin_login = 0;
		p->step = S_LOGIN;      /* the resume step is kept */
		p->attempt = 0;
		return 0;
	}
	if (r == ERR_PROTO) {
		prov_agent_fail(p, "the homeserver's admin login answer is "
		                "malformed");
		return 0;
	}
	return prov_on_mx_error(p, &e, 0);
}

/* The agent user's limits lifted (or not: then it is paced, and no
 * second try this run). */
static int feed_override(struct prov *p, const struct proto_resp *resp)
{
	struct mx_error e;

	if (!mx_ok(resp)) {
		mx_error_parse(resp, &e);
		if (e.status == 429 || e.status >= 500 || e.status == 0)
			return prov_on_mx_error(p, &e, 0);
		LOG_WARN("provision", "event=override_failed user=%s status=%d "
		         "errcode=%s", p->rec.user_id, e.status, e.errcode);
		if (mx_admin_absent(&e))
			p->bot_admin = 0;       /* paced from now on */
	} else {
		p->rec.flags |= PROV_F_RL_LIFTED;
		p->dirty = 1;
	}
	prov_go(p, p->resume >= 0 ? p->resume : S_DISPLAYNAME);
	p->resume = -1;
	return 0;
}

int prov_keep_candidate(void *arg, const char *room)
{
	struct prov *p = arg;

	if (p->ncand == p->cand_cap) {
		size_t cap = p->cand_cap ? p->cand_cap * 2 : 16;
		void *n;

		if (p->ncand >= LIM_PROV_CANDIDATES) {
			p->cand_full = 1;
			return 1;
		}
		n = realloc(p->cand, cap * sizeof p->cand[0]);
		if (!n) {
			p->cand_full = 1;
			return 1;
		}
		p->cand = n;
		p->cand_cap = cap;
	}
	copy(p->cand[p->ncand], sizeof p->cand[0], room);
	p->ncand++;
	return 0;
}

static int feed_joined(struct prov *p, const struct proto_resp *resp)
{
	struct mx_error e;
	int r;

	p->ncand = p->ci = 0;
	p->cand_full = 0;
	r = mx_joined_rooms_parse(resp, prov_keep_candidate, p, &e);
	if (r < 0 && r != ERR_PROTO)
		return prov_on_mx_error(p, &e, 1);
	if (r == ERR_PROTO || p->cand_full) {
		/* Never create a room we might already have. */
		prov_agent_fail(p, r == ERR_PROTO ? "malformed joined_rooms "
		                "answer" : "the agent user is in too many rooms "
		                "to look for its own");
		return 0;
	}
	prov_go(p, p->ncand ? S_MARKER : S_CREATE);
	return 0;
}

static int feed_marker(struct prov *p, const struct proto_resp *resp)
{
	char agent[IDENT_AGENT_ID_MAX + 1];
	struct mx_error e;
	int r = mx_marker_parse(resp, agent, &e);

	/* A candidate we could not read is never skipped: it may be ours,
	 * and skipping it could make a second room. */
	if (r == ERR_CLOSED || (r == ERR_HTTP && (mx_error_is(&e,
	    "M_UNKNOWN_TOKEN") || e.status == 429 || e.status >= 500)))
		return prov_on_mx_error(p, &e, 1);
	if (r == ERR_VERSION) {
		prov_agent_fail(p, "a room of this agent carries a marker of a "
		                "newer lettamx; not touching it");
		return 0;
	}
	if (r == 0 && !strcmp(agent, p->a->id)) {
		prov_go(p, S_TOMB);     /* a replaced room is not adopted */
		return 0;
	}
	p->attempt = 0;
	if (++p->ci >= p->ncand)
		prov_go(p, S_CREATE);
	return 0;
}

/* The marked room found: adopted unless it was replaced (a tombstone:
 * reconciliation calls such a mapping stale; the search goes on). */
static int feed_tomb(struct prov *p, const struct proto_resp *resp)
{
	struct mx_error e;
	int r = mx_tombstone_parse(resp, &e);

	if (r == ERR_CLOSED || (r == ERR_HTTP && (mx_error_is(&e,
	    "M_UNKNOWN_TOKEN") || e.status == 429 || e.status >= 500)))
		return prov_on_mx_error(p, &e, 1);
	if (r < 0) {
		prov_agent_fail(p, "cannot tell whether a room of this agent "
		                "was replaced; not creating another");
		return 0;
	}
	if (r == 0) {
		copy(p->rec.room_id, sizeof p->rec.room_id, p->cand[p->ci]);
		p->rec.flags |= STORE_AGENT_ROOM_CREATED;
		p->sum.rooms_found++;
		LOG_INFO("provision", "event=room_found agent=%s room=%s",
		         p->a->id, p->rec.room_id);
		if (prov_save(p) < 0)
			return ERR_STORE;
		/* Its name may be from before a rename we did not see. */
		prov_go(p, S_ROOM_NAME);
		return 0;
	}
	LOG_INFO("provision", "event=room_replaced agent=%s room=%s",
	         p->a->id, p->cand[p->ci]);
	prov_go(p, ++p->ci < p->ncand ? S_MARKER : S_CREATE);
	return 0;
}

static int feed_create(struct prov *p, const struct proto_resp *resp)
{
	struct mx_error e;
	int r = mx_room_id_parse(resp, p->rec.room_id, &e);

	if (r == ERR_PROTO) {
		p->rec.room_id[0] = '\0';
		prov_agent_fail(p, "malformed createRoom answer");
		return 0;
	}
	if (r < 0) {
		p->rec.room_id[0] = '\0';
		prov_on_mx_error(p, &e, 1);
		/* Without an answer (or with a 5xx) the room may exist: look
		 * for it by its marker before any second createRoom. */
		if (p->step == S_CREATE && e.status != 429)
			p->step = S_JOINED;
		return 0;
	}
	p->rec.flags |= STORE_AGENT_ROOM_CREATED | PROV_F_NAMED;
	copy(p->rec.name, sizeof p->rec.name, p->a->name);
	p->rep.room = PROV_R_MADE;
	p->sum.rooms_made++;
	if (prov_save(p) < 0)
		return ERR_STORE;
	prov_go(p, S_LINK);
	return 0;
}

/* Display name or room name applied. */
static int feed_named(struct prov *p, const struct proto_resp *resp)
{
	struct mx_error e;

	if (!mx_ok(resp)) {
		mx_error_parse(resp, &e);
		return prov_on_mx_error(p, &e, 1);
	}
	if (p->step == S_DISPLAYNAME && (p->rec.flags &
	                                 STORE_AGENT_ROOM_CREATED)) {
		prov_go(p, S_ROOM_NAME);
		return 0;
	}
	copy(p->rec.name, sizeof p->rec.name, p->a->name);
	p->rec.flags |= PROV_F_NAMED;
	p->sum.renamed += p->rep.renamed;
	p->dirty = 1;
	prov_go(p, S_ROOM);
	return 0;
}

/* Space link, bot join, bot invite. */
static int feed_bot_step(struct prov *p, const struct proto_resp *resp)
{
	struct mx_error e;
	int step = p->step;

	if (!mx_ok(resp)) {
		mx_error_parse(resp, &e);
		if (step == S_JOIN && e.status == 403 && !p->invite_tried) {
			p->invite_tried = 1;    /* an adopted room: invite */
			prov_go(p, S_INVITE_BOT);
			return 0;
		}
		return prov_on_mx_error(p, &e, step == S_INVITE_BOT);
	}
	if (step == S_INVITE_BOT) {
		prov_go(p, S_JOIN);
		return 0;
	}
	if (step == S_LINK) {
		p->rec.flags |= PROV_F_LINKED;
		p->rec.flags &= ~PROV_F_UNLINKED;
		p->rep.space = PROV_R_MADE;
		p->sum.linked++;
	} else {
		p->rec.flags |= PROV_F_BOT_JOINED;
	}
	p->dirty = 1;
	prov_go(p, step == S_LINK ? S_JOIN : S_AVATAR);
	return 0;
}

int prov_agent_feed(struct prov *p, const struct proto_resp *resp)
{
	switch (p->step) {
	case S_REGISTER:
	case S_SS_REGISTER:
		return feed_register(p, resp);
	case S_SS_NONCE:
		return feed_nonce(p, resp);
	case S_ADMIN_PUT:
		return feed_admin_put(p, resp);
	case S_LOGIN:
		return feed_login(p, resp);
	case S_TOKEN:
		return feed_token(p, resp);
	case S_OVERRIDE:
		return feed_override(p, resp);
	case S_DISPLAYNAME:
	case S_ROOM_NAME:
		return feed_named(p, resp);
	case S_JOINED:
		return feed_joined(p, resp);
	case S_MARKER:
		return feed_marker(p, resp);
	case S_TOMB:
		return feed_tomb(p, resp);
	case S_CREATE:
		return feed_create(p, resp);
	case S_AVATAR_GET:
	case S_AVATAR_UP:
	case S_AVATAR_USER:
	case S_AVATAR_ROOM:
		return prov_avatar_feed(p, resp);
	default:
		return feed_bot_step(p, resp);
	}
}
