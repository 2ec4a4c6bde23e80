/*
 * reconcile_cmd: the reconcile engine's requests over the HTTP client,
 * one at a time on the loop (waits are loop timers), and the
 * `lettamx reconcile [--dry-run] [--json]` command, which gets the bot's
 * token as the daemon's gate does when none is configured or stored.
 */
#include "reconcile/reconcile_cmd.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "letta/letta.h"
#include "net/http.h"
#include "prov/pcall.h"
#include "prov/prov_drive.h"
#include "store/secret.h"

struct recon_driver {
	struct loop *loop;
	struct http_client *http;
	struct recon *r;
	void (*done)(void *arg, struct recon_driver *d);
	void *arg;
	char hs[LIM_HTTP_URL];
	int finished;
	struct proto_req req;           /* filled by recon_next() */
	struct pcall call;              /* the request in flight */
	struct loop_timer wait;
	struct loop_defer pump;
	uint64_t started;
};

static void pump(void *arg);

static void on_done(void *arg, const struct proto_resp *resp, int err,
                    const char *reason)
{
	struct recon_driver *d = arg;

	(void)reason;
	if (resp->status == 0)
		LOG_WARN("reconcile", "event=request_failed err=%s why=\"%s\"",
		         err_str(err), resp->reason ? resp->reason : "");
	recon_feed(d->r, resp);         /* the body dies with this callback */
	loop_defer(d->loop, &d->pump, pump, d);
}

static void on_wake(void *arg)
{
	struct recon_driver *d = arg;

	recon_wake(d->r);
	loop_defer(d->loop, &d->pump, pump, d);
}

static int send_req(struct recon_driver *d)
{
	d->call.body_cap = LIM_JSON_DOC;        /* the whole graph */
	return pcall_start(&d->call, d->http, d->hs, &d->req, 0, on_done, d)
	       ? ERR_INVAL : 0;
}

static void pump(void *arg)
{
	struct recon_driver *d = arg;
	int64_t wait_ms = 0;

	while (!d->finished && !d->call.in_flight) {
		int a = recon_next(d->r, &d->req, &wait_ms);

		if (a == RECON_DONE) {
			d->finished = 1;
			recon_report(d->r)->ms = loop_clock_ms() - d->started;
			if (d->done)
				d->done(d->arg, d);
			return;
		}
		if (a == RECON_WAIT) {
			loop_timer_arm(d->loop, &d->wait,
			               loop_now(d->loop) + (uint64_t)wait_ms);
			return;
		}
		if (send_req(d) < 0) {
			struct proto_resp none = { 0, -1, "", 0, ERR_INVAL,
			                           "the homeserver URL is not "
			                           "usable: check [matrix] "
			                           "homeserver_url" };

			recon_feed(d->r, &none);
		}
	}
}

struct recon_driver *recon_driver_start(struct loop *l,
                                        struct http_client *http,
                                        struct recon *r, const char *hs_url,
                                        void (*done)(void *arg,
                                                     struct recon_driver *d),
                                        void *arg)
{
	struct recon_driver *d = calloc(1, sizeof *d);
	size_t n;

	if (!d)
		return NULL;
	d->loop = l;
	d->http = http;
	d->r = r;
	d->done = done;
	d->arg = arg;
	snprintf(d->hs, sizeof d->hs, "%s", hs_url ? hs_url : "");
	n = strlen(d->hs);
	while (n && d->hs[n - 1] == '/')
		d->hs[--n] = '\0';
	loop_timer_init(&d->wait, on_wake, d);
	d->started = loop_clock_ms();
	loop_defer(l, &d->pump, pump, d);
	return d;
}

void recon_driver_free(struct recon_driver *d)
{
	if (!d)
		return;
	pcall_cancel(&d->call);
	loop_timer_cancel(d->loop, &d->wait);
	loop_defer_cancel(d->loop, &d->pump);
	free(d);
}

int recon_conf_from_app(struct recon_conf *c, struct app *a, char *token,
                        char *install, char *why, size_t cap)
{
	memset(c, 0, sizeof *c);
	if (secret_install_id(&a->master, install,
	                      SECRET_INSTALL_ID_LEN + 1) < 0) {
		snprintf(why, cap, "cannot derive the install id");
		return ERR_TLS;
	}
	c->store = a->store;
	c->snapdir = a->pc.snapdir;
	c->bot_user = a->bot_user;
	c->bot_token = token;
	c->install_id = install;
	c->server_name = a->pc.server_name;
	c->user_prefix = a->pc.user_prefix ? a->pc.user_prefix : "";
	c->master = &a->master;
	if (recon_bot_token(a->store, a->bot_token, token,
	                    LIM_STORE_SECRET) < 0) {
		snprintf(why, cap, "no access token for the bot: set [matrix] "
		         "bot_token_file, or run `lettamx provision` once to "
		         "log it in");
		return ERR_NOTFOUND;
	}
	log_add_secret(token);
	return 0;
}

