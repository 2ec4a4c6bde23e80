/*
 * store_snap: taking, describing and verifying snapshots (store_snap.h).
 * Retention and restore are in store_restore.c.
 */
#include "store/store_snap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "store/secret.h"
#include "store/store_int.h"
#include "store/store_snap_int.h"

#define MANIFEST_MAX 4096

/* ---- digests ---- */

static void sha_len(mbedtls_sha256_context *c, size_t n)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
	mbedtls_sha256_update(c, b, 8);
}

static void sha_bytes(mbedtls_sha256_context *c, const void *p, size_t n)
{
	sha_len(c, n);
	mbedtls_sha256_update(c, p, n);
}

/* Hashes one database into c; counts its entries. */
static int digest_db(MDB_txn *txn, MDB_dbi dbi, const char *name,
                     mbedtls_sha256_context *c, uint64_t *count)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	*count = 0;
	sha_bytes(c, name, strlen(name));
	if ((rc = mdb_cursor_open(txn, dbi, &cur)))
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		sha_bytes(c, k.mv_data, k.mv_size);
		sha_bytes(c, v.mv_data, v.mv_size);
		(*count)++;
	}
	mdb_cursor_close(cur);
	sha_len(c, *count);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_snap_digest_txn(MDB_txn *txn, const MDB_dbi *dbi, uint8_t digest[32],
                    uint64_t counts[STORE_NDB])
{
	mbedtls_sha256_context c;
	uint64_t tmp[STORE_NDB];
	int rc = 0;

	if (!counts)
		counts = tmp;
	mbedtls_sha256_init(&c);
	mbedtls_sha256_starts(&c, 0);
	for (int i = 0; i < STORE_NDB && !rc; i++)
		rc = digest_db(txn, dbi[i], store_db_name[i], &c, &counts[i]);
	mbedtls_sha256_finish(&c, digest);
	mbedtls_sha256_free(&c);
	return rc;
}

int store_digest(struct store_txn *t, uint8_t digest[32],
                 uint64_t counts[STORE_NDB])
{
	int rc = store_snap_digest_txn(t->txn, t->s->dbi, digest, counts);

	return rc ? store_mdb_err(t, rc, "digest") : 0;
}

/* SHA-256 and size of a file. */
int store_snap_file_sha(const char *path, uint8_t sha[32], uint64_t *size)
{
	mbedtls_sha256_context c;
	unsigned char buf[16384];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? ERR_NOTFOUND : ERR_IO;
	*size = 0;
	mbedtls_sha256_init(&c);
	mbedtls_sha256_starts(&c, 0);
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		mbedtls_sha256_update(&c, buf, (size_t)n);
		*size += (uint64_t)n;
	}
	mbedtls_sha256_finish(&c, sha);
	mbedtls_sha256_free(&c);
	close(fd);
	return n < 0 ? ERR_IO : 0;
}

/* Opens a snapshot file read-only (no lock file) and digests it; schema
 * gets its schema version (0 if none). */
int store_snap_file_digest(const char *path, uint8_t digest[32],
                     uint64_t counts[STORE_NDB], int *schema)
{
	MDB_env *env;
	MDB_txn *txn = NULL;
	MDB_dbi dbi[STORE_NDB];
	MDB_val k = { 6, "schema" }, v;
	char ver[16];
	int rc;

	*schema = 0;
	if ((rc = mdb_env_create(&env)))
		return rc;
	mdb_env_set_maxdbs(env, STORE_NDB + 2);
	rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK,
	                  0600);
	if (!rc)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	for (int i = 0; i < STORE_NDB && !rc; i++)
		rc = mdb_dbi_open(txn, store_db_name[i], 0, &dbi[i]);
	if (!rc)
		rc = store_snap_digest_txn(txn, dbi, digest, counts);
	if (!rc && !mdb_get(txn, dbi[STORE_META], &k, &v) &&
	    v.mv_size < sizeof ver) {
		memcpy(ver, v.mv_data, v.mv_size);
		ver[v.mv_size] = 0;
		*schema = (int)strtol(ver, NULL, 10);
	}
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc;
}

/* ---- files ---- */

int store_snap_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0)
		return ERR_IO;
	r = fsync(fd);
	close(fd);
	return r ? ERR_IO : 0;
}

static int write_all(const char *path, const char *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t w;

	if (fd < 0)
		return ERR_IO;
	w = write(fd, data, n);
	if (w != (ssize_t)n || fsync(fd) != 0) {
		close(fd);
		return ERR_IO;
	}
	return close(fd) ? ERR_IO : 0;
}

/* ---- manifests ---- */

static void hex32(const uint8_t *b, char *out)
{
	secret_hex(b, 32, out);
}

