/*
 * json: the reader. jsmn tokenises (strict mode, parent links so closing a
 * container is O(depth)); a second pass over the tokens checks what jsmn
 * lets through (separators between tokens, number syntax, string
 * contents, depth) and records, per token, where its subtree ends so that
 * skipping a value is O(1).
 */
#include "core/json.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

struct json_tok {
	jsmntok_t t;
};

#define JSON_TOK_START 256

void json_init(struct json *j)
{
	memset(j, 0, sizeof *j);
}

void json_free(struct json *j)
{
	free(j->tok);
	free(j->next);
	json_init(j);
}

/* ---- UTF-8 ---- */

size_t json_utf8_fit(const char *s, size_t n, size_t room)
{
	size_t k = 0;

	while (k < n) {
		size_t q = json_utf8_seq((const unsigned char *)s + k, n - k);
		if (!q || k + q > room)
			break;
		k += q;
	}
	return k;
}

size_t json_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	uint32_t cp, min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool json_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t k = json_utf8_seq(p + i, n - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

/* ---- string bodies ---- */

static int hex4(const char *s, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return ERR_PROTO;
	}
	*out = v;
	return 0;
}

size_t json_utf8_put(uint32_t cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decodes one escape at s[*i] (just after the backslash) into a code
 * point; pairs surrogates. */
static int unescape_one(const char *s, size_t n, size_t *i, uint32_t *cp)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *p;
	uint32_t lo;

	if (*i >= n)
		return ERR_PROTO;
	if (s[*i] != 'u') {
		p = memchr(from, s[*i], sizeof from - 1);
		if (!p)
			return ERR_PROTO;
		*cp = (unsigned char)to[p - from];
		(*i)++;
		return 0;
	}
	if (n - *i < 5 || hex4(s + *i + 1, cp))
		return ERR_PROTO;
	*i += 5;
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		return ERR_UTF8;                /* a lone low surrogate */
	if (*cp < 0xd800 || *cp > 0xdbff)
		return 0;
	if (n - *i < 6 || s[*i] != '\\' || s[*i + 1] != 'u' ||
	    hex4(s + *i + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
		return ERR_UTF8;                /* a lone high surrogate */
	*i += 6;
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
	return 0;
}

/* Length of the run at s[0..n) of bytes that stand for themselves:
 * printable ASCII but the backslash. Most of every string is such a run,
 * and a byte loop is what every frame and /sync body paid per byte. */
static size_t plain_run(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '\\')
		i++;
	return i;
}

/* Decodes the body s[0..n) of a string into out[0..cap) (out may be NULL
 * to validate only). Returns the decoded length or an err code. */
static long str_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t i = 0, o = 0, k;
	char tmp[4];
	uint32_t cp;
	int r;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if ((k = plain_run(s + i, n - i)) > 0) {
			if (out) {
				if (k > cap - o)
					return ERR_TOOBIG;
				memcpy(out + o, s + i, k);
			}
			i += k;
			o += k;
			continue;
		}
		if (c < 0x20)
			return ERR_PROTO;
		if (c == '\\') {
			i++;
			if ((r = unescape_one(s, n, &i, &cp)) < 0)
				return r;
			k = json_utf8_put(cp, tmp);
		} else {
			k = json_utf8_seq((const unsigned char *)s + i, n - i);
			if (!k)
				return ERR_UTF8;
			memcpy(tmp, s + i, k);
			i += k;
		}
		if (out) {
			if (k > cap - o)
				return ERR_TOOBIG;
			memcpy(out + o, tmp, k);
		}
		o += k;
	}
	return (long)o;
}

/* ---- validation ---- */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Checks the JSON number grammar: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)? */
static bool num_ok(const char *s, size_t n)
{
	size_t i = 0, d;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && s[i] >= '1' && s[i] <= '9')
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return false;
	if (i < n && s[i] == '.') {
		for (d = ++i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return false;
	}
	return i == n;
}