/* ---- one reconcile on the daemon's loop ---- */

struct recon_job {
	struct recon_conf rc;
	struct recon *r;
	struct recon_driver *d;
	struct loop *loop;
	struct loop_defer finish;
	char token[LIM_STORE_SECRET];
	char install[SECRET_INSTALL_ID_LEN + 1];
	void (*done)(void *arg, int err, const struct recon_report *rep,
	             const char *why);
	void *arg;
};

/* At boot the report is one line; what an operator should look at gets
 * a line of its own, routine restores only at debug level. */
static void job_line(void *arg, int kind, const char *text)
{
	(void)arg;
	if (kind == RECON_LINE_ALERT)
		LOG_WARN("reconcile", "event=finding text=\"%s\"", text);
	else
		LOG_DEBUG("reconcile", "event=finding text=\"%s\"", text);
}

static void job_free(struct recon_job *j)
{
	recon_driver_free(j->d);
	recon_free(j->r);
	loop_defer_cancel(j->loop, &j->finish);
	memset(j->token, 0, sizeof j->token);
	free(j);
}

/* After the driver's callback returned: free everything, then tell. */
static void job_finish(void *arg)
{
	struct recon_job *j = arg;
	struct recon_report rep = *recon_report(j->r);
	void (*done)(void *, int, const struct recon_report *, const char *) =
		j->done;
	void *darg = j->arg;
	char why[512];
	int e = recon_result(j->r, why, sizeof why);

	job_free(j);
	done(darg, e, &rep, why);
}

static void job_done(void *arg, struct recon_driver *d)
{
	struct recon_job *j = arg;

	(void)d;
	loop_defer(j->loop, &j->finish, job_finish, j);
}

struct recon_job *recon_job_start(struct app *a, const char *bot_token,
                                  void (*done)(void *arg, int err,
                                               const struct recon_report *rep,
                                               const char *why),
                                  void *arg)
{
	struct recon_job *j = calloc(1, sizeof *j);
	char why[256];

	if (!j)
		return NULL;
	j->loop = a->net.loop;
	j->done = done;
	j->arg = arg;
	if (recon_conf_from_app(&j->rc, a, j->token, j->install, why,
	                        sizeof why) == ERR_TLS) {
		free(j);
		return NULL;
	}
	/* The token the start-up gate checked, whatever the store says. */
	snprintf(j->token, sizeof j->token, "%s", bot_token);
	j->rc.bot_token = j->token;
	j->rc.on_line = job_line;
	j->r = recon_new(&j->rc);
	j->d = j->r ? recon_driver_start(j->loop, a->net.http, j->r,
	              cfg_get(&a->cfg, "matrix", "homeserver_url"), job_done,
	              j) : NULL;
	if (!j->d) {
		job_free(j);
		return NULL;
	}
	return j;
}

void recon_job_cancel(struct recon_job *j)
{
	if (j)
		job_free(j);
}

/* ---- the command ---- */

struct cmd {
	struct app app;
	struct recon_conf rc;
	char token[LIM_STORE_SECRET];
	char install[SECRET_INSTALL_ID_LEN + 1];
	int json;
	int dry;
	int token_stored;               /* the token was the store's */
	int logged_in;                  /* this command logged the bot in */
	struct json_w w;                /* --json: the findings */
	char *out;
	int stop;
};

#define CMD_JSON (8u << 20)    /* a line per restored agent: 20,000 fit */

static void on_line(void *arg, int kind, const char *text)
{
	struct cmd *c = arg;

	(void)kind;

	if (c->json)
		json_w_str(&c->w, text);
	else
		printf("  %s\n", text);
}

static void stop_loop(void *arg, struct recon_driver *d)
{
	(void)d;
	loop_stop(arg);
}

static void on_signal(void *arg, int signo)
{
	struct cmd *c = arg;

	(void)signo;
	c->stop = 1;
	loop_stop(c->app.net.loop);
}

/* ---- the bot's token, as `lettamx run` gets it at its gate ---- */

static void prov_stop_loop(void *arg, struct prov_driver *d)
{
	(void)d;
	loop_stop(arg);
}

/* Says, before the findings, why and how the bot logged in. */
static void say_login(const struct cmd *c, const char *why)
{
	if (!c->json)
		printf("bot: %s, so %s logged in as `lettamx run` does; its new "
		       "token is kept in the store (sealed)%s\n", why,
		       c->app.bot_user, c->dry ? ", the one thing this dry "
		       "run writes" : "");
}

