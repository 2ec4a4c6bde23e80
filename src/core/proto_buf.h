/*
 * proto_buf: a capped text buffer in caller-owned storage, with
 * printf-style and percent-encoded appends. The protocol clients write
 * request paths with it, the metrics endpoint its text; a text that does
 * not fit is an error (sticky ERR_TOOBIG), never a truncation.
 */
#ifndef LETTAMX_PROTO_BUF_H
#define LETTAMX_PROTO_BUF_H

#include <stddef.h>

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

#endif
