/*
 * ws_conn: one WebSocket connection as a state machine (see ws_conn.h).
 *
 *   resolve -> connect -> [tls] -> handshake -> open -> closing -> closed
 *
 * One function per state (st_*), driven from the loop by conn_io() (the
 * socket), timer_fired() (the one timer) and dns_done() (the resolver).
 * Every transition goes through ws_set(), which logs it and arms the
 * timer guarding the new state. The opening request is written into the
 * send queue when the connection is made (so a bearer that cannot be
 * sent fails at once, and we keep no copy of the token but the request,
 * wiped once the server answered it), and goes out first; the 101 is
 * read into rbuf, and what follows it is the first frames.
 *
 * Each entry from the loop is bracketed by enter()/leave(): a callback
 * that frees the connection only marks it, and leave() frees it when
 * the loop's call unwinds. After every callback the caller checks
 * gone(): the callback may have closed or freed the connection.
 *
 * What ws_conn reuses: the resolver, the http_io socket seam, tls and
 * httpp (through ws). The dialing (addresses in turn, each with a slice
 * of the connect deadline) is written again: http_conn's is bound to
 * the HTTP pool's origins and requests.
 */
#include "net/ws_conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/platform_util.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/url.h"
#include "net/tls.h"
#include "net/ws_q.h"

enum close_out { OUT_NONE, OUT_WANTED, OUT_QUEUED };

struct ws_conn {
	struct loop *l;
	struct dns *dns;
	struct tls_ctx *tctx;
	const struct http_io *io;
	struct ws_conf conf;            /* deadlines filled in; url unused */
	char url[LIM_HTTP_URL + 1];     /* u.path points into it */
	struct url u;
	enum ws_state state;
	int fd;
	unsigned interest;
	unsigned rd_dir, wr_dir;        /* to poll for after ERR_AGAIN */
	struct tls_conn *tls;
	struct dns_query dq;
	struct dns_addr addrs[DNS_ADDRS_MAX];
	size_t naddrs, ai;              /* addresses, the next to try */
	int dns_err;                    /* a resolve that failed at once */
	struct loop_timer timer;
	const char *timer_name;
	uint64_t connect_deadline;
	uint64_t last_rx, ping_at;      /* last byte read, last ping queued */
	struct ws_key key;
	uint8_t rnd[64];                /* mask bytes, refilled */
	size_t rnd_pos;
	struct ws_reader rd;
	unsigned char *msg;             /* the reader's buffer */
	size_t rlen;                    /* bytes of the 101 head in rbuf */
	struct ws_q q;                  /* the send queue */
	size_t req_len;                 /* the opening request, bearer and
	                                 * all, at q[0] until wiped */
	size_t inflight;                /* a write that got ERR_AGAIN: its
	                                 * length, retried unchanged */
	enum close_out close_out;       /* our close frame */
	unsigned char close_pl[WS_CTL_MAX];
	size_t close_pl_len;
	int close_rcvd;                 /* the server's close frame came */
	int failing;                    /* hang up once our close is out */
	int close_code;                 /* for on_close; 0 until known */
	char why[LIM_WS_WHY];
	int report_due, reported;
	int busy, freed;
	/* ws_conn_yield: the rest of rbuf waits for the next pass */
	int yield, paused;
	size_t pend_off, pend_len;
	struct loop_defer d_resume;
	char rbuf[LIM_WS_RBUF];
};

static const char *const state_names[] = {
	"resolve", "connect", "tls", "handshake", "open", "closing", "closed",
};

/* Timer names; keep-alive tells its two phases apart by them. */
static const char T_PING[] = "ping", T_PONG[] = "pong";

static void conn_io(void *arg, int fd, unsigned revents);

/* ---------------------------------------------------------------- helpers */

static uint64_t now_ms(const struct ws_conn *c)
{
	return loop_now(c->l);
}

static int gone(const struct ws_conn *c)
{
	return c->freed || c->state == WS_CLOSED;
}

static void arm(struct ws_conn *c, const char *name, uint64_t at)
{
	c->timer_name = name;
	loop_timer_arm(c->l, &c->timer, at);
}

