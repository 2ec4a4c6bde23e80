/*
 * http_conn: one HTTP/1.1 connection as a state machine.
 *
 *   resolve -> connect -> [handshake] -> send -> head -> body -> idle
 *                                          ^-------------------'
 * One function per state (st_*), driven by conn_io() from the loop; every
 * transition goes through conn_set(), which logs it at debug level and
 * arms the timer guarding the new state (connect, first byte, idle,
 * keep-alive). Reads drain the socket (and mbedTLS) until ERR_AGAIN.
 *
 * Retry rule: a request sent on a reused connection that sees no response
 * byte before the connection fails is sent once more on a fresh
 * connection; servers close idle connections whenever they like (Letta
 * after ~5 s) and our request may cross their FIN.
 */
#include "net/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"
#include "net/tls.h"

static const char *const state_names[] = {
	"resolve", "connect", "handshake", "send", "head", "body", "idle",
	"closed",
};

static void conn_set(struct http_conn *c, enum conn_state s);
static void conn_fail(struct http_conn *c, int err, const char *why);
static void next_address(struct http_conn *c, int err);

/* ---------------------------------------------------------------- helpers */

static void conn_arm(struct http_conn *c, const char *name, uint64_t at)
{
	c->timer_name = name;
	loop_timer_arm(c->cl->l, &c->timer, at);
}

static void conn_wait(struct http_conn *c, unsigned dir)
{
	if (c->fd >= 0 && c->interest != dir) {
		c->interest = dir;
		loop_fd_set(c->cl->l, c->fd, dir);
	}
}

/* Reads or writes through TLS when the origin is https. */
static int conn_read(struct http_conn *c, void *buf, size_t n)
{
	if (c->tls)
		return tls_read(c->tls, buf, n);
	return c->cl->io->read(c->cl->io->ctx, c->fd, buf, n);
}

static int conn_write(struct http_conn *c, const void *buf, size_t n)
{
	if (c->tls)
		return tls_write(c->tls, buf, n);
	return c->cl->io->write(c->cl->io->ctx, c->fd, buf, n);
}

/* Poll direction after ERR_AGAIN: TLS may want the other one. */
static unsigned again_dir(const struct http_conn *c, unsigned plain)
{
	return c->tls ? tls_want(c->tls) : plain;
}

static void log_state(const struct http_conn *c, enum conn_state s)
{
	LOG_DEBUG("http", "event=state conn=%p origin=%s:%u from=%s to=%s",
	          (const void *)c, c->o->host, c->o->port,
	          state_names[c->state], state_names[s]);
}

/* ---------------------------------------------------------------- closing */

/* Frees the connections closed during the pass (deferred: one of them
 * may be the connection whose callback closed it). */
void http_conn_reap(void *arg)
{
	struct http_client *cl = arg;

	while (cl->dead) {
		struct http_conn *c = cl->dead;

		cl->dead = c->next;
		free(c);
	}
}

/* ---------------------------------------------------------------- pool */

/* Both lists are doubly linked: a connection leaves them in O(1), with
 * a thousand connections to Letta. */
static void origin_unlink(struct http_conn *c)
{
	struct http_origin *o = c->o;

	if (!c->linked)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		o->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	c->linked = 0;
	o->nconns--;
}

/* Offers an idle connection to the next request (the front: warmest). */
static void idle_push(struct http_conn *c)
{
	struct http_origin *o = c->o;

	if (c->in_idle)
		return;
	c->idle_prev = NULL;
	c->idle_next = o->idle;
	if (o->idle)
		o->idle->idle_prev = c;
	o->idle = c;
	c->in_idle = 1;
	o->nidle++;
}

static void idle_drop(struct http_conn *c)
{
	struct http_origin *o = c->o;

	if (!c->in_idle)
		return;
	if (c->idle_prev)
		c->idle_prev->idle_next = c->idle_next;
	else
		o->idle = c->idle_next;
	if (c->idle_next)
		c->idle_next->idle_prev = c->idle_prev;
	c->idle_next = c->idle_prev = NULL;
	c->in_idle = 0;
	o->nidle--;
}

