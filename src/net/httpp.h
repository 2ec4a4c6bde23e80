/*
 * httpp: the sans-I/O half of the HTTP/1.1 client.
 *
 * Everything here works on bytes the caller owns and never touches a
 * socket, so unit tests and the fuzzer drive it directly:
 *   - the response head parser (incremental, zero-copy: every string is a
 *     slice into the caller's receive buffer);
 *   - the body framer (Content-Length, chunked with trailers, or
 *     close-delimited), which hands out slices of body bytes;
 *   - URL parsing, request serialisation and Retry-After.
 * Modelled on picohttpparser: "consumed / need more / error" results, and
 * the same answer whether the bytes arrive whole or one at a time.
 */
#ifndef LETTAMX_HTTPP_H
#define LETTAMX_HTTPP_H

#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "core/url.h"

/* One header line of a parsed head: slices into the receive buffer. */
struct httpp_header {
	const char *name;
	size_t name_len;
	const char *value;      /* optional whitespace trimmed */
	size_t value_len;
};

/* A parsed response head. Slices stay valid while the buffer given to
 * httpp_head_parse() is unchanged. */
struct httpp_head {
	int minor;              /* HTTP/1.<minor> */
	int status;             /* 100-999 */
	const char *reason;
	size_t reason_len;
	size_t nhdr;
	struct httpp_header hdr[LIM_HTTP_HEADERS];
};

/* Parses a response head from the start of `buf`. Returns the head length
 * (> 0: bytes consumed, up to and including the empty line), ERR_AGAIN if
 * the head is not complete yet, ERR_PROTO for a malformed head, ERR_TOOBIG
 * when the head exceeds `cap` bytes (or LIM_HTTP_HEAD, whichever is
 * smaller) or has more than LIM_HTTP_HEADERS lines. `h` is filled only on
 * success; its slices point into `buf`. */
int httpp_head_parse(struct httpp_head *h, const char *buf, size_t len,
                     size_t cap);

/* Finds the first header `name` (case-insensitive). Returns it or NULL. */
const struct httpp_header *httpp_head_find(const struct httpp_head *h,
                                           const char *name);

/* Returns 1 if the comma-separated header value list (`v`, `n`) holds
 * `token` (case-insensitive), else 0. */
int httpp_has_token(const char *v, size_t n, const char *token);

/* Returns 1 if the connection may be reused after this response (HTTP/1.1
 * without "Connection: close", or HTTP/1.0 with keep-alive), else 0. */
int httpp_head_keepalive(const struct httpp_head *h);

/* ---- body framing ---- */

enum httpp_framing {
	HTTPP_NONE,             /* no body (1xx, 204, 304) */
	HTTPP_LENGTH,           /* Content-Length */
	HTTPP_CHUNKED,          /* Transfer-Encoding: chunked */
	HTTPP_CLOSE,            /* until the server closes */
};

/* Body framer state; caller-owned, set up by httpp_body_init(). */
struct httpp_body {
	int framing;            /* enum httpp_framing */
	int state;              /* private: chunk parser state */
	int done;               /* the whole body (and trailers) was read */
	uint64_t left;          /* bytes left in the body or current chunk */
	uint64_t total;         /* body bytes handed out so far */
	size_t line;            /* private: bytes of the current framing line */
	size_t trailer;         /* private: trailer bytes so far */
};

/* Chooses the framing of the body that follows `h`. Returns 0, or
 * ERR_PROTO for an invalid or conflicting Content-Length. A body with
 * both Transfer-Encoding and Content-Length is read as chunked (RFC 9112
 * 6.3) and the caller should not reuse the connection. */
int httpp_body_init(struct httpp_body *b, const struct httpp_head *h);

/* Feeds `len` bytes of the stream after the head. Consumes a prefix and
 * returns its length (>= 0); `*data`/`*dlen` receive the body bytes found
 * in that prefix (a slice of `in`, possibly empty). Call again with the
 * rest while it returns > 0 and !b->done. Returns ERR_PROTO for a
 * malformed chunk line, ERR_TOOBIG for an over-long chunk line or
 * trailer section. Bytes after the end of the body are not consumed. */
int httpp_body_feed(struct httpp_body *b, const char *in, size_t len,
                    const char **data, size_t *dlen);

/* Tells the framer the peer closed the stream. Returns 0 if that ends the
 * body properly (close-delimited, or already done), else ERR_CLOSED. */
int httpp_body_eof(struct httpp_body *b);

/* ---- requests ---- */

/* A request header given by a caller: two C strings. */
struct httpp_field {
	const char *name;
	const char *value;
};

/* Writes a request head into `buf` (`cap` bytes): request line, Host,
 * the caller's headers, Content-Length when `body_len` > 0 or the method
 * is not GET, and the empty line. Returns the length, ERR_TOOBIG if it
 * does not fit, ERR_INVAL for a header name or value with CR/LF (header
 * injection) or an invalid method. */
int httpp_req_write(char *buf, size_t cap, const char *method,
                    const struct url *u, const struct httpp_field *f,
                    size_t nf, size_t body_len);

/* Parses a Retry-After value: delta-seconds or an IMF-fixdate compared
 * with `now_unix` (seconds since the epoch). Returns the delay in
 * milliseconds (>= 0; a date in the past gives 0; capped at one day), or
 * ERR_INVAL. */
int64_t httpp_retry_after_ms(const char *v, size_t n, int64_t now_unix);

#endif
