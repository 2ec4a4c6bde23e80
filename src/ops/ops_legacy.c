/*
 * ops_legacy: reading, checking and writing agent_user_mappings.json
 * (see ops_legacy.h).
 */
#include "ops/ops_legacy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ident.h"
#include "core/json.h"

/* ---- where a JSON error is ----
 *
 * json_parse() says whether a document is valid, not where it breaks; an
 * operator editing a 28 kB file needs the line and column. This is a
 * small recursive-descent walk of the grammar that stops at the first
 * byte that cannot continue a valid document. */

struct scan {
	const char *s;
	size_t n, i;
	int depth;
};

static void ws(struct scan *c)
{
	while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' ||
	                       c->s[c->i] == '\n' || c->s[c->i] == '\r'))
		c->i++;
}

static int lit(struct scan *c, const char *w)
{
	size_t k = strlen(w);

	for (size_t j = 0; j < k; j++, c->i++)
		if (c->i >= c->n || c->s[c->i] != w[j])
			return -1;
	return 0;
}

static int str(struct scan *c)
{
	if (c->i >= c->n || c->s[c->i] != '"')
		return -1;
	c->i++;
	while (c->i < c->n) {
		unsigned char ch = (unsigned char)c->s[c->i];

		if (ch == '"') {
			c->i++;
			return 0;
		}
		if (ch < 0x20)
			return -1;
		if (ch == '\\') {
			c->i++;
			/* a NUL is no escape (strchr would find the string's
			 * end) */
			if (c->i >= c->n || !c->s[c->i] ||
			    !strchr("\"\\/bfnrtu", c->s[c->i]))
				return -1;
			if (c->s[c->i] == 'u') {
				for (int k = 0; k < 4; k++)
					if (++c->i >= c->n || !c->s[c->i] ||
					    !strchr("0123456789abcdefABCDEF",
					            c->s[c->i]))
						return -1;
			}
			c->i++;
			continue;
		}
		if (ch >= 0x80) {
			size_t k = json_utf8_seq((const unsigned char *)c->s + c->i,
			                         c->n - c->i);

			if (!k)
				return -1;
			c->i += k;
			continue;
		}
		c->i++;
	}
	return -1;
}

static int digits(struct scan *c)
{
	size_t st = c->i;

	while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9')
		c->i++;
	return c->i > st ? 0 : -1;
}

static int num(struct scan *c)
{
	if (c->i < c->n && c->s[c->i] == '-')
		c->i++;
	if (c->i + 1 < c->n && c->s[c->i] == '0' && c->s[c->i + 1] >= '0' &&
	    c->s[c->i + 1] <= '9') {
		c->i++;         /* no leading zeros */
		return -1;
	}
	if (digits(c))
		return -1;
	if (c->i < c->n && c->s[c->i] == '.') {
		c->i++;
		if (digits(c))
			return -1;
	}
	if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
		c->i++;
		if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-'))
			c->i++;
		if (digits(c))
			return -1;
	}
	return 0;
}

static int value(struct scan *c);

/* An object ('{') or array ('['): members separated by commas. */
static int container(struct scan *c, char close)
{
	if (++c->depth > LIM_JSON_DEPTH)
		return -1;
	c->i++;
	ws(c);
	if (c->i < c->n && c->s[c->i] == close) {
		c->i++;
		c->depth--;
		return 0;
	}
	for (;;) {
		ws(c);
		if (close == '}') {
			if (str(c))
				return -1;
			ws(c);
			if (c->i >= c->n || c->s[c->i] != ':')
				return -1;
			c->i++;
			ws(c);
		}
		if (value(c))
			return -1;
		ws(c);
		if (c->i >= c->n)
			return -1;
		if (c->s[c->i] == close) {
			c->i++;
			c->depth--;
			return 0;
		}
		if (c->s[c->i] != ',')
			return -1;
		c->i++;
	}
}

static int value(struct scan *c)
{
	if (c->i >= c->n)
		return -1;
	switch (c->s[c->i]) {
	case '{': return container(c, '}');
	case '[': return container(c, ']');
	case '"': return str(c);
	case 't': return lit(c, "true");
	case 'f': return lit(c, "false");
	case 'n': return lit(c, "null");
	default:  return num(c);
	}
}

