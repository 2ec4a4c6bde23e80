/*
 * letta_msg: one turn of a Letta agent, sans-I/O (letta-api.md §5, §9,
 * §11): the send request with its otid, the reply read from the answer
 * (assistant messages in order, with the fallbacks of older servers), the
 * history read that finds a turn by its otid, and what a failure means.
 */
#ifndef LETTAMX_LETTA_MSG_H
#define LETTAMX_LETTA_MSG_H

#include <stddef.h>

#include "core/limits.h"

struct img;
struct json_w;

struct letta_send {
	const char *agent_id;
	const char *text;               /* what the agent reads */
	size_t text_len;
	const char *name;               /* Letta `name` (sanitised) */
	const char *sender_id;          /* Matrix id */
	const char *otid;
	int max_steps;
	int stream;                     /* 1: step streaming with pings (the
	                                 * /messages/stream route) */
	int conv;                       /* 1: to a conversation's /messages,
	                                 * which streams unless told not to:
	                                 * `streaming` is always written */
};

/* "/v1/agents/<id>/messages" into path[0..cap). Returns 0 or ERR_INVAL
 * (a malformed agent id), ERR_TOOBIG. */
int letta_msg_path(char *path, size_t cap, const char *agent_id);

/* "/v1/agents/<id>/messages?order=desc&limit=<limit>". */
int letta_msg_hist_path(char *path, size_t cap, const char *agent_id,
                        int limit);

/* "/v1/agents/<id>/messages/stream": the route every server version
 * streams on (letta-api.md §6; `streaming: true` on /messages needs the
 * 1.0 mode). */
int letta_msg_stream_path(char *path, size_t cap, const char *agent_id);

/* "/v1/runs/?agent_id=<id>&active=true&limit=N": the agent's runs that
 * are still going (letta-api.md §7). Returns 0, ERR_INVAL, ERR_TOOBIG. */
int letta_runs_active_path(char *path, size_t cap, const char *agent_id);

/* Reads a Run (GET /v1/runs/{id}) or a list of them (GET /v1/runs/):
 * 1 when one is still going (status created or running), 0 when none
 * is, ERR_PROTO when the body is neither. */
int letta_runs_going(const char *body, size_t len);

/* The JSON body of a send into a buffer it allocates (*body, free it),
 * *len its length. Returns 0, ERR_NOMEM, ERR_UTF8, ERR_TOOBIG. */
int letta_msg_body(const struct letta_send *s, char **body, size_t *len);

/* The same with a picture beside the text: the message's content is
 * then a list of two parts (letta-openapi.json MessageCreate.content,
 * TextContent and ImageContent with a Base64Image source):
 *   "content":[{"type":"text","text":<text>},
 *              {"type":"image","source":{"type":"base64",
 *               "media_type":<im->type>,"data":<base64 of im->p>}}]
 * (`text` keeps the text alone, for servers before 0.6.15). im NULL:
 * letta_msg_body's body, byte for byte. im is borrowed (core/img.h; it
 * must pass img_ok, else ERR_INVAL); the base64 is written straight into
 * the body, which is allocated at its exact length (+ a NUL): a 5 MiB
 * picture makes a body of ~6.7 MB, and nothing else of that size is
 * held. *body is the caller's to free. Returns 0, ERR_INVAL, ERR_NOMEM,
 * ERR_UTF8, ERR_TOOBIG. */
int letta_msg_body_img(const struct letta_send *s, const struct img *im,
                       char **body, size_t *len);

/* Writes a user message's "content" value into w: text[0..len) as one
 * string when im is NULL, else the list of a text part and an image part
 * above. hole: write the image's data as "" (a pass that measures the
 * rest: the whole is then b64_len(im->n) bytes longer). For the App
 * Server's input too (the same MessageCreate). im is not checked here. */
void letta_msg_w_content(struct json_w *w, const char *text, size_t len,
                         const struct img *im, int hole);

/* The JSON body answering the pending tool call call_id (the approval
 * item of §5: approve true or false, reason only when not NULL or "";
 * s->max_steps is used, the rest of s not) into a buffer it allocates
 * (*body, free it), *len its length. Returns 0, ERR_INVAL (no call id),
 * ERR_NOMEM, ERR_UTF8 (call id or reason not UTF-8), ERR_TOOBIG. */
