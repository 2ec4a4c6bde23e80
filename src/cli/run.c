/*
 * run: the daemon's life (see run.h): boot phases as one state machine
 * on the loop, then live work, then a bounded shutdown.
 */
#include "cli/run.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "app/app_letta.h"
#include "bridge/bridge.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "matrix/matrix.h"
#include "net/srv.h"
#include "prov/metrics_store.h"
#include "prov/pcall.h"
#include "prov/prov_drive.h"
#include "reconcile/reconcile_cmd.h"
#include "store/store_snap.h"

/* Gate waits: every 5 s for the first tries, then every 10 s; a line in
 * the log at the first failure and then once a minute. */
#define RUN_GATE_FAST_MS     5000
#define RUN_GATE_SLOW_MS    10000
#define RUN_GATE_FAST_TRIES     6
#define RUN_GATE_LOG_MS     60000
#define RUN_GATE_CALL_MS    15000   /* one gate request's deadline */
/* SIGTERM to exit: the bridge gets this long to persist. */
#define RUN_STOP_MS          4500

enum run_phase {
	RUN_GATE_HS,            /* GET /versions until it answers */
	RUN_GATE_BOT,           /* the bot's token (provisioning, bot only) */
	RUN_GATE_WHOAMI,        /* the token names the configured bot */
	RUN_GATE_LETTA,         /* which Letta API answers (GET
	                         * /app-server-info, GET /v1/health/), until
	                         * one does */
	RUN_RECONCILE,          /* the store from the room graph */
	RUN_PROVISION,          /* the first provisioning run */
	RUN_LIVE,               /* the bridge, provisioning periodically */
	RUN_STOPPING,
};

static const char *const phase_name[] = {
	"homeserver", "bot token", "bot identity", "letta", "reconcile",
	"provision", "live", "stopping",
};

struct run {
	struct app app;
	int phase;
	struct pcall call;              /* the gate's one request */
	struct app_probe probe;         /* the gate's Letta probe */
	struct lapi_app_conf appconf;   /* discovery over the App Server */
	struct loop_timer retry;        /* the gate's next try */
	struct loop_timer tick;         /* the next provisioning run */
	struct loop_timer hard_stop;    /* shutdown deadline */
	struct loop_defer reap;         /* frees a finished provisioning run */
	int tries;                      /* failures of the current gate step */
	uint64_t wait_since, logged_at;
	int token_retried;              /* a refused stored token, forgotten */
	struct prov_conf pc;            /* copy of app.pc for this run */
	struct prov *prov;
	struct prov_driver *drv;
	int prov_done;                  /* drv finished, reap pending */
	uint64_t prov_runs;
	char bot_token[LIM_STORE_SECRET];
	struct recon_job *recon;        /* the boot's reconcile, running */
	int live;                       /* live_start() ran */
	int exit_code;
	struct metrics metrics;         /* for the bridge: metrics.h */
	struct srv_metrics sm;
	struct srv *srv;                /* [http] listen; NULL: off */
	struct bridge *bridge;          /* live work */
};

static void phase_enter(struct run *r, int phase);

/* ---- the bridge's hook ---- */

/* Starts live work (the bridge) once the first provisioning run is over.
 * Returns 0, or an exit status to stop with. */
static int live_start(struct run *r)
{
	LOG_INFO("run", "event=live agents_provisioned=%llu",
	         (unsigned long long)r->prov_runs);
	r->bridge = bridge_start(&r->app, r->bot_token, &r->metrics);
	return r->bridge ? 0 : 1;
}

/* Stops taking new work and persists. Returns 0 when stopped, or 1 when
 * it will call run_stopped() itself (within RUN_STOP_MS). */
static int live_stop(struct run *r)
{
	/* Everything the bridge does is in the store before it is done:
	 * stopping is cancelling; turns in flight are finished after the
	 * restart through the otid history check. */
	bridge_stop(r->bridge);
	return 0;
}

/* Ends the loop after live work stopped. */
static void run_stopped(struct run *r)
{
	loop_stop(r->app.net.loop);
}

/* ---- the gate ---- */

static void gate_retry(void *arg)
{
	struct run *r = arg;

	phase_enter(r, r->phase);
}