struct http_conn *http_origin_idle(struct http_origin *o)
{
	return o->idle;
}

/* Closes the connection now and frees it at the end of the pass. Its
 * request, if any, must have been detached or finished. */
void http_conn_close(struct http_conn *c)
{
	struct http_client *cl = c->cl;

	if (c->state == C_CLOSED)
		return;
	log_state(c, C_CLOSED);
	c->state = C_CLOSED;
	if (cl->dns)
		dns_cancel(cl->dns, &c->q);
	loop_timer_cancel(cl->l, &c->timer);
	if (c->fd >= 0) {
		loop_fd_del(cl->l, c->fd);
		cl->io->close(cl->io->ctx, c->fd);
		c->fd = -1;
	}
	tls_conn_free(c->tls);
	c->tls = NULL;
	idle_drop(c);
	origin_unlink(c);
	c->next = cl->dead;
	cl->dead = c;
	loop_defer(cl->l, &cl->reap, http_conn_reap, cl);
}

/* ---------------------------------------------------------------- failing */

/* A failure that may be retried: the request went out on a reused
 * connection and nothing came back. */
static int retryable(const struct http_conn *c, int err)
{
	return c->req && c->reused && !c->got_bytes && !c->req->p.retried &&
	       !c->req->no_replay &&
	       (err == ERR_CLOSED || err == ERR_IO) &&
	       (c->state == C_SEND || c->state == C_HEAD);
}

static void conn_fail(struct http_conn *c, int err, const char *why)
{
	struct http_req *r = c->req;
	struct http_origin *o = c->o;

	if (!r) {
		http_conn_close(c);
		return;
	}
	if (retryable(c, err)) {
		LOG_DEBUG("http", "event=retry host=%s reason=\"%s\"", o->host,
		          why);
		c->cl->stats.retries++;
		c->req = NULL;
		r->p.conn = NULL;
		r->p.retried = 1;
		http_conn_close(c);
		http_queue_push(o, r, 1);
		http_origin_pump(o);
		return;
	}
	http_req_finish(r, err, why, NULL);
	http_origin_pump(o);
}

static void timer_fired(void *arg)
{
	struct http_conn *c = arg;
	char why[64];

	if (c->state == C_IDLE) {
		http_conn_close(c);          /* keep-alive time is over */
		http_origin_pump(c->o);
		return;
	}
	if (c->pending_err) {
		conn_fail(c, c->pending_err, "dns: invalid name");
		return;
	}
	if (c->state == C_CONNECT && c->ai < c->naddrs &&
	    http_now(c->cl) < c->connect_deadline) {
		next_address(c, ERR_TIMEOUT);
		return;
	}
	snprintf(why, sizeof why, "%s deadline passed", c->timer_name);
	conn_fail(c, ERR_TIMEOUT, why);
}

/* ---------------------------------------------------------------- states */

static int req_ms(const struct http_conn *c, int which)
{
	const struct http_req *r = c->req;

	switch (which) {
	case 0:
		return (int)http_deadline_ms(r ? r->connect_ms : 0, HTTP_CONNECT_MS);
	case 1:
		return (int)http_deadline_ms(r ? r->first_byte_ms : 0,
		                        HTTP_FIRST_BYTE_MS);
	default:
		return (int)http_deadline_ms(r ? r->idle_ms : 0, HTTP_IDLE_MS);
	}
}

/* The one place a connection changes state; it also arms the timer that
 * guards the new state. */
