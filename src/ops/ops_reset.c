/*
 * ops_reset: `lettamx reset --local-only [--dry-run]` and
 * `lettamx reset --leave-rooms --yes [--dry-run]` (seed 004: explicit
 * modes, never anything destructive by default).
 *
 * --local-only snapshots the store, then removes it (data.mdb and
 * lock.mdb), keeping the snapshots and the master secret; what lettamx
 * made on the server stays there and the next start reconciles it back.
 *
 * --leave-rooms also makes the bot and every agent user leave and forget
 * each managed room and the Space, then resets locally as above (a store
 * pointing at rooms the bot left is the stale mapping of seed 000), and
 * prints what only a person in a Matrix client or a server admin can do.
 *
 * Both hold the writer lock from the start: refused beside a daemon.
 */
#include "ops/ops_cmd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "core/err.h"
#include "matrix/matrix.h"
#include "ops/ops_check.h"
#include "ops/ops_int.h"
#include "prov/provision.h"
#include "store/store_snap.h"

struct reset {
	struct app app;
	struct ops_recs recs;
	uint64_t queued;                /* inbox + outbox entries */
	char bot_token[LIM_STORE_SECRET];
	int leave, dry;
	size_t left, gone, failed;
};

static int read_fn(struct store_txn *t, void *arg)
{
	struct reset *r = arg;
	uint64_t in = 0, out = 0;
	bool clear;
	int rc = ops_recs_read(t, &r->recs);

	if (!rc)
		rc = store_count(t, STORE_INBOX, &in);
	if (!rc)
		rc = store_count(t, STORE_OUTBOX, &out);
	r->queued = in + out;
	if (!rc && r->leave && !r->app.pc.bot_token &&
	    store_meta_get_sealed(t, PROV_META_BOT_TOKEN, r->bot_token,
	                          sizeof r->bot_token, &clear) < 0)
		r->bot_token[0] = '\0';
	return rc;
}

static size_t rooms(const struct ops_recs *recs)
{
	size_t n = 0;

	for (size_t i = 0; i < recs->n; i++)
		n += recs->a[i].room_id[0] != '\0';
	return n;
}

static void print_remains(const struct reset *r)
{
	printf("on the server, %s: the Space %s, %zu agent rooms and %zu "
	       "agent users\n", r->leave ? "the rooms stay for the people in "
	       "them" : "everything stays", r->recs.space_id[0] ?
	       r->recs.space_id : "(none recorded)", rooms(&r->recs),
	       r->recs.n);
	printf("kept: the snapshots in %s and the master secret %s\n",
	       cfg_get(&r->app.cfg, "store", "snapshot_dir"),
	       cfg_get(&r->app.cfg, "store", "master_secret_file"));
	if (!r->leave)
		printf("the next start (lettamx run, or lettamx reconcile) "
		       "finds the Space, the rooms and the users by their "
		       "markers and rebuilds the store from them: nothing is "
		       "created again\n");
}

/* Removes the LMDB files under our own hold of the lock file. */
static int remove_store(const char *dir)
{
	static const char *const files[] = { "data.mdb", "lock.mdb" };
	char path[LIM_STORE_PATH + 16], pid[32];
	int fd = ops_lock_take(dir, pid, sizeof pid);

	if (fd < 0) {
		ops_lock_refused("reset", dir, pid);
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		if (unlink(path) != 0 && errno != ENOENT) {
			fprintf(stderr, "lettamx reset: cannot remove %s: %s\n",
			        path, strerror(errno));
			close(fd);
			return 1;
		}
	}
	close(fd);
	return 0;
}

/* ---- leaving the rooms ---- */

struct leave_ans {
	struct mx_error e;
	int ok;
};

static int leave_fn(void *arg, const struct proto_resp *resp)
{
	struct leave_ans *a = arg;

	a->ok = mx_ok(resp);
	if (!a->ok)
		mx_error_parse(resp, &a->e);
	return 0;
}

/* POST .../leave, then .../forget, as the holder of token. */
static void leave_one(struct reset *r, const char *token, const char *room,
                      const char *who)
{
	struct proto_req req;
	struct leave_ans a;
	size_t n;

	memset(&a, 0, sizeof a);
	if (!token || !token[0] || mx_req_leave(&req, token, room) < 0) {
		r->failed++;
		printf("  %s cannot leave %s: no access token\n", who, room);
		return;
	}
	ops_call(&r->app, OPS_MATRIX, &req, leave_fn, &a);
	/* forget: the same path ending in /forget (the API needs a left
	 * room) */
	n = strlen(req.path);
	if (n > 6 && !strcmp(req.path + n - 6, "/leave") &&
	    (a.ok || a.e.status == 403 || a.e.status == 404)) {
		snprintf(req.path + n - 6, sizeof req.path - n + 6, "/forget");
		ops_call(&r->app, OPS_MATRIX, &req, leave_fn, &a);
	}
	memset(&req, 0, sizeof req);
	if (a.ok)
		r->left++;
	else if (a.e.status == 403 || a.e.status == 404)
		r->gone++;
	else {
		char msg[300];

		mx_error_msg(&a.e, msg, sizeof msg);
		r->failed++;
		printf("  %s could not leave %s: %s\n", who, room, msg);
	}
}