/* The socket itself: TLS's transport, or the stream when plain. */
static int sock_io(struct ws_conn *c, int wr, const void *out, void *in,
                   size_t n)
{
	if (wr)
		return c->io->write(c->io->ctx, c->fd, out, n);
	return c->io->read(c->io->ctx, c->fd, in, n);
}

static int bio_send(void *arg, const unsigned char *buf, size_t len)
{
	return sock_io(arg, 1, buf, NULL, len);
}

static int bio_recv(void *arg, unsigned char *buf, size_t len)
{
	return sock_io(arg, 0, NULL, buf, len);
}

/* One read or write of the stream, through TLS for wss. */
static int xfer(struct ws_conn *c, int wr, void *buf, size_t n)
{
	if (!c->tls)
		return sock_io(c, wr, buf, buf, n);
	return wr ? tls_write(c->tls, buf, n) : tls_read(c->tls, buf, n);
}

/* After ERR_AGAIN: the direction TLS waits for, else `plain`. */
static unsigned again_dir(const struct ws_conn *c, unsigned plain)
{
	return c->tls ? tls_want(c->tls) : plain;
}

static void set_interest(struct ws_conn *c, unsigned dir)
{
	if (c->fd >= 0 && c->interest != dir) {
		c->interest = dir;
		loop_fd_set(c->l, c->fd, dir);
	}
}

/* While the stream runs: read always (but when failing), write while
 * something is queued. */
static void update_interest(struct ws_conn *c)
{
	unsigned dir = c->failing ? 0 : c->rd_dir;

	if (c->state < WS_HANDSHAKE || gone(c))
		return;
	if (ws_q_len(&c->q))
		dir |= c->wr_dir;
	set_interest(c, dir);
}

/* Keeps the first cause: it is what the callback and the log say. */
static void note(struct ws_conn *c, int code, const char *why)
{
	if (!c->close_code) {
		c->close_code = code;
		snprintf(c->why, sizeof c->why, "%s", why);
	}
}

static int mask_bytes(struct ws_conn *c, uint8_t mask[4])
{
	if (c->rnd_pos + 4 > sizeof c->rnd) {
		if (getrandom(c->rnd, sizeof c->rnd, GRND_NONBLOCK) !=
		    (ssize_t)sizeof c->rnd)
			return ERR_IO;
		c->rnd_pos = 0;
	}
	memcpy(mask, c->rnd + c->rnd_pos, 4);
	c->rnd_pos += 4;
	return 0;
}

/* ---------------------------------------------------------------- states */

/* The timer guarding state `s`: its name, and the time it fires after
 * entering `s` (0: none). One deadline covers resolve, TCP and TLS. */
static uint64_t guard(const struct ws_conn *c, enum ws_state s,
                      const char **name)
{
	int ms = s == WS_HANDSHAKE ? c->conf.handshake_ms :
	         s == WS_OPEN ? c->conf.ping_ms :
	         s == WS_CLOSING ? c->conf.close_ms : 0;

	*name = s == WS_HANDSHAKE ? "handshake" : s == WS_OPEN ? T_PING :
	        s == WS_CLOSING ? "close" : "connect";
	if (s <= WS_TLS)
		return c->connect_deadline;
	return s == WS_CLOSED || ms <= 0 ? 0 : now_ms(c) + (uint64_t)ms;
}

/* The one place the state changes: logged, and its guard armed. */
static void ws_set(struct ws_conn *c, enum ws_state s)
{
	const char *name;
	uint64_t at = guard(c, s, &name);

	LOG_DEBUG("ws", "event=state conn=%p host=%s from=%s to=%s",
	          (const void *)c, c->u.host, state_names[c->state],
	          state_names[s]);
	c->state = s;
	if (s == WS_OPEN)
		c->last_rx = now_ms(c);
	if (at)
		arm(c, name, at);
	else
		loop_timer_cancel(c->l, &c->timer);
}

