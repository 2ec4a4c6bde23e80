/*
 * prov_cmd: `lettamx provision [--dry-run]` and `lettamx status [--json]`.
 *
 * provision: reads the configuration, opens the store, prints what a run
 * would create, rename and delete (a dry pass: Letta and the store only),
 * then does it, with a progress line per agent and a summary.
 */
#include "cli/prov_cmd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "app/app_letta.h"
#include "conf/cfg.h"
#include "core/err.h"
#include "core/ident.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "net/dns.h"
#include "net/http.h"
#include "prov/prov_drive.h"
#include "net/tls.h"
#include "store/secret.h"

/* Everything one command needs: the app, and how this run prints. */
struct ctx {
	struct app app;
	int tty;
	int dry;
	int quiet;              /* --watch: only agents where something
	                         * happened get a line */
	int stop;               /* a signal asked us to stop */
	int watch;              /* --watch: SIGHUP reopens the log */
	int waiting;            /* a "waiting" line is on the terminal */
	uint64_t limited_ms;    /* the last run's time waiting for limits */
	struct loop *loop;
	struct lapi_app_conf appconf;   /* Letta is an App Server */
};

/* On a terminal the last line may be a "waiting" line, overwritten by
 * whatever comes next. */
static void clear_wait(struct ctx *c)
{
	if (c->waiting)
		fputs("\r\033[K", stdout);
	c->waiting = 0;
}

static void on_wait(void *arg, int64_t ms, const char *why)
{
	struct ctx *c = arg;

	if (!c->tty || c->dry)
		return;
	clear_wait(c);
	printf("waiting %.1f s: %s", (double)ms / 1000.0, why);
	fflush(stdout);
	c->waiting = 1;
}

static const char *mark(int r, int tty)
{
	switch (r) {
	case PROV_R_MADE:   return "new";
	case PROV_R_FAILED: return tty ? "\xe2\x9c\x97" : "failed";
	case PROV_R_KEPT:   return tty ? "\xe2\x9c\x93" : "ok";
	default:            return "-";
	}
}

static void on_agent(void *arg, const struct prov_report *r)
{
	struct ctx *c = arg;

	if (c->dry && r->unknown) {
		printf("  %s (%s): not in the store: its room is looked up by "
		       "its marker before anything is created\n", r->name,
		       r->agent_id);
		return;
	}
	if (c->dry) {
		char what[128] = "";
		struct proto_buf b;

		proto_buf_init(&b, what, sizeof what);
		if (r->user == PROV_R_MADE)
			proto_buf_str(&b, ", create its user");
		if (r->room == PROV_R_MADE)
			proto_buf_str(&b, ", create its room");
		if (r->space == PROV_R_MADE)
			proto_buf_str(&b, ", link it in the Space");
		if (r->renamed)
			proto_buf_str(&b, ", rename user and room");
		if (what[0])
			printf("  %s (%s): would %s\n", r->name, r->agent_id,
			       what + 2);
		return;
	}
	if (c->quiet && r->user == PROV_R_KEPT && r->room == PROV_R_KEPT &&
	    r->space == PROV_R_KEPT && !r->renamed && !r->why[0])
		return;
	clear_wait(c);
	printf("[%zu/%zu] %s: user %s room %s space %s%s%s%s\n", r->index,
	       r->total, r->name, mark(r->user, c->tty), mark(r->room, c->tty),
	       mark(r->space, c->tty), r->renamed ? " renamed" : "",
	       r->why[0] ? " - " : "", r->why);
	fflush(stdout);
}

/* ---- running the engine on the loop ---- */

static void run_done(void *arg, struct prov_driver *d)
{
	(void)d;
	loop_stop(arg);
}

/* One engine run to its end. Returns prov_result's code; *ms the wall
 * time. */
