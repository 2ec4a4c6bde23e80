/*
 * matrix: request builders and response parsers for the Matrix
 * client-server API (v3) and the two Synapse admin calls provisioning may
 * use. No I/O here.
 */
#include "matrix/matrix.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "matrix/matrix_int.h"

#define CS "/_matrix/client/v3"

static int ok_obj(const struct proto_resp *resp, struct json *j,
                  struct mx_error *e);

static const char *const reg_names[] = {
	[MX_REG_TOKEN] = "token",
	[MX_REG_SHARED_SECRET] = "shared-secret",
	[MX_REG_ADMIN_API] = "admin-api",
	[MX_REG_DUMMY] = "dummy",
	[MX_REG_APPSERVICE] = "appservice",
};

int mx_reg_parse(const char *s)
{
	for (int i = 0; i < (int)(sizeof reg_names / sizeof reg_names[0]); i++)
		if (s && !strcmp(s, reg_names[i]))
			return i;
	return ERR_CONFIG;
}

const char *mx_reg_name(int reg)
{
	if (reg < 0 || reg >= (int)(sizeof reg_names / sizeof reg_names[0]))
		return "?";
	return reg_names[reg];
}

/* ---- building ---- */

/* Starts a request: method, bearer and a path writer. */
static void start(struct proto_req *r, int method, const char *token,
                  struct proto_buf *path)
{
	proto_req_init(r, method);
	proto_buf_init(path, r->path, sizeof r->path);
	/* a token too long for any server: the path error reports it */
	if (proto_req_bearer(r, token))
		path->err = ERR_TOOBIG;
}

/* Starts the JSON body of `r` and opens its object. */
static void body(struct proto_req *r, struct json_w *w)
{
	json_w_init(w, r->body, sizeof r->body);
	r->has_body = 1;
	json_w_obj(w);
}

/* Ends a request: closes the body object (if any) and returns the first
 * error of either writer, else 0. */
static int finish(struct proto_req *r, const struct proto_buf *path,
                  struct json_w *w)
{
	if (path->err)
		return path->err;
	if (w) {
		json_w_obj_end(w);
		return json_w_finish(w, &r->body_len);
	}
	return 0;
}

static int empty_body(struct proto_req *r, struct proto_buf *path)
{
	struct json_w w;

	body(r, &w);
	return finish(r, path, &w);
}

int mx_req_login(struct proto_req *r, const char *user, const char *password)
{
	struct proto_buf p;
	struct json_w w;

	start(r, PROTO_POST, NULL, &p);
	proto_buf_str(&p, CS "/login");
	body(r, &w);
	json_w_kstr(&w, "type", "m.login.password");
	json_w_key(&w, "identifier");
	json_w_obj(&w);
	json_w_kstr(&w, "type", "m.id.user");
	json_w_kstr(&w, "user", user);
	json_w_obj_end(&w);
	json_w_kstr(&w, "password", password);
	json_w_kstr(&w, "device_id", MX_DEVICE_ID);
	json_w_kstr(&w, "initial_device_display_name", "lettamx");
	return finish(r, &p, &w);
}

int mx_req_whoami(struct proto_req *r, const char *token)
{
	struct proto_buf p;

	start(r, PROTO_GET, token, &p);
	proto_buf_str(&p, CS "/account/whoami");
	return finish(r, &p, NULL);
}

int mx_req_versions(struct proto_req *r)
{
	struct proto_buf p;

	start(r, PROTO_GET, NULL, &p);
	proto_buf_str(&p, "/_matrix/client/versions");
	return finish(r, &p, NULL);
}

int mx_req_register(struct proto_req *r, int reg, const char *localpart,
                    const char *password, const char *regtoken,
                    const char *session)
{
	struct proto_buf p;
	struct json_w w;

	if (reg != MX_REG_DUMMY && reg != MX_REG_TOKEN)
		return ERR_INVAL;
	start(r, PROTO_POST, NULL, &p);
	proto_buf_str(&p, CS "/register?kind=user");
	body(r, &w);
	json_w_kstr(&w, "username", localpart);
	json_w_kstr(&w, "password", password);
	json_w_kstr(&w, "device_id", MX_DEVICE_ID);
	json_w_kstr(&w, "initial_device_display_name", "lettamx");
	/* Synapse checks a registration token against a UIA session: the
	 * first request (no auth) only asks for one. */
	if (reg == MX_REG_TOKEN && (!session || !*session))
		return finish(r, &p, &w);
	json_w_key(&w, "auth");
	json_w_obj(&w);
	if (reg == MX_REG_TOKEN) {
		json_w_kstr(&w, "type", "m.login.registration_token");
		json_w_kstr(&w, "token", regtoken ? regtoken : "");
	} else {
		json_w_kstr(&w, "type", "m.login.dummy");
	}
	if (session && *session)
		json_w_kstr(&w, "session", session);
	json_w_obj_end(&w);
	return finish(r, &p, &w);
}

