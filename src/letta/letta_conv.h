/*
 * letta_conv: an agent's conversations as both Letta APIs list them, and
 * the REST requests that find and make one (letta-api.md, Conversations).
 * Sans-I/O: letta_rest_conv.c and the App Server's letta_app_conv.c make
 * the calls.
 *
 * A conversation lettamx makes carries a summary fixed by what asked for
 * it (a room's thread, a !reset: the room and the event), so that a second
 * try after a crash finds the first one instead of making another: the
 * servers let any number of conversations share a summary, and their
 * search matches parts of it, so the pick wants the whole summary and
 * takes the oldest.
 */
#ifndef LETTAMX_LETTA_CONV_H
#define LETTAMX_LETTA_CONV_H

#include <stddef.h>

struct json;

/* The longest summary lettamx gives a conversation (room and event ids
 * are at most 255 bytes each). */
#define LETTA_CONV_SUMMARY 600

/* 0 when s is a summary lettamx may give (1 .. LETTA_CONV_SUMMARY - 1
 * bytes of UTF-8), else ERR_INVAL / ERR_UTF8. */
int letta_conv_summary_ok(const char *s);

/* A conversation id as lettamx keeps and sends one (letta_app_id_valid's
 * rule: printable ASCII, no spaces, bounded). */
int letta_conv_id_ok(const char *id);

/* Of the array at token arr of j: the id of the oldest conversation of
 * agent_id whose summary is exactly `summary`, into id[0..cap). Returns 1
 * found, 0 none, ERR_PROTO (not an array, or the pick has no usable
 * id). */
int letta_conv_pick(const struct json *j, int arr, const char *agent_id,
                    const char *summary, char *id, size_t cap);

/* Conversation c's id into id[0..cap): 0, or ERR_PROTO. */
int letta_conv_id(const struct json *j, int c, char *id, size_t cap);

/* REST: "/v1/conversations/?agent_id=<id>&summary_search=<summary>
 * &limit=N" (the search) and "/v1/conversations/?agent_id=<id>" (the
 * create, with letta_conv_create_body). Return 0, ERR_INVAL, ERR_TOOBIG.
 */
int letta_conv_search_path(char *path, size_t cap, const char *agent_id,
                           const char *summary);
int letta_conv_create_path(char *path, size_t cap, const char *agent_id);

/* {"summary": summary} into a buffer it allocates (*body, free it). */
int letta_conv_create_body(const char *summary, char **body, size_t *len);

/* "/v1/conversations/<conv><tail>" (tail e.g. "/messages", "/cancel",
 * "/messages?order=desc&limit=50"). */
int letta_conv_path(char *path, size_t cap, const char *conv,
                    const char *tail);

/* The search's answer (a JSON array of conversations): as
 * letta_conv_pick. */
int letta_conv_search_found(const char *body, size_t len,
                            const char *agent_id, const char *summary,
                            char *id, size_t cap);

/* The create's answer (a conversation): its id. 0 or ERR_PROTO. */
int letta_conv_made(const char *body, size_t len, char *id, size_t cap);

#endif
