/*
 * letta_app_conv: finding and making conversations on the App Server
 * (see letta_app_conv.h).
 */
#include "letta/letta_app_conv.h"

#include <stdbool.h>
#include <string.h>

#include "core/err.h"
#include "core/ident.h"
#include "core/json.h"
#include "core/limits.h"
#include "letta/letta_app_int.h"
#include "letta/letta_conv.h"

/* The most conversations one search reads: a summary names one room's
 * one thread or reset, so more than a handful means another client's. */
#define FIND_LIMIT 50

/* A command on agent_id with a summary: its head, or why it cannot go. */
static int open_cmd(struct json_w *w, char *buf, size_t cap,
                    const char *type, const char *request_id,
                    const char *agent_id, const char *summary)
{
	int r = letta_conv_summary_ok(summary);

	if (r || !ident_agent_id_valid(agent_id))
		return r ? r : ERR_INVAL;
	return letta_app_cmd_open(w, buf, cap, type, request_id);
}

/* {"type", "request_id", key: {"agent_id", skey: summary, [limit]}} */
static int conv_cmd(char *buf, size_t cap, const char *type,
                    const char *request_id, const char *agent_id,
                    const char *summary, const char *key, const char *skey,
                    int limit)
{
	struct json_w w;
	int r = open_cmd(&w, buf, cap, type, request_id, agent_id, summary);

	if (r)
		return r;
	json_w_key(&w, key);
	json_w_obj(&w);
	json_w_kstr(&w, "agent_id", agent_id);
	json_w_kstr(&w, skey, summary);
	if (limit)
		json_w_kint(&w, "limit", limit);
	json_w_obj_end(&w);
	return letta_app_cmd_close(&w);
}

int letta_app_conv_list(char *buf, size_t cap, const char *request_id,
                        const char *agent_id, const char *summary)
{
	return conv_cmd(buf, cap, "conversation_list", request_id, agent_id,
	                summary, "query", "summary_search", FIND_LIMIT);
}

int letta_app_conv_create(char *buf, size_t cap, const char *request_id,
                          const char *agent_id, const char *summary)
{
	return conv_cmd(buf, cap, "conversation_create", request_id,
	                agent_id, summary, "body", "summary", 0);
}

int letta_app_conv_answer(const struct json *j)
{
	int t = json_get(j, 0, "type");

	if (t < 0)
		return LETTA_APP_CONV_NONE;
	if (json_str_eq(j, t, "conversation_list_response"))
		return LETTA_APP_CONV_LISTED;
	if (json_str_eq(j, t, "conversation_create_response"))
		return LETTA_APP_CONV_CREATED;
	return LETTA_APP_CONV_NONE;
}

static bool succeeded(const struct json *j)
{
	bool ok = false;

	return !json_get_bool(j, 0, "success", &ok) && ok;
}

int letta_app_conv_found(const struct json *j, const char *agent_id,
                         const char *summary, char *id, size_t cap)
{
	if (cap)
		id[0] = '\0';
	if (!succeeded(j))
		return ERR_PROTO;
	return letta_conv_pick(j, json_get(j, 0, "conversations"), agent_id,
	                       summary, id, cap);
}

int letta_app_conv_made(const struct json *j, char *id, size_t cap)
{
	if (cap)
		id[0] = '\0';
	if (!succeeded(j))
		return ERR_PROTO;
	return letta_conv_id(j, json_get(j, 0, "conversation"), id, cap);
}
