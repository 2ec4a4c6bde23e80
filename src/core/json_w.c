/*
 * json_w: the JSON writer of json.h. Every call first checks that a value
 * (or key) is allowed where the document stands, so a sequence of calls
 * can only ever produce well-formed JSON or a sticky error.
 */
#include "core/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/b64.h"
#include "core/err.h"

void json_w_init(struct json_w *w, char *buf, size_t cap)
{
	memset(w, 0, sizeof *w);
	w->buf = buf;
	w->cap = cap;
	if (cap)
		buf[0] = 0;
	else
		w->err = ERR_TOOBIG;
}

static void fail(struct json_w *w, int err)
{
	if (!w->err)
		w->err = err;
}

/* Appends n bytes, keeping one byte for the NUL. */
static void put(struct json_w *w, const char *s, size_t n)
{
	if (w->err)
		return;
	if (n >= w->cap - w->len) {
		fail(w, ERR_TOOBIG);
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = 0;
}

static void putc1(struct json_w *w, char c)
{
	put(w, &c, 1);
}

/* Checks that a value may come now and writes the comma before it. */
static bool value_start(struct json_w *w)
{
	if (w->err)
		return false;
	if (w->depth == 0) {
		if (w->done)
			fail(w, ERR_INVAL);
		return !w->err;
	}
	if (w->kind[w->depth - 1] == '{') {
		if (!w->after_key)
			fail(w, ERR_INVAL);
		w->after_key = false;
		return !w->err;
	}
	if (!w->first[w->depth - 1])
		putc1(w, ',');
	w->first[w->depth - 1] = false;
	return !w->err;
}

static void value_end(struct json_w *w)
{
	if (w->depth == 0)
		w->done = true;
}

static void w_open(struct json_w *w, char kind)
{
	if (!value_start(w))
		return;
	if (w->depth == LIM_JSON_DEPTH) {
		fail(w, ERR_TOOBIG);
		return;
	}
	putc1(w, kind);
	w->kind[w->depth] = kind;
	w->first[w->depth] = true;
	w->depth++;
}

static void w_close(struct json_w *w, char kind)
{
	if (w->err)
		return;
	if (w->depth == 0 || w->kind[w->depth - 1] != kind || w->after_key) {
		fail(w, ERR_INVAL);
		return;
	}
	putc1(w, kind == '{' ? '}' : ']');
	w->depth--;
	value_end(w);
}

void json_w_obj(struct json_w *w) { w_open(w, '{'); }
void json_w_obj_end(struct json_w *w) { w_close(w, '{'); }
void json_w_arr(struct json_w *w) { w_open(w, '['); }
void json_w_arr_end(struct json_w *w) { w_close(w, '['); }

/* Writes s escaped (no quotes); refuses bytes that are not UTF-8. */
static void escaped(struct json_w *w, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run;
	char esc[8];

	while (i < n && !w->err) {
		for (run = i; run < n && p[run] >= 0x20 && p[run] < 0x80 &&
		     p[run] != '"' && p[run] != '\\'; run++)
			;
		put(w, s + i, run - i);
		if ((i = run) == n)
			break;
		if (p[i] >= 0x80) {
			size_t k = json_utf8_seq(p + i, n - i);
			if (!k) {
				fail(w, ERR_UTF8);
				return;
			}
			put(w, s + i, k);
			i += k;
			continue;
		}
		switch (p[i]) {
		case '"':  put(w, "\\\"", 2); break;
		case '\\': put(w, "\\\\", 2); break;
		case '\n': put(w, "\\n", 2); break;
		case '\r': put(w, "\\r", 2); break;
		case '\t': put(w, "\\t", 2); break;
		case '\b': put(w, "\\b", 2); break;
		case '\f': put(w, "\\f", 2); break;
		default:
			snprintf(esc, sizeof esc, "\\u%04x", p[i]);
			put(w, esc, 6);
		}
		i++;
	}
}

static void quoted(struct json_w *w, const char *s, size_t n)
{
	putc1(w, '"');
	escaped(w, s, n);
	putc1(w, '"');
}

void json_w_keyn(struct json_w *w, const char *key, size_t n)
{
	if (w->err)
		return;
	if (w->depth == 0 || w->kind[w->depth - 1] != '{' || w->after_key) {
		fail(w, ERR_INVAL);
		return;
	}
	if (!w->first[w->depth - 1])
		putc1(w, ',');
	w->first[w->depth - 1] = false;
	quoted(w, key, n);
	putc1(w, ':');
	w->after_key = true;
}

void json_w_key(struct json_w *w, const char *key)
{
	json_w_keyn(w, key, strlen(key));
}

void json_w_strn(struct json_w *w, const char *s, size_t n)
{
	if (!value_start(w))
		return;
	quoted(w, s, n);
	value_end(w);
}

void json_w_strn2(struct json_w *w, const char *a, size_t an,
                  const char *b, size_t bn)
{
	if (!value_start(w))
		return;
	putc1(w, '"');
	escaped(w, a, an);
	escaped(w, b, bn);
	putc1(w, '"');
	value_end(w);
}

void json_w_b64(struct json_w *w, const void *p, size_t n)
{
	size_t k = b64_len(n);

	if (!value_start(w))
		return;
	putc1(w, '"');
	/* the text, its closing quote and the NUL must fit */
	if (w->err || (n && !k) || k >= w->cap - w->len - 1) {
		fail(w, ERR_TOOBIG);
		return;
	}
	b64_enc(w->buf + w->len, k, p, n);
	w->len += k;
	w->buf[w->len] = 0;
	putc1(w, '"');
	value_end(w);
}

void json_w_str(struct json_w *w, const char *s)
{
	json_w_strn(w, s, strlen(s));
}

void json_w_int(struct json_w *w, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof num, "%" PRId64, v);

	if (!value_start(w))
		return;
	put(w, num, (size_t)n);
	value_end(w);
}

void json_w_bool(struct json_w *w, bool v)
{
	if (!value_start(w))
		return;
	put(w, v ? "true" : "false", v ? 4 : 5);
	value_end(w);
}

void json_w_null(struct json_w *w)
{
	if (!value_start(w))
		return;
	put(w, "null", 4);
	value_end(w);
}

void json_w_copy(struct json_w *w, const struct json *j, int v)
{
	enum json_type ty = json_type(j, v);
	const char *raw;
	size_t n;

	if (ty == JSON_NONE) {
		fail(w, ERR_INVAL);
		return;
	}
	if (!value_start(w))
		return;
	raw = json_raw(j, v, &n);
	if (ty == JSON_STR)
		putc1(w, '"');
	put(w, raw, n);             /* validated by json_parse */
	if (ty == JSON_STR)
		putc1(w, '"');
	value_end(w);
}

void json_w_kstr(struct json_w *w, const char *key, const char *s)
{
	json_w_key(w, key);
	json_w_str(w, s);
}

void json_w_kint(struct json_w *w, const char *key, int64_t v)
{
	json_w_key(w, key);
	json_w_int(w, v);
}

void json_w_kbool(struct json_w *w, const char *key, bool v)
{
	json_w_key(w, key);
	json_w_bool(w, v);
}

int json_w_finish(struct json_w *w, size_t *n)
{
	if (!w->err && !w->done)
		fail(w, ERR_INVAL);
	if (w->err)
		return w->err;
	if (n)
		*n = w->len;
	return 0;
}
