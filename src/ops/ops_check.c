/*
 * ops_check: the integrity checks over what was read (see ops_check.h).
 */
#include "ops/ops_check.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "prov/provision.h"
#include "store/store_snap.h"

void ops_problem(struct ops_sink *s, const char *check, const char *subject,
                 const char *fix, const char *fmt, ...)
{
	char text[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	s->problems++;
	if (s->fn)
		s->fn(s->arg, check, subject, text, fix);
}

/* ---- reading the records ---- */

static int add_rec(const struct store_agent *a, void *arg)
{
	struct ops_recs *r = arg;

	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		struct store_agent *p;

		if (cap > LIM_LETTA_AGENTS * 2)
			return ERR_TOOBIG;
		p = realloc(r->a, cap * sizeof *p);
		if (!p)
			return ERR_NOMEM;
		r->a = p;
		r->cap = cap;
	}
	r->a[r->n++] = *a;
	return 0;
}

int ops_recs_read(struct store_txn *t, struct ops_recs *r)
{
	int rc;

	memset(r, 0, sizeof *r);
	rc = store_agent_each(t, add_rec, r);
	if (rc < 0)
		return rc;
	rc = store_meta_get(t, PROV_META_SPACE, r->space_id,
	                    sizeof r->space_id);
	return rc == ERR_NOTFOUND ? 0 : rc;
}

void ops_recs_free(struct ops_recs *r)
{
	for (size_t i = 0; i < r->n; i++) {
		memset(r->a[i].password, 0, sizeof r->a[i].password);
		memset(r->a[i].access_token, 0, sizeof r->a[i].access_token);
	}
	free(r->a);
	memset(r, 0, sizeof *r);
}

static void subject(const struct store_agent *a, char *out, size_t cap)
{
	snprintf(out, cap, "agent %s (%s)", a->name[0] ? a->name : "?",
	         a->agent_id);
}

/* ---- 3: shared rooms and users, from the records ---- */

struct claim {
	const char *id;         /* the room or user id */
	size_t i;               /* the record */
};

static int by_id(const void *x, const void *y)
{
	const struct claim *a = x, *b = y;
	int r = strcmp(a->id, b->id);

	return r ? r : (a->i > b->i) - (a->i < b->i);
}

static void shared(const struct ops_recs *r, size_t off, const char *what,
                   struct claim *c, struct ops_sink *s)
{
	char sub[600];

	for (size_t i = 0; i < r->n; i++)
		c[i] = (struct claim){ (const char *)&r->a[i] + off, i };
	qsort(c, r->n, sizeof *c, by_id);
	for (size_t i = 1; i < r->n; i++) {
		if (!c[i].id[0] || strcmp(c[i].id, c[i - 1].id))
			continue;
		subject(&r->a[c[i].i], sub, sizeof sub);
		ops_problem(s, "3", sub, "lettamx reconcile (keeps one agent "
		            "per room and user), or lettamx restore a snapshot "
		            "from before", "its %s %s is also %s's", what,
		            c[i].id, r->a[c[i - 1].i].agent_id);
	}
}

/* ---- 4: derived flags ---- */

static void flags_agree(const struct store_agent *a, struct ops_sink *s)
{
	const char *fix = "lettamx reconcile (derives the flags from the "
	                  "server again)";
	bool room = a->room_id[0] != '\0';
	uint32_t f = a->flags;
	char sub[600];

	subject(a, sub, sizeof sub);
	if (room && !(f & STORE_AGENT_ROOM_CREATED))
		ops_problem(s, "4", sub, fix, "it has room %s but room_created "
		            "is not set", a->room_id);
	if (!room && (f & STORE_AGENT_ROOM_CREATED))
		ops_problem(s, "4", sub, fix, "room_created is set but it has "
		            "no room id");
	if (!room && (f & (PROV_F_LINKED | PROV_F_BOT_JOINED)))
		ops_problem(s, "4", sub, fix, "it is marked linked or joined "
		            "but has no room");
	if ((f & PROV_F_UNLINKED) && !a->deleted_at)
		ops_problem(s, "4", sub, fix, "it is marked unlinked but its "
		            "agent is not marked deleted");
	if (!a->user_id[0])
		ops_problem(s, "4", sub, "lettamx provision", "it has no "
		            "Matrix user id");
}

