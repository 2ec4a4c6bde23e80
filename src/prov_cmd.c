/*
 * prov_cmd: `lettamx provision [--dry-run]` and `lettamx status [--json]`.
 *
 * provision: reads the configuration, opens the store, prints what a run
 * would create, rename and delete (a dry pass: Letta and the store only),
 * then does it, with a progress line per agent and a summary.
 */
#include "prov_cmd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "dns.h"
#include "err.h"
#include "http.h"
#include "ident.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "secret.h"
#include "tls.h"

/* Everything one command needs, owned here. */
struct ctx {
	struct cfg cfg;
	struct store *store;
	struct secret_master master;
	struct prov_conf pc;
	char bot_user[2 * IDENT_MXID_MAX + 4];
	char server[IDENT_MXID_MAX + 1];
	char bot_token[LIM_STORE_SECRET];
	char bot_password[LIM_STORE_SECRET];
	char reg_token[LIM_STORE_SECRET];
	char shared_secret[LIM_STORE_SECRET];
	char letta_token[LIM_STORE_SECRET];
	char invite_buf[16][IDENT_MXID_MAX + 1];
	const char *invite[16];
	int tty;
	int dry;
	int quiet;              /* --watch: only agents where something
	                         * happened get a line */
	int stop;               /* a signal asked us to stop */
	int watch;              /* --watch: SIGHUP reopens the log */
	struct loop *loop;
};

static void usage(const char *cmd, const char *opts)
{
	fprintf(stderr, "usage: lettamx %s [-c FILE] %s\n", cmd, opts);
}

/* -c FILE / --config FILE and flags (a NULL-terminated list; set[i]
 * tells whether flag i was given). Returns 0, or -1 (usage). */
static int parse_args(int argc, char **argv, const char *const *flags,
                      const char **path, int *set)
{
	*path = NULL;
	for (int k = 0; flags[k]; k++)
		set[k] = 0;
	for (int i = 1; i < argc; i++) {
		int k = 0;

		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) &&
		    i + 1 < argc) {
			*path = argv[++i];
			continue;
		}
		while (flags[k] && strcmp(argv[i], flags[k]))
			k++;
		if (!flags[k])
			return -1;
		set[k] = 1;
	}
	return 0;
}

/* An optional secret file: "" when the key is unset. */
static int secret_of(struct ctx *c, const char *sec, const char *key,
                     char *out, size_t cap)
{
	char err[512];
	int r = cfg_secret(&c->cfg, sec, key, out, cap, err, sizeof err);

	if (r == ERR_NOTFOUND) {
		out[0] = '\0';
		return 0;
	}
	if (r)
		fprintf(stderr, "lettamx: %s\n", err);
	return r;
}

/* The server name: configured, else the bot's, else the homeserver's
 * host. */
static void server_name(struct ctx *c)
{
	const char *s = cfg_get(&c->cfg, "matrix", "server_name");
	const char *bot = cfg_get(&c->cfg, "matrix", "bot_user");
	const char *url = cfg_get(&c->cfg, "matrix", "homeserver_url");
	const char *colon = bot ? strchr(bot, ':') : NULL;

	if (s)
		snprintf(c->server, sizeof c->server, "%s", s);
	else if (bot && bot[0] == '@' && colon)
		snprintf(c->server, sizeof c->server, "%s", colon + 1);
	else if (url && strstr(url, "://"))
		snprintf(c->server, sizeof c->server, "%.*s",
		         (int)strcspn(strstr(url, "://") + 3, "/"),
		         strstr(url, "://") + 3);
	if (bot && bot[0] == '@')
		snprintf(c->bot_user, sizeof c->bot_user, "%s", bot);
	else
		snprintf(c->bot_user, sizeof c->bot_user, "@%s:%s",
		         bot ? bot : "lettamx", c->server);
}

static int load_invites(struct ctx *c)
{
	const char *list = cfg_get(&c->cfg, "matrix", "invite");
	int n = 0;

	while (list && n < 16 &&
	       !cfg_list_item(list, n, c->invite_buf[n],
	                      sizeof c->invite_buf[n])) {
		c->invite[n] = c->invite_buf[n];
		n++;
	}
	c->pc.invite = c->invite;
	c->pc.ninvite = (size_t)n;
	return 0;
}

