/*
 * ops_graph: the room graph for check (1, 2, 6, 7) and dedupe.
 *
 * TODO(reconcile): the graph is the reconcile's one-request read of the
 * bot's full-state /sync (src/reconcile_graph.c: recon_sync_req() and
 * rg_parse()). When it is on main, fill struct ops_graph from its
 * struct rg_graph here: space_id = our Space (its marker names our
 * install id); per room the bot is joined to or left: marker_agent (only
 * a marker sent by our bot or the agent user, in a room one of them
 * made), parent, child (rg_linked from the Space), bot_joined,
 * agent_joined, create_ts, tombstoned. Nothing else changes: check and
 * dedupe only see struct ops_graph.
 */
#include "ops_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "ops_check.h"

int ops_graph_read(struct app *a, const struct ops_recs *r,
                   struct ops_graph *g, char *why, size_t cap)
{
	(void)a;
	(void)r;
	memset(g, 0, sizeof *g);
	snprintf(why, cap, "the room graph read (reconcile's) is not in "
	         "this build yet");
	return ERR_NOTFOUND;
}

void ops_graph_free(struct ops_graph *g)
{
	free(g->rooms);
	memset(g, 0, sizeof *g);
}
