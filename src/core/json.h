/*
 * json: reading (jsmn underneath) and writing JSON.
 *
 * Reading: json_parse() tokenises a whole document and validates it fully
 * before any value is handed out: the grammar (jsmn alone is lenient about
 * commas, colons and number syntax), UTF-8 of every string, escapes
 * (surrogates must pair), no raw control characters, depth and size caps.
 * So a caller never meets a half-valid document. Values are token indexes
 * (int >= 0); lookups that fail return a negative err code.
 *
 *   struct json j;
 *   json_init(&j);
 *   if (json_parse(&j, body, len) == 0) {
 *       int rooms = json_get(&j, 0, "rooms");
 *       for (int k = json_obj_first(&j, rooms); k >= 0;
 *            k = json_obj_next(&j, rooms, k))
 *           ... key token k, value token k + 1 ...
 *   }
 *   json_free(&j);
 *
 * Writing: struct json_w appends into a caller buffer of fixed capacity
 * and can only produce a well-formed document: strings are checked as
 * UTF-8 and escaped, nesting is tracked, a misuse or an overflow is a
 * sticky error reported by json_w_finish().
 */
#ifndef LETTAMX_JSON_H
#define LETTAMX_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

enum json_type {
	JSON_NONE = 0,  /* not a value (bad index) */
	JSON_OBJ,
	JSON_ARR,
	JSON_STR,
	JSON_NUM,
	JSON_BOOL,
	JSON_NULL,
};

struct json_tok;  /* jsmn's token, private to json.c */

/* A parsed document. Owns its token arrays; borrows the text, which must
 * outlive it. */
struct json {
	const char *text;
	size_t len;
	struct json_tok *tok;
	int *next;        /* next[i]: index just after i's subtree */
	unsigned ntok;
	unsigned cap;
};

/* Prepares an empty document (no allocation). */
void json_init(struct json *j);

/* Parses and validates text[0..len). Token arrays grow on demand and are
 * kept for the next parse. Returns 0; ERR_TOOBIG (size, depth or token
 * cap), ERR_UTF8 (bad UTF-8 or a lone surrogate), ERR_PROTO (anything else
 * malformed, or a root that is not an object or array), ERR_NOMEM. After
 * a failure the document holds no values. */
int json_parse(struct json *j, const char *text, size_t len);

/* Frees the token arrays; the document can be parsed into again. */
void json_free(struct json *j);

/* Type of value v; JSON_NONE for an index that is not a value. */
enum json_type json_type(const struct json *j, int v);

/* Index of the token just after v's whole subtree (O(1)). */
int json_skip(const struct json *j, int v);

/* Number of members of an object or elements of an array; 0 otherwise. */
int json_count(const struct json *j, int v);

/* Iteration over an object: yields key tokens (the value is key + 1), or
 * a negative value when done or when o is not an object. */
int json_obj_first(const struct json *j, int o);
int json_obj_next(const struct json *j, int o, int key);

/* Iteration over an array: yields element tokens, negative when done. */
int json_arr_first(const struct json *j, int a);
int json_arr_next(const struct json *j, int a, int elem);

/* Value of member `key` (compared after unescaping) of object o; the last
 * one if the key repeats (as Python's json, which the servers use). Returns its index, ERR_NOTFOUND, or ERR_INVAL if
 * o is not an object. */
int json_get(const struct json *j, int o, const char *key);

/* Raw bytes of v in the text (strings without quotes and still escaped).
 * Returns a pointer into the text and sets *n; NULL for a bad index. */
const char *json_raw(const struct json *j, int v, size_t *n);

/* Unescapes string v into out[0..cap) as UTF-8 and NUL-terminates it;
 * *n gets the length. Returns 0, ERR_INVAL (not a string), ERR_TOOBIG (does
 * not fit with its NUL). json_strn allows embedded NULs (\u0000);
 * json_str refuses them (ERR_INVAL) because the result is a C string. */
int json_strn(const struct json *j, int v, char *out, size_t cap, size_t *n);
int json_str(const struct json *j, int v, char *out, size_t cap);