static void conn_set(struct http_conn *c, enum conn_state s)
{
	uint64_t t = http_now(c->cl);

	log_state(c, s);
	if (s != C_IDLE)
		idle_drop(c);           /* taken, or failing */
	c->state = s;
	switch (s) {
	case C_RESOLVE:
	case C_CONNECT:
	case C_HANDSHAKE:
		conn_arm(c, "connect", c->connect_deadline);
		break;
	case C_SEND:
		conn_arm(c, "first byte", t + (uint64_t)req_ms(c, 1));
		break;
	case C_HEAD:
		break;          /* still the first-byte deadline */
	case C_BODY:
		conn_arm(c, "idle", t + (uint64_t)req_ms(c, 2));
		break;
	case C_IDLE:
		conn_arm(c, "keep-alive", t + (uint64_t)c->cl->keepalive_ms);
		break;
	case C_CLOSED:
		break;
	}
}

static void got_bytes(struct http_conn *c)
{
	c->got_bytes = 1;
	conn_arm(c, "idle", http_now(c->cl) + (uint64_t)req_ms(c, 2));
}

static int tls_send_cb(void *io, const unsigned char *buf, size_t len)
{
	struct http_conn *c = io;

	return c->cl->io->write(c->cl->io->ctx, c->fd, buf, len);
}

static int tls_recv_cb(void *io, unsigned char *buf, size_t len)
{
	struct http_conn *c = io;

	return c->cl->io->read(c->cl->io->ctx, c->fd, buf, len);
}

static void st_send(struct http_conn *c)
{
	struct http_req *r = c->req;

	while (c->wpos < r->p.wlen + r->p.wdirect) {
		/* the serialised head, then a big body from the caller's
		 * buffer: the same pointer and length for a position, as a
		 * retried TLS write needs */
		const char *at = c->wpos < r->p.wlen ? r->p.wbuf + c->wpos :
		                 r->body + (c->wpos - r->p.wlen);
		size_t len = c->wpos < r->p.wlen ? r->p.wlen - c->wpos :
		             r->p.wlen + r->p.wdirect - c->wpos;
		int n = conn_write(c, at, len);

		if (n == ERR_AGAIN) {
			/* Retried with the same pointer and length. */
			conn_wait(c, again_dir(c, LOOP_WRITE));
			return;
		}
		if (n < 0) {
			conn_fail(c, n, "send failed");
			return;
		}
		c->wpos += (size_t)n;
	}
	conn_set(c, C_HEAD);
	conn_wait(c, LOOP_READ);
}

static void st_handshake(struct http_conn *c)
{
	char why[LIM_TLS_REASON];
	int r = tls_handshake(c->tls);

	if (r == ERR_AGAIN) {
		conn_wait(c, tls_want(c->tls));
		return;
	}
	if (r < 0) {
		snprintf(why, sizeof why, "tls: %s", tls_reason(c->tls));
		conn_fail(c, r, why);
		return;
	}
	tls_session_take(c->tls, &c->o->session);
	conn_set(c, C_SEND);
	st_send(c);
}

static void connected(struct http_conn *c)
{
	if (!c->o->tls) {
		conn_set(c, C_SEND);
		st_send(c);
		return;
	}
	c->tls = tls_conn_new(c->cl->tls, c->o->host, c->o->session,
	                      tls_send_cb, tls_recv_cb, c);
	if (!c->tls) {
		conn_fail(c, ERR_NOMEM, "tls setup failed");
		return;
	}
	conn_set(c, C_HANDSHAKE);
	st_handshake(c);
}

static void conn_io(void *arg, int fd, unsigned revents);

/* Tries the addresses from c->ai on; fails the connection when none
 * accepts. */
/* With more addresses left, one address gets only a slice of the connect
 * deadline: an AAAA record on a host whose IPv6 route is a black hole
 * must not eat the whole budget before IPv4 is tried. */
static void arm_attempt(struct http_conn *c)
{
	uint64_t t = http_now(c->cl), slice = (uint64_t)req_ms(c, 0) / 2;

	if (slice > HTTP_ADDR_ATTEMPT_MS)
		slice = HTTP_ADDR_ATTEMPT_MS;
	if (c->ai < c->naddrs && t + slice < c->connect_deadline)
		conn_arm(c, "connect attempt", t + slice);
	else
		conn_arm(c, "connect", c->connect_deadline);
}