int mx_req_register_as(struct proto_req *r, const char *as_token,
                       const char *localpart)
{
	struct proto_buf p;
	struct json_w w;

	start(r, PROTO_POST, as_token, &p);
	proto_buf_str(&p, CS "/register");
	body(r, &w);
	json_w_kstr(&w, "type", "m.login.application_service");
	json_w_kstr(&w, "username", localpart);
	json_w_kbool(&w, "inhibit_login", true);
	return finish(r, &p, &w);
}

int mx_req_ss_nonce(struct proto_req *r)
{
	struct proto_buf p;

	start(r, PROTO_GET, NULL, &p);
	proto_buf_str(&p, "/_synapse/admin/v1/register");
	return finish(r, &p, NULL);
}

int mx_req_ss_register(struct proto_req *r, const char *nonce,
                       const char *localpart, const char *password,
                       const char *mac)
{
	return mx_req_ss_register_as(r, nonce, localpart, password, mac, 0);
}

int mx_req_ss_register_as(struct proto_req *r, const char *nonce,
                          const char *localpart, const char *password,
                          const char *mac, int admin)
{
	struct proto_buf p;
	struct json_w w;

	start(r, PROTO_POST, NULL, &p);
	proto_buf_str(&p, "/_synapse/admin/v1/register");
	body(r, &w);
	json_w_kstr(&w, "nonce", nonce);
	json_w_kstr(&w, "username", localpart);
	json_w_kstr(&w, "password", password);
	json_w_kbool(&w, "admin", admin != 0);
	json_w_kstr(&w, "mac", mac);
	return finish(r, &p, &w);
}

/* Path prefix + one percent-encoded id, checked first: an id from the
 * network or the store must never reshape a path. */
static int path_id(struct proto_buf *p, const char *pre, const char *id,
                   char sigil)
{
	if (!ident_matrix_id_valid(id, sigil))
		return ERR_INVAL;
	proto_buf_str(p, pre);
	proto_buf_urlenc(p, id);
	return 0;
}

int mx_req_admin_user(struct proto_req *r, const char *token,
                      const char *user_id, const char *password,
                      const char *displayname)
{
	struct proto_buf p;
	struct json_w w;

	start(r, PROTO_PUT, token, &p);
	if (path_id(&p, "/_synapse/admin/v2/users/", user_id, '@'))
		return ERR_INVAL;
	body(r, &w);
	json_w_kstr(&w, "password", password);
	json_w_kstr(&w, "displayname", displayname);
	json_w_kbool(&w, "admin", false);
	json_w_kbool(&w, "deactivated", false);
	return finish(r, &p, &w);
}

/* GET or PUT /profile/<user>/<field>, a PUT with {field: value}. */
static int profile(struct proto_req *r, int method, const char *token,
                   const char *user_id, const char *field,
                   const char *value)
{
	struct proto_buf p;
	struct json_w w;

	start(r, method, token, &p);
	if (path_id(&p, CS "/profile/", user_id, '@'))
		return ERR_INVAL;
	proto_buf_str(&p, "/");
	proto_buf_str(&p, field);
	if (method == PROTO_GET)
		return finish(r, &p, NULL);
	body(r, &w);
	json_w_kstr(&w, field, value);
	return finish(r, &p, &w);
}

int mx_req_displayname(struct proto_req *r, const char *token,
                       const char *user_id, const char *name)
{
	return profile(r, PROTO_PUT, token, user_id, "displayname", name);
}

int mx_req_avatar(struct proto_req *r, const char *token,
                  const char *user_id, const char *mxc)
{
	return profile(r, PROTO_PUT, token, user_id, "avatar_url", mxc);
}

int mx_req_get_avatar(struct proto_req *r, const char *token,
                      const char *user_id)
{
	return profile(r, PROTO_GET, token, user_id, "avatar_url", NULL);
}

