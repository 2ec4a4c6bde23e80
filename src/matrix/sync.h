/*
 * sync: the bot's view of the homeserver, sans-I/O: the /sync long-poll
 * request with its stored filter, the /messages request that catches a
 * limited timeline up, and the reader of both answers.
 *
 * The reader walks a response and hands each timeline event of a joined
 * room to the caller as a struct sync_ev (strings copied and checked),
 * each invite of the bot as (room, inviter), and each room's `limited`
 * and `prev_batch` before its events. An event that cannot be read (a
 * body that is not a string, a missing field, a field too long) is
 * skipped with one log line; the rest of the response goes on. A response
 * that cannot be read at all (too big, not JSON, invalid UTF-8) is an
 * error for the caller, who then syncs without timelines and catches
 * each room up page by page (see bridge_sync.c).
 */
#ifndef LETTAMX_SYNC_H
#define LETTAMX_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "core/limits.h"
#include "matrix/matrix.h"
#include "net/proto.h"

#define SYNC_META_TOKEN   "sync_token"    /* next_batch of the last
                                           * sync whose events are in
                                           * the inbox */
#define SYNC_META_FILTER  "sync_filter2"  /* id of our stored filter (2:
                                           * with the room settings;
                                           * an older one is not used) */
#define SYNC_POLL_MS      30000           /* the long-poll's timeout */

/* What an event is related to (m.relates_to), as far as we care. */
enum sync_rel {
	SYNC_REL_NONE = 0,
	SYNC_REL_REPLY,         /* m.in_reply_to (a fallback may be quoted) */
	SYNC_REL_THREAD,        /* rel_type m.thread */
	SYNC_REL_REPLACE,       /* rel_type m.replace: an edit */
	SYNC_REL_OTHER,         /* annotations, references, unknown */
};

/* One timeline event. Text fields are NUL-terminated valid UTF-8. */
struct sync_ev {
	const char *room_id;            /* borrowed from the reader */
	char event_id[LIM_STORE_ID];
	char sender[LIM_STORE_ID];
	char type[LIM_SYNC_TYPE];
	char msgtype[LIM_SYNC_TYPE];    /* "" when not a message */
	int is_state;                   /* carries a state_key */
	int redacted;                   /* content empty by a redaction */
	int rel;                        /* enum sync_rel */
	char thread_root[LIM_STORE_ID]; /* SYNC_REL_THREAD: the root's event
	                                 * id, "" when none or unreadable */
	int has_body;                   /* content.body is a string */
	char *body;                     /* content.body; LIM_SYNC_BODY */
	size_t body_len;
	char filename[LIM_SYNC_NAME];   /* media: content.filename or body */
	int64_t size;                   /* media: info.size, -1 unknown */
	/* media: the content.url of an unencrypted file, checked as an
	 * mxc URI (mx_mxc_parse), "" when none or not one; encrypted: the
	 * file is end-to-end encrypted (content.file), never fetched;
	 * caption: body is words of the sender, not the file's name
	 * (content.filename is there and differs from it) */
	char mxc[LIM_SYNC_MXC];
	int encrypted;
	int caption;
	char sender_name[LIM_STORE_NAME];   /* display name, "" unknown */
	int64_t ts;                     /* origin_server_ts, 0 unknown */
	/* who the message mentions: has_mentions when content carries
	 * m.mentions (a client of intentional mentions), then its user_ids;
	 * else the users its formatted_body links to (matrix.to). One id
	 * a line; ids past LIM_SYNC_MENTIONS are left out. */
	int has_mentions;
	char mentions[LIM_SYNC_MENTIONS];
};

/* A state event of a joined room (the state section, or a timeline
 * event with a state_key), for sinks that keep room state. The content
 * is a token of the reader's JSON, valid during the call only. */
struct sync_state {
	const char *room_id;
	const char *type, *state_key, *sender;
	const struct json *j;
	int content;                    /* token of content, < 0 none */
};

/* What the reader calls. Every callback may be NULL. A non-zero return
 * stops the walk and is returned by the parser. */
