/*
 * letta_appsrv: what letta_appsrv.c (the connection, the runtimes and the
 * operations) and letta_appsrv_frames.c (what the server says) share.
 * Not for other modules: the bridge sees lapi.h.
 */
#ifndef LETTAMX_LETTA_APPSRV_H
#define LETTAMX_LETTA_APPSRV_H

#include <stddef.h>
#include <stdint.h>

#include "core/ident.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/loop.h"
#include "letta/lapi.h"
#include "letta/letta_app.h"

#define APPSRV_RID 24           /* "r" + a counter */

enum { AS_DOWN, AS_CONNECTING, AS_READY };
enum { RT_NONE, RT_STARTING, RT_READY };
enum { OP_SEND, OP_LOOK, OP_GOING, OP_CANCEL, OP_NONE, OP_RESET };
/* An operation waits for the connection and its runtime, then for its
 * answer. */
enum { ST_WAIT, ST_SENT };
enum { ACC_STARTED = 1, ACC_QUEUED = 2 };
/* A reset looks for the conversation an earlier try made, then makes
 * one. */
enum { RESET_FIND, RESET_MAKE };

struct appsrv;

/* A runtime on the server: one conversation of an agent ("default", or
 * the one a room talks in since its !reset), to which this connection is
 * subscribed once started. One is kept per conversation used. */
struct art {
	struct art *next;
	char agent[IDENT_AGENT_ID_MAX + 1];
	char conv[LIM_LETTA_APP_ID];
	int state;                      /* RT_* */
	char rid[APPSRV_RID];           /* of its runtime_start */
	int idle;                       /* the loop waits for input */
	struct aop *turn;               /* the send whose news comes now */
	int asking;                     /* a tool call waits for approval */
	char tool[128];                 /* ... this one */
	char delta[LIM_LETTA_APP_ID];   /* the assistant message being
	                                 * added to */
	char sent[LIM_LETTA_APP_ID];    /* the id of the last input sent */
	char finished[LIM_LETTA_APP_ID];        /* ... whose turn_finished
	                                         * this connection saw */
	char cut[LIM_LETTA_APP_ID];     /* a try whose connection dropped
	                                 * before its turn finished: the
	                                 * server cancelled it (kept across
	                                 * connections) */
};

struct aop {
	struct aop *prev, *next;        /* s->ops, oldest first */
	struct appsrv *s;
	int kind, stage;                /* OP_*, ST_* */
	char rid[APPSRV_RID];
	char agent[IDENT_AGENT_ID_MAX + 1];
	char conv[LIM_LETTA_APP_ID];    /* its conversation ("default") */
	int phase;                      /* reset: RESET_* */
	lapi_done done;
	void *arg;
	const struct lapi_events *ev;
	struct letta_reply *rep;        /* made on the first news */
	char *text;                     /* send: the message; reset: the
	                                 * new conversation's summary
	                                 * (owned) */
	size_t text_len;
	/* send with a picture: its input frame, made when the operation
	 * is (the picture is the caller's only until then), freed once
	 * the send queue took it */
	char *frame;
	size_t frame_len;
	char cmid[LIM_LETTA_APP_ID];    /* send: this try's id; look: the
	                                 * question's */
	int approval;
	int stream;                     /* the owner reads the news */
	int accepted;                   /* send: 0 not yet, ACC_STARTED (the
	                                 * turn's news is ours), ACC_QUEUED
	                                 * (a turn before it runs first) */
	int running;                    /* the server's loop ran it: its
	                                 * turn_finished is its own */
	char call_id[LIM_LETTA_APP_ID];
	char run_id[LIM_LETTA_APP_ID];
	struct loop_timer t_dead;       /* the operation's deadline */
};

struct appsrv {
	struct lapi base;
	struct loop *loop;
	struct dns *dns;
	struct tls_ctx *tls;
	char url[LIM_HTTP_URL];
	char bearer[LIM_STORE_SECRET];
	char mode[16];
	void (*lapsed)(void *arg, const char *agent_id, const char *tool);
	void *hook_arg;
	size_t img_max;                 /* lapi_app_conf.img_max */
	struct ws_conn *ws;
	int state;                      /* AS_* */
	int tries;                      /* connections failed in a row */
	struct loop_timer t_retry;
	struct loop_defer d_pump;
	struct loop_timer t_full;       /* the send queue was full: pump
	                                 * again once it had time to drain */
	int full;
	int stopped;
	uint64_t seq;                   /* request ids */
	struct json j;
	struct letta_app_frame *f;      /* one, on the heap: it is large */
	char *out;                      /* a command being written */
	struct aop *ops, *ops_tail;
	struct art *rts;
};

/* letta_appsrv.c */
struct art *appsrv_rt(struct appsrv *s, const char *agent,
                      const char *conv, int make);
void appsrv_end(struct aop *o, const struct lapi_res *res);
void appsrv_refuse(struct aop *o, int fail, const char *why);
struct letta_reply *appsrv_rep(struct aop *o);
void appsrv_pump(struct appsrv *s);

/* letta_appsrv_frames.c: one message of the server. */
void appsrv_on_message(struct appsrv *s, const char *text, size_t len);

#endif