int mx_req_upload(struct proto_req *r, const char *token,
                  const char *filename, const uint8_t *data, size_t n,
                  const char *content_type)
{
	struct proto_buf p;

	start(r, PROTO_POST, token, &p);
	proto_buf_str(&p, "/_matrix/media/v3/upload?filename=");
	proto_buf_urlenc(&p, filename);
	if (p.err || !data || !n || !content_type)
		return p.err ? p.err : ERR_INVAL;
	r->raw = data;
	r->raw_len = n;
	r->raw_type = content_type;
	return 0;
}

int mx_req_joined_rooms(struct proto_req *r, const char *token)
{
	struct proto_buf p;

	start(r, PROTO_GET, token, &p);
	proto_buf_str(&p, CS "/joined_rooms");
	return finish(r, &p, NULL);
}

/* /rooms/<room>/state/<type>/<key>; an empty key keeps the final '/'. */
static int state_path(struct proto_buf *p, const char *room_id,
                      const char *type, const char *key)
{
	if (!*type || path_id(p, CS "/rooms/", room_id, '!'))
		return ERR_INVAL;
	proto_buf_str(p, "/state/");
	proto_buf_urlenc(p, type);
	proto_buf_add(p, "/", 1);
	proto_buf_urlenc(p, key);
	return 0;
}

int mx_req_state_get(struct proto_req *r, const char *token,
                     const char *room_id, const char *type, const char *key)
{
	struct proto_buf p;

	start(r, PROTO_GET, token, &p);
	if (state_path(&p, room_id, type, key))
		return ERR_INVAL;
	return finish(r, &p, NULL);
}

int mx_req_state_put(struct proto_req *r, const char *token,
                     const char *room_id, const char *type, const char *key,
                     const char *content)
{
	struct proto_buf p, b;

	start(r, PROTO_PUT, token, &p);
	if (state_path(&p, room_id, type, key))
		return ERR_INVAL;
	proto_buf_init(&b, r->body, sizeof r->body);
	proto_buf_str(&b, content);
	r->has_body = 1;
	r->body_len = b.len;
	return p.err ? p.err : b.err;
}

int mx_space_child_content(char *out, size_t cap, const char *via, int link)
{
	struct json_w w;

	json_w_init(&w, out, cap);
	json_w_obj(&w);
	if (link) {
		json_w_key(&w, "via");
		json_w_arr(&w);
		json_w_str(&w, via);
		json_w_arr_end(&w);
		json_w_kbool(&w, "suggested", true);
	}
	json_w_obj_end(&w);
	return json_w_finish(&w, NULL);
}

int mx_req_invite(struct proto_req *r, const char *token, const char *room_id,
                  const char *user_id)
{
	struct proto_buf p;
	struct json_w w;

	start(r, PROTO_POST, token, &p);
	if (path_id(&p, CS "/rooms/", room_id, '!') ||
	    !ident_matrix_id_valid(user_id, '@'))
		return ERR_INVAL;
	proto_buf_str(&p, "/invite");
	body(r, &w);
	json_w_kstr(&w, "user_id", user_id);
	return finish(r, &p, &w);
}

int mx_req_join(struct proto_req *r, const char *token, const char *room_id)
{
	struct proto_buf p;

	start(r, PROTO_POST, token, &p);
	if (path_id(&p, CS "/join/", room_id, '!'))
		return ERR_INVAL;
	return empty_body(r, &p);
}

int mx_req_leave(struct proto_req *r, const char *token, const char *room_id)
{
	struct proto_buf p;

	start(r, PROTO_POST, token, &p);
	if (path_id(&p, CS "/rooms/", room_id, '!'))
		return ERR_INVAL;
	proto_buf_str(&p, "/leave");
	return empty_body(r, &p);
}

int mx_req_send_notice(struct proto_req *r, const char *token,
                       const char *room_id, const char *txn_id,
                       const char *text)
{
	struct proto_buf p;
	struct json_w w;

	start(r, PROTO_PUT, token, &p);
	if (!*txn_id || path_id(&p, CS "/rooms/", room_id, '!'))
		return ERR_INVAL;
	proto_buf_str(&p, "/send/m.room.notice/");
	proto_buf_urlenc(&p, txn_id);
	body(r, &w);
	json_w_kstr(&w, "msgtype", "m.notice");
	json_w_kstr(&w, "body", text);
	return finish(r, &p, &w);
}

/* The i-th of first, more[0], more[1]... */
static const char *nth(const char *first, const char *const *more, size_t i)
{
	return i ? more[i - 1] : first;
}

