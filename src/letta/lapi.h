/*
 * lapi: "a Letta", as the bridge sees it. One interface, implemented once
 * per API that Letta serves: the v1 REST API of Letta Cloud and of the
 * archived server (letta_rest.c), and the App Server's WebSocket protocol
 * of Letta Code (next). The bridge's turn logic calls these operations
 * and reads their results; it never sees a path, a status code or a
 * frame.
 *
 * Every operation is asynchronous: it starts work on the loop and calls
 * `done(arg, res)` once, from the loop, unless the bridge stops first
 * (then never). `res` and what it points to are valid during the call
 * only. An operation that cannot start returns NULL and calls nothing.
 *
 * The REST implementation makes its HTTP requests through the caller's
 * struct lapi_http, so that the bridge keeps owning, counting and
 * cancelling its requests as it always did.
 */
#ifndef LETTAMX_LAPI_H
#define LETTAMX_LAPI_H

#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

struct letta_reply;
struct img;

/* Where a turn goes: an agent, and one of its conversations (NULL or
 * "": the agent's default one, where a room talks until !reset). */
struct lapi_at {
	const char *agent_id;
	const char *conv;
};

/* A question for an agent, or the answer to the tool call it waits on. */
struct lapi_ask {
	const char *agent_id;
	const char *conv;               /* its conversation (lapi_at) */
	const char *text;               /* what the agent reads (a deny's
	                                 * reason for an approval) */
	size_t text_len;
	const char *name;               /* the sender, as Letta names it */
	const char *sender_id;          /* the sender's Matrix id */
	const char *cmid;               /* client message id, fixed from the
	                                 * Matrix event (REST: the otid) */
	int approval;                   /* 0: a question, else LAPI_ALLOW or
	                                 * LAPI_DENY for call_id */
	const char *call_id;
	/* a picture beside the text (NULL: none), borrowed until done is
	 * called; it must pass img_ok (core/img.h) */
	const struct img *img;
	int max_steps;
	int stream;                     /* answer as it comes (events) */
	int64_t timeout_ms;             /* the whole turn's deadline */
};

enum { LAPI_ALLOW = 1, LAPI_DENY = 2 };

/* What came of a send. */
enum lapi_outcome {
	LAPI_ANSWERED = 0,              /* rep: the agent's answer */
	LAPI_FAILED,                    /* fail, detail, ambiguous */
	LAPI_UNREADABLE,                /* an answer came that could not be
	                                 * read: look before sending again */
	LAPI_BROKEN,                    /* the answer's stream broke off:
	                                 * read it from the history */
};

/* What came of an operation. */
struct lapi_res {
	int outcome;                    /* send: enum lapi_outcome */
	int err;                        /* ERR_* of the way there, 0: none */
	int status;                     /* REST: the HTTP status, 0: none */
	int fail;                       /* send: 0 or LETTA_F_* (why the
	                                 * server did not take it) */
	int ambiguous;                  /* send: it may still reach the agent
	                                 * and run (a stall, a gateway) */
	int found;                      /* look / pending: 1 found, 0 not
	                                 * there, < 0 unreadable */
	int going;                      /* going: 1 a run is going */
	char detail[256];               /* the server's words, or "" */
	char conv[LIM_LETTA_APP_ID];     /* reset: the conversation to talk
	                                 * in from now on ("": the same) */
	const struct letta_reply *rep;  /* send / look / pending: the answer,
	                                 * NULL when none */
};

/* The news of a turn whose answer comes as it is made (ask.stream). */
struct lapi_events {
	/* the answer so far grew (rep->text) or named a tool (tool: "" when
	 * none is running); `rep` is the implementation's */
	void (*text)(void *arg, const struct letta_reply *rep);
	void (*tool)(void *arg, const char *tool);
	/* the turn's run is known (a look at it decides after a break) */
	void (*run)(void *arg, const char *run_id);
	/* an event of the stream could not be read (err): its answer will
	 * be read from the history */
	void (*bad)(void *arg, int err);
	/* non-zero once the owner no longer reads the answer: the send
	 * ends (done comes with LAPI_BROKEN) */
	int (*stop)(void *arg);
};

/* How the REST implementation reaches its server: the caller's requests
 * to the Letta base URL, with its token. `call` starts method `path`
 * with `body` (malloc'd, taken; NULL: none), total and idle deadlines in
 * ms (idle 0: total), on_body (NULL: the body is collected) and calls
 * done(arg, status (0: no answer), body, len, err) once. Returns a
 * handle, or NULL (body freed, nothing will be called). */
