/*
 * prov_setup: the run's own setup before its agents (see provision.h):
 * the bot's token and its rate limits, then our Space, found only by a
 * marker our bot sent naming this installation, or created.
 */
#include "prov/prov_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "store/secret.h"

/* ---- the bot ---- */

static int meta_get(struct prov *p, const char *key, char *out, size_t cap);
static int bot_token_load(struct prov *p);

/* The bot's localpart, from its user id. */
static void bot_local(const struct prov *p, char *out, size_t cap)
{
	const char *u = p->c->bot_user;

	snprintf(out, cap, "%.*s", (int)strcspn(u + 1, ":"), u + 1);
}

static int meta_put(struct prov *p, const char *key, char *val);

/* The bot's token is there: lift its rate limits (once, recorded), then
 * the Space. */
static void bot_have(struct prov *p)
{
	p->phase = p->c->bot_only ? PH_DONE : PH_SPACE;
	p->step = SP_START;
	if (!p->c->rl_override || p->c->dry_run || p->c->bot_only)
		return;
	p->sum.rl_state = prov_rl_state(p->c->store, p->c->bot_user);
	if (p->sum.rl_state != PROV_RL_UNKNOWN) {
		p->bot_admin = p->sum.rl_state == PROV_RL_LIFTED;
		return;
	}
	p->phase = PH_BOT;
	prov_go(p, B_OVERRIDE);
}

static const char *const rl_names[] = {
	[PROV_RL_UNKNOWN] = "unknown", [PROV_RL_LIFTED] = "lifted",
	[PROV_RL_REFUSED] = "refused", [PROV_RL_ABSENT] = "absent",
	[PROV_RL_OFF] = "off",
};

const char *prov_rl_name(int state)
{
	return state >= 0 && state <= PROV_RL_OFF ? rl_names[state] : "?";
}

static int rl_get_fn(struct store_txn *t, void *arg)
{
	return store_meta_get(t, PROV_META_RL, arg, IDENT_MXID_MAX + 32);
}

int prov_rl_state(struct store *s, const char *bot_user)
{
	char val[IDENT_MXID_MAX + 32];
	const char *sp;

	if (store_view(s, rl_get_fn, val) < 0)
		return PROV_RL_UNKNOWN;
	sp = strchr(val, ' ');
	if (!sp || strcmp(sp + 1, bot_user))
		return PROV_RL_UNKNOWN;         /* another bot: ask again */
	for (int i = PROV_RL_LIFTED; i <= PROV_RL_ABSENT; i++)
		if (!strncmp(val, rl_names[i], (size_t)(sp - val)) &&
		    strlen(rl_names[i]) == (size_t)(sp - val))
			return i;
	return PROV_RL_UNKNOWN;
}

/* The bot's own override answered: record it (steady state asks no
 * more) and say once what pacing costs when the limits stay. */
static int feed_override_bot(struct prov *p, const struct proto_resp *resp)
{
	struct mx_error e;
	char val[IDENT_MXID_MAX + 32];
	int st = PROV_RL_LIFTED;

	if (!mx_ok(resp)) {
		mx_error_parse(resp, &e);
		if (e.status == 429 || e.status >= 500 || e.status == 0)
			return prov_on_mx_error(p, &e, 0);
		if (mx_error_is(&e, "M_UNKNOWN_TOKEN")) {
			prov_bot_refused(p);
			return 0;
		}
		st = e.status == 403 ? PROV_RL_REFUSED : PROV_RL_ABSENT;
		LOG_WARN("provision", "event=rate_limits_kept reason=%s "
		         "bot=%s cost=\"the homeserver's limits stay: about "
		         "one agent room per 10 s (the bot's joins) once a "
		         "burst of 10 is used; make the bot a server admin to "
		         "lift them\"", st == PROV_RL_REFUSED ? "not_admin"
		         : "no_admin_api", p->c->bot_user);
	} else {
		LOG_INFO("provision", "event=rate_limits_lifted user=%s",
		         p->c->bot_user);
	}
	p->bot_admin = st == PROV_RL_LIFTED;
	p->sum.rl_state = st;
	snprintf(val, sizeof val, "%s %s", rl_names[st], p->c->bot_user);
	if (meta_put(p, PROV_META_RL, val) < 0)
		return ERR_STORE;
	p->phase = PH_SPACE;
	p->step = SP_START;
	return 0;
}