static void on_index(const char *problem, void *arg)
{
	ops_problem(arg, "5", "the store's indexes", "lettamx run (rebuilds "
	            "the indexes from the records at start), or lettamx "
	            "restore a snapshot", "%s", problem);
}

int ops_check_store(struct store_txn *t, const struct ops_recs *r,
                    struct ops_sink *s)
{
	struct claim *idx = calloc(r->n ? r->n : 1, sizeof *idx);
	char ver[16] = "";
	int rc;

	if (!idx)
		return ERR_NOMEM;
	shared(r, offsetof(struct store_agent, room_id), "room", idx, s);
	shared(r, offsetof(struct store_agent, user_id), "Matrix user", idx, s);
	free(idx);
	for (size_t i = 0; i < r->n; i++)
		flags_agree(&r->a[i], s);
	if (store_meta_get(t, "schema", ver, sizeof ver) < 0 ||
	    strtol(ver, NULL, 10) != STORE_SCHEMA)
		ops_problem(s, "5", "the store", "lettamx restore a snapshot "
		            "of this version (lettamx snapshots)", "its schema "
		            "version is '%s', this lettamx writes %d", ver,
		            STORE_SCHEMA);
	rc = store_check(t, on_index, s);
	return rc < 0 ? rc : 0;
}

/* ---- 8: the newest snapshot ---- */

static void when(int64_t ms, char *out, size_t cap)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int ops_check_snap(struct store_txn *t, const struct ops_recs *r,
                   const char *snapdir, struct ops_sink *s)
{
	struct store_snap *list = calloc(LIM_STORE_SNAPSHOTS, sizeof *list);
	const struct store_agent *last = NULL;
	struct store_snap v;
	uint8_t dg[32];
	char why[512], a[32], b[32], name[STORE_SNAP_NAME];
	int n, rc;

	if (!list)
		return ERR_NOMEM;
	n = store_snap_list(snapdir, list, LIM_STORE_SNAPSHOTS);
	for (size_t i = 0; i < r->n; i++)
		if (!last || r->a[i].updated_at > last->updated_at)
			last = &r->a[i];
	if (n <= 0) {
		free(list);
		if (n < 0 && n != ERR_NOTFOUND && n != ERR_IO)
			return n;
		if (r->n)
			ops_problem(s, "8", "the snapshots", "lettamx snapshot",
			            "there is no snapshot of the store in %s",
			            snapdir);
		return 0;
	}
	memcpy(name, list[n - 1].name, sizeof name);
	free(list);
	if (store_snap_verify(snapdir, name, &v, why, sizeof why)) {
		ops_problem(s, "8", name, "lettamx snapshot (a new verified "
		            "one)", "the newest snapshot does not verify: %s",
		            why);
		return 0;
	}
	if ((rc = store_digest(t, dg, NULL)) < 0)
		return rc;
	if (last && last->updated_at > v.created && !memcmp(dg, v.digest, 32)) {
		when(v.created, a, sizeof a);
		when(last->updated_at, b, sizeof b);
		ops_problem(s, "8", v.name, "lettamx snapshot, and look for "
		            "the state before the change in older snapshots "
		            "(lettamx snapshots)", "the newest snapshot (%s) "
		            "holds exactly the current state although agent %s "
		            "changed after it (%s): it was taken after the "
		            "change, so it is no backup of the state before", a,
		            last->agent_id, b);
	}
	return 0;
}

/* ---- Letta ---- */

static const struct letta_agent *listed(const struct letta_list *l,
                                        const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->agents[i].id, id))
			return &l->agents[i];
	return NULL;
}

static const struct store_agent *mapped(const struct ops_recs *r,
                                        const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->a[i].agent_id, id))
			return &r->a[i];
	return NULL;
}

