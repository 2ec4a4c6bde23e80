/*
 * app_letta: which Letta API the installation talks to, found out on the
 * app's loop (letta_probe: GET /app-server-info, GET /v1/health/ as
 * [letta] api says), and how its App Server is reached. The daemon's
 * start-up gate probes on the loop (app_probe_start); the one-off
 * commands (provision, check) run the loop until it is known
 * (app_letta_detect). Either sets a->letta_api and, for the App Server,
 * a->letta_ws.
 */
#ifndef LETTAMX_APP_LETTA_H
#define LETTAMX_APP_LETTA_H

#include <stddef.h>

#include "app/app.h"
#include "core/loop.h"
#include "letta/lapi.h"
#include "letta/letta_probe.h"
#include "prov/pcall.h"

struct app_probe;

/* The end of a probe: err 0 (a->letta_api set; pr->p.info is what an App
 * Server said), ERR_CONFIG (it cannot work as configured: a token
 * refused, a protocol this build does not know), or the last try's error
 * (Letta does not answer yet: try again later); `why` one sentence that
 * names each try. */
typedef void (*app_probe_cb)(void *arg, struct app_probe *pr, int err,
                             const char *why);

struct app_probe {
	struct app *a;
	struct letta_probe p;
	struct pcall call;
	struct loop_defer kick;         /* the next try, from the loop */
	app_probe_cb done;
	void *arg;
};

/* Starts a probe of [letta] base_url on a's loop (app_net_open'ed); done
 * runs once, from the loop. Returns 0, or ERR_INVAL (a bad URL or mode;
 * pr->p.why says which; nothing is called). pr is the caller's, zeroed
 * before its first use, and must stay until done or app_probe_cancel();
 * it may be started again after either. */
int app_probe_start(struct app_probe *pr, struct app *a, app_probe_cb done,
                    void *arg);

/* Stops a probe (done is not called). Harmless when none runs. */
void app_probe_cancel(struct app_probe *pr);

/* A one-off command's probe: runs the loop until it is over (nothing
 * when a->letta_api is known, no request with [letta] api = rest).
 * Returns 0, or the error with `why` as app_probe_cb's (ERR_CANCELLED:
 * the loop was stopped meanwhile, by a signal). */
int app_letta_detect(struct app *a, char *why, size_t cap);

/* How a's App Server is reached: a's loop, resolver and TLS, a->letta_ws,
 * the Letta token as the bearer, [letta] tool_mode; nothing else (c is
 * zeroed first). The strings are a's. */
void app_letta_conf(const struct app *a, struct lapi_app_conf *c);

/* A one-off command's listing of the App Server's agents into `l`
 * (letta_list_init'ed): runs the loop until it is over. Returns 0 (l
 * done; l->complete says whether it may be trusted) or an error with
 * `why`. */
int app_letta_list(struct app *a, struct letta_list *l, char *why,
                   size_t cap);

/* The log line of a found API: "api=rest url=..." or "api=app-server
 * url=ws://... letta_code_version=... protocol_version=1 backend=...". */
void app_letta_describe(const struct app_probe *pr, char *out, size_t cap);

#endif
