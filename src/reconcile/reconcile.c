/*
 * reconcile: the engine (whoami, then one filtered full-state /sync) and
 * the decisions of reconcile.h over the graph it read. The write
 * transaction is in reconcile_apply.c.
 */
#include "reconcile/recon_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ident.h"
#include "core/json.h"
#include "core/log.h"
#include "matrix/matrix.h"
#include "prov/provision.h"
#include "store/store.h"

enum { ST_WHOAMI, ST_SYNC, ST_WAIT, ST_DONE };

#define RECON_NET_ATTEMPTS 3    /* retries without an answer: ~3.5 s */

struct recon {
	const struct recon_conf *c;
	int step, resume, attempt;
	int fatal;
	char why[512];
	int64_t wait_ms;
	struct recon_report rep;
	struct rg_graph g;
};

/* The state types the graph needs (issue 10): the members come with
 * lazy loading off, so the bot's and the agent users' are there; a
 * room's avatar, so that a rebuilt store does not make it again; the
 * thread marks, so that it keeps each thread's conversation. */
static const char *const sync_types[] = {
	"m.room.create", "m.space.child", "m.space.parent", MX_MARKER_TYPE,
	MX_SPACE_TYPE, "m.room.member", "m.room.name", "m.room.tombstone",
	"m.room.avatar", MX_THREAD_TYPE,
};

struct recon *recon_new(const struct recon_conf *c)
{
	struct recon *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->c = c;
	rg_init(&r->g);
	r->step = ST_WHOAMI;
	return r;
}

void recon_free(struct recon *r)
{
	if (!r)
		return;
	rg_free(&r->g);
	free(r);
}

static void recon_fail(struct recon *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void recon_fail(struct recon *r, int err, const char *fmt, ...)
{
	va_list ap;

	if (r->fatal)
		return;
	r->fatal = err;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof r->why, fmt, ap);
	va_end(ap);
	LOG_ERROR("reconcile", "event=failed err=%s why=\"%s\"", err_str(err),
	          r->why);
	r->step = ST_DONE;
}

/* The inline filter: one request whatever the number of rooms, and
 * nothing to upload first (a stored filter would cost a request and
 * state on the server). */
static int build_filter(char *out, size_t cap)
{
	struct json_w w;

	json_w_init(&w, out, cap);
	json_w_obj(&w);
	json_w_key(&w, "room");
	json_w_obj(&w);
	json_w_key(&w, "timeline");
	json_w_obj(&w);
	json_w_kint(&w, "limit", 0);
	json_w_obj_end(&w);
	json_w_key(&w, "state");
	json_w_obj(&w);
	json_w_key(&w, "types");
	json_w_arr(&w);
	for (size_t i = 0; i < sizeof sync_types / sizeof *sync_types; i++)
		json_w_str(&w, sync_types[i]);
	json_w_arr_end(&w);
	json_w_kbool(&w, "lazy_load_members", false);
	json_w_obj_end(&w);
	json_w_key(&w, "ephemeral");
	json_w_obj(&w);
	json_w_key(&w, "types");
	json_w_arr(&w);
	json_w_arr_end(&w);
	json_w_obj_end(&w);
	json_w_key(&w, "account_data");
	json_w_obj(&w);
	json_w_key(&w, "types");
	json_w_arr(&w);
	json_w_arr_end(&w);
	json_w_obj_end(&w);
	json_w_kbool(&w, "include_leave", true);
	json_w_obj_end(&w);
	json_w_key(&w, "presence");
	json_w_obj(&w);
	json_w_key(&w, "types");
	json_w_arr(&w);
	json_w_arr_end(&w);
	json_w_obj_end(&w);
	json_w_key(&w, "account_data");
	json_w_obj(&w);
	json_w_key(&w, "types");
	json_w_arr(&w);
	json_w_arr_end(&w);
	json_w_obj_end(&w);
	json_w_obj_end(&w);
	return json_w_finish(&w, NULL);
}

int recon_sync_req(struct proto_req *req, const char *token)
{
	char filter[1024];
	struct proto_buf p;
	int r = build_filter(filter, sizeof filter);

	if (r)
		return r;
	proto_req_init(req, PROTO_GET);
	if (proto_req_bearer(req, token))
		return ERR_TOOBIG;
	proto_buf_init(&p, req->path, sizeof req->path);
	proto_buf_str(&p, "/_matrix/client/v3/sync?full_state=true&timeout=0"
	              "&set_presence=offline&filter=");
	proto_buf_urlenc(&p, filter);
	return p.err;
}

int recon_next(struct recon *r, struct proto_req *req, int64_t *wait_ms)
{
	int e;

	switch (r->step) {
	case ST_WHOAMI:
		e = mx_req_whoami(req, r->c->bot_token);
		break;
	case ST_SYNC:
		e = recon_sync_req(req, r->c->bot_token);
		break;
	case ST_WAIT:
		*wait_ms = r->wait_ms;
		return RECON_WAIT;
	default:
		return RECON_DONE;
	}
	if (e) {
		recon_fail(r, e, "cannot build the request: %s", err_str(e));
		return RECON_DONE;
	}
	r->rep.requests++;
	return RECON_SEND;
}

