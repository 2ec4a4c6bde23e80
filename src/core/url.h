/*
 * url: an absolute http:// or https:// URL taken apart (scheme, host,
 * port, path), checked strictly. The HTTP client connects by it; the
 * configuration checks its URL values with it before anything runs.
 * WebSocket URLs (ws://, wss://) have their own parser, so that an HTTP
 * setting never takes a WebSocket URL or the other way round.
 */
#ifndef LETTAMX_URL_H
#define LETTAMX_URL_H

#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

struct url {
	int tls;                        /* https or wss */
	uint16_t port;
	char host[LIM_HTTP_HOST + 1];   /* without brackets, lower case */
	const char *path;               /* into the URL: "/..." with query;
	                                 * "" means "/" */
};

/* Parses an absolute http:// or https:// URL. Userinfo, fragments,
 * empty hosts, bad ports and control characters are refused. Returns 0
 * or ERR_INVAL (ERR_TOOBIG beyond LIM_HTTP_URL). `u->path` points into
 * `url`. */
int url_parse(struct url *u, const char *url);

/* The same for an absolute ws:// or wss:// URL (wss: u->tls set; default
 * ports 80 and 443). http:// and https:// are refused (ERR_INVAL). */
int url_parse_ws(struct url *u, const char *url);

/* The value of hex digit c (either case), or -1. */
int url_hex_digit(int c);

/* Decodes n bytes of a percent-encoded path segment or query value into
 * out[0..cap) as a C string ('+' stays '+': Matrix ids are encoded with
 * %XX). Returns its length, or ERR_INVAL (a bad %XX, or a NUL decoded),
 * ERR_TOOBIG. */
int url_unescape(const char *s, size_t n, char *out, size_t cap);

/* The value of `key` in query q ("a=1&b=2", undecoded) into out[0..cap),
 * decoded. Returns its length, ERR_NOTFOUND, or url_unescape's errors. */
int url_query_get(const char *q, const char *key, char *out, size_t cap);

#endif
