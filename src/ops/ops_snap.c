/*
 * ops_snap: `lettamx snapshot [--reason R]`, `lettamx snapshots` and
 * `lettamx restore NAME [--dry-run]`.
 *
 * snapshot opens the store read-only: the copy comes from one read
 * transaction (store_snapshot verifies it against the state it was taken
 * from), so it works beside a running daemon. restore replaces the store
 * and so takes the writer lock: refused while the daemon runs.
 */
#include "ops/ops_cmd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "core/err.h"
#include "ops/ops_int.h"
#include "store/store_snap.h"

static void when(int64_t ms, char *out, size_t cap)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M:%SZ", &tm);
}

int ops_cmd_snapshot(int argc, char **argv)
{
	static const char *const flags[] = { "--reason=", NULL };
	static struct app a;    /* the process's one context (main runs one
	                         * command); too big for a small stack */
	const char *path, *vals[1];
	struct store_snap m;
	int set[1], r;

	if (app_args(argc, argv, flags, &path, set, vals)) {
		app_usage("snapshot", "[--reason R]");
		return 2;
	}
	r = app_open(&a, path, APP_READ);
	if (r)
		return r;
	r = store_snapshot(a.store, cfg_get(&a.cfg, "store", "snapshot_dir"),
	                   vals[0] ? vals[0] : "manual", &m);
	if (r)
		fprintf(stderr, "lettamx snapshot: %s\n", store_why(a.store));
	else
		printf("snapshot %s: %" PRIu64 " agents, %" PRIu64 " bytes, "
		       "verified\n", m.name, m.counts[STORE_AGENTS], m.size);
	app_close(&a);
	return r ? 1 : 0;
}

static void print_snap(const char *dir, const struct store_snap *l)
{
	struct store_snap v;
	char t[32], why[512];
	int r = store_snap_verify(dir, l->name, &v, why, sizeof why);

	when(l->created, t, sizeof t);
	printf("%-44s  %s  %-12s  %6d  %6" PRIu64 "  %5" PRIu64 "  %5" PRIu64
	       "  %9" PRIu64 "  %s%s\n", l->name, t, l->reason, l->schema,
	       l->counts[STORE_AGENTS], l->counts[STORE_INBOX],
	       l->counts[STORE_OUTBOX], l->size, r ? "NO: " : "yes",
	       r ? why : "");
}

int ops_cmd_snapshots(int argc, char **argv)
{
	static const char *const flags[] = { NULL };
	struct store_snap *list;
	struct cfg cfg;
	const char *path, *dir;
	char why[512];
	int n;

	if (app_args(argc, argv, flags, &path, NULL, NULL)) {
		app_usage("snapshots", "");
		return 2;
	}
	if (cfg_load(&cfg, path, NULL, why, sizeof why)) {
		fprintf(stderr, "lettamx: %s\n", why);
		return 2;
	}
	dir = cfg_get(&cfg, "store", "snapshot_dir");
	list = calloc(LIM_STORE_SNAPSHOTS, sizeof *list);
	n = list ? store_snap_list(dir, list, LIM_STORE_SNAPSHOTS) : ERR_NOMEM;
	if (n < 0) {
		fprintf(stderr, "lettamx snapshots: cannot list %s: %s\n", dir,
		        err_str(n));
		free(list);
		return 1;
	}
	if (n == 0)
		printf("no snapshots in %s (take one: lettamx snapshot)\n", dir);
	else
		printf("%-44s  %-20s  %-12s  %6s  %6s  %5s  %5s  %9s  %s\n",
		       "NAME", "TIME", "REASON", "SCHEMA", "AGENTS", "INBOX",
		       "OUTBX", "BYTES", "VERIFIED");
	for (int i = 0; i < n; i++)
		print_snap(dir, &list[i]);
	free(list);
	return 0;
}

/* ---- restore ---- */

static int count_fn(struct store_txn *t, void *arg)
{
	uint64_t *n = arg;

	return store_count(t, STORE_AGENTS, n);
}

/* --dry-run: what the restore would do, changing nothing. */
static int restore_plan(const struct cfg *cfg, const char *name,
                        const struct store_snap *v)
{
	const char *dir = cfg_get(cfg, "store", "path");
	struct store_opts so = { .read_only = true };
	struct store *s = NULL;
	char pid[32], why[512];
	uint64_t now = 0;
	int fd = access(dir, F_OK) == 0 ? ops_lock_take(dir, pid, sizeof pid)
	                                : -2;   /* no store: nothing holds it */

	if (fd >= 0)
		close(fd);
	if (store_open(&s, dir, &so, why, sizeof why) == 0)
		store_view(s, count_fn, &now);
	store_close(s);
	printf("would restore %s (verified: %" PRIu64 " agents, schema %d) "
	       "over the store %s (%" PRIu64 " agents), after a snapshot of "
	       "the current state\n", name, v->counts[STORE_AGENTS],
	       v->schema, dir, now);
	if (fd == -1) {
		printf("but now it would be refused: a running lettamx (pid "
		       "%s) holds the store; stop it first\n",
		       pid[0] ? pid : "unknown");
		return 1;
	}
	return 0;
}

int ops_cmd_restore(int argc, char **argv)
{
	static const char *const flags[] = { "--dry-run", NULL };
	struct store_opts so = { 0 };
	struct store_snap v;
	struct cfg cfg;
	const char *path, *name, *snapdir;
	char why[LIM_STORE_WHY + 64];
	int set[1], r;

	if (ops_args(argc, argv, flags, &path, set, NULL, &name) || !name) {
		app_usage("restore", "NAME [--dry-run]   (names: lettamx "
		          "snapshots)");
		return 2;
	}
	if (cfg_load(&cfg, path, NULL, why, sizeof why)) {
		fprintf(stderr, "lettamx: %s\n", why);
		return 2;
	}
	snapdir = cfg_get(&cfg, "store", "snapshot_dir");
	r = store_snap_verify(snapdir, name, &v, why, sizeof why);
	if (r) {
		fprintf(stderr, "lettamx restore: %s: %s; nothing was changed\n",
		        name, why);
		return 1;
	}
	if (set[0])
		return restore_plan(&cfg, name, &v);
	so.snap_keep = (int)cfg_num(&cfg, "store", "snapshot_keep");
	so.snap_days = (int)cfg_num(&cfg, "store", "snapshot_days");
	r = store_restore(cfg_get(&cfg, "store", "path"), snapdir, name, &so,
	                  why, sizeof why);
	if (r) {
		fprintf(stderr, "lettamx restore: %s%s\n", why, r == ERR_EXISTS ?
		        "; nothing was changed" : "");
		return 1;
	}
	printf("restored %s (%" PRIu64 " agents); the state before is in the "
	       "newest 'pre-restore' snapshot (lettamx snapshots).\n"
	       "Now run 'lettamx reconcile' so the store matches the server "
	       "again.\n", name, v.counts[STORE_AGENTS]);
	return 0;
}
