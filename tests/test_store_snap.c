#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "harness.h"
#include "store/store.h"
#include "store/store_snap.h"

#define DAY (86400 * (int64_t)1000)

static int64_t fake_now = 1763900000000;   /* 2025-11-23T12:13:20Z */
static int64_t fake_clock(void) { return fake_now; }

static const struct store_opts opts = { .clock = fake_clock };

static const char *path(const char *name)
{
	static char p[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof p[i], "%s/%s", harness_tmpdir(), name);
	return p[i];
}

static struct store *open_at(const char *dir)
{
	struct store *s = NULL;
	char why[512];

	if (store_open(&s, dir, &opts, why, sizeof why))
		harness_fail(__FILE__, __LINE__, "open %s: %s", dir, why);
	return s;
}

static int put_fn(struct store_txn *t, void *arg)
{
	struct store_agent a;
	const char *id = arg;

	memset(&a, 0, sizeof a);
	snprintf(a.agent_id, sizeof a.agent_id, "%s", id);
	snprintf(a.user_id, sizeof a.user_id, "@%s:x", id);
	snprintf(a.room_id, sizeof a.room_id, "!%s:x", id);
	snprintf(a.access_token, sizeof a.access_token, "s3cr3t-TEST-TOKEN");
	return store_agent_put(t, &a);
}

static int del_fn(struct store_txn *t, void *arg)
{
	return store_agent_del(t, arg);
}

static int digest_fn(struct store_txn *t, void *arg)
{
	return store_digest(t, arg, NULL);
}

static void live_digest(struct store *s, uint8_t *d)
{
	CHECK_EQ(store_view(s, digest_fn, d), 0);
}

static int has_fn(struct store_txn *t, void *arg)
{
	struct store_agent a;

	return store_agent_get(t, arg, &a);
}

