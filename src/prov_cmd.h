/*
 * prov_cmd: the provisioning driver (the engine of provision.h moved over
 * the HTTP client on the loop) and the `provision` and `status` commands.
 */
#ifndef LETTAMX_PROV_CMD_H
#define LETTAMX_PROV_CMD_H

#include "provision.h"

struct loop;
struct http_client;
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

/* Cancels a request in flight and frees the driver (not the engine). */
void prov_driver_free(struct prov_driver *d);

/* Wall time of the run so far, in ms. */
uint64_t prov_driver_elapsed_ms(const struct prov_driver *d);

/* `lettamx provision [-c FILE] [--dry-run]`. Returns the exit status. */
int prov_cmd_provision(int argc, char **argv);

/* `lettamx status [-c FILE] [--json]`. Returns the exit status. */
int prov_cmd_status(int argc, char **argv);

#endif