/* "invite":[...] of valid, distinct user ids other than `self`. */
static int invites(struct json_w *w, const char *self, const char *first,
                   const char *const *more, size_t nmore)
{
	json_w_key(w, "invite");
	json_w_arr(w);
	for (size_t i = 0; i <= nmore; i++) {
		const char *u = nth(first, more, i);
		int dup = 0;

		if (!u)
			continue;
		if (!ident_matrix_id_valid(u, '@'))
			return ERR_INVAL;
		for (size_t k = 0; k < i && !dup; k++)
			dup = nth(first, more, k) &&
			      !strcmp(nth(first, more, k), u);
		if (!dup && !(self && !strcmp(u, self)))
			json_w_str(w, u);
	}
	json_w_arr_end(w);
	return 0;
}

/* One state event of an initial_state list with content {key: val}. */
static void state1(struct json_w *w, const char *type, const char *key,
                   const char *val)
{
	json_w_obj(w);
	json_w_kstr(w, "type", type);
	json_w_kstr(w, "state_key", "");
	json_w_key(w, "content");
	json_w_obj(w);
	json_w_kstr(w, key, val);
	json_w_obj_end(w);
	json_w_obj_end(w);
}

/* State every room and the Space share: no guests, history shared. */
static void common_state(struct json_w *w)
{
	state1(w, "m.room.guest_access", "guest_access", "forbidden");
	state1(w, "m.room.history_visibility", "history_visibility", "shared");
}

int mx_req_create_space(struct proto_req *r, const char *token,
                        const char *name, const char *const *invite,
                        size_t ninvite, const char *install,
                        const char *bot)
{
	struct proto_buf p;
	struct json_w w;

	start(r, PROTO_POST, token, &p);
	proto_buf_str(&p, CS "/createRoom");
	body(r, &w);
	json_w_kstr(&w, "name", name);
	json_w_kstr(&w, "preset", "private_chat");
	json_w_kstr(&w, "visibility", "private");
	json_w_key(&w, "creation_content");
	json_w_obj(&w);
	json_w_kstr(&w, "type", "m.space");
	json_w_obj_end(&w);
	if (invites(&w, NULL, NULL, invite, ninvite))
		return ERR_INVAL;
	json_w_key(&w, "initial_state");
	json_w_arr(&w);
	json_w_obj(&w);
	json_w_kstr(&w, "type", MX_SPACE_TYPE);
	json_w_kstr(&w, "state_key", "");
	json_w_key(&w, "content");
	json_w_obj(&w);
	json_w_kint(&w, "v", MX_MARKER_V);
	if (install && bot) {
		json_w_kstr(&w, MX_SPACE_K_INSTALL, install);
		json_w_kstr(&w, MX_SPACE_K_BOT, bot);
	}
	json_w_obj_end(&w);
	json_w_obj_end(&w);
	common_state(&w);
	json_w_arr_end(&w);
	/* Only the bot (creator, 100) arranges the Space's children. */
	json_w_key(&w, "power_level_content_override");
	json_w_obj(&w);
	json_w_kint(&w, "events_default", 100);
	json_w_obj_end(&w);
	return finish(r, &p, &w);
}

static void marker_and_parent(struct json_w *w, const struct mx_room_spec *s)
{
	json_w_obj(w);
	json_w_kstr(w, "type", MX_MARKER_TYPE);
	json_w_kstr(w, "state_key", "");
	json_w_key(w, "content");
	json_w_obj(w);
	json_w_kstr(w, "agent_id", s->agent_id);
	json_w_kint(w, "v", MX_MARKER_V);
	json_w_obj_end(w);
	json_w_obj_end(w);
	if (!s->space_id)
		return;
	json_w_obj(w);
	json_w_kstr(w, "type", "m.space.parent");
	json_w_kstr(w, "state_key", s->space_id);
	json_w_key(w, "content");
	json_w_obj(w);
	json_w_key(w, "via");
	json_w_arr(w);
	json_w_str(w, s->via);
	json_w_arr_end(w);
	json_w_kbool(w, "canonical", true);
	json_w_obj_end(w);
	json_w_obj_end(w);
}

