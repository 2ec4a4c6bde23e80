/*
 * http_int: what http.c (requests, pool, API) and http_conn.c (the
 * connection state machine) share. Not for other modules.
 */
#ifndef LETTAMX_HTTP_INT_H
#define LETTAMX_HTTP_INT_H

#include "net/http.h"
#include "core/limits.h"

enum conn_state {
	C_RESOLVE, C_CONNECT, C_HANDSHAKE, C_SEND, C_HEAD, C_BODY, C_IDLE,
	C_CLOSED,
};

struct http_origin {
	int tls;
	uint16_t port;
	char host[LIM_HTTP_HOST + 1];
	struct http_conn *conns;        /* open connections */
	int nconns;
	/* Idle connections free for a request (not delivering), the most
	 * recently freed first: taking one is O(1) however wide the pool
	 * (Letta's is max_turns + 8), and the warmest is reused. */
	struct http_conn *idle;
	int nidle;
	int cap;                        /* 0: the client's per_origin */
	struct http_req *qhead, *qtail; /* waiting for a connection */
	struct tls_session *session;    /* for resumption */
};

struct http_conn {
	struct http_client *cl;
	struct http_origin *o;
	struct http_conn *next, *prev;  /* in o->conns */
	struct http_conn *idle_next, *idle_prev;  /* in o->idle */
	int linked;                     /* in o->conns */
	int in_idle;                    /* in o->idle */
	enum conn_state state;
	int fd;
	unsigned interest;
	struct tls_conn *tls;
	struct dns_query q;
	struct dns_addr addrs[DNS_ADDRS_MAX];
	size_t naddrs, ai;              /* addresses, the one being tried */
	struct http_req *req;           /* the request it serves */
	int reused;                     /* a response was read before */
	int got_bytes;                  /* of the current response */
	int delivering;                 /* completion callback running */
	uint64_t connect_deadline;
	int pending_err;                /* reported by the timer */
	struct loop_timer timer;
	const char *timer_name;
	size_t wpos;                    /* of the request being sent */
	struct httpp_head head;
	struct httpp_body body;
	int keepalive;
	size_t rlen, head_len;
	char rbuf[LIM_HTTP_HEAD + LIM_HTTP_RBUF];
};

struct http_client {
	struct loop *l;
	struct dns *dns;
	struct tls_ctx *tls;
	const struct http_io *io;
	int per_origin;
	int keepalive_ms;
	struct http_origin *origins[LIM_HTTP_ORIGINS];
	size_t norigins;
	struct http_stats stats;
	struct http_conn *dead;         /* closed, freed at end of pass */
	int closing;                    /* http_client_free() running */
	struct loop_defer reap;
};

static inline int64_t http_deadline_ms(int v, int dflt)
{
	return v > 0 ? v : dflt;
}

static inline uint64_t http_now(const struct http_client *cl)
{
	return loop_now(cl->l);
}

/* http_conn.c */
struct http_conn *http_conn_new(struct http_origin *o,
                                struct http_client *cl);
/* Gives `r` to `c` (new, or idle: then sent when the loop says
 * writable, never from inside the caller's call). */
void http_conn_attach(struct http_conn *c, struct http_req *r);
/* Starts resolving and connecting a new connection. */
void http_conn_start(struct http_conn *c);
/* Closes now, frees at the end of the pass. */
void http_conn_close(struct http_conn *c);
/* Frees closed connections; `arg` is the client. */
void http_conn_reap(void *arg);
/* An idle connection of `o` free for a request (the most recently
 * freed), or NULL. */
struct http_conn *http_origin_idle(struct http_origin *o);

/* http.c */
/* Completes `r` and runs its callback last; `c` holds its head or is
 * NULL. */
void http_req_finish(struct http_req *r, int err, const char *why,
                     struct http_conn *c);
/* Gives queued requests connections while the cap allows. */
void http_origin_pump(struct http_origin *o);
void http_queue_push(struct http_origin *o, struct http_req *r, int front);

#endif
