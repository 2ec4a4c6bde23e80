/*
 * ops_dedupe: the keeper and the plan (see ops_dedupe.h).
 */
#include "ops/ops_dedupe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* A room of the graph that claims agent a and still counts: the bot is
 * in it and it is not tombstoned (a folded duplicate no longer does). */
static bool claims(const struct ops_graph_room *m, const struct store_agent *a)
{
	return m->bot_joined && !m->tombstoned &&
	       !strcmp(m->marker_agent, a->agent_id);
}

/* 1 when x is a better keeper than y. */
static bool better(const struct ops_graph_room *x,
                   const struct ops_graph_room *y,
                   const struct store_agent *a, const char *space_id)
{
	bool xm = !strcmp(x->room_id, a->room_id);
	bool ym = !strcmp(y->room_id, a->room_id);
	/* linked: the Space's m.space.child, as reconcile's rg_linked */
	bool xl = space_id[0] && x->child;
	bool yl = space_id[0] && y->child;

	if (xm != ym)
		return xm;
	if (xl != yl)
		return xl;
	if (x->create_ts != y->create_ts)
		return x->create_ts < y->create_ts;
	return strcmp(x->room_id, y->room_id) < 0;
}

const struct ops_graph_room *ops_dd_keeper(const struct store_agent *a,
                                           const char *space_id,
                                           const struct ops_graph *g)
{
	const struct ops_graph_room *k = NULL;

	for (size_t i = 0; i < g->n; i++)
		if (claims(&g->rooms[i], a) &&
		    (!k || better(&g->rooms[i], k, a, space_id)))
			k = &g->rooms[i];
	return k;
}

struct plan {
	struct ops_dd_step *s;
	size_t n, cap;
};

static int add(struct plan *p, int kind, size_t agent, const char *room,
               const char *keeper)
{
	struct ops_dd_step *st;

	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 32;
		struct ops_dd_step *q = realloc(p->s, cap * sizeof *q);

		if (!q)
			return ERR_NOMEM;
		p->s = q;
		p->cap = cap;
	}
	st = &p->s[p->n++];
	memset(st, 0, sizeof *st);
	st->kind = kind;
	st->agent = agent;
	snprintf(st->room, sizeof st->room, "%s", room);
	snprintf(st->keeper, sizeof st->keeper, "%s", keeper);
	return 0;
}

static int fold(struct plan *p, const struct ops_graph *g, size_t ai,
                const char *room, const char *keeper)
{
	static const int kinds[] = { OPS_DD_UNLINK, OPS_DD_TOMBSTONE,
	                             OPS_DD_INVITE, OPS_DD_LEAVE_AGENT,
	                             OPS_DD_LEAVE_BOT };
	int r = 0;

	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0] && !r; k++)
		if (kinds[k] != OPS_DD_UNLINK || g->space_id[0])
			r = add(p, kinds[k], ai, room, keeper);
	return r;
}

int ops_dd_plan(const struct ops_recs *r, const struct ops_graph *g,
                struct ops_dd_step **out, size_t *n)
{
	struct plan p = { NULL, 0, 0 };
	int agents = 0, rc = 0;

	for (size_t ai = 0; ai < r->n && !rc; ai++) {
		const struct store_agent *a = &r->a[ai];
		const struct ops_graph_room *k = ops_dd_keeper(a, g->space_id, g);
		size_t dups = 0;

		if (!k)
			continue;
		for (size_t i = 0; i < g->n; i++)
			dups += claims(&g->rooms[i], a) && &g->rooms[i] != k;
		/* no duplicate, but the mapping points elsewhere (a room the
		 * bot left: seed 000): point it at the one that counts */
		if (!dups && !strcmp(a->room_id, k->room_id))
			continue;
		agents++;
		if (strcmp(a->room_id, k->room_id)) {
			rc = add(&p, OPS_DD_REMAP, ai, "", k->room_id);
			if (!rc && g->space_id[0])
				rc = add(&p, OPS_DD_LINK, ai, "", k->room_id);
		}
		for (size_t i = 0; i < g->n && !rc; i++)
			if (claims(&g->rooms[i], a) && &g->rooms[i] != k)
				rc = fold(&p, g, ai, g->rooms[i].room_id,
				          k->room_id);
	}
	if (rc) {
		free(p.s);
		return rc;
	}
	*out = p.s;
	*n = p.n;
	return agents;
}
