#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "core/json.h"
#include "matrix/matrix.h"

#define AG "agent-6f1c2b9e-0d4a-4c1e-9a57-2f3b8c0d1e2a"
#define AU "@letta_" AG ":localhost"
#define BOT "@bot:localhost"
#define ROOM "!zvjyMMZzogKCvZeBgQ:localhost"
#define SPACE "!svaYHTAEsmlLduQpvA:localhost"

static struct proto_resp resp(int status, const char *body)
{
	struct proto_resp r = { status, -1, body, strlen(body), 0, NULL };
	return r;
}

/* The request's body must be one well-formed JSON object. */
static int body_is_json(const struct proto_req *r)
{
	struct json j;
	int ok;

	json_init(&j);
	ok = r->has_body && strlen(r->body) == r->body_len &&
	     !json_parse(&j, r->body, r->body_len) &&
	     json_type(&j, 0) == JSON_OBJ;
	json_free(&j);
	return ok;
}

static void test_reg_names(void)
{
	CHECK_EQ(mx_reg_parse("token"), MX_REG_TOKEN);
	CHECK_EQ(mx_reg_parse("shared-secret"), MX_REG_SHARED_SECRET);
	CHECK_EQ(mx_reg_parse("admin-api"), MX_REG_ADMIN_API);
	CHECK_EQ(mx_reg_parse("dummy"), MX_REG_DUMMY);
	CHECK_EQ(mx_reg_parse("Dummy"), ERR_CONFIG);
	CHECK_EQ(mx_reg_parse(NULL), ERR_CONFIG);
	CHECK_STR(mx_reg_name(MX_REG_ADMIN_API), "admin-api");
}

static void test_login_and_register_requests(void)
{
	struct proto_req r;

	CHECK_EQ(mx_req_login(&r, "letta_x", "p\"w"), 0);
	CHECK_STR(proto_method_str(r.method), "POST");
	CHECK_STR(r.path, "/_matrix/client/v3/login");
	CHECK_STR(r.bearer, "");
	CHECK(body_is_json(&r));
	CHECK(strstr(r.body, "\"password\":\"p\\\"w\"") != NULL);
	CHECK(strstr(r.body, "\"device_id\":\"LETTAMX\"") != NULL);
	CHECK_EQ(mx_req_login(&r, "x", "bad \xff"), ERR_UTF8);

	CHECK_EQ(mx_req_register(&r, MX_REG_DUMMY, "u", "pw", NULL, NULL), 0);
	CHECK_STR(r.path, "/_matrix/client/v3/register?kind=user");
	CHECK(body_is_json(&r));
	CHECK(strstr(r.body, "\"auth\":{\"type\":\"m.login.dummy\"}") != NULL);
	CHECK_EQ(mx_req_register(&r, MX_REG_TOKEN, "u", "pw", "T", NULL), 0);
	CHECK(body_is_json(&r));
	CHECK(strstr(r.body, "\"auth\"") == NULL);    /* asks for a session */
	CHECK_EQ(mx_req_register(&r, MX_REG_TOKEN, "u", "pw", "T", "S"), 0);
	CHECK(body_is_json(&r));
	CHECK(strstr(r.body, "\"auth\":{\"type\":\"m.login.registration_token\","
	             "\"token\":\"T\",\"session\":\"S\"}") != NULL);
	CHECK_EQ(mx_req_register(&r, MX_REG_ADMIN_API, "u", "pw", 0, 0), ERR_INVAL);

	CHECK_EQ(mx_req_ss_nonce(&r), 0);
	CHECK_STR(r.path, "/_synapse/admin/v1/register");
	CHECK_EQ(mx_req_ss_register(&r, "N", "u", "pw", "abc"), 0);
	CHECK(body_is_json(&r));
	CHECK(strstr(r.body, "\"admin\":false") != NULL);

	CHECK_EQ(mx_req_admin_user(&r, "tok", AU, "pw", "Help desk"), 0);
	CHECK_STR(proto_method_str(r.method), "PUT");
	CHECK_STR(r.path, "/_synapse/admin/v2/users/%40letta_" AG "%3Alocalhost");
	CHECK_STR(r.bearer, "tok");
	CHECK(body_is_json(&r));
	CHECK_EQ(mx_req_admin_user(&r, "tok", "@a/../b:x", "pw", "n"), 0);
	CHECK_STR(r.path, "/_synapse/admin/v2/users/%40a%2F..%2Fb%3Ax");
	CHECK_EQ(mx_req_admin_user(&r, "tok", "@a b:x", "pw", "n"), ERR_INVAL);
}