int mx_req_create_room(struct proto_req *r, const char *token,
                       const struct mx_room_spec *s)
{
	struct proto_buf p;
	struct json_w w;

	start(r, PROTO_POST, token, &p);
	if (!ident_agent_id_valid(s->agent_id) ||
	    !ident_matrix_id_valid(s->agent_user, '@') ||
	    !ident_matrix_id_valid(s->bot_user, '@') ||
	    (s->space_id && !ident_matrix_id_valid(s->space_id, '!')))
		return ERR_INVAL;
	proto_buf_str(&p, CS "/createRoom");
	body(r, &w);
	json_w_kstr(&w, "name", s->name);
	if (s->topic && *s->topic)
		json_w_kstr(&w, "topic", s->topic);
	json_w_kstr(&w, "preset", "private_chat");
	json_w_kstr(&w, "visibility", "private");
	if (s->restricted && !s->space_id)
		return ERR_INVAL;
	if (s->restricted)      /* restricted join rules: version 8+ */
		json_w_kstr(&w, "room_version", MX_RESTRICTED_VERSION);
	/* Restricted rooms: people come through the Space, not invites. */
	if (invites(&w, s->agent_user, s->bot_user, s->invite,
	            s->restricted ? 0 : s->ninvite))
		return ERR_INVAL;
	json_w_key(&w, "initial_state");
	json_w_arr(&w);
	marker_and_parent(&w, s);
	if (s->restricted)
		mx_i_restricted_rule(&w, s->space_id);
	common_state(&w);
	json_w_arr_end(&w);
	json_w_key(&w, "power_level_content_override");
	json_w_obj(&w);
	json_w_key(&w, "users");
	json_w_obj(&w);
	json_w_kint(&w, s->agent_user, 100);
	json_w_kint(&w, s->bot_user, 100);
	json_w_obj_end(&w);
	json_w_obj_end(&w);
	return finish(r, &p, &w);
}

/* For matrix_admin.c (matrix_int.h): the same request helpers. */
void mx_i_start(struct proto_req *r, int method, const char *token,
                struct proto_buf *path)
{
	start(r, method, token, path);
}

void mx_i_body(struct proto_req *r, struct json_w *w)
{
	body(r, w);
}

int mx_i_finish(struct proto_req *r, const struct proto_buf *path,
                struct json_w *w)
{
	return finish(r, path, w);
}

int mx_i_path_id(struct proto_buf *p, const char *pre, const char *id,
                 char sigil)
{
	return path_id(p, pre, id, sigil);
}

int mx_i_ok_obj(const struct proto_resp *resp, struct json *j,
                struct mx_error *e)
{
	return ok_obj(resp, j, e);
}

/* ---- parsing ---- */

int mx_ok(const struct proto_resp *resp)
{
	return resp->status >= 200 && resp->status < 300;
}

/* Parses resp's body as a JSON object into `j` (set up here; the caller
 * frees it whatever this returns). Returns 0, ERR_PROTO, ERR_NOMEM. */
static int parse_obj(struct json *j, const struct proto_resp *resp)
{
	int r;

	json_init(j);
	r = json_parse(j, resp->body, resp->len);
	if (r == ERR_NOMEM)
		return r;
	return r || json_type(j, 0) != JSON_OBJ ? ERR_PROTO : 0;
}

int mx_error_parse(const struct proto_resp *resp, struct mx_error *e)
{
	struct json j;
	int64_t ms;
	int cut;

	memset(e, 0, sizeof *e);
	e->status = resp->status;
	e->retry_after_ms = resp->retry_after_ms;
	if (resp->status == 0) {
		e->neterr = resp->neterr;
		snprintf(e->cause, sizeof e->cause, "%s",
		         resp->reason ? resp->reason : "");
		return ERR_CLOSED;
	}
	if (!parse_obj(&j, resp)) {
		if (json_get_str(&j, 0, "errcode", e->errcode,
		                 sizeof e->errcode))
			e->errcode[0] = '\0';
		if (proto_str_cut(&j, json_get(&j, 0, "error"), e->error,
		                  sizeof e->error, &cut) < 0)
			e->error[0] = '\0';
		/* Both given (newer servers): the larger, so we never come
		 * back before either says. */
		if (!json_get_int(&j, 0, "retry_after_ms", 0, INT64_MAX, &ms) &&
		    ms > e->retry_after_ms)
			e->retry_after_ms = ms;
	}
	json_free(&j);
	if (resp->status == 404 || mx_error_is(e, "M_NOT_FOUND"))
		return ERR_NOTFOUND;
	return ERR_HTTP;
}

