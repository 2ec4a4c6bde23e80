/*
 * metrics: counters, gauges, one histogram, health (see metrics.h).
 */
#include "core/metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/proto_buf.h"

struct def {
	const char *name;
	const char *type;       /* "counter" or "gauge" */
	const char *label;      /* the label's name, NULL: none */
	double scale;           /* shown value = v * scale */
	const char *help;
};

static const struct def defs[METRICS_N] = {
	{ "lettamx_messages_received_total", "counter", NULL, 1,
	  "Messages from people received in agent rooms." },
	{ "lettamx_messages_answered_total", "counter", NULL, 1,
	  "Agent replies delivered to their rooms." },
	{ "lettamx_messages_failed_total", "counter", "reason", 1,
	  "Messages that got an error reply instead of an answer." },
	{ "lettamx_rate_limited_total", "counter", "kind", 1,
	  "429 answers, by kind of request." },
	{ "lettamx_rate_limit_wait_seconds_total", "counter", "kind", 0.001,
	  "Time spent waiting as 429 answers asked, by kind of request." },
	{ "lettamx_reconnects_total", "counter", "kind", 1,
	  "Connections lost and made again, by kind." },
	{ "lettamx_queue_depth", "gauge", "queue", 1,
	  "Entries waiting in the inbox and the outbox." },
	{ "lettamx_turns_in_flight", "gauge", NULL, 1,
	  "Letta turns started and not finished." },
	{ "lettamx_store_size_bytes", "gauge", NULL, 1,
	  "Size of the store's data file." },
	{ "lettamx_agents", "gauge", "state", 1,
	  "Agents by state." },
	{ "lettamx_live_answers_total", "counter", NULL, 1,
	  "Slow answers shown live: one message, then edits." },
	{ "lettamx_answer_edits_total", "counter", NULL, 1,
	  "Edits of live answers, the final one included." },
	{ "lettamx_catch_up_incomplete_total", "counter", "reason", 1,
	  "Rooms caught up after a gap only in part (the room was told), by "
	  "reason: bound, history, unreadable, other." },
};

/* Upper bounds of the Letta latency buckets, in seconds (+Inf last). */
static const double bounds[METRICS_NBUCKETS - 1] = {
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120
};

void metrics_init(struct metrics *m, int64_t long_poll_ms)
{
	memset(m, 0, sizeof *m);
	m->long_poll_ms = long_poll_ms;
	m->store_ok = true;
}

static bool label_ok(const char *l)
{
	size_t n = strlen(l);

	if (n >= METRICS_LABEL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((l[i] >= 'a' && l[i] <= 'z') ||
		      (l[i] >= '0' && l[i] <= '9') || l[i] == '_'))
			return false;
	return true;
}

static struct metrics_series *series(struct metrics *m, int id,
                                     const char *label)
{
	struct metrics_series *s;

	if (id < 0 || id >= METRICS_N)
		return NULL;
	if (!label || !defs[id].label)
		label = "";
	if (!label_ok(label) || (defs[id].label && !label[0])) {
		m->dropped++;
		return NULL;
	}
	s = m->s[id];
	for (int i = 0; i < METRICS_SERIES; i++) {
		if (s[i].used && !strcmp(s[i].label, label))
			return &s[i];
		if (!s[i].used) {
			s[i].used = true;
			memcpy(s[i].label, label, strlen(label) + 1);
			return &s[i];
		}
	}
	m->dropped++;
	return NULL;
}

void metrics_add(struct metrics *m, int id, const char *label, double v)
{
	struct metrics_series *s = series(m, id, label);

	if (s && isfinite(v))
		s->v += v;
}

void metrics_set(struct metrics *m, int id, const char *label, double v)
{
	struct metrics_series *s = series(m, id, label);

	if (s && isfinite(v))
		s->v = v;
}

double metrics_get(const struct metrics *m, int id, const char *label)
{
	if (id < 0 || id >= METRICS_N)
		return 0;
	if (!label)
		label = "";
	for (int i = 0; i < METRICS_SERIES; i++)
		if (m->s[id][i].used && !strcmp(m->s[id][i].label, label))
			return m->s[id][i].v;
	return 0;
}

void metrics_letta_ms(struct metrics *m, double ms)
{
	int i;

	if (!isfinite(ms) || ms < 0)
		return;
	for (i = 0; i < METRICS_NBUCKETS - 1 && ms / 1000 > bounds[i]; i++)
		;
	m->bucket[i]++;
	m->count++;
	m->sum_ms += ms;
}

void metrics_sync_ok(struct metrics *m, uint64_t now_ms)
{
	m->sync_ok_at = now_ms ? now_ms : 1;
}

void metrics_sync_failed(struct metrics *m, uint64_t now_ms, const char *why)
{
	m->sync_fail_at = now_ms ? now_ms : 1;
	snprintf(m->sync_why, sizeof m->sync_why, "%s", why ? why : "");
}

void metrics_store_ok(struct metrics *m, bool ok, const char *why)
{
	m->store_ok = ok;
	snprintf(m->store_why, sizeof m->store_why, "%s", ok || !why ? "" : why);
}

