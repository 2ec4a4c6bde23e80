/*
 * ops_check_cmd: `lettamx check [--json] [--offline]`.
 *
 * Exit 0: healthy; 1: problems found (one line each, naming the agent or
 * room and the command that fixes it); 2: could not check (no store, the
 * configuration, Letta or the homeserver unreachable). Read-only: works
 * beside a running daemon.
 */
#include "ops/ops_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "app/app_letta.h"
#include "core/err.h"
#include "core/json.h"
#include "letta/letta.h"
#include "matrix/matrix.h"
#include "ops/ops_check.h"
#include "ops/ops_int.h"

#define OUT_CAP (4u << 20)

struct run {
	struct app app;
	struct ops_sink sink;
	int json;
	struct json_w w;
	char *out;
	int cannot;             /* checks that could not run */
	int cannot_tokens;
	char cannot_why[512];
};

static void on_problem(void *arg, const char *check, const char *subject,
                       const char *problem, const char *fix)
{
	struct run *r = arg;

	if (!r->json) {
		printf("problem [%s] %s: %s -- fix: %s\n", check, subject,
		       problem, fix);
		return;
	}
	json_w_obj(&r->w);
	json_w_kstr(&r->w, "check", check);
	json_w_kstr(&r->w, "subject", subject);
	json_w_kstr(&r->w, "problem", problem);
	json_w_kstr(&r->w, "fix", fix);
	json_w_obj_end(&r->w);
}

static void cannot(struct run *r, const char *what, const char *why)
{
	r->cannot++;
	snprintf(r->cannot_why, sizeof r->cannot_why, "%s: %s", what, why);
	if (!r->json)
		fprintf(stderr, "could not check %s: %s\n", what, why);
}

/* ---- store-only checks ---- */

struct view {
	struct run *r;
	struct ops_recs *recs;
	int rc;
};

static int view_fn(struct store_txn *t, void *arg)
{
	struct view *v = arg;
	const char *snapdir = cfg_get(&v->r->app.cfg, "store", "snapshot_dir");
	int rc = ops_recs_read(t, v->recs);

	if (!rc)
		rc = ops_check_store(t, v->recs, &v->r->sink);
	if (!rc)
		rc = ops_check_snap(t, v->recs, snapdir, &v->r->sink);
	return rc;
}

/* ---- Letta and the tokens ---- */

struct feed {
	struct letta_list *l;
	struct letta_error e;
	int rc;
};

static int list_fn(void *arg, const struct proto_resp *resp)
{
	struct feed *f = arg;

	f->rc = letta_list_feed(f->l, resp, &f->e);
	return 0;
}

/* Lists the agents over REST into l. Returns 0 or the error, with msg. */
static int list_rest(struct run *r, struct letta_list *l, char *msg,
                     size_t cap)
{
	struct proto_req req;
	struct feed f;

	memset(&f, 0, sizeof f);
	f.l = l;
	while (!l->done && f.rc >= 0 &&
	       letta_list_next(l, &req, r->app.pc.letta_token) == 0)
		ops_call(&r->app, OPS_LETTA, &req, list_fn, &f);
	if (f.rc < 0)
		letta_error_msg(&f.e, msg, cap);
	return f.rc < 0 ? f.rc : 0;
}

static void check_letta(struct run *r, const struct ops_recs *recs)
{
	struct letta_list l;
	char msg[512];
	int rc = app_letta_detect(&r->app, msg, sizeof msg);

	if (rc) {
		cannot(r, "the Letta agents", msg);
		return;
	}
	letta_list_init(&l);
	rc = r->app.letta_api == LAPI_APP ?
	     app_letta_list(&r->app, &l, msg, sizeof msg) :
	     list_rest(r, &l, msg, sizeof msg);
	if (rc < 0 || !l.complete)
		cannot(r, "the Letta agents", rc < 0 ? msg :
		       "the listing was incomplete");
	if (rc >= 0)
		ops_check_letta(recs, &l, r->app.pc.include_tags,
		                r->app.pc.exclude_tags, &r->sink);
	letta_list_reset(&l);
}

struct who {
	char user[IDENT_MXID_MAX + 1];
	struct mx_error e;
	int rc;
};

static int who_fn(void *arg, const struct proto_resp *resp)
{
	struct who *w = arg;

	w->rc = mx_whoami_parse(resp, w->user, &w->e);
	return 0;
}

static void check_token(struct run *r, const struct store_agent *a)
{
	struct proto_req req;
	struct who w;
	char sub[600], msg[400];

	snprintf(sub, sizeof sub, "agent %s (%s)", a->name, a->agent_id);
	/* No token is no problem: provisioning (and the bridge) get an
	 * agent user one only when it must act, so a record rebuilt from
	 * the room graph has none until then (issue 10: no login storm). */
	if (!a->access_token[0])
		return;
	memset(&w, 0, sizeof w);
	if (mx_req_whoami(&req, a->access_token) < 0)
		return;
	ops_call(&r->app, OPS_MATRIX, &req, who_fn, &w);
	memset(&req, 0, sizeof req);
	if (w.rc == 0 && !strcmp(w.user, a->user_id))
		return;
	if (w.rc == 0) {
		ops_problem(&r->sink, "token", sub, "lettamx provision",
		            "the stored token of %s belongs to %s", a->user_id,
		            w.user);
	} else if (w.e.status == 401 || w.e.status == 403) {
		mx_error_msg(&w.e, msg, sizeof msg);
		ops_problem(&r->sink, "token", sub, "lettamx provision (logs "
		            "the user in again)", "the stored token of %s does "
		            "not work: %s", a->user_id, msg);
	} else {
		mx_error_msg(&w.e, msg, sizeof msg);
		cannot(r, "the agent users' tokens", msg);
		r->cannot_tokens = 1;
	}
}