static void test_room_requests_encode_ids(void)
{
	struct proto_req r;
	char c[256];

	CHECK_EQ(mx_req_join(&r, "t", ROOM), 0);
	CHECK_STR(r.path, "/_matrix/client/v3/join/%21zvjyMMZzogKCvZeBgQ%3Alocalhost");
	CHECK_STR(r.body, "{}");
	CHECK_EQ(mx_req_leave(&r, "t", ROOM), 0);
	CHECK_STR(r.path, "/_matrix/client/v3/rooms/%21zvjyMMZzogKCvZeBgQ%3Alocalhost/leave");
	CHECK_EQ(mx_req_invite(&r, "t", ROOM, BOT), 0);
	CHECK_STR(r.body, "{\"user_id\":\"@bot:localhost\"}");
	CHECK_EQ(mx_req_invite(&r, "t", ROOM, "bot"), ERR_INVAL);
	CHECK_EQ(mx_req_join(&r, "t", "#alias:localhost"), ERR_INVAL);
	CHECK_EQ(mx_req_state_get(&r, "t", ROOM, MX_MARKER_TYPE, ""), 0);
	CHECK_STR(r.path, "/_matrix/client/v3/rooms/%21zvjyMMZzogKCvZeBgQ%3Alocalhost"
	          "/state/org.lettamx.agent/");
	CHECK_EQ(mx_space_child_content(c, sizeof c, "localhost", 1), 0);
	CHECK_STR(c, "{\"via\":[\"localhost\"],\"suggested\":true}");
	CHECK_EQ(mx_req_state_put(&r, "t", SPACE, "m.space.child", ROOM, c), 0);
	CHECK_STR(r.path, "/_matrix/client/v3/rooms/%21svaYHTAEsmlLduQpvA%3Alocalhost"
	          "/state/m.space.child/%21zvjyMMZzogKCvZeBgQ%3Alocalhost");
	CHECK(body_is_json(&r));
	CHECK_EQ(mx_space_child_content(c, sizeof c, "localhost", 0), 0);
	CHECK_STR(c, "{}");
	CHECK_EQ(mx_req_displayname(&r, "t", AU, "Helpdesk \xe2\x9c\x93"), 0);
	CHECK_STR(r.path, "/_matrix/client/v3/profile/%40letta_" AG
	          "%3Alocalhost/displayname");
	CHECK_EQ(mx_req_joined_rooms(&r, "t"), 0);
	CHECK_STR(r.path, "/_matrix/client/v3/joined_rooms");
	CHECK_EQ(r.has_body, 0);
}