int mx_error_is(const struct mx_error *e, const char *code)
{
	return !strcmp(e->errcode, code);
}

int64_t mx_retry_delay_ms(const struct mx_error *e, int attempt)
{
	int64_t d = LIM_MX_BACKOFF_MS;

	/* A certificate or a name that failed will not fix itself. */
	if (e->status == 0 && (e->neterr == ERR_TLS || e->neterr == ERR_DNS))
		return -1;
	/* A 429 is pacing: exactly what the server said, never less (a
	 * cap below it would only earn another 429). */
	if (e->status == 429 && e->retry_after_ms >= 0)
		return e->retry_after_ms > LIM_MX_RL_MAX_MS ? LIM_MX_RL_MAX_MS
		                                            : e->retry_after_ms;
	else if (e->status == 429 || e->status == 0 || e->status >= 500)
		for (int i = 0; i < attempt && d < LIM_MX_BACKOFF_MAX_MS; i++)
			d *= 2;
	else
		return -1;
	return d > LIM_MX_BACKOFF_MAX_MS ? LIM_MX_BACKOFF_MAX_MS : d;
}

void mx_error_msg(const struct mx_error *e, char *out, size_t cap)
{
	if (e->status == 0 && e->cause[0])
		snprintf(out, cap, "%s", e->cause);
	else if (e->status == 0)
		snprintf(out, cap, "no answer from the homeserver");
	else if (e->errcode[0])
		snprintf(out, cap, "HTTP %d %s: %s", e->status, e->errcode,
		         e->error);
	else
		snprintf(out, cap, "HTTP %d", e->status);
}

/* Reads the string at `key` of object 0 into out; an id must pass
 * ident_matrix_id_valid with `sigil` (0: any string). */
static int get_str(const struct json *j, const char *key, char *out,
                   size_t cap, char sigil)
{
	if (json_get_str(j, 0, key, out, cap))
		return ERR_PROTO;
	if (sigil && !ident_matrix_id_valid(out, sigil))
		return ERR_PROTO;
	return 0;
}

/* Common head of the parsers: an error status fills `e`; a 2xx body is
 * parsed into `j`. */
static int ok_obj(const struct proto_resp *resp, struct json *j,
                  struct mx_error *e)
{
	int r;

	json_init(j);
	if (!mx_ok(resp))
		return mx_error_parse(resp, e);
	memset(e, 0, sizeof *e);
	e->status = resp->status;
	e->retry_after_ms = -1;
	r = parse_obj(j, resp);
	if (r)
		json_free(j);
	return r;
}

int mx_login_parse(const struct proto_resp *resp, struct mx_login *out,
                   struct mx_error *e)
{
	struct json j;
	int r = ok_obj(resp, &j, e);

	memset(out, 0, sizeof *out);
	if (r)
		return r;
	r = get_str(&j, "user_id", out->user_id, sizeof out->user_id, '@');
	if (!r && get_str(&j, "access_token", out->access_token,
	                  sizeof out->access_token, 0))
		out->access_token[0] = '\0';
	if (!r && get_str(&j, "device_id", out->device_id,
	                  sizeof out->device_id, 0))
		out->device_id[0] = '\0';
	json_free(&j);
	return r;
}

int mx_whoami_parse(const struct proto_resp *resp, char *user_id,
                    struct mx_error *e)
{
	struct json j;
	int r = ok_obj(resp, &j, e);

	if (r)
		return r;
	r = get_str(&j, "user_id", user_id, IDENT_MXID_MAX + 1, '@');
	json_free(&j);
	return r;
}

static unsigned flow_stages(const struct json *j, int flow)
{
	int st = json_get(j, flow, "stages");

	if (json_type(j, st) != JSON_ARR || json_count(j, st) != 1)
		return MX_STAGE_OTHER;
	if (json_str_eq(j, st + 1, "m.login.dummy"))
		return MX_STAGE_DUMMY;
	if (json_str_eq(j, st + 1, "m.login.registration_token"))
		return MX_STAGE_TOKEN;
	return MX_STAGE_OTHER;
}

int mx_uia_parse(const struct proto_resp *resp, struct mx_uia *u)
{
	struct json j;
	int flows, r = ERR_PROTO;

	memset(u, 0, sizeof *u);
	json_init(&j);
	if (resp->status == 401 && !parse_obj(&j, resp) &&
	    json_type(&j, flows = json_get(&j, 0, "flows")) == JSON_ARR) {
		for (int f = json_arr_first(&j, flows); f >= 0;
		     f = json_arr_next(&j, flows, f))
			u->stages |= flow_stages(&j, f);
		if (get_str(&j, "session", u->session, sizeof u->session, 0))
			u->session[0] = '\0';
		r = 0;
	}
	json_free(&j);
	return r;
}

