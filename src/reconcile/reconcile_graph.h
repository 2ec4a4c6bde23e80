/*
 * reconcile_graph: the room graph as the bot's one filtered full-state
 * /sync shows it (the request, and the reader of its answer): the rooms,
 * the bot's memberships, the markers, the Space links. Read by reconcile
 * (which decides on it) and by the operator tools (ops_graph.c); the
 * reader is also a fuzz target's entry.
 */
#ifndef LETTAMX_RECONCILE_GRAPH_H
#define LETTAMX_RECONCILE_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "core/json.h"

/* The bot's membership of a room in the graph. */
enum { RG_JOIN = 1, RG_LEAVE, RG_BAN, RG_INVITE };

/* Marker of a room, as read (validity is decided by reconcile.c). */
enum {
	RG_MARK_NONE = 0,
	RG_MARK_OK,                     /* well-formed, our version */
	RG_MARK_BAD,                    /* malformed or a newer version */
};

/* One room of the graph. Strings live in the graph's arena; "" when the
 * state was absent. */
struct rg_room {
	const char *id;
	int bot;                        /* RG_* */
	const char *bot_by;             /* sender of the bot's membership */
	const char *creator;            /* sender of m.room.create */
	int64_t create_ts;              /* its origin_server_ts; INT64_MAX
	                                 * when absent */
	int is_space;                   /* m.room.create type m.space */
	int mark;                       /* RG_MARK_* */
	const char *agent_id;           /* the marker's agent */
	const char *mark_by;            /* the marker's sender */
	int space_mark;                 /* an org.lettamx.space marker */
	const char *space_install;      /* its "install" ("" = none) */
	const char *space_bot;          /* its "bot" */
	const char *space_by;           /* its sender */
	int tombstoned;
	const char *tomb_to;            /* replacement_room, or "" */
	const char *name;               /* m.room.name */
	const char *avatar;             /* m.room.avatar's url, "" none */
	size_t child0, nchild;          /* m.space.child keys with content,
	                                 * in rg_graph.child */
	size_t thread0, nthread;        /* thread marks, in rg_graph.thread */
};

/* A thread mark (MX_THREAD_TYPE) as read: whose it is decides
 * reconcile_apply.c. */
struct rg_thread {
	const char *root;               /* the state key: the root's id */
	const char *conv;               /* the Letta conversation */
	const char *by;                 /* the sender */
};

struct rg_graph {
	struct rg_room *room;
	size_t n, cap;
	const char **child;             /* room ids linked by Spaces */
	size_t nchild, child_cap;
	struct rg_thread *thread;       /* thread marks, room after room */
	size_t nthread, thread_cap;
	int threads_over;               /* more than LIM_RECON_THREADS */
	char *arena;                    /* unescaped strings */
	size_t alen, acap;
	struct json j;
	char why[256];                  /* why the answer was refused */
};

void rg_init(struct rg_graph *g);
void rg_free(struct rg_graph *g);

/* Reads a /sync answer of `bot` (join, leave and invite sections) into
 * g, rooms
 * sorted by id. At most LIM_RECON_ROOMS rooms. Returns 0, ERR_PROTO (not a
 * /sync answer, g->why says where), ERR_TOOBIG, ERR_UTF8, ERR_NOMEM. */
int rg_parse(struct rg_graph *g, const char *body, size_t len,
             const char *bot);

/* The room with id `id`, or NULL. */
const struct rg_room *rg_find(const struct rg_graph *g, const char *id);

/* 1 when room `id` is linked (m.space.child with content) from `space`. */
int rg_linked(const struct rg_graph *g, const struct rg_room *space,
              const char *id);

struct proto_req;

/* Builds the one filtered full-state /sync request. Returns 0 or
 * ERR_TOOBIG. */
int recon_sync_req(struct proto_req *req, const char *token);

#endif