static void test_create_room_body(void)
{
	static const char *const people[] = { "@alice:localhost", BOT,
	                                      "@alice:localhost", AU };
	struct mx_room_spec s = {
		.agent_id = AG, .name = "Help \"desk\"", .topic = "IT",
		.agent_user = AU, .bot_user = BOT, .space_id = SPACE,
		.via = "localhost", .invite = people, .ninvite = 4,
	};
	struct proto_req r;
	struct json j;
	int st, inv, pl, ev;
	char agent[64];

	CHECK_EQ(mx_req_create_room(&r, "t", &s), 0);
	CHECK_STR(r.path, "/_matrix/client/v3/createRoom");
	json_init(&j);
	CHECK_EQ(json_parse(&j, r.body, r.body_len), 0);
	CHECK(json_str_eq(&j, json_get(&j, 0, "name"), "Help \"desk\""));
	CHECK(json_str_eq(&j, json_get(&j, 0, "topic"), "IT"));
	CHECK(json_str_eq(&j, json_get(&j, 0, "preset"), "private_chat"));
	inv = json_get(&j, 0, "invite");
	CHECK_EQ(json_count(&j, inv), 2);   /* the bot, alice; no dups, not self */
	CHECK(json_str_eq(&j, json_arr_first(&j, inv), BOT));
	CHECK(json_str_eq(&j, json_arr_next(&j, inv, json_arr_first(&j, inv)),
	                  "@alice:localhost"));
	st = json_get(&j, 0, "initial_state");
	CHECK_EQ(json_count(&j, st), 4);
	ev = json_arr_first(&j, st);
	CHECK(json_str_eq(&j, json_get(&j, ev, "type"), MX_MARKER_TYPE));
	CHECK_EQ(json_get_str(&j, json_get(&j, ev, "content"), "agent_id",
	                      agent, sizeof agent), 0);
	CHECK_STR(agent, AG);
	ev = json_arr_next(&j, st, ev);
	CHECK(json_str_eq(&j, json_get(&j, ev, "type"), "m.space.parent"));
	CHECK(json_str_eq(&j, json_get(&j, ev, "state_key"), SPACE));
	pl = json_get(&j, json_get(&j, 0, "power_level_content_override"),
	              "users");
	CHECK_EQ(json_count(&j, pl), 2);
	CHECK(json_get(&j, pl, AU) > 0);
	/* never asks for encryption */
	CHECK(strstr(r.body, "m.room.encryption") == NULL);
	json_free(&j);

	/* access = space: restricted to the Space's members, version 9,
	 * only the bot invited */
	s.restricted = 1;
	CHECK_EQ(mx_req_create_room(&r, "t", &s), 0);
	json_init(&j);
	CHECK_EQ(json_parse(&j, r.body, r.body_len), 0);
	CHECK(json_str_eq(&j, json_get(&j, 0, "room_version"), "9"));
	inv = json_get(&j, 0, "invite");
	CHECK_EQ(json_count(&j, inv), 1);
	CHECK(json_str_eq(&j, json_arr_first(&j, inv), BOT));
	json_free(&j);
	CHECK(strstr(r.body, "{\"type\":\"m.room.join_rules\",\"state_key\":"
	             "\"\",\"content\":{\"join_rule\":\"restricted\",\"allow\":"
	             "[{\"type\":\"m.room_membership\",\"room_id\":\"" SPACE
	             "\"}]}}") != NULL);
	s.space_id = NULL;
	CHECK_EQ(mx_req_create_room(&r, "t", &s), ERR_INVAL);
	s.restricted = 0;

	s.space_id = NULL;
	s.topic = "";
	CHECK_EQ(mx_req_create_room(&r, "t", &s), 0);
	CHECK(body_is_json(&r));
	CHECK(strstr(r.body, "m.space.parent") == NULL);
	CHECK(strstr(r.body, "\"topic\"") == NULL);
	s.agent_id = "helpdesk";
	CHECK_EQ(mx_req_create_room(&r, "t", &s), ERR_INVAL);
}

static void test_create_room_too_big(void)
{
	static char topic[LIM_PROTO_BODY];
	struct mx_room_spec s = {
		.agent_id = AG, .name = "n", .topic = topic, .agent_user = AU,
		.bot_user = BOT, .via = "localhost",
	};
	struct proto_req r;

	memset(topic, 'x', sizeof topic - 1);
	CHECK_EQ(mx_req_create_room(&r, "t", &s), ERR_TOOBIG);
}

