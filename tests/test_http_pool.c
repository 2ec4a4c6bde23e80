/*
 * The http client's pool: the idle free list (last freed first, never a
 * closed or delivering connection), the O(1) queue, and when a request's
 * bytes may leave. http_pool_check() checks the lists after each step.
 */
#include "net/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "harness.h"
#include "httpfx.h"
#include "core/loop.h"

static int pass_connect(void *ctx, const struct dns_addr *a, uint16_t port)
{
	(void)ctx;
	return http_io_sockets.connect(NULL, a, port);
}

static int pass_connected(void *ctx, int fd)
{
	(void)ctx;
	return http_io_sockets.connected(NULL, fd);
}

static int pass_read(void *ctx, int fd, void *buf, size_t len)
{
	(void)ctx;
	return http_io_sockets.read(NULL, fd, buf, len);
}

static void pass_close(void *ctx, int fd)
{
	(void)ctx;
	http_io_sockets.close(NULL, fd);
}

/* The pool's own accounting after each step: open and idle counts, and
 * the lists (conns, idle, queue) consistent with the states. */
static void pool_is(struct fx *f, int open, int idle)
{
	int o = -1, i = -1;

	CHECK_EQ(http_pool_check(f->c, url(f, "/"), &o, &i), 0);
	CHECK_EQ(o, open);
	CHECK_EQ(i, idle);
}

static int conn_of(const struct got *g)
{
	int c = 0, r = 0;

	return sscanf(g->body, "c=%d r=%d", &c, &r) == 2 ? c : -1;
}

/* Three connections freed one after another: the next request takes the
 * one freed last (the warmest), the others stay free for later ones. */
static void test_freed_conn_is_reused_last_freed_first(void)
{
	struct fx f;
	struct http_req r[3];
	struct got g[3], n;
	char want[32];

	fx_init(&f, NULL, 0);
	CHECK_EQ(http_pool_check(f.c, url(&f, "/"), &(int){ 0 },
	                         &(int){ 0 }), ERR_NOTFOUND);
	get(&f, &r[0], &g[0], "/delay/50");
	get(&f, &r[1], &g[1], "/delay/150");
	get(&f, &r[2], &g[2], "/delay/250");
	pool_is(&f, 3, 0);
	run(&f, &g[0].done, 1, 3000);
	pool_is(&f, 3, 1);
	run(&f, &g[2].done, 1, 3000);
	CHECK_EQ(g[1].done, 1);
	pool_is(&f, 3, 3);
	n = fetch(&f, "/ok", NULL);
	snprintf(want, sizeof want, "c=%d r=1", conn_of(&g[2]));
	CHECK_STR(n.body, want);
	pool_is(&f, 3, 3);
	/* Two at once: the two freed last. */
	get(&f, &r[0], &g[0], "/ok");
	get(&f, &r[1], &g[1], "/ok");
	pool_is(&f, 3, 1);
	run(&f, &g[1].done, 1, 3000);
	run(&f, &g[0].done, 1, 3000);
	CHECK(conn_of(&g[0]) != conn_of(&g[1]));
	CHECK_EQ(http_stats(f.c)->conns_opened, 3);
	CHECK_EQ(http_stats(f.c)->conns_reused, 3);
	pool_is(&f, 3, 3);
	fx_free(&f);
}

struct peek {
	struct got g;
	struct fx *f;
	int open, idle, rc;
};

static void peek_pool(void *arg, struct http_resp *resp, int err)
{
	struct peek *k = arg;

	on_done(&k->g, resp, err);
	k->rc = http_pool_check(k->f->c, url(k->f, "/"), &k->open, &k->idle);
}

/* While its callback runs, a kept connection is not free (the head the
 * callback reads is in its buffer); a request started from there gets a
 * new connection, and both are free afterwards. */
static void test_conn_not_free_while_delivering(void)
{
	struct fx f;
	struct peek k = { .f = &f, .rc = 1 };
	struct http_req r;

	fx_init(&f, NULL, 0);
	r = (struct http_req){ .method = "GET", .url = url(&f, "/ok"),
	                       .on_done = peek_pool, .arg = &k };
	CHECK_EQ(http_request(f.c, &r), 0);
	run(&f, &k.g.done, 1, 3000);
	CHECK_EQ(k.rc, 0);
	CHECK_EQ(k.open, 1);
	CHECK_EQ(k.idle, 0);
	pool_is(&f, 1, 1);
	fx_free(&f);
}

/* A connection that closes leaves the free list: the server's FIN while
 * idle, the keep-alive timer, a response with Connection: close, a
 * cancelled request. No request is ever given a closed one (no retry). */
