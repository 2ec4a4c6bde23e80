/*
 * provision: one provisioning run (see provision.h): list the agents, get
 * the bot's token and the Space (prov_setup.c), hand each wanted agent to
 * the step machine of prov_agent.c in lanes, then handle deletions.
 */
#include "prov/prov_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "store/secret.h"

struct prov *prov_new(const struct prov_conf *conf,
                      void (*on_agent)(void *arg, const struct prov_report *),
                      void *arg)
{
	struct prov *p = calloc(1, sizeof *p);

	if (!p)
		return NULL;
	p->c = conf;
	p->on_agent = on_agent;
	p->arg = arg;
	p->nlanes = LIM_PROV_LANES;
	for (int i = 0; i < LIM_PROV_LANES; i++) {
		p->lane[i].resume = -1;
		p->lane[i].rl_bk = BK_AGENT - 1;
	}
	for (int i = 0; i < BK_N; i++)
		p->bk_owner[i] = p->bk_busy[i] = -1;
	p->bk_hit = -1;
	p->bot_admin = p->admin_login = p->admin_probe = -1;
	p->rnd = (unsigned)(uintptr_t)p;
	p->sum.rl_state = conf->rl_override ? PROV_RL_UNKNOWN : PROV_RL_OFF;
	if (conf->install_id)
		snprintf(p->install, sizeof p->install, "%s", conf->install_id);
	else if (conf->master &&
	         secret_install_id(conf->master, p->install, sizeof p->install))
		p->install[0] = '\0';
	letta_list_init(&p->list);
	p->phase = PH_LIST;
	if (conf->bot_only) {
		p->phase = PH_BOT;
		p->lane[0].step = B_START;
	}
	p->cur = p->lane[0];
	return p;
}

void prov_free(struct prov *p)
{
	if (!p)
		return;
	letta_list_reset(&p->list);
	for (int i = 0; i < LIM_PROV_LANES; i++) {
		free(p->lane[i].cand);
		free(p->lane[i].av);
	}
	free(p->del);
	free(p);
}

const struct prov_summary *prov_summary(const struct prov *p)
{
	return &p->sum;
}

const char *prov_bot_token(const struct prov *p)
{
	return p->bot_token;
}

int prov_result(const struct prov *p, char *why, size_t cap)
{
	if (p->fatal) {
		snprintf(why, cap, "%s", p->why);
		return p->fatal;
	}
	if (p->sum.failed) {
		snprintf(why, cap, "%zu agent(s) could not be provisioned; a "
		         "later run tries again", p->sum.failed);
		return ERR_AGAIN;
	}
	snprintf(why, cap, "ok");
	return 0;
}

/* ---- listing ---- */

/* The listing is in p->list: count the wanted agents, go on. */
static void list_taken(struct prov *p)
{
	p->sum.listing_complete = p->list.complete;
	for (size_t i = 0; i < p->list.n; i++)
		p->sum.agents += letta_agent_wanted(&p->list.agents[i],
		                                    p->c->include_tags,
		                                    p->c->exclude_tags);
	LOG_INFO("provision", "event=listed agents=%zu wanted=%zu pages=%d "
	         "complete=%d", p->list.n, p->sum.agents, p->list.pages,
	         p->list.complete);
	p->phase = p->c->dry_run ? PH_SPACE : PH_BOT;
	p->step = p->c->dry_run ? SP_START : B_START;
}

static int feed_list(struct prov *p, const struct proto_resp *resp)
{
	struct letta_error e;
	char msg[LIM_PROTO_DETAIL + 128];
	int r = letta_list_feed(&p->list, resp, &e);

	if (r < 0) {
		if (r == ERR_HTTP || r == ERR_CONFIG || r == ERR_NOTFOUND ||
		    r == ERR_CLOSED)
			letta_error_msg(&e, msg, sizeof msg);
		else
			snprintf(msg, sizeof msg, "%s", err_str(r));
		/* no answer: the transport's cause, not "closed" */
		prov_fatal(p, r == ERR_CLOSED && resp->neterr ? resp->neterr
		           : r, "listing the Letta agents failed: %s", msg);
		return 0;
	}
	if (r)
		list_taken(p);
	return 0;
}

/* ---- agents, in lanes ---- */

/* Gives the current lane the next wanted agent. Returns 1, or 0 when
 * none is left (or the run ended). */
static int take_agent(struct prov *p)
{
	const struct prov_conf *c = p->c;

	while (p->ai < p->list.n && !p->fatal) {
		struct letta_agent *a = &p->list.agents[p->ai++];

		if (!letta_agent_wanted(a, c->include_tags, c->exclude_tags))
			continue;
		p->a = a;
		if (prov_agent_start(p) < 0)
			return 0;
		if (!c->dry_run)
			return 1;
		prov_agent_plan(p);
	}
	return 0;
}

