/*
 * ops_check: the integrity checks of `lettamx check`, as functions over
 * what was read (store records, the Letta listing, the room graph), so
 * each can be tested with a planted problem and the graph checks can be
 * fed by the reconcile's graph read.
 *
 * Every problem goes to a sink as: the check ("3", "letta", ...), the
 * subject (the agent or room it is about), what is wrong, and the command
 * that fixes it.
 *
 *   1  every mapping's room exists and the bot and the agent user are in it
 *   2  the Space exists, the bot is in it, it carries our marker
 *   3  no two agents share a room or a user (from the records themselves)
 *   4  room id <=> room_created, and the other derived flags agree
 *   5  the store opens, its schema is current, the indexes match
 *   6  the Space the store records is the one the graph has
 *   7  each room's marker names its agent; room and Space linked both ways
 *   8  the newest snapshot verifies, and differs from the current state
 *      when a change happened after it (seed 000: a "backup" taken after
 *      the change)
 */
#ifndef LETTAMX_OPS_CHECK_H
#define LETTAMX_OPS_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ident.h"
#include "letta/letta.h"
#include "store/store.h"

struct ops_sink {
	void (*fn)(void *arg, const char *check, const char *subject,
	           const char *problem, const char *fix);
	void *arg;
	int problems;
};

/* Reports one problem (printf-style text). */
void ops_problem(struct ops_sink *s, const char *check, const char *subject,
                 const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The records of the store, read once, in agent id order. */
struct ops_recs {
	struct store_agent *a;
	size_t n, cap;
	char space_id[LIM_STORE_ID];    /* meta space_id, "" if none */
};

int ops_recs_read(struct store_txn *t, struct ops_recs *r);
void ops_recs_free(struct ops_recs *r);

/* Checks 3, 4 and 5 (schema and indexes) on t. Returns 0 or an err code
 * (could not check). */
int ops_check_store(struct store_txn *t, const struct ops_recs *r,
                    struct ops_sink *s);

/* Check 8 against snapdir. Returns 0 or an err code. */
int ops_check_snap(struct store_txn *t, const struct ops_recs *r,
                   const char *snapdir, struct ops_sink *s);

/* Letta: every wanted agent of a complete listing has a mapping, every
 * live mapping's agent is still listed. */
void ops_check_letta(const struct ops_recs *r, const struct letta_list *l,
                     const char *include, const char *exclude,
                     struct ops_sink *s);

/* ---- the room graph (checks 1, 2, 6, 7) ---- */

struct ops_graph_room {
	char room_id[LIM_STORE_ID];
	char marker_agent[IDENT_AGENT_ID_MAX + 1];  /* "" : no marker */
	char parent[LIM_STORE_ID];      /* m.space.parent state key, "" none */
	bool bot_joined, agent_joined;
	bool child;                     /* the Space has m.space.child for it */
	int64_t create_ts;              /* m.room.create's origin_server_ts */
	bool tombstoned;
};

struct ops_graph {
	char space_id[LIM_STORE_ID];    /* the Space carrying our marker */
	bool space_bot_joined;
	bool space_marker_ours;         /* marker names our install id */
	struct ops_graph_room *rooms;   /* the rooms the graph read saw */
	size_t n;
};

/* Checks 1, 2, 6, 7 of the records against graph g. */
void ops_check_graph(const struct ops_recs *r, const struct ops_graph *g,
                     struct ops_sink *s);

#endif
