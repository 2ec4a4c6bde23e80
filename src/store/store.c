/*
 * store: the LMDB environment, its lock, transactions, map growth and the
 * meta database. Agents are in store_agent.c, queues in store_q.c,
 * snapshots in store_snap.c.
 */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "store/secret.h"

const char *const store_db_name[STORE_NDB] = {
	"agents", "by_room", "by_user", "meta", "inbox", "outbox",
};

int store_fail(struct store *s, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->why, sizeof s->why, fmt, ap);
	va_end(ap);
	return err;
}

int store_mdb_err(struct store_txn *t, int rc, const char *what)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return ERR_NOTFOUND;
	case MDB_MAP_FULL:
		t->full = true;
		return store_fail(t->s, ERR_AGAIN, "%s: the map is full; run "
		                  "the transaction again", what);
	default:
		return store_fail(t->s, ERR_STORE, "%s: %s", what,
		                  mdb_strerror(rc));
	}
}

const char *store_why(const struct store *s) { return s->why; }
const char *store_dir(const struct store *s) { return s->dir; }
struct store *store_txn_store(struct store_txn *t) { return t->s; }

static int64_t real_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t store_now(const struct store *s)
{
	return s->clock ? s->clock() : real_clock();
}

/* ---- files and the writer lock ---- */

/* Warns when path is readable or writable by group or others: the store
 * holds access tokens. */
void store_check_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && (st.st_mode & 077))
		LOG_WARN("store", "event=wide_mode path=%s mode=%04o "
		         "want=%s", path, (unsigned)(st.st_mode & 07777),
		         S_ISDIR(st.st_mode) ? "0700" : "0600");
}

static int make_dir(struct store *s, const char *dir)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return store_fail(s, ERR_IO, "cannot create store directory "
		                  "%s: %s", dir, strerror(errno));
	store_check_mode(dir);
	return 0;
}

/* Takes <dir>/lettamx.lock exclusively and writes our pid into it. */
static int take_lock(struct store *s)
{
	char path[LIM_STORE_PATH + 16], pid[32] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/lettamx.lock", s->dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return store_fail(s, ERR_IO, "cannot open %s: %s", path,
		                  strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		n = pread(fd, pid, sizeof pid - 1, 0);
		pid[n > 0 ? n : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		close(fd);
		return store_fail(s, ERR_EXISTS, "a running lettamx (pid %s, "
		                  "lock %s) holds the store %s: stop it "
		                  "first (e.g. systemctl stop lettamx), then run "
		                  "this again; status, check, snapshots, "
		                  "snapshot and export-json work beside it",
		                  pid[0] ? pid : "unknown", path, s->dir);
	}
	n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		LOG_WARN("store", "event=lock_pid_unwritten path=%s", path);
	s->lock_fd = fd;
	return 0;
}

/* ---- transactions ---- */

int store_grow_map(struct store *s)
{
	size_t want = s->map_size * 2;
	int rc;

	if (s->ntxn)
		return store_fail(s, ERR_STORE, "cannot grow the map of %s "
		                  "with a transaction open", s->dir);
	if (s->map_size >= LIM_STORE_MAP_MAX)
		return store_fail(s, ERR_TOOBIG, "the store %s reached its "
		                  "cap of %u MiB", s->dir,
		                  (unsigned)(LIM_STORE_MAP_MAX >> 20));
	if (want > LIM_STORE_MAP_MAX)
		want = LIM_STORE_MAP_MAX;
	rc = mdb_env_set_mapsize(s->env, want);
	if (rc)
		return store_fail(s, ERR_STORE, "cannot grow the map to %zu "
		                  "bytes: %s", want, mdb_strerror(rc));
	LOG_INFO("store", "event=map_grown path=%s bytes=%zu", s->dir, want);
	s->map_size = want;
	return 0;
}

/* Another process grew the map: adopt its size. */
static void adopt_map(struct store *s)
{
	MDB_envinfo info;

	mdb_env_set_mapsize(s->env, 0);
	if (mdb_env_info(s->env, &info) == 0)
		s->map_size = info.me_mapsize;
}

int store_txn_begin(struct store *s, bool write, struct store_txn **out)
{
	/* An explicit transaction sees every update made before it (and a
	 * second writer would wait for the batch forever). */
	int r = store_batch_flush(s);

	return r < 0 ? r : store_txn_open(s, write, out);
}

