/*
 * letta_app_list: the agents of Letta's App Server, listed over its
 * socket into a struct letta_list (letta.h), for provisioning and
 * `lettamx check`. The listing is complete only when every page came and
 * nothing was missed: only a complete listing may say that an agent is
 * gone.
 *
 * How the App Server pages (letta.js listAgents, local backend): most
 * recently used first (an agent's last_run_completion), `limit` agents
 * (20 unless asked) after the agent `after` names; an `after` it does not
 * know starts again at the first page; no has_more. So the pager asks
 * LIM_LETTA_APP_PAGE at a time after the last agent of the page before,
 * ends at a short page, and keeps each agent once. An agent used while
 * the pages are read jumps to the front, past pages not yet read: when
 * the listing took more than one page, the first page is read once more
 * at the end, which holds every agent used meanwhile unless a whole page
 * of them was (then the listing is not complete: a later one decides).
 *
 * Two parts: the pager (sans-I/O: commands out, answers in) and a lister
 * that runs it over one short-lived WebSocket on the loop.
 */
#ifndef LETTAMX_LETTA_APP_LIST_H
#define LETTAMX_LETTA_APP_LIST_H

#include <stddef.h>

#include "letta/letta.h"
#include "letta/letta_app.h"

struct json;
struct lapi_app_conf;

/* A stamp as the App Server writes it ("2026-12-07T13:41:08.734Z"). */
#define LETTA_APP_STAMP_MAX 40

struct letta_app_pager {
	struct letta_list *l;           /* filled; the caller's */
	int limit;                      /* agents asked per page */
	int asked;                      /* requests written */
	int check;                      /* the pages are read: the first page
	                                 * again */
	char rid[32];                   /* request id of the last request */
	char t0[LETTA_APP_STAMP_MAX];   /* the newest last_run_completion
	                                 * when the listing began */
	int err;                        /* why it failed, 0: it did not */
	char why[256];
};

/* Starts a listing into `l` (letta_list_init'ed, empty) of `limit`
 * (1..LIM_LETTA_APP_LIMIT) agents a page. */
void letta_app_pager_init(struct letta_app_pager *g, struct letta_list *l,
                          int limit);

/* Writes the next agent_list command into buf[0..cap). Returns its
 * length, 0 when the listing is done (nothing to ask), or an error of
 * letta_app_agent_list (ERR_TOOBIG: buf too small). */
int letta_app_pager_next(struct letta_app_pager *g, char *buf, size_t cap);

/* Feeds one server message, parsed (f from letta_app_frame_parse with j).
 * Returns 1 when the listing is done (l->complete says whether it may be
 * trusted), 0 when the next command is to be asked, ERR_AGAIN when f is
 * not the answer to the last command (ignore it), or an error (the
 * listing is then done and incomplete; g->why says why): ERR_HTTP (the
 * server refused: success false), ERR_PROTO (it does not page),
 * ERR_TOOBIG (too many agents or pages), ERR_NOMEM. */
int letta_app_pager_feed(struct letta_app_pager *g, const struct json *j,
                         const struct letta_app_frame *f);

/* ---- the lister, on the loop ---- */

struct letta_app_lister;

/* The end of a listing: err 0 (l->done; l->complete says whether it may
 * be trusted for deletions) or why it failed (ERR_CLOSED, ERR_TIMEOUT,
 * ERR_TLS, what the pager said...; l is then done and incomplete), with
 * `why` in words (valid during the call). Runs once, from the loop, after
 * the socket closed; the lister may be freed inside it. */
typedef void (*letta_app_list_cb)(void *arg, int err, const char *why);

/* Lists the agents of the App Server that `c` reaches (its url, bearer,
 * loop, dns and tls; its mode is not used) into `l` (letta_list_init'ed,
 * empty; the caller's, kept until done). Returns 0 with the lister in
 * *out, or ERR_INVAL (a bad URL), ERR_NOMEM...: then nothing is called. */
int letta_app_list_start(struct letta_app_lister **out,
                         const struct lapi_app_conf *c, struct letta_list *l,
                         letta_app_list_cb done, void *arg);

/* Stops a listing (no callback follows) and frees it. NULL is fine. */
void letta_app_list_free(struct letta_app_lister *x);

#endif
