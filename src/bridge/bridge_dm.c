/*
 * bridge_dm: direct chats with agent users (appservice mode, where agent
 * users see their invites). The decision and the record are
 * bridge_sync.c's (in the transaction that took the invite); here the
 * agent user answers: it joins and marks the room in its own room
 * account data (org.lettamx.dm, which needs no power in a room the
 * person made, and which a rebuild can read as that user), or it leaves
 * with the reason. A join that the homeserver refuses for good forgets
 * the direct chat; any other failure is made good at the next start,
 * when every agent user joins the direct chats it has not yet joined and
 * marked (recorded with the chat once the mark is in).
 *
 * A store without the record (lost, or rebuilt by reconcile) finds the
 * direct chats again from their marks: once per store, each agent user's
 * joined rooms are read and each room's mark (meta DM_SCANNED records that
 * it was done; a scan that failed anywhere runs again at the next start).
 */
#include "bridge/bridge_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/log.h"

#define DM_MARK "org.lettamx.dm"
#define DM_MS   30000

struct dm_rec {
	const char *room;
	char agent[LIM_STORE_ID], person[LIM_STORE_ID];
	struct store_agent a;
};

/* The agent whose own room d->room is. */
static int own_view(struct store_txn *t, void *arg)
{
	struct dm_rec *d = arg;

	return store_agent_by_room(t, d->room, &d->a);
}

static int rec_view(struct store_txn *t, void *arg)
{
	struct dm_rec *d = arg;
	int e = store_dm_get(t, d->room, d->agent, d->person, NULL);

	return e ? e : store_agent_get(t, d->agent, &d->a);
}

static int forget_txn(struct store_txn *t, void *arg)
{
	int e = store_dm_del(t, arg);

	return e == ERR_NOTFOUND ? 0 : e;
}

/* The agent user's credential for room r (NULL: none now). */
static const char *cred(struct broom *r, const char *user, char *out,
                        size_t cap)
{
	return bridge_agent_token(r, user, out, cap) ? NULL : out;
}

/* The chat is joined and marked: nothing left for it at the next start
 * (the record stays as it was if it went meanwhile). */
static int joined_txn(struct store_txn *t, void *arg)
{
	struct dm_rec *d = arg;
	int e = store_dm_get(t, d->room, d->agent, d->person, NULL);

	if (e)
		return e == ERR_NOTFOUND ? 0 : e;
	return store_dm_put(t, d->room, d->agent, d->person, 1);
}

static void on_marked(struct bcall *c, int st, const char *body, size_t len,
                      int64_t ra, int err)
{
	struct dm_rec d = { .room = c->room->id };

	(void)body;
	(void)len;
	(void)ra;
	if (st != 200)
		LOG_WARN("bridge", "event=dm_mark_failed room=%s status=%d err=%s",
		         c->room->id, st, err_str(err));
	else if (store_update(c->b->store, joined_txn, &d) < 0)
		LOG_WARN("bridge", "event=dm_not_kept room=%s why=\"%s\"",
		         c->room->id, store_why(c->b->store));
}

/* The room's mark, as its agent user's room account data. */
static void mark(struct broom *r, const struct dm_rec *d)
{
	char path[LIM_PROTO_PATH], tok[LIM_STORE_SECRET], *body;
	struct proto_buf p;
	struct json_w w;
	size_t n;

	if (!(body = malloc(512)))
		return;
	json_w_init(&w, body, 512);
	json_w_obj(&w);
	json_w_kint(&w, "v", 1);
	json_w_kstr(&w, "agent_id", d->agent);
	json_w_kstr(&w, "person", d->person);
	json_w_obj_end(&w);
	proto_buf_init(&p, path, sizeof path);
	proto_buf_str(&p, "/_matrix/client/v3/user/");
	proto_buf_urlenc(&p, d->a.user_id);
	proto_buf_str(&p, "/rooms/");
	proto_buf_urlenc(&p, r->id);
	proto_buf_str(&p, "/account_data/" DM_MARK);
	if (json_w_finish(&w, &n) || p.err ||
	    !cred(r, d->a.user_id, tok, sizeof tok)) {
		free(body);
		return;
	}
	bridge_call(r->b, r, "PUT", BASE_HS, path, tok, body, n, DM_MS,
	            on_marked);
}