/* Runs the provisioning engine for the bot only, as the daemon's gate
 * does: a login with bot_password_file, or with the password derived
 * for a bot that registration = shared-secret made. The new token is
 * sealed in the store, so the next command reuses it. A dry run creates
 * no bot and takes no snapshot: that token is all it writes. Returns 0
 * (c->token set) or an error with `why`. */
static int bot_login(struct cmd *c, char *why, size_t cap)
{
	struct app_net *n = &c->app.net;
	struct prov_urls urls = {
		cfg_get(&c->app.cfg, "matrix", "homeserver_url"),
		cfg_get(&c->app.cfg, "letta", "base_url"),
	};
	struct prov_conf pc = c->app.pc;
	struct prov_driver *d;
	struct prov *p;
	int r;

	pc.bot_only = 1;
	pc.dry_run = c->dry;
	if (c->dry)
		pc.snapdir = NULL;
	p = prov_new(&pc, NULL, NULL);
	d = p ? prov_driver_start(n->loop, n->http, p, &urls, prov_stop_loop,
	                          n->loop) : NULL;
	if (!d) {
		prov_free(p);
		snprintf(why, cap, "out of memory");
		return ERR_NOMEM;
	}
	loop_run(n->loop);
	prov_driver_free(d);
	r = prov_result(p, why, cap);
	if (!r && c->stop)
		r = ERR_CANCELLED;
	if (r == ERR_CANCELLED)
		snprintf(why, cap, "interrupted while logging the bot in; "
		         "nothing else was done: run it again");
	if (!r)
		snprintf(c->token, sizeof c->token, "%s", prov_bot_token(p));
	prov_free(p);
	c->logged_in = !r;
	LOG_INFO("reconcile", "event=bot_login user=%s ok=%d",
	         c->app.bot_user, !r);
	return r;
}

static int meta_del_fn(struct store_txn *t, void *arg)
{
	int e = store_meta_del(t, arg);

	return e == ERR_NOTFOUND ? 0 : e;
}

/* The stored token was refused (the server forgot it): forget it and log
 * in again, once, as the gate does. */
static int relogin(struct cmd *c, char *why, size_t cap)
{
	int r;

	if (store_update(c->app.store, meta_del_fn,
	                 (void *)(uintptr_t)PROV_META_BOT_TOKEN) < 0) {
		snprintf(why, cap, "store: %s", store_why(c->app.store));
		return ERR_STORE;
	}
	c->token_stored = 0;
	r = bot_login(c, why, cap);
	if (!r)
		say_login(c, "the homeserver refused the stored access token");
	return r;
}

/* ---- the report ---- */

static void print_text(const struct cmd *c, const struct recon_report *p)
{
	static const char *const space[] = { "kept", "found by its marker",
	                                     "none of ours" };

	printf("reconcile: %zu rooms scanned; mappings %zu restored, %zu "
	       "repaired, %zu kept; %zu conflicts, %zu forged, %zu stale, "
	       "%zu skipped; thread conversations %zu restored; Space %s "
	       "(%s); %zu requests in %llu ms\n",
	       p->rooms, p->restored, p->repaired, p->kept, p->conflicts,
	       p->forged, p->stale, p->skipped, p->threads,
	       p->space_id[0] ? p->space_id : "-", space[p->space],
	       p->requests, (unsigned long long)p->ms);
	if (c->dry)
		printf("dry run: %s\n", p->changed ? "the changes above were "
		       "not written" : "nothing to change");
	else if (p->changed)
		printf("store updated (snapshot %s first)\n",
		       p->snapshot[0] ? p->snapshot : "none");
	else
		printf("nothing to change\n");
}

static int print_json(struct cmd *c, const struct recon_report *p)
{
	static const char *const space[] = { "kept", "found", "gone" };
	size_t n;

	json_w_arr_end(&c->w);
	json_w_kint(&c->w, "rooms", (int64_t)p->rooms);
	json_w_kint(&c->w, "restored", (int64_t)p->restored);
	json_w_kint(&c->w, "repaired", (int64_t)p->repaired);
	json_w_kint(&c->w, "kept", (int64_t)p->kept);
	json_w_kint(&c->w, "conflicts", (int64_t)p->conflicts);
	json_w_kint(&c->w, "forged", (int64_t)p->forged);
	json_w_kint(&c->w, "stale", (int64_t)p->stale);
	json_w_kint(&c->w, "skipped", (int64_t)p->skipped);
	json_w_kint(&c->w, "index_fixed", (int64_t)p->index_fixed);
	json_w_kint(&c->w, "threads_restored", (int64_t)p->threads);
	json_w_kint(&c->w, "requests", (int64_t)p->requests);
	json_w_kint(&c->w, "ms", (int64_t)p->ms);
	json_w_kstr(&c->w, "space", space[p->space]);
	json_w_kstr(&c->w, "space_id", p->space_id);
	json_w_kbool(&c->w, "changed", p->changed != 0);
	json_w_kbool(&c->w, "dry_run", c->dry != 0);
	json_w_kbool(&c->w, "bot_login", c->logged_in != 0);
	json_w_kstr(&c->w, "snapshot", p->snapshot);
	json_w_obj_end(&c->w);
	if (json_w_finish(&c->w, &n) < 0) {
		fprintf(stderr, "lettamx reconcile: too many findings for "
		        "--json\n");
		return 1;
	}
	printf("%s\n", c->out);
	return 0;
}