static void drop_fd(struct ws_conn *c)
{
	if (c->fd < 0)
		return;
	loop_fd_del(c->l, c->fd);
	c->io->close(c->io->ctx, c->fd);
	c->fd = -1;
}

/* No more I/O of any kind: no callback can come from the loop after. */
static void stop_io(struct ws_conn *c)
{
	if (c->dns)
		dns_cancel(c->dns, &c->dq);
	loop_timer_cancel(c->l, &c->timer);
	loop_defer_cancel(c->l, &c->d_resume);
	c->paused = 0;
	c->pend_len = 0;
	drop_fd(c);
	tls_conn_free(c->tls);
	c->tls = NULL;
}

static void report(struct ws_conn *c)
{
	if (c->reported || c->freed)
		return;
	c->reported = 1;
	if (!c->close_code)
		note(c, WS_CLOSE_ABNORMAL, "closed");
	LOG_INFO("ws", "event=closed host=%s code=%d why=\"%s\"", c->u.host,
	         c->close_code, c->why);
	c->conf.on_close(c->conf.arg, c->close_code, c->why);
}

/* The end, from inside the loop: everything stops, on_close runs. */
static void finish(struct ws_conn *c)
{
	if (c->state == WS_CLOSED)
		return;
	stop_io(c);
	ws_set(c, WS_CLOSED);
	report(c);
}

static void fail(struct ws_conn *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct ws_conn *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (!c->close_code) {
		c->close_code = code;
		va_start(ap, fmt);
		vsnprintf(c->why, sizeof c->why, fmt, ap);
		va_end(ap);
	}
	finish(c);
}

/* ---------------------------------------------------------------- queue */

/* Queues one masked frame. Data frames leave LIM_WS_CTL_RESERVE bytes
 * to control frames, so a queue full of data still takes a pong or our
 * close. Returns 0, ERR_TOOBIG, ERR_AGAIN, ERR_UTF8, ERR_IO. */
static int q_frame(struct ws_conn *c, int op, const void *p, size_t len)
{
	int ctl = op >= WS_OP_CLOSE;
	size_t limit = ctl ? c->q.cap : c->q.cap - LIM_WS_CTL_RESERVE;
	size_t need = ws_frame_size(len);
	unsigned char *at;
	uint8_t mask[4];
	int n;

	if (need > limit)
		return ERR_TOOBIG;
	at = ws_q_room(&c->q, need, limit, c->inflight != 0);
	if (!at)
		return ERR_AGAIN;
	if (mask_bytes(c, mask))
		return ERR_IO;
	n = ws_frame_write((char *)at, c->q.cap - c->q.tail, op, 1, p, len,
	                   mask);
	if (n < 0)
		return n;
	ws_q_put(&c->q, (size_t)n);
	update_interest(c);
	return 0;
}

/* Our close goes in once there is room; until then it waits (the
 * queue drains first: nothing may follow a close). */
static void push_close(struct ws_conn *c)
{
	if (c->close_out == OUT_WANTED &&
	    q_frame(c, WS_OP_CLOSE, c->close_pl, c->close_pl_len) == 0)
		c->close_out = OUT_QUEUED;
}

/* Our close frame: `code` (0: none) and reason[0..rlen), checked. */
static void queue_close(struct ws_conn *c, int code, const char *reason,
                        size_t rlen)
{
	if (c->close_out != OUT_NONE)
		return;
	c->close_pl_len = 0;
	if (code) {
		c->close_pl[0] = (unsigned char)(code >> 8);
		c->close_pl[1] = (unsigned char)code;
		if (rlen)
			memcpy(c->close_pl + 2, reason, rlen);
		c->close_pl_len = 2 + rlen;
	}
	c->close_out = OUT_WANTED;
	push_close(c);
}

/* Starts our side of the closing handshake (the caller's close, or the
 * server broke the protocol: then `failing`, and we hang up as soon as
 * our close frame is out, RFC 6455 7.1.7). `reason` goes on the wire. */
static void start_close(struct ws_conn *c, int code, const char *reason,
                        int failing)
{
	note(c, code, *reason ? reason : "closed by us");
	c->failing |= failing;
	queue_close(c, code, reason, strlen(reason));
	if (c->state == WS_OPEN)
		ws_set(c, WS_CLOSING);
}