static void on_joined(struct bcall *c, int st, const char *body, size_t len,
                      int64_t ra, int err)
{
	struct broom *r = c->room;
	struct dm_rec d = { .room = r->id };

	(void)body;
	(void)len;
	(void)ra;
	if (st == 200) {
		LOG_INFO("bridge", "event=dm_joined room=%s", r->id);
		if (!store_view(r->b->store, rec_view, &d))
			mark(r, &d);
		return;
	}
	LOG_WARN("bridge", "event=dm_join_failed room=%s status=%d err=%s",
	         r->id, st, err_str(err));
	/* refused for good (the invite withdrawn, the room gone): no
	 * direct chat; otherwise the next start tries again */
	if (st == 403 || st == 404)
		store_update(r->b->store, forget_txn, r->id);
}

static void on_left(struct bcall *c, int st, const char *body, size_t len,
                    int64_t ra, int err)
{
	(void)body;
	(void)len;
	(void)ra;
	if (st != 200)
		LOG_WARN("bridge", "event=dm_decline_failed room=%s status=%d "
		         "err=%s", c->room->id, st, err_str(err));
}

void bridge_dm_answer(struct bridge *b, const char *room, const char *user,
                      int join, const char *why)
{
	char path[LIM_PROTO_PATH], tok[LIM_STORE_SECRET], *body;
	struct broom *r = bridge_room(b, room);
	struct proto_buf p;

	if (!r || !cred(r, user, tok, sizeof tok))
		return;
	proto_buf_init(&p, path, sizeof path);
	proto_buf_str(&p, join ? "/_matrix/client/v3/join/"
	                       : "/_matrix/client/v3/rooms/");
	proto_buf_urlenc(&p, room);
	if (!join)
		proto_buf_str(&p, "/leave");
	body = malloc(320);
	if (!body || p.err) {
		free(body);
		return;
	}
	if (join)
		snprintf(body, 320, "{}");
	else
		snprintf(body, 320, "{\"reason\":\"%.200s\"}", why ? why : "");
	bridge_call(b, r, "POST", BASE_HS, path, tok, body, strlen(body),
	            DM_MS, join ? on_joined : on_left);
}

/* The direct chats not yet joined and marked, and their agent users,
 * read at start. */
struct dm_list {
	size_t n, cap;
	struct dm_ent {
		char room[LIM_STORE_ID], agent[LIM_STORE_ID];
		char user[LIM_STORE_ID];
	} *e;
};

#define DM_RESUME_MAX 100000    /* a bound on what one start rejoins */

static int collect(const char *room, const char *agent, const char *person,
                   int joined, void *arg)
{
	struct dm_list *l = arg;
	struct dm_ent *e;

	(void)person;
	if (joined || !agent[0] || l->n >= DM_RESUME_MAX)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;

		if (!(e = realloc(l->e, cap * sizeof *e)))
			return ERR_NOMEM;
		l->e = e;
		l->cap = cap;
	}
	e = &l->e[l->n++];
	snprintf(e->room, sizeof e->room, "%s", room);
	snprintf(e->agent, sizeof e->agent, "%s", agent);
	e->user[0] = '\0';
	return 0;
}

static int list_view(struct store_txn *t, void *arg)
{
	struct dm_list *l = arg;
	struct store_agent a;
	int e = store_dm_each(t, collect, l);

	for (size_t i = 0; !e && i < l->n; i++)
		if (!store_agent_get(t, l->e[i].agent, &a))
			snprintf(l->e[i].user, sizeof l->e[i].user, "%s",
			         a.user_id);
	return e;
}

void bridge_dm_resume(struct bridge *b)
{
	struct dm_list l = { 0, 0, NULL };
	size_t joined = 0;

	if (store_view(b->store, list_view, &l) < 0)
		LOG_ERROR("bridge", "event=dm_resume_failed why=\"%s\"",
		          store_why(b->store));
	for (size_t i = 0; i < l.n; i++)
		if (l.e[i].user[0]) {
			bridge_dm_answer(b, l.e[i].room, l.e[i].user, 1, NULL);
			joined++;
		}
	if (joined)
		LOG_INFO("bridge", "event=dm_resume rooms=%zu", joined);
	free(l.e);
}

/* ---- finding direct chats from their marks ---- */

#define DM_SCANNED STORE_META_DM_SCANNED

static void scan_done(struct bridge *b, int failed);

static int scanned_txn(struct store_txn *t, void *arg)
{
	(void)arg;
	return store_meta_put(t, DM_SCANNED, "1");
}

struct found {
	const char *room, *agent, *person;
};

static int found_txn(struct store_txn *t, void *arg)
{
	const struct found *f = arg;
	struct store_agent a, own;

	/* the mark is the agent user's own data: only we write it; still,
	 * never over an agent's own room or for an agent we do not have */
	if (store_agent_get(t, f->agent, &a) ||
	    !store_agent_by_room(t, f->room, &own))
		return 0;
	return store_dm_put(t, f->room, f->agent, f->person, 1);
}