long legacy_json_errpos(const char *text, size_t len)
{
	struct scan c = { text, len, 0, 0 };

	ws(&c);
	if (value(&c) == 0) {
		ws(&c);
		if (c.i == len)
			return -1;
	}
	return (long)(c.i < len ? c.i : len);
}

void legacy_linecol(const char *text, size_t len, size_t off, int *line,
                    int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			(*col)++;       /* count characters, not bytes */
		}
	}
}

/* ---- the entries ---- */

struct ctx {
	struct legacy_file *f;
	legacy_report_fn report;
	void *arg;
	const struct json *j;
};

static void say(struct ctx *c, bool fatal, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct ctx *c, bool fatal, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (fatal)
		c->f->errors++;
	else
		c->f->warnings++;
	if (c->report)
		c->report(c->arg, fatal, msg);
}

static const char *const known[] = {
	"agent_id", "agent_name", "matrix_user_id", "matrix_password",
	"created", "room_id", "room_created", "invitation_status", NULL
};

static void unknown_fields(struct ctx *c, int o, const char *id)
{
	for (int k = json_obj_first(c->j, o); k >= 0;
	     k = json_obj_next(c->j, o, k)) {
		int i;
		char name[64];

		for (i = 0; known[i] && !json_str_eq(c->j, k, known[i]); i++)
			;
		if (known[i])
			continue;
		if (json_str(c->j, k, name, sizeof name) < 0)
			snprintf(name, sizeof name, "(long name)");
		say(c, false, "%s: unknown field '%s' ignored", id, name);
	}
}

/* A string member: 1 (read), 0 (absent or null), -1 (bad: reported). */
static int get_str(struct ctx *c, int o, const char *id, const char *key,
                   char *out, size_t cap)
{
	int v = json_get(c->j, o, key);

	out[0] = '\0';
	if (v < 0 || json_type(c->j, v) == JSON_NULL)
		return 0;
	if (json_type(c->j, v) != JSON_STR) {
		say(c, true, "%s: %s is not a string", id, key);
		return -1;
	}
	if (json_str(c->j, v, out, cap) < 0) {
		say(c, true, "%s: %s is too long (at most %zu bytes) or holds "
		    "a NUL", id, key, cap - 1);
		return -1;
	}
	return 1;
}

static int get_bool(struct ctx *c, int o, const char *id, const char *key,
                    bool *out)
{
	int v = json_get(c->j, o, key);

	*out = false;
	if (v < 0 || json_type(c->j, v) == JSON_NULL)
		return 0;
	if (json_bool(c->j, v, out) < 0) {
		say(c, true, "%s: %s is not true or false", id, key);
		return -1;
	}
	return 1;
}

static void read_ids(struct ctx *c, int o, struct legacy_entry *e,
                     const char *id)
{
	struct store_agent *a = &e->a;
	char aid[LIM_STORE_ID];
	int r = get_str(c, o, id, "agent_id", aid, sizeof aid);

	if (r > 0 && strcmp(aid, id))
		say(c, true, "%s: agent_id '%s' differs from its key", id, aid);
	else if (r == 0)
		say(c, false, "%s: no agent_id; the key is used", id);
	if (get_str(c, o, id, "agent_name", a->name, sizeof a->name) == 0)
		say(c, true, "%s: no agent_name", id);
	r = get_str(c, o, id, "matrix_user_id", a->user_id, sizeof a->user_id);
	if (r == 0)
		say(c, true, "%s: no matrix_user_id", id);
	else if (r > 0 && !ident_matrix_id_valid(a->user_id, '@'))
		say(c, true, "%s: matrix_user_id '%s' is not a Matrix user id",
		    id, a->user_id);
	r = get_str(c, o, id, "room_id", a->room_id, sizeof a->room_id);
	if (r > 0 && !ident_matrix_id_valid(a->room_id, '!'))
		say(c, true, "%s: room_id '%s' is not a Matrix room id", id,
		    a->room_id);
}

