/*
 * prov_drive: the provisioning engine (provision.h) moved over the HTTP
 * client on the loop: one request in flight per lane, rate-limit waits
 * and a deadline. The `provision` command (cli/prov_cmd.c) and the
 * daemon's boot (cli/run.c) drive it.
 */
#ifndef LETTAMX_PROV_DRIVE_H
#define LETTAMX_PROV_DRIVE_H

#include "prov/provision.h"

struct loop;
struct http_client;
struct lapi_app_conf;
struct prov_driver;

/* Where the engine's requests go: base URLs without a trailing slash
 * (copied), the User-Agent is letta_user_agent(). */
struct prov_urls {
	const char *homeserver;
	const char *letta;
};

/* Starts one run of the engine `p` over `http` on `l`. `done(arg, d)` is
 * called from the loop when the run is over (read the engine's result,
 * then free the driver). Returns the driver, or NULL (allocation). */
struct prov_driver *prov_driver_start(struct loop *l, struct http_client *http,
                                      struct prov *p,
                                      const struct prov_urls *urls,
                                      void (*done)(void *arg,
                                                   struct prov_driver *d),
                                      void *arg);

/* Letta is an App Server: the run lists its agents over the socket that
 * `app` names (read now: its url, bearer, loop, dns, tls) before the
 * engine starts, instead of with GET /v1/agents/ (prov_take_list). Call
 * right after prov_driver_start(), before the loop runs. */
void prov_driver_app(struct prov_driver *d, const struct lapi_app_conf *app);

/* Cancels a request in flight and frees the driver (not the engine). */
void prov_driver_free(struct prov_driver *d);

/* Wall time of the run so far, in ms. */
uint64_t prov_driver_elapsed_ms(const struct prov_driver *d);

/* Calls `fn(arg, wait_ms, why)` each time a lane starts waiting out a
 * rate limit (`why`: "the homeserver limits joins of @bot:server"), for
 * a progress line. `fn` NULL: none. */
void prov_driver_on_wait(struct prov_driver *d,
                         void (*fn)(void *arg, int64_t wait_ms,
                                    const char *why),
                         void *arg);

/* Ends the run `ms` from now if it is not over (0: no deadline): the
 * engine stops with ERR_TIMEOUT, requests in flight are cancelled. */
void prov_driver_deadline(struct prov_driver *d, uint64_t ms);

/* Wall time during which at least one request waited for a rate limit,
 * in ms. */
uint64_t prov_driver_limited_ms(const struct prov_driver *d);

#endif
