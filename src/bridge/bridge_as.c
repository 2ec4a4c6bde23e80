/*
 * bridge_as: the application service API that the homeserver calls in
 * appservice mode ([matrix] mode = appservice): step 1 of a message's
 * path when events are pushed instead of synced.
 *
 *   PUT  /_matrix/app/v1/transactions/{txnId}   events -> the inbox, with
 *   PUT  /transactions/{txnId}                  the id (bridge_sync_push)
 *   GET  /_matrix/app/v1/users/{userId}         one of our agent users?
 *   GET  /_matrix/app/v1/rooms/{alias}          never: we own no aliases
 *   POST /_matrix/app/v1/ping                   the homeserver's check
 *
 * The unprefixed paths are what Synapse before 1.81 calls, with the token
 * in the query (?access_token=); newer ones send it as a Bearer token.
 * Either way the hs_token is compared in constant time, and a request
 * without it is refused before anything is read. A transaction is
 * answered 200 only once its events are in the store (the store's batch
 * commits before the loop's next poll, and the answer is written after
 * it), so a crash before that makes the homeserver send it again, and a
 * resend of one taken is recognised by its id.
 */
#include "bridge/bridge_int.h"

#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "core/err.h"
#include "core/log.h"
#include "core/url.h"
#include "net/srv.h"
#include "store/secret.h"

#define V1 "/_matrix/app/v1"

/* {"errcode":…,"error":…} with status st. */
static int mx_err(struct proto_buf *out, int st, const char *code,
                  const char *text)
{
	proto_buf_fmt(out, "{\"errcode\":\"%s\",\"error\":\"%s\"}", code, text);
	return st;
}

/* The rest of path after prefix `p` (the v1 one or the legacy one), or
 * NULL. */
static const char *after(const char *path, const char *p)
{
	size_t n = strlen(p);
	const char *legacy = p + strlen(V1);

	if (!strncmp(path, p, n))
		return path + n;
	n = strlen(legacy);
	return !strncmp(path, legacy, n) ? path + n : NULL;
}

/* 0 when the request carries the hs_token, else the status written. */
static int authorised(const struct bridge *b, const struct srv_req *rq,
                      struct proto_buf *out)
{
	char q[LIM_STORE_SECRET];
	const char *tok = rq->bearer;

	if (!tok && url_query_get(rq->query, "access_token", q, sizeof q) >= 0)
		tok = q;
	if (!tok || !*tok)
		return mx_err(out, 401, "M_UNAUTHORIZED", "no token");
	if (!secret_equal(tok, b->a->as.hs_token)) {
		LOG_WARN("bridge", "event=appservice_refused reason=\"a request "
		         "with another token than our hs_token\"");
		return mx_err(out, 403, "M_FORBIDDEN", "wrong token");
	}
	return 0;
}

static int txn(struct bridge *b, const char *id, const struct srv_req *rq,
               struct proto_buf *out)
{
	char txn[96];
	int e;

	if (strcmp(rq->method, "PUT"))
		return mx_err(out, 405, "M_UNRECOGNIZED", "PUT only");
	if (url_unescape(id, strlen(id), txn, sizeof txn) < 0)
		return mx_err(out, 400, "M_INVALID_PARAM", "bad transaction id");
	e = bridge_sync_push(b->sync, txn, rq->body, rq->body_len);
	if (e == ERR_INVAL)
		return mx_err(out, 400, "M_INVALID_PARAM", "bad transaction id");
	if (e)  /* nothing taken: it comes again */
		return mx_err(out, 500, "M_UNKNOWN", "not stored; send it "
		              "again");
	proto_buf_str(out, "{}");
	return 200;
}

struct user_q {
	const char *user;
	int found;
};

static int user_view(struct store_txn *t, void *arg)
{
	struct user_q *q = arg;
	struct store_agent a;
	int e = store_agent_by_user(t, q->user, &a);

	q->found = !e;
	return e == ERR_NOTFOUND ? 0 : e;
}