static void leave_all(struct reset *r)
{
	const char *bot = r->app.pc.bot_token ? r->app.pc.bot_token
	                                      : r->bot_token;

	for (size_t i = 0; i < r->recs.n; i++) {
		const struct store_agent *a = &r->recs.a[i];

		if (!a->room_id[0])
			continue;
		leave_one(r, a->access_token, a->room_id, a->user_id);
		leave_one(r, bot, a->room_id, r->app.bot_user);
	}
	if (r->recs.space_id[0])
		leave_one(r, bot, r->recs.space_id, r->app.bot_user);
	printf("left and forgot: %zu; already gone: %zu; failed: %zu\n",
	       r->left, r->gone, r->failed);
}

static void print_manual(const struct reset *r)
{
	printf("What the Matrix API cannot do for you:\n"
	       "  1. The rooms still exist for the people in them. In your "
	       "Matrix client leave the Space '%s' and each agent room, then "
	       "forget them (Element: right-click the room > Leave; then, in "
	       "'Historical', Forget).\n"
	       "  2. Only a homeserver admin can delete rooms for good "
	       "(Synapse: DELETE /_synapse/admin/v2/rooms/<room id>) and "
	       "deactivate the agent users (POST /_synapse/admin/v1/"
	       "deactivate/<user id>); lettamx never does.\n"
	       "  3. The next start creates a new Space and new rooms.\n",
	       cfg_get(&r->app.cfg, "matrix", "space_name"));
	for (size_t i = 0; i < r->recs.n; i++)
		if (r->recs.a[i].room_id[0])
			printf("     room %s (%s)\n", r->recs.a[i].room_id,
			       r->recs.a[i].name);
}

static int plan(struct reset *r)
{
	const char *dir = cfg_get(&r->app.cfg, "store", "path");

	if (r->leave)
		printf("would make the bot and %zu agent users leave and forget "
		       "%zu rooms and the Space %s\n", r->recs.n,
		       rooms(&r->recs), r->recs.space_id[0] ?
		       r->recs.space_id : "(none recorded)");
	printf("would snapshot the store (%zu agents, %" PRIu64 " queued "
	       "messages), then remove %s/data.mdb and %s/lock.mdb\n",
	       r->recs.n, r->queued, dir, dir);
	print_remains(r);
	if (r->leave)
		print_manual(r);
	printf("nothing was changed (dry run)\n");
	return 0;
}

static int reset_run(struct reset *r)
{
	const char *dir = cfg_get(&r->app.cfg, "store", "path");
	const char *snapdir = cfg_get(&r->app.cfg, "store", "snapshot_dir");
	struct store_snap m, v;
	char why[512];

	if (store_snapshot(r->app.store, snapdir, "reset", &m) ||
	    store_snap_verify(snapdir, m.name, &v, why, sizeof why)) {
		fprintf(stderr, "lettamx reset: no verified snapshot (%s); "
		        "nothing was changed\n", store_why(r->app.store));
		return 1;
	}
	printf("snapshot %s holds the store (%" PRIu64 " agents); "
	       "lettamx restore %s brings it back\n", m.name,
	       m.counts[STORE_AGENTS], m.name);
	if (r->leave) {
		if (app_net_open(&r->app)) {
			fprintf(stderr, "lettamx reset: out of memory\n");
			return 1;
		}
		leave_all(r);
		if (r->failed) {
			/* the store still says where the rest is: keep it */
			fprintf(stderr, "lettamx reset: %zu leaves failed; the "
			        "store is kept: run lettamx reset --leave-rooms "
			        "--yes again (rooms already left count as "
			        "gone)\n", r->failed);
			return 1;
		}
	}
	/* the lock is released here and taken again at once by
	 * remove_store(): a daemon that started in between is refused by
	 * one of the two */
	store_close(r->app.store);
	r->app.store = NULL;
	if (remove_store(dir))
		return 1;
	printf("removed the store in %s (%" PRIu64 " queued messages were "
	       "in it, kept in the snapshot)\n", dir, r->queued);
	print_remains(r);
	if (r->leave)
		print_manual(r);
	return 0;
}

int ops_cmd_reset(int argc, char **argv)
{
	static const char *const flags[] = { "--local-only", "--leave-rooms",
	                                     "--yes", "--dry-run", NULL };
	static struct reset r;  /* the process's one context */
	const char *path;
	int set[4], rc;

	memset(&r, 0, sizeof r);
	if (app_args(argc, argv, flags, &path, set, NULL) ||
	    set[0] == set[1]) {
		app_usage("reset", "--local-only [--dry-run]\n"
		          "       lettamx reset [-c FILE] --leave-rooms --yes "
		          "[--dry-run]");
		return 2;
	}
	r.leave = set[1];
	r.dry = set[3];
	if (r.leave && !set[2] && !r.dry) {
		fprintf(stderr, "lettamx reset --leave-rooms: the bot and the "
		        "agent users leave every managed room and the Space; "
		        "add --yes to do it (or --dry-run to see what)\n");
		return 2;
	}
	rc = app_open(&r.app, path, r.dry ? APP_READ : APP_WRITE);
	if (rc)
		return rc;
	if (store_view(r.app.store, read_fn, &r) < 0) {
		fprintf(stderr, "lettamx reset: %s\n", store_why(r.app.store));
		rc = 1;
	} else {
		rc = r.dry ? plan(&r) : reset_run(&r);
	}
	memset(r.bot_token, 0, sizeof r.bot_token);
	ops_recs_free(&r.recs);
	app_close(&r.app);
	return rc;
}
