/*
 * letta_rest: what letta_rest.c (the operations) and letta_rest_stream.c
 * (a streamed send read as it comes) share. Not for other modules: the
 * bridge sees lapi.h.
 */
#ifndef LETTAMX_LETTA_REST_H
#define LETTAMX_LETTA_REST_H

#include <stddef.h>

#include "core/json.h"
#include "core/sse.h"
#include "letta/lapi.h"
#include "letta/letta_msg.h"
#include "letta/letta_stream.h"

#define REST_RAW_KEEP 512       /* an error body, for its detail */

enum { RC_SEND, RC_LOOK, RC_PENDING, RC_GOING, RC_CMD, RC_CONV };

struct rest;

/* One operation in flight: its owner's callback, its reply, and while a
 * streamed send is read, the reader. */
struct rcall {
	struct rest *l;
	struct rcall *prev, *next;      /* l->calls */
	int kind;                       /* RC_* */
	lapi_done done;
	void *arg;
	struct letta_reply *rep;        /* made on the first news */
	char key[96];                   /* look: the otid or call id */
	int approval;
	/* a streamed send */
	const struct lapi_events *ev;
	struct sse sse;
	struct json j;
	char *buf, *strs;
	size_t strs_cap;
	int reading;
	int bad;                        /* an event could not be read */
	char raw[REST_RAW_KEEP];
	size_t raw_len;
	char run_id[80];
	/* a conversation found or made (letta_rest_conv.c) */
	void *owner;
	char agent[96];
	char *summary;                  /* malloc'd */
	int made;                       /* the create was sent */
};

struct rest {
	struct lapi base;
	struct lapi_http http;
	struct rcall *calls;            /* in flight */
};

/* letta_rest.c */
struct rcall *rest_call_new(struct rest *l, int kind, lapi_done done,
                            void *arg);
void rest_call_free(struct rcall *c);
struct letta_reply *rest_call_rep(struct rcall *c);
void rest_call_end(struct rcall *c, const struct lapi_res *res);
void *rest_call_start(struct rcall *c, void *owner, const char *method,
                      const char *path, char *body, size_t len, int total_ms,
                      int idle_ms,
                      int (*on_body)(void *, const char *, size_t),
                      void (*on_done)(void *, int, const char *, size_t,
                                      int));
/* A command's answer (cancel, reset): status and the start of the body
 * as the detail. */
void rest_on_cmd(void *arg, int st, const char *body, size_t len, int err);
void rest_send_failed(struct lapi_res *res, int st, const char *body,
                      size_t len, int err);

/* letta_rest_conv.c: lapi's conv (and a thread's reset: a new
 * conversation for key), and cancel in a conversation. */
void *rest_conv_find(struct lapi *base, void *owner, const struct lapi_at *at,
                     const char *key, lapi_done done, void *arg);
void *rest_conv_cancel(struct rest *l, void *owner, const struct lapi_at *at,
                       lapi_done done, void *arg);

/* letta_rest_stream.c: starts the streamed send of q (path, body taken)
 * on c; the handle, or NULL (c freed). */
void *rest_stream_start(struct rcall *c, void *owner, const char *path,
                        char *body, size_t len, const struct lapi_ask *q,
                        const struct lapi_events *ev);

/* Frees c's reader (nothing when it has none). */
void rest_stream_reset(struct rcall *c);

#endif
