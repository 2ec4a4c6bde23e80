/*
 * ws_conn: one WebSocket connection (client side) on the loop, for
 * Letta's App Server.
 *
 *   resolve -> connect -> [tls] -> handshake -> open -> closing -> closed
 *
 * An explicit state machine with one setter that logs each transition
 * and arms the one timer that guards the new state: "connect" (resolve,
 * TCP and TLS), "handshake" (request sent -> 101), "ping"/"pong" (while
 * open: quiet for ping_ms -> a ping; then no byte for pong_ms -> closed)
 * and "close" (the closing handshake). The bytes go through the same
 * layers as HTTP: the resolver (dns), the socket seam (struct http_io,
 * which tests replace) and TLS (verified unless the tls_ctx says
 * otherwise); the protocol is in ws (sans-I/O).
 *
 * Sending is queued: frames are masked and framed into a bounded queue
 * and written when the loop says the socket is writable. A send that
 * would pass the cap fails (ERR_AGAIN: try later; ERR_TOOBIG: never
 * fits); the queue never grows. Room is kept for pongs and the close.
 *
 * Callbacks never run from inside a ws_conn_* call, only from the loop.
 * on_close runs exactly once per opened connection (also when it never
 * opened); nothing runs after it. Reconnecting is the caller's job.
 * ws_conn_free() is safe from inside a callback: the connection stops at
 * once and its memory is freed when the loop's call returns.
 */
#ifndef LETTAMX_WS_CONN_H
#define LETTAMX_WS_CONN_H

#include <stddef.h>

#include "core/loop.h"
#include "net/dns.h"
#include "net/http.h"
#include "net/ws.h"

struct tls_ctx;
struct ws_conn;

/* Built-in deadlines (ms) for connections that do not set their own. */
#define WS_CONNECT_MS       10000   /* resolve + TCP + TLS handshake */
#define WS_HANDSHAKE_MS     10000   /* request sent -> 101 read */
#define WS_PING_MS          30000   /* quiet this long: we ping */
#define WS_PONG_MS          10000   /* then no byte this long: closed */
#define WS_CLOSE_MS          5000   /* our close -> the server hangs up */
#define WS_ADDR_ATTEMPT_MS   2500   /* one of several addresses */

enum ws_state {
	WS_RESOLVE, WS_CONNECT, WS_TLS, WS_HANDSHAKE, WS_OPEN, WS_CLOSING,
	WS_CLOSED,
};

struct ws_conf {
	const char *url;        /* ws:// or wss://; copied */
	const char *bearer;     /* API key sent as a Bearer token, or NULL;
	                         * copied, wiped when freed, never logged */
	int connect_ms, handshake_ms, close_ms;    /* 0 = built-in */
	int ping_ms, pong_ms;   /* 0 = built-in; ping_ms < 0: no pings */
	size_t msg_cap;         /* largest message taken; 0 = LIM_WS_MSG */
	size_t sendq_cap;       /* 0 = LIM_WS_SENDQ; raised to
	                         * LIM_WS_SENDQ_MIN */
	/* The server's handshake was right; sends may start. */
	void (*on_open)(void *arg);
	/* A whole text message (valid UTF-8), valid during the call. */
	void (*on_message)(void *arg, const char *text, size_t len);
	/* The end: `code` is the server's close code (1005: it gave none),
	 * ours when we closed (ws_conn_close, or 1002/1003/1007/1009 when
	 * the server broke the protocol), 1006 when the connection failed
	 * or dropped, 1015 when TLS failed; `why` says what happened
	 * (valid during the call). */
	void (*on_close)(void *arg, int code, const char *why);
	void *arg;
	const struct http_io *io;       /* NULL = http_io_sockets; kept */
};

/* Starts connecting to conf->url. `t` may be NULL (then wss:// fails
 * with ERR_TLS); `l`, `d`, `t` and conf->io must outlive the
 * connection. Returns 0 with the connection in `*out`, ERR_INVAL (bad
 * URL or no on_close), ERR_TOOBIG (URL or bearer too long), ERR_TLS,
 * ERR_IO (no randomness for the key), ERR_NOMEM; no callback runs then. */
int ws_conn_open(struct ws_conn **out, struct loop *l, struct dns *d,
                 struct tls_ctx *t, const struct ws_conf *conf);

/* Queues text[0..len) as one text message. Returns 0, ERR_AGAIN (the
 * queue is full: try again when it drained), ERR_TOOBIG (larger than
 * the queue can ever hold), ERR_UTF8, ERR_INVAL (not open yet),
 * ERR_CLOSED (closing or closed), ERR_IO (no randomness for the mask). */
int ws_conn_send(struct ws_conn *c, const char *text, size_t len);

/* Starts the closing handshake with `code` (a code that may be sent)
 * and `why` (may be NULL; at most WS_REASON_MAX bytes of UTF-8).
 * on_close(code, why) follows when the server has answered and hung up
 * (or after close_ms); before the connection opened, at once from the
 * loop. Messages that arrive meanwhile are dropped. Returns 0 (also when already closing), ERR_INVAL (bad code or
 * reason), ERR_UTF8, ERR_CLOSED (already closed). */
int ws_conn_close(struct ws_conn *c, int code, const char *why);

/* Drops the connection without a callback and frees it (from inside a
 * callback: when that callback has returned). NULL is fine. */
void ws_conn_free(struct ws_conn *c);

/* From inside on_message: the messages already read after this one wait
 * for the next pass of the loop, after it has polled. A reader whose
 * message made work that should leave at once (an answer to send) lets
 * the loop commit and write it before the rest is read. */
void ws_conn_yield(struct ws_conn *c);

enum ws_state ws_conn_state(const struct ws_conn *c);

/* Bytes waiting in the send queue (0 when everything was written). */
size_t ws_conn_queued(const struct ws_conn *c);

#endif