/* Writes what is queued until done or blocked. Returns 0 or an err. */
static int flush(struct ws_conn *c)
{
	for (;;) {
		size_t len;
		int n;

		if (!ws_q_len(&c->q)) {
			if (c->close_out != OUT_WANTED)
				return 0;
			push_close(c);
			if (c->close_out != OUT_QUEUED)
				return 0;       /* no mask: the close timer ends it */
			continue;
		}
		len = c->inflight ? c->inflight : ws_q_len(&c->q);
		n = xfer(c, 1, c->q.buf + c->q.head, len);
		if (n == ERR_AGAIN) {
			c->inflight = len;
			c->wr_dir = again_dir(c, LOOP_WRITE);
			return 0;
		}
		if (n < 0)
			return n;
		c->inflight = 0;
		c->wr_dir = LOOP_WRITE;
		ws_q_took(&c->q, (size_t)n);
	}
}

/* ---------------------------------------------------------------- frames */

/* The server's reason, made safe for a log line. */
static void peer_reason(struct ws_conn *c, const struct ws_msg *m)
{
	size_t n = m->len < sizeof c->why - 1 ? m->len : sizeof c->why - 1;

	if (n == 0) {
		snprintf(c->why, sizeof c->why, "closed by the server");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)m->data[i];

		c->why[i] = ch < 0x20 || ch == 0x7f || ch == '"' ? '?' :
		            (char)ch;
	}
	c->why[n] = '\0';
}

/* The server's close: echo its code (RFC 6455 5.5.1), then wait for it
 * to hang up (it closes the TCP connection first, 7.1.1). */
static void peer_closed(struct ws_conn *c, const struct ws_msg *m)
{
	c->close_rcvd = 1;
	if (!c->close_code) {
		c->close_code = m->code;
		peer_reason(c, m);
	}
	if (c->state != WS_OPEN)
		return;
	queue_close(c, m->code == WS_CLOSE_NO_STATUS ? 0 : m->code, NULL, 0);
	ws_set(c, WS_CLOSING);
}

static void on_frame(struct ws_conn *c, const struct ws_msg *m)
{
	switch (m->op) {
	case WS_OP_TEXT:
		if (c->state == WS_OPEN && c->conf.on_message)
			c->conf.on_message(c->conf.arg, m->data, m->len);
		if (m->data == (const void *)c->msg)
			mem_give_back(c->msg, WS_Q_KEEP, m->len);
		break;
	case WS_OP_BINARY:
		start_close(c, WS_CLOSE_UNSUPPORTED, "binary message", 1);
		break;
	case WS_OP_PING:
		/* A full queue skips it: only the latest ping needs an
		 * answer (RFC 6455 5.5.3), and the next one gets it. */
		if (c->state == WS_OPEN)
			(void)q_frame(c, WS_OP_PONG, m->data, m->len);
		break;
	case WS_OP_CLOSE:
		peer_closed(c, m);
		break;
	default:
		break;          /* a pong: any byte is a sign of life */
	}
}

/* Hands received bytes to the reader, message by message; after a
 * message whose reader yields, the rest is kept in rbuf for the next
 * pass (ws_conn_yield). */
static void frames(struct ws_conn *c, const char *p, size_t n)
{
	while (n > 0 && !gone(c) && !c->failing) {
		struct ws_msg m;
		int r = ws_reader_feed(&c->rd, p, n, &m);

		if (r == ERR_CLOSED)
			return;         /* bytes after the server's close */
		if (r < 0) {
			start_close(c, ws_close_code_of(r), r == ERR_UTF8 ?
			            "invalid UTF-8" : r == ERR_TOOBIG ?
			            "message too big" : "protocol error", 1);
			return;
		}
		p += r;
		n -= (size_t)r;
		if (m.op != WS_OP_NONE)
			on_frame(c, &m);
		if (c->yield && !gone(c)) {
			c->pend_off = (size_t)(p - c->rbuf);
			c->pend_len = n;
			return;
		}
	}
}