static void read_rest(struct ctx *c, int o, struct legacy_entry *e,
                      const char *id)
{
	struct store_agent *a = &e->a;
	bool rc;
	int v;

	e->has_password = get_str(c, o, id, "matrix_password", a->password,
	                          sizeof a->password) > 0;
	get_bool(c, o, id, "created", &e->created);
	get_bool(c, o, id, "room_created", &rc);
	if (a->room_id[0]) {
		a->flags |= STORE_AGENT_ROOM_CREATED;
		if (!rc)
			say(c, false, "%s: room_created is false but room_id is "
			    "set: imported as created", id);
	} else if (rc) {
		say(c, false, "%s: room_created is true but there is no "
		    "room_id: imported without a room", id);
	}
	if (!e->created && a->user_id[0])
		say(c, false, "%s: created is false: the user %s may not "
		    "exist yet (provisioning makes it)", id, a->user_id);
	v = json_get(c->j, o, "invitation_status");
	if (v >= 0 && json_type(c->j, v) != JSON_NULL &&
	    json_type(c->j, v) != JSON_OBJ)
		say(c, true, "%s: invitation_status is not an object", id);
}

static void read_entry(struct ctx *c, int key, struct legacy_entry *e)
{
	char id[LIM_STORE_ID];
	int o = key + 1;

	memset(e, 0, sizeof *e);
	if (json_str(c->j, key, id, sizeof id) < 0 ||
	    !ident_agent_id_valid(id)) {
		char shown[64] = "";

		json_str(c->j, key, shown, sizeof shown);
		say(c, true, "key '%s' is not a Letta agent id "
		    "(agent-<uuid>)", shown);
		return;
	}
	memcpy(e->a.agent_id, id, strlen(id) + 1);
	if (json_type(c->j, o) != JSON_OBJ) {
		say(c, true, "%s: the entry is not an object", id);
		return;
	}
	read_ids(c, o, e, id);
	read_rest(c, o, e, id);
	unknown_fields(c, o, id);
}

/* ---- claimed twice ---- */

struct claim {
	const char *id;         /* the agent, room or user id */
	size_t i;               /* the entry */
};

static int by_id(const void *x, const void *y)
{
	const struct claim *a = x, *b = y;
	int r = strcmp(a->id, b->id);

	return r ? r : (a->i > b->i) - (a->i < b->i);
}

/* Names every value of the field at offset off claimed by two entries. */
static void twice(struct ctx *c, size_t off, const char *what,
                  struct claim *cl)
{
	struct legacy_file *f = c->f;

	for (size_t i = 0; i < f->n; i++)
		cl[i] = (struct claim){ (const char *)&f->e[i] + off, i };
	qsort(cl, f->n, sizeof *cl, by_id);
	for (size_t i = 1; i < f->n; i++)
		if (cl[i].id[0] && !strcmp(cl[i].id, cl[i - 1].id))
			say(c, true, "%s %s is claimed by both %s and %s", what,
			    cl[i].id, f->e[cl[i - 1].i].a.agent_id,
			    f->e[cl[i].i].a.agent_id);
}

static int duplicates(struct ctx *c)
{
	struct claim *cl = calloc(c->f->n ? c->f->n : 1, sizeof *cl);

	if (!cl)
		return ERR_NOMEM;
	twice(c, offsetof(struct legacy_entry, a.agent_id), "agent", cl);
	twice(c, offsetof(struct legacy_entry, a.room_id), "room", cl);
	twice(c, offsetof(struct legacy_entry, a.user_id), "user", cl);
	free(cl);
	return 0;
}

