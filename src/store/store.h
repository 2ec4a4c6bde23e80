/*
 * store: the one place where lettamx keeps state (LMDB, one environment,
 * named databases; see DESIGN.md "Data").
 *
 *   agents   agent_id -> agent record (versioned binary, see store_rec.c)
 *   by_room  room_id  -> agent_id    } kept in the same write transaction
 *   by_user  user_id  -> agent_id    } as the record: unique, never stale
 *   meta     name     -> value (schema version, space id, sync token, ...)
 *   inbox    room_id NUL be64(seq) -> a person's message awaiting an answer
 *   outbox   room_id NUL be64(seq) -> a reply awaiting the homeserver
 *
 * Changes that belong together go in one write transaction:
 *
 *   static int fn(struct store_txn *t, void *arg) { ...puts...; return 0; }
 *   r = store_update(s, fn, arg);     // commit, or nothing at all
 *
 * store_update() grows the map and runs fn again when LMDB runs out of
 * room (MDB_MAP_FULL), so fn must only depend on what it reads through t.
 * A process that writes holds an exclusive lock file (<dir>/lettamx.lock)
 * for as long as the store is open: LMDB serialises write transactions,
 * but two bridges interleaving whole operations on one store would each
 * act on state the other is changing, so the second one is refused.
 *
 * Errors: every function returns 0 or a negative err code; the last
 * failure's explanation (naming paths, ids and versions) is kept in the
 * store and read with store_why().
 */
#ifndef LETTAMX_STORE_H
#define LETTAMX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

#define STORE_SCHEMA 1          /* schema version this build writes */

struct store;
struct store_txn;

enum store_db {
	STORE_AGENTS = 0,
	STORE_BY_ROOM,
	STORE_BY_USER,
	STORE_META,
	STORE_INBOX,
	STORE_OUTBOX,
	STORE_NDB
};

/* Names of the databases, indexed by enum store_db. */
extern const char *const store_db_name[STORE_NDB];

struct store_opts {
	size_t map_size;        /* initial map size; 0: LIM_STORE_MAP_INITIAL */
	bool read_only;         /* no lock file, no writes (operator reads) */
	int64_t (*clock)(void); /* wall clock in ms (tests inject); NULL: real */
	/* Retention applied after every snapshot (store_snap_prune): keep
	 * the newest snap_keep and the first of each day for snap_days days;
	 * snap_keep 0: no automatic pruning. From [store] snapshot_keep and
	 * snapshot_days. */
	int snap_keep, snap_days;
};

/* Opens (creating if needed, dir 0700, files 0600) the store in `dir`.
 * Takes the writer lock unless read-only. A store written by a newer
 * schema is refused. Returns 0 and *out (free with store_close), or
 * ERR_IO, ERR_STORE, ERR_EXISTS (another process holds the writer lock),
 * ERR_VERSION; `why` (may be NULL) gets the explanation. */
int store_open(struct store **out, const char *dir,
               const struct store_opts *opts, char *why, size_t whylen);

/* Closes the store and releases the lock. NULL is fine. */
void store_close(struct store *s);

/* The explanation of the last failure on s ("" if none). Owned by s. */
const char *store_why(const struct store *s);

/* The directory the store lives in. Owned by s. */
const char *store_dir(const struct store *s);

/* Current time of the store's clock, in ms since the epoch. */
int64_t store_now(const struct store *s);

/* Runs fn in one write transaction and commits if fn returns >= 0;
 * aborts (nothing changes) if it returns < 0. Grows the map and retries
 * on a full map. Returns fn's result (>= 0) or an err code. */
int store_update(struct store *s, int (*fn)(struct store_txn *, void *),
                 void *arg);

/* Runs fn in a read transaction (a consistent view). Returns fn's result. */
int store_view(struct store *s, int (*fn)(struct store_txn *, void *),
               void *arg);