static int unhex32(const char *s, uint8_t *b)
{
	unsigned v;

	if (strlen(s) != 64)
		return ERR_CORRUPT;
	for (int i = 0; i < 32; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return ERR_CORRUPT;
		b[i] = (uint8_t)v;
	}
	return 0;
}

static int manifest_text(const struct store_snap *m, char *buf, size_t cap,
                         size_t *n)
{
	struct json_w w;
	char hex[65];

	json_w_init(&w, buf, cap);
	json_w_obj(&w);
	json_w_kint(&w, "format", 1);
	json_w_kstr(&w, "name", m->name);
	json_w_kint(&w, "seq", (int64_t)m->seq);
	json_w_kint(&w, "created", m->created);
	json_w_kstr(&w, "reason", m->reason);
	json_w_kint(&w, "schema", m->schema);
	json_w_kint(&w, "txnid", (int64_t)m->txnid);
	json_w_kint(&w, "size", (int64_t)m->size);
	hex32(m->sha256, hex);
	json_w_kstr(&w, "sha256", hex);
	hex32(m->digest, hex);
	json_w_kstr(&w, "digest", hex);
	json_w_key(&w, "counts");
	json_w_obj(&w);
	for (int i = 0; i < STORE_NDB; i++)
		json_w_kint(&w, store_db_name[i], (int64_t)m->counts[i]);
	json_w_obj_end(&w);
	json_w_obj_end(&w);
	return json_w_finish(&w, n);
}

static int manifest_fields(const struct json *j, struct store_snap *m)
{
	char hex[80];
	int64_t v;
	int r, c;

	if ((r = json_get_int(j, 0, "format", 1, 1, &v)) < 0 ||
	    (r = json_get_str(j, 0, "name", m->name, sizeof m->name)) < 0 ||
	    (r = json_get_str(j, 0, "reason", m->reason,
	                      sizeof m->reason)) < 0 ||
	    (r = json_get_int(j, 0, "created", 0, INT64_MAX,
	                      &m->created)) < 0)
		return r;
	if ((r = json_get_int(j, 0, "seq", 0, INT64_MAX, &v)) < 0)
		return r;
	m->seq = (uint64_t)v;
	if ((r = json_get_int(j, 0, "schema", 0, 1 << 20, &v)) < 0)
		return r;
	m->schema = (int)v;
	if ((r = json_get_int(j, 0, "txnid", 0, INT64_MAX, &v)) < 0)
		return r;
	m->txnid = (uint64_t)v;
	if ((r = json_get_int(j, 0, "size", 0, INT64_MAX, &v)) < 0)
		return r;
	m->size = (uint64_t)v;
	if ((r = json_get_str(j, 0, "sha256", hex, sizeof hex)) < 0 ||
	    (r = unhex32(hex, m->sha256)) < 0 ||
	    (r = json_get_str(j, 0, "digest", hex, sizeof hex)) < 0 ||
	    (r = unhex32(hex, m->digest)) < 0)
		return r;
	c = json_get(j, 0, "counts");
	for (int i = 0; i < STORE_NDB; i++) {
		if ((r = json_get_int(j, c, store_db_name[i], 0, INT64_MAX,
		                      &v)) < 0)
			return r;
		m->counts[i] = (uint64_t)v;
	}
	return 0;
}

int store_snap_manifest_read(const char *snapdir, const char *name,
                       struct store_snap *m)
{
	char path[LIM_STORE_PATH + 128], buf[MANIFEST_MAX];
	struct json j;
	ssize_t n;
	int fd, r;

	memset(m, 0, sizeof *m);
	snprintf(path, sizeof path, "%s/%s.json", snapdir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? ERR_NOTFOUND : ERR_IO;
	n = read(fd, buf, sizeof buf);
	close(fd);
	if (n < 0)
		return ERR_IO;
	json_init(&j);
	r = json_parse(&j, buf, (size_t)n);
	if (r == 0)
		r = manifest_fields(&j, m);
	json_free(&j);
	if (r == 0 && strcmp(m->name, name))
		r = ERR_CORRUPT;
	return r < 0 ? ERR_CORRUPT : 0;
}

/* ---- listing ---- */

/* True for "<name>.json" of a finished snapshot; name gets the base. */
static bool manifest_name(const char *file, char *name)
{
	size_t n = strlen(file);

	if (file[0] == '.' || n < 6 || n - 5 >= STORE_SNAP_NAME ||
	    strcmp(file + n - 5, ".json"))
		return false;
	memcpy(name, file, n - 5);
	name[n - 5] = 0;
	return true;
}

int store_snap_list(const char *snapdir, struct store_snap *out, int max)
{
	DIR *d = opendir(snapdir);
	struct dirent *e;
	char name[STORE_SNAP_NAME];
	struct store_snap m;
	int n = 0, i;

	if (!d)
		return errno == ENOENT ? 0 : ERR_IO;
	while ((e = readdir(d))) {
		if (!manifest_name(e->d_name, name) ||
		    store_snap_manifest_read(snapdir, name, &m) < 0)
			continue;
		if (n == max) {
			closedir(d);
			return ERR_TOOBIG;
		}
		for (i = n; i > 0 && out[i - 1].seq > m.seq; i--)
			out[i] = out[i - 1];
		out[i] = m;
		n++;
	}
	closedir(d);
	return n;
}

/* The highest sequence number in snapdir (from file names). */
static uint64_t max_seq(const char *snapdir)
{
	DIR *d = opendir(snapdir);
	struct dirent *e;
	uint64_t best = 0;
	const char *p;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		p = e->d_name[0] == '.' ? NULL : strchr(e->d_name, '-');
		if (p) {
			uint64_t v = strtoull(p + 1, NULL, 10);
			best = v > best ? v : best;
		}
	}
	closedir(d);
	return best;
}