static int run_once(struct ctx *c, int dry,
                    struct prov_summary *sum, uint64_t *ms, char *why,
                    size_t cap)
{
	struct app_net *n = &c->app.net;
	struct prov_urls urls = {
		cfg_get(&c->app.cfg, "matrix", "homeserver_url"),
		cfg_get(&c->app.cfg, "letta", "base_url"),
	};
	struct prov_driver *d;
	struct prov *p;
	int r;

	c->app.pc.dry_run = dry;
	c->dry = dry;
	p = prov_new(&c->app.pc, on_agent, c);
	d = p ? prov_driver_start(n->loop, n->http, p, &urls, run_done,
	                          n->loop) : NULL;
	if (!d) {
		prov_free(p);
		snprintf(why, cap, "out of memory");
		return ERR_NOMEM;
	}
	prov_driver_on_wait(d, on_wait, c);
	if (c->app.letta_api == LAPI_APP) {
		app_letta_conf(&c->app, &c->appconf);
		prov_driver_app(d, &c->appconf);
	}
	if (!c->watch)          /* a daemon's runs have no deadline */
		prov_driver_deadline(d, (uint64_t)cfg_num(&c->app.cfg,
		                     "matrix", "provision_deadline"));
	loop_run(n->loop);
	clear_wait(c);
	*ms = prov_driver_elapsed_ms(d);
	c->limited_ms = prov_driver_limited_ms(d);
	prov_driver_free(d);
	r = prov_result(p, why, cap);
	*sum = *prov_summary(p);
	prov_free(p);
	return r;
}

/* A dry run reads Letta and the store only: what is not in the store is
 * looked up by its marker by the real run before anything is created,
 * so the plan says that rather than "create" (after a lost store the
 * real run finds every room). */
static void print_plan(const struct prov_summary *s)
{
	printf("plan: %zu agents listed%s", s->agents,
	       s->listing_complete ? "" : " (listing incomplete)");
	if (s->unknown)
		printf("; %zu not in the store: each one's room is looked up "
		       "by its marker before anything is created", s->unknown);
	printf("; would create %zu users and %zu rooms, link %zu, rename "
	       "%zu, mark %zu deleted, unlink %zu\n", s->users_made,
	       s->rooms_made, s->linked, s->renamed, s->marked_deleted,
	       s->unlinked);
	if (s->space_made)
		printf("plan: the Space is not in the store: it is looked up "
		       "by its marker before one is created\n");
}

static void print_summary(const struct ctx *c, const struct prov_summary *s,
                          uint64_t ms)
{
	printf("done: %zu agents; %zu users created, %zu rooms created, "
	       "%zu rooms found, %zu linked, %zu renamed, %zu failed; "
	       "%zu marked deleted, %zu unlinked, %zu returned; "
	       "%zu Matrix requests in %llu ms\n", s->agents, s->users_made,
	       s->rooms_made, s->rooms_found, s->linked, s->renamed, s->failed,
	       s->marked_deleted, s->unlinked, s->returned, s->requests,
	       (unsigned long long)ms);
	printf("rate limits: %.1f s waited (%zu answers 429), %s; agent "
	       "tokens: %zu admin logins, %zu password logins\n",
	       (double)c->limited_ms / 1000.0, s->limited,
	       s->rl_state == PROV_RL_LIFTED ? "lifted for the bot and its "
	       "users" : s->rl_state == PROV_RL_OFF ? "not lifted "
	       "(rate_limit_override = off)" : s->rl_state == PROV_RL_REFUSED
	       ? "not lifted (the bot is not a server admin)" :
	       s->rl_state == PROV_RL_ABSENT ? "not lifted (no Synapse admin "
	       "API)" : "not lifted", s->admin_logins, s->logins);
}

/* SIGTERM and SIGINT stop; so does SIGHUP of a one-off run (its terminal
 * hung up), while the --watch daemon takes it as "reopen the log" (after
 * a log rotation or a syslogd restart) and goes on. */
static void on_signal(void *arg, int signo)
{
	struct ctx *c = arg;

	if (signo == SIGHUP && c->watch) {
		int r = log_reopen();

		LOG_INFO("provision", "event=log_reopened%s",
		         r ? " syslog=unreachable" : "");
		return;
	}
	c->stop = 1;
	loop_stop(c->loop);     /* a run cut short is safe to run again */
}

static void tick(void *arg)
{
	loop_stop(arg);
}

