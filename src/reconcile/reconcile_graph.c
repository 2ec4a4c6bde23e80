/*
 * reconcile_graph: a filtered full-state /sync answer read into the room
 * graph reconcile decides on. Only what the rules need is kept (who made
 * each room and when, our markers and who sent them, tombstones, Space
 * links, names, the bot's membership, the thread marks); every string is copied unescaped
 * into one arena no bigger than the answer, so the model is bounded by
 * the answer's size and LIM_RECON_ROOMS.
 *
 * Untrusted input: a malformed event is ignored (a room we cannot read
 * is skipped, never mapped); a malformed answer is refused as a whole.
 */
#include "reconcile/reconcile_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ident.h"
#include "core/limits.h"
#include "letta/letta_conv.h"
#include "matrix/matrix.h"

static const char empty[] = "";

void rg_init(struct rg_graph *g)
{
	memset(g, 0, sizeof *g);
	json_init(&g->j);
}

void rg_free(struct rg_graph *g)
{
	free(g->room);
	free((void *)g->child);
	free(g->thread);
	free(g->arena);
	json_free(&g->j);
	rg_init(g);
}

/* Copies string v (at most cap - 1 bytes; longer: cut at a character when
 * `cut` is allowed, else refused) into the arena. NULL when refused. */
static const char *keep(struct rg_graph *g, int v, size_t cap, int cut)
{
	char *out = g->arena + g->alen;
	size_t room = g->acap - g->alen;
	int c = 0, n;

	if (json_type(&g->j, v) != JSON_STR || room < 1)
		return NULL;
	if (cap > room)
		cap = room;
	n = proto_str_cut(&g->j, v, out, cap, &c);
	if (n < 0 || (c && !cut) || memchr(out, 0, (size_t)n))
		return NULL;
	g->alen += (size_t)n + 1;
	return out;
}

static const char *keep_id(struct rg_graph *g, int v, char sigil)
{
	const char *s = keep(g, v, IDENT_MXID_MAX + 1, 0);

	return s && ident_matrix_id_valid(s, sigil) ? s : NULL;
}

static int push_child(struct rg_graph *g, const char *id)
{
	if (g->nchild == g->child_cap) {
		size_t cap = g->child_cap ? g->child_cap * 2 : 64;
		const char **p;

		if (cap > LIM_RECON_CHILDREN)
			cap = LIM_RECON_CHILDREN;
		if (g->nchild >= cap)
			return ERR_TOOBIG;
		p = realloc((void *)g->child, cap * sizeof *p);
		if (!p)
			return ERR_NOMEM;
		g->child = p;
		g->child_cap = cap;
	}
	g->child[g->nchild++] = id;
	return 0;
}

/* ---- one state event ---- */

struct ev {
	int type, key, sender, content;
	const char *by;
};

static int str_is(const struct json *j, int v, const char *s)
{
	return v >= 0 && json_type(j, v) == JSON_STR && json_str_eq(j, v, s);
}

static void on_create(struct rg_graph *g, struct rg_room *rm,
                      const struct ev *e, int ev)
{
	int64_t ts;
	int t = json_get(&g->j, e->content, "type");

	rm->creator = e->by;
	if (json_get_int(&g->j, ev, "origin_server_ts", 0, INT64_MAX - 1,
	                 &ts) == 0)
		rm->create_ts = ts;
	rm->is_space = str_is(&g->j, t, "m.space");
}

static void on_marker(struct rg_graph *g, struct rg_room *rm,
                      const struct ev *e)
{
	const struct json *j = &g->j;
	int a = json_get(j, e->content, "agent_id");
	int v = json_get(j, e->content, "v");
	int64_t ver = MX_MARKER_V;
	const char *id;

	if (json_count(j, e->content) == 0) {   /* emptied: no marker */
		rm->mark = RG_MARK_NONE;
		return;
	}
	rm->mark = RG_MARK_BAD;
	rm->mark_by = e->by;
	if (v >= 0 && json_int(j, v, 0, INT32_MAX, &ver) < 0)
		return;
	id = a >= 0 ? keep(g, a, IDENT_AGENT_ID_MAX + 1, 0) : NULL;
	if (ver > MX_MARKER_V || !id || !ident_agent_id_valid(id))
		return;
	rm->agent_id = id;
	rm->mark = RG_MARK_OK;
}