static void resume_read(void *arg);

/* After a yield: the next pass, once the loop has committed and polled
 * (and written what the reader's pass made), goes on reading. */
static void pause_read(struct ws_conn *c)
{
	c->yield = 0;
	c->paused = 1;
	loop_defer_next(c->l, &c->d_resume, resume_read, c);
}

/* The bytes a yield left in rbuf, before any new read. Returns 1 when
 * reading may go on. */
static int drain_pending(struct ws_conn *c)
{
	size_t off = c->pend_off, n = c->pend_len;

	if (!n)
		return 1;
	c->pend_len = 0;
	frames(c, c->rbuf + off, n);
	if (c->yield) {
		pause_read(c);
		return 0;
	}
	return !gone(c) && !c->failing;
}

/* ---------------------------------------------------------------- stream */

/* The 101 is in (or not yet): checked, then open, then the frames that
 * came with it. */
static void handshake_bytes(struct ws_conn *c)
{
	struct httpp_head h;
	const char *why;
	int n = ws_handshake_read(&h, c->rbuf, c->rlen, &c->key, &why);

	if (n == ERR_AGAIN)
		return;
	if (n == ERR_HTTP) {
		fail(c, WS_CLOSE_ABNORMAL, "handshake: HTTP %d (%s)", h.status,
		     why);
		return;
	}
	if (n < 0) {
		fail(c, WS_CLOSE_ABNORMAL, "handshake: %s", why);
		return;
	}
	ws_set(c, WS_OPEN);
	LOG_INFO("ws", "event=open host=%s port=%u", c->u.host,
	         (unsigned)c->u.port);
	if (!ws_q_len(&c->q)) {         /* all sent: the token goes */
		mbedtls_platform_zeroize(c->q.buf, c->req_len);
		c->req_len = 0;
	}
	if (c->conf.on_open) {
		c->conf.on_open(c->conf.arg);
		if (gone(c))
			return;
	}
	frames(c, c->rbuf + n, c->rlen - (size_t)n);
}

static void eof(struct ws_conn *c)
{
	if (c->state == WS_HANDSHAKE)
		fail(c, WS_CLOSE_ABNORMAL, "handshake: closed before the answer");
	else if (c->close_rcvd)
		finish(c);      /* the server hung up after its close */
	else
		fail(c, WS_CLOSE_ABNORMAL, "connection dropped");
}

/* Reads until the socket (and TLS) is dry. */
static void st_read(struct ws_conn *c)
{
	if (c->paused || !drain_pending(c))
		return;         /* paused: the resume reads */
	while (!gone(c) && !c->failing) {
		int hs = c->state == WS_HANDSHAKE;
		char *at = hs ? c->rbuf + c->rlen : c->rbuf;
		int n = xfer(c, 0, at, hs ? LIM_HTTP_HEAD - c->rlen :
		                            sizeof c->rbuf);

		if (n == ERR_AGAIN) {
			c->rd_dir = again_dir(c, LOOP_READ);
			return;
		}
		if (n <= 0) {
			if (n == 0)
				eof(c);
			else
				fail(c, WS_CLOSE_ABNORMAL, "receive failed: %s",
				     err_str(n));
			return;
		}
		c->last_rx = now_ms(c);
		if (hs) {
			c->rlen += (size_t)n;
			handshake_bytes(c);
		} else {
			frames(c, c->rbuf, (size_t)n);
		}
		if (c->yield) {
			pause_read(c);
			return;
		}
	}
}

/* Writes; returns 1 to go on, 0 when the connection ended. */
static int write_step(struct ws_conn *c)
{
	int r = flush(c);

	if (r < 0) {
		fail(c, WS_CLOSE_ABNORMAL, "send failed: %s", err_str(r));
		return 0;
	}
	if (c->failing && c->close_out == OUT_QUEUED && !ws_q_len(&c->q)) {
		finish(c);      /* our close is out: hang up */
		return 0;
	}
	return 1;
}

