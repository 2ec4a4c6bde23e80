/*
 * app: what every command that works on a configured installation needs,
 * owned in one place: the configuration, the store (with its sealing key
 * set from the master secret), the secrets read from their files, the
 * provisioning settings derived from them, and the network stack (loop,
 * resolver, TLS, HTTP client).
 *
 * The front ends (provision, status, run, reconcile, the operator tools)
 * open an app, use its parts and close it. Only start-up code calls
 * app_open(); its failures print one line on stderr and give the exit
 * status to return.
 */
#ifndef LETTAMX_APP_H
#define LETTAMX_APP_H

#include <stddef.h>

#include "conf/cfg.h"
#include "core/ident.h"
#include "prov/provision.h"
#include "store/secret.h"

struct loop;
struct dns;
struct tls_ctx;
struct http_client;

#define APP_MAX_INVITES 16

/* Where the application service's tokens are kept (sealed meta), made
 * by `lettamx appservice registration`. */
#define APP_META_AS_TOKEN "appservice_as_token"
#define APP_META_HS_TOKEN "appservice_hs_token"

/* [matrix] mode = appservice: the tokens of the registration ("" until
 * one was made). */
struct app_as {
	int on;
	char as_token[LIM_STORE_SECRET];        /* ours, to the homeserver */
	char hs_token[LIM_STORE_SECRET];        /* the homeserver's, to us */
};

/* How app_open() opens the store. */
enum app_mode {
	APP_WRITE = 0,          /* writer lock; master secret created if
	                         * missing */
	APP_READ = 1,           /* no lock, no master secret created: the
	                         * commands that only read (status, check) */
};

struct app_net {
	struct loop *loop;
	struct dns *dns;
	struct tls_ctx *tls;            /* NULL: https fails with ERR_TLS */
	struct http_client *http;
};

struct app {
	struct cfg cfg;
	struct store *store;
	struct secret_master master;
	struct prov_conf pc;            /* provisioning settings */
	char bot_user[2 * IDENT_MXID_MAX + 4];
	char server[IDENT_MXID_MAX + 1];
	char bot_token[LIM_STORE_SECRET];
	char bot_password[LIM_STORE_SECRET];
	char reg_token[LIM_STORE_SECRET];
	char shared_secret[LIM_STORE_SECRET];
	char letta_token[LIM_STORE_SECRET];
	char invite_buf[APP_MAX_INVITES][IDENT_MXID_MAX + 1];
	const char *invite[APP_MAX_INVITES];
	struct app_net net;
	/* Which Letta API the server at [letta] base_url speaks, as the
	 * start-up gate found it (LAPI_REST or LAPI_APP of letta/lapi.h; 0:
	 * not known yet), and for the App Server its socket's URL. */
	int letta_api;
	char letta_ws[LIM_HTTP_URL];
	struct app_as as;
};

/* Reads the application service's tokens from the store into a->as
 * ("" when none were made). Returns 0 or the store's error. */
int app_as_load(struct app *a);

/* -c FILE / --config FILE and flags (a NULL-terminated list; set[i] tells
 * whether flag i was given). A flag written with a trailing '=' in the
 * list ("--pid-file=") takes a value, as the next argument or after '='
 * in the same one; vals[i] (vals may be NULL when no flag takes one) gets
 * it. Returns 0, or -1 (usage: unknown flag, missing value). */
int app_args(int argc, char **argv, const char *const *flags,
             const char **path, int *set, const char **vals);

/* Loads the configuration at `path` (NULL: the default), opens the store
 * (`mode`), loads the master secret and sets the store's key, reads the
 * secrets and fills a->pc. Returns 0, or the exit status (1 or 2) after
 * printing one line naming the cause on stderr. APP_READ with no store
 * yet prints "nothing provisioned yet" and returns 1. */
int app_open(struct app *a, const char *path, enum app_mode mode);

/* Creates the network stack from the configuration (TLS verified unless
 * [matrix] tls_verify = false). Returns 0 or ERR_NOMEM. */
int app_net_open(struct app *a);

/* Closes what app_open() and app_net_open() opened; wipes the secrets.
 * Safe on a partly opened app. */
void app_close(struct app *a);

/* Prints "usage: lettamx CMD [-c FILE] OPTS" on stderr. */
void app_usage(const char *cmd, const char *opts);

#endif
