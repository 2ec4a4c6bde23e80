/*
 * metrics_store: the gauges read from the store (see metrics_store.h).
 */
#include "prov/metrics_store.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/metrics.h"
#include "prov/provision.h"
#include "store/store.h"

enum { ST_OK, ST_NO_USER, ST_NO_ROOM, ST_PARTIAL, ST_DELETED, ST_UNLINKED,
       ST_N };

static const char *const state_name[ST_N] = {
	"ok", "no_user", "no_room", "partial", "deleted", "unlinked",
};

/* The states of `lettamx status`, as label words. */
static int state_of(const struct store_agent *a)
{
	if (a->flags & PROV_F_UNLINKED)
		return ST_UNLINKED;
	if (a->deleted_at)
		return ST_DELETED;
	if (!a->access_token[0])
		return ST_NO_USER;
	if (!(a->flags & STORE_AGENT_ROOM_CREATED))
		return ST_NO_ROOM;
	if (!(a->flags & PROV_F_LINKED) || !(a->flags & PROV_F_BOT_JOINED))
		return ST_PARTIAL;
	return ST_OK;
}

struct tally {
	uint64_t n[ST_N];
	uint64_t in, out;
};

static int count_one(const struct store_agent *a, void *arg)
{
	((struct tally *)arg)->n[state_of(a)]++;
	return 0;
}

static int count_fn(struct store_txn *t, void *arg)
{
	struct tally *c = arg;
	int r = store_agent_each(t, count_one, c);

	if (r >= 0)
		r = store_count(t, STORE_INBOX, &c->in);
	if (r >= 0)
		r = store_count(t, STORE_OUTBOX, &c->out);
	return r;
}

int metrics_store_read(struct metrics *m, struct store *s)
{
	struct tally c;
	char path[LIM_STORE_PATH + 16];
	struct stat st;
	int r;

	memset(&c, 0, sizeof c);
	r = store_view(s, count_fn, &c);
	if (r < 0)
		return r;
	for (int i = 0; i < ST_N; i++)
		metrics_set(m, METRICS_AGENTS, state_name[i], (double)c.n[i]);
	metrics_set(m, METRICS_QUEUE_DEPTH, "inbox", (double)c.in);
	metrics_set(m, METRICS_QUEUE_DEPTH, "outbox", (double)c.out);
	snprintf(path, sizeof path, "%s/data.mdb", store_dir(s));
	if (stat(path, &st) == 0)
		metrics_set(m, METRICS_STORE_BYTES, NULL, (double)st.st_size);
	return 0;
}