static void on_space_marker(struct rg_graph *g, struct rg_room *rm,
                            const struct ev *e)
{
	int in = json_get(&g->j, e->content, MX_SPACE_K_INSTALL);
	int b = json_get(&g->j, e->content, MX_SPACE_K_BOT);
	const char *s;

	rm->space_mark = json_count(&g->j, e->content) > 0;
	rm->space_by = e->by;
	s = in >= 0 ? keep(g, in, 64, 0) : NULL;
	rm->space_install = s ? s : empty;
	s = b >= 0 ? keep_id(g, b, '@') : NULL;
	rm->space_bot = s ? s : empty;
}

static void on_tombstone(struct rg_graph *g, struct rg_room *rm,
                         const struct ev *e)
{
	int to = json_get(&g->j, e->content, "replacement_room");
	const char *s = to >= 0 ? keep_id(g, to, '!') : NULL;

	/* Any content counts: a tombstone without a usable replacement still
	 * says the room is over. Empty content is a tombstone removed. */
	rm->tombstoned = json_count(&g->j, e->content) > 0;
	rm->tomb_to = s ? s : empty;
}

static int on_child(struct rg_graph *g, struct rg_room *rm,
                    const struct ev *e)
{
	int via = json_get(&g->j, e->content, "via");
	const char *id;

	/* The spec: a child without a non-empty `via` is not a child (that
	 * is how a link is removed). */
	if (json_type(&g->j, via) != JSON_ARR || json_count(&g->j, via) == 0)
		return 0;
	id = keep_id(g, e->key, '!');
	if (!id)
		return 0;
	if (rm->nchild == 0)
		rm->child0 = g->nchild;
	else if (rm->child0 + rm->nchild != g->nchild)
		return 0;       /* another room's links came between: cannot
		                 * happen, rooms are read one at a time */
	rm->nchild++;
	return push_child(g, id);
}

/* 1 when s looks like an event id: "$" then printable ASCII. */
static int event_id_ok(const char *s)
{
	if (s[0] != '$' || !s[1])
		return 0;
	for (s++; *s; s++)
		if (*s <= ' ' || *s > '~')
			return 0;
	return 1;
}

/* A thread mark: the root (an event id: "$" and up to 255 bytes of
 * printable ASCII, no spaces) and the conversation; an emptied or
 * unreadable one is no mark. Beyond LIM_RECON_THREADS they are counted
 * out, not read: reconcile goes on without them. */
static int on_thread(struct rg_graph *g, struct rg_room *rm,
                     const struct ev *e)
{
	int c = json_get(&g->j, e->content, MX_THREAD_K_CONV);
	const char *root, *conv;
	struct rg_thread *t;

	if (c < 0 || (rm->nthread && rm->thread0 + rm->nthread != g->nthread))
		return 0;
	root = keep(g, e->key, IDENT_MXID_MAX + 1, 0);
	if (!root || !event_id_ok(root))
		return 0;
	conv = keep(g, c, LIM_LETTA_APP_ID, 0);
	if (!conv || !letta_conv_id_ok(conv))
		return 0;
	if (g->nthread == g->thread_cap) {
		size_t cap = g->thread_cap ? g->thread_cap * 2 : 64;

		if (cap > LIM_RECON_THREADS)
			cap = LIM_RECON_THREADS;
		if (g->nthread >= cap) {
			g->threads_over = 1;
			return 0;
		}
		if (!(t = realloc(g->thread, cap * sizeof *t)))
			return ERR_NOMEM;
		g->thread = t;
		g->thread_cap = cap;
	}
	if (rm->nthread++ == 0)
		rm->thread0 = g->nthread;
	g->thread[g->nthread++] = (struct rg_thread){ root, conv, e->by };
	return 0;
}

static void on_member(struct rg_graph *g, struct rg_room *rm,
                      const struct ev *e, const char *bot, int section)
{
	int m = json_get(&g->j, e->content, "membership");

	if (!str_is(&g->j, e->key, bot))
		return;
	rm->bot_by = e->by;
	if (section != RG_LEAVE)
		return;         /* the section says joined or invited */
	rm->bot = str_is(&g->j, m, "ban") ? RG_BAN : RG_LEAVE;
}

