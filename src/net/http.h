/*
 * http: the non-blocking HTTP/1.1 client of lettamx.
 *
 * One client per process serves every request of the daemon on the loop:
 * a /sync long-poll, slow Letta calls and many short Matrix calls at once.
 * Each origin (scheme, host, port) has a pool of keep-alive connections
 * capped per origin; a request takes an idle connection or opens a new
 * one and holds it alone until its response ends (no pipelining), so a
 * slow request never delays another while the cap allows. Requests wait
 * in a FIFO only when the cap is reached.
 *
 * A connection is a state machine (resolve, connect, TLS handshake, send,
 * read head, read body, idle) with one function per state, transitions
 * through one setter (logged at debug level) and one timer named after
 * the deadline it guards (connect, first byte, idle, keep-alive); each
 * request also has its total deadline.
 *
 * Protocol parsing is in httpp (sans-I/O); sockets are reached through
 * `struct http_io`, which tests replace to inject failures.
 */
#ifndef LETTAMX_HTTP_H
#define LETTAMX_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "net/dns.h"
#include "net/httpp.h"

struct tls_ctx;
struct http_client;

/* Built-in deadlines (ms) for requests that do not set their own. */
#define HTTP_CONNECT_MS     10000   /* resolve + TCP + TLS handshake */
#define HTTP_FIRST_BYTE_MS  60000   /* request sent -> first byte */
#define HTTP_IDLE_MS        60000   /* between two received bytes */
#define HTTP_TOTAL_MS      120000   /* http_request() -> completion */
#define HTTP_ADDR_ATTEMPT_MS 2500   /* one of several addresses: at most
                                     * this (or half the connect deadline)
                                     * before the next is tried */
#define HTTP_KEEPALIVE_MS    4000   /* idle connection kept (Letta
                                     * closes its own after ~5 s) */

/* The socket seam. Every function gets `ctx`. Results are err codes. */
struct http_io {
	/* Starts a non-blocking connect. Returns an fd (O_NONBLOCK |
	 * O_CLOEXEC) whose writability ends the connect, ERR_REFUSED or
	 * ERR_IO. */
	int (*connect)(void *ctx, const struct dns_addr *a, uint16_t port);
	/* The fd became writable: 0 if connected, else ERR_REFUSED,
	 * ERR_TIMEOUT or ERR_IO. */
	int (*connected)(void *ctx, int fd);
	/* > 0 bytes, 0 at end of stream, ERR_AGAIN, ERR_CLOSED, ERR_IO. */
	int (*read)(void *ctx, int fd, void *buf, size_t len);
	/* > 0 bytes, ERR_AGAIN, ERR_CLOSED, ERR_IO. */
	int (*write)(void *ctx, int fd, const void *buf, size_t len);
	void (*close)(void *ctx, int fd);
	void *ctx;
};

/* The real sockets. */
extern const struct http_io http_io_sockets;

struct http_conf {
	int per_origin;         /* connections per origin; 0 = LIM default */
	int keepalive_ms;       /* 0 = HTTP_KEEPALIVE_MS */
	const struct http_io *io;       /* NULL = http_io_sockets; kept */
};

/* A response as the completion callback sees it; everything in it is
 * valid only during the callback. */
struct http_resp {
	int status;             /* 0 if no complete head arrived */
	const struct httpp_head *head;  /* NULL if status is 0 */
	const char *body;       /* collected body ("" when streamed) */
	size_t body_len;
	int64_t retry_after_ms; /* Retry-After as a delay, -1 if none */
	const char *reason;     /* why it failed, for logs; "" if it did
	                         * not */
	const char *where;      /* "host:port" of the request's URL */
};

/* Returns the value of header `name` of `r` (not NUL-terminated; length
 * in `*len`), or NULL. */
const char *http_resp_header(const struct http_resp *r, const char *name,
                             size_t *len);

/* `err`: 0 for a 2xx response, ERR_HTTP for another complete response
 * (see resp->status), or the failure: ERR_DNS, ERR_REFUSED, ERR_TLS,
 * ERR_TIMEOUT, ERR_CLOSED (the server hung up early), ERR_PROTO, ERR_TOOBIG,
 * ERR_IO, or the error a body callback returned. The request is finished
 * when this runs: the callback may free or reuse it. */
typedef void (*http_done_cb)(void *arg, struct http_resp *resp, int err);

/* Streamed body bytes as they arrive (valid during the call). Returns 0
 * to go on, or a negative err code to abort the request with it. */
typedef int (*http_body_cb)(void *arg, const char *data, size_t len);

