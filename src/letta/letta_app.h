/*
 * letta_app: the WebSocket protocol of Letta's App Server (Letta Code
 * `letta server --listen`, protocol_version 1; shared/reference/
 * letta-app-server/), sans-I/O: commands written into a caller buffer,
 * server messages read from whole text messages the WebSocket layer hands
 * over. No sockets here.
 *
 *   we send                          the server answers
 *   app_server_info                  app_server_info_response
 *   agent_list {query}               agent_list_response {agents}
 *   runtime_start {agent, conv,      (state replay) runtime_start_response
 *     mode, client_info}
 *   input create_message             input_accepted, stream_delta...,
 *                                    turn_finished
 *   input approval_response          (the turn goes on)
 *   abort_message                    abort_message_response
 *   sync                             (state replay) sync_response
 *   conversation_messages_list       conversation_messages_list_response
 *
 * Unasked the server sends control_request (a tool waits for approval),
 * update_loop_status and many other status frames (LETTA_APP_F_OTHER:
 * never an error).
 */
#ifndef LETTAMX_LETTA_APP_H
#define LETTAMX_LETTA_APP_H

#include <stddef.h>
#include <stdint.h>

#include "core/ident.h"
#include "core/limits.h"
#include "letta/letta_stream.h"

struct img;
struct json;
struct letta_reply;

/* ---- commands ----
 *
 * Each writes one JSON object into buf[0..cap) (NUL-terminated) and
 * returns its length, or ERR_INVAL (a missing or malformed argument: ids
 * must be 1..LIM_LETTA_APP_ID-1 bytes of printable ASCII without spaces,
 * agent ids as ident_agent_id_valid), ERR_UTF8 (text that is not UTF-8),
 * ERR_TOOBIG (buf too small). request_id is the caller's; every
 * response to the command echoes it. All pointers are borrowed. */

/* Where a conversation command goes: an agent and "default" or a
 * conversation id ("local-conv-N"). */
struct letta_app_runtime {
	const char *agent_id;
	const char *conversation_id;
};

/* {"type":"app_server_info","request_id":…} */
int letta_app_server_info(char *buf, size_t cap, const char *request_id);

/* agent_list, `limit` (1..LIM_LETTA_APP_LIMIT) agents after agent id
 * `after` (NULL or "": the first page; the local backend lists the most
 * recently used first and has no has_more: page until a short page). */
int letta_app_agent_list(char *buf, size_t cap, const char *request_id,
                         int limit, const char *after);

/* runtime_start for rt in permission mode `mode` ("strict", "standard",
 * "acceptEdits" or "unrestricted"; always sent, since a start without one
 * runs every tool unasked, and any other name is ERR_INVAL for the same
 * reason), with client_info {name:"lettamx", version} and
 * wait_for_replay true (the state replay comes first, then the
 * response). */
int letta_app_runtime_start(char *buf, size_t cap, const char *request_id,
                            const struct letta_app_runtime *rt,
                            const char *mode, const char *version);

/* input create_message: one user message text[0..len) (non-empty, with
 * lettamx's sender line already in it) under client_message_id, which the
 * server keeps as the message's otid. */
int letta_app_input_message(char *buf, size_t cap, const char *request_id,
                            const struct letta_app_runtime *rt,
                            const char *text, size_t len,
                            const char *client_message_id);

/* The same with a picture beside the text: the message's content is
 * then the list of a text part and an image part that the package's
 * protocol takes (protocol_v2.d.ts InputCreateMessagePayload: messages
 * are letta-client MessageCreate; letta.js isBase64ImageContentPart):
 *   "content":[{"type":"text","text":<text>},
 *              {"type":"image","source":{"type":"base64",
 *               "media_type":<im->type>,"data":<base64 of im->p>}}]
 * No image_failure_mode is sent: the server's default, "strict", fails
 * the whole turn on a picture it cannot prepare (turn_finished with
 * stop_reason "error"), so the person hears of it. im NULL: exactly
 * letta_app_input_message. im is borrowed and must pass img_ok (else
 * ERR_INVAL); its base64 is written straight into buf, which the caller
 * sizes with letta_app_input_message_cap. */
int letta_app_input_message_img(char *buf, size_t cap,
                                const char *request_id,
                                const struct letta_app_runtime *rt,
                                const char *text, size_t len,
                                const struct img *im,
                                const char *client_message_id);

/* Enough bytes (NUL included) for any input create_message of len bytes
 * of text and im (NULL: none), whatever the ids (each below
 * LIM_LETTA_APP_ID) and however the text escapes (6x at most): at most
 * 5 * len + ~1 KB more than the frame needs. */