static int on_event(struct rg_graph *g, struct rg_room *rm, int ev,
                    const char *bot, int section)
{
	const struct json *j = &g->j;
	struct ev e;

	if (json_type(j, ev) != JSON_OBJ)
		return 0;
	e.type = json_get(j, ev, "type");
	e.key = json_get(j, ev, "state_key");
	e.sender = json_get(j, ev, "sender");
	e.content = json_get(j, ev, "content");
	if (e.type < 0 || json_type(j, e.key) != JSON_STR ||
	    json_type(j, e.content) != JSON_OBJ ||
	    json_type(j, e.type) != JSON_STR)
		return 0;       /* not a state event we can read: ignored */
	e.by = e.sender >= 0 ? keep_id(g, e.sender, '@') : NULL;
	if (!e.by)
		return 0;
	if (str_is(j, e.type, "m.space.child"))
		return on_child(g, rm, &e);
	if (str_is(j, e.type, "m.room.member")) {
		on_member(g, rm, &e, bot, section);
		return 0;
	}
	if (str_is(j, e.type, MX_THREAD_TYPE))
		return on_thread(g, rm, &e);
	if (!str_is(j, e.key, ""))
		return 0;
	if (str_is(j, e.type, "m.room.create"))
		on_create(g, rm, &e, ev);
	else if (str_is(j, e.type, MX_MARKER_TYPE))
		on_marker(g, rm, &e);
	else if (str_is(j, e.type, MX_SPACE_TYPE))
		on_space_marker(g, rm, &e);
	else if (str_is(j, e.type, "m.room.tombstone"))
		on_tombstone(g, rm, &e);
	else if (str_is(j, e.type, "m.room.name")) {
		int n = json_get(j, e.content, "name");
		const char *s = n >= 0 ? keep(g, n, LIM_STORE_NAME, 1) : NULL;

		rm->name = s ? s : empty;
	} else if (str_is(j, e.type, "m.room.avatar")) {
		int n = json_get(j, e.content, "url");
		const char *s = n >= 0 ? keep(g, n, LIM_STORE_ID, 0) : NULL;

		rm->avatar = s ? s : empty;
	}
	return 0;
}

/* The events of `list` (an array, or absent). */
static int on_list(struct rg_graph *g, struct rg_room *rm, int parent,
                   const char *key, const char *bot, int section)
{
	int part = json_get(&g->j, parent, key), arr, r;

	if (part < 0)
		return 0;
	arr = json_get(&g->j, part, "events");
	if (json_type(&g->j, part) != JSON_OBJ ||
	    (arr >= 0 && json_type(&g->j, arr) != JSON_ARR)) {
		snprintf(g->why, sizeof g->why, "'%s' is not an event list",
		         key);
		return ERR_PROTO;
	}
	for (int ev = json_arr_first(&g->j, arr); ev >= 0;
	     ev = json_arr_next(&g->j, arr, ev))
		if ((r = on_event(g, rm, ev, bot, section)) < 0)
			return r;
	return 0;
}

/* ---- rooms ---- */

static struct rg_room *new_room(struct rg_graph *g)
{
	struct rg_room *rm;

	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		struct rg_room *p;

		if (cap > LIM_RECON_ROOMS)
			cap = LIM_RECON_ROOMS;
		if (g->n >= cap)
			return NULL;
		p = realloc(g->room, cap * sizeof *p);
		if (!p)
			return NULL;
		g->room = p;
		g->cap = cap;
	}
	rm = &g->room[g->n];
	memset(rm, 0, sizeof *rm);
	rm->bot_by = rm->creator = rm->agent_id = rm->mark_by = empty;
	rm->space_install = rm->space_bot = rm->space_by = empty;
	rm->tomb_to = rm->name = rm->avatar = empty;
	rm->create_ts = INT64_MAX;
	return rm;
}

