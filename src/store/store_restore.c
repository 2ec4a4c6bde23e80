/*
 * store_restore: snapshot retention and restore (store_snap.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "store/store_int.h"
#include "store/store_snap_int.h"

#define DAY_MS (86400 * (int64_t)1000)

/* ---- retention ---- */

static void remove_snap(const char *snapdir, const char *name)
{
	char path[LIM_STORE_PATH + 128];

	/* the manifest first: a snapshot without one is never listed */
	snprintf(path, sizeof path, "%s/%s.json", snapdir, name);
	unlink(path);
	snprintf(path, sizeof path, "%s/%s.mdb", snapdir, name);
	unlink(path);
	LOG_INFO("store", "event=snapshot_removed name=%s", name);
}

/* Removes leftovers (".tmp-*") of snapshots interrupted by a crash. */
static void remove_leftovers(const char *snapdir)
{
	char path[LIM_STORE_PATH + 300];
	DIR *d = opendir(snapdir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, ".tmp-", 5)) {
			snprintf(path, sizeof path, "%s/%s", snapdir, e->d_name);
			unlink(path);
		}
	closedir(d);
}

/* Marks in keep[] the snapshots retention keeps; list is in seq order. */
static void mark_kept(const struct store_snap *list, int n, bool *keep,
                      int keep_last, int keep_days, int64_t now)
{
	int64_t today = now / DAY_MS, last_day = INT64_MIN;

	for (int i = 0; i < n; i++)
		keep[i] = i >= n - keep_last;
	for (int i = 0; i < n; i++) {
		int64_t day = list[i].created / DAY_MS;
		if (day == last_day || today - day >= keep_days ||
		    day > today)
			continue;
		/* the first of its day, unless an earlier one came first */
		bool seen = false;
		for (int k = 0; k < i && !seen; k++)
			seen = list[k].created / DAY_MS == day;
		keep[i] = keep[i] || !seen;
		last_day = day;
	}
}

int store_snap_prune(const char *snapdir, int keep_last, int keep_days,
                     int64_t now)
{
	struct store_snap *list;
	bool *keep;
	int n, removed = 0;

	list = calloc(LIM_STORE_SNAPSHOTS, sizeof *list);
	keep = calloc(LIM_STORE_SNAPSHOTS, sizeof *keep);
	if (!list || !keep) {
		free(list);
		free(keep);
		return ERR_NOMEM;
	}
	n = store_snap_list(snapdir, list, LIM_STORE_SNAPSHOTS);
	if (n >= 0) {
		mark_kept(list, n, keep, keep_last, keep_days, now);
		for (int i = 0; i < n; i++)
			if (!keep[i]) {
				remove_snap(snapdir, list[i].name);
				removed++;
			}
		remove_leftovers(snapdir);
		store_snap_fsync_dir(snapdir);
	}
	free(list);
	free(keep);
	return n < 0 ? n : removed;
}

/* ---- restore ---- */

/* Copies file src to dst (created 0600, fsynced). */
static int copy_file(const char *src, const char *dst)
{
	char buf[16384];
	int in = open(src, O_RDONLY | O_CLOEXEC), out, r = 0;
	ssize_t n;

	if (in < 0)
		return ERR_IO;
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return ERR_IO;
	}
	while (r == 0 && (n = read(in, buf, sizeof buf)) != 0)
		if (n < 0 || write(out, buf, (size_t)n) != n)
			r = ERR_IO;
	if (r == 0 && fsync(out) != 0)
		r = ERR_IO;
	close(in);
	if (close(out) != 0)
		r = ERR_IO;
	return r;
}

static uint64_t meta_u64(struct store *s, const char *key)
{
	struct store_txn *t;
	char buf[32];
	uint64_t v = 0;

	if (store_txn_begin(s, false, &t) == 0) {
		if (store_meta_get(t, key, buf, sizeof buf) == 0)
			v = strtoull(buf, NULL, 10);
		store_txn_abort(t);
	}
	return v;
}

/* Keeps the queue sequence counter at least `floor` (outbox transaction
 * ids derive from it and must never repeat). */
static int raise_seq(struct store_txn *t, void *arg)
{
	uint64_t floor = *(uint64_t *)arg;
	char buf[32];

	int e = store_meta_del(t, STORE_META_DM_SCANNED);

	/* what came after the snapshot is not here: the direct chats made
	 * since are looked for again by their marks */
	if (e && e != ERR_NOTFOUND)
		return e;
	if (store_meta_get(t, "q_seq", buf, sizeof buf) == 0 &&
	    strtoull(buf, NULL, 10) >= floor)
		return 0;
	snprintf(buf, sizeof buf, "%" PRIu64, floor);
	return store_meta_put(t, "q_seq", buf);
}

/* Swaps data.mdb for the snapshot file with the environment closed and
 * checks the store now holds the snapshot's content. */
static int swap_in(struct store *s, const char *snapfile,
                   const struct store_snap *snap)
{
	char tmp[LIM_STORE_PATH + 32], data[LIM_STORE_PATH + 32];
	struct store_txn *t;
	uint8_t dg[32];
	int r;

	snprintf(tmp, sizeof tmp, "%s/.restore.mdb", s->dir);
	snprintf(data, sizeof data, "%s/data.mdb", s->dir);
	if (copy_file(snapfile, tmp) < 0) {
		unlink(tmp);
		return store_fail(s, ERR_IO, "cannot copy %s to %s: %s",
		                  snapfile, tmp, strerror(errno));
	}
	store_env_shut(s);
	/* one rename: data.mdb is the old store or the new one, never half */
	if (rename(tmp, data) != 0 || store_snap_fsync_dir(s->dir) < 0) {
		unlink(tmp);
		store_env_reopen(s);
		return store_fail(s, ERR_IO, "cannot replace %s: %s", data,
		                  strerror(errno));
	}
	if ((r = store_env_reopen(s)) < 0)
		return r;
	if ((r = store_txn_begin(s, false, &t)) < 0)
		return r;
	r = store_digest(t, dg, NULL);
	store_txn_abort(t);
	if (r == 0 && memcmp(dg, snap->digest, 32))
		r = store_fail(s, ERR_CORRUPT, "after restore, %s does not hold "
		               "the content of %s", data, snap->name);
	return r;
}

int store_restore(const char *dir, const char *snapdir, const char *name,
                  const struct store_opts *opts, char *why, size_t whylen)
{
	char snapfile[LIM_STORE_PATH + 128];
	struct store_snap snap, pre;
	struct store *s;
	uint64_t seq;
	int r;

	if ((r = store_snap_verify(snapdir, name, &snap, why, whylen)) < 0)
		return r;
	if ((r = store_open(&s, dir, opts, why, whylen)) < 0)
		return r;
	snprintf(snapfile, sizeof snapfile, "%s/%s.mdb", snapdir, name);
	seq = meta_u64(s, "q_seq");
	r = store_snapshot(s, snapdir, "pre-restore", &pre);
	if (r == 0)
		r = swap_in(s, snapfile, &snap);
	if (r == 0)
		r = store_update(s, raise_seq, &seq);
	if (r < 0)
		snprintf(why, whylen, "%s", s->why);
	else
		LOG_INFO("store", "event=restored name=%s store=%s "
		         "previous=%s", name, dir, pre.name);
	store_close(s);
	return r;
}
