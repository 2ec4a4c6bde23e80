/*
 * bcmd: the `!` commands people type in an agent room, and the plain-word
 * texts the bridge answers with (as m.notice, from the agent user).
 *
 * A command is a message whose text starts (after leading whitespace, and
 * after a reply fallback "> <@user> ..." block when there is one) with the
 * prefix (default "!", `[bridge] command_prefix`) immediately followed by a
 * word of letters; the word is compared without case, and one trailing
 * '.', '!' or '?' is forgiven ("!help?"). Anything else -- "!!", "! hi",
 * "!1", a prefix later in the text -- is not a command and goes to the
 * agent. An unknown word never reaches the agent: the bridge answers with
 * bcmd_hint().
 *
 *   !help                 what the room is and the commands
 *   !status               agent, queue, turn in flight, last error
 *   !cancel               cancel the running turn, clear the room's queue
 *   !approve [note]       answer a pending tool approval with yes
 *   !deny [reason]        ... with no; the reason goes to the agent
 *   !reset                (admins) ask to reset the agent's history
 *   !reset confirm        (admins) do it
 *
 * Texts are formatted with snprintf into the caller's buffer; a buffer
 * too small is ERR_TOOBIG (BCMD_TEXT_MAX always suffices for the fixed
 * texts; the approval text grows with the tool name).
 */
#ifndef LETTAMX_BCMD_H
#define LETTAMX_BCMD_H

#include <stdbool.h>
#include <stddef.h>

#define BCMD_PREFIX_MAX 8        /* bytes of a command prefix */
#define BCMD_TEXT_MAX   2048     /* buffer for any fixed text below */
#define BCMD_ARGS_SHOWN 1024     /* bytes of tool arguments shown (a
                                  * letta_reply's are cut before) */

enum bcmd_kind {
	BCMD_NONE = 0,        /* not a command: a message for the agent */
	BCMD_UNKNOWN,         /* prefix + a word we do not know */
	BCMD_BADARGS,         /* a known command with arguments it refuses */
	BCMD_HELP,
	BCMD_STATUS,
	BCMD_CANCEL,
	BCMD_APPROVE,
	BCMD_DENY,
	BCMD_RESET,
	BCMD_RESET_CONFIRM,
};

struct bcmd {
	enum bcmd_kind kind;
	enum bcmd_kind base;  /* for BADARGS: the command it was */
	const char *word;     /* the word as typed (UNKNOWN, BADARGS) */
	size_t word_len;
	const char *arg;      /* approve's note / deny's reason, trimmed; "" */
	size_t arg_len;
};

/* Reads body[0..n) with prefix (NULL or "" means "!"). Pointers in c go
 * into body. Returns c->kind (>= 0), or ERR_INVAL for a prefix that
 * bcmd_prefix_ok() refuses. */
int bcmd_parse(const char *body, size_t n, const char *prefix,
               struct bcmd *c);

/* True for a usable prefix: 1..BCMD_PREFIX_MAX bytes of printable ASCII,
 * no space, no letter or digit (a word must follow it). */
bool bcmd_prefix_ok(const char *prefix);

/* True for the commands only `[bridge] admins` may use. */
bool bcmd_admin_only(enum bcmd_kind k);

/* The !help text: what the room is (agent_name may be NULL) and the
 * commands with the prefix; the reset line only when admin. Returns the
 * length, or ERR_TOOBIG. */
int bcmd_help(char *out, size_t cap, const char *prefix,
              const char *agent_name, bool admin);

/* The one-line answer to BCMD_UNKNOWN or BCMD_BADARGS. */
int bcmd_hint(char *out, size_t cap, const char *prefix,
              const struct bcmd *c);

/* What happened and what the person can do, in plain words. */
enum bcmd_notice {
	BCMD_N_MAX_STEPS,        /* the turn stopped at max_steps */
	BCMD_N_APPROVAL_NEEDED,  /* 409 PENDING_APPROVAL, tool unknown */
	BCMD_N_LETTA_ERROR,      /* Letta failed the turn (detail: why) */
	BCMD_N_AGENT_GONE,       /* 404: the agent was deleted */
	BCMD_N_AGENT_BUSY,       /* 409 busy, or a turn is in flight */
	BCMD_N_QUEUE_FULL,       /* the room's queue is full */
	BCMD_N_CANCELLED,        /* !cancel stopped the turn */
	BCMD_N_NOTHING_TO_CANCEL,
	BCMD_N_NO_APPROVAL,      /* !approve/!deny with nothing pending */
	BCMD_N_APPROVED,
	BCMD_N_DENIED,
	BCMD_N_RESET_ASK,        /* !reset: asks for !reset confirm */
	BCMD_N_RESET_DONE,
	BCMD_N_RESET_REFUSED,    /* !reset from someone not an admin */
	BCMD_N_RESET_NOT_ASKED,  /* !reset confirm without a !reset first */
	BCMD_N_UNREACHABLE,      /* Letta did not answer (network, 5xx) */
	BCMD_N_NO_ANSWER,        /* the turn ended without any text */
	BCMD_N_APPROVAL_WAITING, /* 409 PENDING_APPROVAL, detail: the tool */
	BCMD_N_APPROVAL_STALE,   /* Letta refused an approval answer (no
	                          * such call waits any more) */
	/* a catch-up of the room after a gap stopped short (bridge_sync):
	 * older messages never reached the agent */
	BCMD_N_CATCHUP_BOUND,    /* over LIM_SYNC_CATCHUP (detail: "1,000") */
	BCMD_N_CATCHUP_HISTORY,  /* the homeserver did not give the history */
	BCMD_N_CATCHUP_UNREADABLE, /* an event that cannot be read */
	BCMD_N_CATCHUP_FAILED,   /* anything else */
	BCMD_N_APPROVE_REFUSED,  /* !approve/!deny from someone who may not */
	BCMD_N_APPROVE_NOBODY,   /* ... and nobody may: no approvers, no
	                          * admins configured */
	BCMD_N_APPROVAL_LAPSED,  /* the App Server forgot a waiting tool call
	                          * (its connection dropped; detail: the tool) */
	BCMD_N_RESET_UNSUPPORTED, /* !reset where Letta cannot (detail: why) */
	BCMD_N_RESET_NEW,        /* !reset done as a new conversation
	                          * (detail: its id) */
	BCMD_N_RESET_FAILED,     /* Letta answered the !reset with an
	                          * error (detail: its words) */
	BCMD_N_RESET_THREAD,     /* !reset in a thread of its own: a new
	                          * conversation (detail: its id) */
	BCMD_N__COUNT
};

/* Writes notice k; detail (may be NULL) is a short plain reason added
 * where the text has room for one (BCMD_N_LETTA_ERROR: see
 * bcmd_error_words). Returns the length or ERR_TOOBIG/ERR_INVAL. */
int bcmd_notice(char *out, size_t cap, enum bcmd_notice k,
                const char *prefix, const char *detail);

/* Plain words for a Letta error_type or stop_reason (llm_timeout,
 * llm_rate_limit, context_window_overflow_in_system_prompt, ...); a
 * generic phrase for others. Never NULL. */
const char *bcmd_error_words(const char *error_type);

/* The approval request shown to people: which tool and its arguments
 * (the first BCMD_ARGS_SHOWN bytes, cut at a character, saying so), and
 * how to answer. Returns the length or ERR_TOOBIG. */
int bcmd_approval_text(char *out, size_t cap, const char *prefix,
                       const char *tool, const char *args, size_t args_len);

#endif
