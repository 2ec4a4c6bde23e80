/*
 * httpfx: the fixture shared by the http client tests (header-only, as
 * the Makefile links one test file with the harness): a loop, a resolver
 * reading a test hosts file (testhost and localhost are 127.0.0.1), a
 * client, the test HTTP server of testsrv.h, and helpers that run the
 * loop until requests complete.
 */
#ifndef LETTAMX_HTTPFX_H
#define LETTAMX_HTTPFX_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "net/dns.h"
#include "harness.h"
#include "core/loop.h"
#include "net/http.h"
#include "net/tls.h"
#include "testsrv.h"

#define HTTPFX_FN static __attribute__((unused))

struct got {
	int done;
	int err;
	int status;
	int64_t retry_after;
	char body[4096];
	size_t len;             /* copied into body (at most 4095) */
	size_t full_len;        /* of the whole response body */
	char streamed[4096];
	size_t slen;
	char reason[128];
	char where[300];        /* host:port of a failure */
	uint64_t at;            /* completion time */
};

struct fx {
	struct loop *l;
	struct dns *d;
	struct tls_ctx *t;
	struct http_client *c;
	pid_t srv;
	int port;
	char url[256];
};

HTTPFX_FN void on_done(void *arg, struct http_resp *resp, int err)
{
	struct got *g = arg;

	g->done++;
	g->err = err;
	g->status = resp->status;
	g->retry_after = resp->retry_after_ms;
	g->full_len = resp->body_len;
	if (resp->body_len == 20000)    /* the TLS echo test: all 'b'? */
		g->full_len = strspn(resp->body, "b");
	g->len = resp->body_len < sizeof g->body ? resp->body_len :
	         sizeof g->body - 1;
	memcpy(g->body, resp->body, g->len);
	g->body[g->len] = '\0';
	snprintf(g->reason, sizeof g->reason, "%s", resp->reason);
	snprintf(g->where, sizeof g->where, "%s", resp->where ? resp->where
	                                                      : "");
	g->at = loop_clock_ms();
}

HTTPFX_FN int on_body(void *arg, const char *d, size_t n)
{
	struct got *g = arg;

	if (n > sizeof g->streamed - 1 - g->slen)
		return ERR_TOOBIG;
	memcpy(g->streamed + g->slen, d, n);
	g->slen += n;
	return 0;
}

/* Writes a hosts file naming 127.0.0.1 "testhost" and "localhost" and a
 * resolv.conf pointing at a DNS port (for the host names not in it). */
HTTPFX_FN struct dns *make_dns_with(struct loop *l, int dns_port,
                                    const char *hosts_text)
{
	static char hosts[512], resolv[512];
	struct dns_conf dc = { .hosts = hosts, .resolv_conf = resolv,
	                       .timeout_ms = 200, .attempts = 1,
	                       .port = dns_port };
	FILE *f;

	snprintf(hosts, sizeof hosts, "%s/hosts", harness_tmpdir());
	snprintf(resolv, sizeof resolv, "%s/resolv.conf", harness_tmpdir());
	f = fopen(hosts, "w");
	fputs(hosts_text, f);
	fclose(f);
	f = fopen(resolv, "w");
	fputs("nameserver 127.0.0.1\n", f);
	fclose(f);
	return dns_new(l, &dc);
}

HTTPFX_FN struct dns *make_dns(struct loop *l, int dns_port)
{
	return make_dns_with(l, dns_port, "127.0.0.1 testhost localhost\n");
}

HTTPFX_FN void fx_init(struct fx *f, const struct http_conf *conf, int idle)
{
	memset(f, 0, sizeof *f);
	f->l = loop_new();
	f->d = make_dns(f->l, testsrv_dead_port());
	f->c = http_client_new(f->l, f->d, NULL, conf);
	f->srv = testsrv_http(&f->port, idle);
}

HTTPFX_FN void fx_free(struct fx *f)
{
	http_client_free(f->c);
	dns_free(f->d);
	tls_ctx_free(f->t);
	loop_free(f->l);
	testsrv_stop(f->srv);
}

HTTPFX_FN const char *url(struct fx *f, const char *path)
{
	snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d%s", f->port, path);
	return f->url;
}

/* Runs the loop until `*done` reaches `n` or `ms` pass. */
HTTPFX_FN void run(struct fx *f, const int *done, int n, int ms)
{
	uint64_t end = loop_clock_ms() + (uint64_t)ms;

	while (*done < n && loop_clock_ms() < end)
		loop_run_once(f->l, 50);
}

HTTPFX_FN void run_for(struct fx *f, int ms)
{
	uint64_t end = loop_clock_ms() + (uint64_t)ms;

	while (loop_clock_ms() < end)
		loop_run_once(f->l, (int)(end - loop_clock_ms()));
}

/* Starts a GET of `path` reporting into `g`. */
HTTPFX_FN void get(struct fx *f, struct http_req *r, struct got *g,
                const char *path)
{
	memset(g, 0, sizeof *g);
	*r = (struct http_req){ .method = "GET", .url = url(f, path),
	                        .on_done = on_done, .arg = g };
	CHECK_EQ(http_request(f->c, r), 0);
}

/* One GET, run to completion. */
HTTPFX_FN struct got fetch(struct fx *f, const char *path,
                        void (*tweak)(struct http_req *))
{
	struct http_req r;
	struct got g = { 0 };

	r = (struct http_req){ .method = "GET", .url = url(f, path),
	                       .on_done = on_done, .arg = &g };
	if (tweak)
		tweak(&r);
	CHECK_EQ(http_request(f->c, &r), 0);
	run(f, &g.done, 1, 5000);
	CHECK_EQ(g.done, 1);
	return g;
}

#endif