/* A gate step failed with `why`: wait and try it again. */
static void gate_wait(struct run *r, const char *why)
{
	uint64_t now = loop_now(r->app.net.loop);
	uint64_t d = r->tries < RUN_GATE_FAST_TRIES ? RUN_GATE_FAST_MS
	                                            : RUN_GATE_SLOW_MS;

	if (r->tries++ == 0) {
		r->wait_since = now;
		r->logged_at = 0;
	}
	if (!r->logged_at || now - r->logged_at >= RUN_GATE_LOG_MS) {
		r->logged_at = now;
		LOG_WARN("run", "event=waiting for=\"%s\" tries=%d waited_s=%llu "
		         "next_s=%llu reason=\"%s\"", phase_name[r->phase],
		         r->tries, (unsigned long long)(now - r->wait_since) / 1000,
		         (unsigned long long)d / 1000, why);
	}
	loop_timer_arm(r->app.net.loop, &r->retry, now + d);
}

/* Ends the daemon from start-up with `code` and a line on stderr. */
static void run_fail(struct run *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void run_fail(struct run *r, int code, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	LOG_ERROR("run", "event=stopped reason=\"%s\"", msg);
	fprintf(stderr, "lettamx run: %s\n", msg);
	r->exit_code = code;
	r->phase = RUN_STOPPING;
	loop_stop(r->app.net.loop);
}

/* The reason of an answer that is not a success, for the log. */
static void why_of(const struct proto_resp *resp, int err, const char *reason,
                   char *out, size_t cap)
{
	struct mx_error e;

	if (resp->status == 0 && resp->reason && resp->reason[0]) {
		snprintf(out, cap, "%s", resp->reason); /* cause, place, cure */
		return;
	}
	if (resp->status == 0) {
		snprintf(out, cap, "%s%s%s", err_str(err), reason[0] ? ": " : "",
		         reason);
		return;
	}
	mx_error_parse(resp, &e);
	mx_error_msg(&e, out, cap);
}

static const char *hs_url(const struct run *r)
{
	return cfg_get(&r->app.cfg, "matrix", "homeserver_url");
}

static const char *letta_url(const struct run *r)
{
	return cfg_get(&r->app.cfg, "letta", "base_url");
}

static void gate_call(struct run *r, const char *base,
                      const struct proto_req *req, pcall_cb cb)
{
	int e = pcall_start(&r->call, r->app.net.http, base, req,
	                    RUN_GATE_CALL_MS, cb, r);

	if (e)
		gate_wait(r, err_str(e));
}

static void on_versions(void *arg, const struct proto_resp *resp, int err,
                        const char *reason)
{
	struct run *r = arg;
	char why[512];

	if (mx_ok(resp)) {
		phase_enter(r, RUN_GATE_BOT);
		return;
	}
	why_of(resp, err, reason, why, sizeof why);
	gate_wait(r, why);
}

static int meta_del_fn(struct store_txn *t, void *arg)
{
	int e = store_meta_del(t, arg);

	return e == ERR_NOTFOUND ? 0 : e;
}

static void on_whoami(void *arg, const struct proto_resp *resp, int err,
                      const char *reason)
{
	struct run *r = arg;
	char user[IDENT_MXID_MAX + 1], why[512];
	struct mx_error e;
	int x = mx_whoami_parse(resp, user, &e);

	if (x == 0 && strcmp(user, r->app.bot_user) != 0) {
		run_fail(r, 2, "the bot's access token belongs to %s, but "
		         "[matrix] bot_user is %s: fix one of them", user,
		         r->app.bot_user);
		return;
	}
	if (x == 0) {
		LOG_INFO("run", "event=bot_ok user=%s", user);
		phase_enter(r, RUN_GATE_LETTA);
		return;
	}
	if (x != ERR_CLOSED && mx_error_is(&e, "M_UNKNOWN_TOKEN")) {
		if (r->app.pc.bot_token) {
			run_fail(r, 2, "the homeserver refused the access token "
			         "in [matrix] bot_token_file: replace it");
			return;
		}
		if (!r->token_retried) {
			/* a stored token the server forgot: log in again once */
			r->token_retried = 1;
			if (store_update(r->app.store, meta_del_fn,
			                 (void *)(uintptr_t)PROV_META_BOT_TOKEN) < 0) {
				run_fail(r, 1, "store: %s", store_why(r->app.store));
				return;
			}
			phase_enter(r, RUN_GATE_BOT);
			return;
		}
	}
	why_of(resp, err, reason, why, sizeof why);
	gate_wait(r, why);
}

/* The Letta probe is over: the API is known, or the gate waits (or
 * stops, when it can never work as configured). */
static void on_probe(void *arg, struct app_probe *pr, int err,
                     const char *why)
{
	struct run *r = arg;
	char line[512];

	if (err == ERR_CONFIG) {
		run_fail(r, 2, "%s", why);
		return;
	}
	if (err) {
		gate_wait(r, why);
		return;
	}
	app_letta_describe(pr, line, sizeof line);
	LOG_INFO("run", "event=letta_ok %s", line);
	phase_enter(r, RUN_RECONCILE);
}

static void gate_letta(struct run *r)
{
	if (app_probe_start(&r->probe, &r->app, on_probe, r))
		run_fail(r, 2, "%s", r->probe.p.why);
}

/* ---- provisioning runs on the loop ---- */

static void prov_reap(void *arg);

static void on_prov_done(void *arg, struct prov_driver *d)
{
	struct run *r = arg;

	(void)d;
	/* Not freed inside its own callback: at the end of the pass. */
	r->prov_done = 1;
	loop_defer(r->app.net.loop, &r->reap, prov_reap, r);
}

/* Starts a provisioning run (bot only for the gate). Returns 0 or
 * ERR_NOMEM. */
static int prov_start(struct run *r, int bot_only)
{
	struct prov_urls urls = { hs_url(r), letta_url(r) };

	r->pc = r->app.pc;
	r->pc.bot_only = bot_only;
	r->pc.dry_run = 0;
	r->prov = prov_new(&r->pc, NULL, NULL);
	r->drv = r->prov ? prov_driver_start(r->app.net.loop, r->app.net.http,
	                                     r->prov, &urls, on_prov_done, r)
	                 : NULL;
	if (!r->drv) {
		prov_free(r->prov);
		r->prov = NULL;
		return ERR_NOMEM;
	}
	if (!bot_only && r->app.letta_api == LAPI_APP) {
		app_letta_conf(&r->app, &r->appconf);
		prov_driver_app(r->drv, &r->appconf);
	}
	return 0;
}

static void prov_stop(struct run *r)
{
	prov_driver_free(r->drv);
	prov_free(r->prov);
	r->drv = NULL;
	r->prov = NULL;
	r->prov_done = 0;
	loop_defer_cancel(r->app.net.loop, &r->reap);
}

static void prov_log(struct run *r, int res, const char *why, uint64_t ms)
{
	const struct prov_summary *s = prov_summary(r->prov);

	if (res && res != ERR_AGAIN)
		LOG_ERROR("run", "event=provision_failed why=\"%s\"", why);
	LOG_INFO("run", "event=provisioned agents=%zu users_made=%zu "
	         "rooms_made=%zu rooms_found=%zu linked=%zu renamed=%zu "
	         "failed=%zu marked_deleted=%zu unlinked=%zu requests=%zu "
	         "ms=%llu", s->agents, s->users_made, s->rooms_made,
	         s->rooms_found, s->linked, s->renamed, s->failed,
	         s->marked_deleted, s->unlinked, s->requests,
	         (unsigned long long)ms);
}

static void arm_tick(struct run *r)
{
	uint64_t every = (uint64_t)cfg_num(&r->app.cfg, "letta",
	                                   "discovery_interval");

	loop_timer_arm(r->app.net.loop, &r->tick,
	               loop_now(r->app.net.loop) + every);
}

/* The gate's bot-only run ended. */
static void bot_done(struct run *r, int res, const char *why)
{
	if (res == 0 && prov_bot_token(r->prov)[0]) {
		snprintf(r->bot_token, sizeof r->bot_token, "%s",
		         prov_bot_token(r->prov));
		prov_stop(r);
		phase_enter(r, RUN_GATE_WHOAMI);
		return;
	}
	prov_stop(r);
	if (res == ERR_CONFIG) {
		run_fail(r, 2, "%s", why);
		return;
	}
	gate_wait(r, why);
}

static void prov_reap(void *arg)
{
	struct run *r = arg;
	char why[512];
	uint64_t ms;
	int res;

	if (!r->prov_done)
		return;
	ms = prov_driver_elapsed_ms(r->drv);
	res = prov_result(r->prov, why, sizeof why);
	if (r->phase == RUN_GATE_BOT) {
		bot_done(r, res, why);
		return;
	}
	r->prov_runs++;
	prov_log(r, res, why, ms);
	metrics_store_read(&r->metrics, r->app.store);
	prov_stop(r);
	if (r->phase == RUN_PROVISION)
		phase_enter(r, RUN_LIVE);
	else if (r->phase == RUN_LIVE)
		arm_tick(r);
}

static void on_tick(void *arg)
{
	struct run *r = arg;

	if (r->phase != RUN_LIVE || r->drv)
		return;
	if (prov_start(r, 0)) {
		LOG_ERROR("run", "event=provision_failed why=\"out of memory\"");
		arm_tick(r);
	}
}

/* ---- reconciliation's hook ---- */

static void on_reconciled(void *arg, int err, const struct recon_report *rep,
                          const char *why)
{
	struct run *r = arg;
	char line[512];

	r->recon = NULL;        /* the job freed itself */
	if (err == ERR_STORE || err == ERR_CONFIG) {
		run_fail(r, err == ERR_CONFIG ? 2 : 1, "reconcile: %s", why);
		return;
	}
	if (err) {
		/* Provisioning looks for rooms by their markers before making
		 * one, so going on without the graph is safe, only slower. */
		LOG_ERROR("run", "event=reconcile_failed why=\"%s\"", why);
	} else {
		recon_report_line(rep, line, sizeof line);
		LOG_INFO("run", "event=reconciled %s", line);
	}
	phase_enter(r, RUN_PROVISION);
}

/* Rebuilds the store's mappings from the room graph, then moves on. */
static void phase_reconcile(struct run *r)
{
	r->recon = recon_job_start(&r->app, r->bot_token, on_reconciled, r);
	if (!r->recon)
		run_fail(r, 1, "out of memory");
}

/* ---- phases ---- */

static void phase_enter(struct run *r, int phase)
{
	struct proto_req req;

	if (phase != r->phase) {
		if (r->tries && r->phase <= RUN_GATE_LETTA)
			LOG_INFO("run", "event=ready for=\"%s\" waited_s=%llu",
			         phase_name[r->phase], (unsigned long long)
			         (loop_now(r->app.net.loop) - r->wait_since) / 1000);
		r->tries = 0;
	}
	r->phase = phase;
	switch (phase) {
	case RUN_GATE_HS:
		mx_req_versions(&req);
		gate_call(r, hs_url(r), &req, on_versions);
		break;
	case RUN_GATE_BOT:
		if (prov_start(r, 1))
			run_fail(r, 1, "out of memory");
		break;
	case RUN_GATE_WHOAMI:
		if (mx_req_whoami(&req, r->bot_token))
			run_fail(r, 1, "the bot's token is too long");
		else
			gate_call(r, hs_url(r), &req, on_whoami);
		break;
	case RUN_GATE_LETTA:
		gate_letta(r);
		break;
	case RUN_RECONCILE:
		phase_reconcile(r);
		break;
	case RUN_PROVISION:
		if (prov_start(r, 0))
			run_fail(r, 1, "out of memory");
		break;
	case RUN_LIVE:
		r->exit_code = live_start(r);
		r->live = 1;
		if (r->exit_code)
			loop_stop(r->app.net.loop);
		else
			arm_tick(r);
		break;
	default:
		break;
	}
}

/* ---- signals and shutdown ---- */

static void hard_stop(void *arg)
{
	struct run *r = arg;

	LOG_WARN("run", "event=stop_forced after_ms=%d", RUN_STOP_MS);
	loop_stop(r->app.net.loop);
}

/* SIGTERM/SIGINT: stop taking work, let live work persist, exit 0. */
static void run_stop(struct run *r)
{
	struct loop *l = r->app.net.loop;

	if (r->phase == RUN_STOPPING)
		return;
	LOG_INFO("run", "event=stopping phase=\"%s\"", phase_name[r->phase]);
	r->phase = RUN_STOPPING;
	pcall_cancel(&r->call);
	app_probe_cancel(&r->probe);
	loop_timer_cancel(l, &r->retry);
	loop_timer_cancel(l, &r->tick);
	/* A provisioning run cut short is safe to run again; so is a
	 * reconcile (it writes in one transaction at its end). */
	prov_stop(r);
	recon_job_cancel(r->recon);
	r->recon = NULL;
	loop_timer_arm(l, &r->hard_stop, loop_now(l) + RUN_STOP_MS);
	if (!r->live || live_stop(r) == 0)
		run_stopped(r);
}

static void on_signal(void *arg, int signo)
{
	struct run *r = arg;

	if (signo == SIGHUP) {
		int e = log_reopen();

		LOG_INFO("run", "event=log_reopened%s",
		         e ? " syslog=unreachable" : "");
		return;
	}
	run_stop(r);
}

/* ---- start-up ---- */

/* Mappings and queued work: what a boot must be able to go back to. */
static int count_fn(struct store_txn *t, void *arg)
{
	static const enum store_db dbs[] = { STORE_AGENTS, STORE_INBOX,
	                                     STORE_OUTBOX };
	uint64_t *n = arg, k;

	*n = 0;
	for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
		int e = store_count(t, dbs[i], &k);

		if (e)
			return e;
		*n += k;
	}
	return 0;
}