void metrics_snapshot_at(struct metrics *m, int64_t wall_ms)
{
	m->snapshot_at = wall_ms;
}

int metrics_health(const struct metrics *m, uint64_t now_ms, char *why,
                   size_t cap)
{
	uint64_t limit = 2 * (uint64_t)(m->long_poll_ms > 0 ? m->long_poll_ms
	                                                     : 30000);
	const char *last = m->sync_fail_at > m->sync_ok_at && m->sync_why[0] ?
	                   m->sync_why : "";

	if (!m->store_ok) {
		snprintf(why, cap, "the store is not writable: %s\n",
		         m->store_why);
		return 1;
	}
	if (!m->sync_ok_at) {
		snprintf(why, cap, "no sync with the homeserver has succeeded "
		         "yet%s%s\n", last[0] ? ": " : "", last);
		return 1;
	}
	if (now_ms > m->sync_ok_at && now_ms - m->sync_ok_at > limit) {
		snprintf(why, cap, "the last successful sync was %llu s ago "
		         "(more than two long-poll periods)%s%s\n",
		         (unsigned long long)((now_ms - m->sync_ok_at) / 1000),
		         last[0] ? ": " : "", last);
		return 1;
	}
	snprintf(why, cap, "ok\n");
	return 0;
}

/* ---- the exposition ---- */

static void head(struct proto_buf *b, const char *name, const char *type,
                 const char *help)
{
	proto_buf_fmt(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Values as Prometheus reads them: integers plainly, others %.17g. */
static void value(struct proto_buf *b, double v)
{
	if (v == floor(v) && fabs(v) < 9e15)
		proto_buf_fmt(b, " %.0f\n", v);
	else
		proto_buf_fmt(b, " %.17g\n", v);
}

static void render_one(struct proto_buf *b, const struct metrics *m, int id)
{
	const struct def *d = &defs[id];
	bool any = false;

	head(b, d->name, d->type, d->help);
	for (int i = 0; i < METRICS_SERIES; i++) {
		const struct metrics_series *s = &m->s[id][i];

		if (!s->used)
			continue;
		any = true;
		/* labels are [a-z0-9_]: nothing to escape */
		if (d->label)
			proto_buf_fmt(b, "%s{%s=\"%s\"}", d->name, d->label,
			              s->label);
		else
			proto_buf_str(b, d->name);
		value(b, s->v * d->scale);
	}
	if (!any && !d->label) {        /* an unlabelled metric is 0 */
		proto_buf_str(b, d->name);
		value(b, 0);
	}
}

static void render_histogram(struct proto_buf *b, const struct metrics *m)
{
	const char *n = "lettamx_letta_turn_seconds";
	uint64_t cum = 0;

	head(b, n, "histogram", "Time from a message to Letta until its "
	     "answer.");
	for (int i = 0; i < METRICS_NBUCKETS; i++) {
		cum += m->bucket[i];
		if (i < METRICS_NBUCKETS - 1)
			proto_buf_fmt(b, "%s_bucket{le=\"%g\"} %llu\n", n,
			              bounds[i], (unsigned long long)cum);
		else
			proto_buf_fmt(b, "%s_bucket{le=\"+Inf\"} %llu\n", n,
			              (unsigned long long)cum);
	}
	proto_buf_fmt(b, "%s_sum", n);
	value(b, m->sum_ms / 1000);
	proto_buf_fmt(b, "%s_count %llu\n", n, (unsigned long long)m->count);
}

int metrics_render(const struct metrics *m, uint64_t now_ms, int64_t wall_ms,
                   char *buf, size_t cap, size_t *len)
{
	struct proto_buf b;
	char why[METRICS_WHY + 96];
	int sick = metrics_health(m, now_ms, why, sizeof why);

	proto_buf_init(&b, buf, cap);
	for (int id = 0; id < METRICS_N; id++)
		render_one(&b, m, id);
	render_histogram(&b, m);
	head(&b, "lettamx_last_snapshot_age_seconds", "gauge", "Seconds "
	     "since the last snapshot this run (-1: none yet).");
	proto_buf_str(&b, "lettamx_last_snapshot_age_seconds");
	value(&b, m->snapshot_at ? (double)(wall_ms - m->snapshot_at) / 1000
	                         : -1);
	head(&b, "lettamx_last_sync_age_seconds", "gauge", "Seconds since "
	     "the last successful sync (-1: none yet).");
	proto_buf_str(&b, "lettamx_last_sync_age_seconds");
	value(&b, m->sync_ok_at ? (double)(now_ms - m->sync_ok_at) / 1000 : -1);
	head(&b, "lettamx_healthy", "gauge", "1 when /healthz answers 200.");
	proto_buf_str(&b, "lettamx_healthy");
	value(&b, !sick);
	head(&b, "lettamx_metrics_dropped_series_total", "counter", "Updates "
	     "to series beyond the cap (or with a bad label).");
	proto_buf_str(&b, "lettamx_metrics_dropped_series_total");
	value(&b, (double)m->dropped);
	*len = b.len;
	return b.err ? ERR_TOOBIG : 0;
}