static int open_all(struct ctx *c, const char *path, int read_only)
{
	struct store_opts so = { .read_only = read_only };
	const char *master;
	uint8_t key[32];
	char why[512];
	int created, r;

	if (cfg_load(&c->cfg, path, NULL, why, sizeof why)) {
		fprintf(stderr, "lettamx: %s\n", why);
		return 2;
	}
	master = cfg_get(&c->cfg, "store", "master_secret_file");
	/* retention after each snapshot a run takes */
	so.snap_keep = (int)cfg_num(&c->cfg, "store", "snapshot_keep");
	so.snap_days = (int)cfg_num(&c->cfg, "store", "snapshot_days");
	if (read_only && access(cfg_get(&c->cfg, "store", "path"), F_OK) != 0) {
		fprintf(stderr, "lettamx: nothing provisioned yet: no store at "
		        "%s (run 'lettamx provision')\n",
		        cfg_get(&c->cfg, "store", "path"));
		return 1;
	}
	r = store_open(&c->store, cfg_get(&c->cfg, "store", "path"), &so,
	               why, sizeof why);
	if (r) {
		fprintf(stderr, "lettamx: store: %s\n", why);
		return 1;
	}
	/* status only reads: it never creates a master secret, and without
	 * one there is nothing sealed to open. */
	if (read_only && access(master, F_OK) != 0)
		return 0;
	r = secret_master_load(&c->master, master, &created, why, sizeof why);
	if (r) {
		fprintf(stderr, "lettamx: master secret: %s\n", why);
		return r == ERR_CONFIG ? 2 : 1;
	}
	/* Agent passwords and tokens are sealed at rest with a key derived
	 * from the master secret. */
	if (store_key_derive(c->master.key, c->master.len, key)) {
		fprintf(stderr, "lettamx: cannot derive the store key\n");
		return 1;
	}
	store_set_key(c->store, key);
	memset(key, 0, sizeof key);
	return 0;
}

static int fill_conf(struct ctx *c)
{
	struct prov_conf *pc = &c->pc;
	const char *reg = cfg_get(&c->cfg, "matrix", "registration");

	server_name(c);
	if (!ident_matrix_id_valid(c->bot_user, '@')) {
		fprintf(stderr, "lettamx: [matrix] bot_user: '%s' is not a "
		        "Matrix user id (set server_name?)\n", c->bot_user);
		return 2;
	}
	pc->reg = mx_reg_parse(reg);
	if (pc->reg < 0) {
		fprintf(stderr, "lettamx: set [matrix] registration (token, "
		        "shared-secret, admin-api or dummy): how agent users "
		        "are created\n");
		return 2;
	}
	if (secret_of(c, "matrix", "bot_token_file", c->bot_token,
	              sizeof c->bot_token) ||
	    secret_of(c, "matrix", "bot_password_file", c->bot_password,
	              sizeof c->bot_password) ||
	    secret_of(c, "matrix", "registration_token_file", c->reg_token,
	              sizeof c->reg_token) ||
	    secret_of(c, "matrix", "shared_secret_file", c->shared_secret,
	              sizeof c->shared_secret) ||
	    secret_of(c, "letta", "token_file", c->letta_token,
	              sizeof c->letta_token))
		return 2;
	pc->server_name = c->server;
	pc->user_prefix = cfg_get(&c->cfg, "matrix", "user_prefix");
	pc->reg_token = c->reg_token;
	pc->shared_secret = c->shared_secret;
	pc->bot_user = c->bot_user;
	pc->bot_token = c->bot_token[0] ? c->bot_token : NULL;
	pc->bot_password = c->bot_password[0] ? c->bot_password : NULL;
	pc->space_name = cfg_get(&c->cfg, "matrix", "space_name");
	pc->include_tags = cfg_get(&c->cfg, "letta", "tags_include");
	pc->exclude_tags = cfg_get(&c->cfg, "letta", "tags_exclude");
	pc->letta_token = c->letta_token[0] ? c->letta_token : NULL;
	pc->grace_ms = cfg_num(&c->cfg, "letta", "delete_grace");
	pc->snapdir = cfg_get(&c->cfg, "store", "snapshot_dir");
	pc->master = &c->master;
	pc->store = c->store;
	return load_invites(c);
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
	printf("[%zu/%zu] %s: user %s room %s space %s%s%s%s\n", r->index,
	       r->total, r->name, mark(r->user, c->tty), mark(r->room, c->tty),
	       mark(r->space, c->tty), r->renamed ? " renamed" : "",
	       r->why[0] ? " - " : "", r->why);
	fflush(stdout);
}