static void test_create_space_body(void)
{
	static const char *const people[] = { "@alice:localhost" };
	struct proto_req r;

	CHECK_EQ(mx_req_create_space(&r, "t", "Letta Agents", people, 1,
	                             "0123abcd0123abcd", "@bot:localhost"), 0);
	CHECK(strstr(r.body, "\"install\":\"0123abcd0123abcd\",\"bot\":\"@bot:localhost\"") != NULL);
	CHECK(body_is_json(&r));
	CHECK(strstr(r.body, "\"creation_content\":{\"type\":\"m.space\"}") != NULL);
	CHECK(strstr(r.body, MX_SPACE_TYPE) != NULL);
	CHECK(strstr(r.body, "\"invite\":[\"@alice:localhost\"]") != NULL);
}

static void test_errors_and_retry(void)
{
	struct mx_error e;
	struct proto_resp r;
	char msg[512];

	r = resp(401, "{\"errcode\":\"M_UNKNOWN_TOKEN\",\"error\":\"Invalid "
	         "access token passed.\",\"soft_logout\":false}");
	CHECK_EQ(mx_error_parse(&r, &e), ERR_HTTP);
	CHECK(mx_error_is(&e, "M_UNKNOWN_TOKEN"));
	CHECK_EQ(mx_retry_delay_ms(&e, 0), -1);
	mx_error_msg(&e, msg, sizeof msg);
	CHECK_STR(msg, "HTTP 401 M_UNKNOWN_TOKEN: Invalid access token passed.");

	r = resp(429, "{\"errcode\":\"M_LIMIT_EXCEEDED\",\"error\":\"Too Many "
	         "Requests\",\"retry_after_ms\":1500}");
	r.retry_after_ms = 2000;
	CHECK_EQ(mx_error_parse(&r, &e), ERR_HTTP);
	CHECK_EQ(e.retry_after_ms, 2000);       /* the larger of both */
	CHECK_EQ(mx_retry_delay_ms(&e, 3), 2000);
	r = resp(429, "{\"errcode\":\"M_LIMIT_EXCEEDED\"}");
	r.retry_after_ms = 2000;
	mx_error_parse(&r, &e);
	CHECK_EQ(mx_retry_delay_ms(&e, 0), 2000);
	r = resp(429, "{\"errcode\":\"M_LIMIT_EXCEEDED\","
	         "\"retry_after_ms\":999999999}");
	mx_error_parse(&r, &e);
	CHECK_EQ(mx_retry_delay_ms(&e, 0), LIM_MX_RL_MAX_MS);
	r = resp(429, "{\"errcode\":\"M_LIMIT_EXCEEDED\","
	         "\"retry_after_ms\":1500}");
	r.retry_after_ms = 3000;        /* both: the larger, never early */
	mx_error_parse(&r, &e);
	CHECK_EQ(mx_retry_delay_ms(&e, 0), 3000);
	r = resp(429, "not json");
	mx_error_parse(&r, &e);
	CHECK_EQ(mx_retry_delay_ms(&e, 0), LIM_MX_BACKOFF_MS);
	CHECK_EQ(mx_retry_delay_ms(&e, 2), 4 * LIM_MX_BACKOFF_MS);
	CHECK_EQ(mx_retry_delay_ms(&e, 60), LIM_MX_BACKOFF_MAX_MS);

	r = resp(502, "<html>");
	CHECK_EQ(mx_error_parse(&r, &e), ERR_HTTP);
	CHECK_STR(e.errcode, "");
	CHECK_EQ(mx_retry_delay_ms(&e, 1), 2 * LIM_MX_BACKOFF_MS);
	r = resp(0, "");
	CHECK_EQ(mx_error_parse(&r, &e), ERR_CLOSED);
	CHECK_EQ(mx_retry_delay_ms(&e, 0), LIM_MX_BACKOFF_MS);
	r = resp(404, "{\"errcode\":\"M_NOT_FOUND\",\"error\":\"Event not found.\"}");
	CHECK_EQ(mx_error_parse(&r, &e), ERR_NOTFOUND);
	r = resp(403, "{\"errcode\":\"M_FORBIDDEN\"}");
	mx_error_parse(&r, &e);
	CHECK_EQ(mx_retry_delay_ms(&e, 0), -1);
}

