/*
 * letta_probe: the App Server's URLs from a base URL, GET /app-server-info
 * read, and the probe's tries and words for each [letta] api.
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "letta/lapi.h"
#include "letta/letta_probe.h"

/* The body the real App Server 0.32.18 gives (reference/
 * letta-app-server/frames.jsonl, request_id as on HTTP). */
static const char info_body[] =
	"{\"type\":\"app_server_info_response\",\"request_id\":\"http-info\","
	"\"success\":true,\"backend\":\"local\",\"letta_code_version\":"
	"\"0.32.18\",\"protocol_version\":1,\"capabilities\":{\"agent_"
	"management\":true,\"runtime_start\":true}}";

static struct proto_resp resp(int status, const char *body)
{
	struct proto_resp r = { status, -1, body, strlen(body), 0, NULL };
	return r;
}

static struct proto_resp none(int neterr)
{
	struct proto_resp r = { 0, -1, "", 0, neterr, "refused" };
	return r;
}

static void check_urls(const char *base, const char *ws, const char *http)
{
	char out[256];

	CHECK_EQ(letta_app_ws_url(base, out, sizeof out), 0);
	CHECK_STR(out, ws);
	CHECK_EQ(letta_app_http_base(base, out, sizeof out), 0);
	CHECK_STR(out, http);
}

static void test_urls(void)
{
	char out[24];

	check_urls("http://127.0.0.1:4500", "ws://127.0.0.1:4500/ws",
	           "http://127.0.0.1:4500");
	check_urls("http://127.0.0.1:4500/", "ws://127.0.0.1:4500/ws",
	           "http://127.0.0.1:4500");
	check_urls("https://letta.example.org/code/", "wss://letta.example."
	           "org/code/ws", "https://letta.example.org/code");
	check_urls("ws://127.0.0.1:4500/ws", "ws://127.0.0.1:4500/ws",
	           "http://127.0.0.1:4500");
	check_urls("ws://127.0.0.1:4500", "ws://127.0.0.1:4500",
	           "http://127.0.0.1:4500");
	check_urls("wss://h.example/proxy/ws/", "wss://h.example/proxy/ws/",
	           "https://h.example/proxy");
	check_urls("ws://[::1]:4500/ws?x=1", "ws://[::1]:4500/ws?x=1",
	           "http://[::1]:4500");
	CHECK_EQ(letta_app_ws_url("ftp://h/", out, sizeof out), ERR_INVAL);
	CHECK_EQ(letta_app_http_base("", out, sizeof out), ERR_INVAL);
	CHECK_EQ(letta_app_ws_url(NULL, out, sizeof out), ERR_INVAL);
	CHECK_EQ(letta_app_ws_url("http://a-rather-long-host.example:4500",
	                          out, sizeof out), ERR_TOOBIG);
	CHECK_EQ(letta_app_ws_url("ws://a-rather-long-host.example:4500",
	                          out, sizeof out), ERR_TOOBIG);
	CHECK(letta_url_is_ws("wss://h/ws"));
	CHECK(!letta_url_is_ws("https://h/ws"));
	CHECK(!letta_url_is_ws(NULL));
}

static void test_modes(void)
{
	CHECK_EQ(letta_api_mode_parse(NULL), 0);
	CHECK_EQ(letta_api_mode_parse("auto"), 0);
	CHECK_EQ(letta_api_mode_parse("rest"), LAPI_REST);
	CHECK_EQ(letta_api_mode_parse("app-server"), LAPI_APP);
	CHECK_EQ(letta_api_mode_parse("App-Server"), -1);
	CHECK_STR(letta_api_name(LAPI_APP), "app-server");
	CHECK_STR(letta_api_name(LAPI_REST), "rest");
}

static void test_info_parse(void)
{
	struct letta_app_info i;
	static const char odd[] = "{\"protocol_version\":3,"
		"\"letta_code_version\":\"1.0 \\u001b[2J\",\"backend\":7}";

	CHECK_EQ(letta_app_info_parse(info_body, strlen(info_body), &i), 0);
	CHECK_STR(i.version, "0.32.18");
	CHECK_STR(i.backend, "local");
	CHECK_EQ(i.protocol, 1);
	/* words for a log: nothing but [A-Za-z0-9.+_-] */
	CHECK_EQ(letta_app_info_parse(odd, strlen(odd), &i), 0);
	CHECK_STR(i.version, "1.0???2J");
	CHECK_STR(i.backend, "");
	CHECK_EQ(i.protocol, 3);
	CHECK_EQ(letta_app_info_parse("{\"letta_code_version\":\"1\"}", 26,
	                              &i), ERR_PROTO);
	CHECK_EQ(letta_app_info_parse("{\"protocol_version\":\"1\"}", 24, &i),
	         ERR_PROTO);
	CHECK_EQ(letta_app_info_parse("[1]", 3, &i), ERR_PROTO);
	CHECK_EQ(letta_app_info_parse("<html>", 6, &i), ERR_PROTO);
	CHECK_EQ(letta_app_info_parse("", 0, &i), ERR_PROTO);
}

