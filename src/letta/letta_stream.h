/*
 * letta_stream: one streamed Letta chunk (the data of one SSE event, see
 * letta-api.md sections 5-6 and LettaMessage in letta-openapi.json) read
 * into a small struct the bridge acts on.
 *
 *   event data                          -> kind
 *   [DONE]                              -> LETTA_SK_DONE
 *   message_type assistant_message      -> ASSISTANT: text = content (a
 *                                          string, or the text parts of a
 *                                          list, joined)
 *   reasoning_message                   -> REASONING: text = reasoning
 *   hidden_reasoning_message            -> HIDDEN_REASONING
 *   tool_call_message                   -> TOOL_CALL: tool (name,
 *                                          arguments, tool_call_id)
 *   tool_return_message                 -> TOOL_RETURN: text = tool_return,
 *                                          tool_ok = status "success"
 *   approval_request_message            -> APPROVAL: tool, ncalls
 *   stop_reason                         -> STOP: stop, stop_str
 *   usage_statistics                    -> USAGE: the token counts
 *   ping                                -> PING
 *   error_message, or `event: error`    -> ERROR: error_type, text =
 *                                          message (or detail)
 *   `event: cancelled`                  -> CANCELLED
 *   user/system/anything else           -> OTHER (ignore it)
 *
 * `tool_call` is read first, else the first of `tool_calls` (newer
 * servers send both; with token streaming they are deltas whose fields
 * may be null, read as ""). The common fields id, otid, run_id, step_id
 * and seq_id are kept for delta merging (stream_tokens: chunks with the
 * same otid append) and for resuming.
 *
 * Strings are copied (unescaped, NUL-terminated) into the caller's buffer
 * given to letta_stream_parse; the struct points into it. Ids longer than
 * LETTA_STREAM_ID are cut (they are only compared); text that does not fit
 * the buffer is ERR_TOOBIG.
 */
#ifndef LETTAMX_LETTA_STREAM_H
#define LETTAMX_LETTA_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json.h"

#define LETTA_STREAM_ID   80    /* "message-" + uuid is 44 */
#define LETTA_STREAM_NAME 128   /* a tool name or an error type */

enum letta_stream_kind {
	LETTA_SK_OTHER = 0,
	LETTA_SK_DONE,
	LETTA_SK_PING,
	LETTA_SK_ASSISTANT,
	LETTA_SK_REASONING,
	LETTA_SK_HIDDEN_REASONING,
	LETTA_SK_TOOL_CALL,
	LETTA_SK_TOOL_RETURN,
	LETTA_SK_APPROVAL,
	LETTA_SK_STOP,
	LETTA_SK_USAGE,
	LETTA_SK_ERROR,
	LETTA_SK_CANCELLED,
};

/* letta-api.md section 5 (StopReasonType). */
enum letta_stop {
	LETTA_STOP_UNKNOWN = 0,  /* a value newer than this list */
	LETTA_STOP_END_TURN,
	LETTA_STOP_MAX_STEPS,
	LETTA_STOP_TOOL_RULE,
	LETTA_STOP_REQUIRES_APPROVAL,
	LETTA_STOP_ERROR,
	LETTA_STOP_LLM_API_ERROR,
	LETTA_STOP_INVALID_LLM_RESPONSE,
	LETTA_STOP_INVALID_TOOL_CALL,
	LETTA_STOP_NO_TOOL_CALL,
	LETTA_STOP_MAX_TOKENS_EXCEEDED,
	LETTA_STOP_CONTEXT_WINDOW_OVERFLOW,
	LETTA_STOP_INSUFFICIENT_CREDITS,
	LETTA_STOP_CANCELLED,
};

struct letta_stream_tool {
	const char *name;        /* "" when absent */
	const char *arguments;   /* the JSON text of the arguments, as sent */
	const char *call_id;
	size_t arguments_len;
};

struct letta_stream_msg {
	enum letta_stream_kind kind;
	char id[LETTA_STREAM_ID], otid[LETTA_STREAM_ID];
	char run_id[LETTA_STREAM_ID], step_id[LETTA_STREAM_ID];
	int64_t seq_id;          /* -1 when absent or null */
	const char *text;        /* see the table above; "" when none */
	size_t text_len;
	struct letta_stream_tool tool;
	unsigned ncalls;         /* tool calls in the message (approval) */
	bool tool_ok;            /* tool_return status "success" */
	enum letta_stop stop;
	char stop_str[LETTA_STREAM_NAME];
	char error_type[LETTA_STREAM_NAME];
	int64_t prompt_tokens, completion_tokens, total_tokens, step_count;
};

/* Reads one event's data[0..n) (event is the SSE event name, "message"
 * when it had none; may be NULL). j is a parser the caller keeps (tokens
 * are reused); buf[0..cap) receives the strings m points to. Returns 0;
 * ERR_PROTO (not JSON, or a known message_type with a field of the wrong
 * type), ERR_TOOBIG (buf too small, or the JSON parser's caps), ERR_UTF8,
 * ERR_NOMEM. Unknown message types are LETTA_SK_OTHER, not errors. */
int letta_stream_parse(struct letta_stream_msg *m, struct json *j,
                       const char *event, const char *data, size_t n,
                       char *buf, size_t cap);

/* The stop reason named by s (LETTA_STOP_UNKNOWN for others). */
enum letta_stop letta_stop_from(const char *s);

/* True for stop reasons after which the run failed (letta-api.md: error,
 * llm_api_error, ... insufficient_credits). */
bool letta_stop_failed(enum letta_stop s);

#endif
