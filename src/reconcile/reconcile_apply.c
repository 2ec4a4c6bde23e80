/*
 * reconcile_apply: the decisions of reconcile.h over the graph, then all
 * of them in one write transaction (after a verified snapshot, and only
 * when something changes, so a second run writes nothing).
 *
 * Decisions are made on a copy of what matters of every local record
 * (agent, room, flags) and the graph; the transaction then rewrites only
 * the records that change, in two passes (first the records leaving a
 * room, then the final ones), so that two records trading rooms never
 * meet the one-room-one-agent index halfway; the indexes are rebuilt
 * from the records at the end (seed 004: recomputed, not trusted).
 */
#include "reconcile/recon_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ident.h"
#include "core/log.h"
#include "matrix/matrix.h"
#include "prov/provision.h"
#include "store/secret.h"
#include "store/store.h"
#include "store/store_snap.h"

/* What reconcile reads of a local record. */
struct loc {
	char agent_id[LIM_STORE_ID];
	char room_id[LIM_STORE_ID];
	uint32_t flags;
};

/* A room with a marker that counts. */
struct cand {
	const struct rg_room *rm;
	int linked;
};

/* A thread's conversation the store lacks, put back from its mark. */
struct tput {
	const char *room, *root, *conv;
};

/* One record to write. */
struct change {
	const char *agent_id;
	int is_new;
	const struct rg_room *room;     /* its room; NULL: none (stale) */
	uint32_t set, clr;
	int take_name;                  /* name from the graph, NAMED */
};

struct plan {
	const struct recon_conf *c;
	const struct rg_graph *g;
	struct recon_report *rep;
	const struct rg_room *space;    /* ours, or NULL */
	char stored_space[LIM_STORE_ID];
	int space_set, space_del;
	struct loc *loc;
	size_t nloc, loc_cap;
	struct cand *cand;
	size_t ncand;
	struct change *ch;
	size_t nch;
	const struct rg_room **mapped;  /* each agent's room, as decided */
	size_t nmapped;
	struct tput *tput;
	size_t ntput;
	int index_problems;
	char *why;
	size_t whycap;
};

static void vline(struct plan *p, int kind, const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof buf, fmt, ap);
	if (p->c->on_line)
		p->c->on_line(p->c->arg, kind, buf);
}

