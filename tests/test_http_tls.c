/* The http client over TLS (certificates made at test time by
 * tests/tls_certs.sh) and over IPv6. */
#include "net/http.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "httpfx.h"
#include "net/tls.h"

/* An https GET to host:port that the TLS layer must refuse with `reason`.
 * `u` is the caller's URL buffer: the request borrows it. */
static void refused(struct fx *f, char *u, size_t ulen, const char *host,
                    int port, const char *reason)
{
	struct http_req r;
	struct got g;

	snprintf(u, ulen, "https://%s:%d/", host, port);
	memset(&g, 0, sizeof g);
	r = (struct http_req){ .method = "GET", .url = u, .on_done = on_done,
	                       .arg = &g };
	CHECK_EQ(http_request(f->c, &r), 0);
	run(f, &g.done, 1, 5000);
	CHECK_EQ(g.err, ERR_TLS);
	CHECK_STR(g.reason, reason);
	/* where it failed, for the last line of a failed command */
	snprintf(u, ulen, "%s:%d", host, port);
	CHECK_STR(g.where, u);
}

static void test_https_verified_and_untrusted(void)
{
	const char *certs = testsrv_certs();
	char ca[512], u[128];
	struct tls_conf tc = { .ca_file = ca };
	int pgood, pself;
	pid_t good = testsrv_openssl(certs, "good", &pgood);
	pid_t self = testsrv_openssl(certs, "self", &pself);
	int pexp;
	pid_t expired = testsrv_openssl(certs, "expired", &pexp);
	struct fx f;
	struct http_req r;
	struct got g;

	snprintf(ca, sizeof ca, "%s/ca.pem", certs);
	fx_init(&f, NULL, 0);
	CHECK_EQ(tls_ctx_new(&f.t, &tc), 0);
	http_client_free(f.c);
	f.c = http_client_new(f.l, f.d, f.t, NULL);
	snprintf(u, sizeof u, "https://localhost:%d/", pgood);
	memset(&g, 0, sizeof g);
	r = (struct http_req){ .method = "GET", .url = u, .on_done = on_done,
	                       .arg = &g };
	CHECK_EQ(http_request(f.c, &r), 0);
	run(&f, &g.done, 1, 5000);
	CHECK_EQ(g.err, 0);
	CHECK_EQ(g.status, 200);
	CHECK(strstr(g.body, "<HTML>") || strstr(g.body, "<html>") ||
	      strstr(g.body, "BODY"));
	refused(&f, u, sizeof u, "localhost", pself,
	        "tls: not trusted (self-signed or unknown CA)");
	{
		char why[LIM_HTTP_REASON], want[256];

		http_explain(ERR_TLS, "tls: not trusted (self-signed or "
		             "unknown CA)", u, "[matrix] ca_file", why,
		             sizeof why);
		snprintf(want, sizeof want, "the TLS certificate of "
		         "localhost:%d is not trusted", pself);
		CHECK(strstr(why, want) == why);
	}
	/* testhost is 127.0.0.1 too, but the certificate names localhost */
	refused(&f, u, sizeof u, "testhost", pgood, "tls: hostname mismatch");
	refused(&f, u, sizeof u, "localhost", pexp, "tls: certificate expired");
	fx_free(&f);
	testsrv_stop(good);
	testsrv_stop(self);
	testsrv_stop(expired);
}

static void test_https_keepalive_resumption_and_big_bodies(void)
{
	const char *certs = testsrv_certs();
	char ca[512], u[128], first[64];
	struct tls_conf tc = { .ca_file = ca };
	struct http_conf hc = { .keepalive_ms = 200 };
	int port;
	pid_t srv = testsrv_https_py(certs, "good", &port);
	struct fx f;
	struct http_req r;
	struct got g;
	static char big[20000];

	snprintf(ca, sizeof ca, "%s/ca.pem", certs);
	fx_init(&f, NULL, 0);
	CHECK_EQ(tls_ctx_new(&f.t, &tc), 0);
	http_client_free(f.c);
	f.c = http_client_new(f.l, f.d, f.t, &hc);
	snprintf(u, sizeof u, "https://localhost:%d/peer", port);
	memset(&g, 0, sizeof g);
	r = (struct http_req){ .method = "GET", .url = u, .on_done = on_done,
	                       .arg = &g };
	CHECK_EQ(http_request(f.c, &r), 0);
	run(&f, &g.done, 1, 5000);
	CHECK_EQ(g.err, 0);
	CHECK(strstr(g.body, " 0") != NULL);   /* full handshake */
	snprintf(first, sizeof first, "%.60s", g.body);
	memset(&g, 0, sizeof g);
	CHECK_EQ(http_request(f.c, &r), 0);
	run(&f, &g.done, 1, 5000);
	CHECK_STR(g.body, first);               /* same TLS connection */
	/* 100 kB: many TLS records, drained before polling again. */
	snprintf(u, sizeof u, "https://localhost:%d/big/100000", port);
	r.body_cap = 200000;
	memset(&g, 0, sizeof g);
	CHECK_EQ(http_request(f.c, &r), 0);
	run(&f, &g.done, 1, 5000);
	CHECK_EQ(g.err, 0);
	CHECK_EQ(g.full_len, 100000);
	CHECK_EQ(http_stats(f.c)->conns_opened, 1);
	/* A body larger than one 4 KiB output record. */
	memset(big, 'b', sizeof big);
	snprintf(u, sizeof u, "https://localhost:%d/echo", port);
	r = (struct http_req){ .method = "POST", .url = u, .body = big,
	                       .body_len = sizeof big, .body_cap = 30000,
	                       .on_done = on_done, .arg = &g };
	memset(&g, 0, sizeof g);
	CHECK_EQ(http_request(f.c, &r), 0);
	run(&f, &g.done, 1, 5000);
	CHECK_EQ(g.err, 0);
	CHECK_EQ(g.full_len, sizeof big);       /* every byte came back */
	/* After the keep-alive time a new connection resumes the session. */
	run_for(&f, 400);
	snprintf(u, sizeof u, "https://localhost:%d/peer", port);
	r = (struct http_req){ .method = "GET", .url = u, .on_done = on_done,
	                       .arg = &g };
	memset(&g, 0, sizeof g);
	CHECK_EQ(http_request(f.c, &r), 0);
	run(&f, &g.done, 1, 5000);
	CHECK_EQ(g.err, 0);
	CHECK(strcmp(g.body, first) != 0);
	CHECK(strstr(g.body, " 1") != NULL);   /* resumed */
	fx_free(&f);
	testsrv_stop(srv);
}

static void test_ipv6_literal(void)
{
	struct fx f;
	struct http_req r;
	struct got g = { 0 };
	char u[64];
	int port;
	pid_t srv6 = testsrv_http_on(&port, 0, 1);

	fx_init(&f, NULL, 0);
	snprintf(u, sizeof u, "http://[::1]:%d/ok", port);
	r = (struct http_req){ .method = "GET", .url = u, .on_done = on_done,
	                       .arg = &g };
	CHECK_EQ(http_request(f.c, &r), 0);
	run(&f, &g.done, 1, 3000);
	CHECK_EQ(g.err, 0);
	CHECK_STR(g.body, "c=1 r=0");
	fx_free(&f);
	testsrv_stop(srv6);
}

int main(void)
{
	RUN(test_https_verified_and_untrusted);
	RUN(test_https_keepalive_resumption_and_big_bodies);
	RUN(test_ipv6_literal);
	return harness_done("http_tls");
}