int store_txn_open(struct store *s, bool write, struct store_txn **out)
{
	struct store_txn *t;
	int rc;

	if (write && s->read_only)
		return store_fail(s, ERR_INVAL, "the store %s is open "
		                  "read-only", s->dir);
	t = calloc(1, sizeof *t);
	if (!t)
		return store_fail(s, ERR_NOMEM, "out of memory");
	rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
	if (rc == MDB_MAP_RESIZED) {
		adopt_map(s);
		rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY,
		                   &t->txn);
	}
	if (rc) {
		free(t);
		return store_fail(s, ERR_STORE, "cannot begin a transaction "
		                  "on %s: %s", s->dir, mdb_strerror(rc));
	}
	t->s = s;
	t->write = write;
	s->ntxn++;
	*out = t;
	return 0;
}

/* Frees t; grows the map if t ran out of it. */
static int txn_end(struct store_txn *t, int r)
{
	struct store *s = t->s;
	bool full = t->full;

	s->ntxn--;
	free(t);
	if (full) {
		int g = store_grow_map(s);
		return g < 0 ? g : ERR_AGAIN;
	}
	return r;
}

int store_txn_commit(struct store_txn *t)
{
	int rc;

	if (t->full) {
		mdb_txn_abort(t->txn);
		return txn_end(t, ERR_AGAIN);
	}
	rc = mdb_txn_commit(t->txn);
	if (rc == MDB_MAP_FULL)
		t->full = true;
	else if (rc)
		store_fail(t->s, ERR_STORE, "commit on %s: %s", t->s->dir,
		           mdb_strerror(rc));
	return txn_end(t, rc ? ERR_STORE : 0);
}

void store_txn_abort(struct store_txn *t)
{
	mdb_txn_abort(t->txn);
	txn_end(t, 0);
}

uint64_t store_txn_id(struct store_txn *t)
{
	return (uint64_t)mdb_txn_id(t->txn);
}

int store_update(struct store *s, int (*fn)(struct store_txn *, void *),
                 void *arg)
{
	struct store_txn *t;
	int r, c;

	if (s->batching)
		return store_batch_update(s, fn, arg);
	for (;;) {
		if ((r = store_txn_begin(s, true, &t)) < 0)
			return r;
		r = fn(t, arg);
		if (r < 0 && !t->full) {
			store_txn_abort(t);
			return r;
		}
		c = store_txn_commit(t);    /* aborts a txn that is full */
		if (c != ERR_AGAIN)
			return c < 0 ? c : r;
	}
}

int store_view(struct store *s, int (*fn)(struct store_txn *, void *),
               void *arg)
{
	struct store_txn *t;
	int r;

	if (s->batch && !s->in_child) {
		/* The batch's own transaction: it sees the updates not yet
		 * committed, as the caller expects of an update done. */
		struct store_txn v = { .s = s, .txn = s->batch->txn };

		return fn(&v, arg);
	}
	if ((r = store_txn_open(s, false, &t)) < 0)
		return r;
	r = fn(t, arg);
	store_txn_abort(t);
	return r;
}

int store_count(struct store_txn *t, enum store_db db, uint64_t *n)
{
	MDB_stat st;
	int rc = mdb_stat(t->txn, t->s->dbi[db], &st);

	if (rc)
		return store_mdb_err(t, rc, "stat");
	*n = st.ms_entries;
	return 0;
}

/* ---- meta ---- */

int store_meta_get(struct store_txn *t, const char *key, char *out,
                   size_t cap)
{
	MDB_val k = { strlen(key), (void *)(uintptr_t)key }, v;
	int rc = mdb_get(t->txn, t->s->dbi[STORE_META], &k, &v);

	if (rc)
		return store_mdb_err(t, rc, "meta get");
	if (v.mv_size >= cap)
		return store_fail(t->s, ERR_TOOBIG, "meta %s is %zu bytes",
		                  key, v.mv_size);
	memcpy(out, v.mv_data, v.mv_size);
	out[v.mv_size] = 0;
	return 0;
}

int store_meta_put(struct store_txn *t, const char *key, const char *val)
{
	MDB_val k = { strlen(key), (void *)(uintptr_t)key };
	MDB_val v = { strlen(val), (void *)(uintptr_t)val };

	if (!k.mv_size || k.mv_size >= LIM_STORE_ID ||
	    v.mv_size >= LIM_STORE_META)
		return store_fail(t->s, ERR_TOOBIG, "meta %.40s: key or value "
		                  "too long", key);
	return store_mdb_err(t, mdb_put(t->txn, t->s->dbi[STORE_META], &k,
	                                &v, 0), "meta put");
}