/* One try: what the probe asks, and where. */
static void expect(struct letta_probe *p, const char *base, const char *path,
                   const char *bearer)
{
	struct proto_req q;
	const char *b = NULL;

	CHECK_EQ(letta_probe_next(p, &q, &b, "tok"), 1);
	CHECK_STR(b, base);
	CHECK_STR(q.path, path);
	CHECK_STR(q.bearer, bearer);
	CHECK_STR(proto_method_str(q.method), "GET");
}

static void over(struct letta_probe *p)
{
	struct proto_req q;
	const char *b;

	CHECK_EQ(letta_probe_next(p, &q, &b, "tok"), 0);
}

static void test_auto_finds_the_app_server(void)
{
	struct letta_probe p;
	struct proto_resp r = resp(200, info_body);

	CHECK_EQ(letta_probe_init(&p, "auto", "http://127.0.0.1:4500/"), 0);
	expect(&p, "http://127.0.0.1:4500", "/app-server-info", "tok");
	letta_probe_feed(&p, &r, NULL);
	over(&p);
	CHECK_EQ(p.api, LAPI_APP);
	CHECK_EQ(p.err, 0);
	CHECK_STR(p.ws, "ws://127.0.0.1:4500/ws");
	CHECK_STR(p.info.version, "0.32.18");
	CHECK_EQ(p.info.protocol, LETTA_APP_PROTOCOL);
}

static void test_auto_finds_rest(void)
{
	struct letta_probe p;
	struct proto_resp nf = resp(404, "{\"detail\":\"Not Found\"}");
	struct proto_resp ok = resp(200, "{\"status\":\"ok\"}");

	CHECK_EQ(letta_probe_init(&p, NULL, "http://letta:8283"), 0);
	expect(&p, "http://letta:8283", "/app-server-info", "tok");
	letta_probe_feed(&p, &nf, NULL);
	/* the health check needs no token */
	expect(&p, "http://letta:8283", "/v1/health/", "");
	letta_probe_feed(&p, &ok, NULL);
	over(&p);
	CHECK_EQ(p.api, LAPI_REST);
	/* a 200 that is not an App Server's info is no App Server */
	CHECK_EQ(letta_probe_init(&p, "auto", "http://letta:8283"), 0);
	expect(&p, "http://letta:8283", "/app-server-info", "tok");
	letta_probe_feed(&p, &ok, NULL);
	expect(&p, "http://letta:8283", "/v1/health/", "");
	letta_probe_feed(&p, &ok, NULL);
	CHECK_EQ(p.api, LAPI_REST);
}

static void test_auto_neither_names_both_tries(void)
{
	struct letta_probe p;
	struct proto_resp nf = resp(404, "");
	struct proto_resp down = none(ERR_REFUSED);

	CHECK_EQ(letta_probe_init(&p, "auto", "http://letta:8283"), 0);
	expect(&p, "http://letta:8283", "/app-server-info", "tok");
	letta_probe_feed(&p, &nf, NULL);
	expect(&p, "http://letta:8283", "/v1/health/", "");
	letta_probe_feed(&p, &down, "connection refused at 10.0.0.1:8283");
	over(&p);
	CHECK_EQ(p.api, 0);
	CHECK_EQ(p.err, ERR_REFUSED);
	CHECK_STR(p.why, "Letta answers neither as an App Server (GET "
	          "http://letta:8283/app-server-info: HTTP 404) nor as a REST "
	          "server (GET http://letta:8283/v1/health/: connection "
	          "refused at 10.0.0.1:8283)");
	/* both down: the transport's error; a status: ERR_HTTP */
	CHECK_EQ(letta_probe_init(&p, "auto", "http://letta:8283"), 0);
	letta_probe_feed(&p, &down, NULL);
	letta_probe_feed(&p, &nf, NULL);
	CHECK_EQ(p.err, ERR_HTTP);
	CHECK(strstr(p.why, "app-server-info: no answer") != NULL);
	/* the outcome stays: later answers change nothing */
	letta_probe_feed(&p, &nf, NULL);
	CHECK_EQ(p.err, ERR_HTTP);
}

