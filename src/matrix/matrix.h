/*
 * matrix: the Matrix client-server calls provisioning needs, sans-I/O.
 *
 * Builders fill a struct proto_req (path parts percent-encoded: room ids
 * hold '!' and ':'); parsers read a struct proto_resp into small result
 * structs or a struct mx_error (errcode, error, retry_after_ms). The async
 * layer sends the requests and applies mx_retry_delay_ms().
 */
#ifndef LETTAMX_MATRIX_H
#define LETTAMX_MATRIX_H

#include <stddef.h>
#include <stdint.h>

#include "core/ident.h"
#include "core/limits.h"
#include "net/proto.h"

/* The namespaced state events that identify what lettamx made. Room
 * names are never used to recognise anything. */
#define MX_MARKER_TYPE  "org.lettamx.agent"     /* {"agent_id", "v": 1} */
#define MX_SPACE_TYPE   "org.lettamx.space"     /* see below */
#define MX_MARKER_V     1
/* The Space's marker names this installation:
 *   {"v": 1, "install": "<secret_install_id()>", "bot": "@bot:server"}
 * Our Space is the one whose marker our bot sent naming our install id,
 * never one found by its name, so two installations on one homeserver
 * never adopt each other's Space. Spaces made by versions before the
 * install id carry {"v": 1} only and get the two fields on the next run. */
#define MX_SPACE_K_INSTALL "install"
#define MX_SPACE_K_BOT     "bot"
/* A thread of an agent's room that talks in its own Letta conversation:
 * the bot's state event, state_key the thread's root event id,
 *   {"conversation": "<Letta conversation id>", "v": 1}
 * the newest the bridge kept (a !reset in the thread replaces it), so
 * reconcile puts the mapping back after a lost store. */
#define MX_THREAD_TYPE     "org.lettamx.thread"
#define MX_THREAD_K_CONV   "conversation"
/* Every login of an agent user names this device, so re-logins reuse one
 * device instead of piling up new ones. */
#define MX_DEVICE_ID    "LETTAMX"

/* How agent users are created (config `registration`). */
enum mx_reg {
	MX_REG_TOKEN,           /* /register with m.login.registration_token */
	MX_REG_SHARED_SECRET,   /* Synapse /_synapse/admin/v1/register */
	MX_REG_ADMIN_API,       /* Synapse PUT /_synapse/admin/v2/users/<id> */
	MX_REG_DUMMY,           /* /register with m.login.dummy */
	MX_REG_APPSERVICE,      /* [matrix] mode = appservice: /register
	                         * m.login.application_service with the
	                         * as_token, no password, no login */
};

/* Reads a `registration` value ("token", "shared-secret", "admin-api",
 * "dummy"). Returns the enum value or ERR_CONFIG. */
int mx_reg_parse(const char *s);
const char *mx_reg_name(int reg);

struct mx_error {
	int status;                     /* HTTP status; 0 = no response */
	char errcode[LIM_MX_ERRCODE];   /* "" if none */
	char error[LIM_PROTO_DETAIL];
	int64_t retry_after_ms;         /* body, else header; -1 = none */
	int neterr;                     /* status 0: the transport's err */
	char cause[LIM_PROTO_DETAIL * 2];       /* status 0: what failed,
	                                         * where, what to do */
};

/* Fills `e` from a failed response. Returns ERR_NOTFOUND (404 or
 * M_NOT_FOUND), ERR_CLOSED (no response), else ERR_HTTP. */
int mx_error_parse(const struct proto_resp *resp, struct mx_error *e);

/* 1 if e's errcode is `code`. */
int mx_error_is(const struct mx_error *e, const char *code);

/* How long to wait before retrying after `e` on attempt `attempt` (0 for
 * the first retry): a 429 waits what the server said (retry_after_ms in
 * the body, else Retry-After), capped at LIM_MX_RL_MAX_MS; a 429 without
 * a wait, a 5xx or no response double from LIM_MX_BACKOFF_MS up to
 * LIM_MX_BACKOFF_MAX_MS. Returns -1 when a retry cannot help (other 4xx). */
int64_t mx_retry_delay_ms(const struct mx_error *e, int attempt);

/* Writes a one-line explanation of `e` into `out`. */
void mx_error_msg(const struct mx_error *e, char *out, size_t cap);

