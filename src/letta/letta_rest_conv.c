/*
 * letta_rest_conv: conversations over the REST API (letta-api.md,
 * Conversations; server 0.16.2 and later): the one a summary names,
 * found by the server's search or made, and a conversation's cancel.
 *
 * Find before make: a crash between the create and the caller's store
 * write leaves a conversation with our summary, which the next try takes
 * instead of making a second one.
 */
#include "letta/letta_rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ident.h"
#include "letta/letta_conv.h"

#define CONV_MS 30000           /* a search or a create */

static void conv_end(struct rcall *c, int st, int err, const char *why,
                     const char *id)
{
	struct lapi_res res = { .status = st, .err = err };

	if (id)
		snprintf(res.conv, sizeof res.conv, "%s", id);
	else if (!res.err)
		res.err = ERR_PROTO;
	if (why)
		snprintf(res.detail, sizeof res.detail, "%s", why);
	rest_call_end(c, &res);
}

static void on_made(void *arg, int st, const char *body, size_t len,
                    int err)
{
	struct rcall *c = arg;
	char id[LIM_LETTA_APP_ID];

	if (st < 200 || st >= 300)
		conv_end(c, st, err, st == 404 ? "agent not found" :
		         "the conversation could not be made", NULL);
	else if (letta_conv_made(body, len, id, sizeof id))
		conv_end(c, st, 0, "the new conversation is unreadable", NULL);
	else
		conv_end(c, st, 0, NULL, id);
}

static void make_it(struct rcall *c)
{
	char path[256], *body;
	size_t len;
	const struct lapi_http *h = &c->l->http;
	int e;

	if ((e = letta_conv_create_path(path, sizeof path, c->agent)) ||
	    (e = letta_conv_create_body(c->summary, &body, &len))) {
		conv_end(c, 0, e, "the conversation could not be asked for",
		         NULL);
		return;
	}
	c->made = 1;
	if (!h->call(h->io, c->owner, "POST", path, body, len, CONV_MS, 0,
	             NULL, on_made, c))
		conv_end(c, 0, ERR_AGAIN, "request refused", NULL);
}

/* The search answered: ours when one has our summary, else made now. A
 * server without conversations (before 0.16.2) says 404 here. */
static void on_found(void *arg, int st, const char *body, size_t len,
                     int err)
{
	struct rcall *c = arg;
	char id[LIM_LETTA_APP_ID];
	int r;

	if (st == 404) {
		/* the route is not there: a server before 0.16.2 */
		conv_end(c, st, ERR_INVAL, "this Letta server has no "
		         "conversations (0.16.2 and later have them)", NULL);
		return;
	}
	if (st != 200) {
		conv_end(c, st, err, "the conversations could not be listed",
		         NULL);
		return;
	}
	r = letta_conv_search_found(body, len, c->agent, c->summary, id,
	                            sizeof id);
	if (r < 0)
		conv_end(c, st, 0, "the conversation list is unreadable", NULL);
	else if (r == 1)
		conv_end(c, st, 0, NULL, id);
	else
		make_it(c);
}

void *rest_conv_find(struct lapi *base, void *owner, const struct lapi_at *at,
                     const char *key, lapi_done done, void *arg)
{
	struct rest *l = (struct rest *)base;
	struct rcall *c;
	char path[2048];

	if (!at->agent_id || strlen(at->agent_id) >= sizeof c->agent ||
	    letta_conv_search_path(path, sizeof path, at->agent_id, key) ||
	    !(c = rest_call_new(l, RC_CONV, done, arg)))
		return NULL;
	if (!(c->summary = strdup(key))) {
		rest_call_free(c);
		return NULL;
	}
	snprintf(c->agent, sizeof c->agent, "%s", at->agent_id);
	c->owner = owner;
	return rest_call_start(c, owner, "GET", path, NULL, 0, CONV_MS, 0,
	                       NULL, on_found);
}

void *rest_conv_cancel(struct rest *l, void *owner, const struct lapi_at *at,
                       lapi_done done, void *arg)
{
	char path[256];
	struct rcall *c;

	if (letta_conv_path(path, sizeof path, at->conv, "/cancel") ||
	    !(c = rest_call_new(l, RC_CMD, done, arg)))
		return NULL;
	return rest_call_start(c, owner, "POST", path, NULL, 0, CONV_MS, 0,
	                       NULL, rest_on_cmd);
}