static void test_login_parse(void)
{
	struct mx_login l;
	struct mx_error e;
	struct proto_resp r;
	char who[300];

	r = resp(200, "{\"user_id\":\"@agent_a7cd2f:localhost\",\"access_token\":"
	         "\"syt_abc\",\"home_server\":\"localhost\",\"device_id\":\"ZRN\","
	         "\"well_known\":{\"m.homeserver\":{\"base_url\":\"http://x/\"}}}");
	CHECK_EQ(mx_login_parse(&r, &l, &e), 0);
	CHECK_STR(l.user_id, "@agent_a7cd2f:localhost");
	CHECK_STR(l.access_token, "syt_abc");
	CHECK_STR(l.device_id, "ZRN");
	r = resp(200, "{\"user_id\":\"@u:localhost\",\"home_server\":\"localhost\"}");
	CHECK_EQ(mx_login_parse(&r, &l, &e), 0);
	CHECK_STR(l.access_token, "");
	r = resp(200, "{\"user_id\":\"nobody\"}");
	CHECK_EQ(mx_login_parse(&r, &l, &e), ERR_PROTO);
	r = resp(403, "{\"errcode\":\"M_FORBIDDEN\",\"error\":\"Invalid username or password\"}");
	CHECK_EQ(mx_login_parse(&r, &l, &e), ERR_HTTP);
	CHECK(mx_error_is(&e, "M_FORBIDDEN"));
	r = resp(200, "{\"user_id\":\"@agent_a7cd2f:localhost\",\"is_guest\":false}");
	CHECK_EQ(mx_whoami_parse(&r, who, &e), 0);
	CHECK_STR(who, "@agent_a7cd2f:localhost");
}

static void test_uia_and_diagnosis(void)
{
	struct mx_uia u;
	struct mx_error e;
	struct proto_resp r;
	char msg[512];

	r = resp(401, "{\"session\":\"oKnZ\",\"flows\":[{\"stages\":"
	         "[\"m.login.dummy\"]}],\"params\":{}}");
	CHECK_EQ(mx_uia_parse(&r, &u), 0);
	CHECK_STR(u.session, "oKnZ");
	CHECK_EQ(u.stages, MX_STAGE_DUMMY);
	mx_error_parse(&r, &e);
	CHECK_EQ(mx_reg_diagnose(MX_REG_TOKEN, &e, &u, msg, sizeof msg), MX_DIAG_MODE);
	CHECK(strstr(msg, "registration = dummy") != NULL);

	r = resp(401, "{\"session\":\"s\",\"flows\":[{\"stages\":[\"m.login."
	         "registration_token\"]},{\"stages\":[\"m.login.email.identity\","
	         "\"m.login.dummy\"]}],\"errcode\":\"M_FORBIDDEN\"}");
	CHECK_EQ(mx_uia_parse(&r, &u), 0);
	CHECK_EQ(u.stages, MX_STAGE_TOKEN | MX_STAGE_OTHER);
	mx_error_parse(&r, &e);
	CHECK_EQ(mx_reg_diagnose(MX_REG_DUMMY, &e, &u, msg, sizeof msg), MX_DIAG_MODE);
	CHECK(strstr(msg, "registration = token") != NULL);
	CHECK_EQ(mx_reg_diagnose(MX_REG_TOKEN, &e, &u, msg, sizeof msg), MX_DIAG_MODE);
	CHECK(strstr(msg, "registration_token_file") != NULL);

	r = resp(403, "{\"errcode\":\"M_FORBIDDEN\",\"error\":\"Registration has been disabled\"}");
	mx_error_parse(&r, &e);
	CHECK_EQ(mx_reg_diagnose(MX_REG_DUMMY, &e, NULL, msg, sizeof msg), MX_DIAG_MODE);
	CHECK(strstr(msg, "disabled") != NULL);

	r = resp(400, "{\"errcode\":\"M_USER_IN_USE\",\"error\":\"User ID already taken.\"}");
	mx_error_parse(&r, &e);
	CHECK_EQ(mx_reg_diagnose(MX_REG_DUMMY, &e, NULL, msg, sizeof msg), MX_DIAG_AGENT);
	CHECK(strstr(msg, "master secret") != NULL);

	r = resp(400, "{\"errcode\":\"M_UNRECOGNIZED\",\"error\":\"Unrecognized request\"}");
	mx_error_parse(&r, &e);
	CHECK_EQ(mx_reg_diagnose(MX_REG_SHARED_SECRET, &e, NULL, msg, sizeof msg), MX_DIAG_MODE);
	CHECK(strstr(msg, "Synapse") != NULL);
	r = resp(400, "{\"errcode\":\"M_UNKNOWN\",\"error\":\"Shared secret registration is not enabled\"}");
	mx_error_parse(&r, &e);
	CHECK_EQ(mx_reg_diagnose(MX_REG_SHARED_SECRET, &e, NULL, msg, sizeof msg), MX_DIAG_MODE);
	r = resp(403, "{\"errcode\":\"M_FORBIDDEN\",\"error\":\"You are not a server admin\"}");
	mx_error_parse(&r, &e);
	CHECK_EQ(mx_reg_diagnose(MX_REG_ADMIN_API, &e, NULL, msg, sizeof msg), MX_DIAG_MODE);
	CHECK(strstr(msg, "admin") != NULL);
	r = resp(503, "{}");
	mx_error_parse(&r, &e);
	CHECK_EQ(mx_reg_diagnose(MX_REG_ADMIN_API, &e, NULL, msg, sizeof msg), MX_DIAG_RETRY);
	r = resp(200, "{}");
	CHECK_EQ(mx_uia_parse(&r, &u), ERR_PROTO);
}

