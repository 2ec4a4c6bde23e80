/*
 * mx_as_reg: the registration file of lettamx as an application service
 * (the YAML a homeserver loads from app_service_config_files), sans-I/O.
 *
 * The user namespace is exclusive: only lettamx may make or act as users
 * whose localpart starts with the agents' prefix on our server. No room
 * or alias namespace: lettamx makes its rooms itself and owns no
 * aliases. rate_limited is false: the service's users are not paced.
 */
#ifndef LETTAMX_MX_AS_REG_H
#define LETTAMX_MX_AS_REG_H

#include <stddef.h>

struct mx_as_reg {
	const char *id;                 /* [appservice] id */
	const char *url;                /* where the homeserver reaches us */
	const char *as_token;
	const char *hs_token;
	const char *sender_localpart;   /* the bot's localpart */
	const char *user_prefix;        /* [matrix] user_prefix */
	const char *server_name;
};

/* Writes the registration into out[0..cap). Returns its length, or
 * ERR_INVAL (a value that cannot be written safely: an id beyond
 * [A-Za-z0-9._-], a URL or token with spaces or quotes, an empty part;
 * `why` names it), ERR_TOOBIG. */
int mx_as_reg_yaml(const struct mx_as_reg *r, char *out, size_t cap,
                   char *why, size_t wcap);

/* The users regex: "@" PREFIX ".*:" SERVER with both regex-escaped.
 * Returns its length or ERR_TOOBIG. */
int mx_as_reg_users(const char *prefix, const char *server, char *out,
                    size_t cap);

#endif
