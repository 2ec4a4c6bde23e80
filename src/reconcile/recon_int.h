/*
 * recon_int: what reconcile.c (the engine and its decisions) and
 * reconcile_apply.c (the write transaction) share on top of the graph
 * reader (reconcile_graph.h). Not for other modules.
 */
#ifndef LETTAMX_RECON_INT_H
#define LETTAMX_RECON_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "reconcile/reconcile.h"
#include "reconcile/reconcile_graph.h"

/* ---- reconcile.c / reconcile_apply.c ---- */

/* Decides on graph g and applies the decisions in one write transaction
 * (after a snapshot, only if something changes; nothing in a dry run),
 * filling rep and calling c->on_line per finding. Returns 0, or an err
 * code with `why` set. */
int recon_decide_apply(const struct recon_conf *c, const struct rg_graph *g,
                       struct recon_report *rep, char *why, size_t cap);

#endif