/* Handshake, open and closing: the same two directions. */
static void st_stream(struct ws_conn *c)
{
	if (!write_step(c))
		return;
	st_read(c);
	if (gone(c) || !write_step(c))
		return;
	update_interest(c);
}

/* ---------------------------------------------------------------- connect */

static void st_tls(struct ws_conn *c)
{
	int r = tls_handshake(c->tls);

	if (r == ERR_AGAIN) {
		set_interest(c, tls_want(c->tls));
		return;
	}
	if (r < 0) {
		fail(c, r == ERR_TLS ? WS_CLOSE_TLS : WS_CLOSE_ABNORMAL,
		     "tls: %s", tls_reason(c->tls));
		return;
	}
	ws_set(c, WS_HANDSHAKE);
	st_stream(c);
}

static void connected(struct ws_conn *c)
{
	c->rd_dir = LOOP_READ;
	c->wr_dir = LOOP_WRITE;
	if (!c->u.tls) {
		ws_set(c, WS_HANDSHAKE);
		st_stream(c);
		return;
	}
	c->tls = tls_conn_new(c->tctx, c->u.host, NULL, bio_send, bio_recv,
	                      c);
	if (!c->tls) {
		fail(c, WS_CLOSE_ABNORMAL, "tls: setup failed");
		return;
	}
	ws_set(c, WS_TLS);
	st_tls(c);
}

/* Opens a socket to the next address that takes one; fails the
 * connection when none is left. With more addresses after it, one gets
 * only a slice of the connect deadline: an address that is a black hole
 * must not use up the time of the others. */
static void dial_next(struct ws_conn *c, int err)
{
	uint64_t slice = now_ms(c) + WS_ADDR_ATTEMPT_MS;
	int fd = -1;

	drop_fd(c);
	while (fd < 0 && c->ai < c->naddrs) {
		fd = c->io->connect(c->io->ctx, &c->addrs[c->ai++], c->u.port);
		if (fd >= 0 && loop_fd_add(c->l, fd, LOOP_WRITE, conn_io, c)) {
			c->io->close(c->io->ctx, fd);
			fd = ERR_NOMEM;
		}
		err = fd < 0 ? fd : err;
	}
	if (fd < 0) {
		fail(c, WS_CLOSE_ABNORMAL, "connect: %s", err_str(err));
		return;
	}
	c->fd = fd;
	c->interest = LOOP_WRITE;
	if (c->state != WS_CONNECT)
		ws_set(c, WS_CONNECT);
	if (c->ai < c->naddrs && slice < c->connect_deadline)
		arm(c, "connect attempt", slice);
	else
		arm(c, "connect", c->connect_deadline);
}

static void st_connect(struct ws_conn *c)
{
	int r = c->io->connected(c->io->ctx, c->fd);

	if (r == 0)
		connected(c);
	else
		dial_next(c, r);
}

/* ---------------------------------------------------------------- loop */

static void enter(struct ws_conn *c)
{
	c->busy++;
}

static void free_now(struct ws_conn *c);

/* The loop's call is over: a connection freed inside it goes now. */
static void leave(struct ws_conn *c)
{
	if (--c->busy == 0 && c->freed)
		free_now(c);
}

static void dns_done(void *arg, int err, const struct dns_addr *addrs,
                     size_t n)
{
	struct ws_conn *c = arg;

	enter(c);
	if (err || n == 0) {
		fail(c, WS_CLOSE_ABNORMAL, "dns: %s",
		     err ? err_str(err) : "no address");
	} else {
		c->naddrs = n < DNS_ADDRS_MAX ? n : DNS_ADDRS_MAX;
		memcpy(c->addrs, addrs, c->naddrs * sizeof *addrs);
		c->ai = 0;
		dial_next(c, ERR_IO);
	}
	leave(c);
}

/* What a ready socket means in each state (none while resolving, or
 * once closed). */
static void (*const on_ready[WS_CLOSED + 1])(struct ws_conn *) = {
	[WS_CONNECT] = st_connect,
	[WS_TLS] = st_tls,
	[WS_HANDSHAKE] = st_stream,
	[WS_OPEN] = st_stream,
	[WS_CLOSING] = st_stream,
};