/* True when string v equals the C string s after unescaping. */
bool json_str_eq(const struct json *j, int v, const char *s);

/* Reads an integer in [min, max]. Fractions and exponents are refused.
 * Returns 0, ERR_INVAL (not an integer number), ERR_TOOBIG (out of range). */
int json_int(const struct json *j, int v, int64_t min, int64_t max,
             int64_t *out);

/* Reads a boolean. Returns 0 or ERR_INVAL. */
int json_bool(const struct json *j, int v, bool *out);

/* Shortcuts on member `key` of object o: ERR_NOTFOUND when absent, else as
 * the accessors above. */
int json_get_str(const struct json *j, int o, const char *key,
                 char *out, size_t cap);
int json_get_int(const struct json *j, int o, const char *key,
                 int64_t min, int64_t max, int64_t *out);
int json_get_bool(const struct json *j, int o, const char *key, bool *out);

/* Length of the valid UTF-8 sequence at s[0..n) (1-4), or 0 if the bytes
 * there are not one (overlong, surrogate, beyond U+10FFFF, truncated). */
size_t json_utf8_seq(const unsigned char *s, size_t n);

/* Writes code point cp (a Unicode scalar value) as UTF-8 into o[0..4);
 * returns its length. */
size_t json_utf8_put(uint32_t cp, char *o);

/* The longest run of whole characters at the start of s[0..n) within
 * room bytes (it stops at the first byte that starts none). */
size_t json_utf8_fit(const char *s, size_t n, size_t room);

/* True when s[0..n) is entirely valid UTF-8. */
bool json_utf8_valid(const char *s, size_t n);

/* ---- writer ---- */

struct json_w {
	char *buf;
	size_t cap, len;
	int err;                       /* sticky: first failure */
	int depth;
	bool done;                     /* the root value is complete */
	bool after_key;                /* in an object, a key awaits its value */
	bool first[LIM_JSON_DEPTH];    /* nothing written yet at this level */
	char kind[LIM_JSON_DEPTH];     /* '{' or '[' */
};

/* Starts writing into buf[0..cap). The buffer stays NUL-terminated. */
void json_w_init(struct json_w *w, char *buf, size_t cap);

void json_w_obj(struct json_w *w);          /* { */
void json_w_obj_end(struct json_w *w);      /* } */
void json_w_arr(struct json_w *w);          /* [ */
void json_w_arr_end(struct json_w *w);      /* ] */
void json_w_key(struct json_w *w, const char *key);
void json_w_keyn(struct json_w *w, const char *key, size_t n);
void json_w_str(struct json_w *w, const char *s);
void json_w_strn(struct json_w *w, const char *s, size_t n);
/* One string value: a[0..an) then b[0..bn) (each whole UTF-8). */
void json_w_strn2(struct json_w *w, const char *a, size_t an,
                  const char *b, size_t bn);
/* One string value: the base64 text (core/b64.h) of p[0..n), written
 * straight into the buffer, so a picture is never held twice. */
void json_w_b64(struct json_w *w, const void *p, size_t n);
void json_w_int(struct json_w *w, int64_t v);
void json_w_bool(struct json_w *w, bool v);
void json_w_null(struct json_w *w);

/* Copies value v of a parsed (hence valid) document verbatim. */
void json_w_copy(struct json_w *w, const struct json *j, int v);

/* Member shortcuts: key then value. */
void json_w_kstr(struct json_w *w, const char *key, const char *s);
void json_w_kint(struct json_w *w, const char *key, int64_t v);
void json_w_kbool(struct json_w *w, const char *key, bool v);

/* Ends writing. Returns 0 and sets *n (may be NULL) to the document length
 * when a complete document was written; else the sticky error: ERR_TOOBIG
 * (buffer or depth), ERR_UTF8 (a string was not UTF-8), ERR_INVAL (misuse,
 * or the document is unfinished). */
int json_w_finish(struct json_w *w, size_t *n);

#endif