static void test_closed_conn_leaves_free_list(void)
{
	struct http_conf conf = { .keepalive_ms = 150 };
	struct fx f;
	struct http_req r[2];
	struct got g[2], n;

	fx_init(&f, NULL, 100);     /* the server drops idle conns at 100 ms */
	get(&f, &r[0], &g[0], "/ok");
	get(&f, &r[1], &g[1], "/ok");
	run(&f, &g[0].done, 1, 3000);
	run(&f, &g[1].done, 1, 3000);
	pool_is(&f, 2, 2);
	run_for(&f, 300);           /* both FINs seen while idle */
	pool_is(&f, 0, 0);
	n = fetch(&f, "/ok", NULL);
	CHECK_STR(n.body, "c=3 r=0");
	CHECK_EQ(http_stats(f.c)->retries, 0);
	n = fetch(&f, "/close", NULL);
	CHECK_EQ(n.err, 0);
	pool_is(&f, 0, 0);
	fx_free(&f);

	fx_init(&f, &conf, 0);
	fetch(&f, "/ok", NULL);
	pool_is(&f, 1, 1);
	run_for(&f, 300);           /* our keep-alive time is over */
	pool_is(&f, 0, 0);
	get(&f, &r[0], &g[0], "/delay/300");
	run_for(&f, 50);
	http_cancel(f.c, &r[0]);    /* in flight: closed, never freed */
	pool_is(&f, 0, 0);
	n = fetch(&f, "/ok", NULL);
	CHECK_STR(n.body, "c=3 r=0");
	pool_is(&f, 1, 1);
	fx_free(&f);
}

/* A request cancelled from the middle of the queue leaves it at once;
 * the others keep their order on the one connection. */
static void test_cancel_from_the_middle_of_the_queue(void)
{
	struct http_conf conf = { .per_origin = 1 };
	struct fx f;
	struct http_req a, q[3];
	struct got ga, gq[3];

	fx_init(&f, &conf, 0);
	get(&f, &a, &ga, "/delay/100");
	for (int i = 0; i < 3; i++)
		get(&f, &q[i], &gq[i], "/ok");
	http_cancel(f.c, &q[1]);
	pool_is(&f, 1, 0);
	http_cancel(f.c, &q[2]);    /* the tail */
	http_cancel(f.c, &q[0]);    /* the head */
	pool_is(&f, 1, 0);
	get(&f, &q[1], &gq[1], "/ok");
	get(&f, &q[2], &gq[2], "/ok");
	run(&f, &gq[2].done, 1, 3000);
	CHECK_EQ(ga.done, 1);
	CHECK_EQ(gq[0].done, 0);
	CHECK_STR(gq[1].body, "c=1 r=1");
	CHECK_STR(gq[2].body, "c=1 r=2");
	pool_is(&f, 1, 1);
	fx_free(&f);
}

/* No byte of a request leaves in the pass that made it: only after the
 * loop polled again (the daemon commits its store batch before each
 * poll, so what a request depends on is on disk before it is sent). */
struct watch_io {
	struct loop *l;
	uint64_t first_write_pass;      /* 0: none yet */
};

static struct watch_io wio;

static int watch_write(void *ctx, int fd, const void *buf, size_t len)
{
	(void)ctx;
	if (!wio.first_write_pass)
		wio.first_write_pass = loop_stats(wio.l)->passes;
	return http_io_sockets.write(NULL, fd, buf, len);
}

struct chain {
	struct got g, g2;
	struct fx *f;
	struct http_req next;
	uint64_t made_pass;
};

static void start_next(void *arg, struct http_resp *resp, int err)
{
	struct chain *k = arg;

	on_done(&k->g, resp, err);
	wio.first_write_pass = 0;
	k->made_pass = loop_stats(k->f->l)->passes;
	get(k->f, &k->next, &k->g2, "/ok");
}

static void test_request_written_only_after_a_poll(void)
{
	static const struct http_io io = {
		pass_connect, pass_connected, pass_read, watch_write,
		pass_close, NULL,
	};
	struct http_conf conf = { .io = &io };
	struct fx f;
	struct http_req a, b;
	struct got ga, gb;
	struct chain k = { .f = &f };

	fx_init(&f, &conf, 0);
	wio = (struct watch_io){ .l = f.l };
	get(&f, &a, &ga, "/ok");
	get(&f, &b, &gb, "/ok");
	run(&f, &gb.done, 1, 3000);
	run(&f, &ga.done, 1, 3000);
	pool_is(&f, 2, 2);
	/* From a callback, onto the other idle connection. */
	a = (struct http_req){ .method = "GET", .url = url(&f, "/ok"),
	                       .on_done = start_next, .arg = &k };
	CHECK_EQ(http_request(f.c, &a), 0);
	run(&f, &k.g2.done, 1, 3000);
	CHECK_EQ(k.g2.err, 0);
	CHECK_STR(k.g2.body + 4, "r=1");        /* a kept connection */
	CHECK_INT(wio.first_write_pass, >, k.made_pass);
	/* Onto a new connection. */
	wio.first_write_pass = 0;
	get(&f, &a, &ga, "/delay/100");
	get(&f, &b, &gb, "/delay/100");
	k.made_pass = loop_stats(f.l)->passes;
	get(&f, &k.next, &k.g2, "/ok");         /* the third connection */
	CHECK_EQ(wio.first_write_pass, 0);
	run(&f, &k.g2.done, 1, 3000);
	CHECK_INT(wio.first_write_pass, >, k.made_pass);
	run(&f, &gb.done, 1, 3000);
	fx_free(&f);
}

int main(void)
{
	RUN(test_freed_conn_is_reused_last_freed_first);
	RUN(test_conn_not_free_while_delivering);
	RUN(test_closed_conn_leaves_free_list);
	RUN(test_cancel_from_the_middle_of_the_queue);
	RUN(test_request_written_only_after_a_poll);
	return harness_done("http_pool");
}