/* One engine run on the loop. Returns recon_result's code (why set);
 * *rp the engine (the caller frees it), NULL on allocation failure. */
static int run_once(struct cmd *c, struct recon **rp, char *why, size_t cap)
{
	struct recon_driver *d;
	struct recon *r;

	c->rc.bot_token = c->token;
	c->rc.dry_run = c->dry;
	c->rc.on_line = on_line;
	c->rc.arg = c;
	r = *rp = recon_new(&c->rc);
	d = r ? recon_driver_start(c->app.net.loop, c->app.net.http, r,
	        cfg_get(&c->app.cfg, "matrix", "homeserver_url"), stop_loop,
	        c->app.net.loop) : NULL;
	if (!d) {
		snprintf(why, cap, "out of memory");
		return ERR_NOMEM;
	}
	loop_run(c->app.net.loop);
	recon_driver_free(d);
	return recon_result(r, why, cap);
}

static int run(struct cmd *c)
{
	struct recon *r = NULL;
	char why[512];
	int e = run_once(c, &r, why, sizeof why);

	if (e && r && recon_report(r)->token_refused && c->token_stored &&
	    !c->stop) {
		recon_free(r);
		r = NULL;
		e = relogin(c, why, sizeof why);
		if (!e)
			e = run_once(c, &r, why, sizeof why);
	}
	if (c->stop && !e) {
		e = ERR_CANCELLED;
		snprintf(why, sizeof why, "interrupted; nothing was changed "
		         "unless it said so: run it again");
	}
	if (!e) {
		char one[512];

		recon_report_line(recon_report(r), one, sizeof one);
		LOG_INFO("reconcile", "event=done %s", one);
		e = c->json ? print_json(c, recon_report(r))
		            : (print_text(c, recon_report(r)), 0);
		recon_free(r);
		return e;
	}
	fflush(stdout);
	fprintf(stderr, "lettamx reconcile: %s\n", why);
	recon_free(r);
	return e == ERR_CONFIG ? 2 : 1;
}

/* The bot's token: configured, stored, or from a login as the gate's. */
static int get_token(struct cmd *c)
{
	char why[512];
	int r = recon_conf_from_app(&c->rc, &c->app, c->token, c->install,
	                            why, sizeof why);

	c->token_stored = !r && !c->app.bot_token[0];
	if (r == ERR_NOTFOUND) {
		r = bot_login(c, why, sizeof why);
		if (!r)
			say_login(c, "no access token is configured or stored");
	}
	if (!r)
		return 0;
	fprintf(stderr, "lettamx reconcile: %s\n", why);
	return r == ERR_CONFIG ? 2 : 1;
}

static int start_json(struct cmd *c)
{
	c->out = malloc(CMD_JSON);
	if (!c->out)
		return 1;
	json_w_init(&c->w, c->out, CMD_JSON);
	json_w_obj(&c->w);
	json_w_key(&c->w, "findings");
	json_w_arr(&c->w);
	return 0;
}

int recon_cmd(int argc, char **argv)
{
	static const char *const flags[] = { "--dry-run", "--json", NULL };
	/* The process's one command context (main runs one command). */
	static struct cmd c;
	const char *path;
	int set[2], r;

	if (app_args(argc, argv, flags, &path, set, NULL)) {
		app_usage("reconcile", "[--dry-run] [--json]");
		return 2;
	}
	memset(&c, 0, sizeof c);
	c.dry = set[0];
	c.json = set[1];
	r = app_open(&c.app, path, APP_WRITE);
	if (r)
		return r;
	if (app_net_open(&c.app)) {
		fprintf(stderr, "lettamx: out of memory\n");
		app_close(&c.app);
		return 1;
	}
	loop_signals(c.app.net.loop, on_signal, &c);
	r = get_token(&c);
	if (!r && c.json && start_json(&c))
		r = 1;
	if (!r)
		r = run(&c);
	memset(c.token, 0, sizeof c.token);
	free(c.out);
	app_close(&c.app);
	return r;
}