/* Checks 1, 2, 6, 7 over the room graph (one request: ops_graph.c). */
static void graph_checks(struct run *r, const struct ops_recs *recs)
{
	struct ops_graph g;
	char why[256];
	int e = ops_graph_read(&r->app, recs, &g, why, sizeof why);

	if (e == 0)
		ops_check_graph(recs, &g, &r->sink);
	else if (e == ERR_NOTFOUND && !r->json)
		fprintf(stderr, "note: checks 1, 2, 6, 7 were not run: %s\n",
		        why);
	else if (e != ERR_NOTFOUND)
		cannot(r, "the room graph", why);
	ops_graph_free(&g);
}

static void check_online(struct run *r, const struct ops_recs *recs)
{
	if (app_net_open(&r->app)) {
		cannot(r, "Letta and the homeserver", "out of memory");
		return;
	}
	check_letta(r, recs);
	/* one token that could not be tried says the homeserver is not
	 * answering: the others would only repeat it */
	for (size_t i = 0; i < recs->n && !r->cannot_tokens; i++)
		if (!recs->a[i].deleted_at)
			check_token(r, &recs->a[i]);
	graph_checks(r, recs);
}

/* ---- the command ---- */

static int finish(struct run *r, size_t nrecs, int offline)
{
	size_t len;

	if (r->json) {
		json_w_arr_end(&r->w);
		json_w_kbool(&r->w, "healthy", !r->sink.problems && !r->cannot);
		json_w_kint(&r->w, "agents", (int64_t)nrecs);
		json_w_kbool(&r->w, "offline", offline);
		json_w_key(&r->w, "could_not_check");
		if (r->cannot)
			json_w_str(&r->w, r->cannot_why);
		else
			json_w_null(&r->w);
		json_w_obj_end(&r->w);
		if (json_w_finish(&r->w, &len) == 0)
			printf("%s\n", r->out);
		else
			fprintf(stderr, "lettamx check: too much to report\n");
	} else if (r->sink.problems) {
		printf("%d problems found\n", r->sink.problems);
	} else if (!r->cannot) {
		printf("healthy: %zu agents; checks %s passed\n", nrecs,
		       offline ? "3, 4, 5, 8" : "3, 4, 5, 8, letta, tokens");
	}
	return r->sink.problems ? 1 : r->cannot ? 2 : 0;
}

static int store_fails(struct run *r, const char *path)
{
	struct cfg cfg;
	char why[512];

	if (cfg_load(&cfg, path, NULL, why, sizeof why) ||
	    access(cfg_get(&cfg, "store", "path"), F_OK) != 0)
		return 2;               /* no store: nothing to check */
	ops_problem(&r->sink, "5", "the store", "lettamx restore NAME (the "
	            "newest verified one: lettamx snapshots)", "it does not "
	            "open (see the line above)");
	return 1;
}

int ops_cmd_check(int argc, char **argv)
{
	static const char *const flags[] = { "--json", "--offline", NULL };
	static struct run r;    /* the process's one context */
	struct ops_recs recs;
	struct view v = { &r, &recs, 0 };
	const char *path;
	int set[2], rc;

	memset(&r, 0, sizeof r);
	if (app_args(argc, argv, flags, &path, set, NULL)) {
		app_usage("check", "[--json] [--offline]");
		return 2;
	}
	r.json = set[0];
	r.sink = (struct ops_sink){ on_problem, &r, 0 };
	r.out = r.json ? malloc(OUT_CAP) : NULL;
	if (r.json && !r.out)
		return 2;
	if (r.json) {
		json_w_init(&r.w, r.out, OUT_CAP);
		json_w_obj(&r.w);
		json_w_key(&r.w, "problems");
		json_w_arr(&r.w);
	}
	rc = app_open(&r.app, path, APP_READ);
	if (rc == 1 && store_fails(&r, path) == 1) {
		rc = finish(&r, 0, set[1]);
		free(r.out);
		return rc;
	}
	if (rc) {
		free(r.out);
		return 2;
	}
	memset(&recs, 0, sizeof recs);
	rc = store_view(r.app.store, view_fn, &v);
	if (rc < 0)
		cannot(&r, "the store", store_why(r.app.store));
	else if (!set[1])
		check_online(&r, &recs);
	rc = finish(&r, recs.n, set[1]);
	ops_recs_free(&recs);
	app_close(&r.app);
	free(r.out);
	return rc;
}