/* ---- account ---- */

/* POST /login, m.login.password for localpart or user id `user`, on
 * device MX_DEVICE_ID. Returns 0, ERR_TOOBIG, ERR_UTF8. */
int mx_req_login(struct proto_req *r, const char *user, const char *password);

/* GET /_matrix/client/versions (no token): is the homeserver up. */
int mx_req_versions(struct proto_req *r);

/* GET /account/whoami with `token`. */
int mx_req_whoami(struct proto_req *r, const char *token);

/* POST /register for `localpart`. MX_REG_DUMMY: one step, auth
 * m.login.dummy (`session` from a 401 challenge, or NULL). MX_REG_TOKEN:
 * without a `session`, no auth at all (the 401 answer gives the session);
 * with one, m.login.registration_token with `regtoken`. Returns 0,
 * ERR_INVAL (another reg), ERR_TOOBIG. */
int mx_req_register(struct proto_req *r, int reg, const char *localpart,
                    const char *password, const char *regtoken,
                    const char *session);

/* POST /register of `localpart` by the application service whose token
 * is as_token (m.login.application_service, inhibit_login: it acts as
 * the user with its own token). 200: made; M_USER_IN_USE: there already.
 * Returns 0, ERR_TOOBIG. */
int mx_req_register_as(struct proto_req *r, const char *as_token,
                       const char *localpart);

/* GET /_synapse/admin/v1/register (a nonce for shared-secret
 * registration). */
int mx_req_ss_nonce(struct proto_req *r);

/* POST /_synapse/admin/v1/register; `mac` from secret_synapse_mac() over
 * the same nonce, localpart and password, not admin. */
int mx_req_ss_register(struct proto_req *r, const char *nonce,
                       const char *localpart, const char *password,
                       const char *mac);

/* The same for a server admin (`admin` 1; the MAC must say "admin"):
 * the bot, when lettamx creates it, so it may lift rate limits. */
int mx_req_ss_register_as(struct proto_req *r, const char *nonce,
                          const char *localpart, const char *password,
                          const char *mac, int admin);

/* PUT /_synapse/admin/v2/users/<user_id> as admin `token`: create (or
 * reset the password of) a non-admin user with `displayname`. */
int mx_req_admin_user(struct proto_req *r, const char *token,
                      const char *user_id, const char *password,
                      const char *displayname);

/* PUT /profile/<user>/avatar_url with an mxc:// URI. */
int mx_req_avatar(struct proto_req *r, const char *token,
                  const char *user_id, const char *mxc);

/* GET /profile/<user>/avatar_url, and its answer: the mxc:// URI into
 * mxc ("" when the user has none). Parse returns 0, ERR_NOTFOUND (no
 * such profile), or an error status as mx_error_parse. */
int mx_req_get_avatar(struct proto_req *r, const char *token,
                      const char *user_id);
int mx_avatar_parse(const struct proto_resp *resp, char *mxc, size_t cap,
                    struct mx_error *e);

/* POST /_matrix/media/v3/upload?filename= of data[0..n) (borrowed: it
 * must live until the answer) as content_type. Returns 0, ERR_INVAL,
 * ERR_TOOBIG. */
int mx_req_upload(struct proto_req *r, const char *token,
                  const char *filename, const uint8_t *data, size_t n,
                  const char *content_type);

/* The content_uri of an upload's answer (an mxc:// URI). Returns 0,
 * ERR_PROTO, or an error status as mx_error_parse. */
int mx_upload_parse(const struct proto_resp *resp, char *mxc, size_t cap,
                    struct mx_error *e);

/* PUT /profile/<user_id>/displayname. */
int mx_req_displayname(struct proto_req *r, const char *token,
                       const char *user_id, const char *name);

/* A login, a registration or a shared-secret registration. */
struct mx_login {
	char user_id[IDENT_MXID_MAX + 1];
	char access_token[LIM_MX_TOKEN];   /* "" if none was given */
	char device_id[64];
};

/* Parses a 200 from login/register/ss_register, or fills `e`. Returns 0,
 * ERR_PROTO (no valid user_id), or mx_error_parse's codes. */
int mx_login_parse(const struct proto_resp *resp, struct mx_login *out,
                   struct mx_error *e);

