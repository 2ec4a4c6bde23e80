/*
 * cfg_cmd: validation of configuration values, secret files, printing of
 * the effective configuration and the `config check` command.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/cfg_doc.h"
#include "conf/cfg_int.h"
#include "core/err.h"
#include "core/json.h"
#include "core/url.h"

/* Prefixes a value's origin and key to a reason. */
static int bad(const struct cfg *c, int i, char *err, size_t errlen,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int bad(const struct cfg *c, int i, char *err, size_t errlen,
               const char *fmt, ...)
{
	char where[LIM_STORE_PATH + 32], why[LIM_CFG_ERR];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	cfg_origin(c, i, where, sizeof where);
	snprintf(err, errlen, "%s: [%s] %s: %s", where, cfg_keys[i].section,
	         cfg_keys[i].key, why);
	cfg_msg_clean(err);
	return ERR_CONFIG;
}

static int parse_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*s || *end || errno)
		return ERR_INVAL;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, int64_t *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (int k = 0; k < 4; k++) {
		if (!strcmp(s, yes[k]))
			return *out = 1, 0;
		if (!strcmp(s, no[k]))
			return *out = 0, 0;
	}
	return ERR_INVAL;
}

struct cfg_unit { const char *name; int64_t mul; };

/* A whole number of 0..INT32_MAX then one of units (n of them; "" for
 * none) -> the number times the unit's multiplier. */
static int parse_units(const char *s, const struct cfg_unit *units,
                       size_t n, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *s == '-' || *s == '+' || errno || v > INT32_MAX)
		return ERR_INVAL;
	for (size_t k = 0; k < n; k++)
		if (!strcmp(end, units[k].name)) {
			*out = v * units[k].mul;
			return 0;
		}
	return ERR_INVAL;
}

/* "90" (seconds), "500ms", "90s", "15m", "2h", "1d" -> ms. */
static int parse_duration(const char *s, int64_t *out)
{
	static const struct cfg_unit units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 }, { "", 1000 },
	};

	return parse_units(s, units, sizeof units / sizeof units[0], out);
}

/* "5000000" (bytes), "512KB", "5MB", "64KiB", "32MiB" -> bytes. */
static int parse_size(const char *s, int64_t *out)
{
	static const struct cfg_unit units[] = {
		{ "", 1 }, { "B", 1 }, { "KB", 1000 }, { "MB", 1000000 },
		{ "KiB", 1024 }, { "MiB", 1048576 }, { "GiB", 1073741824 },
	};

	return parse_units(s, units, sizeof units / sizeof units[0], out);
}

static bool enum_ok(const char *choices, const char *v)
{
	size_t n = strlen(v);

	for (const char *p = choices; p; p = strchr(p, '|'), p = p ? p + 1 : p)
		if (!strncmp(p, v, n) && (p[n] == '|' || p[n] == 0))
			return n > 0;
	return false;
}

/* "@local:server" with a non-empty localpart and server. */
static bool user_id_ok(const char *s)
{
	const char *colon = strchr(s, ':');

	return s[0] == '@' && colon && colon > s + 1 && colon[1] &&
	       !strpbrk(s, " \t,");
}

static int check_users(const struct cfg *c, int i, char *err, size_t errlen)
{
	char item[LIM_CFG_VALUE];

	for (int k = 0; cfg_list_item(c->val[i].text, k, item,
	                              sizeof item) == 0; k++)
		if (!user_id_ok(item))
			return bad(c, i, err, errlen, "'%s' is not a Matrix "
			           "user id (@localpart:server)", item);
	return 0;
}

static int check_secret_file(const struct cfg *c, int i, char *err,
                             size_t errlen)
{
	char buf[LIM_CFG_SECRET + 1], why[LIM_CFG_ERR];

	if ((cfg_keys[i].flags & CFG_CREATED) &&
	    access(c->val[i].text, F_OK) != 0)
		return 0;
	if (cfg_read_secret(c->val[i].text, buf, sizeof buf, why,
	                    sizeof why) < 0)
		return bad(c, i, err, errlen, "%s", why);
	memset(buf, 0, sizeof buf);
	return 0;
}

