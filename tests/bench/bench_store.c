/*
 * bench_store: figures of the store with 10,000 mappings (the Raspberry Pi
 * budget is 1,000 agents; ten times that shows the headroom).
 *
 *   bench store_open_10k: N ms           open + read every agent record
 *                                        (what a boot does), median of 7
 *   bench store_bytes_per_mapping: N     data.mdb bytes / mappings (live
 *                                        file; compacted in parentheses)
 *   bench snapshot_10k: N ms             compact copy + fsync + verify +
 *                                        manifest, median of 7
 *   bench store_commit: N ms             one small write transaction (an
 *                                        answer into the outbox), durable
 *                                        (LMDB's two flushes), median of
 *                                        201: the floor under every added
 *                                        latency of the bridge, which
 *                                        commits before it sends
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "store/store.h"
#include "store/store_snap.h"

#define N    10000
#define RUNS 7

static double ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v)
{
	qsort(v, RUNS, sizeof *v, cmp);
	return v[RUNS / 2];
}

static int fill(struct store_txn *t, void *arg)
{
	struct store_agent a;
	int r;

	(void)arg;
	for (int i = 0; i < N; i++) {
		memset(&a, 0, sizeof a);
		snprintf(a.agent_id, sizeof a.agent_id,
		         "agent-%08x-2b8a-4d8e-9a49-%012x", i * 2654435761u, i);
		snprintf(a.name, sizeof a.name, "Research assistant %d", i);
		snprintf(a.user_id, sizeof a.user_id,
		         "@letta_agent-%08x:matrix.example.org", i * 2654435761u);
		snprintf(a.room_id, sizeof a.room_id,
		         "!%018x:matrix.example.org", i * 40503u + 7);
		snprintf(a.password, sizeof a.password,
		         "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5%05d", i);
		snprintf(a.access_token, sizeof a.access_token,
		         "syt_bGV0dGFfYWdlbnQ_vQpYcUqWbzrXkUbHdKzG_%08d", i);
		a.flags = STORE_AGENT_ROOM_CREATED;
		if ((r = store_agent_put(t, &a)) < 0)
			return r;
	}
	return 0;
}

static int count_agent(const struct store_agent *a, void *arg)
{
	(*(int *)arg) += a->room_id[0] != 0;
	return 0;
}

static int read_all(struct store_txn *t, void *arg)
{
	return store_agent_each(t, count_agent, arg);
}

#define COMMITS 201

static int push_one(struct store_txn *t, void *arg)
{
	static const char answer[600] = "an answer of a few lines";

	return store_q_push(t, STORE_Q_OUTBOX, "!bench:localhost", answer,
	                    sizeof answer, arg);
}

/* The median of COMMITS durable commits of one outbox record. */
static double commit_median(struct store *s)
{
	static double t[COMMITS];
	uint64_t seq;
	double t0;

	for (int i = 0; i < COMMITS; i++) {
		t0 = ms_now();
		if (store_update(s, push_one, &seq) < 0)
			return -1;
		t[i] = ms_now() - t0;
	}
	qsort(t, COMMITS, sizeof *t, cmp);
	return t[COMMITS / 2];
}

static int rm_one(const char *p, const struct stat *st, int flag,
                  struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

int main(void)
{
	char base[] = "/tmp/lettamx-bench-XXXXXX", dir[64], snaps[64];
	double t_open[RUNS], t_snap[RUNS], t_commit, t0;
	struct store_snap m;
	struct store *s;
	struct stat st;
	char why[512];
	int seen = 0;

	log_set_level(LOG_LEVEL_WARN);
	if (!mkdtemp(base))
		return 1;
	snprintf(dir, sizeof dir, "%s/store", base);
	snprintf(snaps, sizeof snaps, "%s/snapshots", base);
	if (store_open(&s, dir, NULL, why, sizeof why) ||
	    store_update(s, fill, NULL) < 0) {
		fprintf(stderr, "bench_store: %s\n", why);
		return 1;
	}
	for (int i = 0; i < RUNS; i++) {
		t0 = ms_now();
		if (store_snapshot(s, snaps, "bench", &m) < 0)
			return 1;
		t_snap[i] = ms_now() - t0;
	}
	t_commit = commit_median(s);
	store_close(s);
	for (int i = 0; i < RUNS; i++) {
		seen = 0;
		t0 = ms_now();
		if (store_open(&s, dir, NULL, why, sizeof why) ||
		    store_view(s, read_all, &seen) < 0 || seen != N)
			return 1;
		t_open[i] = ms_now() - t0;
		store_close(s);
	}
	snprintf(why, sizeof why, "%s/data.mdb", dir);
	stat(why, &st);
	printf("bench store_open_10k: %.2f ms\n", median(t_open));
	printf("bench store_bytes_per_mapping: %lld (compacted %llu)\n",
	       (long long)st.st_size / N, (unsigned long long)m.size / N);
	printf("bench snapshot_10k: %.2f ms\n", median(t_snap));
	printf("bench store_commit: %.3f ms median of %d durable commits of "
	       "one outbox record (on %s's disk: the floor under the bridge's "
	       "added latencies)\n", t_commit, COMMITS, "/tmp");
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
