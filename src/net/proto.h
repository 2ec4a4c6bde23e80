/*
 * proto: what the protocol clients (letta, matrix) share, sans-I/O.
 *
 *   - struct proto_req: one HTTP request as data (method, URL-encoded path
 *     with query, bearer token, JSON body). The matrix and letta
 *     builders fill it; the async layer hands it to the HTTP client.
 *   - struct proto_resp: what came back (status, Retry-After, body bytes
 *     owned by the caller), given to the parsers.
 *   - paths are written with the capped text buffer of
 *     core/proto_buf.h (percent-encoding, sticky ERR_TOOBIG); bodies
 *     with json_w (json.h).
 */
#ifndef LETTAMX_PROTO_H
#define LETTAMX_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "core/proto_buf.h"

/* ---- requests and responses ---- */

enum proto_method { PROTO_GET, PROTO_POST, PROTO_PUT, PROTO_DELETE };

struct proto_req {
	int method;                     /* enum proto_method */
	char path[LIM_PROTO_PATH];      /* "/..." with "?query", encoded */
	char bearer[LIM_MX_TOKEN];      /* a copy; "" = no Authorization (a
	                                 * request may outlive whatever the
	                                 * token was read from) */
	char body[LIM_PROTO_BODY];      /* JSON; empty when body_len == 0 */
	size_t body_len;
	int has_body;                   /* send body (even "{}") */
	/* or bytes of another type (an upload): borrowed, valid until the
	 * answer; NULL: none */
	const uint8_t *raw;
	size_t raw_len;
	const char *raw_type;           /* its Content-Type */
};

/* Returns "GET", "POST", "PUT" or "DELETE". */
const char *proto_method_str(int method);

/* Sets the bearer token of `r` (NULL or "": none). Returns 0 or
 * ERR_TOOBIG. */
int proto_req_bearer(struct proto_req *r, const char *token);

/* Clears `r` for a new request with `method`. */
void proto_req_init(struct proto_req *r, int method);

/* A response handed to a parser. The body is borrowed from the caller. */
struct proto_resp {
	int status;                     /* HTTP status; 0 = no response */
	int64_t retry_after_ms;         /* from Retry-After; -1 = none */
	const char *body;
	size_t len;
	/* When status is 0: the transport's err code (ERR_TLS, ERR_REFUSED,
	 * ERR_DNS, ERR_TIMEOUT, ERR_CLOSED...; 0 = unknown) and its reason
	 * naming host:port (NULL = none), so the first real cause reaches
	 * the last line of a failed command. */
	int neterr;
	const char *reason;
};

/* ---- JSON helpers ---- */

struct json;

/* Unescapes string value `v` of `j` into `out` (`cap` bytes, NUL-
 * terminated). A string longer than `cap - 1` bytes is cut at the last
 * whole UTF-8 character that fits and `*cut` is set to 1 (else 0): for
 * display texts (names, topics) where a cap must not drop the record.
 * Returns the length, ERR_INVAL (not a string, or an embedded NUL),
 * ERR_NOMEM. */
int proto_str_cut(const struct json *j, int v, char *out, size_t cap,
                  int *cut);

#endif
