/*
 * letta: the Letta REST client, sans-I/O half (shared/reference/letta-api.md).
 *
 * Builders fill a struct proto_req; parsers read a struct proto_resp. The
 * listing is a small state machine (struct letta_list) that pages with
 * `after` and knows when a listing is *complete*: only a complete listing
 * may be used to infer that an agent was deleted.
 */
#ifndef LETTAMX_LETTA_H
#define LETTAMX_LETTA_H

#include <stddef.h>

#include "core/ident.h"
#include "core/limits.h"
#include "net/proto.h"

struct json;

/* Sent on every request: a missing User-Agent crashes 0.13.x servers, and
 * any non-SDK value selects the "legacy" mode our query is written for. */
const char *letta_user_agent(void);

struct letta_agent {
	char id[IDENT_AGENT_ID_MAX + 1];
	char name[LIM_LETTA_NAME];
	char desc[LIM_LETTA_DESC];      /* "" when null */
	int desc_cut;                   /* desc was cut to fit */
	char tags[LIM_LETTA_TAGS];      /* ntags NUL-terminated strings */
	int ntags;
	int sleeptime;                  /* a sleep-time helper agent */
};

/* A failed Letta request, for the log and the operator. */
struct letta_error {
	int status;                     /* HTTP status, 0 = none */
	char detail[LIM_PROTO_DETAIL];  /* server's "detail" or error message */
	char cause[LIM_PROTO_DETAIL * 2];       /* status 0: what failed,
	                                         * where, what to do */
};

/* Fills `r` with GET /v1/agents/ (the recommended small-object query:
 * limit, order=asc, tags loaded) after cursor `after` (NULL or "" for the
 * first page). `token` is borrowed (NULL: no Authorization). Returns 0,
 * ERR_INVAL (a malformed cursor id). */
int letta_req_list(struct proto_req *r, const char *after, const char *token);

/* Fills `r` with GET /v1/health/ (liveness; no token needed even where
 * the server has a password). Returns 0. */
int letta_req_health(struct proto_req *r);

/* Fills `r` with GET /v1/agents/<id>. Returns 0 or ERR_INVAL. */
int letta_req_get(struct proto_req *r, const char *agent_id,
                  const char *token);

/* Reads one AgentState object (token `obj` of `j`) into `a`. Returns 0,
 * ERR_PROTO (not an object, no id or name), ERR_INVAL (malformed id),
 * ERR_TOOBIG (name too long or too many tags). */
int letta_agent_parse(const struct json *j, int obj, struct letta_agent *a);

/* Classifies a non-2xx (or unreadable) response: fills `e` and returns
 * ERR_NOTFOUND (404), ERR_CONFIG (401/403: our token is wrong), ERR_HTTP
 * (other statuses), ERR_CLOSED (status 0: no response). */
int letta_error_parse(const struct proto_resp *resp, struct letta_error *e);

/* 1 if a request that failed with `status` may succeed when retried
 * later (408, 409, 429, 5xx, no response), else 0. */
int letta_retryable(int status);

/* Writes a one-line explanation of `e` for the operator into `out`. */
void letta_error_msg(const struct letta_error *e, char *out, size_t cap);

/* Parses a GET /v1/agents/<id> response. Returns 0 or an error as
 * letta_error_parse / letta_agent_parse (ERR_PROTO for a bad body). */
int letta_get_parse(const struct proto_resp *resp, struct letta_agent *a,
                    struct letta_error *e);

/* 1 if the bridge should give agent `a` a room: not a sleep-time helper,
 * carrying one of `include` (comma-separated tags; NULL or "" = any) and
 * none of `exclude` (NULL or "" = none). */
int letta_agent_wanted(const struct letta_agent *a, const char *include,
                       const char *exclude);

/* ---- the listing state machine ---- */

struct letta_list {
	struct letta_agent *agents;     /* heap, owned */
	size_t n;
	size_t cap;
	char after[IDENT_AGENT_ID_MAX + 1];
	int pages;
	int bad;        /* agents that could not be read */
	int done;       /* no more requests to make */
	int complete;   /* done, and every agent was seen exactly once */
};

void letta_list_init(struct letta_list *l);

/* Frees the agents; `l` can be reused after letta_list_init(). */
void letta_list_reset(struct letta_list *l);

/* Adds `a` to a listing read some other way (the App Server's pages):
 * returns 0 (added), 1 (already listed: not added again), ERR_TOOBIG
 * (more than LIM_LETTA_AGENTS agents), ERR_NOMEM. */
int letta_list_add(struct letta_list *l, const struct letta_agent *a);

/* Fills `r` with the request for the next page. Returns 0, or ERR_INVAL
 * when the listing is done. */
int letta_list_next(struct letta_list *l, struct proto_req *r,
                    const char *token);

/* Feeds the response to the last request. Returns 1 when the listing is
 * done (l->complete tells whether it may be trusted for deletions), 0
 * when another page is needed, or an error (the listing is then done and
 * incomplete): letta_error_parse's codes, ERR_PROTO (bad body),
 * ERR_TOOBIG (more than LIM_LETTA_AGENTS agents), ERR_NOMEM. */
int letta_list_feed(struct letta_list *l, const struct proto_resp *resp,
                    struct letta_error *e);

#endif