static void try_connect(struct http_conn *c, int err)
{
	struct http_client *cl = c->cl;

	while (c->ai < c->naddrs) {
		int fd = cl->io->connect(cl->io->ctx, &c->addrs[c->ai++],
		                         c->o->port);

		if (fd < 0) {
			err = fd;
			continue;
		}
		if (loop_fd_add(cl->l, fd, LOOP_WRITE, conn_io, c) != 0) {
			cl->io->close(cl->io->ctx, fd);
			err = ERR_NOMEM;
			continue;
		}
		c->fd = fd;
		c->interest = LOOP_WRITE;
		if (c->state != C_CONNECT)
			conn_set(c, C_CONNECT);
		arm_attempt(c);
		return;
	}
	conn_fail(c, err, err == ERR_REFUSED ? "connection refused" :
	          err == ERR_TIMEOUT ? "connect timed out" : "connect failed");
}

/* Gives up on the address being tried and goes on with the next. */
static void next_address(struct http_conn *c, int err)
{
	struct http_client *cl = c->cl;

	loop_fd_del(cl->l, c->fd);
	cl->io->close(cl->io->ctx, c->fd);
	c->fd = -1;
	try_connect(c, err);
}

static void st_connect(struct http_conn *c)
{
	struct http_client *cl = c->cl;
	int r = cl->io->connected(cl->io->ctx, c->fd);

	if (r == 0)
		connected(c);
	else
		next_address(c, r);
}

static void dns_done(void *arg, int err, const struct dns_addr *addrs,
                     size_t n)
{
	struct http_conn *c = arg;
	char why[64];

	if (err || n == 0) {
		snprintf(why, sizeof why, "dns: %s",
		         err ? err_str(err) : "no address");
		conn_fail(c, err == ERR_TIMEOUT ? ERR_TIMEOUT : ERR_DNS, why);
		return;
	}
	if (n > DNS_ADDRS_MAX)
		n = DNS_ADDRS_MAX;
	memcpy(c->addrs, addrs, n * sizeof *addrs);
	c->naddrs = n;
	c->ai = 0;
	try_connect(c, ERR_IO);
}

void http_conn_start(struct http_conn *c)
{
	int r;

	c->connect_deadline = http_now(c->cl) + (uint64_t)req_ms(c, 0);
	conn_set(c, C_RESOLVE);
	r = dns_resolve(c->cl->dns, &c->q, c->o->host, dns_done, c);
	if (r < 0) {
		/* Reported from the loop, never from inside http_request. */
		c->pending_err = r == ERR_INVAL ? ERR_DNS : r;
		conn_arm(c, "resolve", http_now(c->cl));
	}
}

/* Gives request `r` to connection `c` (new, or idle). */
void http_conn_attach(struct http_conn *c, struct http_req *r)
{
	c->req = r;
	r->p.conn = c;
	c->got_bytes = 0;
	c->wpos = 0;
	c->rlen = 0;
	c->head_len = 0;
	c->head.nhdr = 0;
	if (c->state == C_IDLE) {
		/* Sent when the loop says writable: never from inside the
		 * caller's http_request() or callback. */
		conn_set(c, C_SEND);
		conn_wait(c, LOOP_WRITE);
	}
}

/* ---------------------------------------------------------------- response */