void recon_wake(struct recon *r)
{
	if (r->step == ST_WAIT)
		r->step = r->resume;
}

/* A failed answer: wait and retry what may pass (429, 5xx, no answer
 * but a certificate or a name that will not fix itself), else stop with
 * the cause. */
static void on_error(struct recon *r, const struct proto_resp *resp)
{
	struct mx_error e;
	char msg[LIM_PROTO_DETAIL + 128];
	int64_t d;

	mx_error_parse(resp, &e);
	if (mx_error_is(&e, "M_UNKNOWN_TOKEN") ||
	    mx_error_is(&e, "M_MISSING_TOKEN")) {
		r->rep.token_refused = 1;
		recon_fail(r, ERR_CONFIG, "the homeserver refused the bot's "
		           "access token (%s): replace bot_token_file, or run "
		           "`lettamx provision` to log the bot in again",
		           e.errcode);
		return;
	}
	d = mx_retry_delay_ms(&e, r->attempt);
	/* Without an answer a one-off command says why within seconds (the
	 * daemon's start-up gate has already waited for the homeserver). */
	if (d >= 0 && r->attempt < (e.status ? LIM_PROV_ATTEMPTS
	                                     : RECON_NET_ATTEMPTS)) {
		mx_error_msg(&e, msg, sizeof msg);
		LOG_INFO("reconcile", "event=retry status=%d wait_ms=%lld "
		         "why=\"%s\"", e.status, (long long)d, msg);
		r->attempt++;
		r->wait_ms = d;
		r->resume = r->step;
		r->step = ST_WAIT;
		return;
	}
	mx_error_msg(&e, msg, sizeof msg);
	recon_fail(r, e.status ? ERR_HTTP : (resp->neterr ? resp->neterr
	           : ERR_CLOSED), "%s", msg);
}

static void on_whoami(struct recon *r, const struct proto_resp *resp)
{
	char user[IDENT_MXID_MAX + 1];
	struct mx_error e;

	if (mx_whoami_parse(resp, user, &e) < 0) {
		recon_fail(r, ERR_PROTO, "whoami: not a whoami answer");
		return;
	}
	if (strcmp(user, r->c->bot_user)) {
		recon_fail(r, ERR_CONFIG, "the bot's access token belongs to "
		           "%s, not to the configured bot_user %s: fix "
		           "[matrix] bot_user or bot_token_file", user,
		           r->c->bot_user);
		return;
	}
	r->step = ST_SYNC;
	r->attempt = 0;
}

static void on_sync(struct recon *r, const struct proto_resp *resp)
{
	int e = rg_parse(&r->g, resp->body, resp->len, r->c->bot_user);

	if (e < 0) {
		recon_fail(r, e, "the /sync answer was refused: %s", r->g.why);
		return;
	}
	e = recon_decide_apply(r->c, &r->g, &r->rep, r->why, sizeof r->why);
	if (e < 0) {
		r->fatal = e;
		LOG_ERROR("reconcile", "event=failed err=%s why=\"%s\"",
		          err_str(e), r->why);
	}
	rg_free(&r->g);         /* the graph is only needed here */
	r->step = ST_DONE;
}

int recon_feed(struct recon *r, const struct proto_resp *resp)
{
	if (!mx_ok(resp)) {
		on_error(r, resp);
		return 0;
	}
	if (r->step == ST_WHOAMI)
		on_whoami(r, resp);
	else if (r->step == ST_SYNC)
		on_sync(r, resp);
	return 0;
}

int recon_result(const struct recon *r, char *why, size_t cap)
{
	snprintf(why, cap, "%s", r->fatal ? r->why : "");
	return r->fatal;
}

struct recon_report *recon_report(struct recon *r)
{
	return &r->rep;
}

void recon_report_line(const struct recon_report *p, char *out, size_t cap)
{
	static const char *const space[] = { "kept", "found", "gone" };

	snprintf(out, cap, "rooms=%zu restored=%zu repaired=%zu kept=%zu "
	         "conflicts=%zu forged=%zu stale=%zu skipped=%zu "
	         "index_fixed=%zu threads=%zu space=%s requests=%zu ms=%llu "
	         "changed=%d",
	         p->rooms, p->restored, p->repaired, p->kept, p->conflicts,
	         p->forged, p->stale, p->skipped, p->index_fixed, p->threads,
	         space[p->space < 0 || p->space > 2 ? 0 : p->space],
	         p->requests, (unsigned long long)p->ms, p->changed);
}

struct tok_arg {
	char *out;
	size_t cap;
};

static int tok_fn(struct store_txn *t, void *arg)
{
	struct tok_arg *a = arg;
	bool clear;

	return store_meta_get_sealed(t, PROV_META_BOT_TOKEN, a->out, a->cap,
	                             &clear);
}

int recon_bot_token(struct store *s, const char *configured, char *out,
                    size_t cap)
{
	struct tok_arg a = { out, cap };

	if (configured && configured[0]) {
		snprintf(out, cap, "%s", configured);
		return 0;
	}
	out[0] = '\0';
	return store_view(s, tok_fn, &a) < 0 || !out[0] ? ERR_NOTFOUND : 0;
}