static int count_rooms(void *arg, const char *room)
{
	int *n = arg;

	(*n)++;
	return strcmp(room, "!stop:x") ? 0 : 42;
}

static void test_joined_rooms_and_markers(void)
{
	struct mx_error e;
	struct proto_resp r;
	char room[300], agent[64];
	int n = 0;

	r = resp(200, "{\"joined_rooms\":[\"!a:localhost\",7,\"bad\",\"!b:x\"]}");
	CHECK_EQ(mx_joined_rooms_parse(&r, count_rooms, &n, &e), 0);
	CHECK_EQ(n, 2);
	n = 0;
	r = resp(200, "{\"joined_rooms\":[\"!stop:x\",\"!b:x\"]}");
	CHECK_EQ(mx_joined_rooms_parse(&r, count_rooms, &n, &e), 42);
	CHECK_EQ(n, 1);
	r = resp(200, "{\"rooms\":[]}");
	CHECK_EQ(mx_joined_rooms_parse(&r, count_rooms, &n, &e), ERR_PROTO);

	r = resp(200, "{\"room_id\":\"" ROOM "\"}");
	CHECK_EQ(mx_room_id_parse(&r, room, &e), 0);
	CHECK_STR(room, ROOM);
	r = resp(200, "{\"room_id\":\"@x:y\"}");
	CHECK_EQ(mx_room_id_parse(&r, room, &e), ERR_PROTO);

	r = resp(200, "{\"agent_id\":\"" AG "\",\"v\":1}");
	CHECK_EQ(mx_marker_parse(&r, agent, &e), 0);
	CHECK_STR(agent, AG);
	r = resp(200, "{\"agent_id\":\"" AG "\"}");
	CHECK_EQ(mx_marker_parse(&r, agent, &e), 0);
	r = resp(200, "{\"agent_id\":\"" AG "\",\"v\":2}");
	CHECK_EQ(mx_marker_parse(&r, agent, &e), ERR_VERSION);
	r = resp(200, "{}");
	CHECK_EQ(mx_marker_parse(&r, agent, &e), ERR_NOTFOUND);
	r = resp(200, "{\"agent_id\":\"helpdesk\"}");
	CHECK_EQ(mx_marker_parse(&r, agent, &e), ERR_PROTO);
	r = resp(404, "{\"errcode\":\"M_NOT_FOUND\",\"error\":\"Event not found.\"}");
	CHECK_EQ(mx_marker_parse(&r, agent, &e), ERR_NOTFOUND);
	r = resp(403, "{\"errcode\":\"M_FORBIDDEN\"}");
	CHECK_EQ(mx_marker_parse(&r, agent, &e), ERR_HTTP);
}

