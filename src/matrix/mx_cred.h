/*
 * mx_cred: how a request to the homeserver says who makes it.
 *
 * A credential is passed around as one string, as an access token always
 * was: a user's own access token (client mode), or, in application-service
 * mode, the service's as_token acting as one of its users, written
 * "<as_token>" MX_CRED_SEP "<user id>". The three places that put a
 * request on the wire (provisioning's calls, the bridge's, the operator
 * tools') split it: the token goes in `Authorization: Bearer`, the user in
 * the query as `user_id=` (the application service API's masquerading),
 * so no builder of a path or a body needs to know the mode.
 */
#ifndef LETTAMX_MX_CRED_H
#define LETTAMX_MX_CRED_H

#include <stddef.h>

struct proto_buf;

/* The ASCII unit separator: never part of a token or a Matrix id. */
#define MX_CRED_SEP '\x1f'

/* Writes as_token acting as user_id into out[0..cap). Returns 0, or
 * ERR_INVAL (an empty part, or the separator in one), ERR_TOOBIG. */
int mx_cred_as(char *out, size_t cap, const char *as_token,
               const char *user_id);

/* The bearer token of cred into token[0..cap) and the user it acts as
 * into *user (a pointer into cred; NULL: the token's own user). Returns 0
 * or ERR_TOOBIG (token then ""). */
int mx_cred_split(const char *cred, char *token, size_t cap,
                  const char **user);

/* Appends the user a request acts as to the URL in u: "?user_id=…", or
 * "&user_id=…" when u already has a query. user NULL or "": nothing. */
void mx_cred_url(struct proto_buf *u, const char *user);

#endif