static void on_mark(struct bcall *c, int st, const char *body, size_t len,
                    int64_t ra, int err)
{
	struct bridge *b = c->b;
	char agent[LIM_STORE_ID] = "", person[LIM_STORE_ID] = "";
	struct found f = { c->room->id, agent, person };
	struct json j;

	(void)ra;
	json_init(&j);
	if (st == 200 && !json_parse(&j, body, len) &&
	    !json_get_str(&j, 0, "agent_id", agent, sizeof agent) &&
	    !json_get_str(&j, 0, "person", person, sizeof person) &&
	    store_update(b->store, found_txn, &f) >= 0)
		LOG_INFO("bridge", "event=dm_found room=%s agent=%s",
		         c->room->id, agent);
	json_free(&j);
	/* 404: a room of the agent user that is no direct chat */
	scan_done(b, st != 200 && st != 404 ? (err ? err : 1) : 0);
}

/* Asks for the mark of each room of `own`'s agent user but its own. */
static int ask_marks(struct bridge *b, const struct store_agent *own,
                     const struct json *j)
{
	char room[LIM_STORE_ID], path[LIM_PROTO_PATH], tok[LIM_STORE_SECRET];
	int a = json_get(j, 0, "joined_rooms"), asked = 0;
	struct proto_buf p;
	struct broom *r;

	for (int e = json_arr_first(j, a); e >= 0; e = json_arr_next(j, a, e)) {
		if (json_str(j, e, room, sizeof room) ||
		    !strcmp(room, own->room_id) || !(r = bridge_room(b, room)) ||
		    !cred(r, own->user_id, tok, sizeof tok))
			continue;
		proto_buf_init(&p, path, sizeof path);
		proto_buf_str(&p, "/_matrix/client/v3/user/");
		proto_buf_urlenc(&p, own->user_id);
		proto_buf_str(&p, "/rooms/");
		proto_buf_urlenc(&p, room);
		proto_buf_str(&p, "/account_data/" DM_MARK);
		if (p.err || !bridge_call(b, r, "GET", BASE_HS, path, tok, NULL,
		                          0, DM_MS, on_mark))
			continue;
		b->dm_scan++;
		asked++;
	}
	return asked;
}

static void on_rooms(struct bcall *c, int st, const char *body, size_t len,
                     int64_t ra, int err)
{
	struct bridge *b = c->b;
	struct dm_rec own = { .room = c->room->id };
	struct json j;

	(void)ra;
	json_init(&j);
	if (st == 200 && !json_parse(&j, body, len) &&
	    !store_view(b->store, own_view, &own))
		ask_marks(b, &own.a, &j);
	json_free(&j);
	scan_done(b, st != 200 ? (err ? err : 1) : 0);
}

static void scan_done(struct bridge *b, int failed)
{
	if (failed)
		b->dm_scan_failed = 1;
	if (--b->dm_scan > 0)
		return;
	if (b->dm_scan_failed)
		LOG_WARN("bridge", "event=dm_scan_incomplete msg=\"some agent "
		         "users' rooms could not be read: looked for again at "
		         "the next start\"");
	else if (store_update(b->store, scanned_txn, NULL) >= 0)
		LOG_INFO("bridge", "event=dm_scanned");
}

struct agents {
	struct bridge *b;
	int n;
};

/* One agent user's joined rooms, asked in the name of its own room. */
static int scan_agent(const struct store_agent *a, void *arg)
{
	struct agents *as = arg;
	struct broom *r;
	char tok[LIM_STORE_SECRET];

	if (!a->room_id[0] || !(r = bridge_room(as->b, a->room_id)) ||
	    !cred(r, a->user_id, tok, sizeof tok))
		return 0;
	if (bridge_call(as->b, r, "GET", BASE_HS,
	                "/_matrix/client/v3/joined_rooms", tok, NULL, 0, DM_MS,
	                on_rooms)) {
		as->b->dm_scan++;
		as->n++;
	}
	return 0;
}

static int scan_view(struct store_txn *t, void *arg)
{
	struct agents *as = arg;
	char v[8];

	if (!store_meta_get(t, DM_SCANNED, v, sizeof v))
		return 1;       /* done for this store */
	return store_agent_each(t, scan_agent, as);
}

void bridge_dm_scan(struct bridge *b)
{
	struct agents as = { b, 0 };

	b->dm_scan = 1;         /* held until every request is out */
	b->dm_scan_failed = 0;
	if (store_view(b->store, scan_view, &as) == 1) {
		b->dm_scan = 0;
		return;
	}
	LOG_INFO("bridge", "event=dm_scan agents=%d", as.n);
	scan_done(b, 0);
}
