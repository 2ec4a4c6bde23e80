/*
 * proto: what the protocol clients (letta, matrix) share, sans-I/O.
 *
 *   - struct proto_req: one HTTP request as data (method, URL-encoded path
 *     with query, borrowed bearer token, JSON body). The matrix and letta
 *     builders fill it; the async layer hands it to the HTTP client.
 *   - struct proto_resp: what came back (status, Retry-After, body bytes
 *     owned by the caller), given to the parsers.
 *   - a capped writer for paths and JSON bodies (sticky ERR_TOOBIG);
 *   - a JSON reader over jsmn (tokens grown on demand, strict mode) with
 *     the few lookups the clients need.
 *
 * The JSON half overlaps json.c (store worktree). When json.c lands on
 * main, proto_json_* become thin calls into it; the callers do not change.
 */
#ifndef LETTAMX_PROTO_H
#define LETTAMX_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "limits.h"

/* ---- capped text buffers ---- */

/* A growing text in caller-owned storage. `err` is sticky: once an append
 * did not fit, every later append is ignored and err stays ERR_TOOBIG. */
struct proto_buf {
	char *p;
	size_t len;
	size_t cap;     /* bytes of p, including the NUL kept after len */
	int err;
};

/* Sets up `b` over `mem` (`cap` >= 1 bytes); b->p is always
 * NUL-terminated. */
void proto_buf_init(struct proto_buf *b, char *mem, size_t cap);

/* Appends `n` raw bytes / a C string / printf-formatted text. */
void proto_buf_add(struct proto_buf *b, const char *s, size_t n);
void proto_buf_str(struct proto_buf *b, const char *s);
void proto_buf_fmt(struct proto_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends `s` percent-encoded for a URL path segment or query value:
 * everything but A-Z a-z 0-9 - . _ ~ becomes %XX, so '!' ':' '@' '/' in
 * Matrix ids never change the meaning of a path. */
void proto_buf_urlenc(struct proto_buf *b, const char *s);

/* Appends `s` as a JSON string with its quotes. Control characters, '"'
 * and '\\' are escaped; bytes that are not valid UTF-8 set err to
 * ERR_UTF8 (a Matrix server rejects them; we must not send them). */
void proto_buf_jstr(struct proto_buf *b, const char *s);

/* ---- requests and responses ---- */

enum proto_method { PROTO_GET, PROTO_POST, PROTO_PUT, PROTO_DELETE };

struct proto_req {
	int method;                     /* enum proto_method */
	char path[LIM_PROTO_PATH];      /* "/..." with "?query", encoded */
	const char *bearer;             /* borrowed; NULL = no Authorization */
	char body[LIM_PROTO_BODY];      /* JSON; empty when body_len == 0 */
	size_t body_len;
	int has_body;                   /* send body (even "{}") */
};

/* Returns "GET", "POST", "PUT" or "DELETE". */
const char *proto_method_str(int method);

/* Clears `r` for a new request with `method`. */
void proto_req_init(struct proto_req *r, int method);

/* A response handed to a parser. The body is borrowed from the caller. */
struct proto_resp {
	int status;                     /* HTTP status; 0 = no response */
	int64_t retry_after_ms;         /* from Retry-After; -1 = none */
	const char *body;
	size_t len;
};

/* ---- JSON reader ---- */

struct proto_json_tok {
	int type;       /* PROTO_J_* */
	int start;      /* byte offsets into the text */
	int end;
	int size;       /* members (object) or elements (array) */
};

enum {
	PROTO_J_OBJECT = 1,
	PROTO_J_ARRAY = 2,
	PROTO_J_STRING = 3,
	PROTO_J_PRIM = 4,
};

/* A parsed document: tokens (heap) over the caller's text (borrowed). */
struct proto_json {
	const char *text;
	size_t len;
	struct proto_json_tok *tok;
	int ntok;
};

/* Parses `text` (`len` bytes, one complete JSON value). Returns 0,
 * ERR_PROTO (not JSON, or trailing bytes), ERR_TOOBIG (more than
 * LIM_PROTO_JSON_TOKENS tokens or LIM_PROTO_JSON_BYTES bytes), ERR_NOMEM.
 * Free with proto_json_free() on success (and harmlessly on failure). */
int proto_json_parse(struct proto_json *j, const char *text, size_t len);

void proto_json_free(struct proto_json *j);

/* Index of the token after the whole subtree of token `i`. */
int proto_json_skip(const struct proto_json *j, int i);

/* Index of the value of `key` in object token `obj`, or -1 (no such key,
 * or `obj` is not an object). */
int proto_json_get(const struct proto_json *j, int obj, const char *key);

/* Index of element `n` of array `arr`, or -1. */
int proto_json_at(const struct proto_json *j, int arr, int n);

/* Decodes string token `i` (escapes, \u with surrogate pairs to UTF-8)
 * into `out` (`cap` bytes, NUL-terminated). Returns the length, ERR_INVAL
 * (`i` < 0 or not a string), ERR_TOOBIG, ERR_PROTO (bad escape), ERR_UTF8
 * (a lone surrogate or an embedded NUL). */
int proto_json_str(const struct proto_json *j, int i, char *out, size_t cap);

/* Like proto_json_str, but a string longer than `cap - 1` bytes is cut at
 * the last whole UTF-8 character that fits and `*cut` is set to 1. For
 * display texts (topics) where a cap must not drop the whole record. */
int proto_json_str_cut(const struct proto_json *j, int i, char *out,
                       size_t cap, int *cut);

/* 1 if token `i` is the string `s` exactly (no escapes involved or after
 * decoding), else 0. */
int proto_json_is(const struct proto_json *j, int i, const char *s);

/* Reads an integer primitive into `*v`. Returns 0, ERR_INVAL (not an
 * integer token or out of range). */
int proto_json_int(const struct proto_json *j, int i, int64_t *v);

/* 1 for `true`, 0 for `false`, ERR_INVAL otherwise. */
int proto_json_bool(const struct proto_json *j, int i);

/* 1 if token `i` is null (or `i` < 0: absent), else 0. */
int proto_json_null(const struct proto_json *j, int i);

#endif
