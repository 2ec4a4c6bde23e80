/*
 * app_letta: the Letta API of the installation, found on the loop, and
 * the App Server's listing for one-off commands (see app_letta.h).
 */
#include "app/app_letta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "letta/letta_app_list.h"

#define PROBE_CALL_MS 15000     /* one try's deadline */

static void probe_step(void *arg);

static void probe_end(struct app_probe *pr)
{
	struct app *a = pr->a;

	if (pr->p.api) {
		a->letta_api = pr->p.api;
		snprintf(a->letta_ws, sizeof a->letta_ws, "%s",
		         pr->p.api == LAPI_APP ? pr->p.ws : "");
	}
	pr->done(pr->arg, pr, pr->p.api ? 0 : pr->p.err, pr->p.why);
}

static void on_answer(void *arg, const struct proto_resp *resp, int err,
                      const char *reason)
{
	struct app_probe *pr = arg;
	char cause[LIM_HTTP_REASON + 64];

	if (resp->status == 0 && resp->reason && resp->reason[0])
		snprintf(cause, sizeof cause, "%s", resp->reason);
	else
		snprintf(cause, sizeof cause, "%s%s%s", err_str(err),
		         reason[0] ? ": " : "", reason);
	letta_probe_feed(&pr->p, resp, cause);
	probe_step(pr);
}

/* The next try, or the end. */
static void probe_step(void *arg)
{
	struct app_probe *pr = arg;
	struct proto_req req;
	const char *base;
	int r;

	if (!letta_probe_next(&pr->p, &req, &base, pr->a->pc.letta_token)) {
		probe_end(pr);
		return;
	}
	r = pcall_start(&pr->call, pr->a->net.http, base, &req, PROBE_CALL_MS,
	                on_answer, pr);
	if (r) {
		/* a try the client refuses: "no answer", from the loop */
		struct proto_resp none = { 0, -1, "", 0, r, err_str(r) };

		letta_probe_feed(&pr->p, &none, err_str(r));
		loop_defer(pr->a->net.loop, &pr->kick, probe_step, pr);
	}
}

int app_probe_start(struct app_probe *pr, struct app *a, app_probe_cb done,
                    void *arg)
{
	app_probe_cancel(pr);   /* pr is zeroed or was used before */
	pr->a = a;
	pr->done = done;
	pr->arg = arg;
	if (letta_probe_init(&pr->p, cfg_get(&a->cfg, "letta", "api"),
	                     cfg_get(&a->cfg, "letta", "base_url")))
		return ERR_INVAL;
	loop_defer(a->net.loop, &pr->kick, probe_step, pr);
	return 0;
}

void app_probe_cancel(struct app_probe *pr)
{
	pcall_cancel(&pr->call);
	if (pr->a)
		loop_defer_cancel(pr->a->net.loop, &pr->kick);
}

void app_letta_describe(const struct app_probe *pr, char *out, size_t cap)
{
	const struct letta_probe *p = &pr->p;

	if (p->api == LAPI_APP)
		snprintf(out, cap, "api=app-server url=%.300s "
		         "letta_code_version=%s protocol_version=%lld "
		         "backend=%s",
		         p->ws, p->info.version[0] ? p->info.version : "?",
		         (long long)p->info.protocol,
		         p->info.backend[0] ? p->info.backend : "?");
	else
		snprintf(out, cap, "api=rest url=%.300s", p->rest);
}

/* ---- one-off commands: the loop runs until the answer ---- */

struct wait {
	struct loop *loop;
	int over, err;
	char *why;
	size_t cap;
};

static void probe_over(void *arg, struct app_probe *pr, int err,
                       const char *why)
{
	struct wait *w = arg;
	char line[512];

	w->over = 1;
	w->err = err;
	snprintf(w->why, w->cap, "%s", why);
	if (!err) {
		app_letta_describe(pr, line, sizeof line);
		LOG_INFO("letta", "event=api_found %s", line);
	}
	loop_stop(w->loop);
}

int app_letta_detect(struct app *a, char *why, size_t cap)
{
	struct app_probe *pr;
	struct wait w = { a->net.loop, 0, 0, why, cap };

	if (a->letta_api)
		return 0;
	/* REST needs no look before its listing (which says what fails) */
	if (letta_api_mode_parse(cfg_get(&a->cfg, "letta", "api")) ==
	    LAPI_REST) {
		a->letta_api = LAPI_REST;
		return 0;
	}
	if (!(pr = calloc(1, sizeof *pr))) {
		snprintf(why, cap, "out of memory");
		return ERR_NOMEM;
	}
	if (app_probe_start(pr, a, probe_over, &w)) {
		snprintf(why, cap, "%s", pr->p.why);
		free(pr);
		return ERR_CONFIG;
	}
	loop_run(a->net.loop);
	if (!w.over) {
		app_probe_cancel(pr);
		snprintf(why, cap, "interrupted");
		w.err = ERR_CANCELLED;
	}
	free(pr);
	return w.err;
}

void app_letta_conf(const struct app *a, struct lapi_app_conf *c)
{
	const char *mode = cfg_get(&a->cfg, "letta", "tool_mode");

	memset(c, 0, sizeof *c);        /* what is not said here: none */
	c->loop = a->net.loop;
	c->dns = a->net.dns;
	c->tls = a->net.tls;
	c->url = a->letta_ws;
	c->bearer = a->pc.letta_token;
	c->mode = mode ? mode : "strict";
}

static void list_over(void *arg, int err, const char *why)
{
	struct wait *w = arg;

	w->over = 1;
	w->err = err;
	snprintf(w->why, w->cap, "%s", why);
	loop_stop(w->loop);
}

int app_letta_list(struct app *a, struct letta_list *l, char *why,
                   size_t cap)
{
	struct lapi_app_conf c;
	struct letta_app_lister *x;
	struct wait w = { a->net.loop, 0, 0, why, cap };
	int r;

	app_letta_conf(a, &c);
	r = letta_app_list_start(&x, &c, l, list_over, &w);
	if (r) {
		snprintf(why, cap, "cannot connect to the App Server at %s: %s",
		         a->letta_ws, err_str(r));
		return r;
	}
	loop_run(a->net.loop);
	letta_app_list_free(x);
	if (!w.over) {
		snprintf(why, cap, "interrupted");
		l->done = 1;
		l->complete = 0;
		return ERR_CANCELLED;
	}
	return w.err;
}