/* Picks the bot's token: configured, stored, or from a login (configured
 * password), or a shared-secret registration with a password derived
 * from the master secret (so a lost store costs a login, not the bot). */
static int bot_start(struct prov *p, struct proto_req *req)
{
	const struct prov_conf *c = p->c;
	char local[IDENT_MXID_MAX + 1];

	if (c->as_token && !*c->as_token) {
		prov_fatal(p, ERR_CONFIG, "[matrix] mode = appservice, but no "
		           "registration was made: run lettamx appservice "
		           "registration -o FILE, add FILE to the homeserver's "
		           "app_service_config_files and restart it");
		return 1;
	}
	if (c->bot_token && *c->bot_token)
		snprintf(p->bot_token, sizeof p->bot_token, "%s", c->bot_token);
	else if (!bot_token_load(p))
		p->bot_from_meta = 1;
	else
		p->bot_token[0] = '\0';
	if (p->fatal)
		return 1;
	if (p->bot_token[0]) {
		bot_have(p);
		return 1;
	}
	bot_local(p, local, sizeof local);
	if (c->bot_password && *c->bot_password) {
		snprintf(p->bot_pw, sizeof p->bot_pw, "%s", c->bot_password);
		prov_go(p, B_LOGIN);
		return mx_req_login(req, local, p->bot_pw);
	}
	if (c->reg == MX_REG_SHARED_SECRET && c->shared_secret &&
	    *c->shared_secret && !secret_agent_password(c->master,
	    c->bot_user, p->bot_pw, sizeof p->bot_pw)) {
		if (c->dry_run) {       /* a dry run logs in, creates no bot */
			prov_go(p, B_LOGIN);
			return mx_req_login(req, local, p->bot_pw);
		}
		prov_go(p, B_SS_NONCE);
		return mx_req_ss_nonce(req);
	}
	prov_fatal(p, ERR_CONFIG, "no credentials for the bot %s: give it an "
	           "access token file or a password file (or use "
	           "registration = shared-secret to create it)", c->bot_user);
	return 1;
}

int prov_bot_next(struct prov *p, struct proto_req *req)
{
	char local[IDENT_MXID_MAX + 1], mac[SECRET_SHA1_HEX + 1];

	bot_local(p, local, sizeof local);
	switch (p->step) {
	case B_LOGIN:
		return mx_req_login(req, local, p->bot_pw);
	case B_SS_NONCE:
		return mx_req_ss_nonce(req);
	case B_SS_REGISTER:
		/* A server admin, so it may lift rate limits (issue 9). */
		if (secret_synapse_mac(p->c->shared_secret, p->nonce, local,
		                       p->bot_pw, 1, mac, sizeof mac))
			return ERR_TLS;
		return mx_req_ss_register_as(req, p->nonce, local, p->bot_pw,
		                             mac, 1);
	case B_OVERRIDE:
		return mx_req_override_ratelimit(req, p->bot_token,
		                                 p->c->bot_user);
	default:
		return bot_start(p, req);
	}
}

struct meta_arg {
	const char *key;
	char *val;
	size_t cap;
	bool sealed;            /* a secret: sealed at rest */
	bool clear;             /* read: a secret found in clear */
};

static int meta_get_fn(struct store_txn *t, void *arg)
{
	struct meta_arg *m = arg;

	if (m->sealed)
		return store_meta_get_sealed(t, m->key, m->val, m->cap,
		                             &m->clear);
	return store_meta_get(t, m->key, m->val, m->cap);
}

static int meta_put_fn(struct store_txn *t, void *arg)
{
	struct meta_arg *m = arg;

	if (m->sealed)
		return store_meta_put_sealed(t, m->key, m->val);
	return store_meta_put(t, m->key, m->val);
}