/* A request, embedded in the caller's object. The caller sets the public
 * fields and keeps every pointer valid until completion or http_cancel;
 * the client owns `p` meanwhile. */
struct http_req {
	const char *method;             /* "GET", "PUT", ... */
	const char *url;                /* absolute http(s) URL */
	const struct httpp_field *hdrs; /* extra request headers */
	size_t nhdrs;
	const char *body;               /* request body, may be NULL */
	size_t body_len;
	int connect_ms, first_byte_ms, idle_ms, total_ms;   /* 0 = built-in */
	size_t body_cap;                /* collected body cap; 0 = LIM */
	http_body_cb on_body;           /* set: stream instead of collect */
	http_done_cb on_done;
	void *arg;                      /* for on_body and on_done */
	int no_replay;                  /* never re-sent on a fresh connection
	                                 * after a kept one closed unanswered:
	                                 * for requests that are not
	                                 * idempotent (a Letta turn) */

	struct http_req_priv {          /* private */
		struct http_client *cl;
		struct http_origin *origin;
		struct http_conn *conn;
		struct http_req *next;  /* in the origin's queue */
		struct http_req *prev;
		int queued;             /* in the origin's queue */
		struct loop_timer total;
		int active;
		int retried;            /* already retried on a fresh conn */
		char *wbuf;             /* serialised request: the head, and
		                         * the body unless it is big */
		size_t wlen;
		size_t wdirect;         /* body bytes sent from `body` itself
		                         * after wbuf (a big body, e.g. a
		                         * picture, is not copied) */
		char *body;             /* collected body */
		size_t body_len, body_alloc;
		uint64_t started;
		struct url url;
		char reason[LIM_TLS_REASON];
		char where[LIM_HTTP_HOST + 10];
	} p;
};

/* Creates a client on `l`. `d` resolves host names; `t` (may be NULL:
 * then https URLs fail with ERR_TLS) verifies servers; `conf` may be
 * NULL. Nothing is owned. Returns NULL on allocation failure. */
struct http_client *http_client_new(struct loop *l, struct dns *d,
                                    struct tls_ctx *t,
                                    const struct http_conf *conf);

/* Caps the connections to the origin of `url` at `cap` (> 0) instead of
 * the client's per_origin: for a server where each request may be held
 * for long (Letta turns), while other origins keep the small default (a
 * thousand parallel connections cost a thread-per-connection server far
 * more than a short queue costs us). Returns 0, ERR_INVAL (bad URL or
 * cap), ERR_TOOBIG (too many origins), ERR_NOMEM. */
int http_client_origin_cap(struct http_client *c, const char *url, int cap);

/* Closes every connection; requests still queued or in flight get no
 * callback. Not from inside an http callback. */
void http_client_free(struct http_client *c);

/* Starts `req`. Returns 0 (the callback will run exactly once, never
 * from inside this call), or ERR_INVAL (bad URL, method or header; no
 * callback), ERR_TOOBIG (URL or request head too long, or too many
 * origins), ERR_TLS (https without a TLS context), ERR_NOMEM. */
int http_request(struct http_client *c, struct http_req *req);

/* Cancels `req` wherever it is; its callbacks never run afterwards and a
 * connection it was using is closed. Harmless if not active. */
void http_cancel(struct http_client *c, struct http_req *req);

/* The first real cause of a failed request, for the last line of a
 * failed command: what went wrong, where, and what to do. `err`,
 * `reason` and `where` are the completion's (err not 0 or ERR_HTTP);
 * `ca_key` names
 * the setting that trusts a CA ("[matrix] ca_file"). E.g. "the TLS
 * certificate of matrix.example.org:443 is not trusted (self-signed or
 * unknown CA): set [matrix] ca_file to the CA that signed it, or fix the
 * certificate". */
void http_explain(int err, const char *reason, const char *where,
                  const char *ca_key, char *out, size_t cap);

/* Counters for tests and operators. */
struct http_stats {
	uint64_t conns_opened;
	uint64_t conns_reused;          /* requests sent on a kept conn */
	uint64_t retries;               /* retried on a fresh connection */
	uint64_t requests_done;
};
const struct http_stats *http_stats(const struct http_client *c);

/* Checks the pool of the origin of `url` (tests): the connection list,
 * its count, the idle list (every idle, not delivering connection, and
 * only those) and the queue links. Sets *open and *idle. Returns 0, or
 * ERR_CORRUPT naming nothing (a broken invariant), ERR_NOTFOUND (no such
 * origin yet) or ERR_INVAL (bad URL). */
int http_pool_check(const struct http_client *c, const char *url,
                    int *open, int *idle);

#endif