/* ---- taking a snapshot ---- */

static void snap_name(struct store_snap *m, const char *reason)
{
	time_t secs = (time_t)(m->created / 1000);
	char when[32];
	size_t i;
	struct tm tm;

	for (i = 0; reason[i] && i < sizeof m->reason - 1; i++) {
		char c = reason[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		          c == '-' || c == '_';
		m->reason[i] = ok ? c : '_';
	}
	m->reason[i] = 0;
	gmtime_r(&secs, &tm);
	strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(m->name, sizeof m->name, "%s-%06" PRIu64 "-%s", when, m->seq,
	         m->reason[0] ? m->reason : "none");
}

/* Records the live state (digest, counts, txn id, schema) in m. */
static int live_state(struct store *s, struct store_snap *m)
{
	struct store_txn *t;
	char ver[16];
	int r;

	if ((r = store_txn_begin(s, false, &t)) < 0)
		return r;
	m->txnid = store_txn_id(t);
	r = store_digest(t, m->digest, m->counts);
	if (r == 0 && store_meta_get(t, "schema", ver, sizeof ver) == 0)
		m->schema = (int)strtol(ver, NULL, 10);
	store_txn_abort(t);
	return r;
}

/* Copies the environment into tmp and checks it holds m's digest. */
static int copy_verified(struct store *s, const char *tmp,
                         struct store_snap *m)
{
	uint8_t dg[32];
	uint64_t counts[STORE_NDB];
	int fd, rc, schema;

	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return store_fail(s, ERR_IO, "cannot create %s: %s", tmp,
		                  strerror(errno));
	rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
	if (rc || fsync(fd) != 0) {
		close(fd);
		unlink(tmp);
		return store_fail(s, ERR_IO, "copy to %s failed: %s", tmp,
		                  rc ? mdb_strerror(rc) : strerror(errno));
	}
	close(fd);
	if (store_snap_file_sha(tmp, m->sha256, &m->size) < 0 ||
	    store_snap_file_digest(tmp, dg, counts, &schema) != 0 ||
	    memcmp(dg, m->digest, 32) || memcmp(counts, m->counts,
	                                        sizeof counts)) {
		unlink(tmp);
		return store_fail(s, ERR_CORRUPT, "the copy %s does not hold "
		                  "the state it was taken from", tmp);
	}
	return 0;
}

/* Writes the manifest and renames both files into place. */
static int publish(struct store *s, const char *snapdir, const char *tmp,
                   const struct store_snap *m)
{
	char buf[MANIFEST_MAX], path[LIM_STORE_PATH + 128];
	char tmpj[LIM_STORE_PATH + 128];
	size_t n;
	int r;

	if ((r = manifest_text(m, buf, sizeof buf, &n)) < 0)
		return store_fail(s, r, "manifest too big");
	snprintf(tmpj, sizeof tmpj, "%s/.tmp-%s.json", snapdir, m->name);
	snprintf(path, sizeof path, "%s/%s.mdb", snapdir, m->name);
	if (write_all(tmpj, buf, n) < 0 || rename(tmp, path) != 0) {
		unlink(tmpj);
		return store_fail(s, ERR_IO, "cannot write snapshot %s: %s",
		                  path, strerror(errno));
	}
	snprintf(path, sizeof path, "%s/%s.json", snapdir, m->name);
	if (rename(tmpj, path) != 0 || store_snap_fsync_dir(snapdir) < 0)
		return store_fail(s, ERR_IO, "cannot publish snapshot %s: %s",
		                  path, strerror(errno));
	return 0;
}

int store_snapshot(struct store *s, const char *snapdir, const char *reason,
                   struct store_snap *snap)
{
	struct store_snap m;
	char tmp[LIM_STORE_PATH + 128];
	int r = ERR_CORRUPT;

	memset(&m, 0, sizeof m);
	if (mkdir(snapdir, 0700) != 0 && errno != EEXIST)
		return store_fail(s, ERR_IO, "cannot create snapshot directory "
		                  "%s: %s", snapdir, strerror(errno));
	store_check_mode(snapdir);
	m.seq = max_seq(snapdir) + 1;
	m.created = store_now(s);
	snap_name(&m, reason);
	snprintf(tmp, sizeof tmp, "%s/.tmp-%s.mdb", snapdir, m.name);
	/* a writer in another process may commit between the digest and
	 * the copy (read-only opens); the check catches it, so try again */
	for (int attempt = 0; attempt < 3 && r == ERR_CORRUPT; attempt++) {
		if ((r = live_state(s, &m)) < 0)
			return r;
		r = copy_verified(s, tmp, &m);
	}
	if (r == 0)
		r = publish(s, snapdir, tmp, &m);
	if (r < 0)
		return r;
	LOG_INFO("store", "event=snapshot name=%s txnid=%" PRIu64 " agents=%"
	         PRIu64 " bytes=%" PRIu64, m.name, m.txnid,
	         m.counts[STORE_AGENTS], m.size);
	/* retention never removes the snapshot just taken: it is the newest
	 * and snap_keep >= 1 */
	if (s->snap_keep > 0 &&
	    store_snap_prune(snapdir, s->snap_keep, s->snap_days,
	                     m.created) < 0)
		LOG_WARN("store", "event=prune_failed dir=%s", snapdir);
	if (snap)
		*snap = m;
	return 0;
}

int store_snap_verify(const char *snapdir, const char *name,
                      struct store_snap *snap, char *why, size_t whylen)
{
	char path[LIM_STORE_PATH + 128];
	uint8_t sha[32], dg[32];
	uint64_t size, counts[STORE_NDB];
	int r, schema;

	r = store_snap_manifest_read(snapdir, name, snap);
	if (r < 0) {
		snprintf(why, whylen, "snapshot %s: %s manifest", name,
		         r == ERR_NOTFOUND ? "no" : "unreadable");
		return r;
	}
	snprintf(path, sizeof path, "%s/%s.mdb", snapdir, name);
	r = store_snap_file_sha(path, sha, &size);
	if (r < 0 || size != snap->size || memcmp(sha, snap->sha256, 32)) {
		snprintf(why, whylen, "snapshot %s is %s (%" PRIu64 " bytes, "
		         "manifest says %" PRIu64 ")", path, r < 0 ? "missing" :
		         "truncated or damaged", r < 0 ? 0 : size, snap->size);
		return r == ERR_NOTFOUND ? r : ERR_CORRUPT;
	}
	if (snap->schema > STORE_SCHEMA) {
		snprintf(why, whylen, "snapshot %s has schema version %d, newer "
		         "than this lettamx knows (%d)", name, snap->schema,
		         STORE_SCHEMA);
		return ERR_VERSION;
	}
	if (store_snap_file_digest(path, dg, counts, &schema) != 0 ||
	    memcmp(dg, snap->digest, 32) || schema != snap->schema) {
		snprintf(why, whylen, "snapshot %s does not hold the content "
		         "its manifest describes", path);
		return ERR_CORRUPT;
	}
	return 0;
}

/* ---- proving a snapshot holds the state before a change ---- */

int store_snap_check_before(struct store_txn *t,
                            const struct store_snap *snap)
{
	struct store *s = t->s;
	struct store_txn *before;
	uint8_t committed[32];
	int r;

	if ((r = store_txn_begin(s, false, &before)) < 0)
		return r;
	r = store_digest(before, committed, NULL);
	store_txn_abort(before);
	if (r < 0)
		return r;
	if (memcmp(committed, snap->digest, 32))
		return store_fail(s, ERR_CORRUPT, "snapshot %s does not hold "
		                  "the state this change modifies; not "
		                  "committing", snap->name);
	return 0;
}

int store_update_snap(struct store *s, const char *snapdir,
                      const char *reason,
                      int (*fn)(struct store_txn *, void *), void *arg,
                      struct store_snap *snap)
{
	struct store_snap m;
	struct store_txn *t;
	int r, c;

	if ((r = store_snapshot(s, snapdir, reason, &m)) < 0)
		return r;
	if (snap)
		*snap = m;
	for (;;) {
		if ((r = store_txn_begin(s, true, &t)) < 0)
			return r;
		r = fn(t, arg);
		if (r >= 0 && !t->full) {
			int p = store_snap_check_before(t, &m);
			r = p < 0 ? p : r;
		}
		if (r < 0 && !t->full) {
			store_txn_abort(t);
			return r;
		}
		c = store_txn_commit(t);
		if (c != ERR_AGAIN)
			return c < 0 ? c : r;
	}
}
