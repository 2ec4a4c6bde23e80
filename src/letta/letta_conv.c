/*
 * letta_conv: finding and making conversations (see letta_conv.h).
 */
#include "letta/letta_conv.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ident.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/proto_buf.h"
#include "letta/letta_app_int.h"

/* The most conversations one search reads: a summary names one thread
 * or one reset of one room, so more than a handful means another
 * client's. */
#define SEARCH_LIMIT 50

int letta_conv_summary_ok(const char *s)
{
	size_t n = s ? strnlen(s, LETTA_CONV_SUMMARY) : 0;

	if (!n || n >= LETTA_CONV_SUMMARY)
		return ERR_INVAL;
	return json_utf8_valid(s, n) ? 0 : ERR_UTF8;
}

int letta_conv_id_ok(const char *id)
{
	return id && letta_app_id_valid(id, strnlen(id, LIM_LETTA_APP_ID));
}

int letta_conv_id(const struct json *j, int c, char *id, size_t cap)
{
	size_t n = 0;

	if (c < 0 || cap < LIM_LETTA_APP_ID ||
	    json_strn(j, json_get(j, c, "id"), id, cap, &n) ||
	    !letta_app_id_valid(id, n)) {
		if (cap)
			id[0] = '\0';
		return ERR_PROTO;
	}
	return 0;
}

/* Newest first or oldest first depends on the server's order: the
 * oldest is the first try's, whichever way they come. */
static int older(const struct json *j, int a, int b)
{
	char ta[40] = "", tb[40] = "";

	json_get_str(j, a, "created_at", ta, sizeof ta);
	json_get_str(j, b, "created_at", tb, sizeof tb);
	return strcmp(ta, tb) < 0;
}

int letta_conv_pick(const struct json *j, int arr, const char *agent_id,
                    const char *summary, char *id, size_t cap)
{
	int best = -1;

	if (cap)
		id[0] = '\0';
	if (json_type(j, arr) != JSON_ARR)
		return ERR_PROTO;
	for (int c = json_arr_first(j, arr); c >= 0;
	     c = json_arr_next(j, arr, c)) {
		if (!json_str_eq(j, json_get(j, c, "summary"), summary) ||
		    !json_str_eq(j, json_get(j, c, "agent_id"), agent_id))
			continue;
		if (best < 0 || older(j, c, best))
			best = c;
	}
	if (best < 0)
		return 0;
	return letta_conv_id(j, best, id, cap) ? ERR_PROTO : 1;
}

/* ---- REST ---- */

static void agent_query(struct proto_buf *p, const char *agent_id)
{
	proto_buf_str(p, "/v1/conversations/?agent_id=");
	proto_buf_urlenc(p, agent_id);
}

int letta_conv_search_path(char *path, size_t cap, const char *agent_id,
                           const char *summary)
{
	struct proto_buf p;

	if (!ident_agent_id_valid(agent_id) || letta_conv_summary_ok(summary))
		return ERR_INVAL;
	proto_buf_init(&p, path, cap);
	agent_query(&p, agent_id);
	proto_buf_str(&p, "&summary_search=");
	proto_buf_urlenc(&p, summary);
	proto_buf_fmt(&p, "&limit=%d", SEARCH_LIMIT);
	return p.err;
}

int letta_conv_create_path(char *path, size_t cap, const char *agent_id)
{
	struct proto_buf p;

	if (!ident_agent_id_valid(agent_id))
		return ERR_INVAL;
	proto_buf_init(&p, path, cap);
	agent_query(&p, agent_id);
	return p.err;
}

int letta_conv_create_body(const char *summary, char **body, size_t *len)
{
	size_t cap = 2 * LETTA_CONV_SUMMARY * 6 + 32;
	struct json_w w;
	int e;

	*body = NULL;
	if ((e = letta_conv_summary_ok(summary)))
		return e;
	if (!(*body = malloc(cap)))
		return ERR_NOMEM;
	json_w_init(&w, *body, cap);
	json_w_obj(&w);
	json_w_kstr(&w, "summary", summary);
	json_w_obj_end(&w);
	if ((e = json_w_finish(&w, len))) {
		free(*body);
		*body = NULL;
	}
	return e;
}

int letta_conv_path(char *path, size_t cap, const char *conv,
                    const char *tail)
{
	struct proto_buf p;

	if (!letta_conv_id_ok(conv))
		return ERR_INVAL;
	proto_buf_init(&p, path, cap);
	proto_buf_str(&p, "/v1/conversations/");
	proto_buf_urlenc(&p, conv);
	proto_buf_str(&p, tail);
	return p.err;
}

int letta_conv_search_found(const char *body, size_t len,
                            const char *agent_id, const char *summary,
                            char *id, size_t cap)
{
	struct json j;
	int r;

	json_init(&j);
	r = json_parse(&j, body, len) ? ERR_PROTO :
	    letta_conv_pick(&j, 0, agent_id, summary, id, cap);
	json_free(&j);
	return r;
}

int letta_conv_made(const char *body, size_t len, char *id, size_t cap)
{
	struct json j;
	int r;

	json_init(&j);
	r = json_parse(&j, body, len) || json_type(&j, 0) != JSON_OBJ ?
	    ERR_PROTO : letta_conv_id(&j, 0, id, cap);
	json_free(&j);
	if (r && cap)
		id[0] = '\0';
	return r;
}
