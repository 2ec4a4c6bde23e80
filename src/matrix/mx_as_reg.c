/*
 * mx_as_reg: the registration YAML (see mx_as_reg.h).
 */
#include "matrix/mx_as_reg.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/proto_buf.h"

/* Appends s with every regex metacharacter escaped. */
static void regex_escape(struct proto_buf *b, const char *s)
{
	for (; *s; s++) {
		if (strchr("\\.^$|?*+()[]{}/-", *s))
			proto_buf_add(b, "\\", 1);
		proto_buf_add(b, s, 1);
	}
}

int mx_as_reg_users(const char *prefix, const char *server, char *out,
                    size_t cap)
{
	struct proto_buf b;

	proto_buf_init(&b, out, cap);
	proto_buf_str(&b, "@");
	regex_escape(&b, prefix);
	proto_buf_str(&b, ".*:");
	regex_escape(&b, server);
	return b.err ? b.err : (int)b.len;
}

/* A value that goes in single quotes as it is: printable ASCII, no
 * quote, no space (ids, tokens, URLs, names). */
static int plain(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~' || *s == '\'' || *s == '"' ||
		    *s == '\\')
			return 0;
	return 1;
}

static int id_ok(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		            "0123456789._-", *s))
			return 0;
	return 1;
}

static int check(const struct mx_as_reg *r, char *why, size_t wcap)
{
	const char *bad = !id_ok(r->id) ? "[appservice] id" :
	                  !plain(r->url) ? "[appservice] url" :
	                  !plain(r->as_token) || !plain(r->hs_token) ?
	                  "a token" : !id_ok(r->sender_localpart) ?
	                  "the bot's localpart" : !plain(r->server_name) ?
	                  "the server name" : r->user_prefix &&
	                  *r->user_prefix && !plain(r->user_prefix) ?
	                  "[matrix] user_prefix" : NULL;

	if (!bad)
		return 0;
	snprintf(why, wcap, "%s cannot go in the registration (empty, or "
	         "spaces, quotes or other characters a homeserver would read "
	         "otherwise)", bad);
	return ERR_INVAL;
}

int mx_as_reg_yaml(const struct mx_as_reg *r, char *out, size_t cap,
                   char *why, size_t wcap)
{
	char users[1024];
	struct proto_buf b;
	int e = check(r, why, wcap);

	if (e)
		return e;
	if (mx_as_reg_users(r->user_prefix ? r->user_prefix : "",
	                    r->server_name, users, sizeof users) < 0)
		return ERR_TOOBIG;
	proto_buf_init(&b, out, cap);
	proto_buf_fmt(&b,
	    "# lettamx as an application service: load this file in the\n"
	    "# homeserver (Synapse: app_service_config_files) and restart it.\n"
	    "# It holds two secrets: keep it readable by the homeserver only.\n"
	    "id: '%s'\n"
	    "url: '%s'\n"
	    "as_token: '%s'\n"
	    "hs_token: '%s'\n"
	    "sender_localpart: '%s'\n"
	    "rate_limited: false\n"
	    "namespaces:\n"
	    "  users:\n"
	    "    - exclusive: true\n"
	    "      regex: '%s'\n"
	    "  aliases: []\n"
	    "  rooms: []\n",
	    r->id, r->url, r->as_token, r->hs_token, r->sender_localpart,
	    users);
	return b.err ? b.err : (int)b.len;
}