static int collect(struct http_conn *c, const char *d, size_t n)
{
	struct http_req *r = c->req;
	size_t cap = r->body_cap ? r->body_cap : LIM_HTTP_BODY, want;
	char *nb;

	if (r->on_body) {
		int rc = r->on_body(r->arg, d, n);

		if (c->req != r || c->state == C_CLOSED)
			return -1;      /* cancelled from the callback */
		if (rc < 0) {
			conn_fail(c, rc, "body callback refused");
			return -1;
		}
		return 0;
	}
	if (n > cap - r->p.body_len) {
		conn_fail(c, ERR_TOOBIG, "response body over its cap");
		return -1;
	}
	if (r->p.body_len + n + 1 > r->p.body_alloc) {
		want = r->p.body_alloc ? r->p.body_alloc * 2 : 4096;
		if (want < r->p.body_len + n + 1)
			want = r->p.body_len + n + 1;
		if (want > cap + 1)
			want = cap + 1;
		nb = realloc(r->p.body, want);
		if (!nb) {
			conn_fail(c, ERR_NOMEM, "out of memory");
			return -1;
		}
		r->p.body = nb;
		r->p.body_alloc = want;
	}
	memcpy(r->p.body + r->p.body_len, d, n);
	r->p.body_len += n;
	r->p.body[r->p.body_len] = '\0';
	return 0;
}

/* Feeds received bytes to the framer. Returns 1 when the body is
 * complete, 0 when more is needed, -1 if the connection failed. */
static int body_feed(struct http_conn *c, const char *p, size_t n)
{
	size_t off = 0;

	while (off < n && !c->body.done) {
		const char *d;
		size_t dl;
		int r = httpp_body_feed(&c->body, p + off, n - off, &d, &dl);

		if (r < 0) {
			conn_fail(c, r, r == ERR_TOOBIG ? "chunk framing too big" :
			          "malformed chunked body");
			return -1;
		}
		off += (size_t)r;
		if (dl && collect(c, d, dl) < 0)
			return -1;
	}
	if (c->body.done && off < n)
		c->keepalive = 0;       /* bytes beyond the body: desync */
	return c->body.done;
}

static void conn_done(struct http_conn *c)
{
	struct http_req *r = c->req;
	struct http_origin *o = c->o;
	int keep = c->keepalive && c->body.framing != HTTPP_CLOSE;

	if (c->tls)
		tls_session_take(c->tls, &o->session);
	c->req = NULL;
	r->p.conn = NULL;
	c->reused = 1;
	if (keep) {
		conn_set(c, C_IDLE);
		conn_wait(c, LOOP_READ);
		c->delivering = 1;
	} else {
		http_conn_close(c);  /* freed after this pass: head still valid */
	}
	http_req_finish(r, 0, NULL, c);
	c->delivering = 0;
	/* Free for a request only now: the head read by the callback was
	 * in its buffer. */
	if (c->state == C_IDLE)
		idle_push(c);
	http_origin_pump(o);
}

static void st_body(struct http_conn *c)
{
	for (;;) {
		int n = conn_read(c, c->rbuf + c->head_len,
		                  sizeof c->rbuf - c->head_len);

		if (n == ERR_AGAIN) {
			conn_wait(c, again_dir(c, LOOP_READ));
			return;
		}
		if (n < 0) {
			conn_fail(c, n, "receive failed");
			return;
		}
		if (n == 0) {
			if (httpp_body_eof(&c->body) != 0) {
				conn_fail(c, ERR_CLOSED,
				          c->body.framing == HTTPP_CHUNKED ?
				          "closed mid-chunk" : "closed mid-body");
				return;
			}
			c->keepalive = 0;
			conn_done(c);
			return;
		}
		got_bytes(c);
		n = body_feed(c, c->rbuf + c->head_len, (size_t)n);
		if (n < 0)
			return;
		if (n == 1) {
			conn_done(c);
			return;
		}
	}
}