/* Parses whoami into `user_id` (IDENT_MXID_MAX + 1 bytes). */
int mx_whoami_parse(const struct proto_resp *resp, char *user_id,
                    struct mx_error *e);

/* Stages a homeserver offers for registration (a 401 challenge). */
enum { MX_STAGE_DUMMY = 1, MX_STAGE_TOKEN = 2, MX_STAGE_OTHER = 4 };

struct mx_uia {
	char session[LIM_MX_NONCE];
	unsigned stages;        /* MX_STAGE_* of single-stage flows; a flow
	                         * of several stages counts as OTHER */
};

/* Parses a 401 user-interactive challenge. Returns 0 or ERR_PROTO. */
int mx_uia_parse(const struct proto_resp *resp, struct mx_uia *u);

/* Parses the nonce of mx_req_ss_nonce into `nonce` (LIM_MX_NONCE). */
int mx_nonce_parse(const struct proto_resp *resp, char *nonce,
                   struct mx_error *e);

/* What a failed user creation means for the caller. */
enum {
	MX_DIAG_RETRY,  /* transient or unknown: retry later, with backoff */
	MX_DIAG_AGENT,  /* this agent's user cannot be had: report, no retry */
	MX_DIAG_MODE,   /* the mode cannot work on this server: stop */
};

/* Explains why creating a user with `reg` failed with `e` (and the 401
 * challenge `u`, NULL if none was parsed) in terms of what the operator
 * can do, into `out`. Returns one of MX_DIAG_*. */
int mx_reg_diagnose(int reg, const struct mx_error *e, const struct mx_uia *u,
                    char *out, size_t cap);

/* ---- rooms ---- */

/* GET /joined_rooms. */
int mx_req_joined_rooms(struct proto_req *r, const char *token);

/* Calls `fn(arg, room_id)` for each valid room id of a joined_rooms
 * response, stopping at the first non-zero return (which is returned).
 * Returns 0, ERR_PROTO, or mx_error_parse's codes (then `e` is set). */
int mx_joined_rooms_parse(const struct proto_resp *resp,
                          int (*fn)(void *arg, const char *room_id),
                          void *arg, struct mx_error *e);

/* GET /rooms/<room>/state/<type>/<key>. */
int mx_req_state_get(struct proto_req *r, const char *token,
                     const char *room_id, const char *type, const char *key);

/* PUT /rooms/<room>/state/<type>/<key> with `content` (a JSON object the
 * caller built; copied). */
int mx_req_state_put(struct proto_req *r, const char *token,
                     const char *room_id, const char *type, const char *key,
                     const char *content);

/* Builds the content of an m.space.child (`link`) or an empty one (the
 * unlink) into `out`. */
int mx_space_child_content(char *out, size_t cap, const char *via, int link);

/* POST /rooms/<room>/invite, /join/<room>, /rooms/<room>/leave. */
int mx_req_invite(struct proto_req *r, const char *token, const char *room_id,
                  const char *user_id);
int mx_req_join(struct proto_req *r, const char *token, const char *room_id);
int mx_req_leave(struct proto_req *r, const char *token, const char *room_id);

/* PUT /rooms/<room>/send/m.room.notice/<txn_id> with plain `text`. The
 * transaction id makes a retried send land once. */
int mx_req_send_notice(struct proto_req *r, const char *token,
                       const char *room_id, const char *txn_id,
                       const char *text);

/* The Space: private, marked with MX_SPACE_TYPE naming `install` and
 * `bot` (both NULL: the bare {"v":1} of older versions, for tests), only
 * admins post. */
int mx_req_create_space(struct proto_req *r, const char *token,
                        const char *name, const char *const *invite,
                        size_t ninvite, const char *install,
                        const char *bot);

struct mx_room_spec {
	const char *agent_id;
	const char *name;               /* agent name */
	const char *topic;              /* description; "" = none */
	const char *agent_user;         /* creator, power 100 */
	const char *bot_user;           /* power 100, invited */
	const char *space_id;           /* m.space.parent; NULL = none */
	const char *via;                /* server name for via lists */
	const char *const *invite;      /* people to invite besides the bot */
	size_t ninvite;
	int restricted;                 /* join rule `restricted` to members
	                                 * of space_id, room version
	                                 * MX_RESTRICTED_VERSION, and people
	                                 * not invited (they come through the
	                                 * Space) */
};

