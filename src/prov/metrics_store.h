/*
 * metrics_store: the gauges of core/metrics.h that the store answers.
 * It lives with provisioning because an agent's state (ok, partial,
 * unlinked, ...) is read from provisioning's flags.
 */
#ifndef LETTAMX_METRICS_STORE_H
#define LETTAMX_METRICS_STORE_H

struct metrics;
struct store;

/* Reads the gauges the store answers: agents by state (ok, no_user,
 * no_room, partial, deleted, unlinked), inbox and outbox depths, the
 * data file's size. For the daemon after each provisioning run (they
 * change slowly; the bridge sets queue depths as they move). Returns 0 or
 * the store's err code. */
int metrics_store_read(struct metrics *m, struct store *s);

#endif
