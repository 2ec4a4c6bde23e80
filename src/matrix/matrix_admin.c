/*
 * matrix_admin: builders and parsers for Synapse's admin API calls that
 * lift rate limits and give tokens without passwords, and for the Space
 * marker naming this installation (see matrix.h). No I/O here.
 */
#include "matrix/matrix.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "matrix/matrix_int.h"

#define ADMIN_USERS "/_synapse/admin/v1/users/"

int mx_req_override_ratelimit(struct proto_req *r, const char *token,
                              const char *user_id)
{
	struct proto_buf p;
	struct json_w w;

	mx_i_start(r, PROTO_POST, token, &p);
	if (mx_i_path_id(&p, ADMIN_USERS, user_id, '@'))
		return ERR_INVAL;
	proto_buf_str(&p, "/override_ratelimit");
	mx_i_body(r, &w);
	/* 0 and 0 mean "no limit at all" (not "nothing allowed"). */
	json_w_kint(&w, "messages_per_second", 0);
	json_w_kint(&w, "burst_count", 0);
	return mx_i_finish(r, &p, &w);
}

int mx_req_admin_login(struct proto_req *r, const char *token,
                       const char *user_id)
{
	struct proto_buf p;
	struct json_w w;

	mx_i_start(r, PROTO_POST, token, &p);
	if (mx_i_path_id(&p, ADMIN_USERS, user_id, '@'))
		return ERR_INVAL;
	proto_buf_str(&p, "/login");
	mx_i_body(r, &w);
	return mx_i_finish(r, &p, &w);
}

int mx_admin_login_parse(const struct proto_resp *resp, char *token,
                         struct mx_error *e)
{
	struct json j;
	int r = mx_i_ok_obj(resp, &j, e);

	if (r)
		return r;
	if (json_get_str(&j, 0, "access_token", token, LIM_MX_TOKEN) ||
	    !token[0])
		r = ERR_PROTO;
	json_free(&j);
	return r;
}

int mx_admin_absent(const struct mx_error *e)
{
	/* 404 M_NOT_FOUND is "no such user": the API is there. */
	if (mx_error_is(e, "M_NOT_FOUND"))
		return 0;
	return e->status == 403 || e->status == 404 ||
	       mx_error_is(e, "M_UNRECOGNIZED") ||
	       mx_error_is(e, "M_FORBIDDEN");
}

int mx_req_state_event_get(struct proto_req *r, const char *token,
                           const char *room_id, const char *type,
                           const char *key)
{
	int rc = mx_req_state_get(r, token, room_id, type, key);
	size_t n = strlen(r->path);
	static const char q[] = "?format=event";

	if (rc)
		return rc;
	if (n + sizeof q > sizeof r->path)
		return ERR_TOOBIG;
	memcpy(r->path + n, q, sizeof q);
	return 0;
}

/* Reads an optional string field of the content; a wrong type is
 * malformed. */
static int opt_str(const struct json *j, int o, const char *key, char *out,
                   size_t cap)
{
	out[0] = '\0';
	if (json_get(j, o, key) < 0)
		return 0;
	return json_get_str(j, o, key, out, cap) ? ERR_PROTO : 0;
}

static int mark_fields(const struct json *j, struct mx_space_mark *m)
{
	int c = json_get(j, 0, "content");
	int64_t v = MX_MARKER_V;
	int vi;

	if (json_get_str(j, 0, "sender", m->sender, sizeof m->sender) ||
	    !ident_matrix_id_valid(m->sender, '@') || c < 0 ||
	    json_type(j, c) != JSON_OBJ)
		return ERR_PROTO;
	vi = json_get(j, c, "v");
	if (vi < 0)
		return ERR_NOTFOUND;    /* content cleared: no marker */
	if (json_int(j, vi, 0, INT32_MAX, &v))
		return ERR_PROTO;
	if (v > MX_MARKER_V)
		return ERR_VERSION;
	if (opt_str(j, c, MX_SPACE_K_INSTALL, m->install, sizeof m->install) ||
	    opt_str(j, c, MX_SPACE_K_BOT, m->bot, sizeof m->bot))
		return ERR_PROTO;
	return 0;
}

int mx_space_mark_parse(const struct proto_resp *resp,
                        struct mx_space_mark *m, struct mx_error *e)
{
	struct json j;
	int r;

	memset(m, 0, sizeof *m);
	r = mx_i_ok_obj(resp, &j, e);
	if (r)
		return r;
	r = mark_fields(&j, m);
	json_free(&j);
	return r;
}

int mx_space_mark_content(char *out, size_t cap, const char *install,
                          const char *bot)
{
	struct json_w w;

	json_w_init(&w, out, cap);
	json_w_obj(&w);
	json_w_kint(&w, "v", MX_MARKER_V);
	json_w_kstr(&w, MX_SPACE_K_INSTALL, install);
	json_w_kstr(&w, MX_SPACE_K_BOT, bot);
	json_w_obj_end(&w);
	return json_w_finish(&w, NULL);
}

void mx_i_restricted_rule(struct json_w *w, const char *space_id)
{
	json_w_obj(w);
	json_w_kstr(w, "type", "m.room.join_rules");
	json_w_kstr(w, "state_key", "");
	json_w_key(w, "content");
	json_w_obj(w);
	json_w_kstr(w, "join_rule", "restricted");
	json_w_key(w, "allow");
	json_w_arr(w);
	json_w_obj(w);
	json_w_kstr(w, "type", "m.room_membership");
	json_w_kstr(w, "room_id", space_id);
	json_w_obj_end(w);
	json_w_arr_end(w);
	json_w_obj_end(w);
	json_w_obj_end(w);
}