/* ---- running the engine on the loop ---- */

struct net {
	struct loop *loop;
	struct dns *dns;
	struct tls_ctx *tls;
	struct http_client *http;
};

static void net_free(struct net *n)
{
	http_client_free(n->http);
	tls_ctx_free(n->tls);
	dns_free(n->dns);
	loop_free(n->loop);
}

static int net_new(struct net *n, const struct cfg *cfg)
{
	struct tls_conf tc = {
		.ca_file = cfg_get(cfg, "matrix", "ca_file"),
		.no_verify = !cfg_num(cfg, "matrix", "tls_verify"),
	};
	int r;

	memset(n, 0, sizeof *n);
	n->loop = loop_new();
	n->dns = n->loop ? dns_new(n->loop, NULL) : NULL;
	if (!n->dns)
		return ERR_NOMEM;
	/* Plain http needs no TLS: a missing CA bundle only matters to an
	 * https URL, which then fails with ERR_TLS and says so. */
	r = tls_ctx_new(&n->tls, &tc);
	if (r)
		n->tls = NULL;
	n->http = http_client_new(n->loop, n->dns, n->tls, NULL);
	return n->http ? 0 : ERR_NOMEM;
}

static void run_done(void *arg, struct prov_driver *d)
{
	(void)d;
	loop_stop(arg);
}

/* One engine run to its end. Returns prov_result's code; *ms the wall
 * time. */
static int run_once(struct ctx *c, struct net *n, int dry,
                    struct prov_summary *sum, uint64_t *ms, char *why,
                    size_t cap)
{
	struct prov_urls urls = {
		cfg_get(&c->cfg, "matrix", "homeserver_url"),
		cfg_get(&c->cfg, "letta", "base_url"),
	};
	struct prov_driver *d;
	struct prov *p;
	int r;

	c->pc.dry_run = dry;
	c->dry = dry;
	p = prov_new(&c->pc, on_agent, c);
	d = p ? prov_driver_start(n->loop, n->http, p, &urls, run_done,
	                          n->loop) : NULL;
	if (!d) {
		prov_free(p);
		snprintf(why, cap, "out of memory");
		return ERR_NOMEM;
	}
	loop_run(n->loop);
	*ms = prov_driver_elapsed_ms(d);
	prov_driver_free(d);
	r = prov_result(p, why, cap);
	*sum = *prov_summary(p);
	prov_free(p);
	return r;
}

static void print_plan(const struct prov_summary *s)
{
	printf("plan: %zu agents listed%s; would create %zu users and %zu "
	       "rooms, link %zu, rename %zu, mark %zu deleted, unlink %zu%s\n",
	       s->agents, s->listing_complete ? "" : " (listing incomplete)",
	       s->users_made, s->rooms_made, s->linked, s->renamed,
	       s->marked_deleted, s->unlinked,
	       s->space_made ? "; create the Space" : "");
}

