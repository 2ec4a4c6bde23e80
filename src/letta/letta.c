/*
 * letta: request builders, response parsers and the paging state machine
 * of the Letta REST client. No I/O here.
 */
#include "letta/letta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deps.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"

const char *letta_user_agent(void)
{
	return "lettamx/" LETTAMX_VERSION;
}

/* The query of letta-api.md §3: ascending order so a cursor stays stable
 * while agents are created, tags loaded both the legacy way and the 1.0
 * way, nothing else loaded (legacy mode would load every relationship). */
int letta_req_list(struct proto_req *r, const char *after, const char *token)
{
	struct proto_buf b;

	proto_req_init(r, PROTO_GET);
	if (proto_req_bearer(r, token))
		return ERR_TOOBIG;
	proto_buf_init(&b, r->path, sizeof r->path);
	proto_buf_fmt(&b, "/v1/agents/?limit=%d&order=asc"
	              "&include_relationships=tags&include=agent.tags",
	              LIM_LETTA_PAGE);
	if (after && *after) {
		if (!ident_agent_id_valid(after))
			return ERR_INVAL;
		proto_buf_str(&b, "&after=");
		proto_buf_urlenc(&b, after);
	}
	return b.err;
}

int letta_req_health(struct proto_req *r)
{
	struct proto_buf b;

	proto_req_init(r, PROTO_GET);
	proto_buf_init(&b, r->path, sizeof r->path);
	/* the trailing slash: collection routes are declared with it */
	proto_buf_str(&b, "/v1/health/");
	return b.err;
}

int letta_req_get(struct proto_req *r, const char *agent_id,
                  const char *token)
{
	struct proto_buf b;

	proto_req_init(r, PROTO_GET);
	if (proto_req_bearer(r, token))
		return ERR_TOOBIG;
	if (!ident_agent_id_valid(agent_id))
		return ERR_INVAL;
	proto_buf_init(&b, r->path, sizeof r->path);
	proto_buf_str(&b, "/v1/agents/");
	proto_buf_urlenc(&b, agent_id);
	proto_buf_str(&b, "?include_relationships=tags&include=agent.tags");
	return b.err;
}

static int is_sleeptime(const struct json *j, int obj, const char *name)
{
	int t = json_get(j, obj, "agent_type");
	size_t n = strlen(name);
	static const char sfx[] = "-sleeptime";

	if (json_str_eq(j, t, "sleeptime_agent") ||
	    json_str_eq(j, t, "voice_sleeptime_agent"))
		return 1;
	return n >= sizeof sfx - 1 && !strcmp(name + n - (sizeof sfx - 1), sfx);
}

static int parse_tags(const struct json *j, int arr, struct letta_agent *a)
{
	size_t used = 0;

	a->ntags = 0;
	if (arr < 0 || json_type(j, arr) == JSON_NULL)
		return 0;
	if (json_type(j, arr) != JSON_ARR)
		return ERR_PROTO;
	for (int e = json_arr_first(j, arr); e >= 0;
	     e = json_arr_next(j, arr, e)) {
		int r;

		if (json_type(j, e) != JSON_STR)
			continue;       /* not a tag */
		r = json_str(j, e, a->tags + used, sizeof a->tags - used);
		if (r == ERR_TOOBIG)
			return ERR_TOOBIG;
		if (r)
			continue;       /* an embedded NUL: matches no filter */
		used += strlen(a->tags + used) + 1;
		a->ntags++;
	}
	return 0;
}

int letta_agent_parse(const struct json *j, int obj, struct letta_agent *a)
{
	int id = json_get(j, obj, "id");
	int name = json_get(j, obj, "name");
	int desc = json_get(j, obj, "description");
	int cut = 0, r;

	memset(a, 0, sizeof *a);
	if (json_type(j, id) != JSON_STR || json_type(j, name) != JSON_STR)
		return ERR_PROTO;
	r = json_str(j, id, a->id, sizeof a->id);
	if (r || !ident_agent_id_valid(a->id))
		return ERR_INVAL;
	/* Names and descriptions are display text: a long one is cut, so an
	 * agent is never dropped (and then thought deleted) for its name. */
	if (proto_str_cut(j, name, a->name, sizeof a->name, &cut) < 0)
		return ERR_PROTO;
	if (json_type(j, desc) == JSON_STR &&
	    proto_str_cut(j, desc, a->desc, sizeof a->desc, &a->desc_cut) < 0)
		return ERR_PROTO;
	a->sleeptime = is_sleeptime(j, obj, a->name);
	return parse_tags(j, json_get(j, obj, "tags"), a);
}

static void detail_of(const struct proto_resp *resp, struct letta_error *e)
{
	struct json j;
	int d, cut;

	e->detail[0] = '\0';
	json_init(&j);
	if (resp->len && !json_parse(&j, resp->body, resp->len)) {
		d = json_get(&j, 0, "detail");
		if (d < 0)      /* LLM-provider shape: {"error": {"message"}} */
			d = json_get(&j, json_get(&j, 0, "error"), "message");
		if (proto_str_cut(&j, d, e->detail, sizeof e->detail, &cut) < 0)
			e->detail[0] = '\0';
	}
	json_free(&j);
}

int letta_error_parse(const struct proto_resp *resp, struct letta_error *e)
{
	e->status = resp->status;
	detail_of(resp, e);
	snprintf(e->cause, sizeof e->cause, "%s",
	         resp->status == 0 && resp->reason ? resp->reason : "");
	if (resp->status == 0)
		return ERR_CLOSED;
	if (resp->status == 404)
		return ERR_NOTFOUND;
	if (resp->status == 401 || resp->status == 403)
		return ERR_CONFIG;
	return ERR_HTTP;
}

