/*
 * letta_app_conv: the App Server's conversations, sans-I/O (as
 * letta_app.h): the commands that find a conversation by its summary and
 * make one, and the reading of their answers.
 *
 * A conversation that lettamx makes carries a summary fixed by what asked
 * for it (a room's !reset: the room and the event), so that a second try
 * after a crash finds the first one instead of making another: the server
 * lets any number of conversations share a purpose.
 */
#ifndef LETTAMX_LETTA_APP_CONV_H
#define LETTAMX_LETTA_APP_CONV_H

#include <stddef.h>

struct json;

#include "letta/letta_conv.h"

/* conversation_list of agent_id's conversations whose id or summary
 * contains `summary` (the server's search ignores case, so the answer is
 * read with letta_app_conv_found). Returns the length written or
 * ERR_INVAL / ERR_UTF8 / ERR_TOOBIG as the commands of letta_app.h. */
int letta_app_conv_list(char *buf, size_t cap, const char *request_id,
                        const char *agent_id, const char *summary);

/* conversation_create for agent_id with `summary` (1 ..
 * LETTA_CONV_SUMMARY - 1 bytes of UTF-8). */
int letta_app_conv_create(char *buf, size_t cap, const char *request_id,
                          const char *agent_id, const char *summary);

/* The two answers, by the message's type (the root object of j). */
enum letta_app_conv_answer {
	LETTA_APP_CONV_NONE = 0,        /* neither */
	LETTA_APP_CONV_LISTED,          /* conversation_list_response */
	LETTA_APP_CONV_CREATED,         /* conversation_create_response */
};
int letta_app_conv_answer(const struct json *j);

/* In a conversation_list_response: the id of the conversation of
 * agent_id whose summary is exactly `summary` (the oldest when several
 * are), into id[0..cap). Returns 1 found, 0 none, ERR_PROTO (not a
 * success with a conversations array). */
int letta_app_conv_found(const struct json *j, const char *agent_id,
                         const char *summary, char *id, size_t cap);

/* In a conversation_create_response: the new conversation's id. Returns
 * 0, or ERR_PROTO (no success, or no usable id). */
int letta_app_conv_made(const struct json *j, char *id, size_t cap);

#endif