/* A `boot` snapshot when the store holds anything: whatever this run
 * does, the state it started from can be had back. */
static int boot_snapshot(struct run *r)
{
	struct store_snap snap;
	uint64_t n = 0;
	const char *dir = cfg_get(&r->app.cfg, "store", "snapshot_dir");

	if (store_view(r->app.store, count_fn, &n) < 0) {
		fprintf(stderr, "lettamx run: store: %s\n",
		        store_why(r->app.store));
		return 1;
	}
	if (n == 0)
		return 0;
	if (store_snapshot(r->app.store, dir, "boot", &snap) < 0) {
		fprintf(stderr, "lettamx run: no start without a backup: the "
		        "boot snapshot failed: %s\n", store_why(r->app.store));
		return 1;
	}
	LOG_INFO("run", "event=snapshot name=%s reason=boot", snap.name);
	metrics_snapshot_at(&r->metrics, snap.created);
	return 0;
}

static int pid_write(const char *path)
{
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	          0644);
	if (fd < 0) {
		fprintf(stderr, "lettamx run: cannot write the pid file %s: "
		        "%s\n", path, strerror(errno));
		return 1;
	}
	n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		fprintf(stderr, "lettamx run: cannot write the pid file %s: "
		        "%s\n", path, strerror(errno));
		close(fd);
		unlink(path);
		return 1;
	}
	close(fd);
	return 0;
}