/* Lane result: its next request is of a bucket another lane is waiting
 * out; it sends when that lane's answer opens the bucket. */
#define LANE_BLOCKED 100

/* 1 when the current lane must not send now (see enum bucket). */
static int blocked(const struct prov *p, int bk)
{
	if (bk <= BK_AGENT)
		return 0;
	if (p->bk_owner[bk] >= 0 && p->bk_owner[bk] != p->slot)
		return 1;
	return p->bk_serial[bk] && p->bk_busy[bk] >= 0 &&
	       p->bk_busy[bk] != p->slot;
}

/* The current lane's next request: PROV_SEND, PROV_WAIT, LANE_BLOCKED,
 * or 0 when it has nothing left to do. */
static int lane_next(struct prov *p, struct proto_req *req, int *target,
                     int64_t *wait_ms)
{
	int r, bk;

	while (!p->fatal) {
		if (p->wait_ms > 0) {
			*wait_ms = p->wait_ms;
			p->wait_ms = 0;
			return PROV_WAIT;
		}
		if (!p->a && !take_agent(p))
			return 0;
		if (!p->a)
			continue;
		bk = prov_agent_settle(p) != S_FINISH ? prov_bucket(p)
		                                       : BK_AGENT;
		if (blocked(p, bk))
			return LANE_BLOCKED;
		/* One lane finds out whether the admin login API is there. */
		if (p->step == S_TOKEN && p->admin_login < 0 &&
		    p->bot_admin != 0) {
			if (p->admin_probe >= 0 && p->admin_probe != p->slot)
				return LANE_BLOCKED;
			p->admin_probe = p->slot;
		}
		r = prov_agent_build(p, req);
		if (r == 0) {
			*target = PROV_MATRIX;
			p->sum.requests++;
			if (bk > BK_AGENT && p->bk_serial[bk])
				p->bk_busy[bk] = p->slot;
			return PROV_SEND;
		}
		if (r < 0)
			prov_agent_fail(p, err_str(r));
		prov_agent_done(p);
	}
	return 0;
}

static void swap_in(struct prov *p, int i)
{
	p->cur = p->lane[i];
	p->slot = i;
}

static void swap_out(struct prov *p, int i)
{
	p->lane[i] = p->cur;
}

/* Agents run in lanes, one request in flight per lane. Returns what
 * prov_next() returns, or -1 when the phase is over. */
static int agents_next(struct prov *p, struct proto_req *req, int *target,
                       int64_t *wait_ms, int *slot)
{
	int busy = 0, r;

	for (int i = 0; i < p->nlanes && !p->fatal; i++) {
		if (p->state[i] != LANE_IDLE) {
			busy = 1;
			continue;
		}
		swap_in(p, i);
		r = lane_next(p, req, target, wait_ms);
		swap_out(p, i);
		if (r == LANE_BLOCKED) {
			busy = 1;
			continue;
		}
		if (r) {
			*slot = i;
			p->state[i] = r == PROV_SEND ? LANE_SENT : LANE_WAITING;
			return r;
		}
	}
	if (p->fatal)
		return -1;
	if (busy)
		return PROV_IDLE;
	p->phase = PH_DELETE;
	p->lane[0].step = D_START;
	p->lane[0].attempt = 0;
	return -1;
}

/* ---- deletions ---- */

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef char idbuf[LIM_STORE_ID];

struct scan {
	struct prov *p;
	const char **ids;               /* listed agent ids, sorted */
	size_t nids;
	int64_t now;
	idbuf *mark;                    /* to mark deleted now */
	size_t nmark;
};

static int listed(const struct scan *s, const char *id)
{
	return bsearch(&id, s->ids, s->nids, sizeof *s->ids, cmp_id) != NULL;
}

static int push_id(idbuf **arr, size_t *n, const char *id)
{
	if (*n % 64 == 0) {
		void *m = realloc(*arr, (*n + 64) * sizeof **arr);
		if (!m)
			return ERR_NOMEM;
		*arr = m;
	}
	snprintf((*arr)[(*n)++], sizeof **arr, "%s", id);
	return 0;
}

/* Sorts out the stored agents missing from the listing: newly missing
 * ones are marked deleted; ones past their grace period still linked are
 * queued for unlinking. */
static int scan_one(const struct store_agent *a, void *arg)
{
	struct scan *s = arg;
	struct prov *p = s->p;

	if (listed(s, a->agent_id))
		return 0;
	if (!a->deleted_at)
		return push_id(&s->mark, &s->nmark, a->agent_id);
	if (s->now - a->deleted_at < p->c->grace_ms ||
	    (a->flags & PROV_F_UNLINKED) || !a->room_id[0] ||
	    !(a->flags & PROV_F_LINKED) || !p->space_id[0])
		return 0;
	return push_id(&p->del, &p->ndel, a->agent_id);
}