struct sync_sink {
	/* Before the events of joined room `room`. */
	int (*on_room)(void *arg, const char *room, int limited,
	               const char *prev_batch);
	int (*on_event)(void *arg, const struct sync_ev *ev);
	/* The bot is invited to `room` by `inviter` ("" unknown). */
	int (*on_invite)(void *arg, const char *room, const char *inviter);
	void *arg;
	const char *me;                 /* the bot: its invites */
	/* A transaction (sync_txn_parse) invites someone else: `invitee`
	 * to `room` by `inviter`, is_direct as the invite says (a direct
	 * chat). NULL: such invites are ignored. */
	int (*on_user_invite)(void *arg, const char *room, const char *invitee,
	                      const char *inviter, int is_direct);
	/* After on_room: the room summary's m.joined_member_count, when
	 * the answer carries it (a homeserver sends it when it changed). */
	int (*on_members)(void *arg, const char *room, int64_t joined);
	/* Each state event of a joined room, the state section's before
	 * the timeline's (those also go to on_event). */
	int (*on_state)(void *arg, const struct sync_state *st);
};

/* The room settings an admin may set (state_key ""): the one state type
 * beside members that the filter lets through. */
#define SYNC_ROOM_SETTINGS "org.lettamx.room_settings"

/* POST /user/<me>/filter with the bridge's filter: messages and room
 * settings in timelines (limit `limit`), lazily loaded members and the
 * room settings in state, no presence, account data or ephemeral
 * events. */
int sync_req_filter(struct proto_req *r, const char *token, const char *me,
                    int limit);

/* Reads a filter_id answer into id[0..cap). Returns 0, ERR_PROTO, or
 * mx_error_parse's codes (e is set). */
int sync_filter_parse(const struct proto_resp *resp, char *id, size_t cap,
                      struct mx_error *e);

/* GET /sync. `filter_id` NULL or "": an inline filter of the same
 * shape with `inline_limit` timeline events per room (limited rooms are
 * then caught up with /messages). `since` NULL or "": the first sync
 * (no long-poll). Returns 0 or ERR_TOOBIG. */
int sync_req(struct proto_req *r, const char *token, const char *filter_id,
             int inline_limit, const char *since, int timeout_ms);

/* GET /rooms/<room>/messages?dir=b&from=..&to=..&limit=.. (messages only,
 * members lazily loaded). `to` may be NULL. */
int sync_req_messages(struct proto_req *r, const char *token,
                      const char *room, const char *from, const char *to,
                      int limit);

/* 1 if `id` is an event id: '$' and 1-254 printable ASCII characters
 * (room versions 1-3 add ":server"; later ones are bare base64). */
int sync_event_id_valid(const char *id);

struct sync_reader;

/* A reader with its scratch buffers. Returns NULL on allocation failure. */
struct sync_reader *sync_reader_new(void);
void sync_reader_free(struct sync_reader *sr);

/* Reads a /sync answer: sink calls in document order, next_batch into
 * next[0..cap). Returns 0, the first non-zero callback result, ERR_PROTO
 * (not a sync answer: no next_batch), or json_parse's errors (ERR_TOOBIG,
 * ERR_UTF8, ERR_PROTO). */
int sync_parse(struct sync_reader *sr, const char *body, size_t len,
               const struct sync_sink *sink, char *next, size_t cap);

/* Reads a /messages answer for `room`: on_event for each event of the
 * chunk in the order given (newest first for dir=b); `end` gets the
 * token of the next page, "" when there is none. Returns as
 * sync_parse. */
int sync_messages_parse(struct sync_reader *sr, const char *body,
                        size_t len, const char *room,
                        const struct sync_sink *sink, char *end,
                        size_t cap);

/* Reads an application service transaction ({"events": [...]}, pushed
 * by the homeserver): for each event, on_room when its room_id differs
 * from the event before (limited 0, no prev_batch: the homeserver
 * resends what we did not take), then on_invite for an invite of
 * sink->me (an m.room.member event with membership "invite"),
 * on_user_invite for an invite of anyone else, else on_event. Events carry no member state: sender_name is "". Returns
 * as sync_parse (ERR_PROTO: no events array). */
int sync_txn_parse(struct sync_reader *sr, const char *body, size_t len,
                   const struct sync_sink *sink);

/* Frees the token arrays a big answer grew (they are kept between
 * answers otherwise), so an idle daemon does not hold the first sync's
 * tokens for good. */
void sync_reader_trim(struct sync_reader *sr);

/* Events skipped as unreadable since the reader was made. */
uint64_t sync_reader_skipped(const struct sync_reader *sr);

#endif