int mx_nonce_parse(const struct proto_resp *resp, char *nonce,
                   struct mx_error *e)
{
	struct json j;
	int r = ok_obj(resp, &j, e);

	if (r)
		return r;
	r = get_str(&j, "nonce", nonce, LIM_MX_NONCE, 0);
	json_free(&j);
	return r;
}

int mx_joined_rooms_parse(const struct proto_resp *resp,
                          int (*fn)(void *arg, const char *room_id),
                          void *arg, struct mx_error *e)
{
	struct json j;
	char id[IDENT_MXID_MAX + 1];
	int r = ok_obj(resp, &j, e), arr;

	if (r)
		return r;
	arr = json_get(&j, 0, "joined_rooms");
	if (json_type(&j, arr) != JSON_ARR) {
		json_free(&j);
		return ERR_PROTO;
	}
	for (int i = json_arr_first(&j, arr); i >= 0 && !r;
	     i = json_arr_next(&j, arr, i)) {
		/* an element we cannot use is skipped, never guessed at */
		if (json_str(&j, i, id, sizeof id) ||
		    !ident_matrix_id_valid(id, '!'))
			continue;
		r = fn(arg, id);
	}
	json_free(&j);
	return r;
}

/* "mxc://server/id", each part non-empty and without '/'. */
static int mxc_ok(const char *s)
{
	const char *id;

	if (strncmp(s, "mxc://", 6) || !(id = strchr(s + 6, '/')) ||
	    id == s + 6 || !id[1] || strchr(id + 1, '/'))
		return 0;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return 0;
	return 1;
}

int mx_upload_parse(const struct proto_resp *resp, char *mxc, size_t cap,
                    struct mx_error *e)
{
	struct json j;
	int r = ok_obj(resp, &j, e);

	if (r)
		return r;
	r = get_str(&j, "content_uri", mxc, cap, 0);
	if (!r && !mxc_ok(mxc))
		r = ERR_PROTO;
	json_free(&j);
	return r;
}

int mx_avatar_parse(const struct proto_resp *resp, char *mxc, size_t cap,
                    struct mx_error *e)
{
	struct json j;
	int r = ok_obj(resp, &j, e);

	if (cap)
		mxc[0] = '\0';
	if (r)
		return r;
	/* {} or null: none; anything but an mxc URI counts as none */
	if (json_get_str(&j, 0, "avatar_url", mxc, cap) || !mxc_ok(mxc))
		mxc[0] = '\0';
	json_free(&j);
	return 0;
}

int mx_room_id_parse(const struct proto_resp *resp, char *room_id,
                     struct mx_error *e)
{
	struct json j;
	int r = ok_obj(resp, &j, e);

	if (r)
		return r;
	r = get_str(&j, "room_id", room_id, IDENT_MXID_MAX + 1, '!');
	json_free(&j);
	return r;
}

int mx_marker_parse(const struct proto_resp *resp, char *agent_id,
                    struct mx_error *e)
{
	struct json j;
	int64_t v = MX_MARKER_V;
	int r = ok_obj(resp, &j, e), vi;

	if (r)
		return r;
	vi = json_get(&j, 0, "v");
	if (vi >= 0 && json_int(&j, vi, 0, INT32_MAX, &v))
		r = ERR_PROTO;
	else if (v > MX_MARKER_V)
		r = ERR_VERSION;
	else if (json_get(&j, 0, "agent_id") < 0)
		r = ERR_NOTFOUND;       /* content cleared: no marker */
	else if (get_str(&j, "agent_id", agent_id, IDENT_AGENT_ID_MAX + 1, 0) ||
	         !ident_agent_id_valid(agent_id))
		r = ERR_PROTO;
	json_free(&j);
	return r;
}

int mx_tombstone_parse(const struct proto_resp *resp, struct mx_error *e)
{
	struct json j;
	int r = ok_obj(resp, &j, e);

	if (r == ERR_NOTFOUND)
		return 0;
	if (r)
		return r;
	/* cleared content ({}) is no tombstone */
	r = json_get(&j, 0, "replacement_room") >= 0;
	json_free(&j);
	return r;
}
