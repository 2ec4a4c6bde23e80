/*
 * letta_app_list: the App Server's agents (see letta_app_list.h). First
 * the pager, which only reads and writes messages, then the lister, which
 * carries them over one WebSocket: open, page, close, report.
 */
#include "letta/letta_app_list.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "letta/lapi.h"
#include "net/ws_conn.h"

/* Pages a listing may take: every agent once, twice over (an `after` the
 * server no longer knows starts again), and a few more. */
#define MAX_PAGES(limit) (2 * (LIM_LETTA_AGENTS / (limit)) + 4)
#define LIST_MS   60000         /* a whole listing: connect to close */
#define CLOSE_MS  2000          /* our close -> the server's */

/* ---- the pager ---- */

void letta_app_pager_init(struct letta_app_pager *g, struct letta_list *l,
                          int limit)
{
	memset(g, 0, sizeof *g);
	g->l = l;
	g->limit = limit;
}

static int pager_fail(struct letta_app_pager *g, int err, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));

static int pager_fail(struct letta_app_pager *g, int err, const char *fmt,
                      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->why, sizeof g->why, fmt, ap);
	va_end(ap);
	g->err = err;
	g->l->done = 1;
	g->l->complete = 0;
	return err;
}

int letta_app_pager_next(struct letta_app_pager *g, char *buf, size_t cap)
{
	const char *after = g->check ? NULL : g->l->after;

	if (g->l->done)
		return 0;
	snprintf(g->rid, sizeof g->rid, "lettamx-list-%d", ++g->asked);
	return letta_app_agent_list(buf, cap, g->rid, g->limit, after);
}

/* An agent's last_run_completion ("" when absent or unreadable: older
 * than any stamp). */
static void stamp_of(const struct json *j, int obj, char *out, size_t cap)
{
	if (json_get_str(j, obj, "last_run_completion", out, cap) < 0)
		out[0] = '\0';
}

/* Reads one agent of a page into the listing. Returns 1 (read; *a is
 * it), 0 (unreadable: counted as bad, the listing cannot be complete) or
 * an error of letta_list_add. */
static int take_agent(struct letta_app_pager *g, const struct json *j,
                      int obj, struct letta_agent *a)
{
	int r = letta_agent_parse(j, obj, a);

	if (r) {
		LOG_WARN("letta", "event=bad_agent api=app-server err=%s",
		         err_str(r));
		g->l->bad++;
		return 0;
	}
	r = letta_list_add(g->l, a);
	return r < 0 ? r : 1;
}

/* A page of the listing proper. */
static int take_page(struct letta_app_pager *g, const struct json *j,
                     int arr)
{
	struct letta_list *l = g->l;
	struct letta_agent a;
	char last[sizeof l->after] = "";
	int n = json_count(j, arr), r, first = l->pages == 0;

	for (int e = json_arr_first(j, arr); e >= 0;
	     e = json_arr_next(j, arr, e)) {
		if (first)      /* the newest agent when the listing began */
			stamp_of(j, e, g->t0, sizeof g->t0);
		first = 0;
		r = take_agent(g, j, e, &a);
		if (r < 0)
			return pager_fail(g, r, "%s", r == ERR_TOOBIG ? "more "
			                  "agents than lettamx takes" :
			                  err_str(r));
		if (r)
			memcpy(last, a.id, sizeof last);
	}
	l->pages++;
	if (n < g->limit) {
		/* one page was one answer: nothing moved in between */
		g->check = l->pages > 1;
		l->done = !g->check;
		l->complete = l->done && !l->bad;
		return l->done;
	}
	if (!last[0])
		return pager_fail(g, ERR_PROTO, "no agent of a whole page could "
		                  "be read: no cursor for the next one");
	if (!strcmp(last, l->after))
		return pager_fail(g, ERR_PROTO, "the App Server gave the same "
		                  "page again: it does not page with 'after'");
	if (l->pages >= MAX_PAGES(g->limit))
		return pager_fail(g, ERR_TOOBIG, "the listing took more than "
		                  "%d pages", MAX_PAGES(g->limit));
	memcpy(l->after, last, sizeof l->after);
	return 0;
}

/* The first page again, after the last: agents used meanwhile come
 * first; one that was not is older than the listing, and every agent
 * used meanwhile comes before it. */
static int take_check(struct letta_app_pager *g, const struct json *j,
                      int arr)
{
	struct letta_list *l = g->l;
	struct letta_agent a;
	char s[LETTA_APP_STAMP_MAX];
	int n = json_count(j, arr), older = 0, r;

	for (int e = json_arr_first(j, arr); e >= 0;
	     e = json_arr_next(j, arr, e)) {
		r = take_agent(g, j, e, &a);
		if (r < 0)
			return pager_fail(g, r, "%s", err_str(r));
		stamp_of(j, e, s, sizeof s);
		older |= strcmp(s, g->t0) <= 0;
	}
	l->done = 1;
	l->complete = !l->bad && (n < g->limit || older);
	if (!l->bad && !l->complete)
		LOG_WARN("letta", "event=listing_incomplete api=app-server "
		         "why=\"%d or more agents were used while the listing "
		         "was read: a later listing decides deletions\"",
		         g->limit);
	return 1;
}