int letta_msg_approval_body(const struct letta_send *s, int approve,
                            const char *call_id, const char *reason,
                            char **body, size_t *len);

/* A turn's outcome as the person should see it. */
struct letta_reply {
	char text[LIM_BRIDGE_ANSWER + 1];   /* assistant messages, in order,
	                                     * separated by blank lines; cut
	                                     * to fit */
	size_t len;
	int n;                          /* assistant messages found */
	int cut;                        /* text was cut */
	char stop[64];                  /* stop_reason, "" if none */
	int approval;                   /* an approval request was made */
	/* the (last) approval request: its tool_call, else the first of
	 * tool_calls; "" when none or unreadable */
	char tool[128];                 /* tool name, cut at a character */
	char call_id[80];               /* tool_call_id; "" if it would not
	                                 * fit (it cannot be cut) */
	char args[1024];                /* its arguments (JSON text), cut at
	                                 * a character and ending in "…" */
	size_t args_len;
	int later;                      /* history: messages of the turn after
	                                 * the question (any type) */
	char run_id[80];                /* history: the turn's run, "" if no
	                                 * message names it */
};

/* Empties r; letta_reply_add appends one assistant message's text (as
 * the parsers do: blank lines between, cut to fit with a note): for a
 * reply read from a stream. */
void letta_reply_init(struct letta_reply *r);
void letta_reply_add(struct letta_reply *r, const char *s, size_t n);
/* Appends to the last message (a chunk of a message that comes in
 * pieces); the first chunk starts a message. */
void letta_reply_more(struct letta_reply *r, const char *s, size_t n);
/* Records an approval request in r as letta_reply_parse does, for a
 * path that reads the message itself (streaming): sets r->approval, the
 * tool name (cut at a character), call_id (kept only whole and printable
 * ASCII), args[0..args_len) (cut at a character, ending in "…"). Any
 * pointer may be NULL; the strings are copied. */
void letta_reply_approval(struct letta_reply *r, const char *tool,
                          const char *call_id, const char *args,
                          size_t args_len);

/* Reads a 200 answer of a send. Returns 0 or ERR_PROTO (not a Letta
 * response; r is then empty). */
int letta_reply_parse(const char *body, size_t len, struct letta_reply *r);

/* Looks for the user message with `otid` in a history answer (newest
 * first) and reads the turn's messages after it into r. Returns 1
 * (found), 0 (not there), ERR_PROTO. */
int letta_hist_find(const char *body, size_t len, const char *otid,
                    struct letta_reply *r);

/* The same for a turn that answered tool call call_id: found by the
 * approval_response_message naming it (an approval item has no otid). */
int letta_hist_find_approval(const char *body, size_t len,
                             const char *call_id, struct letta_reply *r);

/* The tool call a paused agent waits on, from a history answer (newest
 * first): the newest approval request not followed by an approval
 * response or a user message, read into r (approval, tool, call_id,
 * args). Returns 1 (found), 0 (none waits), ERR_PROTO. */
int letta_hist_pending(const char *body, size_t len, struct letta_reply *r);

/* What a failed send means. */
enum letta_fail {
	LETTA_F_RETRY = 1,      /* 5xx, 408, 429, a DB-lock 409, no answer */
	LETTA_F_BUSY,           /* 409 another request is running */
	LETTA_F_APPROVAL,       /* 409 PENDING_APPROVAL */
	LETTA_F_GONE,           /* 404: the agent no longer exists */
	LETTA_F_REFUSED,        /* other 4xx: retrying cannot help */
};

/* Classifies a failed send (status 0: no answer) and writes the server's
 * explanation into detail[0..cap). Returns LETTA_F_*. */
int letta_msg_fail(int status, const char *body, size_t len, char *detail,
                   size_t cap);

/* A sentence for the person when a turn gave no assistant message,
 * naming the stop reason in plain words. */
const char *letta_msg_stop_text(const struct letta_reply *r);

#endif