size_t letta_app_input_message_cap(size_t len, const struct img *im);

/* input approval_response to permission request perm_id ("perm-…", the
 * control_request's request_id): allow (message optional: NULL or ""
 * sends none) or deny (message required). */
int letta_app_input_approval(char *buf, size_t cap, const char *request_id,
                             const struct letta_app_runtime *rt,
                             const char *perm_id, int allow,
                             const char *message);

/* abort_message for rt, run_id null (whatever runs there). */
int letta_app_abort(char *buf, size_t cap, const char *request_id,
                    const struct letta_app_runtime *rt);

/* sync for rt: replays its state (and subscribes this connection). */
int letta_app_sync(char *buf, size_t cap, const char *request_id,
                   const struct letta_app_runtime *rt);

/* conversation_messages_list of rt's conversation, newest first, `limit`
 * (1..LIM_LETTA_APP_LIMIT) messages older than message id `before` (NULL
 * or "": from the newest). */
int letta_app_messages_list(char *buf, size_t cap, const char *request_id,
                            const struct letta_app_runtime *rt, int limit,
                            const char *before);

/* ---- server messages ---- */

enum letta_app_ftype {
	LETTA_APP_F_OTHER = 0,  /* any other type: status frames, ignore */
	LETTA_APP_F_INFO,       /* app_server_info_response */
	LETTA_APP_F_AGENTS,     /* agent_list_response */
	LETTA_APP_F_RUNTIME,    /* runtime_start_response */
	LETTA_APP_F_ACCEPTED,   /* input_accepted */
	LETTA_APP_F_DELTA,      /* stream_delta: see dkind */
	LETTA_APP_F_CONTROL,    /* control_request can_use_tool */
	LETTA_APP_F_TURN,       /* turn_finished */
	LETTA_APP_F_ABORT,      /* abort_message_response */
	LETTA_APP_F_SYNC,       /* sync_response */
	LETTA_APP_F_LOOP,       /* update_loop_status */
	LETTA_APP_F_MESSAGES,   /* conversation_messages_list_response */
};

/* stream_delta by delta.message_type. */
enum letta_app_dkind {
	LETTA_APP_D_OTHER = 0,  /* reasoning, usage, tool returns, lifecycle
	                         * (client_tool_*, approval_classification_end,
	                         * status, retry): ignore */
	LETTA_APP_D_ASSISTANT,  /* text: this chunk; chunks with one delta_id
	                         * are one message (append, no separator) */
	LETTA_APP_D_TOOL_CALL,  /* tool, call_id, text: its arguments */
	LETTA_APP_D_APPROVAL,   /* approval_request_message: the same fields
	                         * (the control_request that follows is what
	                         * gets answered) */
	LETTA_APP_D_STOP,       /* stop, stop_code; waiting: requires_approval
	                         * (the turn is paused, not over) */
	LETTA_APP_D_ERROR,      /* loop_error or error_message: error,
	                         * is_terminal, stop (loop_error's) */
};

enum letta_app_disp {
	LETTA_APP_DISP_NONE = 0,        /* absent (an approval's input) */
	LETTA_APP_DISP_STARTED,
	LETTA_APP_DISP_QUEUED,          /* will run after the current turn,
	                                 * with others queued beside it */
};

/*
 * One server message. Strings are copied, NUL-terminated, by one of two
 * rules:
 *  - ids (request_id, runtime, delta_id, run_id, turn_id, call_id,
 *    next_before, stop, status) are kept only whole, as printable ASCII
 *    without spaces, else "": they are sent back or compared, and a cut
 *    id would name something else. An agent id must also pass
 *    ident_agent_id_valid (it names a store record).
 *  - display text (error, version, tool) is cut at a whole UTF-8
 *    character: it is for a log or a person, and a cap must not drop the
 *    frame. text (LIM_LETTA_APP_TEXT) is cut the same way with text_cut
 *    set: the reply it goes into is cut at the same size anyway.
 * Tokens (agents, messages, cmids_by_run) are indexes into the struct
 * json given to letta_app_frame_parse, valid until it parses again;
 * input points into the message text.
 */