/* --watch: a run every [letta] discovery_interval until a signal. */
static int watch(struct ctx *c, char *why, size_t cap)
{
	struct loop_timer t;
	struct prov_summary sum;
	struct app_net *n = &c->app.net;
	uint64_t every = (uint64_t)cfg_num(&c->app.cfg, "letta",
	                                   "discovery_interval"), ms;
	int r = 0;

	loop_timer_init(&t, tick, n->loop);
	c->quiet = 1;
	while (!c->stop) {
		loop_timer_arm(n->loop, &t, loop_now(n->loop) + every);
		loop_run(n->loop);
		if (c->stop)
			break;
		r = run_once(c, 0, &sum, &ms, why, cap);
		if (r)
			fprintf(stderr, "lettamx provision: %s\n", why);
		else if (sum.users_made || sum.rooms_made || sum.renamed ||
		         sum.marked_deleted || sum.unlinked || sum.failed)
			print_summary(c, &sum, ms);
		fflush(stdout);
	}
	loop_timer_cancel(n->loop, &t);
	return r;
}

int prov_cmd_provision(int argc, char **argv)
{
	static const char *const flags[] = { "--dry-run", "--watch", NULL };
	/* The command's context is the process's one context (main runs one
	 * command); static because it is too big for a small stack. */
	static struct ctx c;
	struct prov_summary sum;
	const char *path;
	char why[512];
	uint64_t ms;
	int set[2], r;

	if (app_args(argc, argv, flags, &path, set, NULL) ||
	    (set[0] && set[1])) {
		app_usage("provision", "[--dry-run | --watch]");
		return 2;
	}
	memset(&c, 0, sizeof c);
	c.tty = isatty(1);
	r = app_open(&c.app, path, APP_WRITE);
	if (r)
		return r;
	if (app_net_open(&c.app)) {
		fprintf(stderr, "lettamx: out of memory\n");
		app_close(&c.app);
		return 1;
	}
	c.loop = c.app.net.loop;
	c.watch = set[1];
	loop_signals(c.loop, on_signal, &c);
	r = app_letta_detect(&c.app, why, sizeof why);
	if (r) {
		fprintf(stderr, "lettamx provision: %s\n", why);
		app_close(&c.app);
		return r == ERR_CONFIG ? 2 : 1;
	}
	r = run_once(&c, 1, &sum, &ms, why, sizeof why);
	if (!r && !c.stop)
		print_plan(&sum);
	if (!r && !set[0] && !c.stop) {
		r = run_once(&c, 0, &sum, &ms, why, sizeof why);
		print_summary(&c, &sum, ms);
	}
	if (c.stop && !set[1]) {
		/* cut short by a signal: safe to run again, but not done */
		snprintf(why, sizeof why, "interrupted; run it again");
		r = ERR_CANCELLED;
	}
	fflush(stdout);
	if (r)
		fprintf(stderr, "lettamx provision: %s\n", why);
	if (set[1] && !c.stop && (!r || r == ERR_AGAIN))
		r = watch(&c, why, sizeof why) ? ERR_AGAIN : 0;
	else if (set[1] && c.stop)
		r = 0;                  /* --watch ends on a signal */
	app_close(&c.app);
	return r == 0 ? 0 : r == ERR_CONFIG ? 2 : 1;
}

/* ---- status ---- */

static const char *state_of(const struct store_agent *a)
{
	if (a->flags & PROV_F_UNLINKED)
		return "deleted, unlinked";
	if (a->deleted_at)
		return "deleted (grace)";
	/* A record rebuilt from the room graph has no token until its user
	 * must act: its user exists all the same. */
	if (!a->access_token[0] && !(a->flags & (STORE_AGENT_ROOM_CREATED |
	                                         PROV_F_NAMED)))
		return "no user";
	if (!(a->flags & STORE_AGENT_ROOM_CREATED))
		return "no room";
	if (!(a->flags & PROV_F_LINKED) || !(a->flags & PROV_F_BOT_JOINED))
		return "partial";
	return "ok";
}

struct status_arg {
	int json;
	int measure;            /* first pass: column widths only */
	int wname, wuser, wroom;
	size_t n;
	struct json_w *w;
};

static int width(int w, const char *s, int cap)
{
	int n = (int)strlen(s);

	return n > w ? (n > cap ? cap : n) : w;
}

