/*
 * mx_cred: credentials as one string (see mx_cred.h).
 */
#include "matrix/mx_cred.h"

#include <string.h>

#include "core/err.h"
#include "core/proto_buf.h"

int mx_cred_as(char *out, size_t cap, const char *as_token,
               const char *user_id)
{
	size_t tn = as_token ? strlen(as_token) : 0;
	size_t un = user_id ? strlen(user_id) : 0;

	if (cap)
		out[0] = '\0';
	if (!tn || !un || memchr(as_token, MX_CRED_SEP, tn) ||
	    memchr(user_id, MX_CRED_SEP, un))
		return ERR_INVAL;
	if (tn + 1 + un >= cap)
		return ERR_TOOBIG;
	memcpy(out, as_token, tn);
	out[tn] = MX_CRED_SEP;
	memcpy(out + tn + 1, user_id, un + 1);
	return 0;
}

int mx_cred_split(const char *cred, char *token, size_t cap,
                  const char **user)
{
	const char *sep = cred ? strchr(cred, MX_CRED_SEP) : NULL;
	size_t n = sep ? (size_t)(sep - cred) : cred ? strlen(cred) : 0;

	*user = sep && sep[1] ? sep + 1 : NULL;
	if (n >= cap) {
		if (cap)
			token[0] = '\0';
		return ERR_TOOBIG;
	}
	if (n)
		memcpy(token, cred, n);
	token[n] = '\0';
	return 0;
}

void mx_cred_url(struct proto_buf *u, const char *user)
{
	if (!user || !*user)
		return;
	proto_buf_str(u, memchr(u->p, '?', u->len) ? "&user_id=" : "?user_id=");
	proto_buf_urlenc(u, user);
}
