/* A WebSocket connection (net/ws_conn) on the loop against a small
 * WebSocket server forked by the test: open, echo, pings both ways,
 * keep-alive, closes from either side, drops, protocol errors, bytes
 * split across TCP writes, backpressure, a socket seam that trickles
 * and blocks, TLS, and freeing inside callbacks. */
#include "net/ws_conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"
#include "harness.h"
#include "httpfx.h"
#include "net/tls.h"
#include "net/ws.h"

/* ---------------------------------------------------------------- server */

/* One connection at a time per child; the server forks one per
 * connection. What it sees goes to a log file the tests read. */
static char srv_log[512];
static int srv_port;
static pid_t srv_pid;

static void slog(const char *fmt, ...)
{
	FILE *f = fopen(srv_log, "a");
	va_list ap;

	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

static int rd_all(int fd, void *b, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = read(fd, (char *)b + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static void wr(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		_exit(1);
}

/* A server frame: unmasked, `b0` as given. */
static void sframe(int fd, unsigned b0, const void *p, size_t n)
{
	unsigned char h[10];
	size_t hl = 2;

	h[0] = (unsigned char)b0;
	h[1] = (unsigned char)(n < 126 ? n : 126);
	if (n >= 126) {
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
		hl = 4;
	}
	wr(fd, h, hl);
	if (n)
		wr(fd, p, n);
}

/* Reads one client frame (which must be masked). Returns its opcode or
 * -1 at the end of the stream. */
static int cframe(int fd, char *p, size_t cap, size_t *len)
{
	unsigned char h[8], mask[4];
	uint64_t n;

	if (rd_all(fd, h, 2) != 0)
		return -1;
	n = h[1] & 0x7f;
	if (!(h[1] & 0x80))
		slog("unmasked");
	if (n == 126) {
		if (rd_all(fd, h + 2, 2) != 0)
			return -1;
		n = (uint64_t)h[2] << 8 | h[3];
	} else if (n == 127) {
		slog("64-bit length");
		return -1;
	}
	if (n > cap || rd_all(fd, mask, 4) != 0 ||
	    rd_all(fd, p, (size_t)n) != 0)
		return -1;
	for (uint64_t i = 0; i < n; i++)
		p[i] ^= (char)mask[i & 3];
	*len = (size_t)n;
	return h[0] & 0x0f;
}

/* Echoes text, answers pings, tells pongs back as text, logs the
 * client's close and echoes it. */
static void echo(int fd, const char *path)
{
	static char p[70000];
	char t[200];
	size_t n;
	int op;

	while ((op = cframe(fd, p, sizeof p, &n)) >= 0) {
		if (op == WS_OP_TEXT) {
			sframe(fd, 0x81, p, n);
		} else if (op == WS_OP_PING) {
			slog("%s ping", path);
			sframe(fd, 0x8a, p, n);
		} else if (op == WS_OP_PONG) {
			int k = snprintf(t, sizeof t, "pong:%.*s", (int)n, p);

			sframe(fd, 0x81, t, (size_t)k);
		} else if (op == WS_OP_CLOSE) {
			slog("%s close %d %.*s", path, n >= 2 ?
			     ((unsigned char)p[0] << 8 | (unsigned char)p[1]) :
			     1005, (int)(n > 2 ? n - 2 : 0), p + 2);
			sframe(fd, 0x88, p, n);
			return;
		}
	}
	slog("%s eof", path);
}

/* Writes `s` in pieces of `step` bytes with a pause between. */
static void trickle(int fd, const char *s, size_t n, size_t step)
{
	for (size_t i = 0; i < n; i += step) {
		wr(fd, s + i, step < n - i ? step : n - i);
		usleep(10000);
	}
}

static void route(int fd, const char *path)
{
	static char big[2000];
	/* "split across writes": a 7-bit frame, then a message in two
	 * fragments with a ping between, byte by byte */
	static const char split[] = "\x81\x13split across writes"
	                            "\x01\x04" "frag\x89\x01x\x80\x06mented";

	if (!strcmp(path, "/ping")) {
		sframe(fd, 0x89, "hi", 2);
	} else if (!strcmp(path, "/silent")) {
		char p[256];
		size_t n;

		while (cframe(fd, p, sizeof p, &n) >= 0)
			slog("silent frame");
		return;
	} else if (!strcmp(path, "/close1011")) {
		sframe(fd, 0x88, "\x03\xf3server error", 14);
	} else if (!strcmp(path, "/close-empty")) {
		sframe(fd, 0x88, "", 0);
	} else if (!strcmp(path, "/drop")) {
		usleep(20000);
		return;
	} else if (!strcmp(path, "/split")) {
		trickle(fd, split, 21, 7);
		trickle(fd, split + 21, sizeof split - 1 - 21, 1);
	} else if (!strcmp(path, "/big")) {
		memset(big, 'b', sizeof big);
		sframe(fd, 0x81, big, sizeof big);
	} else if (!strcmp(path, "/binary")) {
		sframe(fd, 0x82, "\1\2", 2);
	} else if (!strcmp(path, "/three")) {
		char p[64];
		size_t n;

		/* when the client says so (it reads nothing before), three
		 * messages in one write: one read takes them all */
		if (cframe(fd, p, sizeof p, &n) >= 0)
			wr(fd, "\x81\x03one\x81\x03two\x81\x05three", 17);
	} else if (!strcmp(path, "/masked")) {
		wr(fd, "\x81\x81\0\0\0\0x", 7);
	}
	echo(fd, path);
}

static void srv_conn(int fd)
{
	char head[4096], path[256] = "", key[64] = "", acc[WS_ACCEPT_LEN + 1];
	char resp[512];
	const char *k, *a;
	size_t n = 0;
	int rl;

	while (n < sizeof head - 1 && rd_all(fd, head + n, 1) == 0 &&
	       !(++n >= 4 && !memcmp(head + n - 4, "\r\n\r\n", 4)))
		;
	head[n] = '\0';
	if (sscanf(head, "GET %255s", path) != 1)
		return;
	k = strstr(head, "Sec-WebSocket-Key: ");
	if (k)
		sscanf(k + 19, "%63[^\r]", key);
	a = strstr(head, "Authorization: Bearer ");
	if (a)
		slog("%s auth %.*s", path, (int)strcspn(a + 22, "\r"), a + 22);
	if (strstr(head, "Origin:"))
		slog("%s origin", path);
	if (!strcmp(path, "/403")) {
		wr(fd, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", 45);
		return;
	}
	if (!strcmp(path, "/never")) {
		rd_all(fd, head, 1);
		return;
	}
	ws_accept_of(key, strlen(key), acc);
	acc[0] ^= !strcmp(path, "/badaccept");
	rl = snprintf(resp, sizeof resp, "HTTP/1.1 101 Switching Protocols\r\n"
	              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	              "Sec-WebSocket-Accept: %s\r\n\r\n%s", acc,
	              !strcmp(path, "/hello") ? "\x81\x05hello" : "");
	wr(fd, resp, (size_t)rl);
	route(fd, path);
}

static void srv_start(void)
{
	int lfd = testsrv_listen(&srv_port, 64);

	snprintf(srv_log, sizeof srv_log, "%s/ws-server.log", harness_tmpdir());
	srv_pid = fork();
	if (srv_pid == 0) {
		signal(SIGCHLD, SIG_IGN);       /* handlers reap themselves */
		signal(SIGPIPE, SIG_IGN);
		for (;;) {
			int fd = accept(lfd, NULL, NULL);

			if (fd >= 0 && fork() == 0) {
				srv_conn(fd);
				close(fd);
				_exit(0);
			}
			if (fd >= 0)
				close(fd);
		}
	}
	close(lfd);
}

/* Whether the server logged `line` (now). */
static int srv_logged(const char *line)
{
	FILE *f = fopen(srv_log, "r");
	char b[512];
	int found = 0;

	while (f && !found && fgets(b, sizeof b, f)) {
		b[strcspn(b, "\n")] = '\0';
		found = !strcmp(b, line);
	}
	if (f)
		fclose(f);
	return found;
}

/* Whether the server logs `line` within a second: when we hang up
 * first, its handler may still be reading our last frame. */
static int srv_saw(const char *line)
{
	uint64_t end = srv_now() + 1000;

	while (!srv_logged(line) && srv_now() < end)
		usleep(5000);
	return srv_logged(line);
}

/* ---------------------------------------------------------------- client */

struct got_ws {
	struct ws_conn *c;
	int opened, closed, nmsg, code;
	char why[LIM_WS_WHY];
	char msg[8][256];
	size_t len[8];
	int free_on;            /* free inside: 1 on_message, 2 on_close */
	int yield;              /* ws_conn_yield in on_message */
	int close_on_open;
	uint64_t closed_at;
};

static void g_open(void *arg)
{
	struct got_ws *g = arg;

	g->opened++;
	if (g->close_on_open)
		CHECK_EQ(ws_conn_close(g->c, 1001, "going"), 0);
}

static void g_message(void *arg, const char *text, size_t len)
{
	struct got_ws *g = arg;

	if (g->nmsg < 8) {
		snprintf(g->msg[g->nmsg], sizeof g->msg[0], "%.*s", (int)len,
		         text);
		g->len[g->nmsg] = len;
	}
	g->nmsg++;
	if (g->yield)
		ws_conn_yield(g->c);
	if (g->free_on == 1) {
		ws_conn_free(g->c);
		g->c = NULL;
	}
}

static void g_close(void *arg, int code, const char *why)
{
	struct got_ws *g = arg;

	g->closed++;
	g->code = code;
	snprintf(g->why, sizeof g->why, "%s", why);
	g->closed_at = loop_clock_ms();
	if (g->free_on == 2) {
		ws_conn_free(g->c);
		g->c = NULL;
	}
}

struct env {
	struct loop *l;
	struct dns *d;
	struct tls_ctx *t;
	char url[256];
};

static void env_init(struct env *e)
{
	memset(e, 0, sizeof *e);
	e->l = loop_new();
	e->d = make_dns(e->l, testsrv_dead_port());
}

/* One loop and resolver for every test. */
static struct env E;

static void env_free(struct env *e)
{
	dns_free(e->d);
	tls_ctx_free(e->t);
	loop_free(e->l);
}

static struct ws_conf conf_for(struct env *e, const char *path,
                               struct got_ws *g)
{
	memset(g, 0, sizeof *g);
	snprintf(e->url, sizeof e->url, "ws://localhost:%d%s", srv_port, path);
	return (struct ws_conf){ .url = e->url, .on_open = g_open,
	                         .on_message = g_message, .on_close = g_close,
	                         .arg = g };
}

static void run_until(struct env *e, const int *v, int n, int ms)
{
	uint64_t end = loop_clock_ms() + (uint64_t)ms;

	while (*v < n && loop_clock_ms() < end)
		loop_run_once(e->l, 20);
}

/* Opens `path` with `cf` (defaults when NULL) and runs until open. */
static void open_ws(struct env *e, struct got_ws *g, const char *path,
                    const struct ws_conf *cf)
{
	struct ws_conf c = conf_for(e, path, g);
	uint64_t end = loop_clock_ms() + 3000;

	if (cf) {
		c.ping_ms = cf->ping_ms;
		c.pong_ms = cf->pong_ms;
		c.msg_cap = cf->msg_cap;
		c.sendq_cap = cf->sendq_cap;
		c.handshake_ms = cf->handshake_ms;
		c.bearer = cf->bearer;
		c.io = cf->io;
	}
	CHECK_EQ(ws_conn_open(&g->c, e->l, e->d, e->t, &c), 0);
	while (!g->opened && !g->closed && loop_clock_ms() < end)
		loop_run_once(e->l, 20);
}

/* Runs until the end and checks the code and the start of why. */
static void ends(struct env *e, struct got_ws *g, int code, const char *why)
{
	run_until(e, &g->closed, 1, 3000);
	CHECK_EQ(g->closed, 1);
	CHECK_EQ(g->code, code);
	if (strncmp(g->why, why, strlen(why)) != 0)
		CHECK_STR(g->why, why);
	if (g->c)
		CHECK_EQ(ws_conn_state(g->c), WS_CLOSED);
	ws_conn_free(g->c);
	g->c = NULL;
}

/* ---------------------------------------------------------------- tests */

static void test_echo_and_close(void)
{
	struct got_ws g;
	struct ws_conf cf = { .bearer = "s3cr3t-TEST-TOKEN-ws1" };

	open_ws(&E, &g, "/echo", &cf);
	CHECK_EQ(g.opened, 1);
	CHECK_EQ(ws_conn_state(g.c), WS_OPEN);
	CHECK_EQ(ws_conn_send(g.c, "hello", 5), 0);
	CHECK_EQ(ws_conn_send(g.c, "w\xc3\xb6rld", 6), 0);
	CHECK_EQ(ws_conn_send(g.c, "", 0), 0);
	CHECK_EQ(ws_conn_send(g.c, "\xc3", 1), ERR_UTF8);
	run_until(&E, &g.nmsg, 3, 3000);
	CHECK_EQ(g.nmsg, 3);
	CHECK_STR(g.msg[0], "hello");
	CHECK_STR(g.msg[1], "w\xc3\xb6rld");
	CHECK_EQ(g.len[2], 0);
	CHECK_EQ(ws_conn_close(g.c, 1005, NULL), ERR_INVAL);
	CHECK_EQ(ws_conn_close(g.c, 1000, "bye"), 0);
	CHECK_EQ(ws_conn_state(g.c), WS_CLOSING);
	CHECK_EQ(ws_conn_close(g.c, 1000, "again"), 0);
	CHECK_EQ(ws_conn_send(g.c, "late", 4), ERR_CLOSED);
	CHECK_EQ(g.closed, 0);          /* never from inside the call */
	ends(&E, &g, 1000, "bye");
	CHECK(srv_saw("/echo auth s3cr3t-TEST-TOKEN-ws1"));
	CHECK(srv_saw("/echo close 1000 bye"));
	CHECK(!srv_logged("/echo origin"));
	CHECK(!srv_logged("unmasked"));
}

static void test_server_ping_and_101_with_frames(void)
{
	struct got_ws g;

	open_ws(&E, &g, "/ping", NULL);
	run_until(&E, &g.nmsg, 1, 3000);
	CHECK_STR(g.msg[0], "pong:hi");         /* our pong, told back */
	ws_conn_free(g.c);
	/* a frame in the same read as the 101 */
	open_ws(&E, &g, "/hello", NULL);
	run_until(&E, &g.nmsg, 1, 3000);
	CHECK_EQ(g.nmsg, 1);
	CHECK_STR(g.msg[0], "hello");
	ws_conn_free(g.c);
	CHECK_EQ(g.closed, 0);                  /* freed: no callback */
}

static void test_keepalive(void)
{
	struct got_ws g;
	struct ws_conf cf = { .ping_ms = 60, .pong_ms = 150 };
	uint64_t t0;

	/* answered: pings go out, the connection stays */
	open_ws(&E, &g, "/echo", &cf);
	t0 = loop_clock_ms();
	while (loop_clock_ms() < t0 + 500)
		loop_run_once(E.l, 20);
	CHECK_EQ(g.closed, 0);
	CHECK(srv_saw("/echo ping"));
	CHECK_EQ(ws_conn_close(g.c, 1000, NULL), 0);
	ends(&E, &g, 1000, "closed by us");
	/* unanswered: closed after ping_ms + pong_ms */
	open_ws(&E, &g, "/silent", &cf);
	t0 = loop_clock_ms();
	ends(&E, &g, 1006, "keep-alive: no answer to a ping in 150 ms");
	CHECK(g.closed_at >= t0 + 150);
	CHECK(g.closed_at < t0 + 1500);
	CHECK(srv_saw("silent frame"));
}

static void test_server_closes(void)
{
	struct got_ws g;

	open_ws(&E, &g, "/close1011", NULL);
	ends(&E, &g, 1011, "server error");
	CHECK(srv_saw("/close1011 close 1011 "));       /* echoed */
	open_ws(&E, &g, "/close-empty", NULL);
	ends(&E, &g, 1005, "closed by the server");
	CHECK(srv_saw("/close-empty close 1005 "));     /* empty echo */
	open_ws(&E, &g, "/drop", NULL);
	CHECK_EQ(g.opened, 1);
	ends(&E, &g, 1006, "connection dropped");
}

static void test_split_across_writes(void)
{
	struct got_ws g;

	open_ws(&E, &g, "/split", NULL);
	run_until(&E, &g.nmsg, 3, 3000);
	CHECK_EQ(g.nmsg, 3);
	CHECK_STR(g.msg[0], "split across writes");
	CHECK_STR(g.msg[1], "fragmented");
	CHECK_STR(g.msg[2], "pong:x");  /* the ping between fragments */
	ws_conn_free(g.c);
}

/* A reader that yields gets one message per pass of the loop, the rest
 * in order in the passes after, none lost. */
static void test_yield(void)
{
	struct got_ws g;
	uint64_t end;
	int most = 0;

	open_ws(&E, &g, "/three", NULL);
	g.yield = 1;
	CHECK_EQ(ws_conn_send(g.c, "go", 2), 0);
	end = loop_clock_ms() + 10000;
	while (g.nmsg < 3 && loop_clock_ms() < end) {
		int before = g.nmsg;

		loop_run_once(E.l, 20);
		if (g.nmsg - before > most)
			most = g.nmsg - before;
	}
	CHECK_EQ(g.nmsg, 3);
	CHECK_EQ(most, 1);
	CHECK_STR(g.msg[0], "one");
	CHECK_STR(g.msg[1], "two");
	CHECK_STR(g.msg[2], "three");
	/* without it, the same read gives all three at once */
	ws_conn_free(g.c);
	open_ws(&E, &g, "/three", NULL);
	CHECK_EQ(ws_conn_send(g.c, "go", 2), 0);
	run_until(&E, &g.nmsg, 3, 10000);
	CHECK_EQ(g.nmsg, 3);
	CHECK_STR(g.msg[2], "three");
	ws_conn_free(g.c);
}

static void test_protocol_errors(void)
{
	struct got_ws g;
	struct ws_conf cf = { .msg_cap = 1000 };

	open_ws(&E, &g, "/big", &cf);
	ends(&E, &g, 1009, "message too big");
	CHECK(srv_saw("/big close 1009 message too big"));
	open_ws(&E, &g, "/binary", NULL);
	ends(&E, &g, 1003, "binary message");
	CHECK(srv_saw("/binary close 1003 binary message"));
	open_ws(&E, &g, "/masked", NULL);
	ends(&E, &g, 1002, "protocol error");
	CHECK(srv_saw("/masked close 1002 protocol error"));
}

static void test_handshake_failures(void)
{
	struct got_ws g;
	struct ws_conf cf = { .handshake_ms = 150 };

	open_ws(&E, &g, "/403", NULL);
	CHECK_EQ(g.opened, 0);
	ends(&E, &g, 1006, "handshake: HTTP 403");
	open_ws(&E, &g, "/badaccept", NULL);
	ends(&E, &g, 1006, "handshake: wrong Sec-WebSocket-Accept");
	open_ws(&E, &g, "/never", &cf);
	ends(&E, &g, 1006, "handshake deadline passed");
	CHECK_EQ(g.opened, 0);
	/* nobody listening */
	memset(&g, 0, sizeof g);
	snprintf(E.url, sizeof E.url, "ws://127.0.0.1:%d/", testsrv_dead_port());
	{
		struct ws_conf c = { .url = E.url, .on_close = g_close,
		                     .arg = &g };

		CHECK_EQ(ws_conn_open(&g.c, E.l, E.d, NULL, &c), 0);
	}
	ends(&E, &g, 1006, "connect: connection refused");
}

static void test_open_refuses(void)
{
	struct got_ws g;
	struct ws_conn *c = NULL;
	struct ws_conf cf;

	cf = conf_for(&E, "/echo", &g);
	cf.url = "http://localhost/";
	CHECK_EQ(ws_conn_open(&c, E.l, E.d, NULL, &cf), ERR_INVAL);
	cf.url = "wss://localhost/";
	CHECK_EQ(ws_conn_open(&c, E.l, E.d, NULL, &cf), ERR_TLS);
	cf = conf_for(&E, "/echo", &g);
	cf.bearer = "x\r\nOrigin: evil";
	CHECK_EQ(ws_conn_open(&c, E.l, E.d, NULL, &cf), ERR_INVAL);
	cf.bearer = NULL;
	cf.on_close = NULL;
	CHECK_EQ(ws_conn_open(&c, E.l, E.d, NULL, &cf), ERR_INVAL);
	CHECK(c == NULL);
	/* closed before it opened: reported from the loop */
	cf = conf_for(&E, "/echo", &g);
	CHECK_EQ(ws_conn_open(&g.c, E.l, E.d, NULL, &cf), 0);
	CHECK_EQ(ws_conn_send(g.c, "x", 1), ERR_INVAL);
	CHECK_EQ(ws_conn_close(g.c, 1000, NULL), 0);
	CHECK_EQ(g.closed, 0);
	ends(&E, &g, 1000, "closed by us");
	CHECK_EQ(g.opened, 0);
	/* a bad name fails from the loop too */
	cf = conf_for(&E, "/echo", &g);
	cf.url = "ws://bad_name..x/";
	CHECK_EQ(ws_conn_open(&g.c, E.l, E.d, NULL, &cf), 0);
	ends(&E, &g, 1006, "dns: ");
}

static void test_backpressure(void)
{
	struct got_ws g;
	struct ws_conf cf = { .sendq_cap = 1 };        /* raised to the min */
	static char big[LIM_WS_SENDQ_MIN], m[1000];
	int k = 0, r;

	memset(m, 'm', sizeof m);
	memset(big, 'b', sizeof big);
	open_ws(&E, &g, "/echo", &cf);
	CHECK_EQ(ws_conn_send(g.c, big, sizeof big), ERR_TOOBIG);
	/* nothing is written until the loop runs: the queue fills */
	while ((r = ws_conn_send(g.c, m, sizeof m)) == 0)
		k++;
	CHECK_EQ(r, ERR_AGAIN);
	CHECK_EQ(k, (LIM_WS_SENDQ_MIN - LIM_WS_CTL_RESERVE) /
	            ws_frame_size(sizeof m));
	CHECK(ws_conn_queued(g.c) <= LIM_WS_SENDQ_MIN - LIM_WS_CTL_RESERVE);
	run_until(&E, &g.nmsg, k, 5000);
	CHECK_EQ(g.nmsg, k);
	CHECK_EQ(g.len[0], sizeof m);
	CHECK_EQ(ws_conn_queued(g.c), 0);
	CHECK_EQ(ws_conn_send(g.c, m, sizeof m), 0);     /* room again */
	ws_conn_free(g.c);
}

static void test_free_and_close_in_callbacks(void)
{
	struct got_ws g;
	struct ws_conf cf;

	open_ws(&E, &g, "/echo", NULL);
	g.free_on = 1;
	CHECK_EQ(ws_conn_send(g.c, "one", 3), 0);
	CHECK_EQ(ws_conn_send(g.c, "two", 3), 0);
	run_until(&E, &g.nmsg, 2, 300);
	CHECK_EQ(g.nmsg, 1);            /* freed inside: nothing more */
	CHECK_EQ(g.closed, 0);
	CHECK(g.c == NULL);
	/* freed inside on_close */
	open_ws(&E, &g, "/drop", NULL);
	g.free_on = 2;
	run_until(&E, &g.closed, 1, 3000);
	CHECK_EQ(g.closed, 1);
	CHECK(g.c == NULL);
	/* closed inside on_open */
	cf = conf_for(&E, "/echo", &g);
	g.close_on_open = 1;
	CHECK_EQ(ws_conn_open(&g.c, E.l, E.d, NULL, &cf), 0);
	ends(&E, &g, 1001, "going");
	CHECK_EQ(g.opened, 1);
	CHECK(srv_saw("/echo close 1001 going"));
}

/* ---------------------------------------------------------------- seam */

/* A socket seam over the real one that moves at most 3 bytes a call and
 * says ERR_AGAIN every other call; a write retried after ERR_AGAIN must
 * come with the same pointer and length. `fail_writes` > 0: the write
 * after that many fails. */
struct trickle {
	int calls, fail_writes, writes;
	const void *again_buf;
	size_t again_len;
	int bad_retry;
};

static int tr_read(void *ctx, int fd, void *buf, size_t len)
{
	struct trickle *t = ctx;

	if (++t->calls % 2)
		return ERR_AGAIN;
	return http_io_sockets.read(NULL, fd, buf, len < 3 ? len : 3);
}

static int tr_write(void *ctx, int fd, const void *buf, size_t len)
{
	struct trickle *t = ctx;

	if (t->again_buf && (t->again_buf != buf || t->again_len != len))
		t->bad_retry++;
	t->again_buf = NULL;
	if (t->fail_writes && ++t->writes > t->fail_writes)
		return ERR_IO;
	if (++t->calls % 2) {
		t->again_buf = buf;
		t->again_len = len;
		return ERR_AGAIN;
	}
	return http_io_sockets.write(NULL, fd, buf, len < 3 ? len : 3);
}

static void test_trickling_seam(void)
{
	struct trickle t = { 0 };
	struct http_io io = { http_io_sockets.connect,
	                      http_io_sockets.connected, tr_read, tr_write,
	                      http_io_sockets.close, &t };
	struct ws_conf cf = { .io = &io, .bearer = "s3cr3t-TEST-TOKEN-ws2" };
	struct got_ws g;

	open_ws(&E, &g, "/split", &cf);
	CHECK_EQ(g.opened, 1);
	CHECK_EQ(ws_conn_send(g.c, "through a straw", 15), 0);
	run_until(&E, &g.nmsg, 4, 5000);
	CHECK_EQ(g.nmsg, 4);
	/* sends between a blocked write and its retry */
	for (int i = 0; i < 20; i++) {
		CHECK_EQ(ws_conn_send(g.c, "more", 4), 0);
		loop_run_once(E.l, 5);
	}
	run_until(&E, &g.nmsg, 24, 5000);
	CHECK_EQ(g.nmsg, 24);
	/* our message and the pong cross: either may come back first */
	CHECK(!strcmp(g.msg[2], "pong:x") || !strcmp(g.msg[3], "pong:x"));
	CHECK(!strcmp(g.msg[2], "through a straw") ||
	      !strcmp(g.msg[3], "through a straw"));
	CHECK_EQ(t.bad_retry, 0);
	CHECK(srv_saw("/split auth s3cr3t-TEST-TOKEN-ws2"));
	ws_conn_free(g.c);
	/* a write that fails once open */
	memset(&t, 0, sizeof t);
	t.fail_writes = 400;
	open_ws(&E, &g, "/echo", &cf);
	CHECK_EQ(g.opened, 1);
	for (int i = 0; i < 200; i++)
		ws_conn_send(g.c, "0123456789", 10);
	ends(&E, &g, 1006, "send failed: I/O error");
}

/* The bearer never reaches the log; every transition does. */
static void test_log(void)
{
	struct got_ws g;
	struct ws_conf cf = { .bearer = "s3cr3t-TEST-TOKEN-ws3" };
	char text[8192];
	FILE *tmp = tmpfile();
	int saved = dup(2);
	size_t n;

	log_set_level(LOG_LEVEL_DEBUG);
	if (tmp)
		dup2(fileno(tmp), 2);
	open_ws(&E, &g, "/echo", &cf);
	CHECK_EQ(ws_conn_close(g.c, 1000, NULL), 0);
	ends(&E, &g, 1000, "closed by us");
	dup2(saved, 2);
	close(saved);
	log_set_level(LOG_LEVEL_INFO);
	n = 0;
	if (tmp) {
		rewind(tmp);
		n = fread(text, 1, sizeof text - 1, tmp);
		fclose(tmp);
	}
	text[n] = '\0';
	CHECK(strstr(text, "s3cr3t") == NULL);
	CHECK(srv_saw("/echo auth s3cr3t-TEST-TOKEN-ws3"));
	CHECK(strstr(text, "from=resolve to=connect") != NULL);
	CHECK(strstr(text, "from=connect to=handshake") != NULL);
	CHECK(strstr(text, "from=handshake to=open") != NULL);
	CHECK(strstr(text, "from=open to=closing") != NULL);
	CHECK(strstr(text, "from=closing to=closed") != NULL);
}

/* A WebSocket echo server over TLS, in Python's standard library:
 * argv is the certificate and its key; it prints its port. */
static const char wss_py[] =
	"import base64,hashlib,socket,ssl,struct,sys\n"
	"cert,key=sys.argv[1:3]\n"
	"ctx=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
	"ctx.load_cert_chain(cert,key)\n"
	"ls=socket.socket();ls.bind(('127.0.0.1',0));ls.listen(4)\n"
	"print(ls.getsockname()[1],flush=True)\n"
	"def rd(s,n):\n"
	" b=b''\n"
	" while len(b)<n:\n"
	"  x=s.recv(n-len(b))\n"
	"  if not x: raise EOFError\n"
	"  b+=x\n"
	" return b\n"
	"def send(s,b0,p):\n"
	" n=len(p)\n"
	" h=bytes([b0,n]) if n<126 else bytes([b0,126])+struct.pack('>H',n)\n"
	" s.sendall(h+p)\n"
	"def serve(s):\n"
	" h=b''\n"
	" while not h.endswith(b'\\r\\n\\r\\n'): h+=rd(s,1)\n"
	" k=[l.split(b':',1)[1].strip() for l in h.split(b'\\r\\n')"
	" if l.lower().startswith(b'sec-websocket-key:')][0]\n"
	" a=base64.b64encode(hashlib.sha1(k+b'258EAFA5-E914-47DA-95CA-"
	"C5AB0DC85B11').digest())\n"
	" s.sendall(b'HTTP/1.1 101 OK\\r\\nUpgrade: websocket\\r\\n"
	"Connection: Upgrade\\r\\nSec-WebSocket-Accept: '+a+b'\\r\\n"
	"\\r\\n')\n"
	" while True:\n"
	"  b0,b1=rd(s,2)\n"
	"  n=b1&127\n"
	"  if n==126: n=struct.unpack('>H',rd(s,2))[0]\n"
	"  m=rd(s,4)\n"
	"  p=bytes(x^m[i%4] for i,x in enumerate(rd(s,n)))\n"
	"  send(s,0x80|(b0&15),p)\n"
	"  if b0&15==8: return\n"
	"while True:\n"
	" c,_=ls.accept()\n"
	" try: serve(ctx.wrap_socket(c,server_side=True))\n"
	" except Exception: pass\n"
	" c.close()\n";

/* Starts it with the "good" certificate; it prints its port. */
static pid_t wss_start(const char *dir, int *port)
{
	char cert[512], key[512];
	int p[2];
	FILE *f;
	pid_t pid;

	snprintf(cert, sizeof cert, "%s/good.pem", dir);
	snprintf(key, sizeof key, "%s/good.key", dir);
	if (pipe(p) != 0)
		exit(2);
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execlp("python3", "python3", "-c", wss_py, cert, key,
		       (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	if (!f || fscanf(f, "%d", port) != 1) {
		fprintf(stderr, "test_ws_conn: the wss server did not start\n");
		exit(2);
	}
	fclose(f);
	return pid;
}

static void test_tls(void)
{
	const char *certs = testsrv_certs();
	char ca[512];
	struct tls_conf tc = { .ca_file = ca };
	int pgood, pself;
	pid_t good = testsrv_openssl(certs, "good", &pgood);
	pid_t self = testsrv_openssl(certs, "self", &pself);
	struct got_ws g;
	struct ws_conf cf;

	snprintf(ca, sizeof ca, "%s/ca.pem", certs);
	CHECK_EQ(tls_ctx_new(&E.t, &tc), 0);
	/* verified by default: a self-signed server is refused */
	cf = conf_for(&E, "/", &g);
	snprintf(E.url, sizeof E.url, "wss://localhost:%d/", pself);
	CHECK_EQ(ws_conn_open(&g.c, E.l, E.d, E.t, &cf), 0);
	ends(&E, &g, 1015, "tls: not trusted");
	/* a trusted one gets our request over TLS; `s_server -www` is no
	 * WebSocket server and answers 200 */
	cf = conf_for(&E, "/", &g);
	snprintf(E.url, sizeof E.url, "wss://localhost:%d/", pgood);
	CHECK_EQ(ws_conn_open(&g.c, E.l, E.d, E.t, &cf), 0);
	ends(&E, &g, 1006, "handshake: HTTP 200");
	/* a WebSocket server over TLS: messages of several records */
	{
		static char big[20000];
		int pw;
		pid_t wss = wss_start(certs, &pw);

		memset(big, 'w', sizeof big);
		cf = conf_for(&E, "/", &g);
		snprintf(E.url, sizeof E.url, "wss://localhost:%d/", pw);
		CHECK_EQ(ws_conn_open(&g.c, E.l, E.d, E.t, &cf), 0);
		run_until(&E, &g.opened, 1, 5000);
		CHECK_EQ(ws_conn_send(g.c, big, sizeof big), 0);
		CHECK_EQ(ws_conn_send(g.c, "tls", 3), 0);
		run_until(&E, &g.nmsg, 2, 5000);
		CHECK_EQ(g.nmsg, 2);
		CHECK_EQ(g.len[0], sizeof big);
		CHECK_STR(g.msg[1], "tls");
		CHECK_EQ(ws_conn_close(g.c, 4000, "done"), 0);
		ends(&E, &g, 4000, "done");
		testsrv_stop(wss);
	}
	tls_ctx_free(E.t);
	E.t = NULL;
	testsrv_stop(good);
	testsrv_stop(self);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	srv_start();
	env_init(&E);
	RUN(test_echo_and_close);
	RUN(test_server_ping_and_101_with_frames);
	RUN(test_keepalive);
	RUN(test_server_closes);
	RUN(test_split_across_writes);
	RUN(test_yield);
	RUN(test_protocol_errors);
	RUN(test_handshake_failures);
	RUN(test_open_refuses);
	RUN(test_backpressure);
	RUN(test_free_and_close_in_callbacks);
	RUN(test_trickling_seam);
	RUN(test_log);
	RUN(test_tls);
	env_free(&E);
	testsrv_stop(srv_pid);
	return harness_done("ws_conn");
}