static void resume_read(void *arg)
{
	struct ws_conn *c = arg;

	enter(c);
	c->paused = 0;
	if (c->state == WS_OPEN || c->state == WS_CLOSING) {
		st_read(c);
		if (!gone(c) && write_step(c))
			update_interest(c);
	}
	leave(c);
}

static void conn_io(void *arg, int fd, unsigned revents)
{
	struct ws_conn *c = arg;

	(void)fd;
	(void)revents;
	enter(c);
	if (on_ready[c->state])
		on_ready[c->state](c);
	leave(c);
}

/* Open and quiet for ping_ms: a ping; then no byte for pong_ms: dead.
 * Bytes do not re-arm the timer (that would be a heap operation per
 * read); the timer looks at last_rx when it fires. */
static void keepalive(struct ws_conn *c)
{
	uint64_t t = now_ms(c), quiet = (uint64_t)c->conf.ping_ms;

	if (c->timer_name == T_PONG && c->last_rx < c->ping_at) {
		fail(c, WS_CLOSE_ABNORMAL, "keep-alive: no answer to a ping "
		     "in %d ms", c->conf.pong_ms);
		return;
	}
	if (t < c->last_rx + quiet) {
		arm(c, T_PING, c->last_rx + quiet);
		return;
	}
	(void)q_frame(c, WS_OP_PING, "", 0);    /* full: the pong deadline
	                                         * still runs */
	c->ping_at = t;
	arm(c, T_PONG, t + (uint64_t)c->conf.pong_ms);
}

static void timer_fired(void *arg)
{
	struct ws_conn *c = arg;

	enter(c);
	if (c->state == WS_CLOSED) {
		if (c->report_due)
			report(c);
	} else if (c->state == WS_OPEN) {
		keepalive(c);
	} else if (c->state == WS_RESOLVE && c->dns_err) {
		fail(c, WS_CLOSE_ABNORMAL, "dns: %s", err_str(c->dns_err));
	} else if (c->state == WS_CONNECT && c->ai < c->naddrs &&
	           now_ms(c) < c->connect_deadline) {
		dial_next(c, ERR_TIMEOUT);
	} else {
		fail(c, WS_CLOSE_ABNORMAL, "%s deadline passed", c->timer_name);
	}
	leave(c);
}

/* ---------------------------------------------------------------- API */

static void free_now(struct ws_conn *c)
{
	/* The queue held the opening request, bearer and all. */
	ws_q_free(&c->q, c->req_len);
	free(c->msg);
	free(c);
}

static int ms_or(int v, int dflt)
{
	return v > 0 ? v : dflt;
}

/* Copies the configuration with its defaults and gets the buffers. */
static int setup(struct ws_conn *c, const struct ws_conf *conf)
{
	size_t mcap = conf->msg_cap ? conf->msg_cap : LIM_WS_MSG, qcap;

	c->conf = *conf;
	c->conf.url = c->url;
	c->conf.bearer = NULL;
	c->conf.connect_ms = ms_or(conf->connect_ms, WS_CONNECT_MS);
	c->conf.handshake_ms = ms_or(conf->handshake_ms, WS_HANDSHAKE_MS);
	c->conf.close_ms = ms_or(conf->close_ms, WS_CLOSE_MS);
	c->conf.ping_ms = conf->ping_ms < 0 ? -1 :
	                  ms_or(conf->ping_ms, WS_PING_MS);
	c->conf.pong_ms = ms_or(conf->pong_ms, WS_PONG_MS);
	c->io = conf->io ? conf->io : &http_io_sockets;
	qcap = conf->sendq_cap ? conf->sendq_cap : LIM_WS_SENDQ;
	if (qcap < LIM_WS_SENDQ_MIN)
		qcap = LIM_WS_SENDQ_MIN;
	c->msg = malloc(mcap);
	if (ws_q_init(&c->q, qcap) || !c->msg)
		return ERR_NOMEM;
	ws_reader_init(&c->rd, c->msg, mcap);
	c->rnd_pos = sizeof c->rnd;             /* empty: filled on use */
	return 0;
}

