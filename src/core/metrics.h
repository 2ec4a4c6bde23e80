/*
 * metrics: the daemon's counters, gauges and the Letta latency histogram,
 * rendered in the Prometheus text format (0.0.4), and the health verdict
 * of GET /healthz. Off unless [http] listen is set; updating a metric is
 * a few stores into a caller-owned struct, so the modules update them
 * whether or not anything serves them.
 *
 * Series are labelled by one word per metric (a kind, a reason, a queue,
 * a state: [a-z0-9_], at most METRICS_LABEL - 1 bytes), at most
 * METRICS_SERIES per metric; more are counted in
 * lettamx_metrics_dropped_series_total instead of growing memory.
 *
 * Who calls what (the bridge, the sync loop, the store's owner):
 *   metrics_add(m, METRICS_MSG_RECEIVED, NULL, 1)      a person's message
 *   metrics_add(m, METRICS_MSG_ANSWERED, NULL, 1)      a reply delivered
 *   metrics_add(m, METRICS_MSG_FAILED, "letta", 1)     an error reply
 *   metrics_letta_ms(m, ms)                            one Letta turn
 *   metrics_set(m, METRICS_QUEUE_DEPTH, "inbox", n)    after a change
 *   metrics_set(m, METRICS_TURNS_IN_FLIGHT, NULL, n)
 *   metrics_add(m, METRICS_RATE_LIMITED, "send", 1)    a 429 of a kind
 *   metrics_add(m, METRICS_RATE_WAIT_MS, "send", ms)   time it made us wait
 *   metrics_add(m, METRICS_RECONNECTS, "sync", 1)
 *   metrics_add(m, METRICS_CATCHUP_INCOMPLETE, "bound", 1)  older ones lost
 *   metrics_set(m, METRICS_STORE_BYTES, NULL, bytes)
 *   metrics_set(m, METRICS_AGENTS, "ok", n)            agents by state
 *   metrics_snapshot_at(m, wall_ms)                    after a snapshot
 *   metrics_sync_ok(m, now) / metrics_sync_failed(m, now, why)
 *                        now: monotonic ms (loop_now()), the clock the
 *                        /healthz handler reads (loop_clock_ms())
 *   metrics_store_ok(m, ok, why)                       after a write
 */
#ifndef LETTAMX_METRICS_H
#define LETTAMX_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_LABEL    32
#define METRICS_SERIES   16
#define METRICS_NBUCKETS 12     /* Letta latency buckets, +Inf included */
#define METRICS_WHY      160

enum metrics_id {
	METRICS_MSG_RECEIVED,           /* counter */
	METRICS_MSG_ANSWERED,           /* counter */
	METRICS_MSG_FAILED,             /* counter {reason} */
	METRICS_RATE_LIMITED,           /* counter {kind}: 429s */
	METRICS_RATE_WAIT_MS,           /* counter {kind}: shown in seconds */
	METRICS_RECONNECTS,             /* counter {kind} */
	METRICS_QUEUE_DEPTH,            /* gauge {queue} */
	METRICS_TURNS_IN_FLIGHT,        /* gauge */
	METRICS_STORE_BYTES,            /* gauge */
	METRICS_AGENTS,                 /* gauge {state} */
	METRICS_LIVE_ANSWERS,           /* counter: answers shown live */
	METRICS_EDITS,                  /* counter: edits of live answers */
	METRICS_CATCHUP_INCOMPLETE,     /* counter {reason}: rooms whose
	                                 * catch-up stopped short */
	METRICS_N
};

struct metrics_series {
	char label[METRICS_LABEL];      /* "" : the unlabelled series */
	double v;
	bool used;
};

struct metrics {
	struct metrics_series s[METRICS_N][METRICS_SERIES];
	uint64_t dropped;               /* updates to series past the cap */
	uint64_t bucket[METRICS_NBUCKETS];      /* non-cumulative counts */
	uint64_t count;
	double sum_ms;
	int64_t long_poll_ms;
	uint64_t sync_ok_at;            /* monotonic ms; 0: never */
	uint64_t sync_fail_at;
	char sync_why[METRICS_WHY];
	bool store_ok;
	char store_why[METRICS_WHY];
	int64_t snapshot_at;            /* wall ms; 0: none this run */
};

/* Zeroes m; long_poll_ms is the sync timeout (health allows two). */
void metrics_init(struct metrics *m, int64_t long_poll_ms);

/* Adds v to a counter (or a gauge), or sets a gauge. label NULL or ""
 * for the unlabelled series; an invalid label counts as dropped. */
void metrics_add(struct metrics *m, int id, const char *label, double v);
void metrics_set(struct metrics *m, int id, const char *label, double v);

/* The value of a series (0 when absent), for tests and status. */
double metrics_get(const struct metrics *m, int id, const char *label);

/* One Letta turn took ms milliseconds. */
void metrics_letta_ms(struct metrics *m, double ms);

void metrics_sync_ok(struct metrics *m, uint64_t now_ms);
void metrics_sync_failed(struct metrics *m, uint64_t now_ms, const char *why);
void metrics_store_ok(struct metrics *m, bool ok, const char *why);
void metrics_snapshot_at(struct metrics *m, int64_t wall_ms);

/* Health at monotonic time now_ms: 0 (healthy) or 1, with the reason in
 * why. Healthy = the last sync succeeded within two long-poll periods
 * and the store is writable. */
int metrics_health(const struct metrics *m, uint64_t now_ms, char *why,
                   size_t cap);

/* Writes the exposition into buf[0..cap) (NUL-terminated), *len its
 * length. Returns 0 or ERR_TOOBIG. */
int metrics_render(const struct metrics *m, uint64_t now_ms, int64_t wall_ms,
                   char *buf, size_t cap, size_t *len);

#endif