/* [http] listen: GET /healthz and /metrics on the loop (off if unset). */
static int http_start(struct run *r)
{
	const char *listen = cfg_get(&r->app.cfg, "http", "listen");
	char why[256];

	/* healthy while a sync succeeded within two long-poll periods */
	metrics_init(&r->metrics, cfg_num(&r->app.cfg, "bridge",
	                                  "sync_timeout"));
	metrics_store_read(&r->metrics, r->app.store);
	if (!listen)
		return 0;
	r->sm.m = &r->metrics;
	r->sm.loop = r->app.net.loop;
	if (srv_open(&r->srv, r->app.net.loop, listen,
	             cfg_num(&r->app.cfg, "http", "allow_remote") != 0,
	             srv_metrics_handler, &r->sm, why, sizeof why)) {
		fprintf(stderr, "lettamx run: %s\n", why);
		return 2;
	}
	return 0;
}

static int run_open(struct run *r, const char *path)
{
	int e = app_open(&r->app, path, APP_WRITE);

	if (e)
		return e;
	if (cfg_apply_log(&r->app.cfg))
		LOG_WARN("run", "event=syslog_unreachable fallback=stderr");
	if (app_net_open(&r->app)) {
		fprintf(stderr, "lettamx run: out of memory\n");
		return 1;
	}
	loop_timer_init(&r->retry, gate_retry, r);
	loop_timer_init(&r->tick, on_tick, r);
	loop_timer_init(&r->hard_stop, hard_stop, r);
	if (loop_signals(r->app.net.loop, on_signal, r)) {
		fprintf(stderr, "lettamx run: cannot install the signal "
		        "handlers\n");
		return 1;
	}
	e = http_start(r);
	return e ? e : boot_snapshot(r);
}