static void print_summary(const struct prov_summary *s, uint64_t ms)
{
	printf("done: %zu agents; %zu users created, %zu rooms created, "
	       "%zu rooms found, %zu linked, %zu renamed, %zu failed; "
	       "%zu marked deleted, %zu unlinked, %zu returned; "
	       "%zu Matrix requests in %llu ms\n", s->agents, s->users_made,
	       s->rooms_made, s->rooms_found, s->linked, s->renamed, s->failed,
	       s->marked_deleted, s->unlinked, s->returned, s->requests,
	       (unsigned long long)ms);
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
static int watch(struct ctx *c, struct net *n, char *why, size_t cap)
{
	struct loop_timer t;
	struct prov_summary sum;
	uint64_t every = (uint64_t)cfg_num(&c->cfg, "letta",
	                                   "discovery_interval"), ms;
	int r = 0;

	loop_timer_init(&t, tick, n->loop);
	c->quiet = 1;
	while (!c->stop) {
		loop_timer_arm(n->loop, &t, loop_now(n->loop) + every);
		loop_run(n->loop);
		if (c->stop)
			break;
		r = run_once(c, n, 0, &sum, &ms, why, cap);
		if (r)
			fprintf(stderr, "lettamx provision: %s\n", why);
		else if (sum.users_made || sum.rooms_made || sum.renamed ||
		         sum.marked_deleted || sum.unlinked || sum.failed)
			print_summary(&sum, ms);
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
	struct net n;
	const char *path;
	char why[512];
	uint64_t ms;
	int set[2], r;

	if (parse_args(argc, argv, flags, &path, set) || (set[0] && set[1])) {
		usage("provision", "[--dry-run | --watch]");
		return 2;
	}
	memset(&c, 0, sizeof c);
	c.tty = isatty(1);
	r = open_all(&c, path, 0);
	if (!r)
		r = fill_conf(&c);
	if (!r && net_new(&n, &c.cfg)) {
		fprintf(stderr, "lettamx: out of memory\n");
		r = 1;
	}
	if (r) {
		secret_master_reset(&c.master);
		store_close(c.store);
		return r;
	}
	c.loop = n.loop;
	c.watch = set[1];
	loop_signals(n.loop, on_signal, &c);
	r = run_once(&c, &n, 1, &sum, &ms, why, sizeof why);
	if (!r && !c.stop)
		print_plan(&sum);
	if (!r && !set[0] && !c.stop) {
		r = run_once(&c, &n, 0, &sum, &ms, why, sizeof why);
		print_summary(&sum, ms);
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
		r = watch(&c, &n, why, sizeof why) ? ERR_AGAIN : 0;
	else if (set[1] && c.stop)
		r = 0;                  /* --watch ends on a signal */
	net_free(&n);
	secret_master_reset(&c.master);
	store_close(c.store);
	return r == 0 ? 0 : r == ERR_CONFIG ? 2 : 1;
}

/* ---- status ---- */

static const char *state_of(const struct store_agent *a)
{
	if (a->flags & PROV_F_UNLINKED)
		return "deleted, unlinked";
	if (a->deleted_at)
		return "deleted (grace)";
	if (!a->access_token[0])
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

	if (!out || parse_args(argc, argv, flags, &path, &s.json)) {
		usage("status", "[--json]");
		free(out);
		return 2;
	}
	memset(&c, 0, sizeof c);
	r = open_all(&c, path, 1);
	if (r) {
		free(out);
		return r;
	}
	json_w_init(&w, out, LIM_STATUS_JSON);
	json_w_arr(&w);
	if (!s.json) {
		char space[LIM_STORE_ID];

		if (store_view(c.store, space_fn, space) < 0)
			snprintf(space, sizeof space, "none yet");
		printf("Space: %s\n", space);
	}
	s.wname = 5;
	s.wuser = 11;
	s.wroom = 4;
	s.measure = 1;
	r = s.json ? 0 : store_view(c.store, status_fn, &s);
	s.measure = 0;
	if (!s.json && r >= 0)
		printf("%-*s  %-42s  %-*s  %-*s  %s\n", s.wname, "AGENT",
		       "AGENT ID", s.wuser, "MATRIX USER", s.wroom, "ROOM",
		       "STATE");
	if (r >= 0)
		r = store_view(c.store, status_fn, &s);
	json_w_arr_end(&w);
	if (r >= 0 && s.json) {
		r = json_w_finish(&w, &len);
		if (!r)
			printf("%s\n", out);
	}
	if (r < 0)
		fprintf(stderr, "lettamx status: %s\n", r == ERR_TOOBIG ?
		        "too many agents for --json" : store_why(c.store));
	secret_master_reset(&c.master);
	store_close(c.store);
	free(out);
	return r < 0 ? 1 : 0;
}