static int scan_fn(struct store_txn *t, void *arg)
{
	return store_agent_each(t, scan_one, arg);
}

/* All newly missing agents are marked in one transaction. */
static int mark_fn(struct store_txn *t, void *arg)
{
	struct scan *s = arg;
	struct store_agent a;

	for (size_t i = 0; i < s->nmark; i++) {
		int r = store_agent_get(t, s->mark[i], &a);
		if (r < 0)
			return r;
		a.deleted_at = s->now;
		r = store_agent_put(t, &a);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Only a complete, successful, non-empty listing may say an agent is
 * gone; anything less deletes nothing. */
static void deletions_start(struct prov *p)
{
	struct scan s = { .p = p, .now = store_now(p->c->store) };
	int r;

	p->step = D_UNLINK;
	p->ndel = p->di = 0;
	if (!p->list.complete || p->list.n == 0) {
		LOG_INFO("provision", "event=no_deletions reason=%s",
		         p->list.n ? "incomplete_listing" : "empty_listing");
		p->phase = PH_DONE;
		return;
	}
	s.ids = malloc(p->list.n * sizeof *s.ids);
	if (!s.ids) {
		prov_fatal(p, ERR_NOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < p->list.n; i++)
		s.ids[i] = p->list.agents[i].id;
	s.nids = p->list.n;
	qsort(s.ids, s.nids, sizeof *s.ids, cmp_id);
	r = store_view(p->c->store, scan_fn, &s);
	p->sum.marked_deleted = s.nmark;
	if (r >= 0 && s.nmark && !p->c->dry_run)
		r = prov_before_change(p);
	if (r >= 0 && s.nmark && !p->c->dry_run)
		r = store_update(p->c->store, mark_fn, &s);
	if (r < 0)
		prov_fatal(p, r, "store: %s", store_why(p->c->store));
	free(s.ids);
	free(s.mark);
	if (p->c->dry_run) {
		p->sum.unlinked = p->ndel;
		p->phase = PH_DONE;
	}
}

struct get_one {
	const char *id;
	struct store_agent *a;
};

static int get_one_fn(struct store_txn *t, void *arg)
{
	struct get_one *g = arg;

	return store_agent_get(t, g->id, g->a);
}

static int delete_next(struct prov *p, struct proto_req *req)
{
	struct get_one g = { NULL, &p->rec };
	char content[8], txn[LIM_STORE_ID + 64], text[LIM_STORE_NAME + 128];

	if (p->step == D_START)
		deletions_start(p);
	if (p->phase != PH_DELETE || p->fatal)
		return 1;
	if (p->di >= p->ndel) {
		p->phase = PH_DONE;
		return 1;
	}
	g.id = p->del[p->di];
	if (store_view(p->c->store, get_one_fn, &g) < 0) {
		prov_fatal(p, ERR_STORE, "store: %s", store_why(p->c->store));
		return 1;
	}
	if (p->step == D_UNLINK) {
		mx_space_child_content(content, sizeof content, "", 0);
		return mx_req_state_put(req, p->bot_token, p->space_id,
		                        "m.space.child", p->rec.room_id,
		                        content);
	}
	/* The transaction id names this deletion, so a retried notice
	 * lands once. */
	snprintf(txn, sizeof txn, "lettamx-deleted-%s-%lld",
	         p->rec.agent_id, (long long)p->rec.deleted_at);
	snprintf(text, sizeof text, "The Letta agent \"%s\" was deleted. "
	         "This room is no longer in the Space; it answers no more.",
	         p->rec.name);
	return mx_req_send_notice(req, p->bot_token, p->rec.room_id, txn,
	                          text);
}

static int feed_delete(struct prov *p, const struct proto_resp *resp)
{
	struct mx_error e;

	if (!mx_ok(resp)) {
		mx_error_parse(resp, &e);
		if (e.status == 429 || e.status >= 500 || e.status == 0 ||
		    mx_error_is(&e, "M_UNKNOWN_TOKEN"))
			return prov_on_mx_error(p, &e, 0);
		LOG_WARN("provision", "event=%s_failed agent=%s status=%d "
		         "errcode=%s", p->step == D_UNLINK ? "unlink" : "notice",
		         p->rec.agent_id, e.status, e.errcode);
		if (p->step == D_UNLINK) {
			p->sum.failed++;
			p->di++;
			return 0;
		}
		/* Unlinked without its notice: not worth a retry every run. */
	} else if (p->step == D_UNLINK) {
		p->step = D_NOTICE;
		return 0;
	}
	p->rec.flags |= PROV_F_UNLINKED;
	p->rec.flags &= ~PROV_F_LINKED;
	if (prov_save(p) < 0)
		return ERR_STORE;
	LOG_INFO("provision", "event=unlinked agent=%s room=%s",
	         p->rec.agent_id, p->rec.room_id);
	p->sum.unlinked++;
	p->di++;
	prov_go(p, D_UNLINK);
	return 0;
}

/* ---- the driver interface ---- */

/* Returns 0 with a request built, or 1 when the phase moved on. */
static int phase_next(struct prov *p, struct proto_req *req, int *target)
{
	int r;

	*target = PROV_MATRIX;
	switch (p->phase) {
	case PH_LIST:
		*target = PROV_LETTA;
		r = letta_list_next(&p->list, req, p->c->letta_token);
		break;
	case PH_BOT:
		r = prov_bot_next(p, req);
		break;
	case PH_SPACE:
		r = prov_space_next(p, req);
		break;
	default:
		r = delete_next(p, req);
		break;
	}
	if (r < 0)
		prov_fatal(p, r, "cannot build a request: %s", err_str(r));
	return r;
}

/* The run's own phases, on lane 0 (swapped in). Returns PROV_SEND,
 * PROV_WAIT, or -1 when the phase became PH_AGENTS or PH_DONE. */
static int single_next(struct prov *p, struct proto_req *req, int *target,
                       int64_t *wait_ms)
{
	while (p->phase != PH_DONE && p->phase != PH_AGENTS) {
		if (p->wait_ms > 0) {
			*wait_ms = p->wait_ms;
			p->wait_ms = 0;
			return PROV_WAIT;
		}
		if (phase_next(p, req, target) == 0) {
			if (*target == PROV_MATRIX)
				p->sum.requests++;
			return PROV_SEND;
		}
	}
	return -1;
}

int prov_next(struct prov *p, struct proto_req *req, int *target,
              int64_t *wait_ms, int *slot)
{
	int r;

	for (;;) {
		if (p->phase == PH_DONE)
			return PROV_DONE;
		if (p->phase == PH_AGENTS) {
			r = agents_next(p, req, target, wait_ms, slot);
			if (r >= 0)
				return r;
			continue;
		}
		if (p->state[0] != LANE_IDLE)
			return PROV_IDLE;
		swap_in(p, 0);
		r = single_next(p, req, target, wait_ms);
		swap_out(p, 0);
		if (r >= 0) {
			*slot = 0;
			p->state[0] = r == PROV_SEND ? LANE_SENT : LANE_WAITING;
			return r;
		}
	}
}

void prov_wake(struct prov *p, int slot)
{
	if (slot >= 0 && slot < LIM_PROV_LANES)
		p->state[slot] = LANE_IDLE;
}

static int feed_phase(struct prov *p, const struct proto_resp *resp)
{
	switch (p->phase) {
	case PH_LIST:
		return feed_list(p, resp);
	case PH_BOT:
		return prov_feed_bot(p, resp);
	case PH_SPACE:
		return prov_feed_space(p, resp);
	case PH_AGENTS:
		return prov_agent_feed(p, resp);
	case PH_DELETE:
		return feed_delete(p, resp);
	default:
		return 0;       /* the run ended meanwhile */
	}
}

int prov_feed(struct prov *p, int slot, const struct proto_resp *resp)
{
	int r;

	if (slot < 0 || slot >= LIM_PROV_LANES)
		return ERR_INVAL;
	p->state[slot] = LANE_IDLE;
	swap_in(p, slot);
	p->bk_hit = -1;
	p->rl_bk = BK_AGENT - 1;
	r = feed_phase(p, resp);
	swap_out(p, slot);
	/* Any answer but another 429 opens the buckets this lane held. */
	for (int i = 0; i < BK_N; i++) {
		if (p->bk_owner[i] == slot && i != p->bk_hit)
			p->bk_owner[i] = -1;
		if (p->bk_busy[i] == slot)
			p->bk_busy[i] = -1;
	}
	if (p->admin_probe == slot && (p->admin_login >= 0 || p->bk_hit < 0))
		p->admin_probe = -1;
	return r;
}

void prov_take_list(struct prov *p, struct letta_list *l, int err,
                    const char *why)
{
	if (p->phase != PH_LIST || p->state[0] != LANE_IDLE)
		return;
	if (err) {
		prov_fatal(p, err, "listing the Letta agents failed: %s", why);
		return;
	}
	letta_list_reset(&p->list);
	p->list = *l;
	letta_list_init(l);
	swap_in(p, 0);          /* the phase code works on lane 0 */
	list_taken(p);
	swap_out(p, 0);
}

void prov_cancel(struct prov *p, int err, const char *why)
{
	prov_fatal(p, err, "%s", why);
}