int letta_app_pager_feed(struct letta_app_pager *g, const struct json *j,
                         const struct letta_app_frame *f)
{
	if (g->l->done || f->type != LETTA_APP_F_AGENTS ||
	    strcmp(f->request_id, g->rid))
		return ERR_AGAIN;
	if (!f->success || f->agents < 0)
		return pager_fail(g, ERR_HTTP, "the App Server did not list "
		                  "its agents: %s", f->error[0] ? f->error :
		                  "no reason given");
	return g->check ? take_check(g, j, f->agents)
	                : take_page(g, j, f->agents);
}

/* ---- the lister ---- */

struct letta_app_lister {
	struct loop *loop;
	struct ws_conn *ws;
	struct letta_app_pager g;
	struct json j;
	struct letta_app_frame *f;      /* large: on the heap */
	struct loop_timer deadline;
	letta_app_list_cb done;
	void *arg;
	int opened;                     /* the socket opened */
	int ended;                      /* the outcome is known */
	int err;
	char why[384];
	char host[LIM_HTTP_URL];        /* for the words: the socket's URL */
	char cmd[512];                  /* one agent_list */
};

/* The outcome is known: close politely; on_close reports it. */
static void end(struct letta_app_lister *x, int err, const char *why)
{
	if (x->ended)
		return;
	x->ended = 1;
	x->err = err;
	snprintf(x->why, sizeof x->why, "%s", why);
	if (err) {
		x->g.l->done = 1;
		x->g.l->complete = 0;
	}
	loop_timer_cancel(x->loop, &x->deadline);
	/* open or opening (on_close has not run, or x would be ended) */
	ws_conn_close(x->ws, 1000, NULL);
}

static void ask(struct letta_app_lister *x)
{
	int n = letta_app_pager_next(&x->g, x->cmd, sizeof x->cmd), r;
	char why[96];

	r = n > 0 ? ws_conn_send(x->ws, x->cmd, (size_t)n) : n;
	if (r) {
		snprintf(why, sizeof why, "cannot send agent_list: %s",
		         err_str(r));
		end(x, r, why);
	} else if (n == 0) {
		end(x, 0, "listed");
	}
}

static void on_open(void *arg)
{
	struct letta_app_lister *x = arg;

	x->opened = 1;
	ask(x);
}

static void on_message(void *arg, const char *text, size_t len)
{
	struct letta_app_lister *x = arg;
	int r;

	if (x->ended)
		return;
	r = letta_app_frame_parse(&x->j, text, len, x->f);
	if (r == 0)
		r = letta_app_pager_feed(&x->g, &x->j, x->f);
	else
		r = pager_fail(&x->g, r, "an answer of the App Server could "
		               "not be read: %s", err_str(r));
	if (r == ERR_AGAIN)
		return;         /* not the answer (a status frame) */
	if (r < 0)
		end(x, r, x->g.why);
	else if (r == 1)
		end(x, 0, "listed");
	else
		ask(x);
}

static void on_close(void *arg, int code, const char *why)
{
	struct letta_app_lister *x = arg;
	int err;

	ws_conn_free(x->ws);
	x->ws = NULL;
	if (!x->ended) {
		x->ended = 1;
		x->err = code == 1015 ? ERR_TLS : ERR_CLOSED;
		snprintf(x->why, sizeof x->why, x->opened ? "the App Server "
		         "at %.200s ended the listing (%d: %s)" : "cannot reach "
		         "the App Server at %.200s (%d: %s)", x->host, code, why);
		x->g.l->done = 1;
		x->g.l->complete = 0;
	}
	loop_timer_cancel(x->loop, &x->deadline);
	err = x->err;
	/* the last thing: done may free x */
	x->done(x->arg, err, x->why);
}

static void on_deadline(void *arg)
{
	struct letta_app_lister *x = arg;
	char why[320];

	snprintf(why, sizeof why, "the App Server at %.200s did not list its "
	         "agents within %d s", x->host, LIST_MS / 1000);
	end(x, ERR_TIMEOUT, why);
}

int letta_app_list_start(struct letta_app_lister **out,
                         const struct lapi_app_conf *c, struct letta_list *l,
                         letta_app_list_cb done, void *arg)
{
	struct letta_app_lister *x = calloc(1, sizeof *x);
	struct ws_conf wc = {
		.url = c->url, .bearer = c->bearer, .close_ms = CLOSE_MS,
		.msg_cap = LIM_LETTA_APP_LIST_MSG, .on_open = on_open,
		.on_message = on_message, .on_close = on_close,
	};
	int r;

	*out = NULL;
	if (!x || !(x->f = malloc(sizeof *x->f))) {
		free(x);
		return ERR_NOMEM;
	}
	x->loop = c->loop;
	x->done = done;
	x->arg = arg;
	snprintf(x->host, sizeof x->host, "%s", c->url);
	json_init(&x->j);
	letta_app_pager_init(&x->g, l, LIM_LETTA_APP_PAGE);
	loop_timer_init(&x->deadline, on_deadline, x);
	wc.arg = x;
	r = ws_conn_open(&x->ws, c->loop, c->dns, c->tls, &wc);
	if (r) {
		letta_app_list_free(x);
		return r;
	}
	loop_timer_arm(x->loop, &x->deadline, loop_now(x->loop) + LIST_MS);
	*out = x;
	return 0;
}

void letta_app_list_free(struct letta_app_lister *x)
{
	if (!x)
		return;
	ws_conn_free(x->ws);
	loop_timer_cancel(x->loop, &x->deadline);
	json_free(&x->j);
	free(x->f);
	free(x);
}
