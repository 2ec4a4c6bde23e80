/*
 * store_int: what the store's files share and nobody else sees.
 */
#ifndef LETTAMX_STORE_INT_H
#define LETTAMX_STORE_INT_H

#include <lmdb.h>
#include <stdarg.h>

#include "store/store.h"

#define STORE_REC_VERSION 1     /* agent record format this build writes */
#define STORE_REC_MAX     (16 + 8 * 3 + 6 * 2 + 4 * LIM_STORE_ID + \
                           LIM_STORE_NAME + 2 * LIM_STORE_SECRET)

struct store {
	MDB_env *env;
	MDB_dbi dbi[STORE_NDB];
	char dir[LIM_STORE_PATH];
	char instance[24];          /* random id of this store, hex */
	int lock_fd;
	bool read_only;
	int ntxn;                   /* open transactions (map growth needs 0) */
	size_t map_size;
	int64_t (*clock)(void);
	int snap_keep, snap_days;   /* retention after each snapshot */
	bool has_key;               /* seal the secrets of records */
	uint8_t key[32];
	char why[LIM_STORE_WHY];
	/* store_batch_start(): updates nest in one write transaction */
	bool batching;
	bool batch_lost;            /* a batch failed to commit */
	bool in_child;              /* an update of the batch is running */
	int batch_n;                /* updates in the open batch */
	struct store_txn *batch;    /* NULL: none open */
};

struct store_txn {
	struct store *s;
	MDB_txn *txn;
	bool write;
	bool full;                  /* met MDB_MAP_FULL: only abort is left */
};

/* Records an explanation on s (printf-style); returns err. */
int store_fail(struct store *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Warns (LOG_WARN, naming path and mode) when path is open to group or
 * others: the store and its snapshots hold secrets. */
void store_check_mode(const char *path);

/* Converts an LMDB code met while doing `what` into an err code. */
int store_mdb_err(struct store_txn *t, int rc, const char *what);

/* Encodes agent a into buf[0..cap), sealing its secrets when key is not
 * NULL; returns its length, ERR_TOOBIG or ERR_IO. */
int store_rec_encode(const struct store_agent *a, const uint8_t *key,
                     unsigned char *buf, size_t cap);

/* Decodes a record (unsealing with key); returns 0, ERR_VERSION (newer
 * format; `ver` gets the version found), ERR_CORRUPT (damaged, or sealed
 * and key NULL or wrong: *sealed tells). */
int store_rec_decode(const void *p, size_t n, const uint8_t *key,
                     struct store_agent *a, unsigned *ver, bool *sealed);

/* AES-256-GCM box of pt[0..n) bound to aad: nonce | ciphertext | tag into
 * out[0..cap). Returns its length, ERR_TOOBIG, ERR_IO. */
int store_seal(const uint8_t key[32], const char *aad, const uint8_t *pt,
               size_t n, uint8_t *out, size_t cap);

/* Opens a box; returns the plaintext length or ERR_CORRUPT. */
int store_unseal(const uint8_t key[32], const char *aad, const uint8_t *in,
                 size_t n, uint8_t *out, size_t cap);

/* store_txn_begin() without flushing an open batch first. */
int store_txn_open(struct store *s, bool write, struct store_txn **out);

/* Doubles the map (no transaction may be open). */
int store_grow_map(struct store *s);

/* store_update() while batching (store_batch.c). */
int store_batch_update(struct store *s,
                       int (*fn)(struct store_txn *, void *), void *arg);

/* Closes the environment of s (keeping the writer lock), and opens it
 * again (databases, schema check). Used by restore. */
void store_env_shut(struct store *s);
int store_env_reopen(struct store *s);

#endif
