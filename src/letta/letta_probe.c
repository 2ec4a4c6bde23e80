/*
 * letta_probe: which Letta API answers at the base URL (see
 * letta_probe.h): the URLs of the App Server, its info, and the probe's
 * tries in order.
 */
#include "letta/letta_probe.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/url.h"
#include "letta/lapi.h"
#include "letta/letta.h"

enum { TRY_INFO = 1, TRY_HEALTH = 2 };

int letta_api_mode_parse(const char *s)
{
	if (!s || !strcmp(s, "auto"))
		return 0;
	if (!strcmp(s, "rest"))
		return LAPI_REST;
	return !strcmp(s, "app-server") ? LAPI_APP : -1;
}

const char *letta_api_name(int api)
{
	return api == LAPI_REST ? "rest" : api == LAPI_APP ? "app-server"
	                                                   : "unknown";
}

int letta_url_is_ws(const char *url)
{
	struct url u;

	return url && url_parse_ws(&u, url) == 0;
}

/* The parts of an absolute URL that url_parse or url_parse_ws took:
 * "host:port" as written and the path without its query and trailing
 * slashes. */
struct parts {
	int tls;
	const char *hp;
	size_t hp_len;
	const char *path;
	size_t path_len;
};

static int split(const char *base, int ws, struct parts *p)
{
	struct url u;
	const char *tail = base ? strstr(base, "://") : NULL;

	if (!tail || (ws ? url_parse_ws(&u, base) : url_parse(&u, base)))
		return ERR_INVAL;
	p->tls = u.tls;
	p->hp = tail + 3;
	p->hp_len = strcspn(p->hp, "/?#");
	p->path = p->hp + p->hp_len;
	p->path_len = strcspn(p->path, "?#");
	while (p->path_len && p->path[p->path_len - 1] == '/')
		p->path_len--;
	return 0;
}

static int put(char *out, size_t cap, const char *scheme,
               const struct parts *p, size_t path_len, const char *add)
{
	int n = snprintf(out, cap, "%s://%.*s%.*s%s", scheme, (int)p->hp_len,
	                 p->hp, (int)path_len, p->path, add);

	return n < 0 || (size_t)n >= cap ? ERR_TOOBIG : 0;
}

int letta_app_ws_url(const char *base, char *out, size_t cap)
{
	struct parts p;

	if (letta_url_is_ws(base)) {
		int n = snprintf(out, cap, "%s", base);

		return (size_t)n >= cap ? ERR_TOOBIG : 0;
	}
	if (split(base, 0, &p))
		return ERR_INVAL;
	return put(out, cap, p.tls ? "wss" : "ws", &p, p.path_len, "/ws");
}

int letta_app_http_base(const char *base, char *out, size_t cap)
{
	static const char ws[] = "/ws";
	struct parts p;
	size_t n;

	if (!letta_url_is_ws(base))
		return split(base, 0, &p) ? ERR_INVAL :
		       put(out, cap, p.tls ? "https" : "http", &p, p.path_len,
		           "");
	split(base, 1, &p);
	/* ws://h:p/ws (or a proxy's ws://h:p/x/ws): the routes beside it */
	n = p.path_len;
	if (n >= sizeof ws - 1 && !memcmp(p.path + n - (sizeof ws - 1), ws,
	                                  sizeof ws - 1))
		n -= sizeof ws - 1;
	return put(out, cap, p.tls ? "https" : "http", &p, n, "");
}

int letta_req_app_info(struct proto_req *r, const char *token)
{
	proto_req_init(r, PROTO_GET);
	snprintf(r->path, sizeof r->path, "/app-server-info");
	return proto_req_bearer(r, token) ? ERR_TOOBIG : 0;
}

/* A word for a log line: [A-Za-z0-9.+_-], anything else '?'. */
static void word_of(const struct json *j, int v, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	if (json_str(j, v, out, cap) < 0) {
		out[0] = '\0';
		return;
	}
	for (; out[n]; n++) {
		char c = out[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr(".+_-", c)))
			out[n] = '?';
	}
}

int letta_app_info_parse(const char *body, size_t len,
                         struct letta_app_info *info)
{
	struct json j;
	int r;

	memset(info, 0, sizeof *info);
	json_init(&j);
	r = json_parse(&j, body, len);
	if (r == 0 && json_type(&j, 0) == JSON_OBJ &&
	    json_get_int(&j, 0, "protocol_version", 0, INT32_MAX,
	                 &info->protocol) == 0) {
		word_of(&j, json_get(&j, 0, "letta_code_version"),
		        info->version, sizeof info->version);
		word_of(&j, json_get(&j, 0, "backend"), info->backend,
		        sizeof info->backend);
	} else {
		r = ERR_PROTO;
	}
	json_free(&j);
	return r ? ERR_PROTO : 0;
}

/* ---- the probe ---- */

static void add_try(struct letta_probe *p, int t)
{
	p->tries[p->ntries++] = t;
}