struct letta_app_frame {
	enum letta_app_ftype type;
	char request_id[LIM_LETTA_APP_ID];      /* "" if none */
	int has_runtime;                        /* a runtime object came */
	char agent_id[IDENT_AGENT_ID_MAX + 1];  /* runtime.agent_id */
	char conversation_id[LIM_LETTA_APP_ID]; /* runtime.conversation_id */
	int success;            /* responses: success true (absent: 0) */
	char error[LIM_LETTA_APP_ERROR];        /* error, loop_error's or
	                                         * error_message's message */
	/* INFO */
	char version[64];                       /* letta_code_version */
	int64_t protocol_version;               /* -1 when absent */
	/* AGENTS: the AgentState array (read each with letta_agent_parse);
	 * MESSAGES: the LettaMessage array (letta_app_hist_find); -1 none */
	int agents, messages;
	/* ACCEPTED */
	int accepted;
	enum letta_app_disp disposition;
	/* ABORT */
	int aborted;
	/* DELTA */
	enum letta_app_dkind dkind;
	int subagent;           /* the delta names a subagent_id: a subagent's
	                         * stream, not the agent's own answer */
	char delta_id[LIM_LETTA_APP_ID];
	int64_t seq_id;         /* -1 when absent */
	int is_terminal;        /* loop_error: the loop gave up */
	int waiting;            /* STOP requires_approval */
	/* DELTA, TURN ("local-run-N": restarts at 1 with the server) */
	char run_id[LIM_LETTA_APP_ID];
	char stop[64];                  /* stop_reason */
	enum letta_stop stop_code;
	/* TURN */
	char turn_id[LIM_LETTA_APP_ID];
	/* DELTA tool calls, CONTROL */
	char tool[128];                 /* tool name */
	char call_id[LIM_LETTA_APP_ID]; /* tool_call_id */
	/* CONTROL: request.input as raw JSON text (an object), "" when none;
	 * longer than LIM_LETTA_APP_INPUT it is cut at a character and
	 * input_cut set (then it is not JSON: show it, never parse it) */
	const char *input;
	size_t input_len;
	int input_cut;
	/* LOOP */
	char status[40];                /* WAITING_ON_INPUT, ... */
	int active_runs;                /* active_run_ids */
	int idle;                       /* WAITING_ON_INPUT, no active run */
	int cmids_by_run;               /* client_message_ids_by_run_id (an
	                                 * object of arrays), -1 none */
	/* MESSAGES */
	char next_before[LIM_LETTA_APP_ID];
	int has_more;
	/* DELTA ASSISTANT: the chunk; TOOL_CALL, APPROVAL: the arguments */
	size_t text_len;
	int text_cut;
	char text[LIM_LETTA_APP_TEXT + 1];
};

/* Reads one server message text[0..len) into f, with j a parser the
 * caller keeps (its tokens are reused; f's tokens index into it, and it
 * borrows text). Returns 0; ERR_PROTO (not a JSON object with a string
 * "type", or a success response without its agents or messages array),
 * or json_parse's ERR_UTF8, ERR_TOOBIG, ERR_NOMEM. A type it does not
 * know is LETTA_APP_F_OTHER, not an error. f is large (the text field):
 * keep one, don't put it on a small stack. */
int letta_app_frame_parse(struct json *j, const char *text, size_t len,
                          struct letta_app_frame *f);

/* What the history says of a turn. */
enum letta_app_turn {
	LETTA_APP_TURN_ABSENT = 0,  /* no user message with that otid */
	LETTA_APP_TURN_CUT,         /* found; nothing after it, or it stops
	                             * short (a tool's result or a thought
	                             * with no answer after it) */
	LETTA_APP_TURN_WAITING,     /* found; a tool call of the turn has no
	                             * result: r holds the newest such */
	LETTA_APP_TURN_COMPLETE,    /* found; the turn ends in an assistant
	                             * message or a stop_reason */
};

/* Looks in `messages` (a conversation_messages_list_response's array,
 * newest first, a page that starts at the newest message) for the user
 * message whose otid is client_message_id, and reads its turn into r:
 * the assistant messages after it, oldest first (letta_reply_add: each
 * message's text parts joined), a stop_reason if the history has one,
 * and the approval request the turn waits on (letta_reply_approval: the
 * history shows every tool call as an approval_request_message; one with
 * a tool_return_message after it is done). r->later counts the turn's
 * messages. The turn ends at the next user message, but user messages
 * right after ours are counted in *batched (may be NULL) and skipped:
 * inputs queued together run as one turn with one answer (a question
 * whose turn was cancelled before a word looks the same: *batched lets
 * the caller judge). Returns LETTA_APP_TURN_*, ERR_PROTO (messages is
 * not an array) or ERR_NOMEM; only the first LIM_LETTA_APP_LIMIT
 * messages are read.
 * The history is a guess where the live events are not: it cannot tell
 * an answer cut off by a cancel from a whole one (COMPLETE), nor a tool
 * call still asking from one whose request died with its connection
 * (WAITING; the live control_request and the replay's
 * pending_control_requests say which). */
int letta_app_hist_find(const struct json *j, int messages,
                        const char *client_message_id,
                        struct letta_reply *r, int *batched);

#endif
