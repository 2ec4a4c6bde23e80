/*
 * proto_buf: the capped text buffer (see proto_buf.h).
 */
#include "core/proto_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

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
