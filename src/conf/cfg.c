/*
 * cfg: the schema table, the file and environment readers, validation.
 * Printing and the `config check` command are in cfg_cmd.c.
 */
#include "conf/cfg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/cfg_int.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/url.h"

extern char **environ;

#define MS_S   1000LL
#define MS_MIN (60 * MS_S)
#define MS_H   (60 * MS_MIN)
#define MS_D   (24 * MS_H)

/* The one table of settings. Defaults are text, parsed like file values;
 * "{store.path}" in a default stands for that value. */
const struct cfg_key cfg_keys[] = {
	{ "matrix", "homeserver_url", CFG_URL, NULL, 0, 0, NULL, CFG_REQUIRED,
	  "base URL of the homeserver's client-server API" },
	{ "matrix", "mode", CFG_ENUM, "client", 0, 0, "client|appservice", 0,
	  "client: the bot and agent users are accounts that log in and the "
	  "bot syncs; appservice: lettamx is the homeserver's application "
	  "service (see lettamx appservice registration): no passwords, no "
	  "rate limits, events pushed to [appservice] listen" },
	{ "matrix", "server_name", CFG_STR, NULL, 0, 0, NULL, 0,
	  "the server name in Matrix ids (default: from the bot's login)" },
	{ "matrix", "bot_user", CFG_USER, "lettamx", 0, 0, NULL, 0,
	  "the bot's localpart or full Matrix id" },
	{ "matrix", "bot_password_file", CFG_PATH, NULL, 0, 0, NULL,
	  CFG_SECRET, "file holding the bot's password" },
	{ "matrix", "bot_token_file", CFG_PATH, NULL, 0, 0, NULL, CFG_SECRET,
	  "file holding an access token of the bot" },
	{ "matrix", "registration", CFG_ENUM, NULL, 0, 0,
	  "token|shared-secret|admin-api|dummy", 0,
	  "how agent users are created" },
	{ "matrix", "registration_token_file", CFG_PATH, NULL, 0, 0, NULL,
	  CFG_SECRET, "file holding the registration token" },
	{ "matrix", "shared_secret_file", CFG_PATH, NULL, 0, 0, NULL,
	  CFG_SECRET, "file holding Synapse's registration_shared_secret" },
	{ "matrix", "user_prefix", CFG_STR, "letta_", 0, 0, NULL, 0,
	  "localpart prefix of agent users" },
	{ "matrix", "space_name", CFG_STR, "Letta Agents", 0, 0, NULL, 0,
	  "name of the Space holding the agent rooms" },
	{ "matrix", "invite", CFG_USERS, NULL, 0, 0, NULL, 0,
	  "Matrix users invited to every agent room (comma-separated)" },
	{ "matrix", "tls_verify", CFG_BOOL, "true", 0, 0, NULL, 0,
	  "verify the homeserver's certificate" },
	{ "matrix", "ca_file", CFG_PATH, NULL, 0, 0, NULL, 0,
	  "CA certificates (PEM) instead of the system's" },
	{ "matrix", "rate_limit_override", CFG_ENUM, "auto", 0, 0, "auto|off",
	  0, "lift the homeserver's rate limits of the bot and agent users "
	  "where the bot is a server admin" },
	{ "matrix", "access", CFG_ENUM, "invite", 0, 0, "invite|space", 0,
	  "invite: people are invited to every agent room; space: only to "
	  "the Space, rooms are joinable by its members" },
	{ "matrix", "avatars", CFG_ENUM, "generated", 0, 0, "generated|none",
	  0, "each agent user and its room get an avatar: the picture in "
	  "avatar_dir when there is one, else one drawn from the agent id "
	  "(generated); none: no avatars" },
	{ "matrix", "avatar_dir", CFG_PATH, NULL, 0, 0, NULL, 0,
	  "pictures for agents: <agent name>.png (or .jpg, .jpeg), else "
	  "<agent id>.png ...; at most 1 MiB each" },
	{ "matrix", "provision_deadline", CFG_DURATION, "0s", 0, 7 * MS_D,
	  NULL, 0, "a one-off provision run ends after this long, waiting "
	  "for rate limits included (0s: never; --watch has none)" },
	{ "appservice", "id", CFG_STR, "lettamx", 0, 0, NULL, 0,
	  "the application service's id in its registration" },
	{ "appservice", "listen", CFG_STR, "127.0.0.1:29318", 0, 0, NULL, 0,
	  "ADDRESS:PORT where lettamx takes the homeserver's transactions "
	  "(matrix mode = appservice)" },
	{ "appservice", "url", CFG_URL, NULL, 0, 0, NULL, 0,
	  "the URL the homeserver reaches [appservice] listen at "
	  "(default: http:// and the listen address)" },
	{ "appservice", "allow_remote", CFG_BOOL, "false", 0, 0, NULL, 0,
	  "let [appservice] listen be a non-loopback address (a homeserver "
	  "on another host or in another container)" },
	{ "letta", "base_url", CFG_URL_WS, NULL, 0, 0, NULL, CFG_REQUIRED,
	  "base URL of the Letta server: http(s):// for either API, or the "
	  "App Server's ws(s):// socket" },
	{ "letta", "token_file", CFG_PATH, NULL, 0, 0, NULL, CFG_SECRET,
	  "file holding the Letta API token (the App Server's "
	  "--ws-token-file), sent as a Bearer token to either API" },
	{ "letta", "api", CFG_ENUM, "auto", 0, 0, "auto|rest|app-server", 0,
	  "which Letta API base_url serves: rest (Letta Cloud, the archived "
	  "Letta server), app-server (Letta Code's letta server --listen), "
	  "auto: asked at start (GET /app-server-info, then GET /v1/health/)" },
	{ "letta", "tool_mode", CFG_ENUM, "strict", 0, 0,
	  "strict|standard|acceptEdits|unrestricted", 0,
	  "App Server: which tool calls of an agent wait for a person's "
	  "!approve (tools run on the Letta host, a shell among them): "
	  "strict every one; standard all but those the server deems "
	  "harmless (reads, read-only commands); acceptEdits as standard, "
	  "but file edits run unasked; unrestricted none" },
	{ "letta", "tags_include", CFG_LIST, NULL, 0, 0, NULL, 0,
	  "bridge only agents with one of these tags" },
	{ "letta", "tags_exclude", CFG_LIST, NULL, 0, 0, NULL, 0,
	  "never bridge agents with one of these tags" },
	{ "letta", "discovery_interval", CFG_DURATION, "60s", 10 * MS_S,
	  MS_D, NULL, 0, "how often the agent list is read" },
	{ "letta", "delete_grace", CFG_DURATION, "2h", 0, 30 * MS_D, NULL, 0,
	  "how long a vanished agent keeps its room" },
	{ "store", "path", CFG_PATH, "/var/lib/lettamx", 0, 0, NULL, 0,
	  "directory of the LMDB store" },
	{ "store", "snapshot_dir", CFG_PATH, "{store.path}/snapshots", 0, 0,
	  NULL, 0, "directory of the snapshots" },
	{ "store", "snapshot_keep", CFG_INT, "20", 1, 1000, NULL, 0,
	  "snapshots always kept (the newest)" },
	{ "store", "snapshot_days", CFG_INT, "14", 0, 3650, NULL, 0,
	  "days for which the first snapshot of the day is kept" },
	{ "store", "master_secret_file", CFG_PATH,
	  "{store.path}/master.secret", 0, 0, NULL, CFG_SECRET | CFG_CREATED,
	  "file of the master secret (created at first start)" },
	{ "log", "level", CFG_ENUM, "info", 0, 0, "error|warn|info|debug", 0,
	  "most verbose level written" },
	{ "log", "target", CFG_ENUM, "stderr", 0, 0, "stderr|syslog", 0,
	  "where events go" },
	{ "http", "listen", CFG_STR, NULL, 0, 0, NULL, 0,
	  "off; ADDRESS:PORT (e.g. 127.0.0.1:9464) serves GET /healthz "
	  "and GET /metrics" },
	{ "http", "allow_remote", CFG_BOOL, "false", 0, 0, NULL, 0,
	  "let [http] listen be a non-loopback address" },
	{ "bridge", "allow", CFG_STR, NULL, 0, 0, NULL, 0,
	  "who may talk to agents: Matrix ids, '*' matches any text "
	  "(default: @*:<server_name>)" },
	{ "bridge", "sender_format", CFG_STR, "[{name} ({id})] ", 0, 0, NULL,
	  0, "prefix naming the speaker in what an agent reads ({name}, {id})" },
	{ "bridge", "max_steps", CFG_INT, "20", 1, 1000, NULL, 0,
	  "most LLM steps of one Letta turn" },
	{ "bridge", "letta_timeout", CFG_DURATION, "300s", MS_S,
	  3 * MS_H, NULL, 0, "deadline of one Letta turn" },
	{ "bridge", "queue_limit", CFG_INT, "20", 1, 10000, NULL, 0,
	  "messages waiting per room; beyond, the person is told" },
	{ "bridge", "max_turns", CFG_INT, "32", 1, 1000, NULL, 0,
	  "Letta turns in flight at once, all agents together" },
	{ "bridge", "wait_notice", CFG_DURATION, "5s", 0, MS_H, NULL, 0,
	  "a message waiting this long behind another gets one notice "
	  "(0: never)" },
	{ "bridge", "sync_timeout", CFG_DURATION, "30s", MS_S, 5 * MS_MIN,
	  NULL, 0, "how long one /sync long-poll waits for news" },
	{ "bridge", "invites", CFG_ENUM, "decline", 0, 0, "decline|ignore", 0,
	  "invites to the bot from anyone but our agent users" },
	{ "bridge", "agent_invites", CFG_ENUM, "direct", 0, 0,
	  "direct|any|none", 0, "appservice mode: an agent user joins a room "
	  "it is invited to by a person [bridge] allow names, and answers "
	  "there as in its own room: direct chats only, any room, or none "
	  "(declined with a reason)" },
	{ "bridge", "split_bytes", CFG_INT, "60000", 4096, 60000, NULL, 0,
	  "most bytes of one answer event's JSON; longer answers are sent "
	  "as several messages" },
	{ "bridge", "reply_style", CFG_ENUM, "plain", 0, 0, "plain|reply", 0,
	  "main-timeline answers: a plain message or a rich reply" },
	{ "bridge", "command_prefix", CFG_STR, "!", 0, 0, NULL, 0,
	  "what starts a command in an agent room (!help, !status, ...)" },
	{ "bridge", "admins", CFG_STR, NULL, 0, 0, NULL, 0,
	  "who may use !reset: Matrix ids, '*' matches any text" },
	{ "bridge", "approvers", CFG_STR, NULL, 0, 0, NULL, 0,
	  "who may answer an agent's tool call with !approve or !deny: "
	  "Matrix ids, '*' matches any text (default: [bridge] admins)" },
	{ "bridge", "stream", CFG_BOOL, "true", 0, 0, NULL, 0,
	  "read Letta's answer as it streams and show a slow one live, in "
	  "one message edited as it grows" },
	{ "bridge", "stream_after", CFG_DURATION, "3s", 0, 10 * MS_MIN, NULL, 0,
	  "a streamed answer not complete by then is shown at once and "
	  "edited (at most once a second, 20 edits)" },
	{ "bridge", "show_tools", CFG_ENUM, "compact", 0, 0, "off|compact", 0,
	  "while a live answer grows: name the tool the agent runs" },
	{ "bridge", "threads", CFG_ENUM, "conversation", 0, 0,
	  "conversation|shared", 0, "a thread in an agent's room: its own "
	  "Letta conversation (sharing the agent's memory), or the room's "
	  "one conversation" },
	{ "bridge", "respond", CFG_ENUM, "always", 0, 0, "always|mention", 0,
	  "in a room of more than two members beside the agent (the bot "
	  "counts): answer every "
	  "message, or only those that mention the agent (a room's "
	  "org.lettamx.room_settings state event overrides)" },
	{ "bridge", "image_max_bytes", CFG_SIZE, "5MB", 0, 16 * 1048576, NULL,
	  0, "the largest picture (PNG, JPEG, GIF, WebP) passed on to an "
	  "agent; a bigger one reaches it as a line naming it, and the "
	  "person is told (0: never pass pictures on)" },
	{ "bridge", "image_memory", CFG_SIZE, "32MiB", 1048576, 1073741824,
	  NULL, 0, "most bytes of pictures held at once (downloaded, encoded, "
	  "in a request); a picture waits for room; must hold one picture "
	  "of image_max_bytes (about 3.7 times its size)" },
	{ "bridge", "listen", CFG_BOOL, "false", 0, 0, NULL, 0,
	  "respond = mention: pass the messages that do not mention the "
	  "agent to it as context, marked as not asked; they are not "
	  "answered" },
};