static void fmt_ms(int64_t ms, char *out, size_t cap)
{
	if (ms % 86400000 == 0 && ms)
		snprintf(out, cap, "%" PRId64 "d", ms / 86400000);
	else if (ms % 3600000 == 0 && ms)
		snprintf(out, cap, "%" PRId64 "h", ms / 3600000);
	else if (ms % 60000 == 0 && ms)
		snprintf(out, cap, "%" PRId64 "m", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(out, cap, "%" PRId64 "s", ms / 1000);
	else
		snprintf(out, cap, "%" PRId64 "ms", ms);
}

/* A value is one line of UTF-8 text: no control character (a tab
 * included), so that a message may quote it. */
static int value_text(const char *s)
{
	size_t n = strlen(s);

	if (!json_utf8_valid(s, n))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* Checks value i (which is set) against its type. */
static int check_one(struct cfg *c, int i, char *err, size_t errlen)
{
	const struct cfg_key *k = &cfg_keys[i];
	struct cfg_val *v = &c->val[i];
	struct url u;
	char lo[32], hi[32];

	if (!value_text(v->text))
		return bad(c, i, err, errlen, "the value holds a control "
		           "character or bytes that are not UTF-8");
	switch (k->type) {
	case CFG_INT:
		if (parse_int(v->text, &v->num) < 0)
			return bad(c, i, err, errlen, "'%s' is not a whole "
			           "number", v->text);
		if (v->num < k->min || v->num > k->max)
			return bad(c, i, err, errlen, "%" PRId64 " is outside "
			           "%" PRId64 "..%" PRId64, v->num, k->min,
			           k->max);
		return 0;
	case CFG_BOOL:
		return parse_bool(v->text, &v->num) < 0 ? bad(c, i, err,
		       errlen, "'%s' is not true or false", v->text) : 0;
	case CFG_DURATION:
		if (parse_duration(v->text, &v->num) < 0)
			return bad(c, i, err, errlen, "'%s' is not a duration "
			           "(like 90s, 15m, 2h, 1d)", v->text);
		fmt_ms(k->min, lo, sizeof lo);
		fmt_ms(k->max, hi, sizeof hi);
		if (v->num < k->min || v->num > k->max)
			return bad(c, i, err, errlen, "%s is outside %s..%s",
			           v->text, lo, hi);
		return 0;
	case CFG_SIZE:
		if (parse_size(v->text, &v->num) < 0)
			return bad(c, i, err, errlen, "'%s' is not a size (like "
			           "5MB, 512KB, 32MiB)", v->text);
		if (v->num < k->min || v->num > k->max)
			return bad(c, i, err, errlen, "%s is outside %" PRId64
			           "..%" PRId64 " bytes", v->text, k->min, k->max);
		return 0;
	case CFG_PATH:
		if (v->text[0] != '/')
			return bad(c, i, err, errlen, "'%s' is not an absolute "
			           "path", v->text);
		return k->flags & CFG_SECRET ?
		       check_secret_file(c, i, err, errlen) : 0;
	case CFG_URL:
		return url_parse(&u, v->text) < 0 ? bad(c, i, err,
		       errlen, "'%s' is not an http:// or https:// URL",
		       v->text) : 0;
	case CFG_URL_WS:
		return url_parse(&u, v->text) < 0 && url_parse_ws(&u, v->text)
		       < 0 ? bad(c, i, err, errlen, "'%s' is not an http(s):// "
		       "or ws(s):// URL", v->text) : 0;
	case CFG_ENUM:
		return enum_ok(k->choices, v->text) ? 0 : bad(c, i, err,
		       errlen, "'%s' is not one of %s", v->text, k->choices);
	case CFG_USER:
		return (v->text[0] == '@' ? user_id_ok(v->text) :
		        !strpbrk(v->text, ": \t@")) ? 0 : bad(c, i, err,
		       errlen, "'%s' is neither a localpart nor "
		       "@localpart:server", v->text);
	case CFG_USERS:
		return check_users(c, i, err, errlen);
	default:
		return 0;
	}
}

/* 1 when [letta] base_url is a ws:// or wss:// URL: the App Server's. */
static bool letta_ws(const struct cfg *c)
{
	const char *base = cfg_get(c, "letta", "base_url");
	struct url u;

	return base && url_parse_ws(&u, base) == 0;
}

/* Rules between keys. */
static int check_cross(const struct cfg *c, char *err, size_t errlen)
{
	const char *reg = cfg_get(c, "matrix", "registration");
	const char *api = cfg_get(c, "letta", "api");
	const char *need = NULL;

	if (api && !strcmp(api, "rest") && letta_ws(c))
		return bad(c, cfg_find("letta", 5, "base_url", 8), err, errlen,
		           "'%s' is a WebSocket URL (an App Server's), but "
		           "[letta] api = rest: give the REST server's http:// "
		           "or https:// URL, or set api = app-server or auto",
		           cfg_get(c, "letta", "base_url"));
	if (reg && !strcmp(reg, "token"))
		need = "registration_token_file";
	else if (reg && !strcmp(reg, "shared-secret"))
		need = "shared_secret_file";
	if (need && !cfg_get(c, "matrix", need))
		return bad(c, cfg_find("matrix", 6, "registration", 12), err,
		           errlen, "'%s' needs [matrix] %s", reg, need);
	return 0;
}

int cfg_validate(struct cfg *c, char *err, size_t errlen)
{
	char env[128];
	int r;

	for (int i = 0; i < cfg_nkeys; i++) {
		if (!c->val[i].src || !c->val[i].text[0]) {
			if (!(cfg_keys[i].flags & CFG_REQUIRED))
				continue;
			cfg_env_name(i, env, sizeof env);
			snprintf(err, errlen, "%s: [%s] %s is required (set it "
			         "in the file or in %s)", c->path,
			         cfg_keys[i].section, cfg_keys[i].key, env);
			return ERR_CONFIG;
		}
		if ((r = check_one(c, i, err, errlen)) < 0)
			return r;
	}
	return check_cross(c, err, errlen);
}

int cfg_read_secret(const char *path, char *out, size_t cap, char *err,
                    size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot read secret file %s: %s", path,
		         strerror(errno));
		if (fd >= 0)
			close(fd);
		return ERR_CONFIG;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		snprintf(err, errlen, "secret file %s must be a regular file "
		         "readable by its owner only (mode %04o; chmod 600)",
		         path, (unsigned)(st.st_mode & 07777));
		return ERR_CONFIG;
	}
	n = read(fd, out, cap - 1);
	close(fd);
	if (n >= 0 && n > 0 && out[n - 1] == '\n')
		n--;
	if (n > 0 && out[n - 1] == '\r')
		n--;
	if (n <= 0 || (size_t)n >= cap - 1 || memchr(out, 0, (size_t)n) ||
	    memchr(out, '\n', (size_t)n)) {
		snprintf(err, errlen, "secret file %s must hold one line of "
		         "1 to %zu bytes", path, cap - 2);
		memset(out, 0, cap);
		return ERR_CONFIG;
	}
	out[n] = 0;
	return 0;
}