int store_meta_del(struct store_txn *t, const char *key)
{
	MDB_val k = { strlen(key), (void *)(uintptr_t)key };

	return store_mdb_err(t, mdb_del(t->txn, t->s->dbi[STORE_META], &k,
	                                NULL), "meta del");
}

int store_meta_scan(struct store_txn *t, const char *prefix,
                    int (*fn)(const char *key, size_t kn, const char *val,
                              size_t vn, void *arg),
                    void *arg)
{
	size_t pn = strlen(prefix);
	MDB_val k = { pn, (void *)(uintptr_t)prefix }, v;
	MDB_cursor *c;
	int rc, r = 0;

	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_META], &c)))
		return store_mdb_err(t, rc, "cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); !rc && !r;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < pn || memcmp(k.mv_data, prefix, pn))
			break;
		r = fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return store_mdb_err(t, rc, "meta cursor");
	return r;
}

/* The keys a scan picked for deletion, a batch at a time: a cursor must
 * not outlive a delete, so they go after the walk. */
struct picked {
	int (*pick)(const char *key, size_t kn, const char *val, size_t vn,
	            void *arg);
	void *arg;
	int n, more;
	char key[16][STORE_META_KEY + 1];
};

static int pick_one(const char *key, size_t kn, const char *val, size_t vn,
                    void *arg)
{
	struct picked *p = arg;

	if (kn > STORE_META_KEY || !p->pick(key, kn, val, vn, p->arg))
		return 0;
	if (p->n == (int)(sizeof p->key / sizeof p->key[0])) {
		p->more = 1;
		return 1;
	}
	memcpy(p->key[p->n], key, kn);
	p->key[p->n++][kn] = '\0';
	return 0;
}

int store_meta_del_if(struct store_txn *t, const char *prefix,
                      int (*pick)(const char *key, size_t kn,
                                  const char *val, size_t vn, void *arg),
                      void *arg)
{
	struct picked *p = malloc(sizeof *p);  /* 8 KiB: off the stack */
	int r = 0;

	if (!p)
		return store_fail(t->s, ERR_NOMEM, "out of memory");
	p->pick = pick;
	p->arg = arg;
	do {
		p->n = p->more = 0;
		if ((r = store_meta_scan(t, prefix, pick_one, p)) < 0)
			break;
		for (int i = 0; i < p->n && r >= 0; i++)
			if ((r = store_meta_del(t, p->key[i])) == ERR_NOTFOUND)
				r = 0;
	} while (r >= 0 && p->more);
	free(p);
	return r < 0 ? r : 0;
}

/* ---- open ---- */

static int open_dbs(struct store *s)
{
	struct store_txn *t;
	unsigned flags = s->read_only ? 0 : MDB_CREATE;
	int r, rc = 0;

	if ((r = store_txn_begin(s, !s->read_only, &t)) < 0)
		return r;
	for (int i = 0; i < STORE_NDB && !rc; i++)
		rc = mdb_dbi_open(t->txn, store_db_name[i], flags, &s->dbi[i]);
	if (rc) {
		store_txn_abort(t);
		return store_fail(s, rc == MDB_NOTFOUND ? ERR_NOTFOUND :
		                  ERR_STORE, "%s is not a lettamx store: %s",
		                  s->dir, mdb_strerror(rc));
	}
	return store_txn_commit(t);
}

/* Writes the schema version and a random instance id into a new store. */
static int init_meta(struct store_txn *t, void *arg)
{
	uint8_t rnd[8];
	char hex[20], ver[16];
	int r;

	(void)arg;
	if (store_meta_get(t, "schema", ver, sizeof ver) == 0)
		return 0;
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		return store_fail(t->s, ERR_IO, "getrandom: %s",
		                  strerror(errno));
	secret_hex(rnd, sizeof rnd, hex);
	snprintf(ver, sizeof ver, "%d", STORE_SCHEMA);
	if ((r = store_meta_put(t, "schema", ver)) < 0)
		return r;
	return store_meta_put(t, "instance", hex);
}