/* A finding the operator should look at. */
static void line(struct plan *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void line(struct plan *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(p, RECON_LINE_ALERT, fmt, ap);
	va_end(ap);
}

/* A mapping put right: one per agent after a lost store. */
static void note(struct plan *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(struct plan *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(p, RECON_LINE_ROUTINE, fmt, ap);
	va_end(ap);
}

/* "restored" or, in a dry run, "would restore". */
static const char *verb(const struct plan *p, const char *done,
                        const char *would)
{
	return p->c->dry_run ? would : done;
}

/* ---- what the store holds ---- */

static int load_rec(const struct store_agent *a, void *arg)
{
	struct plan *p = arg;

	if (p->nloc == p->loc_cap) {
		size_t cap = p->loc_cap ? p->loc_cap * 2 : 256;
		struct loc *n = realloc(p->loc, cap * sizeof *n);

		if (!n)
			return ERR_NOMEM;
		p->loc = n;
		p->loc_cap = cap;
	}
	snprintf(p->loc[p->nloc].agent_id, LIM_STORE_ID, "%s", a->agent_id);
	snprintf(p->loc[p->nloc].room_id, LIM_STORE_ID, "%s", a->room_id);
	p->loc[p->nloc].flags = a->flags;
	p->nloc++;
	return 0;
}

static void count_problem(const char *problem, void *arg)
{
	struct plan *p = arg;

	if (p->index_problems++ < 5)
		line(p, "index: %s", problem);
}

static int load_fn(struct store_txn *t, void *arg)
{
	struct plan *p = arg;
	int r = store_meta_get(t, PROV_META_SPACE, p->stored_space,
	                       sizeof p->stored_space);

	if (r < 0 && r != ERR_NOTFOUND)
		return r;
	r = store_agent_each(t, load_rec, p);
	if (r < 0)
		return r;
	r = store_check(t, count_problem, p);
	return r < 0 ? r : 0;
}

/* ---- the Space ---- */

static int older(const struct rg_room *a, const struct rg_room *b)
{
	if (a->create_ts != b->create_ts)
		return a->create_ts < b->create_ts;
	return strcmp(a->id, b->id) < 0;
}

/* Ours: joined, not tombstoned, the marker sent by our bot naming our
 * install (rank 2), or an older version's marker of our bot (rank 1). */
static int space_rank(const struct plan *p, const struct rg_room *rm)
{
	if (!rm->space_mark || rm->bot != RG_JOIN || rm->tombstoned)
		return 0;
	if (strcmp(rm->space_by, p->c->bot_user))
		return -1;      /* forged */
	if (!strcmp(rm->space_install, p->c->install_id))
		return 2;
	return rm->space_install[0] ? -2 : 1;   /* another installation */
}

static void pick_space(struct plan *p)
{
	const struct rg_room *best = NULL;
	int best_rank = 0;
	size_t n = 0;

	for (size_t i = 0; i < p->g->n; i++) {
		const struct rg_room *rm = &p->g->room[i];
		int k = space_rank(p, rm);

		if (k == -1) {
			p->rep->forged++;
			line(p, "forged: Space %s carries our Space marker sent "
			     "by %s, not by our bot: ignored", rm->id,
			     rm->space_by);
		} else if (k == -2) {
			p->rep->skipped++;
			line(p, "skipped: Space %s belongs to another "
			     "installation (install %s)", rm->id,
			     rm->space_install);
		}
		if (k <= 0)
			continue;
		n++;
		if (!best || k > best_rank ||
		    (k == best_rank && !strcmp(rm->id, p->stored_space)) ||
		    (k == best_rank && strcmp(best->id, p->stored_space) &&
		     older(rm, best))) {
			best = rm;
			best_rank = k;
		}
	}
	p->space = best;
	if (n > 1)
		line(p, "conflict: %zu Spaces of ours; keeping %s", n,
		     best->id);
	if (best && strcmp(best->id, p->stored_space)) {
		p->rep->space = RECON_SPACE_FOUND;
		p->space_set = 1;
		line(p, "space: %s %s (found by its marker%s%s)",
		     verb(p, "recorded", "would record"), best->id,
		     p->stored_space[0] ? "; was " : "", p->stored_space);
	} else if (!best) {
		p->rep->space = RECON_SPACE_GONE;
		p->space_del = p->stored_space[0] != '\0';
		if (p->space_del)
			line(p, "space: the stored Space %s is gone or the bot "
			     "left it, and no Space of ours is in the graph: "
			     "provisioning makes one and links every room again",
			     p->stored_space);
	}
	snprintf(p->rep->space_id, sizeof p->rep->space_id, "%s",
	         best ? best->id : "");
}

/* ---- agent rooms ---- */

static int agent_user(const struct plan *p, const char *agent, char *out)
{
	return ident_agent_user_id(p->c->user_prefix, agent,
	                           p->c->server_name, out, IDENT_MXID_MAX + 1);
}

/* 1 when the marker counts: sent by our bot or the agent user it names,
 * in a room created by one of the two. */
static int marker_counts(const struct plan *p, const struct rg_room *rm)
{
	char user[IDENT_MXID_MAX + 1];
	const char *bot = p->c->bot_user;

	if (agent_user(p, rm->agent_id, user) < 0)
		return 0;
	return (!strcmp(rm->mark_by, bot) || !strcmp(rm->mark_by, user)) &&
	       (!strcmp(rm->creator, bot) || !strcmp(rm->creator, user));
}

static int by_agent(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	return strcmp(x->rm->agent_id, y->rm->agent_id);
}

static int collect(struct plan *p)
{
	const struct rg_graph *g = p->g;

	p->cand = calloc(g->n ? g->n : 1, sizeof *p->cand);
	if (!p->cand)
		return ERR_NOMEM;
	for (size_t i = 0; i < g->n; i++) {
		const struct rg_room *rm = &g->room[i];

		if (rm->bot != RG_INVITE)
			p->rep->rooms++;
		if (rm->space_mark && rm->bot == RG_JOIN)
			continue;       /* a Space: judged by pick_space */
		if (rm->mark == RG_MARK_NONE || rm->bot == RG_INVITE) {
			p->rep->skipped++;
			continue;
		}
		if (rm->bot != RG_JOIN)
			continue;       /* left: only a stale mapping's why */
		if (rm->mark == RG_MARK_BAD) {
			p->rep->skipped++;
			line(p, "skipped: room %s has a marker this version "
			     "cannot read", rm->id);
			continue;
		}
		if (!marker_counts(p, rm)) {
			p->rep->forged++;
			line(p, "forged: room %s claims agent %s (marker sent by "
			     "%s, room created by %s): never mapped", rm->id,
			     rm->agent_id, rm->mark_by, rm->creator);
			continue;
		}
		if (rm->tombstoned)
			continue;       /* over: a stale mapping's why */
		p->cand[p->ncand].rm = rm;
		p->cand[p->ncand].linked = rg_linked(g, p->space, rm->id);
		p->ncand++;
	}
	if (p->ncand > 1)
		qsort(p->cand, p->ncand, sizeof *p->cand, by_agent);
	return 0;
}

/* Why the stored room `id` of `agent` is not its room. */
static void dead_why(const struct plan *p, const char *agent, const char *id,
                     char *out, size_t cap)
{
	const struct rg_room *rm = rg_find(p->g, id);

	if (!rm)
		snprintf(out, cap, "gone (deleted, or the bot is not in it)");
	else if (rm->bot == RG_LEAVE && !strcmp(rm->bot_by, p->c->bot_user))
		snprintf(out, cap, "the bot left it");
	else if (rm->bot == RG_LEAVE)
		snprintf(out, cap, "the bot was kicked by %s", rm->bot_by);
	else if (rm->bot == RG_BAN)
		snprintf(out, cap, "the bot was banned by %s", rm->bot_by);
	else if (rm->bot == RG_INVITE)
		snprintf(out, cap, "the bot is only invited");
	else if (rm->tombstoned)
		snprintf(out, cap, "tombstoned (replaced by %s)",
		         rm->tomb_to[0] ? rm->tomb_to : "no room");
	else if (rm->mark != RG_MARK_OK)
		snprintf(out, cap, "it carries no readable marker");
	else if (strcmp(rm->agent_id, agent))
		snprintf(out, cap, "its marker names agent %s", rm->agent_id);
	else
		snprintf(out, cap, "its marker is forged (sent by %s)",
		         rm->mark_by);
}

/* The keeper among n candidates of one agent: the one mapped locally,
 * else one linked in our Space, else the oldest. `how` says which rule
 * chose it. */
static const struct cand *keeper(const struct cand *c, size_t n,
                                 const struct loc *l, const char **how)
{
	const struct cand *best = NULL;

	for (size_t i = 0; l && i < n; i++)
		if (!strcmp(c[i].rm->id, l->room_id)) {
			*how = "mapped locally";
			return &c[i];
		}
	for (size_t i = 0; i < n; i++)
		if (!best || (c[i].linked && !best->linked) ||
		    (c[i].linked == best->linked && older(c[i].rm, best->rm)))
			best = &c[i];
	*how = best->linked ? "linked in the Space" : "the oldest";
	return best;
}

static struct change *add_change(struct plan *p, const char *agent)
{
	struct change *ch = &p->ch[p->nch++];

	memset(ch, 0, sizeof *ch);
	ch->agent_id = agent;
	return ch;
}

/* Flags a mapping to room k must have. */
static void want_flags(const struct loc *l, const struct cand *k,
                       uint32_t *set, uint32_t *clr)
{
	*set = STORE_AGENT_ROOM_CREATED | PROV_F_BOT_JOINED;
	*clr = RECON_F_STALE;
	if (l && (l->flags & PROV_F_UNLINKED))
		return;         /* deleted in Letta: unlinked on purpose */
	if (k->linked)
		*set |= PROV_F_LINKED;
	else
		*clr |= PROV_F_LINKED;
}

/* What changes in a kept mapping's flags, in words. */
static void fixes(uint32_t had, uint32_t set, uint32_t clr, char *out,
                  size_t cap)
{
	static const struct { uint32_t f; int on; const char *say; } t[] = {
		{ PROV_F_LINKED, 1, "linked in the Space" },
		{ PROV_F_LINKED, 0, "not linked in the Space: provisioning "
		  "links it" },
		{ PROV_F_BOT_JOINED, 1, "the bot is in it" },
		{ STORE_AGENT_ROOM_CREATED, 1, "the room exists" },
		{ RECON_F_STALE, 0, "no longer stale" },
	};
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof t / sizeof *t && n < cap; i++) {
		uint32_t now = t[i].on ? set & ~had : clr & had;

		if (now & t[i].f)
			n += (size_t)snprintf(out + n, cap - n, "%s%s",
			                      n ? ", " : "", t[i].say);
	}
}

static void one_agent(struct plan *p, const char *agent, const struct loc *l,
                      const struct cand *c, size_t n)
{
	char why[400];
	const char *how = "";
	const struct cand *k;
	struct change *ch;
	uint32_t set, clr;

	if (n == 0) {
		if (!l || !l->room_id[0])
			return;
		dead_why(p, agent, l->room_id, why, sizeof why);
		p->rep->stale++;
		line(p, "stale: agent %s room %s: %s; no other room of the "
		     "agent in the graph: provisioning finds or makes one",
		     agent, l->room_id, why);
		ch = add_change(p, agent);
		ch->set = RECON_F_STALE;
		ch->clr = STORE_AGENT_ROOM_CREATED | PROV_F_LINKED |
		          PROV_F_BOT_JOINED;
		return;
	}
	k = keeper(c, n, l, &how);
	p->mapped[p->nmapped++] = k->rm;
	if (n > 1) {
		char others[600] = "";
		size_t len = 0;

		for (size_t i = 0; i < n && len < sizeof others - 1; i++)
			if (&c[i] != k)
				len += (size_t)snprintf(others + len,
				        sizeof others - len, " %s", c[i].rm->id);
		p->rep->conflicts++;
		line(p, "conflict: agent %s is claimed by %zu rooms; keeping "
		     "%s (%s), leaving alone:%s", agent, n, k->rm->id, how,
		     others);
	}
	want_flags(l, k, &set, &clr);
	if (l && !strcmp(l->room_id, k->rm->id)) {
		if ((l->flags & set) == set && !(l->flags & clr)) {
			p->rep->kept++;
			return;
		}
		p->rep->repaired++;
		fixes(l->flags, set, clr, why, sizeof why);
		note(p, "repaired: agent %s room %s: %s", agent, k->rm->id,
		     why);
	} else if (l && l->room_id[0]) {
		dead_why(p, agent, l->room_id, why, sizeof why);
		p->rep->stale++;
		p->rep->repaired++;
		line(p, "stale: agent %s room %s: %s; %s %s", agent,
		     l->room_id, why, verb(p, "repaired with", "would repair "
		     "with"), k->rm->id);
	} else {
		p->rep->restored++;
		note(p, "%s: agent %s room %s%s", verb(p, "restored",
		     "would restore"), agent, k->rm->id, k->linked ? "" :
		     " (not linked in the Space: provisioning links it)");
	}
	ch = add_change(p, agent);
	ch->is_new = l == NULL;
	ch->room = k->rm;
	ch->set = set;
	ch->clr = clr;
	ch->take_name = !l || !(l->flags & PROV_F_NAMED);
}

/* Walks the local records and the candidates, both in agent id order. */
static int decide(struct plan *p)
{
	size_t li = 0, ci = 0;

	p->ch = calloc(p->nloc + p->ncand + 1, sizeof *p->ch);
	p->mapped = calloc(p->ncand + 1, sizeof *p->mapped);
	if (!p->ch || !p->mapped)
		return ERR_NOMEM;
	while (li < p->nloc || ci < p->ncand) {
		const char *agent;
		const struct loc *l = NULL;
		size_t n = 0;
		int c;

		if (li == p->nloc)
			c = 1;
		else if (ci == p->ncand)
			c = -1;
		else
			c = strcmp(p->loc[li].agent_id,
			           p->cand[ci].rm->agent_id);
		agent = c <= 0 ? p->loc[li].agent_id : p->cand[ci].rm->agent_id;
		if (c <= 0)
			l = &p->loc[li++];
		while (ci + n < p->ncand &&
		       !strcmp(p->cand[ci + n].rm->agent_id, agent))
			n++;
		one_agent(p, agent, l, p->cand + ci, n);
		ci += n;
	}
	return 0;
}

/* ---- thread conversations ---- */

/* 1 when mark i of room rm is the room's last for its root (a room's
 * state and timeline may both carry one: the later is the newer). */
static int last_of_root(const struct rg_graph *g, const struct rg_room *rm,
                        size_t i)
{
	for (size_t j = i + 1; j < rm->thread0 + rm->nthread; j++)
		if (!strcmp(g->thread[j].root, g->thread[i].root))
			return 0;
	return 1;
}

/* The marks of room rm (an agent's, as decided) whose thread the store
 * keeps no conversation for; a kept one is never replaced (it is the
 * same, or newer than a mark that could not be posted). */
static int room_threads(struct store_txn *t, struct plan *p,
                        const struct rg_room *rm)
{
	char conv[LIM_STORE_ID];

	for (size_t i = rm->thread0; i < rm->thread0 + rm->nthread; i++) {
		const struct rg_thread *th = &p->g->thread[i];
		int e;

		if (!last_of_root(p->g, rm, i))
			continue;
		if (strcmp(th->by, p->c->bot_user)) {
			p->rep->forged++;
			line(p, "forged: room %s thread %s: its mark was sent by "
			     "%s, not by our bot: ignored", rm->id, th->root,
			     th->by);
			continue;
		}
		e = store_conv_get(t, rm->id, th->root, conv, sizeof conv);
		if (e == 0 || e == ERR_INVAL || e == ERR_TOOBIG)
			continue;
		if (e != ERR_NOTFOUND)
			return e;
		p->tput[p->ntput++] = (struct tput){ rm->id, th->root, th->conv };
		p->rep->threads++;
		note(p, "%s: room %s thread %s conversation %s",
		     verb(p, "restored", "would restore"), rm->id, th->root,
		     th->conv);
	}
	return 0;
}

static int threads_fn(struct store_txn *t, void *arg)
{
	struct plan *p = arg;
	int e = 0;

	for (size_t i = 0; i < p->nmapped && e >= 0; i++)
		e = room_threads(t, p, p->mapped[i]);
	return e < 0 ? e : 0;
}

static int threads(struct plan *p)
{
	int r;

	if (p->g->threads_over)
		line(p, "threads: more than %u thread marks; the rest were not "
		     "read", (unsigned)LIM_RECON_THREADS);
	p->tput = calloc(p->g->nthread + 1, sizeof *p->tput);
	if (!p->tput)
		return ERR_NOMEM;
	r = store_view(p->c->store, threads_fn, p);
	if (r < 0)
		snprintf(p->why, p->whycap, "store: %s", store_why(p->c->store));
	return r;
}

static int put_threads(struct store_txn *t, const struct plan *p)
{
	char conv[LIM_STORE_ID];
	int r = 0;

	for (size_t i = 0; i < p->ntput && r >= 0; i++) {
		const struct tput *u = &p->tput[i];

		r = store_conv_get(t, u->room, u->root, conv, sizeof conv);
		if (r == ERR_NOTFOUND)
			r = store_conv_put(t, u->room, u->root, u->conv);
	}
	return r;
}

/* ---- the transaction ---- */

static int get_or_new(struct store_txn *t, const struct plan *p,
                      const struct change *ch, struct store_agent *a)
{
	int r;

	if (!ch->is_new)
		return store_agent_get(t, ch->agent_id, a);
	memset(a, 0, sizeof *a);
	snprintf(a->agent_id, sizeof a->agent_id, "%s", ch->agent_id);
	r = agent_user(p, ch->agent_id, a->user_id);
	if (r == 0 && p->c->master)
		r = secret_agent_password(p->c->master, ch->agent_id,
		                          a->password, sizeof a->password);
	return r;
}

static void final_rec(const struct change *ch, struct store_agent *a)
{
	snprintf(a->room_id, sizeof a->room_id, "%s",
	         ch->room ? ch->room->id : "");
	a->flags = (a->flags | ch->set) & ~ch->clr;
	if (ch->take_name && ch->room && ch->room->name[0]) {
		snprintf(a->name, sizeof a->name, "%s", ch->room->name);
		a->flags |= PROV_F_NAMED;
	}
}

static int apply_fn(struct store_txn *t, void *arg)
{
	struct plan *p = arg;
	struct store_agent a;
	char ts[32];
	int r = 0;

	if (p->index_problems && (r = store_reindex(t)) < 0)
		return r;
	/* Pass 1: records leaving their room let go of it first. */
	for (size_t i = 0; i < p->nch && r >= 0; i++) {
		if (p->ch[i].is_new)
			continue;
		if ((r = store_agent_get(t, p->ch[i].agent_id, &a)) < 0)
			break;
		if (!a.room_id[0] || (p->ch[i].room &&
		    !strcmp(a.room_id, p->ch[i].room->id)))
			continue;
		a.room_id[0] = '\0';
		r = store_agent_put(t, &a);
	}
	for (size_t i = 0; i < p->nch && r >= 0; i++) {
		if ((r = get_or_new(t, p, &p->ch[i], &a)) < 0)
			break;
		final_rec(&p->ch[i], &a);
		r = store_agent_put(t, &a);
		/* a room that has its avatar keeps it: not made again */
		if (r >= 0 && p->ch[i].room && p->ch[i].room->avatar[0])
			r = prov_avatar_adopt(t, a.agent_id,
			                      p->ch[i].room->avatar);
	}
	if (r >= 0)
		r = put_threads(t, p);
	if (r >= 0 && p->space_set)
		r = store_meta_put(t, PROV_META_SPACE, p->space->id);
	if (r >= 0 && p->space_del)
		r = store_meta_del(t, PROV_META_SPACE);
	snprintf(ts, sizeof ts, "%lld",
	         (long long)store_now(store_txn_store(t)));
	if (r >= 0)
		r = store_meta_put(t, RECON_META_LAST, ts);
	if (r >= 0)
		r = store_reindex(t);
	return r < 0 ? r : 0;
}

static int apply(struct plan *p)
{
	struct store *s = p->c->store;
	struct store_snap snap;
	int r;

	memset(&snap, 0, sizeof snap);
	if (p->c->snapdir)
		r = store_update_snap(s, p->c->snapdir, "reconcile", apply_fn,
		                      p, &snap);
	else
		r = store_update(s, apply_fn, p);
	if (r < 0) {
		snprintf(p->why, p->whycap, "nothing was changed: %s",
		         store_why(s)[0] ? store_why(s) : err_str(r));
		return r;
	}
	snprintf(p->rep->snapshot, sizeof p->rep->snapshot, "%s", snap.name);
	return 0;
}

int recon_decide_apply(const struct recon_conf *c, const struct rg_graph *g,
                       struct recon_report *rep, char *why, size_t cap)
{
	struct plan p;
	int r;

	memset(&p, 0, sizeof p);
	p.c = c;
	p.g = g;
	p.rep = rep;
	p.why = why;
	p.whycap = cap;
	rep->space = RECON_SPACE_KEPT;
	r = store_view(c->store, load_fn, &p);
	if (r < 0)
		snprintf(why, cap, "store: %s", store_why(c->store));
	if (r >= 0) {
		pick_space(&p);
		r = collect(&p);
	}
	if (r >= 0)
		r = decide(&p);
	if (r >= 0)
		r = threads(&p);
	if (r >= 0 && p.index_problems) {
		rep->index_fixed = (size_t)p.index_problems;
		line(&p, "index: %d problems: %s", p.index_problems,
		     verb(&p, "rebuilt", "would rebuild"));
	}
	rep->changed = r >= 0 && (p.nch || p.space_set || p.space_del ||
	                          p.index_problems || p.ntput);
	if (r >= 0 && rep->changed && !c->dry_run)
		r = apply(&p);
	else if (r == ERR_NOMEM)
		snprintf(why, cap, "out of memory");
	free(p.loc);
	free(p.cand);
	free(p.ch);
	free((void *)p.mapped);
	free(p.tput);
	return r;
}