static int on_room(struct rg_graph *g, int key, int body, const char *bot,
                   int section)
{
	const char *id = keep_id(g, key, '!');
	struct rg_room *rm;
	int r;

	if (!id)
		return 0;               /* not a room id: nothing to map */
	if (json_type(&g->j, body) != JSON_OBJ) {
		snprintf(g->why, sizeof g->why, "room %s is not an object",
		         id);
		return ERR_PROTO;
	}
	rm = new_room(g);
	if (!rm) {
		snprintf(g->why, sizeof g->why, "more than %u rooms",
		         (unsigned)LIM_RECON_ROOMS);
		return g->n >= LIM_RECON_ROOMS ? ERR_TOOBIG : ERR_NOMEM;
	}
	rm->id = id;
	rm->bot = section;
	if (section == RG_INVITE) {     /* stripped state: nothing to trust */
		g->n++;
		return 0;
	}
	if ((r = on_list(g, rm, body, "state", bot, section)) < 0 ||
	    (r = on_list(g, rm, body, "timeline", bot, section)) < 0)
		return r;
	g->n++;
	return 0;
}

static int on_section(struct rg_graph *g, int rooms, const char *name,
                      const char *bot, int section)
{
	int s = json_get(&g->j, rooms, name), r;

	if (s < 0)
		return 0;
	if (json_type(&g->j, s) != JSON_OBJ) {
		snprintf(g->why, sizeof g->why, "rooms.%s is not an object",
		         name);
		return ERR_PROTO;
	}
	for (int k = json_obj_first(&g->j, s); k >= 0;
	     k = json_obj_next(&g->j, s, k))
		if ((r = on_room(g, k, k + 1, bot, section)) < 0)
			return r;
	return 0;
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int by_id(const void *a, const void *b)
{
	const struct rg_room *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c ? c : x->bot - y->bot;        /* join first */
}

/* Sorts the rooms and drops repeated ids (a room in two sections keeps
 * its first: joined before left before invited). */
static void sort_rooms(struct rg_graph *g)
{
	size_t w = 0;

	if (g->n)
		qsort(g->room, g->n, sizeof *g->room, by_id);
	for (size_t i = 0; i < g->n; i++)
		if (w == 0 || strcmp(g->room[w - 1].id, g->room[i].id))
			g->room[w++] = g->room[i];
	g->n = w;
	for (size_t i = 0; i < g->n; i++)
		if (g->room[i].nchild > 1)
			qsort(g->child + g->room[i].child0, g->room[i].nchild,
			      sizeof *g->child, by_str);
}

int rg_parse(struct rg_graph *g, const char *body, size_t len,
             const char *bot)
{
	int r, rooms;

	g->why[0] = '\0';
	g->n = g->nchild = g->nthread = g->alen = 0;
	g->threads_over = 0;
	free(g->arena);
	g->acap = len + 64;
	g->arena = malloc(g->acap);
	if (!g->arena)
		return ERR_NOMEM;
	r = json_parse(&g->j, body, len);
	if (r < 0) {
		snprintf(g->why, sizeof g->why, "the answer is not JSON (%s)",
		         err_str(r));
		return r;
	}
	if (json_type(&g->j, 0) != JSON_OBJ ||
	    json_type(&g->j, json_get(&g->j, 0, "next_batch")) != JSON_STR) {
		snprintf(g->why, sizeof g->why, "not a /sync answer (no "
		         "next_batch)");
		return ERR_PROTO;
	}
	rooms = json_get(&g->j, 0, "rooms");
	if (rooms >= 0 && json_type(&g->j, rooms) != JSON_OBJ) {
		snprintf(g->why, sizeof g->why, "'rooms' is not an object");
		return ERR_PROTO;
	}
	if (rooms >= 0 &&
	    ((r = on_section(g, rooms, "join", bot, RG_JOIN)) < 0 ||
	     (r = on_section(g, rooms, "leave", bot, RG_LEAVE)) < 0 ||
	     (r = on_section(g, rooms, "invite", bot, RG_INVITE)) < 0))
		return r;
	sort_rooms(g);
	return 0;
}

const struct rg_room *rg_find(const struct rg_graph *g, const char *id)
{
	size_t lo = 0, hi = g->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(g->room[mid].id, id);

		if (c == 0)
			return &g->room[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int rg_linked(const struct rg_graph *g, const struct rg_room *space,
              const char *id)
{
	if (!space || space->nchild == 0)
		return 0;
	return bsearch(&id, g->child + space->child0, space->nchild,
	               sizeof *g->child, by_str) != NULL;
}
