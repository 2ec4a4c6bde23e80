/*
 * ops_dedupe: `lettamx dedupe [--dry-run]`, sans-I/O part: for every
 * agent claimed by several rooms of the graph (markers of our bot or the
 * agent user, the bot joined), the keeper and the steps that fold the
 * others into it.
 *
 * The keeper is chosen as reconciliation does (reconcile.h): the room
 * mapped in the store, else the one linked in our Space, else the oldest
 * m.room.create, then the smaller room id.
 *
 * Order (seed 000): the snapshot and the remap come first, in one proven
 * transaction, so the store never points at a room the bot is about to
 * leave; then, per duplicate: unlink it from the Space, post an
 * m.room.tombstone pointing at the keeper (clients lead people over),
 * invite its people to the keeper, and the agent user and the bot leave
 * it. Every step is safe to repeat, so a run cut short is run again.
 */
#ifndef LETTAMX_OPS_DEDUPE_H
#define LETTAMX_OPS_DEDUPE_H

#include <stddef.h>

#include "ops/ops_check.h"

enum ops_dd_kind {
	OPS_DD_REMAP,           /* store: agent -> keeper */
	OPS_DD_LINK,            /* keeper and Space linked both ways (after
	                         * a remap: the keeper may be an old room) */
	OPS_DD_UNLINK,          /* Space: m.space.child of dup emptied */
	OPS_DD_TOMBSTONE,       /* dup: m.room.tombstone -> keeper */
	OPS_DD_INVITE,          /* keeper: invite dup's people (looked up
	                         * when the step runs) */
	OPS_DD_LEAVE_AGENT,     /* dup: the agent user leaves */
	OPS_DD_LEAVE_BOT,       /* dup: the bot leaves (last) */
};

struct ops_dd_step {
	int kind;                       /* enum ops_dd_kind */
	size_t agent;                   /* index into the records */
	char room[LIM_STORE_ID];        /* the duplicate (or, REMAP, "") */
	char keeper[LIM_STORE_ID];
};

/* The keeper among the graph's rooms claiming agent a (NULL if none). */
const struct ops_graph_room *ops_dd_keeper(const struct store_agent *a,
                                           const char *space_id,
                                           const struct ops_graph *g);

/* The steps for every agent of r claimed by several rooms of g, or whose
 * mapping points at another room than the one that counts, into a heap
 * array *out (free()) of *n steps. Returns the number of agents to fix
 * (>= 0) or ERR_NOMEM. */
int ops_dd_plan(const struct ops_recs *r, const struct ops_graph *g,
                struct ops_dd_step **out, size_t *n);

#endif