int letta_probe_init(struct letta_probe *p, const char *api,
                     const char *base_url)
{
	int ws = letta_url_is_ws(base_url);

	memset(p, 0, sizeof *p);
	p->mode = letta_api_mode_parse(api);
	if (p->mode < 0) {
		snprintf(p->why, sizeof p->why, "[letta] api: '%s' is not one "
		         "of auto, rest, app-server", api);
		return p->err = ERR_INVAL;
	}
	if (ws && p->mode == LAPI_REST) {
		snprintf(p->why, sizeof p->why, "[letta] base_url is a "
		         "WebSocket URL (the App Server's), but [letta] api = "
		         "rest: use the REST server's http(s):// URL");
		return p->err = ERR_INVAL;
	}
	if (letta_app_ws_url(base_url, p->ws, sizeof p->ws) ||
	    letta_app_http_base(base_url, p->http, sizeof p->http) ||
	    (!ws && letta_app_http_base(base_url, p->rest, sizeof p->rest))) {
		snprintf(p->why, sizeof p->why, "[letta] base_url is not an "
		         "http(s):// or ws(s):// URL");
		return p->err = ERR_INVAL;
	}
	if (p->mode != LAPI_REST)
		add_try(p, TRY_INFO);
	if (p->mode != LAPI_APP && !ws)
		add_try(p, TRY_HEALTH);
	return 0;
}

int letta_probe_next(struct letta_probe *p, struct proto_req *req,
                     const char **base, const char *token)
{
	if (p->api || p->err || p->i >= p->ntries)
		return 0;
	if (p->tries[p->i] == TRY_INFO) {
		if (letta_req_app_info(req, token)) {
			snprintf(p->why, sizeof p->why, "the Letta token is "
			         "too long");
			p->err = ERR_CONFIG;
			return 0;
		}
		*base = p->http;
	} else {
		letta_req_health(req);
		*base = p->rest;
	}
	return 1;
}

/* The words for what came of the try in flight. */
static void note(struct letta_probe *p, const struct proto_resp *resp,
                 const char *cause, const char *what)
{
	int info = p->tries[p->i] == TRY_INFO;
	char *out = p->tried[p->i];
	size_t cap = sizeof p->tried[p->i];
	int n = snprintf(out, cap, "GET %.200s%s: ", info ? p->http : p->rest,
	                 info ? "/app-server-info" : "/v1/health/");

	p->status[p->i] = resp->status;
	if (what)
		snprintf(out + n, cap - (size_t)n, "%s", what);
	else if (resp->status)
		snprintf(out + n, cap - (size_t)n, "HTTP %d", resp->status);
	else
		snprintf(out + n, cap - (size_t)n, "%s", cause && *cause ? cause
		         : "no answer");
}

/* The App Server answered its info: is its protocol ours? */
static void take_info(struct letta_probe *p)
{
	if (p->info.protocol == LETTA_APP_PROTOCOL) {
		p->api = LAPI_APP;
		return;
	}
	p->err = ERR_CONFIG;
	snprintf(p->why, sizeof p->why, "the App Server at %.300s speaks "
	         "protocol_version %lld (Letta Code %s); this lettamx knows "
	         "protocol_version %d only: use a lettamx that knows it, or a "
	         "Letta Code that speaks %d", p->http,
	         (long long)p->info.protocol, p->info.version[0] ?
	         p->info.version : "of an unknown version", LETTA_APP_PROTOCOL,
	         LETTA_APP_PROTOCOL);
}

/* Every try failed: one sentence naming each. */
static void give_up(struct letta_probe *p, const struct proto_resp *last)
{
	int info = p->mode != LAPI_REST;
	int refused = info && (p->status[0] == 401 || p->status[0] == 403);

	/* An App Server that refuses our token answers its info 401 (or
	 * 403); a REST server with a password lets its health check pass. */
	if (refused && (p->ntries == 1 || p->status[1] == 404)) {
		p->err = ERR_CONFIG;
		snprintf(p->why, sizeof p->why, "the App Server at %.300s "
		         "refused our token (HTTP %d): check [letta] token_file "
		         "(the server's --ws-token-file)", p->http, p->status[0]);
		return;
	}
	p->err = last->status ? ERR_HTTP : last->neterr ? last->neterr
	                                                  : ERR_CLOSED;
	if (p->ntries == 2)
		snprintf(p->why, sizeof p->why, "Letta answers neither as an "
		         "App Server (%s) nor as a REST server (%s)",
		         p->tried[0], p->tried[1]);
	else
		snprintf(p->why, sizeof p->why, "%s does not answer: %s",
		         info ? "the App Server" : "Letta", p->tried[0]);
}

void letta_probe_feed(struct letta_probe *p, const struct proto_resp *resp,
                      const char *cause)
{
	int ok = resp->status >= 200 && resp->status < 300;

	if (p->api || p->err || p->i >= p->ntries)
		return;
	if (p->tries[p->i] == TRY_HEALTH && ok) {
		p->api = LAPI_REST;
		return;
	}
	if (p->tries[p->i] == TRY_INFO && resp->status == 200) {
		if (!letta_app_info_parse(resp->body, resp->len, &p->info)) {
			take_info(p);
			return;
		}
		note(p, resp, cause, "HTTP 200, but not an App Server's "
		     "answer");
	} else {
		note(p, resp, cause, NULL);
	}
	if (++p->i >= p->ntries)
		give_up(p, resp);
}