/* Yes for an agent user we have (the homeserver asks before it makes
 * one of our namespace for someone else); we make none on demand. */
static int user(struct bridge *b, const char *id, struct proto_buf *out)
{
	char uid[LIM_STORE_ID];
	struct user_q q = { uid, 0 };

	if (url_unescape(id, strlen(id), uid, sizeof uid) < 0)
		return mx_err(out, 400, "M_INVALID_PARAM", "bad user id");
	if (store_view(b->store, user_view, &q) < 0)
		return mx_err(out, 500, "M_UNKNOWN", "the store cannot say");
	if (!q.found)
		return mx_err(out, 404, "M_NOT_FOUND", "no such agent user");
	proto_buf_str(out, "{}");
	return 200;
}

static int route(struct bridge *b, const struct srv_req *rq,
                 struct proto_buf *out)
{
	const char *rest;

	if ((rest = after(rq->path, V1 "/transactions/")) && *rest)
		return txn(b, rest, rq, out);
	if ((rest = after(rq->path, V1 "/users/")) && *rest &&
	    !strcmp(rq->method, "GET"))
		return user(b, rest, out);
	if ((rest = after(rq->path, V1 "/rooms/")) && *rest &&
	    !strcmp(rq->method, "GET"))
		return mx_err(out, 404, "M_NOT_FOUND", "no room aliases here");
	if (!strcmp(rq->path, V1 "/ping") && !strcmp(rq->method, "POST")) {
		proto_buf_str(out, "{}");
		return 200;
	}
	return mx_err(out, 404, "M_UNRECOGNIZED", "Unrecognized request");
}

int bridge_as_head(void *arg, const struct srv_req *rq,
                   struct proto_buf *out, const char **content_type)
{
	*content_type = "application/json";
	return authorised(arg, rq, out);
}

/* Only for requests bridge_as_head let through (the listener calls it
 * on every head): the token is not checked twice. */
int bridge_as_handler(void *arg, const struct srv_req *rq,
                      struct proto_buf *out, const char **content_type)
{
	struct bridge *b = arg;
	int st;

	*content_type = "application/json";
	if (b->stopping)        /* nothing is taken while stopping */
		return mx_err(out, 503, "M_UNKNOWN", "stopping");
	st = route(b, rq, out);
	LOG_DEBUG("bridge", "event=appservice_request method=%s path=%.120s "
	          "status=%d", rq->method, rq->path, st);
	return st;
}

/* ---- the ids of the transactions taken ---- */

#define TXN_META "appservice_txns"
#define TXN_KEEP 32             /* ids kept: the homeserver resends only
                                 * the one it has no 200 for */

int bridge_as_txn_ok(const char *txn)
{
	size_t n = strlen(txn);

	if (!n || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (txn[i] <= ' ' || txn[i] > '~')
			return 0;
	return 1;
}

int bridge_as_txn_seen(const char *txns, const char *txn)
{
	return bridge_in_list(txns, ' ', txn);
}

int bridge_as_txns_put(struct store_txn *t, const char *txns,
                       const char *txn)
{
	char v[LIM_STORE_META];
	size_t n = (size_t)snprintf(v, sizeof v, "%s", txn);
	int kept = 1;

	for (const char *p = txns; *p && kept < TXN_KEEP; kept++) {
		size_t k = strcspn(p, " ");

		if (n + 1 + k >= sizeof v)
			break;
		v[n++] = ' ';
		memcpy(v + n, p, k);
		n += k;
		v[n] = '\0';
		p += k + (p[k] == ' ');
	}
	return store_meta_put(t, TXN_META, v);
}

int bridge_as_txns_get(struct store_txn *t, char *txns, size_t cap)
{
	int e = store_meta_get(t, TXN_META, txns, cap);

	if (e)
		txns[0] = '\0';
	return e == ERR_NOTFOUND ? 0 : e;
}