const int cfg_nkeys = sizeof cfg_keys / sizeof cfg_keys[0];

_Static_assert(sizeof cfg_keys / sizeof cfg_keys[0] <= LIM_CFG_KEYS,
               "raise LIM_CFG_KEYS");

int cfg_find(const char *section, size_t slen, const char *key, size_t klen)
{
	for (int i = 0; i < cfg_nkeys; i++)
		if (strlen(cfg_keys[i].section) == slen &&
		    !strncmp(cfg_keys[i].section, section, slen) &&
		    strlen(cfg_keys[i].key) == klen &&
		    !strncmp(cfg_keys[i].key, key, klen))
			return i;
	return -1;
}

static bool section_known(const char *s, size_t n)
{
	for (int i = 0; i < cfg_nkeys; i++)
		if (strlen(cfg_keys[i].section) == n &&
		    !strncmp(cfg_keys[i].section, s, n))
			return true;
	return false;
}

/* The sections of the table, in its order: "matrix, letta, ...". */
static void sections(char *out, size_t cap)
{
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < cfg_nkeys && o < cap; i++) {
		if (i && !strcmp(cfg_keys[i].section, cfg_keys[i - 1].section))
			continue;
		o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? ", " : "",
		                      cfg_keys[i].section);
	}
}

/* s[0..n) as a message may show it: a byte that is not printable ASCII
 * becomes '?' (a line of the file must not reach the terminal as an
 * escape sequence), at most cap - 1 bytes. */