/* Refuses a store of a newer schema; caches the instance id. */
static int check_schema(struct store_txn *t, void *arg)
{
	struct store *s = t->s;
	char ver[16], *end;
	long v;
	int r;

	(void)arg;
	if ((r = store_meta_get(t, "schema", ver, sizeof ver)) < 0)
		return store_fail(s, r == ERR_NOTFOUND ? ERR_CORRUPT : r,
		                  "%s has no schema version", s->dir);
	v = strtol(ver, &end, 10);
	if (*end || v < 1)
		return store_fail(s, ERR_CORRUPT, "%s has a bad schema "
		                  "version '%s'", s->dir, ver);
	if (v > STORE_SCHEMA)
		return store_fail(s, ERR_VERSION, "%s has schema version %ld, "
		                  "newer than this lettamx knows (%d); use a "
		                  "newer lettamx", s->dir, v, STORE_SCHEMA);
	r = store_meta_get(t, "instance", s->instance, sizeof s->instance);
	return r == ERR_NOTFOUND ? 0 : r;
}

static int env_open(struct store *s)
{
	char path[LIM_STORE_PATH + 16];
	int rc;

	rc = mdb_env_create(&s->env);
	if (!rc)
		rc = mdb_env_set_maxdbs(s->env, STORE_NDB + 2);
	if (!rc)
		rc = mdb_env_set_mapsize(s->env, s->map_size);
	if (!rc)
		rc = mdb_env_open(s->env, s->dir, MDB_NOTLS |
		                  (s->read_only ? MDB_RDONLY : 0), 0600);
	if (rc)
		return store_fail(s, ERR_STORE, "cannot open the store %s: %s",
		                  s->dir, mdb_strerror(rc));
	adopt_map(s);
	snprintf(path, sizeof path, "%s/data.mdb", s->dir);
	store_check_mode(path);
	return 0;
}

int store_open(struct store **out, const char *dir,
               const struct store_opts *opts, char *why, size_t whylen)
{
	struct store *s = calloc(1, sizeof *s);
	int r;

	*out = NULL;
	if (!s)
		return ERR_NOMEM;
	s->lock_fd = -1;
	s->read_only = opts && opts->read_only;
	s->clock = opts ? opts->clock : NULL;
	s->snap_keep = opts ? opts->snap_keep : 0;
	s->snap_days = opts ? opts->snap_days : 0;
	s->map_size = opts && opts->map_size ? opts->map_size :
	              LIM_STORE_MAP_INITIAL;
	if (strlen(dir) >= sizeof s->dir)
		r = store_fail(s, ERR_TOOBIG, "store path too long");
	else {
		memcpy(s->dir, dir, strlen(dir) + 1);
		r = s->read_only ? 0 : make_dir(s, dir);
	}
	if (!r && !s->read_only)
		r = take_lock(s);
	if (!r)
		r = env_open(s);
	if (!r)
		r = open_dbs(s);
	if (!r && !s->read_only)
		r = store_update(s, init_meta, NULL);
	if (!r)
		r = store_view(s, check_schema, NULL);
	if (r < 0) {
		if (why)
			snprintf(why, whylen, "%s", s->why);
		store_close(s);
		return r;
	}
	*out = s;
	return 0;
}

void store_env_shut(struct store *s)
{
	if (s->env)
		mdb_env_close(s->env);
	s->env = NULL;
}

int store_env_reopen(struct store *s)
{
	int r;

	store_env_shut(s);
	r = env_open(s);
	if (!r)
		r = open_dbs(s);
	if (!r)
		r = store_view(s, check_schema, NULL);
	return r;
}

void store_set_key(struct store *s, const uint8_t key[32])
{
	memcpy(s->key, key, sizeof s->key);
	s->has_key = true;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (store_batch_flush(s) < 0)
		LOG_ERROR("store", "event=batch_lost path=%s why=\"%s\"",
		          s->dir, s->why);
	memset(s->key, 0, sizeof s->key);
	if (s->env)
		mdb_env_close(s->env);
	if (s->lock_fd >= 0)
		close(s->lock_fd);      /* releases the flock */
	free(s);
}

int store_txnid(struct store_txn *t, uint64_t seq, char *out, size_t cap)
{
	int n = snprintf(out, cap, "lmx.%s.%" PRIu64, t->s->instance, seq);

	return n < 0 || (size_t)n >= cap ? ERR_TOOBIG : 0;
}