/* Reads meta m->key: 0, ERR_NOTFOUND, or another error (then fatal). */
static int meta_read(struct prov *p, struct meta_arg *m)
{
	int r = store_view(p->c->store, meta_get_fn, m);

	if (r < 0 && r != ERR_NOTFOUND)
		prov_fatal(p, r, "store: %s", store_why(p->c->store));
	return r;
}

static int meta_get(struct prov *p, const char *key, char *out, size_t cap)
{
	struct meta_arg m = { key, out, cap, false, false };

	return meta_read(p, &m);
}

static int meta_write(struct prov *p, struct meta_arg *m)
{
	int r = prov_before_change(p);

	if (r < 0)
		return r;
	r = store_update(p->c->store, meta_put_fn, m);

	if (r < 0)
		prov_fatal(p, r, "store: %s", store_why(p->c->store));
	return r;
}

static int meta_put(struct prov *p, const char *key, char *val)
{
	struct meta_arg m = { key, val, 0, false, false };

	return meta_write(p, &m);
}

/* Reads the stored bot token (sealed at rest). One left in clear by an
 * older lettamx is rewritten sealed (not in a dry run, which changes
 * nothing). Returns 0, ERR_NOTFOUND, or another error (then fatal). */
static int bot_token_load(struct prov *p)
{
	struct meta_arg m = { PROV_META_BOT_TOKEN, p->bot_token,
	                      sizeof p->bot_token, true, false };
	int r = meta_read(p, &m);

	if (r < 0 || !m.clear || p->c->dry_run)
		return r;
	r = meta_write(p, &m);
	if (r == 0)
		LOG_INFO("provision", "event=bot_token_sealed");
	return r;
}

static int bot_token_save(struct prov *p)
{
	struct meta_arg m = { PROV_META_BOT_TOKEN, p->bot_token, 0, true,
	                      false };

	return meta_write(p, &m);
}

static int bot_token_got(struct prov *p, const struct mx_login *l)
{
	snprintf(p->bot_token, sizeof p->bot_token, "%s", l->access_token);
	log_add_secret(p->bot_token);
	if (bot_token_save(p) < 0)
		return ERR_STORE;
	p->bot_from_meta = 1;
	bot_have(p);
	return 0;
}

int prov_feed_bot(struct prov *p, const struct proto_resp *resp)
{
	struct mx_login l;
	struct mx_error e;
	char msg[LIM_PROTO_DETAIL + 64];
	int r;

	if (p->step == B_OVERRIDE)
		return feed_override_bot(p, resp);
	if (p->step == B_SS_NONCE) {
		r = mx_nonce_parse(resp, p->nonce, &e);
		if (r == 0) {
			p->step = B_SS_REGISTER;
			return 0;
		}
	} else {
		r = mx_login_parse(resp, &l, &e);
		if (r == 0 && l.access_token[0])
			return bot_token_got(p, &l);
		if (p->step == B_SS_REGISTER && mx_error_is(&e, "M_USER_IN_USE")) {
			prov_go(p, B_LOGIN);    /* made by an earlier run */
			return 0;
		}
	}
	if (r == 0 || r == ERR_PROTO) {
		prov_fatal(p, ERR_PROTO, "the homeserver's answer about the bot "
		           "is malformed");
		return 0;
	}
	if (e.status == 429 || e.status >= 500 || e.status == 0) {
		prov_on_mx_error(p, &e, 0);
		if (p->step == B_SS_REGISTER)
			p->step = B_SS_NONCE;
		return 0;
	}
	mx_error_msg(&e, msg, sizeof msg);
	prov_fatal(p, ERR_CONFIG, "the bot %s: %s %s", p->c->bot_user,
	           p->step == B_LOGIN ? "cannot log in:" :
	           "shared-secret registration failed:", msg);
	return 0;
}

static int meta_del_fn(struct store_txn *t, void *arg)
{
	int r = store_meta_del(t, arg);

	return r == ERR_NOTFOUND ? 0 : r;
}