static bool prim_ok(const char *s, size_t n)
{
	if (n == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "null", 4)))
		return true;
	if (n == 5 && !memcmp(s, "false", 5))
		return true;
	return num_ok(s, n);
}

/* Outer bounds of token t in the text: strings include their quotes. */
static int tok_lo(const jsmntok_t *t)
{
	return t->type == JSMN_STRING ? t->start - 1 : t->start;
}

static int tok_hi(const jsmntok_t *t)
{
	return t->type == JSMN_STRING ? t->end + 1 : t->end;
}

/* True when text[a..b) is whitespace around exactly one `punct` (or only
 * whitespace when punct is 0). */
static bool gap_ok(const char *s, int a, int b, char punct)
{
	bool seen = false;

	if (a > b)
		return false;
	for (int i = a; i < b; i++) {
		if (is_ws(s[i]))
			continue;
		if (s[i] != punct || seen)
			return false;
		seen = true;
	}
	return punct == 0 || seen;
}

static int check_value(struct json *j, int i, int depth);

/* Checks the members or elements of container i; returns the index after
 * its subtree. */
static int check_children(struct json *j, int i, int depth)
{
	const jsmntok_t *t = &j->tok[i].t;
	bool obj = t->type == JSMN_OBJECT;
	int pos = t->start + 1, k = i + 1, r;

	for (int n = 0; n < t->size; n++) {
		if (k >= (int)j->ntok)
			return ERR_PROTO;
		if (!gap_ok(j->text, pos, tok_lo(&j->tok[k].t), n ? ',' : 0))
			return ERR_PROTO;
		if (obj) {
			if (j->tok[k].t.type != JSMN_STRING)
				return ERR_PROTO;
			if ((r = check_value(j, k, depth)) < 0)
				return r;
			pos = tok_hi(&j->tok[k].t);
			if (++k >= (int)j->ntok ||
			    !gap_ok(j->text, pos, tok_lo(&j->tok[k].t), ':'))
				return ERR_PROTO;
		}
		if ((r = check_value(j, k, depth + 1)) < 0)
			return r;
		pos = tok_hi(&j->tok[k].t);
		k = r;
	}
	if (!gap_ok(j->text, pos, t->end - 1, 0))
		return ERR_PROTO;
	return k;
}

static int check_value(struct json *j, int i, int depth)
{
	const jsmntok_t *t = &j->tok[i].t;
	const char *s = j->text + t->start;
	size_t n = (size_t)(t->end - t->start);
	long r;

	if (t->start < 0 || t->end < t->start)
		return ERR_PROTO;
	switch (t->type) {
	case JSMN_STRING:
		if ((r = str_decode(s, n, NULL, 0)) < 0)
			return (int)r;
		j->next[i] = i + 1;
		return i + 1;
	case JSMN_PRIMITIVE:
		if (!prim_ok(s, n))
			return ERR_PROTO;
		j->next[i] = i + 1;
		return i + 1;
	case JSMN_OBJECT:
	case JSMN_ARRAY:
		if (depth >= LIM_JSON_DEPTH)
			return ERR_TOOBIG;
		if ((r = check_children(j, i, depth)) < 0)
			return (int)r;
		j->next[i] = (int)r;
		return (int)r;
	default:
		return ERR_PROTO;
	}
}

/* ---- parsing ---- */

static int grow(struct json *j)
{
	unsigned cap = j->cap ? j->cap * 2 : JSON_TOK_START;
	struct json_tok *t;
	int *nx;

	if (j->cap >= LIM_JSON_TOKENS)
		return ERR_TOOBIG;
	if (cap > LIM_JSON_TOKENS)
		cap = LIM_JSON_TOKENS;
	t = realloc(j->tok, cap * sizeof *t);
	if (!t)
		return ERR_NOMEM;
	j->tok = t;
	nx = realloc(j->next, cap * sizeof *nx);
	if (!nx)
		return ERR_NOMEM;
	j->next = nx;
	j->cap = cap;
	return 0;
}