int legacy_parse(const char *text, size_t len, struct legacy_file *f,
                 legacy_report_fn report, void *arg)
{
	struct json j;
	struct ctx c = { f, report, arg, &j };
	int r, n = 0;

	memset(f, 0, sizeof *f);
	json_init(&j);
	r = json_parse(&j, text, len);
	if (r) {
		long at = legacy_json_errpos(text, len);
		int line, col;

		legacy_linecol(text, len, at < 0 ? len : (size_t)at, &line,
		               &col);
		if (at < 0)     /* grammar fine: an escape the reader refuses */
			say(&c, true, "%s", r == ERR_TOOBIG ? "the file is too "
			    "big or too deep" : r == ERR_UTF8 ? "a \\u escape is "
			    "a lone surrogate" : "not one JSON object");
		else
			say(&c, true, "line %d, column %d: %s", line, col,
			    r == ERR_UTF8 ? "invalid UTF-8" :
			    r == ERR_TOOBIG ? "the file is too big or too deep" :
			    (size_t)at >= len ? "the JSON ends too early "
			    "(truncated?)" : "invalid JSON");
		json_free(&j);
		return r == ERR_NOMEM ? r : ERR_PROTO;
	}
	if (json_type(&j, 0) != JSON_OBJ) {
		say(&c, true, "line 1, column 1: the file is not a JSON object "
		    "keyed by agent id");
		json_free(&j);
		return ERR_PROTO;
	}
	f->e = calloc((size_t)json_count(&j, 0) + 1, sizeof *f->e);
	if (!f->e) {
		json_free(&j);
		return ERR_NOMEM;
	}
	for (int k = json_obj_first(&j, 0); k >= 0; k = json_obj_next(&j, 0, k))
		read_entry(&c, k, &f->e[n++]);
	f->n = (size_t)n;
	json_free(&j);
	if (duplicates(&c))
		return ERR_NOMEM;
	return f->errors ? ERR_PROTO : 0;
}

void legacy_free(struct legacy_file *f)
{
	if (f->e)
		for (size_t i = 0; i < f->n; i++)
			memset(f->e[i].a.password, 0, sizeof f->e[i].a.password);
	free(f->e);
	f->e = NULL;
	f->n = 0;
}

/* ---- verify and export ---- */

static int differ(legacy_report_fn report, void *arg, const char *id,
                  const char *what, const char *file, const char *store)
{
	char msg[900];

	snprintf(msg, sizeof msg, "%s: %s differs: file '%s', store '%s'", id,
	         what, file, store);
	report(arg, false, msg);
	return 1;
}

int legacy_diff(const struct legacy_entry *e, const struct store_agent *s,
                legacy_report_fn report, void *arg)
{
	const struct store_agent *a = &e->a;
	bool frc = (a->flags & STORE_AGENT_ROOM_CREATED) != 0;
	bool src;
	int n = 0;

	if (!s) {
		char msg[300];

		snprintf(msg, sizeof msg, "%s: in the file, not in the store",
		         a->agent_id);
		report(arg, false, msg);
		return 1;
	}
	src = (s->flags & STORE_AGENT_ROOM_CREATED) != 0;
	if (strcmp(a->name, s->name))
		n += differ(report, arg, a->agent_id, "agent_name", a->name,
		            s->name);
	if (strcmp(a->user_id, s->user_id))
		n += differ(report, arg, a->agent_id, "matrix_user_id",
		            a->user_id, s->user_id);
	if (strcmp(a->room_id, s->room_id))
		n += differ(report, arg, a->agent_id, "room_id", a->room_id,
		            s->room_id);
	if (frc != src)
		n += differ(report, arg, a->agent_id, "room_created",
		            frc ? "true" : "false", src ? "true" : "false");
	if (e->has_password && strcmp(a->password, s->password))
		n += differ(report, arg, a->agent_id, "matrix_password",
		            "(hidden)", "(hidden)");
	return n;
}

void legacy_write(struct json_w *w, const struct store_agent *a,
                  bool with_secrets)
{
	json_w_key(w, a->agent_id);
	json_w_obj(w);
	json_w_kstr(w, "agent_id", a->agent_id);
	json_w_kstr(w, "agent_name", a->name);
	json_w_kstr(w, "matrix_user_id", a->user_id);
	if (with_secrets && a->password[0])
		json_w_kstr(w, "matrix_password", a->password);
	json_w_kbool(w, "created", a->password[0] || a->access_token[0]);
	json_w_key(w, "room_id");
	if (a->room_id[0])
		json_w_str(w, a->room_id);
	else
		json_w_null(w);
	json_w_kbool(w, "room_created",
	             (a->flags & STORE_AGENT_ROOM_CREATED) != 0);
	json_w_key(w, "invitation_status");
	json_w_null(w);
	json_w_obj_end(w);
}
