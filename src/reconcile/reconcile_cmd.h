/*
 * reconcile_cmd: the reconcile engine (reconcile.h) moved over the HTTP
 * client on the loop, and `lettamx reconcile`.
 */
#ifndef LETTAMX_RECONCILE_CMD_H
#define LETTAMX_RECONCILE_CMD_H

#include "reconcile/reconcile.h"

struct app;
struct loop;
struct http_client;
struct recon_driver;

/* Starts one run of engine `r` against the homeserver at `hs_url` (base
 * URL, copied). `done(arg, d)` is called from the loop when it is over:
 * read recon_result / recon_report (its `ms` is set), then free the
 * driver. Returns NULL on allocation failure. */
struct recon_driver *recon_driver_start(struct loop *l,
                                        struct http_client *http,
                                        struct recon *r, const char *hs_url,
                                        void (*done)(void *arg,
                                                     struct recon_driver *d),
                                        void *arg);

/* Cancels a request in flight and frees the driver (not the engine). */
void recon_driver_free(struct recon_driver *d);

/* Fills `c` for app `a` (opened, with its network): the bot's token from
 * the configuration or the store into `token` (LIM_STORE_SECRET bytes),
 * the install id into `install` (SECRET_INSTALL_ID_LEN + 1). Returns 0,
 * or ERR_NOTFOUND (no bot token: `why` says what to do), ERR_TLS. */
int recon_conf_from_app(struct recon_conf *c, struct app *a, char *token,
                        char *install, char *why, size_t cap);

/* One reconcile on the daemon's loop (run's boot phase): the engine, its
 * driver and its settings in one object. Findings go to the log, one
 * line each. `done(arg, err, rep, why)` is called once, from the loop,
 * after the job has freed itself (err 0, or recon_result's code and
 * sentence; rep is valid during the call only). `bot_token` is copied.
 * Returns NULL (and no call) on allocation failure or when the install
 * id cannot be derived. */
struct recon_job;
struct recon_job *recon_job_start(struct app *a, const char *bot_token,
                                  void (*done)(void *arg, int err,
                                               const struct recon_report *rep,
                                               const char *why),
                                  void *arg);

/* Cancels a job that has not called `done` yet (no call follows). NULL
 * is fine. */
void recon_job_cancel(struct recon_job *j);

/* `lettamx reconcile [-c FILE] [--dry-run] [--json]`. Returns the exit
 * status. */
int recon_cmd(int argc, char **argv);

#endif