/* The key and the opening request, queued: it goes out first. */
static int request(struct ws_conn *c, const char *bearer)
{
	uint8_t nonce[WS_NONCE_LEN];
	int n;

	if (getrandom(nonce, sizeof nonce, GRND_NONBLOCK) !=
	    (ssize_t)sizeof nonce)
		return ERR_IO;
	n = ws_key_make(&c->key, nonce);
	if (n == 0)
		n = ws_handshake_write((char *)c->q.buf, c->q.cap, &c->u,
		                       &c->key, bearer);
	if (n < 0)
		return n;
	ws_q_put(&c->q, (size_t)n);
	c->req_len = (size_t)n;
	return 0;
}

int ws_conn_open(struct ws_conn **out, struct loop *l, struct dns *d,
                 struct tls_ctx *t, const struct ws_conf *conf)
{
	struct ws_conn *c;
	int r;

	*out = NULL;
	if (!conf->url || !conf->on_close)
		return ERR_INVAL;
	if (strlen(conf->url) > LIM_HTTP_URL)
		return ERR_TOOBIG;
	c = calloc(1, sizeof *c);
	if (!c)
		return ERR_NOMEM;
	c->l = l;
	c->dns = d;
	c->tctx = t;
	c->fd = -1;
	loop_timer_init(&c->timer, timer_fired, c);
	memcpy(c->url, conf->url, strlen(conf->url) + 1);
	r = url_parse_ws(&c->u, c->url);
	if (r == 0 && c->u.tls && !t)
		r = ERR_TLS;
	if (r == 0)
		r = setup(c, conf);
	if (r == 0)
		r = request(c, conf->bearer);
	if (r) {
		free_now(c);
		return r;
	}
	c->connect_deadline = now_ms(c) + (uint64_t)c->conf.connect_ms;
	ws_set(c, WS_RESOLVE);
	r = dns_resolve(d, &c->dq, c->u.host, dns_done, c);
	if (r < 0) {
		/* Reported from the loop, never from inside this call. */
		c->dns_err = r;
		arm(c, "resolve", now_ms(c));
	}
	*out = c;
	return 0;
}

int ws_conn_send(struct ws_conn *c, const char *text, size_t len)
{
	if (c->state == WS_CLOSING || c->state == WS_CLOSED)
		return ERR_CLOSED;
	if (c->state != WS_OPEN)
		return ERR_INVAL;
	return q_frame(c, WS_OP_TEXT, text, len);
}

int ws_conn_close(struct ws_conn *c, int code, const char *why)
{
	char probe[WS_HDR_MAX + WS_CTL_MAX];
	static const uint8_t zero[4];
	size_t wl = why ? strlen(why) : 0;
	int r;

	if (c->state == WS_CLOSED)
		return ERR_CLOSED;
	if (!ws_close_code_ok(code))
		return ERR_INVAL;
	r = ws_close_write(probe, sizeof probe, code, why, wl, zero);
	if (r < 0)
		return r;
	if (c->state == WS_CLOSING)
		return 0;
	if (c->state == WS_OPEN) {
		start_close(c, code, wl ? why : "", 0);
		return 0;
	}
	/* Not open yet: nothing to tell the server; reported from the
	 * loop. */
	note(c, code, wl ? why : "closed by us");
	stop_io(c);
	ws_set(c, WS_CLOSED);
	c->report_due = 1;
	arm(c, "report", now_ms(c));
	return 0;
}

void ws_conn_free(struct ws_conn *c)
{
	if (!c)
		return;
	stop_io(c);
	if (c->state != WS_CLOSED)
		ws_set(c, WS_CLOSED);
	c->freed = 1;
	if (c->busy == 0)
		free_now(c);
}

void ws_conn_yield(struct ws_conn *c)
{
	c->yield = 1;
}

enum ws_state ws_conn_state(const struct ws_conn *c)
{
	return c->state;
}

size_t ws_conn_queued(const struct ws_conn *c)
{
	return ws_q_len(&c->q);
}
