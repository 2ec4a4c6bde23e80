/*
 * proto: requests as data and JSON helpers shared by the letta and matrix
 * clients.
 */
#include "net/proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"

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
	r->bearer[0] = '\0';
	r->body[0] = '\0';
	r->body_len = 0;
	r->has_body = 0;
	r->raw = NULL;
	r->raw_len = 0;
	r->raw_type = NULL;
}

int proto_req_bearer(struct proto_req *r, const char *token)
{
	size_t n = token ? strlen(token) : 0;

	if (n >= sizeof r->bearer) {
		r->bearer[0] = '\0';
		return ERR_TOOBIG;
	}
	memcpy(r->bearer, token ? token : "", n + 1);
	return 0;
}

/* ---- JSON helpers ---- */

int proto_str_cut(const struct json *j, int v, char *out, size_t cap,
                  int *cut)
{
	size_t n, raw_len;
	char *tmp;
	int r;

	*cut = 0;
	r = json_strn(j, v, out, cap, &n);
	if (r == 0)
		return memchr(out, '\0', n) ? ERR_INVAL : (int)n;
	if (r != ERR_TOOBIG || !cap || !json_raw(j, v, &raw_len))
		return r;
	/* Unescaped text is never longer than its escaped form. */
	tmp = malloc(raw_len + 1);
	if (!tmp)
		return ERR_NOMEM;
	r = json_strn(j, v, tmp, raw_len + 1, &n);
	if (r == 0 && memchr(tmp, '\0', n))
		r = ERR_INVAL;
	if (r == 0) {
		size_t len = 0, k;

		while (len < n && (k = json_utf8_seq((const unsigned char *)
		                                     tmp + len, n - len)) &&
		       k < cap - len)
			len += k;
		memcpy(out, tmp, len);
		out[len] = '\0';
		*cut = 1;
		r = (int)len;
	}
	free(tmp);
	return r;
}