/* The room version of restricted rooms (Synapse 1.67's default; 8 is the
 * first with the rule). */
#define MX_RESTRICTED_VERSION "9"

/* POST /createRoom for an agent room, made by the agent user: private,
 * not encrypted, history shared, guests forbidden, the marker and
 * m.space.parent in the initial state, agent and bot at power 100, the
 * bot and people invited. Returns 0, ERR_INVAL (a bad id), ERR_TOOBIG,
 * ERR_UTF8. */
int mx_req_create_room(struct proto_req *r, const char *token,
                       const struct mx_room_spec *s);

/* Parses a createRoom or join response into `room_id`
 * (IDENT_MXID_MAX + 1 bytes). */
int mx_room_id_parse(const struct proto_resp *resp, char *room_id,
                     struct mx_error *e);

/* Parses a marker state event's content into `agent_id`
 * (IDENT_AGENT_ID_MAX + 1). Returns 0, ERR_NOTFOUND (no marker: 404),
 * ERR_PROTO (malformed), ERR_VERSION (a newer marker version), or
 * mx_error_parse's codes. */
int mx_marker_parse(const struct proto_resp *resp, char *agent_id,
                    struct mx_error *e);

/* Reads the answer to GET state m.room.tombstone: 1 (the room was
 * replaced), 0 (no tombstone: 404, or cleared), or an error of
 * mx_error_parse / ERR_PROTO. */
int mx_tombstone_parse(const struct proto_resp *resp, struct mx_error *e);

/* 1 for a 2xx status. */
int mx_ok(const struct proto_resp *resp);

/* ---- Synapse admin API and the Space marker (matrix_admin.c) ---- */

/* POST /_synapse/admin/v1/users/<user_id>/override_ratelimit as admin
 * `token`: {"messages_per_second": 0, "burst_count": 0}, which lifts
 * every rate limit of that user. 200 = lifted; 403 = not a server admin;
 * 404 / M_UNRECOGNIZED = not Synapse. */
int mx_req_override_ratelimit(struct proto_req *r, const char *token,
                              const char *user_id);

/* POST /_synapse/admin/v1/users/<user_id>/login {} as admin `token`: an
 * access token for that user without its password and without a login
 * rate limit (no device is made). */
int mx_req_admin_login(struct proto_req *r, const char *token,
                       const char *user_id);

/* Parses the admin login answer into `token` (LIM_MX_TOKEN bytes).
 * Returns 0, ERR_PROTO (no token), or mx_error_parse's codes (`e` set):
 * ERR_NOTFOUND or M_UNRECOGNIZED means "no such API here", 403 "not an
 * admin" -- see mx_admin_absent(). */
int mx_admin_login_parse(const struct proto_resp *resp, char *token,
                         struct mx_error *e);

/* 1 when `e` says the admin API cannot be used by this bot on this
 * server (403, 404 / M_UNRECOGNIZED; not M_NOT_FOUND, which is "no such
 * user"): fall back, don't retry. */
int mx_admin_absent(const struct mx_error *e);

/* GET /rooms/<room>/state/<type>/<key>?format=event: the whole event,
 * with its sender. */
int mx_req_state_event_get(struct proto_req *r, const char *token,
                           const char *room_id, const char *type,
                           const char *key);

/* A Space marker event as read with mx_req_state_event_get. */
struct mx_space_mark {
	char sender[IDENT_MXID_MAX + 1];
	char install[IDENT_MXID_MAX + 1];   /* "" in a pre-install marker */
	char bot[IDENT_MXID_MAX + 1];       /* "" likewise */
};

/* Parses a Space marker event. Returns 0, ERR_NOTFOUND (none, or
 * content cleared), ERR_VERSION (newer), ERR_PROTO, or mx_error_parse's
 * codes. */
int mx_space_mark_parse(const struct proto_resp *resp,
                        struct mx_space_mark *m, struct mx_error *e);

/* Writes the Space marker content {"v":1,"install":..,"bot":..}. */
int mx_space_mark_content(char *out, size_t cap, const char *install,
                          const char *bot);

#endif