/* Runs jsmn, growing the token array each time it runs out. jsmn resumes
 * where it stopped, so the text is scanned once overall. */
static int tokenise(struct json *j)
{
	jsmn_parser p;
	int r;

	jsmn_init(&p);
	for (;;) {
		if (!j->cap && (r = grow(j)) < 0)
			return r;
		r = jsmn_parse(&p, j->text, j->len, &j->tok[0].t, j->cap);
		if (r >= 0) {
			j->ntok = (unsigned)r;
			return 0;
		}
		if (r != JSMN_ERROR_NOMEM)
			return ERR_PROTO;
		if ((r = grow(j)) < 0)
			return r;
	}
}

int json_parse(struct json *j, const char *text, size_t len)
{
	int r;

	j->ntok = 0;
	if (len > LIM_JSON_DOC)
		return ERR_TOOBIG;
	if (memchr(text, 0, len))
		return ERR_PROTO;               /* jsmn would stop there */
	j->text = text;
	j->len = len;
	r = tokenise(j);
	if (r == 0 && (j->ntok == 0 || (j->tok[0].t.type != JSMN_OBJECT &&
	                                 j->tok[0].t.type != JSMN_ARRAY)))
		r = ERR_PROTO;
	if (r == 0 && !gap_ok(text, 0, j->tok[0].t.start, 0))
		r = ERR_PROTO;
	if (r == 0 && (r = check_value(j, 0, 0)) >= 0)
		r = (r == (int)j->ntok && gap_ok(text, j->tok[0].t.end,
		                                  (int)len, 0)) ? 0 : ERR_PROTO;
	if (r < 0)
		j->ntok = 0;
	return r;
}

/* ---- access ---- */

static const jsmntok_t *tok_at(const struct json *j, int v)
{
	if (v < 0 || (unsigned)v >= j->ntok)
		return NULL;
	return &j->tok[v].t;
}

enum json_type json_type(const struct json *j, int v)
{
	const jsmntok_t *t = tok_at(j, v);

	if (!t)
		return JSON_NONE;
	switch (t->type) {
	case JSMN_OBJECT:
		return JSON_OBJ;
	case JSMN_ARRAY:
		return JSON_ARR;
	case JSMN_STRING:
		return JSON_STR;
	case JSMN_PRIMITIVE:
		break;
	default:
		return JSON_NONE;
	}
	switch (j->text[t->start]) {
	case 't':
	case 'f':
		return JSON_BOOL;
	case 'n':
		return JSON_NULL;
	default:
		return JSON_NUM;
	}
}

int json_skip(const struct json *j, int v)
{
	return tok_at(j, v) ? j->next[v] : ERR_INVAL;
}

int json_count(const struct json *j, int v)
{
	enum json_type ty = json_type(j, v);

	return ty == JSON_OBJ || ty == JSON_ARR ? j->tok[v].t.size : 0;
}

int json_obj_first(const struct json *j, int o)
{
	if (json_type(j, o) != JSON_OBJ)
		return ERR_INVAL;
	return j->tok[o].t.size ? o + 1 : ERR_NOTFOUND;
}

int json_obj_next(const struct json *j, int o, int key)
{
	int k;

	if (json_type(j, o) != JSON_OBJ || key <= o || key + 1 >= j->next[o])
		return ERR_INVAL;
	k = j->next[key + 1];
	return k < j->next[o] ? k : ERR_NOTFOUND;
}

int json_arr_first(const struct json *j, int a)
{
	if (json_type(j, a) != JSON_ARR)
		return ERR_INVAL;
	return j->tok[a].t.size ? a + 1 : ERR_NOTFOUND;
}

int json_arr_next(const struct json *j, int a, int elem)
{
	int e;

	if (json_type(j, a) != JSON_ARR || elem <= a || elem >= j->next[a])
		return ERR_INVAL;
	e = j->next[elem];
	return e < j->next[a] ? e : ERR_NOTFOUND;
}