static void test_unknown_protocol_stops(void)
{
	struct letta_probe p;
	static const char v2[] = "{\"type\":\"app_server_info_response\","
		"\"letta_code_version\":\"0.40.1\",\"protocol_version\":2}";
	struct proto_resp r = resp(200, v2);

	CHECK_EQ(letta_probe_init(&p, "app-server", "ws://h:4500/ws"), 0);
	expect(&p, "http://h:4500", "/app-server-info", "tok");
	letta_probe_feed(&p, &r, NULL);
	over(&p);
	CHECK_EQ(p.api, 0);
	CHECK_EQ(p.err, ERR_CONFIG);
	CHECK(strstr(p.why, "speaks protocol_version 2 (Letta Code 0.40.1)")
	      != NULL);
	CHECK(strstr(p.why, "knows protocol_version 1 only") != NULL);
}

static void test_token_refused(void)
{
	struct letta_probe p;
	struct proto_resp no = resp(401, "{\"error\":\"invalid websocket "
	                            "bearer token\"}");
	struct proto_resp nf = resp(404, "");
	struct proto_resp ok = resp(200, "{}");

	/* an App Server says so at once */
	CHECK_EQ(letta_probe_init(&p, "app-server", "http://h:4500"), 0);
	letta_probe_feed(&p, &no, NULL);
	CHECK_EQ(p.err, ERR_CONFIG);
	CHECK(strstr(p.why, "refused our token (HTTP 401)") != NULL);
	CHECK(strstr(p.why, "token_file") != NULL);
	/* auto: a REST server with a password refuses the info too */
	CHECK_EQ(letta_probe_init(&p, "auto", "http://h:8283"), 0);
	letta_probe_feed(&p, &no, NULL);
	letta_probe_feed(&p, &ok, NULL);
	CHECK_EQ(p.api, LAPI_REST);
	/* ... but a server without /v1/health/ is an App Server */
	CHECK_EQ(letta_probe_init(&p, "auto", "http://h:4500"), 0);
	letta_probe_feed(&p, &no, NULL);
	letta_probe_feed(&p, &nf, NULL);
	CHECK_EQ(p.err, ERR_CONFIG);
}

static void test_one_try_per_mode(void)
{
	struct letta_probe p;
	struct proto_resp nf = resp(503, "");

	/* a ws URL is only ever an App Server's */
	CHECK_EQ(letta_probe_init(&p, "auto", "ws://h:4500/ws"), 0);
	CHECK_EQ(p.ntries, 1);
	CHECK_STR(p.rest, "");
	letta_probe_feed(&p, &nf, NULL);
	CHECK_EQ(p.err, ERR_HTTP);
	CHECK_STR(p.why, "the App Server does not answer: GET "
	          "http://h:4500/app-server-info: HTTP 503");
	CHECK_EQ(letta_probe_init(&p, "rest", "https://api.letta.com"), 0);
	expect(&p, "https://api.letta.com", "/v1/health/", "");
	letta_probe_feed(&p, &nf, NULL);
	over(&p);
	CHECK_STR(p.why, "Letta does not answer: GET https://api.letta.com/"
	          "v1/health/: HTTP 503");
	/* what cannot be probed at all */
	CHECK_EQ(letta_probe_init(&p, "rest", "ws://h:4500/ws"), ERR_INVAL);
	CHECK(strstr(p.why, "api = rest") != NULL);
	CHECK_EQ(letta_probe_init(&p, "both", "http://h"), ERR_INVAL);
	CHECK_EQ(letta_probe_init(&p, "auto", "h:4500"), ERR_INVAL);
	over(&p);
}

int main(void)
{
	RUN(test_urls);
	RUN(test_modes);
	RUN(test_info_parse);
	RUN(test_auto_finds_the_app_server);
	RUN(test_auto_finds_rest);
	RUN(test_auto_neither_names_both_tries);
	RUN(test_unknown_protocol_stops);
	RUN(test_token_refused);
	RUN(test_one_try_per_mode);
	return harness_done("letta_probe");
}
