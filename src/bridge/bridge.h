/*
 * bridge: what a person writes in an agent's room reaches that agent, and
 * the agent's answer comes back into the room, exactly once.
 *
 * The flow (DESIGN.md "Flow of one message"): the bot's /sync long-poll
 * (bridge_sync.c) writes the events that reach an agent to the store's
 * inbox together with the new sync token, in one transaction; each room
 * works its inbox in order (bridge.c: one Letta turn in flight per room,
 * hence per agent, up to a global cap); an answer goes to the room's
 * outbox with its transaction id fixed, in the same transaction that
 * removes the question, and is sent as the agent user until the
 * homeserver accepts it (bridge_out.c). A turn is never run twice: before
 * any re-send of a question (after a timeout, a lost answer or a restart)
 * the agent's history is read for the question's otid.
 *
 * The sans-I/O parts have their own entry points below (what reaches an
 * agent, the text it reads, the inbox and outbox records), for tests and
 * fuzzers.
 */
#ifndef LETTAMX_BRIDGE_H
#define LETTAMX_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "matrix/sync.h"

struct app;
struct bridge;
struct metrics;

/* Agent record flag: Letta answered 404 for this agent (the mapping is
 * kept, provisioning decides its fate). */
#define BRIDGE_F_AGENT_GONE 0x10000u

/* Starts the bridge on the app's loop and HTTP client with the bot's
 * access token (copied; NULL or "": from the store): resumes the inbox
 * and outbox left by a previous run, then syncs. `m` (may be NULL, kept)
 * gets the bridge's metrics (messages, Letta latency, queue depth, turns
 * in flight, 429s, sync health). Returns NULL on allocation failure
 * (logged). */
struct bridge *bridge_start(struct app *a, const char *bot_token,
                            struct metrics *m);

/* Stops taking new work: the long-poll and every request in flight are
 * cancelled (what they were doing is in the store and is finished after
 * a restart), timers stopped. Safe from a signal callback. */
void bridge_stop(struct bridge *b);

/* Frees a stopped bridge. NULL is fine. */
void bridge_free(struct bridge *b);

/* ---- what reaches an agent (bridge_msg.c) ---- */

struct bridge_policy {
	const char *bot;                /* the bot's user id */
	const char *allow;              /* comma-separated globs; NULL or "":
	                                 * "@*:<server>" */
	const char *server;             /* our server name */
	const char *sender_format;      /* "{name}", "{id}" placeholders */
};

/* [bridge] agent_invites: which invites an agent user takes (appservice
 * mode: agent users see their invites). */
enum {
	BRIDGE_INVITES_DIRECT = 0,      /* a direct chat, from a person who
	                                 * may talk to agents */
	BRIDGE_INVITES_ANY,             /* any room, from such a person */
	BRIDGE_INVITES_NONE,            /* none: declined */
};

/* 1 if `user` matches the allow list of `p`. */
int bridge_allowed(const struct bridge_policy *p, const char *user);

/* Whether event `ev` in a mapped room reaches its agent. `from_agent`:
 * the sender is one of our agent users. Returns 1 (yes) or 0 with *why
 * (static text) set. */
int bridge_wanted(const struct bridge_policy *p, const struct sync_ev *ev,
                  int from_agent, const char **why);

/* Removes a quoted reply fallback ("> ..." lines and the blank line
 * after them) at the start of body[0..n). Returns the new length. */
size_t bridge_strip_fallback(char *body, size_t n);

/* Writes what the agent reads for `ev` (a wanted event) into out[0..cap):
 * the sender prefix and the text, or one line naming a media file. Text
 * too long for cap is cut on a character boundary. Returns the length
 * (> 0) or ERR_TOOBIG (cap too small even for the prefix). */
int bridge_text(const struct bridge_policy *p, const struct sync_ev *ev,
                char *out, size_t cap);

/* The otid of a Matrix event: a UUID derived from room and event id, the
 * same in every run. out gets 36 characters and a NUL. */
void bridge_otid(const char *room, const char *event_id, char out[37]);

/* A `name` Letta accepts (no spaces, no <|\/>): from the localpart. */
void bridge_letta_name(const char *user_id, char *out, size_t cap);

/* ---- records of the inbox and the outbox ---- */