static int status_row(const struct store_agent *a, void *arg)
{
	struct status_arg *s = arg;
	const char *room = a->room_id[0] ? a->room_id : "-";

	if (s->measure) {
		s->wname = width(s->wname, a->name, 32);
		s->wuser = width(s->wuser, a->user_id, 80);
		s->wroom = width(s->wroom, room, 60);
		return 0;
	}
	s->n++;
	if (!s->json) {
		printf("%-*.*s  %-42s  %-*s  %-*s  %s\n", s->wname, s->wname,
		       a->name, a->agent_id, s->wuser, a->user_id, s->wroom,
		       room, state_of(a));
		return 0;
	}
	json_w_obj(s->w);
	json_w_kstr(s->w, "agent", a->name);
	json_w_kstr(s->w, "agent_id", a->agent_id);
	json_w_kstr(s->w, "matrix_user", a->user_id);
	json_w_kstr(s->w, "room", a->room_id);
	json_w_kstr(s->w, "state", state_of(a));
	json_w_kbool(s->w, "linked", (a->flags & PROV_F_LINKED) != 0);
	json_w_kint(s->w, "deleted_at", a->deleted_at);
	json_w_obj_end(s->w);
	return 0;
}

static int status_fn(struct store_txn *t, void *arg)
{
	return store_agent_each(t, status_row, arg);
}

static int space_fn(struct store_txn *t, void *arg)
{
	return store_meta_get(t, PROV_META_SPACE, arg, LIM_STORE_ID);
}

/* Whether the homeserver's rate limits are lifted for us. */
static void print_limits(struct app *a)
{
	int st = prov_rl_state(a->store, a->pc.bot_user);

	if (!a->pc.rl_override)
		st = PROV_RL_OFF;
	printf("Rate limits: %s\n", st == PROV_RL_LIFTED ? "lifted (the bot "
	       "is a server admin; override_ratelimit set for it and its "
	       "users)" : st == PROV_RL_REFUSED ? "not lifted: the bot is "
	       "not a server admin (requests are paced)" : st ==
	       PROV_RL_ABSENT ? "not lifted: the homeserver has no Synapse "
	       "admin API (requests are paced)" : st == PROV_RL_OFF ? "not "
	       "lifted: rate_limit_override = off" : "unknown (not "
	       "provisioned yet)");
}

int prov_cmd_status(int argc, char **argv)
{
	static const char *const flags[] = { "--json", NULL };
	static struct ctx c;   /* the process's one context, as in provision */
	char *out = malloc(LIM_STATUS_JSON);
	struct json_w w;
	struct status_arg s = { .w = &w };
	const char *path;
	size_t len;
	int r;

	if (!out || app_args(argc, argv, flags, &path, &s.json, NULL)) {
		app_usage("status", "[--json]");
		free(out);
		return 2;
	}
	memset(&c, 0, sizeof c);
	r = app_open(&c.app, path, APP_READ);
	if (r) {
		free(out);
		return r;
	}
	json_w_init(&w, out, LIM_STATUS_JSON);
	json_w_arr(&w);
	if (!s.json) {
		char space[LIM_STORE_ID];

		if (store_view(c.app.store, space_fn, space) < 0)
			snprintf(space, sizeof space, "none yet");
		printf("Space: %s\n", space);
		print_limits(&c.app);
	}
	s.wname = 5;
	s.wuser = 11;
	s.wroom = 4;
	s.measure = 1;
	r = s.json ? 0 : store_view(c.app.store, status_fn, &s);
	s.measure = 0;
	if (!s.json && r >= 0)
		printf("%-*s  %-42s  %-*s  %-*s  %s\n", s.wname, "AGENT",
		       "AGENT ID", s.wuser, "MATRIX USER", s.wroom, "ROOM",
		       "STATE");
	if (r >= 0)
		r = store_view(c.app.store, status_fn, &s);
	json_w_arr_end(&w);
	if (r >= 0 && s.json) {
		r = json_w_finish(&w, &len);
		if (!r)
			printf("%s\n", out);
	}
	if (r < 0)
		fprintf(stderr, "lettamx status: %s\n", r == ERR_TOOBIG ?
		        "too many agents for --json" : store_why(c.app.store));
	app_close(&c.app);
	free(out);
	return r < 0 ? 1 : 0;
}