/* Batching (the daemon's bridge: one commit, two fsyncs, per loop pass
 * instead of per update). After store_batch_start(), each store_update()
 * runs in a nested transaction of one open write transaction: fn < 0
 * still undoes fn's own writes only, store_view() sees every update made,
 * but nothing is on disk until store_batch_flush() commits them all at
 * once. The caller must flush before anything that depends on an update
 * leaves the process (a request built from it): the bridge flushes from
 * loop_before_poll(), and the HTTP client writes only after a poll.
 * store_txn_begin() and store_close() flush first; a batch also commits
 * by itself after LIM_STORE_BATCH updates or when the map must grow.
 * A batch that fails to commit is lost (as if the process had died just
 * before): store_batch_lost() turns true and every later update fails;
 * the process must stop without sending anything more.
 * store_batch_stop() flushes and goes back to one commit per update.
 * Returns 0 or an err code (flush: the commit's). */
int store_batch_start(struct store *s);
int store_batch_flush(struct store *s);
int store_batch_stop(struct store *s);
bool store_batch_lost(const struct store *s);

/* Explicit transactions, for callers that cannot use a callback. A write
 * transaction that met a full map makes its calls and the commit return
 * ERR_AGAIN: abort it and run the whole change again (the map has grown).
 * Returns 0 or an err code; abort always succeeds and frees t. */
int store_txn_begin(struct store *s, bool write, struct store_txn **t);
int store_txn_commit(struct store_txn *t);
void store_txn_abort(struct store_txn *t);

/* The store a transaction belongs to (for store_why()). */
struct store *store_txn_store(struct store_txn *t);

/* LMDB's id of the last committed write transaction visible to t. */
uint64_t store_txn_id(struct store_txn *t);

/* Number of entries of database db. */
int store_count(struct store_txn *t, enum store_db db, uint64_t *n);

/* Derives the key that seals record secrets from the master secret
 * (HKDF-SHA256, its own label). Returns 0 or ERR_INVAL. */
int store_key_derive(const uint8_t *master, size_t n, uint8_t key[32]);

/* From now on, the password and access token of every record written are
 * sealed (AES-256-GCM, bound to the agent id) with key, and sealed records
 * are opened with it; records in clear stay readable and are sealed when
 * next written. The key is copied. */
void store_set_key(struct store *s, const uint8_t key[32]);

/* ---- agents ---- */

#define STORE_AGENT_ROOM_CREATED 0x1u   /* the room exists in Matrix */

struct store_agent {
	char agent_id[LIM_STORE_ID];
	char name[LIM_STORE_NAME];
	char user_id[LIM_STORE_ID];         /* @localpart:server */
	char room_id[LIM_STORE_ID];         /* "" while it has none */
	char password[LIM_STORE_SECRET];
	char access_token[LIM_STORE_SECRET];
	uint32_t flags;                     /* STORE_AGENT_* */
	int64_t created_at;                 /* ms since the epoch */
	int64_t updated_at;
	int64_t deleted_at;                 /* 0: not deleted in Letta */
};

/* Writes (inserts or replaces) agent a and its index entries. Fails with
 * ERR_EXISTS, changing nothing, when a's room or user already belongs to
 * another agent (store_why() names it). created_at is kept from an
 * existing record; updated_at is set to now. Returns 0 or an err code. */
int store_agent_put(struct store_txn *t, const struct store_agent *a);

/* Reads agent `agent_id` into *a. Returns 0, ERR_NOTFOUND, ERR_VERSION
 * (record of a newer format), ERR_CORRUPT. */
int store_agent_get(struct store_txn *t, const char *agent_id,
                    struct store_agent *a);

/* Reads the agent owning a room or a Matrix user (via the indexes). */
int store_agent_by_room(struct store_txn *t, const char *room_id,
                        struct store_agent *a);
int store_agent_by_user(struct store_txn *t, const char *user_id,
                        struct store_agent *a);

/* Deletes agent `agent_id` and its index entries. Returns 0 or
 * ERR_NOTFOUND. */
int store_agent_del(struct store_txn *t, const char *agent_id);

/* Calls fn for each agent in agent id order; stops at fn's first
 * non-zero result and returns it. *a is only valid during the call. */