/* A question waiting for its answer (inbox value). */
struct bridge_in {
	char event_id[LIM_STORE_ID];
	char sender[LIM_STORE_ID];
	int64_t ts;                     /* origin_server_ts */
	int64_t queued;                 /* wall ms when it was stored */
	const char *text;               /* what the agent reads; borrowed */
	size_t text_len;
	char thread[LIM_STORE_ID];      /* asked in this thread (root event
	                                 * id), "" in the main timeline */
	int approval;                   /* BRIDGE_APPROVAL_*: this entry
	                                 * answers a tool approval (the deny
	                                 * reason is text) */
	char call_id[80];               /* the tool call it answers */
	int flags;                      /* BRIDGE_IN_F_* */
	/* BRIDGE_IN_F_IMAGE: the picture to pass on (an mxc URI, checked)
	 * and the size its event declared (-1: none); text is then its
	 * description, what the agent reads when the picture cannot go */
	char mxc[LIM_SYNC_MXC];
	int64_t img_size;
};

enum { BRIDGE_APPROVAL_NONE = 0, BRIDGE_APPROVAL_YES = 1,
       BRIDGE_APPROVAL_NO = 2 };

/* An entry the agent reads as context only ([bridge] listen: a message
 * of a busy room that does not mention it): its answer is never posted. */
#define BRIDGE_IN_F_LISTEN 0x1
/* An m.image whose bytes go to the agent beside its text (mxc). */
#define BRIDGE_IN_F_IMAGE  0x2
#define BRIDGE_IN_F_ALL    (BRIDGE_IN_F_LISTEN | BRIDGE_IN_F_IMAGE)

enum { BRIDGE_OUT_TEXT = 1, BRIDGE_OUT_NOTICE = 2 };

/* A streamed answer (bridge_stream.c): LIVE is the first message, shown
 * while the agent works (its event id is kept once it is sent); FINAL is
 * the first part of the finished answer, sent as the last edit of that
 * live message when there is one, else as a plain message. */
#define BRIDGE_OUT_F_LIVE  0x2
#define BRIDGE_OUT_F_FINAL 0x4

/* An answer or a notice awaiting the homeserver (outbox value). */
struct bridge_out {
	int kind;                       /* BRIDGE_OUT_* */
	char sender[LIM_STORE_ID];      /* the agent user who posts it */
	char reply_to[LIM_STORE_ID];    /* the question's event id; "" for
	                                 * a notice about the room (no
	                                 * reply, no flags) */
	const char *body;               /* borrowed */
	size_t body_len;
	char thread[LIM_STORE_ID];      /* answer in this thread (root), or
	                                 * "" for the main timeline */
	int reply;                      /* 1: a rich reply to reply_to */
	int flags;                      /* BRIDGE_OUT_F_* */
	const char *replaces;           /* not stored: the event an edit
	                                 * replaces (m.replace), NULL none */
	const char *conv;               /* not stored: the Letta conversation
	                                 * the room keeps for thread, named
	                                 * in the event (read from the store
	                                 * when it is sent), NULL none */
};

/* Encode into out[0..cap), *n the length. Returns 0, ERR_TOOBIG,
 * ERR_INVAL (an id that is not one, text not UTF-8). */
int bridge_in_encode(const struct bridge_in *m, uint8_t *out, size_t cap,
                     size_t *n);
int bridge_out_encode(const struct bridge_out *m, uint8_t *out, size_t cap,
                      size_t *n);

/* The thread and reply fields are an optional tail of the record, so a
 * record written before they existed still reads (no thread, plain);
 * the approval kind and call id follow the thread (then written even
 * when empty) in the same way, and the inbox flags follow those (then
 * written as none: approval 0, no call id). */
/* Decode a record (text/body point into p). Returns 0, ERR_VERSION (a
 * newer record), ERR_CORRUPT (anything malformed). */
int bridge_in_decode(const uint8_t *p, size_t n, struct bridge_in *m);

/* The thread and the time stored of inbox record p[0..n), read without
 * checking the rest (bridge_in_decode does, for the record worked on):
 * which lane of its room the question is for. thread: LIM_STORE_ID
 * bytes ("" the main timeline). Returns 0 or ERR_CORRUPT. */
int bridge_in_peek(const uint8_t *p, size_t n, char *thread, int64_t *queued);
int bridge_out_decode(const uint8_t *p, size_t n, struct bridge_out *m);

#endif