void ops_check_letta(const struct ops_recs *r, const struct letta_list *l,
                     const char *include, const char *exclude,
                     struct ops_sink *s)
{
	char sub[600];

	for (size_t i = 0; i < l->n; i++) {
		const struct letta_agent *a = &l->agents[i];

		if (!letta_agent_wanted(a, include, exclude) ||
		    mapped(r, a->id))
			continue;
		snprintf(sub, sizeof sub, "agent %s (%s)", a->name, a->id);
		ops_problem(s, "letta", sub, "lettamx provision", "it has no "
		            "mapping: no Matrix user and room");
	}
	if (!l->complete)
		return;         /* only a complete listing proves an absence */
	for (size_t i = 0; i < r->n; i++) {
		const struct store_agent *a = &r->a[i];

		if (a->deleted_at || listed(l, a->agent_id))
			continue;
		subject(a, sub, sizeof sub);
		ops_problem(s, "letta", sub, "lettamx provision (marks it "
		            "deleted and unlinks it after [letta] "
		            "delete_grace)", "its agent no longer exists in "
		            "Letta");
	}
}

/* ---- the graph: 1, 2, 6, 7 ---- */

static const struct ops_graph_room *room_of(const struct ops_graph *g,
                                            const char *id)
{
	for (size_t i = 0; i < g->n; i++)
		if (!strcmp(g->rooms[i].room_id, id))
			return &g->rooms[i];
	return NULL;
}

static void check_space(const struct ops_recs *r, const struct ops_graph *g,
                        struct ops_sink *s)
{
	if (!g->space_id[0]) {
		ops_problem(s, "2", "the Space", "lettamx provision (creates "
		            "it and links every room)", "there is no Space "
		            "carrying our marker");
		return;
	}
	if (!g->space_bot_joined)
		ops_problem(s, "2", g->space_id, "lettamx provision", "the bot "
		            "is not joined to the Space");
	if (!g->space_marker_ours)
		ops_problem(s, "2", g->space_id, "lettamx provision (writes "
		            "the marker)", "the Space's marker does not name "
		            "this installation");
	if (strcmp(r->space_id, g->space_id))
		ops_problem(s, "6", "the Space", "lettamx reconcile", "the "
		            "store records the Space '%s' but the server's is "
		            "%s", r->space_id, g->space_id);
}

static void check_room(const struct store_agent *a, const struct ops_graph *g,
                       struct ops_sink *s)
{
	const struct ops_graph_room *m = room_of(g, a->room_id);
	char sub[600];

	subject(a, sub, sizeof sub);
	if (!m || !m->bot_joined || m->tombstoned) {
		ops_problem(s, "1", sub, "lettamx reconcile (finds the agent's "
		            "room by its marker), then lettamx check", "its "
		            "room %s %s: a stale mapping", a->room_id,
		            !m ? "does not exist or the bot was never in it" :
		            m->tombstoned ? "is tombstoned" : "was left by the "
		            "bot");
		return;
	}
	if (!m->agent_joined)
		ops_problem(s, "1", sub, "lettamx reconcile", "its user %s is "
		            "not joined to its room %s", a->user_id, a->room_id);
	if (strcmp(m->marker_agent, a->agent_id))
		ops_problem(s, "7", sub, "lettamx reconcile", "the marker of "
		            "its room %s names '%s'", a->room_id,
		            m->marker_agent);
	if (g->space_id[0] && (strcmp(m->parent, g->space_id) || !m->child))
		ops_problem(s, "7", sub, "lettamx provision (links it both "
		            "ways)", "its room %s is not linked both ways with "
		            "the Space (parent %s, child %s)", a->room_id,
		            m->parent[0] ? "ok" : "missing",
		            m->child ? "ok" : "missing");
}

void ops_check_graph(const struct ops_recs *r, const struct ops_graph *g,
                     struct ops_sink *s)
{
	check_space(r, g, s);
	for (size_t i = 0; i < r->n; i++)
		if (r->a[i].room_id[0] && !r->a[i].deleted_at)
			check_room(&r->a[i], g, s);
}