void prov_bot_refused(struct prov *p)
{
	if (p->bot_from_meta &&
	    store_update(p->c->store, meta_del_fn,
	                 (void *)(uintptr_t)PROV_META_BOT_TOKEN) < 0) {
		prov_fatal(p, ERR_STORE, "store: %s", store_why(p->c->store));
		return;
	}
	prov_fatal(p, ERR_CONFIG, "the homeserver refused the bot's access "
	           "token%s", p->bot_from_meta ? "; the next run logs in "
	           "again" : " from bot_token_file: replace it");
}

/* ---- the Space ---- */

static void space_have(struct prov *p)
{
	p->phase = PH_AGENTS;
	p->step = S_START;
	p->ai = 0;
}

/* The stored Space: known to carry our install id, or to be checked
 * once (an older version's marker gets the fields). */
static int space_stored(struct prov *p)
{
	char mark[IDENT_MXID_MAX + 1];

	if (p->c->dry_run || !p->install[0] ||
	    (!meta_get(p, PROV_META_SPACE_MARK, mark, sizeof mark) &&
	     !strcmp(mark, p->install)) || p->fatal) {
		space_have(p);
		return 1;
	}
	prov_go(p, SP_MARK_GET);
	return 0;
}

int prov_space_next(struct prov *p, struct proto_req *req)
{
	const struct prov_conf *c = p->c;
	char content[IDENT_MXID_MAX * 2 + 64];

	switch (p->step) {
	case SP_START:
		if (!meta_get(p, PROV_META_SPACE, p->space_id,
		              sizeof p->space_id) || p->fatal) {
			if (space_stored(p))
				return 1;
			return mx_req_state_event_get(req, p->bot_token,
			                              p->space_id,
			                              MX_SPACE_TYPE, "");
		}
		if (c->dry_run) {
			p->sum.space_made = 1;
			space_have(p);
			return 1;
		}
		/* Not in the store: the bot may have made it in a run whose
		 * answer we lost. Look before creating. */
		prov_go(p, SP_JOINED);
		return mx_req_joined_rooms(req, p->bot_token);
	case SP_JOINED:
		return mx_req_joined_rooms(req, p->bot_token);
	case SP_MARKER:
		return mx_req_state_event_get(req, p->bot_token,
		                              p->cand[p->ci], MX_SPACE_TYPE, "");
	case SP_MARK_GET:
		return mx_req_state_event_get(req, p->bot_token, p->space_id,
		                              MX_SPACE_TYPE, "");
	case SP_MARK_FIX:
		if (mx_space_mark_content(content, sizeof content, p->install,
		                          c->bot_user))
			return ERR_TOOBIG;
		return mx_req_state_put(req, p->bot_token, p->space_id,
		                        MX_SPACE_TYPE, "", content);
	default:
		return mx_req_create_space(req, p->bot_token,
		                           c->space_name ? c->space_name
		                                         : "Letta Agents",
		                           c->invite, c->ninvite,
		                           p->install[0] ? p->install : NULL,
		                           c->bot_user);
	}
}

/* Whose Space a marker event says it is: 2 ours, 1 ours from a version
 * before the install id (to complete), 0 not ours. Only our bot's own
 * marker counts, and only one naming our install id (or none yet). */
static int space_ours(const struct prov *p, const struct mx_space_mark *m)
{
	if (strcmp(m->sender, p->c->bot_user))
		return 0;
	if (m->bot[0] && strcmp(m->bot, p->c->bot_user))
		return 0;
	if (!m->install[0])
		return 1;
	return !strcmp(m->install, p->install) ? 2 : 0;
}

static int space_mark_done(struct prov *p)
{
	if (meta_put(p, PROV_META_SPACE_MARK, p->install) < 0)
		return ERR_STORE;
	space_have(p);
	return 0;
}

/* The stored Space's marker read: complete an older one; one naming
 * another installation (or gone) is left alone and said. */