int run_cmd(int argc, char **argv)
{
	static const char *const flags[] = { "--pid-file=", NULL };
	/* The process's one context (main runs one command); static because
	 * it is too big for a small stack. */
	static struct run r;
	const char *path, *vals[1];
	int set[1], e;

	if (app_args(argc, argv, flags, &path, set, vals)) {
		app_usage("run", "[--pid-file FILE]");
		return 2;
	}
	memset(&r, 0, sizeof r);
	e = run_open(&r, path);
	if (!e && vals[0])
		e = pid_write(vals[0]);
	if (e) {
		srv_close(r.srv);
		app_close(&r.app);
		return e;
	}
	LOG_INFO("run", "event=start pid=%ld bot=%s homeserver=%s letta=%s",
	         (long)getpid(), r.app.bot_user, hs_url(&r), letta_url(&r));
	r.phase = RUN_GATE_HS;
	phase_enter(&r, RUN_GATE_HS);
	if (loop_run(r.app.net.loop) < 0 && !r.exit_code)
		r.exit_code = 1;
	/* The bridge stopped the loop: its last updates were not stored. */
	if (!r.exit_code && store_batch_lost(r.app.store))
		r.exit_code = 1;
	prov_stop(&r);
	recon_job_cancel(r.recon);
	pcall_cancel(&r.call);
	app_probe_cancel(&r.probe);
	bridge_free(r.bridge);
	if (r.exit_code == 0)
		LOG_INFO("run", "event=stopped");
	if (vals[0])
		unlink(vals[0]);
	srv_close(r.srv);
	app_close(&r.app);
	return r.exit_code;
}