/* ---- printing ---- */

/* Which Letta API the daemon will talk to, and why; a word of warning
 * when App Server agents may run tools unasked. */
/* Client or appservice mode, and for the latter where the homeserver
 * must reach us. */
static void print_mode(const struct cfg *c, FILE *out)
{
	const char *mode = cfg_get(c, "matrix", "mode");
	const char *url = cfg_get(c, "appservice", "url");

	if (!mode || strcmp(mode, "appservice")) {
		fputs("# matrix mode: client (the bot and agent users log in; "
		      "the bot syncs)\n", out);
		return;
	}
	fprintf(out, "# matrix mode: appservice: the homeserver pushes to "
	        "%s%s (registration: lettamx appservice registration)\n",
	        url ? "" : "http://", url ? url : cfg_get(c, "appservice",
	                                                 "listen"));
}

static void print_letta(const struct cfg *c, FILE *out, FILE *warn)
{
	const char *api = cfg_get(c, "letta", "api");
	const char *mode = cfg_get(c, "letta", "tool_mode");
	bool rest = api && !strcmp(api, "rest");

	if (letta_ws(c))
		fputs("# letta api: app-server ([letta] base_url is a WebSocket "
		      "URL)\n", out);
	else if (api && strcmp(api, "auto"))
		fprintf(out, "# letta api: %s ([letta] api = %s)\n", api, api);
	else
		fputs("# letta api: decided at start: GET /app-server-info, "
		      "then GET /v1/health/ (api = auto)\n", out);
	if (rest || !mode || !strcmp(mode, "strict"))
		return;
	fprintf(warn, "warning: [letta] tool_mode = %s: %s. Tools run on the "
	        "Letta host, a shell among them; strict (the default) asks a "
	        "person before every tool call.\n", mode,
	        !strcmp(mode, "unrestricted") ? "App Server agents run every "
	        "tool call without asking anyone" : !strcmp(mode, "standard")
	        ? "App Server agents run the tool calls the server deems "
	        "harmless (file reads, read-only shell commands) without "
	        "asking anyone" : "App Server agents edit files and run the "
	        "tool calls the server deems harmless without asking anyone");
}