static void test_snapshot_holds_state_before(void)
{
	const char *dir = path("s1"), *snaps = path("s1snap");
	struct store *s = open_at(dir);
	struct store_snap m, v;
	uint8_t before[32], after[32];
	char why[512];
	struct stat st;

	CHECK_EQ(store_update(s, put_fn, "agent-a"), 0);
	live_digest(s, before);
	CHECK_EQ(store_snapshot(s, snaps, "Before Dedupe!", &m), 0);
	CHECK_STR(m.name, "20251123T121320Z-000001-before_dedupe_");
	CHECK_EQ(m.counts[STORE_AGENTS], 1);
	CHECK_EQ(m.schema, STORE_SCHEMA);
	CHECK_EQ(memcmp(m.digest, before, 32), 0);
	CHECK_EQ(store_update(s, put_fn, "agent-b"), 0);
	live_digest(s, after);
	/* the snapshot differs from the state after and equals the one before */
	CHECK(memcmp(m.digest, after, 32) != 0);
	CHECK_EQ(store_snap_verify(snaps, m.name, &v, why, sizeof why), 0);
	CHECK_EQ(memcmp(v.digest, before, 32), 0);
	CHECK_EQ(v.counts[STORE_AGENTS], 1);
	CHECK_EQ(v.seq, 1);
	char p[600];
	snprintf(p, sizeof p, "%s/%s.mdb", snaps, m.name);
	CHECK_EQ(stat(p, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(stat(snaps, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0700);
	/* a second snapshot gets the next sequence number */
	CHECK_EQ(store_snapshot(s, snaps, "x", &m), 0);
	CHECK_EQ(m.seq, 2);
	CHECK_EQ(memcmp(m.digest, after, 32), 0);
	struct store_snap list[4];
	CHECK_EQ(store_snap_list(snaps, list, 4), 2);
	CHECK_EQ(list[0].seq, 1);
	CHECK_EQ(list[1].seq, 2);
	CHECK_EQ(store_snap_list(snaps, list, 1), ERR_TOOBIG);
	store_close(s);
}

static void test_update_snap_proves_before(void)
{
	const char *dir = path("s2"), *snaps = path("s2snap");
	struct store *s = open_at(dir);
	struct store_snap m, stale;
	struct store_txn *t;

	CHECK_EQ(store_update(s, put_fn, "agent-a"), 0);
	CHECK_EQ(store_update_snap(s, snaps, "dedupe", put_fn, "agent-b", &m),
	         0);
	CHECK_EQ(m.counts[STORE_AGENTS], 1);       /* a, before b came */
	CHECK_EQ(store_view(s, has_fn, "agent-b"), 0);

	/* seed 000: a "backup" not of the state being changed is refused */
	CHECK_EQ(store_snapshot(s, snaps, "stale", &stale), 0);
	CHECK_EQ(store_update(s, put_fn, "agent-c"), 0);   /* state moved on */
	CHECK_EQ(store_txn_begin(s, true, &t), 0);
	CHECK_EQ(put_fn(t, "agent-d"), 0);
	CHECK_EQ(store_snap_check_before(t, &stale), ERR_CORRUPT);
	CHECK(strstr(store_why(s), stale.name) != NULL);
	store_txn_abort(t);
	CHECK_EQ(store_view(s, has_fn, "agent-d"), ERR_NOTFOUND);
	store_close(s);
}

static int push_fn(struct store_txn *t, void *arg)
{
	return store_q_push(t, STORE_Q_OUTBOX, "!r:x", "hi", 2, arg);
}

static void test_restore(void)
{
	const char *dir = path("s3"), *snaps = path("s3snap");
	struct store *s = open_at(dir);
	struct store_snap m, list[8];
	uint64_t seq_before, seq_after;
	char why[512];
	int n;

	CHECK_EQ(store_update(s, put_fn, "agent-a"), 0);
	CHECK_EQ(store_snapshot(s, snaps, "good", &m), 0);
	CHECK_EQ(store_update(s, del_fn, "agent-a"), 0);
	CHECK_EQ(store_update(s, put_fn, "agent-b"), 0);
	CHECK_EQ(store_update(s, push_fn, &seq_before), 0);
	/* a running store holds the lock: restore refuses */
	CHECK_EQ(store_restore(dir, snaps, m.name, &opts, why, sizeof why),
	         ERR_EXISTS);
	store_close(s);
	fake_now += 1000;
	CHECK_EQ(store_restore(dir, snaps, m.name, &opts, why, sizeof why), 0);
	s = open_at(dir);
	CHECK_EQ(store_view(s, has_fn, "agent-a"), 0);
	CHECK_EQ(store_view(s, has_fn, "agent-b"), ERR_NOTFOUND);
	/* the queue counter did not go back: no transaction id reused */
	CHECK_EQ(store_update(s, push_fn, &seq_after), 0);
	CHECK_INT(seq_after, >, seq_before);
	store_close(s);
	/* what was replaced is kept in a "pre-restore" snapshot */
	n = store_snap_list(snaps, list, 8);
	CHECK_EQ(n, 2);
	CHECK_STR(list[1].reason, "pre-restore");
	CHECK_EQ(store_restore(dir, snaps, list[1].name, &opts, why,
	                       sizeof why), 0);
	s = open_at(dir);
	CHECK_EQ(store_view(s, has_fn, "agent-b"), 0);
	CHECK_EQ(store_view(s, has_fn, "agent-a"), ERR_NOTFOUND);
	store_close(s);
}

static void damage(const char *file, int how)
{
	struct stat st;
	int fd = open(file, O_RDWR);

	fstat(fd, &st);
	if (how == 0) {
		CHECK_EQ(ftruncate(fd, st.st_size / 2), 0);
	} else {
		char c;
		CHECK_EQ(pread(fd, &c, 1, st.st_size - 100), 1);
		c ^= 0x40;
		CHECK_EQ(pwrite(fd, &c, 1, st.st_size - 100), 1);
	}
	close(fd);
}

static void test_corrupt_refused(void)
{
	const char *dir = path("s4"), *snaps = path("s4snap");
	struct store *s = open_at(dir);
	struct store_snap m[3], v;
	char why[512], file[600];
	uint8_t d1[32], d2[32];

	CHECK_EQ(store_update(s, put_fn, "agent-a"), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(store_snapshot(s, snaps, "c", &m[i]), 0);
	CHECK_EQ(store_update(s, put_fn, "agent-z"), 0);
	live_digest(s, d1);
	store_close(s);

	snprintf(file, sizeof file, "%s/%s.mdb", snaps, m[0].name);
	damage(file, 0);
	CHECK_EQ(store_snap_verify(snaps, m[0].name, &v, why, sizeof why),
	         ERR_CORRUPT);
	CHECK(strstr(why, "truncated") != NULL);
	CHECK_EQ(store_restore(dir, snaps, m[0].name, &opts, why, sizeof why),
	         ERR_CORRUPT);

	snprintf(file, sizeof file, "%s/%s.mdb", snaps, m[1].name);
	damage(file, 1);
	CHECK_EQ(store_snap_verify(snaps, m[1].name, &v, why, sizeof why),
	         ERR_CORRUPT);
	CHECK_EQ(store_restore(dir, snaps, m[1].name, &opts, why, sizeof why),
	         ERR_CORRUPT);

	snprintf(file, sizeof file, "%s/%s.json", snaps, m[2].name);
	FILE *f = fopen(file, "w");
	fputs("{\"format\":1,\"name\":", f);
	fclose(f);
	CHECK_EQ(store_snap_verify(snaps, m[2].name, &v, why, sizeof why),
	         ERR_CORRUPT);
	CHECK_EQ(store_snap_verify(snaps, "no-such", &v, why, sizeof why),
	         ERR_NOTFOUND);
	/* none of the refusals touched the store */
	s = open_at(dir);
	live_digest(s, d2);
	CHECK_EQ(memcmp(d1, d2, 32), 0);
	store_close(s);
}

static void test_retention(void)
{
	const char *dir = path("s5"), *snaps = path("s5snap");
	struct store *s = open_at(dir);
	struct store_snap list[64];
	int64_t day0 = (fake_now / DAY) * DAY;
	int n, kept_days[20] = { 0 };
	char leftover[600];

	/* two snapshots a day (02:00 and 14:00) for 20 days */
	for (int d = 0; d < 20; d++)
		for (int h = 0; h < 2; h++) {
			fake_now = day0 + d * DAY + (2 + 12 * h) * 3600000LL;
			CHECK_EQ(store_snapshot(s, snaps, "t", NULL), 0);
		}
	store_close(s);
	snprintf(leftover, sizeof leftover, "%s/.tmp-crashed.mdb", snaps);
	close(open(leftover, O_CREAT | O_WRONLY, 0600));
	/* now: day 19, 20:00; keep the last 5 and a daily one for 14 days */
	int64_t now = day0 + 19 * DAY + 20 * 3600000LL;
	CHECK_EQ(store_snap_prune(snaps, 5, 14, now), 40 - (14 + 3));
	n = store_snap_list(snaps, list, 64);
	CHECK_EQ(n, 17);
	for (int i = 0; i < n; i++)
		kept_days[(list[i].created - day0) / DAY]++;
	for (int d = 0; d < 6; d++)
		CHECK_EQ(kept_days[d], 0);
	for (int d = 6; d < 17; d++)
		CHECK_EQ(kept_days[d], 1);     /* the first of the day */
	CHECK_EQ(kept_days[17], 2);          /* part of the last five */
	CHECK_EQ(kept_days[18], 2);
	CHECK_EQ(kept_days[19], 2);
	for (int i = 0; i < n && i < 11; i++)
		CHECK_EQ((list[i].created % DAY) / 3600000, 2);
	CHECK(access(leftover, F_OK) != 0);
	/* pruning again removes nothing */
	CHECK_EQ(store_snap_prune(snaps, 5, 14, now), 0);
}

/* Retention from the store's options runs after each snapshot. */
static void test_automatic_retention(void)
{
	const struct store_opts o = { .clock = fake_clock, .snap_keep = 3,
	                              .snap_days = 2 };
	const char *snaps = path("s7snap");
	struct store *s = NULL;
	struct store_snap list[16];
	char why[512];
	int64_t day0 = (fake_now / DAY) * DAY;

	CHECK_EQ(store_open(&s, path("s7"), &o, why, sizeof why), 0);
	for (int i = 0; i < 8; i++) {
		fake_now = day0 + i * 3600000LL;           /* all on one day */
		CHECK_EQ(store_snapshot(s, snaps, "auto", NULL), 0);
	}
	int n = store_snap_list(snaps, list, 16);
	CHECK_EQ(n, 4);     /* the first of the day and the newest three */
	CHECK_EQ(list[0].seq, 1);
	CHECK_EQ(list[1].seq, 6);
	CHECK_EQ(list[3].seq, 8);
	store_close(s);
}

/* A snapshot directory open to others is reported. */
static void test_wide_snapshot_dir(void)
{
	const char *snaps = path("s8snap");
	struct store *s = open_at(path("s8"));
	char out[4096] = "", cap[600];
	int saved, fd;
	ssize_t n;

	mkdir(snaps, 0755);
	chmod(snaps, 0755);
	snprintf(cap, sizeof cap, "%s/stderr.txt", harness_tmpdir());
	fflush(stderr);
	saved = dup(2);
	fd = open(cap, O_RDWR | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	CHECK_EQ(store_snapshot(s, snaps, "x", NULL), 0);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, out, sizeof out - 1, 0);
	out[n > 0 ? n : 0] = 0;
	close(fd);
	CHECK(strstr(out, "event=wide_mode") != NULL);
	CHECK(strstr(out, snaps) != NULL);
	CHECK(strstr(out, "mode=0755") != NULL);
	store_close(s);
}

/* No snapshot, no change. */
static void test_no_snapshot_no_change(void)
{
	struct store *s = open_at(path("s6"));
	char bad[600];

	snprintf(bad, sizeof bad, "%s/no/such/dir", harness_tmpdir());
	CHECK_EQ(store_snapshot(s, bad, "x", NULL), ERR_IO);
	CHECK(strstr(store_why(s), bad) != NULL);
	CHECK_EQ(store_update_snap(s, bad, "x", put_fn, "agent-a", NULL),
	         ERR_IO);
	CHECK_EQ(store_view(s, has_fn, "agent-a"), ERR_NOTFOUND);
	store_close(s);
}

int main(void)
{
	RUN(test_snapshot_holds_state_before);
	RUN(test_update_snap_proves_before);
	RUN(test_restore);
	RUN(test_corrupt_refused);
	RUN(test_retention);
	RUN(test_no_snapshot_no_change);
	RUN(test_automatic_retention);
	RUN(test_wide_snapshot_dir);
	return harness_done("store_snap");
}
