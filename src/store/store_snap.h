/*
 * store_snap: snapshots of the store, the backups of lettamx.
 *
 * A snapshot is a compacted, consistent copy of the LMDB environment
 * (mdb_env_copyfd2 from a read transaction), written under a temporary
 * name, fsynced, verified (opened read-only, its content digest compared
 * with the live store's), then renamed into the snapshot directory with a
 * manifest next to it:
 *
 *   20261124T005542Z-000003-boot.mdb    the copy (0600)
 *   20261124T005542Z-000003-boot.json   {seq, created, reason, schema,
 *                                        txnid, size, sha256, digest,
 *                                        counts}
 *
 * The manifest's sha256 of the file catches a truncated or damaged copy
 * before LMDB ever maps it; its digest (SHA-256 over every key and value
 * of every database) is what proves a snapshot holds a given state.
 *
 * Every mutating operation snapshots first and proves, before it commits,
 * that the snapshot holds the state it is about to change (seed 000: a
 * backup written after the change was identical to the changed data):
 *
 *   store_update_snap(s, snapdir, "dedupe", fn, arg, &snap);
 */
#ifndef LETTAMX_STORE_SNAP_H
#define LETTAMX_STORE_SNAP_H

#include "store/store.h"

#define STORE_SNAP_NAME   96    /* base name, without .mdb / .json */
#define STORE_SNAP_REASON 32

struct store_snap {
	char name[STORE_SNAP_NAME];
	char reason[STORE_SNAP_REASON];
	uint64_t seq;
	int64_t created;            /* ms since the epoch */
	int schema;
	uint64_t txnid;             /* LMDB txn id of the state copied */
	uint64_t size;              /* bytes of the .mdb file */
	uint8_t sha256[32];         /* of the .mdb file */
	uint8_t digest[32];         /* of the content (store_digest) */
	uint64_t counts[STORE_NDB];
};

/* SHA-256 over every database (name, then each key and value with their
 * lengths, in key order) as seen by t; counts (may be NULL) gets the
 * entries of each database. Returns 0 or an err code. */
int store_digest(struct store_txn *t, uint8_t digest[32],
                 uint64_t counts[STORE_NDB]);

/* Takes a verified snapshot of s into snapdir (created 0700 if needed).
 * reason: a short word ([a-z0-9_-], others replaced by '_'). *snap gets
 * its description. Returns 0, ERR_IO, ERR_STORE, ERR_CORRUPT (the copy
 * did not verify; nothing is left behind). */
int store_snapshot(struct store *s, const char *snapdir, const char *reason,
                   struct store_snap *snap);

/* Proves, inside write transaction t and before it commits, that snap
 * holds the committed state t is changing: the snapshot's digest equals
 * that of the last committed state. Returns 0 or ERR_CORRUPT (with the
 * explanation on the store). */
int store_snap_check_before(struct store_txn *t,
                            const struct store_snap *snap);

/* store_update() with a snapshot first and the proof above before the
 * commit. *snap (may be NULL) gets the snapshot. Returns fn's result or
 * an err code; nothing is changed unless the snapshot was proven. */
int store_update_snap(struct store *s, const char *snapdir,
                      const char *reason,
                      int (*fn)(struct store_txn *, void *), void *arg,
                      struct store_snap *snap);

/* Reads and checks snapshot `name` of snapdir: the manifest, the file's
 * size and sha256, then its content digest (opened read-only). Returns 0
 * and *snap, ERR_NOTFOUND, ERR_CORRUPT, ERR_VERSION; `why` explains. */
int store_snap_verify(const char *snapdir, const char *name,
                      struct store_snap *snap, char *why, size_t whylen);

/* Lists the snapshots of snapdir (those with a readable manifest; files
 * are not checksummed here) in sequence order, at most max. Returns the
 * number found (>= 0) or an err code. */
int store_snap_list(const char *snapdir, struct store_snap *out, int max);

/* Retention: keeps the newest keep_last snapshots and the first of each
 * UTC day for the keep_days days up to now (ms); removes the others and
 * leftovers of interrupted snapshots. Returns the number removed or an
 * err code. */
int store_snap_prune(const char *snapdir, int keep_last, int keep_days,
                     int64_t now);

/* Replaces the store in `dir` by snapshot `name`: verifies it, snapshots
 * the current state (reason "pre-restore"), then swaps data.mdb in one
 * rename with the environment closed and checks the result. Takes the
 * writer lock: a running lettamx makes it fail (ERR_EXISTS). The
 * sequence counter of the queues never goes back, so outbox transaction
 * ids are not reused. Returns 0 or an err code; `why` explains. */
int store_restore(const char *dir, const char *snapdir, const char *name,
                  const struct store_opts *opts, char *why, size_t whylen);

#endif