void cfg_print(const struct cfg *c, FILE *out)
{
	const char *section = "";
	char where[LIM_STORE_PATH + 32];

	fprintf(out, "# lettamx effective configuration (%s)\n", c->path);
	for (int i = 0; i < cfg_nkeys; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		const struct cfg_val *v = &c->val[i];
		if (strcmp(section, k->section)) {
			section = k->section;
			fprintf(out, "\n[%s]\n", section);
		}
		if (!v->src || !v->text[0]) {
			fprintf(out, "# %s =  (unset: %s)\n", k->key, k->help);
			continue;
		}
		cfg_origin(c, i, where, sizeof where);
		fprintf(out, "%s = %s  # %s%s\n", k->key, v->text, where,
		        k->flags & CFG_SECRET ? "; secret file, content not "
		        "shown" : "");
	}
}

static int usage(FILE *f)
{
	fputs("usage: lettamx config check [-c FILE]\n"
	      "       lettamx config keys [--mdoc]\n"
	      "       lettamx config example [SECTION.KEY=VALUE ...]\n"
	      "Validates the configuration (default " CFG_DEFAULT_PATH
	      ", overridden\nby LETTAMX_<SECTION>_<KEY> variables) and "
	      "prints the effective values\nwith where each came from. "
	      "'keys' lists every key, 'example' writes a\nconfiguration "
	      "with every key commented.\n", f);
	return 2;
}

int cfg_cmd(int argc, char **argv)
{
	static struct cfg c;   /* the process's one context; too big for a stack */
	const char *path = NULL;
	char err[LIM_CFG_ERR];

	bool check = false;

	if (argc > 1 && (!strcmp(argv[1], "keys") ||
	                 !strcmp(argv[1], "example")))
		return cfg_doc_cmd(argc - 1, argv + 1);
	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) &&
		    i + 1 < argc)
			path = argv[++i];
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return usage(stdout), 0;
		else if (!strcmp(argv[i], "check") && !check)
			check = true;
		else
			return usage(stderr);
	}
	if (!check)
		return usage(stderr);
	if (cfg_load(&c, path, NULL, err, sizeof err) < 0) {
		fprintf(stderr, "lettamx: %s\n", err);
		return 2;
	}
	cfg_print(&c, stdout);
	print_mode(&c, stdout);
	print_letta(&c, stdout, stderr);
	return 0;
}