/* Parsers see the same answer however the body is cut: each prefix of a
 * valid body is an error, never a crash or a partial success. */
static void test_parsers_on_every_prefix(void)
{
	static const char body[] = "{\"user_id\":\"@u:localhost\","
		"\"access_token\":\"t\",\"device_id\":\"D\"}";
	struct mx_login l;
	struct mx_error e;

	for (size_t n = 0; n < sizeof body - 1; n++) {
		struct proto_resp r = { 200, -1, body, n, 0, NULL };
		if (mx_login_parse(&r, &l, &e) != ERR_PROTO)
			harness_fail(__FILE__, __LINE__, "prefix %zu accepted", n);
	}
}

static void test_admin_and_space_mark(void)
{
	struct proto_req r;
	struct proto_resp a;
	struct mx_space_mark m;
	struct mx_error e;
	char tok[LIM_MX_TOKEN], content[256];

	CHECK_EQ(mx_req_override_ratelimit(&r, "t", "@u:localhost"), 0);
	CHECK_STR(r.path, "/_synapse/admin/v1/users/%40u%3Alocalhost/"
	          "override_ratelimit");
	CHECK_STR(r.body, "{\"messages_per_second\":0,\"burst_count\":0}");
	CHECK_EQ(mx_req_override_ratelimit(&r, "t", "u/../x"), ERR_INVAL);
	CHECK_EQ(mx_req_admin_login(&r, "t", "@u:localhost"), 0);
	CHECK_STR(r.path, "/_synapse/admin/v1/users/%40u%3Alocalhost/login");
	CHECK_STR(r.body, "{}");
	a = resp(200, "{\"access_token\":\"syt_x\"}");
	CHECK_EQ(mx_admin_login_parse(&a, tok, &e), 0);
	CHECK_STR(tok, "syt_x");
	a = resp(200, "{}");
	CHECK_EQ(mx_admin_login_parse(&a, tok, &e), ERR_PROTO);
	a = resp(404, "{\"errcode\":\"M_UNRECOGNIZED\"}");
	CHECK(mx_admin_login_parse(&a, tok, &e) < 0);
	CHECK(mx_admin_absent(&e));
	a = resp(429, "{\"errcode\":\"M_LIMIT_EXCEEDED\"}");
	mx_admin_login_parse(&a, tok, &e);
	CHECK(!mx_admin_absent(&e));
	a = resp(404, "{\"errcode\":\"M_NOT_FOUND\",\"error\":\"User not "
	         "found\"}");
	mx_admin_login_parse(&a, tok, &e);
	CHECK(!mx_admin_absent(&e));    /* the API is there, the user not */
	a = resp(403, "{\"errcode\":\"M_FORBIDDEN\"}");
	mx_admin_login_parse(&a, tok, &e);
	CHECK(mx_admin_absent(&e));

	CHECK_EQ(mx_req_state_event_get(&r, "t", "!s:localhost",
	                                MX_SPACE_TYPE, ""), 0);
	CHECK_STR(r.path, "/_matrix/client/v3/rooms/%21s%3Alocalhost/state/"
	          "org.lettamx.space/?format=event");
	CHECK_EQ(mx_space_mark_content(content, sizeof content, "abc",
	                               "@b:localhost"), 0);
	CHECK_STR(content, "{\"v\":1,\"install\":\"abc\",\"bot\":"
	          "\"@b:localhost\"}");
	a = resp(200, "{\"type\":\"org.lettamx.space\",\"sender\":"
	         "\"@b:localhost\",\"content\":{\"v\":1,\"install\":\"abc\","
	         "\"bot\":\"@b:localhost\"}}");
	CHECK_EQ(mx_space_mark_parse(&a, &m, &e), 0);
	CHECK_STR(m.sender, "@b:localhost");
	CHECK_STR(m.install, "abc");
	a = resp(200, "{\"sender\":\"@b:localhost\",\"content\":{\"v\":1}}");
	CHECK_EQ(mx_space_mark_parse(&a, &m, &e), 0);
	CHECK_STR(m.install, "");
	a = resp(200, "{\"sender\":\"@b:localhost\",\"content\":{}}");
	CHECK_EQ(mx_space_mark_parse(&a, &m, &e), ERR_NOTFOUND);
	a = resp(200, "{\"sender\":\"@b:localhost\",\"content\":{\"v\":2}}");
	CHECK_EQ(mx_space_mark_parse(&a, &m, &e), ERR_VERSION);
	a = resp(200, "{\"sender\":\"nobody\",\"content\":{\"v\":1}}");
	CHECK_EQ(mx_space_mark_parse(&a, &m, &e), ERR_PROTO);
	a = resp(200, "{\"sender\":\"@b:localhost\",\"content\":{\"v\":1,"
	         "\"install\":7}}");
	CHECK_EQ(mx_space_mark_parse(&a, &m, &e), ERR_PROTO);

	a = resp(200, "{\"body\":\"moved\",\"replacement_room\":\"!n:x\"}");
	CHECK_EQ(mx_tombstone_parse(&a, &e), 1);
	a = resp(200, "{}");
	CHECK_EQ(mx_tombstone_parse(&a, &e), 0);
	a = resp(404, "{\"errcode\":\"M_NOT_FOUND\"}");
	CHECK_EQ(mx_tombstone_parse(&a, &e), 0);
	a = resp(403, "{\"errcode\":\"M_FORBIDDEN\"}");
	CHECK_EQ(mx_tombstone_parse(&a, &e), ERR_HTTP);
	a = resp(200, "[]");
	CHECK_EQ(mx_tombstone_parse(&a, &e), ERR_PROTO);
}