static const char *shown(const char *s, size_t n, char *out, size_t cap)
{
	size_t i;

	for (i = 0; i < n && i + 1 < cap; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
	return out;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void cfg_msg_clean(char *s)
{
	size_t n = strlen(s), i = 0;

	while (i < n) {
		size_t q = json_utf8_seq((const unsigned char *)s + i, n - i);

		if (q == 0 && n - i < 4 && (unsigned char)s[i] >= 0xc0) {
			s[i] = '\0';   /* a character cut by the buffer's end */
			return;
		}
		if (q == 0 || (q == 1 && ((unsigned char)s[i] < 0x20 ||
		                          s[i] == 0x7f))) {
			s[i++] = '?';
			continue;
		}
		i += q;
	}
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	cfg_msg_clean(err);
	return ERR_CONFIG;
}

/* Where value i came from, for messages: "FILE:LINE", "environment
 * LETTAMX_X" or "default". */
void cfg_origin(const struct cfg *c, int i, char *out, size_t cap)
{
	const struct cfg_val *v = &c->val[i];
	char env[128];

	switch (v->src) {
	case CFG_SRC_FILE:
		snprintf(out, cap, "%s:%d", c->path, v->line);
		break;
	case CFG_SRC_ENV:
		cfg_env_name(i, env, sizeof env);
		snprintf(out, cap, "environment %s", env);
		break;
	default:
		snprintf(out, cap, "default");
	}
}

void cfg_env_name(int i, char *out, size_t cap)
{
	size_t o;

	snprintf(out, cap, "LETTAMX_%s_%s", cfg_keys[i].section,
	         cfg_keys[i].key);
	for (o = 0; out[o]; o++)
		if (out[o] >= 'a' && out[o] <= 'z')
			out[o] = (char)(out[o] - 'a' + 'A');
}

/* ---- values ---- */

static int set_value(struct cfg *c, int i, const char *v, size_t n,
                     enum cfg_src src, int line)
{
	if (n >= sizeof c->val[i].text)
		return ERR_TOOBIG;
	memcpy(c->val[i].text, v, n);
	c->val[i].text[n] = 0;
	c->val[i].src = src;
	c->val[i].line = line;
	return 0;
}

/* Expands "{store.path}" in a default. */
static void defaults(struct cfg *c)
{
	for (int i = 0; i < cfg_nkeys; i++) {
		const char *d = cfg_keys[i].def;
		if (d && strncmp(d, "{store.path}", 12))
			set_value(c, i, d, strlen(d), CFG_SRC_DEFAULT, 0);
	}
}

static void derived_defaults(struct cfg *c)
{
	const char *base = cfg_get(c, "store", "path");
	char buf[LIM_CFG_VALUE];

	for (int i = 0; i < cfg_nkeys; i++) {
		const char *d = cfg_keys[i].def;
		if (!d || strncmp(d, "{store.path}", 12) || c->val[i].src)
			continue;
		int n = snprintf(buf, sizeof buf, "%s%s", base ? base : "",
		                 d + 12);
		if (n > 0)
			set_value(c, i, buf, (size_t)n, CFG_SRC_DEFAULT, 0);
	}
}

/* ---- the file ---- */

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Trims s[0..*n) in place; strips one pair of double quotes. */
static const char *trim(const char *s, size_t *n)
{
	while (*n && is_space(*s))
		s++, (*n)--;
	while (*n && is_space(s[*n - 1]))
		(*n)--;
	if (*n >= 2 && s[0] == '"' && s[*n - 1] == '"')
		s++, *n -= 2;
	return s;
}

struct parse {
	struct cfg *c;
	int line;
	char section[64];
	char *err;
	size_t errlen;
};

static int parse_section(struct parse *p, const char *s, size_t n)
{
	const char *name;
	size_t len;

	if (s[n - 1] != ']')
		return fail(p->err, p->errlen, "%s:%d: a section header is "
		            "'[name]'", p->c->path, p->line);
	len = n - 2;
	name = trim(s + 1, &len);
	if (!section_known(name, len) || len >= sizeof p->section) {
		char known[128], show[64];

		sections(known, sizeof known);
		return fail(p->err, p->errlen, "%s:%d: unknown section [%s] "
		            "(known: %s)", p->c->path, p->line,
		            shown(name, len, show, sizeof show), known);
	}
	memcpy(p->section, name, len);
	p->section[len] = 0;
	return 0;
}

static int parse_pair(struct parse *p, const char *s, size_t n)
{
	const char *eq = memchr(s, '=', n), *key, *val;
	char show[64];
	size_t kn, vn;
	int i;

	if (!eq)
		return fail(p->err, p->errlen, "%s:%d: expected 'key = value' "
		            "or '[section]'", p->c->path, p->line);
	kn = (size_t)(eq - s);
	key = trim(s, &kn);
	vn = n - (size_t)(eq - s) - 1;
	val = trim(eq + 1, &vn);
	if (!p->section[0])
		return fail(p->err, p->errlen, "%s:%d: key '%s' before any "
		            "[section]", p->c->path, p->line,
		            shown(key, kn, show, sizeof show));
	i = cfg_find(p->section, strlen(p->section), key, kn);
	if (i < 0)
		return fail(p->err, p->errlen, "%s:%d: unknown key '%s' in "
		            "[%s]", p->c->path, p->line,
		            shown(key, kn, show, sizeof show), p->section);
	if (p->c->val[i].src == CFG_SRC_FILE)
		return fail(p->err, p->errlen, "%s:%d: [%s] %s is set twice "
		            "(first on line %d)", p->c->path, p->line,
		            p->section, cfg_keys[i].key, p->c->val[i].line);
	if (set_value(p->c, i, val, vn, CFG_SRC_FILE, p->line) < 0)
		return fail(p->err, p->errlen, "%s:%d: [%s] %s: value longer "
		            "than %d bytes", p->c->path, p->line, p->section,
		            cfg_keys[i].key, LIM_CFG_VALUE - 1);
	return 0;
}

static int parse_line(struct parse *p, const char *s, size_t n)
{
	s = trim(s, &n);
	if (n == 0 || s[0] == '#' || s[0] == ';')
		return 0;
	if (s[0] == '[')
		return parse_section(p, s, n);
	return parse_pair(p, s, n);
}

/* The lines of text[0..n), each checked for its length and for a NUL
 * (which would end the value early without a word). */
static int parse_text(struct parse *p, const char *text, size_t n)
{
	const char *end = text + n;
	int r = 0;

	while (r == 0 && text < end) {
		const char *nl = memchr(text, '\n', (size_t)(end - text));
		size_t len = (size_t)((nl ? nl : end) - text);

		p->line++;
		if (len > LIM_CFG_LINE - 2)
			r = fail(p->err, p->errlen, "%s:%d: line longer than %d "
			         "bytes", p->c->path, p->line, LIM_CFG_LINE - 2);
		else if (memchr(text, 0, len))
			r = fail(p->err, p->errlen, "%s:%d: NUL byte",
			         p->c->path, p->line);
		else
			r = parse_line(p, text, len);
		text += len + (nl != NULL);
	}
	return r;
}

static int read_file(struct cfg *c, char *err, size_t errlen)
{
	struct parse p = { c, 0, "", err, errlen };
	FILE *f = fopen(c->path, "re");
	char *text;
	size_t n;
	int r;

	if (!f)
		return fail(err, errlen, "cannot read %s: %s", c->path,
		            strerror(errno));
	if (!(text = malloc(LIM_CFG_FILE + 1))) {
		fclose(f);
		return fail(err, errlen, "out of memory");
	}
	n = fread(text, 1, LIM_CFG_FILE + 1, f);
	if (ferror(f))
		r = fail(err, errlen, "cannot read %s: %s", c->path,
		         strerror(errno));
	else if (n > LIM_CFG_FILE)
		r = fail(err, errlen, "%s is larger than %d KB: not a "
		         "configuration", c->path, LIM_CFG_FILE / 1024);
	else
		r = parse_text(&p, text, n);
	fclose(f);
	free(text);
	return r;
}

/* ---- the environment ---- */

static int read_env(struct cfg *c, char *const *envp, char *err,
                    size_t errlen)
{
	char name[128];

	for (; envp && *envp; envp++) {
		const char *e = *envp, *eq = strchr(e, '=');
		bool known = false;
		if (strncmp(e, "LETTAMX_", 8) || !eq)
			continue;
		for (int i = 0; i < cfg_nkeys && !known; i++) {
			cfg_env_name(i, name, sizeof name);
			if (strlen(name) != (size_t)(eq - e) ||
			    strncmp(name, e, (size_t)(eq - e)))
				continue;
			known = true;
			if (set_value(c, i, eq + 1, strlen(eq + 1), CFG_SRC_ENV,
			              0) < 0)
				return fail(err, errlen, "environment %s: value "
				            "too long", name);
		}
		/* a typo in a variable of a known section must not pass
		 * silently; other LETTAMX_ variables are not ours */
		for (int i = 0; i < cfg_nkeys && !known; i++) {
			cfg_env_name(i, name, sizeof name);
			size_t pre = strlen("LETTAMX_") +
			             strlen(cfg_keys[i].section) + 1;
			if (!strncmp(name, e, pre) && (size_t)(eq - e) > pre)
				return fail(err, errlen, "environment %.*s: "
				            "unknown key in [%s]", (int)(eq - e),
				            e, cfg_keys[i].section);
		}
	}
	return 0;
}

/* ---- loading ---- */

static int load(struct cfg *c, const char *path, char *const *envp,
                char *err, size_t errlen)
{
	int r;

	memset(c, 0, sizeof *c);
	path = path ? path : CFG_DEFAULT_PATH;
	if (strlen(path) >= sizeof c->path)
		return fail(err, errlen, "config path too long");
	memcpy(c->path, path, strlen(path) + 1);
	defaults(c);
	if ((r = read_file(c, err, errlen)) < 0)
		return r;
	if ((r = read_env(c, envp ? envp : environ, err, errlen)) < 0)
		return r;
	derived_defaults(c);
	return cfg_validate(c, err, errlen);
}

int cfg_load(struct cfg *c, const char *path, char *const *envp,
             char *err, size_t errlen)
{
	int r = load(c, path, envp, err, errlen);

	if (r < 0)
		cfg_msg_clean(err);     /* whatever part of it came from input */
	return r;
}

const char *cfg_get(const struct cfg *c, const char *section,
                    const char *key)
{
	int i = cfg_find(section, strlen(section), key, strlen(key));

	return i < 0 || !c->val[i].src || !c->val[i].text[0] ? NULL :
	       c->val[i].text;
}

int64_t cfg_num(const struct cfg *c, const char *section, const char *key)
{
	int i = cfg_find(section, strlen(section), key, strlen(key));

	return i < 0 || !c->val[i].src ? 0 : c->val[i].num;
}

int cfg_list_item(const char *list, int i, char *out, size_t cap)
{
	const char *p = list, *end;
	size_t n;

	for (; p; i--) {
		end = strchr(p, ',');
		n = end ? (size_t)(end - p) : strlen(p);
		if (i == 0) {
			const char *t = trim(p, &n);
			if (n >= cap)
				return ERR_TOOBIG;
			memcpy(out, t, n);
			out[n] = 0;
			return 0;
		}
		p = end ? end + 1 : NULL;
	}
	return ERR_NOTFOUND;
}

int cfg_secret(const struct cfg *c, const char *section, const char *key,
               char *out, size_t cap, char *err, size_t errlen)
{
	const char *path = cfg_get(c, section, key);
	int r;

	if (!path)
		return ERR_NOTFOUND;
	r = cfg_read_secret(path, out, cap, err, errlen);
	if (r == 0)
		log_add_secret(out);
	return r;
}

int cfg_apply_log(const struct cfg *c)
{
	const char *level = cfg_get(c, "log", "level");
	const char *target = cfg_get(c, "log", "target");
	enum log_level l;

	if (level && log_parse_level(level, &l) == 0)
		log_set_level(l);
	if (target && !strcmp(target, "syslog"))
		return log_set_target(LOG_TARGET_SYSLOG, NULL);
	return log_set_target(LOG_TARGET_STDERR, NULL);
}