int letta_retryable(int status)
{
	return status == 0 || status == 408 || status == 409 ||
	       status == 429 || status >= 500;
}

void letta_error_msg(const struct letta_error *e, char *out, size_t cap)
{
	const char *what;

	if (e->status == 0 && e->cause[0]) {
		snprintf(out, cap, "%s", e->cause);
		return;
	}
	if (e->status == 0)
		what = "no answer from the Letta server";
	else if (e->status == 401 || e->status == 403)
		what = "the Letta server refused our credentials "
		       "(check [letta] token_file)";
	else if (e->status == 404)
		what = "not found on the Letta server";
	else if (e->status >= 500)
		what = "the Letta server failed";
	else
		what = "the Letta server rejected the request";
	if (e->detail[0])
		snprintf(out, cap, "%s (HTTP %d: %s)", what, e->status,
		         e->detail);
	else
		snprintf(out, cap, "%s (HTTP %d)", what, e->status);
}

int letta_get_parse(const struct proto_resp *resp, struct letta_agent *a,
                    struct letta_error *e)
{
	struct json j;
	int r;

	if (resp->status != 200)
		return letta_error_parse(resp, e);
	e->status = resp->status;
	e->detail[0] = '\0';
	json_init(&j);
	r = json_parse(&j, resp->body, resp->len);
	if (r)
		r = r == ERR_TOOBIG || r == ERR_NOMEM ? r : ERR_PROTO;
	else
		r = letta_agent_parse(&j, 0, a);
	json_free(&j);
	return r;
}

/* 1 if the comma-separated `list` names one of a's tags. */
static int has_any_tag(const struct letta_agent *a, const char *list)
{
	const char *t = a->tags;

	for (int k = 0; k < a->ntags; k++, t += strlen(t) + 1) {
		size_t n = strlen(t);
		const char *p = list;

		while (*p) {
			size_t m;

			while (*p == ' ' || *p == ',')
				p++;
			m = strcspn(p, ", ");
			if (m && m == n && !memcmp(p, t, n))
				return 1;
			p += m;
		}
	}
	return 0;
}

int letta_agent_wanted(const struct letta_agent *a, const char *include,
                       const char *exclude)
{
	if (a->sleeptime)
		return 0;
	if (include && *include && !has_any_tag(a, include))
		return 0;
	return !(exclude && *exclude && has_any_tag(a, exclude));
}

/* ---- the listing state machine ---- */

void letta_list_init(struct letta_list *l)
{
	memset(l, 0, sizeof *l);
}

void letta_list_reset(struct letta_list *l)
{
	free(l->agents);
	letta_list_init(l);
}

int letta_list_next(struct letta_list *l, struct proto_req *r,
                    const char *token)
{
	if (l->done)
		return ERR_INVAL;
	return letta_req_list(r, l->after, token);
}

static int seen(const struct letta_list *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->agents[i].id, id))
			return 1;
	return 0;
}

static int push(struct letta_list *l, const struct letta_agent *a)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : LIM_LETTA_PAGE;
		struct letta_agent *p;

		if (l->n >= LIM_LETTA_AGENTS)
			return ERR_TOOBIG;
		p = realloc(l->agents, cap * sizeof *p);
		if (!p)
			return ERR_NOMEM;
		l->agents = p;
		l->cap = cap;
	}
	l->agents[l->n++] = *a;
	return 0;
}

int letta_list_add(struct letta_list *l, const struct letta_agent *a)
{
	return seen(l, a->id) ? 1 : push(l, a);
}

/* Takes the agents of one page. Returns the number of elements, or an
 * error. A repeated id means the server dropped our cursor and started
 * over (letta-api.md §3): stop, and do not call the listing complete.
 * `*last` gets the index of the page's last agent read, or -1. */
static int take_page(struct letta_list *l, const struct json *j,
                     int *repeated, long *last)
{
	int n = json_count(j, 0);
	struct letta_agent a;

	*last = -1;
	for (int i = json_arr_first(j, 0); i >= 0; i = json_arr_next(j, 0, i)) {
		int r = letta_agent_parse(j, i, &a);

		if (r) {
			LOG_WARN("letta", "event=bad_agent err=%s", err_str(r));
			l->bad++;
			continue;
		}
		if (seen(l, a.id)) {
			*repeated = 1;
			return n;
		}
		r = push(l, &a);
		if (r)
			return r;
		*last = (long)l->n - 1;
	}
	return n;
}

static int list_fail(struct letta_list *l, int r)
{
	l->done = 1;
	l->complete = 0;
	return r;
}

/* An agent we could not read may be one we know: a listing with one is
 * never complete, so it cannot make us think that agent was deleted. */
int letta_list_feed(struct letta_list *l, const struct proto_resp *resp,
                    struct letta_error *e)
{
	struct json j;
	int r, repeated = 0;
	long last;

	if (resp->status != 200)
		return list_fail(l, letta_error_parse(resp, e));
	e->status = 200;
	e->detail[0] = '\0';
	json_init(&j);
	r = json_parse(&j, resp->body, resp->len);
	if (r || json_type(&j, 0) != JSON_ARR) {
		json_free(&j);
		return list_fail(l, r == ERR_TOOBIG || r == ERR_NOMEM ?
		                 r : ERR_PROTO);
	}
	r = take_page(l, &j, &repeated, &last);
	json_free(&j);
	if (r < 0)
		return list_fail(l, r);
	l->pages++;
	l->done = repeated || r < LIM_LETTA_PAGE || last < 0;
	if (l->done) {
		l->complete = !repeated && !l->bad && r < LIM_LETTA_PAGE;
		return 1;
	}
	memcpy(l->after, l->agents[last].id, sizeof l->after);
	return 0;
}