struct lapi_http {
	void *(*call)(void *io, void *owner, const char *method,
	              const char *path, char *body, size_t body_len,
	              int total_ms, int idle_ms,
	              int (*on_body)(void *arg, const char *data, size_t len),
	              void (*done)(void *arg, int status, const char *body,
	                           size_t len, int err),
	              void *arg);
	void *io;
};

typedef void (*lapi_done)(void *arg, const struct lapi_res *res);

struct lapi;

struct lapi_ops {
	/* Sends q; events (q->stream; arg is done's) as the answer comes,
	 * then done with its outcome (struct lapi_res). NULL: *err says why
	 * (ERR_AGAIN: the request could not start, try again later; other
	 * codes: q cannot be sent as it is). */
	void *(*send)(struct lapi *l, void *owner, const struct lapi_ask *q,
	              const struct lapi_events *ev, lapi_done done,
	              void *arg, int *err);
	/* Was the question cmid (or the answer to call_id, q->approval)
	 * already taken? found 1 with rep: what the turn said so far (its
	 * run in rep->run_id when it names one). */
	void *(*look)(struct lapi *l, void *owner, const struct lapi_ask *q,
	              lapi_done done, void *arg);
	/* The tool call the conversation at waits on: found 1 with rep
	 * (tool, call_id, args), 0 none. */
	void *(*pending)(struct lapi *l, void *owner, const struct lapi_at *at,
	                 lapi_done done, void *arg);
	/* Is run_id (NULL: any run at at) still going? going 1/0; an error
	 * or a server that cannot tell: 0. */
	void *(*going)(struct lapi *l, void *owner, const struct lapi_at *at,
	               const char *run_id, lapi_done done, void *arg);
	/* Stops what runs at at (best effort; done may be NULL). */
	void *(*cancel)(struct lapi *l, void *owner, const struct lapi_at *at,
	                lapi_done done, void *arg);
	/* Starts the conversation at at over: status 200 / err 0 when it
	 * did: the room's main conversation (a thread starts over in a new
	 * one: conv). REST erases the messages of the agent's default
	 * conversation (res.conv ""); the App Server, which keeps messages
	 * for good, makes a new conversation (res.conv: its id)
	 * whose summary is `key`, or finds the one an earlier try made with
	 * it (a crash between the create and the caller's store write must
	 * not leave two). err ERR_INVAL: this Letta cannot (detail says). */
	void *(*reset)(struct lapi *l, void *owner, const struct lapi_at *at,
	               const char *key, lapi_done done, void *arg);
	/* The conversation of agent at->agent_id that a summary `key`
	 * names (a thread of a room: bridge_thread.c), made now when none
	 * does: res.conv is its id, err 0. A second try after a crash
	 * between the create and the caller's store write finds the first
	 * one: the oldest of those the summary names wins. err ERR_INVAL:
	 * this Letta has no conversations (detail says). */
	void *(*conv)(struct lapi *l, void *owner, const struct lapi_at *at,
	              const char *key, lapi_done done, void *arg);
	/* The owner stops: nothing is called any more (operations still
	 * going end without their callback). */
	void (*stop)(struct lapi *l);
	void (*free)(struct lapi *l);
};

struct lapi {
	const struct lapi_ops *ops;
};

/* The APIs Letta serves. */
enum lapi_kind {
	LAPI_REST = 1,          /* v1 REST: Letta Cloud, the archived server */
	LAPI_APP = 2,           /* the App Server of Letta Code (WebSocket) */
};

/* The REST implementation over `http` (copied). Returns NULL on
 * allocation failure. Free with l->ops->free(l). */
struct lapi *lapi_rest_new(const struct lapi_http *http);

struct loop;
struct dns;
struct tls_ctx;

/* How the App Server implementation reaches its server: one WebSocket
 * to `url` (ws:// or wss://, copied) with `bearer` (NULL: none; copied,
 * never logged), on the caller's loop, resolver and TLS context (which
 * outlive it). Runtimes start in tool mode `mode` ("strict" unless the
 * operator said otherwise). */
struct lapi_app_conf {
	struct loop *loop;
	struct dns *dns;
	struct tls_ctx *tls;
	const char *url;
	const char *bearer;
	const char *mode;
	/* A tool call of agent_id that waited for approval was lost with
	 * the connection (the server forgets it): the owner tells the room.
	 * NULL: nobody is told. */
	void (*lapsed)(void *arg, const char *agent_id, const char *tool);
	void *arg;
	/* the largest picture a question may carry (0: none): the
	 * WebSocket's send queue and message buffer are sized for it */
	size_t img_max;
};

/* The App Server implementation. Returns NULL on allocation failure or
 * a bad URL. Free with l->ops->free(l). */
struct lapi *lapi_app_new(const struct lapi_app_conf *conf);

#endif
