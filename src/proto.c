/*
 * proto: capped text buffers, URL and JSON string encoding, and a JSON
 * reader over jsmn, shared by the letta and matrix clients.
 */
#include "proto.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* Strict mode rejects what a JSON server never sends (bare words, keys
 * that are not strings); static keeps jsmn private to this file, so
 * json.c may include it too. */
#define JSMN_STRICT
#define JSMN_STATIC
#include <jsmn.h>

/* ---- capped text buffers ---- */

void proto_buf_init(struct proto_buf *b, char *mem, size_t cap)
{
	b->p = mem;
	b->len = 0;
	b->cap = cap;
	b->err = cap ? 0 : ERR_TOOBIG;
	if (cap)
		mem[0] = '\0';
}

void proto_buf_add(struct proto_buf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (n >= b->cap - b->len) {
		b->err = ERR_TOOBIG;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void proto_buf_str(struct proto_buf *b, const char *s)
{
	proto_buf_add(b, s, strlen(s));
}

void proto_buf_fmt(struct proto_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->p[b->len] = '\0';
		b->err = ERR_TOOBIG;
		return;
	}
	b->len += (size_t)n;
}

static const char hexd[] = "0123456789ABCDEF";

void proto_buf_urlenc(struct proto_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[3] = { '%', hexd[c >> 4], hexd[c & 15] };

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			proto_buf_add(b, s, 1);
		else
			proto_buf_add(b, esc, 3);
	}
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one
 * (overlong forms, surrogates and values above U+10FFFF included). */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n, i;
	unsigned long cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

void proto_buf_jstr(struct proto_buf *b, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	proto_buf_add(b, "\"", 1);
	while (*u && !b->err) {
		size_t n = utf8_seq(u);
		char esc[7];

		if (n == 0) {
			b->err = ERR_UTF8;
			return;
		}
		if (*u == '"' || *u == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*u;
			proto_buf_add(b, esc, 2);
		} else if (*u < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", *u);
			proto_buf_add(b, esc, 6);
		} else {
			proto_buf_add(b, (const char *)u, n);
		}
		u += n;
	}
	proto_buf_add(b, "\"", 1);
}

/* ---- requests ---- */

const char *proto_method_str(int method)
{
	switch (method) {
	case PROTO_POST:   return "POST";
	case PROTO_PUT:    return "PUT";
	case PROTO_DELETE: return "DELETE";
	default:           return "GET";
	}
}

void proto_req_init(struct proto_req *r, int method)
{
	r->method = method;
	r->path[0] = '\0';
	r->bearer = NULL;
	r->body[0] = '\0';
	r->body_len = 0;
	r->has_body = 0;
}

/* ---- JSON reader ---- */

void proto_json_free(struct proto_json *j)
{
	free(j->tok);
	j->tok = NULL;
	j->ntok = 0;
}

/* 1 if the primitive is true, false, null or a JSON number. */
static int prim_ok(const char *s, size_t n)
{
	size_t i = 0, d;

	if ((n == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "null", 4))) ||
	    (n == 5 && !memcmp(s, "false", 5)))
		return 1;
	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && s[i] >= '1' && s[i] <= '9')
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return 0;
	if (i < n && s[i] == '.') {
		for (d = ++i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	return i == n;
}

/* Checks the value at token i: returns the index after it, or -1. */
static int check_value(const struct proto_json *j, int i, int depth)
{
	const struct proto_json_tok *t;
	int n, k, last;

	if (i >= j->ntok || depth > LIM_PROTO_JSON_DEPTH)
		return -1;
	t = &j->tok[i];
	if (t->type == PROTO_J_STRING)
		return t->size == 0 ? i + 1 : -1;
	if (t->type == PROTO_J_PRIM)
		return prim_ok(j->text + t->start,
		               (size_t)(t->end - t->start)) ? i + 1 : -1;
	n = t->size;
	last = t->start + 1;
	for (i++, k = 0; k < n && i >= 0; k++) {
		if (t->type == PROTO_J_OBJECT) {
			if (i >= j->ntok || j->tok[i].type != PROTO_J_STRING ||
			    j->tok[i].size != 1)
				return -1;
			i++;
		}
		if (i < j->ntok)
			last = j->tok[i].end + (j->tok[i].type == PROTO_J_STRING);
		i = check_value(j, i, depth + 1);
	}
	/* jsmn lets a trailing comma through: only blanks may follow the
	 * last member. */
	for (; i >= 0 && last < t->end - 1; last++)
		if (!memchr(" \t\r\n", j->text[last], 4))
			return -1;
	return i;
}

/* jsmn counts the tokens in a first pass without storing them; the
 * second pass fills an array of exactly that size. */
int proto_json_parse(struct proto_json *j, const char *text, size_t len)
{
	jsmn_parser p;
	jsmntok_t *t;
	int n, i;

	j->text = text;
	j->len = len;
	j->tok = NULL;
	j->ntok = 0;
	if (len > LIM_PROTO_JSON_BYTES)
		return ERR_TOOBIG;
	jsmn_init(&p);
	n = jsmn_parse(&p, text, len, NULL, 0);
	if (n < 1)
		return ERR_PROTO;
	if (n > LIM_PROTO_JSON_TOKENS)
		return ERR_TOOBIG;
	t = malloc((size_t)n * sizeof *t);
	j->tok = malloc((size_t)n * sizeof *j->tok);
	if (!t || !j->tok) {
		free(t);
		proto_json_free(j);
		return ERR_NOMEM;
	}
	jsmn_init(&p);
	if (jsmn_parse(&p, text, len, t, (unsigned)n) != n) {
		free(t);
		proto_json_free(j);
		return ERR_PROTO;
	}
	for (i = 0; i < n; i++) {
		j->tok[i].type = t[i].type;
		j->tok[i].start = t[i].start;
		j->tok[i].end = t[i].end;
		j->tok[i].size = t[i].size;
	}
	free(t);
	j->ntok = n;
	/* jsmn is lax (a key without a value, bare words in arrays); the
	 * lookups below rely on a well-formed tree, so check it once. */
	if (check_value(j, 0, 0) != n)
		goto bad;
	/* A string token ends before its closing quote. */
	i = j->tok[0].end + (j->tok[0].type == PROTO_J_STRING);
	for (; (size_t)i < len; i++)
		if (!memchr(" \t\r\n", text[i], 4))
			goto bad;
	return 0;
bad:
	proto_json_free(j);
	return ERR_PROTO;
}

int proto_json_skip(const struct proto_json *j, int i)
{
	int end = j->tok[i].end;

	for (i++; i < j->ntok && j->tok[i].start < end; i++)
		;
	return i;
}

int proto_json_get(const struct proto_json *j, int obj, const char *key)
{
	int i, k, n;

	if (obj < 0 || obj >= j->ntok || j->tok[obj].type != PROTO_J_OBJECT)
		return -1;
	n = j->tok[obj].size;
	for (i = obj + 1, k = 0; k < n; k++) {
		if (proto_json_is(j, i, key))
			return i + 1;
		i = proto_json_skip(j, i + 1);
	}
	return -1;
}

int proto_json_at(const struct proto_json *j, int arr, int n)
{
	int i, k;

	if (arr < 0 || arr >= j->ntok || j->tok[arr].type != PROTO_J_ARRAY ||
	    n < 0 || n >= j->tok[arr].size)
		return -1;
	for (i = arr + 1, k = 0; k < n; k++)
		i = proto_json_skip(j, i);
	return i;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads \uXXXX at s (6 bytes available checked by the caller). */
static long hex4(const char *s)
{
	long v = 0;

	for (int k = 2; k < 6; k++) {
		int h = hexval(s[k]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static size_t put_utf8(char *o, unsigned long cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decodes one escape at s[0] == '\\' (e = end of string). Writes up to 4
 * bytes to o, sets *olen, returns the bytes of input consumed or an err. */
static int unescape(const char *s, const char *e, char *o, size_t *olen)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *f;
	long hi, lo;

	if (e - s < 2)
		return ERR_PROTO;
	if (s[1] != 'u') {
		f = strchr(from, s[1]);
		if (!f || !*f)
			return ERR_PROTO;
		o[0] = to[f - from];
		*olen = 1;
		return 2;
	}
	if (e - s < 6 || (hi = hex4(s)) < 0)
		return ERR_PROTO;
	if (hi == 0)
		return ERR_UTF8;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return ERR_UTF8;
	if (hi < 0xd800 || hi > 0xdbff) {
		*olen = put_utf8(o, (unsigned long)hi);
		return 6;
	}
	if (e - s < 12 || s[6] != '\\' || s[7] != 'u' ||
	    (lo = hex4(s + 6)) < 0xdc00 || lo > 0xdfff)
		return ERR_UTF8;
	*olen = put_utf8(o, 0x10000 + (((unsigned long)hi - 0xd800) << 10) +
	                    ((unsigned long)lo - 0xdc00));
	return 12;
}

/* Decodes into out; with `cut`, stops at the last whole character that
 * fits instead of failing. */
static int json_str(const struct proto_json *j, int i, char *out, size_t cap,
                    int *cut)
{
	const char *s, *e;
	size_t len = 0;

	if (i < 0 || i >= j->ntok || j->tok[i].type != PROTO_J_STRING || !cap)
		return ERR_INVAL;
	s = j->text + j->tok[i].start;
	e = j->text + j->tok[i].end;
	while (s < e) {
		char tmp[4];
		size_t n = 1;
		int used = 1;

		if (*s == '\\') {
			used = unescape(s, e, tmp, &n);
			if (used < 0)
				return used;
		} else {
			n = utf8_seq((const unsigned char *)s);
			if (n == 0 || (size_t)(e - s) < n)
				return ERR_UTF8;
			memcpy(tmp, s, n);
			used = (int)n;
		}
		if (n >= cap - len) {
			if (!cut)
				return ERR_TOOBIG;
			*cut = 1;
			break;
		}
		memcpy(out + len, tmp, n);
		len += n;
		s += used;
	}
	out[len] = '\0';
	return (int)len;
}

int proto_json_str(const struct proto_json *j, int i, char *out, size_t cap)
{
	return json_str(j, i, out, cap, NULL);
}

int proto_json_str_cut(const struct proto_json *j, int i, char *out,
                       size_t cap, int *cut)
{
	*cut = 0;
	return json_str(j, i, out, cap, cut);
}

int proto_json_is(const struct proto_json *j, int i, const char *s)
{
	size_t n = strlen(s);
	const struct proto_json_tok *t;
	char buf[256];

	if (i < 0 || i >= j->ntok || j->tok[i].type != PROTO_J_STRING)
		return 0;
	t = &j->tok[i];
	if ((size_t)(t->end - t->start) == n &&
	    !memcmp(j->text + t->start, s, n))
		return 1;
	if (!memchr(j->text + t->start, '\\', (size_t)(t->end - t->start)))
		return 0;
	return json_str(j, i, buf, sizeof buf, NULL) == (int)n &&
	       !memcmp(buf, s, n);
}

int proto_json_int(const struct proto_json *j, int i, int64_t *v)
{
	const struct proto_json_tok *t;
	char buf[24], *end;
	size_t n;
	long long x;

	if (i < 0 || i >= j->ntok || j->tok[i].type != PROTO_J_PRIM)
		return ERR_INVAL;
	t = &j->tok[i];
	n = (size_t)(t->end - t->start);
	if (n == 0 || n >= sizeof buf)
		return ERR_INVAL;
	memcpy(buf, j->text + t->start, n);
	buf[n] = '\0';
	if (!((buf[0] >= '0' && buf[0] <= '9') || buf[0] == '-'))
		return ERR_INVAL;
	x = strtoll(buf, &end, 10);
	if (*end || x == LLONG_MAX || x == LLONG_MIN)
		return ERR_INVAL;
	*v = x;
	return 0;
}

int proto_json_bool(const struct proto_json *j, int i)
{
	const struct proto_json_tok *t;

	if (i < 0 || i >= j->ntok || j->tok[i].type != PROTO_J_PRIM)
		return ERR_INVAL;
	t = &j->tok[i];
	if (t->end - t->start == 4 && !memcmp(j->text + t->start, "true", 4))
		return 1;
	if (t->end - t->start == 5 && !memcmp(j->text + t->start, "false", 5))
		return 0;
	return ERR_INVAL;
}

int proto_json_null(const struct proto_json *j, int i)
{
	const struct proto_json_tok *t;

	if (i < 0)
		return 1;
	if (i >= j->ntok || j->tok[i].type != PROTO_J_PRIM)
		return 0;
	t = &j->tok[i];
	return t->end - t->start == 4 && !memcmp(j->text + t->start, "null", 4);
}