static int feed_mark_get(struct prov *p, const struct proto_resp *resp)
{
	struct mx_space_mark m;
	struct mx_error e;
	int r = mx_space_mark_parse(resp, &m, &e), ours;

	if (r == ERR_CLOSED || (r == ERR_HTTP && (e.status == 429 ||
	    e.status >= 500 || mx_error_is(&e, "M_UNKNOWN_TOKEN"))))
		return prov_on_mx_error(p, &e, 0);
	ours = r == 0 ? space_ours(p, &m) : 0;
	if (ours == 2)
		return space_mark_done(p);
	if (ours == 1) {
		prov_go(p, SP_MARK_FIX);
		return 0;
	}
	LOG_WARN("provision", "event=space_marker_foreign room=%s "
	         "why=\"%s\"", p->space_id, r == 0 ? "it names another "
	         "installation or was not sent by our bot" : err_str(r));
	space_have(p);
	return 0;
}

/* `ours`: 2 the marker names us (or we just made it), 1 an older
 * marker of our bot, to complete. */
static int space_found(struct prov *p, const char *room, int made, int ours)
{
	snprintf(p->space_id, sizeof p->space_id, "%s", room);
	LOG_INFO("provision", "event=%s room=%s", made ? "space_created"
	         : "space_found", room);
	p->sum.space_made = made;
	if (meta_put(p, PROV_META_SPACE, p->space_id) < 0)
		return ERR_STORE;
	if (ours == 1) {
		prov_go(p, SP_MARK_FIX);
		return 0;
	}
	if (!p->install[0]) {
		space_have(p);
		return 0;
	}
	return space_mark_done(p);
}

int prov_feed_space(struct prov *p, const struct proto_resp *resp)
{
	struct mx_space_mark m;
	struct mx_error e;
	char room[IDENT_MXID_MAX + 1];
	int r, ours;

	switch (p->step) {
	case SP_JOINED:
		p->ncand = p->ci = 0;
		p->cand_full = 0;
		r = mx_joined_rooms_parse(resp, prov_keep_candidate, p, &e);
		if (r == ERR_PROTO || p->cand_full)
			prov_fatal(p, ERR_PROTO, "cannot list the bot's rooms "
			           "to find the Space");
		else if (r < 0)
			return prov_on_mx_error(p, &e, 0);
		else
			prov_go(p, p->ncand ? SP_MARKER : SP_CREATE);
		return 0;
	case SP_MARKER:
		r = mx_space_mark_parse(resp, &m, &e);
		if (r == ERR_CLOSED || (r == ERR_HTTP && (e.status == 429 ||
		    e.status >= 500 || mx_error_is(&e, "M_UNKNOWN_TOKEN"))))
			return prov_on_mx_error(p, &e, 0);
		ours = r == 0 ? space_ours(p, &m) : 0;
		if (ours)
			return space_found(p, p->cand[p->ci], 0, ours);
		if (r == 0)
			LOG_INFO("provision", "event=space_not_ours room=%s "
			         "sender=%s", p->cand[p->ci], m.sender);
		prov_go(p, ++p->ci < p->ncand ? SP_MARKER : SP_CREATE);
		return 0;
	case SP_START:
	case SP_MARK_GET:
		return feed_mark_get(p, resp);
	case SP_MARK_FIX:
		if (mx_ok(resp)) {
			LOG_INFO("provision", "event=space_marker_completed "
			         "room=%s", p->space_id);
			return space_mark_done(p);
		}
		mx_error_parse(resp, &e);
		if (e.status == 429 || e.status >= 500 || e.status == 0 ||
		    mx_error_is(&e, "M_UNKNOWN_TOKEN"))
			return prov_on_mx_error(p, &e, 0);
		LOG_WARN("provision", "event=space_marker_not_completed "
		         "room=%s status=%d", p->space_id, e.status);
		space_have(p);
		return 0;
	default:
		r = mx_room_id_parse(resp, room, &e);
		if (r == 0)
			return space_found(p, room, 1, 2);
		if (r == ERR_PROTO) {
			prov_fatal(p, r, "malformed createRoom answer");
			return 0;
		}
		prov_on_mx_error(p, &e, 0);
		/* The Space may exist though the answer was lost: look
		 * again before creating another. */
		if (p->step == SP_CREATE && e.status != 429)
			p->step = SP_JOINED;
		return 0;
	}
}