int store_agent_each(struct store_txn *t,
                     int (*fn)(const struct store_agent *a, void *arg),
                     void *arg);

/* Checks the indexes against the agent records both ways (every room and
 * user of an agent indexed to it; every index entry naming an agent whose
 * record agrees). Calls report (may be NULL) once per problem with a
 * sentence naming ids. Returns the number of problems (0: consistent) or
 * an err code. */
int store_check(struct store_txn *t,
                void (*report)(const char *problem, void *arg), void *arg);

/* Rebuilds by_room and by_user from the agent records. Fails with
 * ERR_EXISTS (store_why() names both agents) when two records claim one
 * room or user; run it in store_update() so that then nothing changes. */
int store_reindex(struct store_txn *t);

/* ---- conversations (store_conv.c) ----
 *
 * The Letta conversation a room (thread NULL or "": its main timeline)
 * talks in when it is not the agent's default one. Room and thread ids
 * have no spaces. */

/* Reads it into out[0..cap). Returns 0, ERR_NOTFOUND (the default: out
 * is ""), ERR_TOOBIG, ERR_INVAL. */
int store_conv_get(struct store_txn *t, const char *room, const char *thread,
                   char *out, size_t cap);

/* Sets it to conv. Returns 0 or an err code. */
int store_conv_put(struct store_txn *t, const char *room, const char *thread,
                   const char *conv);

/* Meta entries the bridge keeps about a room, under these prefixes and
 * the room id (then nothing, or ' ' and more): what the room answers
 * (bridge_quiet), its pending tool call (bridge_appr), a thread's mark
 * still to post (bridge_thread). They go with the room's conversations. */
#define STORE_META_QUIET    "quiet/"
#define STORE_META_APPROVAL "approval/"
#define STORE_META_MARK     "thr "

/* Deletes every entry of room (its main timeline and its threads, and
 * the STORE_META_* entries above): the store does it itself when the
 * room's agent goes or moves. */
int store_conv_del_room(struct store_txn *t, const char *room);

/* Calls fn with the room of every entry, and of every STORE_META_*
 * entry, with what the entry keeps in words, in key order by kind;
 * stops at fn's first non-zero result and returns it. fn must not
 * write. */
int store_conv_each(struct store_txn *t,
                    int (*fn)(const char *room, const char *what,
                              void *arg), void *arg);

/* ---- direct chats with agent users (store_dm.c) ---- */

/* Room is a direct chat of agent_id with person; joined: its agent user
 * joined and marked it (nothing to do for it at start). Returns 0 or
 * ERR_INVAL (ids with spaces, empty). */
int store_dm_put(struct store_txn *t, const char *room, const char *agent_id,
                 const char *person, int joined);

/* The agent and person of direct chat room, and (joined: may be NULL)
 * whether it was joined. Returns 0, ERR_NOTFOUND, ERR_CORRUPT. */
int store_dm_get(struct store_txn *t, const char *room,
                 char agent[LIM_STORE_ID], char person[LIM_STORE_ID],
                 int *joined);

/* Forgets one direct chat / every one of agent_id (the store does the
 * latter itself when the agent's record goes). */
int store_dm_del(struct store_txn *t, const char *room);
int store_dm_del_agent(struct store_txn *t, const char *agent_id);

/* Calls fn for every direct chat (agent and person "" when the entry is
 * damaged), in room order; stops at fn's first non-zero result. fn must
 * not write. */
int store_dm_each(struct store_txn *t,
                  int (*fn)(const char *room, const char *agent,
                            const char *person, int joined, void *arg),
                  void *arg);

/* Meta: the direct chats were looked for by their marks for this store
 * (a restore clears it: they are looked for again). */
#define STORE_META_DM_SCANNED "dm_scanned"

/* The agent a room talks to: its own room (by_room), else a direct chat
 * of its user. Returns as store_agent_get, ERR_NOTFOUND when neither. */
int store_agent_of_room(struct store_txn *t, const char *room,
                        struct store_agent *a);

/* ---- meta ---- */

/* Reads meta value `key` as a C string into out[0..cap). Returns 0,
 * ERR_NOTFOUND, ERR_TOOBIG. */