const char *json_raw(const struct json *j, int v, size_t *n)
{
	const jsmntok_t *t = tok_at(j, v);

	if (!t)
		return NULL;
	*n = (size_t)(t->end - t->start);
	return j->text + t->start;
}

bool json_str_eq(const struct json *j, int v, const char *s)
{
	size_t n, sn = strlen(s);
	const char *raw;
	char buf[256];
	long r;

	if (json_type(j, v) != JSON_STR)
		return false;
	raw = json_raw(j, v, &n);
	/* An escape is never shorter than what it stands for: a string as
	 * long as s is s only without one, a shorter one never. Most keys a
	 * lookup passes differ in length and cost no scan. */
	if (n <= sn)
		return n == sn && !memcmp(raw, s, n) && !memchr(raw, '\\', n);
	if (!memchr(raw, '\\', n))
		return false;
	if (sn >= sizeof buf || n > 6 * sn)
		return false;   /* an escaped form is at most 6 bytes a byte */
	r = str_decode(raw, n, buf, sizeof buf);
	return r >= 0 && (size_t)r == sn && !memcmp(buf, s, sn);
}

int json_get(const struct json *j, int o, const char *key)
{
	int k = json_obj_first(j, o), found = ERR_NOTFOUND;

	if (k == ERR_INVAL)
		return ERR_INVAL;
	/* the last of repeated keys, as Python's json (Synapse, Letta) reads
	 * it: we must not see another value than the server that sent it */
	for (; k >= 0; k = json_obj_next(j, o, k))
		if (json_str_eq(j, k, key))
			found = k + 1;
	return found;
}

int json_strn(const struct json *j, int v, char *out, size_t cap, size_t *n)
{
	size_t rn;
	const char *raw;
	long r;

	if (json_type(j, v) != JSON_STR || cap == 0)
		return ERR_INVAL;
	raw = json_raw(j, v, &rn);
	r = str_decode(raw, rn, out, cap - 1);
	if (r < 0)
		return (int)r;
	out[r] = 0;
	if (n)
		*n = (size_t)r;
	return 0;
}

int json_str(const struct json *j, int v, char *out, size_t cap)
{
	size_t n;
	int r = json_strn(j, v, out, cap, &n);

	if (r < 0)
		return r;
	if (memchr(out, 0, n)) {
		out[0] = 0;
		return ERR_INVAL;
	}
	return 0;
}

int json_int(const struct json *j, int v, int64_t min, int64_t max,
             int64_t *out)
{
	const char *s;
	size_t n, i = 0;
	bool neg;
	uint64_t acc = 0, lim;

	if (json_type(j, v) != JSON_NUM)
		return ERR_INVAL;
	s = json_raw(j, v, &n);
	if (memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n))
		return ERR_INVAL;
	neg = s[0] == '-';
	i = neg;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (acc > (lim - d) / 10)
			return ERR_TOOBIG;
		acc = acc * 10 + d;
	}
	int64_t val = neg ? (int64_t)(0 - acc) : (int64_t)acc;
	if (val < min || val > max)
		return ERR_TOOBIG;
	*out = val;
	return 0;
}

int json_bool(const struct json *j, int v, bool *out)
{
	if (json_type(j, v) != JSON_BOOL)
		return ERR_INVAL;
	*out = j->text[j->tok[v].t.start] == 't';
	return 0;
}

int json_get_str(const struct json *j, int o, const char *key,
                 char *out, size_t cap)
{
	int v = json_get(j, o, key);

	return v < 0 ? v : json_str(j, v, out, cap);
}

int json_get_int(const struct json *j, int o, const char *key,
                 int64_t min, int64_t max, int64_t *out)
{
	int v = json_get(j, o, key);

	return v < 0 ? v : json_int(j, v, min, max, out);
}

int json_get_bool(const struct json *j, int o, const char *key, bool *out)
{
	int v = json_get(j, o, key);

	return v < 0 ? v : json_bool(j, v, out);
}