/* No answer: the transport's cause is the message, and a certificate or
 * a name that failed is not retried (it will not fix itself). */
static void test_no_answer_keeps_its_cause(void)
{
	static const struct { int neterr; int retried; } cases[] = {
		{ ERR_TLS, 0 }, { ERR_DNS, 0 }, { ERR_REFUSED, 1 },
		{ ERR_TIMEOUT, 1 }, { 0, 1 },
	};
	struct proto_resp r = { 0, -1, "", 0, 0, "the cause" };
	struct mx_error e;
	char msg[512];

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		r.neterr = cases[i].neterr;
		CHECK_EQ(mx_error_parse(&r, &e), ERR_CLOSED);
		CHECK_EQ(e.neterr, cases[i].neterr);
		CHECK_EQ(mx_retry_delay_ms(&e, 0) >= 0, cases[i].retried);
		mx_error_msg(&e, msg, sizeof msg);
		CHECK_STR(msg, "the cause");
	}
	r.reason = NULL;
	mx_error_parse(&r, &e);
	mx_error_msg(&e, msg, sizeof msg);
	CHECK_STR(msg, "no answer from the homeserver");
}

int main(void)
{
	RUN(test_no_answer_keeps_its_cause);
	RUN(test_reg_names);
	RUN(test_login_and_register_requests);
	RUN(test_room_requests_encode_ids);
	RUN(test_create_room_body);
	RUN(test_create_room_too_big);
	RUN(test_create_space_body);
	RUN(test_errors_and_retry);
	RUN(test_login_parse);
	RUN(test_uia_and_diagnosis);
	RUN(test_joined_rooms_and_markers);
	RUN(test_parsers_on_every_prefix);
	RUN(test_admin_and_space_mark);
	return harness_done("matrix");
}