int store_meta_get(struct store_txn *t, const char *key, char *out,
                   size_t cap);

/* Sets meta `key` to the C string `val`. Returns 0 or an err code. */
int store_meta_put(struct store_txn *t, const char *key, const char *val);

/* Sets meta `key` to the secret C string `val`, sealed (AES-256-GCM, as
 * the secrets of agent records, bound to the name) when a key is set
 * (store_set_key), in clear without one. val is shorter than
 * LIM_STORE_SECRET. Returns 0 or an err code. */
int store_meta_put_sealed(struct store_txn *t, const char *key,
                          const char *val);

/* Reads meta `key` written by store_meta_put_sealed into out[0..cap) as
 * a C string. A value in clear (no key set when written, or an older
 * store) is returned as is with *clear set, for the caller to rewrite it
 * sealed. Returns 0, ERR_NOTFOUND, ERR_TOOBIG, ERR_CORRUPT (sealed and
 * no key set, another key, or damaged: store_why() says which; out is
 * then ""). */
int store_meta_get_sealed(struct store_txn *t, const char *key, char *out,
                          size_t cap, bool *clear);

/* Deletes meta `key`. Returns 0 or ERR_NOTFOUND. */
int store_meta_del(struct store_txn *t, const char *key);

/* The longest meta key written through the scans below (LMDB's limit). */
#define STORE_META_KEY 511

/* Calls fn with every meta entry whose key starts with prefix (key and
 * value not NUL-terminated), in key order; stops at fn's first non-zero
 * result and returns it. fn must not write. */
int store_meta_scan(struct store_txn *t, const char *prefix,
                    int (*fn)(const char *key, size_t kn, const char *val,
                              size_t vn, void *arg),
                    void *arg);

/* Deletes every meta entry under prefix that pick says yes (non-zero)
 * to. Returns 0 or an err code. */
int store_meta_del_if(struct store_txn *t, const char *prefix,
                      int (*pick)(const char *key, size_t kn,
                                  const char *val, size_t vn, void *arg),
                      void *arg);

/* ---- inbox / outbox: per-room FIFOs ---- */

enum store_queue { STORE_Q_INBOX = STORE_INBOX, STORE_Q_OUTBOX = STORE_OUTBOX };

/* Appends data[0..n) to room's queue. *seq (may be NULL) gets the entry's
 * sequence number, unique in the store and increasing. Returns 0 or an
 * err code (ERR_TOOBIG beyond LIM_STORE_QVALUE). */
int store_q_push(struct store_txn *t, enum store_queue q, const char *room,
                 const void *data, size_t n, uint64_t *seq);

/* Reads the oldest entry of room's queue: *seq, and data into
 * out[0..cap) with *n its length. Returns 0, ERR_NOTFOUND (empty),
 * ERR_TOOBIG (out too small). */
int store_q_first(struct store_txn *t, enum store_queue q, const char *room,
                  uint64_t *seq, void *out, size_t cap, size_t *n);

/* Removes entry seq of room's queue. Returns 0 or ERR_NOTFOUND. */
int store_q_del(struct store_txn *t, enum store_queue q, const char *room,
                uint64_t seq);

/* The number of entries of room's queue (all rooms when room is NULL)
 * into *n. Returns 0 or a store error. */
int store_q_count(struct store_txn *t, enum store_queue q, const char *room,
                  int *n);

/* Calls fn for every entry of the queue (all rooms when room is NULL), by
 * room then sequence; stops at fn's first non-zero result. */
int store_q_each(struct store_txn *t, enum store_queue q, const char *room,
                 int (*fn)(const char *room, uint64_t seq, const void *data,
                           size_t n, void *arg),
                 void *arg);

/* The Matrix transaction id of outbox entry seq: fixed for the life of
 * the entry, unique across stores (it carries the store's random
 * instance id, so a rebuilt store never reuses one). out gets a C string.
 * Returns 0 or ERR_TOOBIG. */
int store_txnid(struct store_txn *t, uint64_t seq, char *out, size_t cap);

#endif
