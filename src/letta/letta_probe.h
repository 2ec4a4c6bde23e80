/*
 * letta_probe: which Letta API answers at [letta] base_url, sans-I/O.
 *
 * Letta serves two APIs (DESIGN.md, "Two Letta APIs behind one
 * interface"): the v1 REST API (Letta Cloud, the archived server) and the
 * App Server of Letta Code (a WebSocket, `letta server --listen`). The
 * configuration says which one (`[letta] api`), or `auto`: then the probe
 * asks GET /app-server-info first (only an App Server answers it) and GET
 * /v1/health/ second. A ws:// or wss:// base URL can only be an App
 * Server's.
 *
 *   letta_probe_init(&p, "auto", base_url);
 *   while (letta_probe_next(&p, &req, &base, token))
 *           ... send req to base, then letta_probe_feed(&p, &resp) ...
 *   p.api: LAPI_REST or LAPI_APP; else p.err and p.why
 *
 * The App Server's socket and its HTTP routes are on one host and port:
 * http://h:p gives ws://h:p/ws, https:// gives wss://, and a ws(s):// URL
 * is used as given with its HTTP routes at http(s)://h:p.
 */
#ifndef LETTAMX_LETTA_PROBE_H
#define LETTAMX_LETTA_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "net/proto.h"

/* The App Server protocol this build speaks (app_server_info's
 * protocol_version). */
#define LETTA_APP_PROTOCOL 1

/* [letta] api: "auto" (or NULL) is 0, "rest" LAPI_REST, "app-server"
 * LAPI_APP (lapi.h); anything else -1. */
int letta_api_mode_parse(const char *s);

/* 1 when url is a ws:// or wss:// URL (only an App Server's). */
int letta_url_is_ws(const char *url);

/* The App Server's socket URL for base URL `base` (http(s):// or
 * ws(s)://) into out[0..cap). Returns 0, ERR_INVAL (not such a URL),
 * ERR_TOOBIG. */
int letta_app_ws_url(const char *base, char *out, size_t cap);

/* The http(s):// base (no trailing slash) of the App Server's HTTP routes
 * (GET /app-server-info) for `base`. Returns as letta_app_ws_url. */
int letta_app_http_base(const char *base, char *out, size_t cap);

/* Fills `r` with GET /app-server-info, with `token` as a Bearer (NULL:
 * none; an App Server started with --ws-auth wants it here too). Returns
 * 0 or ERR_TOOBIG. */
int letta_req_app_info(struct proto_req *r, const char *token);

/* What GET /app-server-info says. */
struct letta_app_info {
	char version[64];       /* letta_code_version, "" when absent; only
	                         * [A-Za-z0-9.+_-] kept (it goes to logs) */
	char backend[32];       /* "local", "cloud", ... (same rule) */
	int64_t protocol;       /* protocol_version */
};

/* Reads the body of a GET /app-server-info answer. Returns 0, or
 * ERR_PROTO (not a JSON object with an integer protocol_version: not an
 * App Server's answer). */
int letta_app_info_parse(const char *body, size_t len,
                         struct letta_app_info *info);

/* The probe. */
struct letta_probe {
	int mode;                       /* 0 (auto), LAPI_REST, LAPI_APP */
	int api;                        /* LAPI_REST or LAPI_APP (lapi.h) once
	                                 * decided, 0 before */
	int err;                        /* a failed probe: ERR_CONFIG (it will
	                                 * never work as configured: a token
	                                 * refused, a protocol this build does
	                                 * not know), else the last try's
	                                 * error (try again later) */
	char why[1024];                 /* err: one sentence naming each try */
	struct letta_app_info info;     /* api LAPI_APP: what the server said */
	char ws[LIM_HTTP_URL];          /* the App Server's socket */
	char http[LIM_HTTP_URL];        /* base of GET /app-server-info */
	char rest[LIM_HTTP_URL];        /* base of the REST API ("" for a ws
	                                 * URL) */
	int tries[2], ntries, i;        /* LETTA_PROBE_* in order, next */
	int status[2];                  /* each try's HTTP status, 0: none */
	char tried[2][384];             /* each try: "GET URL: what came" */
};

/* Prepares a probe of `base_url` in mode `api` ([letta] api's text, NULL:
 * auto). Returns 0, or ERR_INVAL (a base URL that is no http(s):// or
 * ws(s):// URL, an unknown mode, a ws URL with api = rest; p->why says
 * which). */
int letta_probe_init(struct letta_probe *p, const char *api,
                     const char *base_url);

/* The next try: fills `req` and sets *base (owned by p) and returns 1;
 * returns 0 when the probe is over (p->api or p->err). `token` is sent to
 * /app-server-info only (the REST health check needs none). */
int letta_probe_next(struct letta_probe *p, struct proto_req *req,
                     const char **base, const char *token);

/* The answer to the last try (status 0: none came; then `cause` says why
 * in words, e.g. "connection refused at 127.0.0.1:8283"). */
void letta_probe_feed(struct letta_probe *p, const struct proto_resp *resp,
                      const char *cause);

/* "rest" or "app-server" for LAPI_REST / LAPI_APP, "unknown" else. */
const char *letta_api_name(int api);

#endif
