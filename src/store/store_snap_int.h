/*
 * store_snap_int: what store_snap.c and store_restore.c share.
 */
#ifndef LETTAMX_STORE_SNAP_INT_H
#define LETTAMX_STORE_SNAP_INT_H

#include <lmdb.h>

#include "store/store_snap.h"

/* Digest of the databases dbi[] as seen by txn; returns an LMDB code. */
int store_snap_digest_txn(MDB_txn *txn, const MDB_dbi *dbi,
                          uint8_t digest[32], uint64_t counts[STORE_NDB]);

/* SHA-256 and size of a file. Returns 0, ERR_NOTFOUND, ERR_IO. */
int store_snap_file_sha(const char *path, uint8_t sha[32], uint64_t *size);

/* Opens a snapshot file read-only (no lock file) and digests it; *schema
 * gets its schema version (0 if none). Returns an LMDB code. */
int store_snap_file_digest(const char *path, uint8_t digest[32],
                           uint64_t counts[STORE_NDB], int *schema);

/* fsync()s a directory so that renames in it are durable. */
int store_snap_fsync_dir(const char *dir);

/* Reads the manifest of snapshot `name`. Returns 0, ERR_NOTFOUND,
 * ERR_IO, ERR_CORRUPT. */
int store_snap_manifest_read(const char *snapdir, const char *name,
                             struct store_snap *m);

#endif