static void head_done(struct http_conn *c, size_t len)
{
	const struct http_req *r = c->req;
	size_t cap = r->body_cap ? r->body_cap : LIM_HTTP_BODY;
	int n;

	c->head_len = len;
	if (httpp_body_init(&c->body, &c->head) != 0) {
		conn_fail(c, ERR_PROTO, "invalid Content-Length");
		return;
	}
	c->keepalive = httpp_head_keepalive(&c->head);
	/* Both framings at once: read as chunked (RFC 9112 6.3), but the
	 * stream can no longer be trusted (request smuggling). */
	if (httpp_head_find(&c->head, "transfer-encoding") &&
	    httpp_head_find(&c->head, "content-length"))
		c->keepalive = 0;
	if (!r->on_body && c->body.framing == HTTPP_LENGTH &&
	    c->body.left > cap) {
		conn_fail(c, ERR_TOOBIG, "response body over its cap");
		return;
	}
	conn_set(c, C_BODY);
	n = body_feed(c, c->rbuf + len, c->rlen - len);
	if (n == 1)
		conn_done(c);
	else if (n == 0)
		st_body(c);
}

/* Parses what is buffered. Returns 1 when the head is done or the
 * connection failed, 0 to read more. */
static int head_parse(struct http_conn *c)
{
	int r;

	while (c->rlen > 0) {
		r = httpp_head_parse(&c->head, c->rbuf, c->rlen, LIM_HTTP_HEAD);
		if (r == ERR_AGAIN)
			return 0;
		if (r < 0) {
			conn_fail(c, r, r == ERR_TOOBIG ? "response head too big" :
			          "malformed response head");
			return 1;
		}
		if (c->head.status == 101) {
			conn_fail(c, ERR_PROTO, "unexpected 101");
			return 1;
		}
		if (c->head.status >= 200) {
			head_done(c, (size_t)r);
			return 1;
		}
		/* 1xx: interim, skipped. */
		memmove(c->rbuf, c->rbuf + r, c->rlen - (size_t)r);
		c->rlen -= (size_t)r;
	}
	return 0;
}

static void st_head(struct http_conn *c)
{
	for (;;) {
		int n = conn_read(c, c->rbuf + c->rlen, LIM_HTTP_HEAD - c->rlen);

		if (n == ERR_AGAIN) {
			conn_wait(c, again_dir(c, LOOP_READ));
			return;
		}
		if (n == 0 || n < 0) {
			conn_fail(c, n ? n : ERR_CLOSED, !c->got_bytes ?
			          "closed before the response" :
			          "closed mid-head");
			return;
		}
		got_bytes(c);
		c->rlen += (size_t)n;
		if (head_parse(c))
			return;
	}
}

/* Readable while idle: the server closed (normal) or broke protocol. */
static void st_idle(struct http_conn *c)
{
	char b[64];
	int n = conn_read(c, b, sizeof b);

	if (n == ERR_AGAIN) {
		if (c->tls)
			tls_session_take(c->tls, &c->o->session);
		conn_wait(c, again_dir(c, LOOP_READ));
		return;
	}
	LOG_DEBUG("http", "event=idle_closed host=%s reason=%s", c->o->host,
	          n == 0 ? "eof" : n > 0 ? "unexpected-bytes" : err_str(n));
	http_conn_close(c);
	http_origin_pump(c->o);
}

static void conn_io(void *arg, int fd, unsigned revents)
{
	struct http_conn *c = arg;

	(void)fd;
	(void)revents;
	switch (c->state) {
	case C_CONNECT:
		st_connect(c);
		break;
	case C_HANDSHAKE:
		st_handshake(c);
		break;
	case C_SEND:
		st_send(c);
		break;
	case C_HEAD:
		st_head(c);
		break;
	case C_BODY:
		st_body(c);
		break;
	case C_IDLE:
		st_idle(c);
		break;
	default:
		break;
	}
}

struct http_conn *http_conn_new(struct http_origin *o,
                                  struct http_client *cl)
{
	struct http_conn *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->cl = cl;
	c->o = o;
	c->fd = -1;
	loop_timer_init(&c->timer, timer_fired, c);
	c->next = o->conns;
	if (o->conns)
		o->conns->prev = c;
	o->conns = c;
	c->linked = 1;
	o->nconns++;
	cl->stats.conns_opened++;
	return c;
}
