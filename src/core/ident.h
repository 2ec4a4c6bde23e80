/*
 * ident: the names lettamx gives and accepts.
 *
 * An agent's Matrix user is derived from its Letta agent id (stable),
 * never from its name (which changes). Ids that come from the network or
 * the store are checked here before they are used in a path or a key.
 */
#ifndef LETTAMX_IDENT_H
#define LETTAMX_IDENT_H

#include <stddef.h>

/* The longest agent id: "agent-local-" + a 36-character UUID (the App
 * Server's local backend); the REST server's are "agent-" + UUID. */
#define IDENT_AGENT_ID_MAX 48
#define IDENT_MXID_MAX     255  /* the spec's limit on a full user id */

/* 1 if `id` looks like a Letta agent id: "agent-" (the REST server, Letta
 * Cloud) or "agent-local-" (the App Server's local backend), then a
 * lowercase UUID in 8-4-4-4-12 hex form (what the REST server's path
 * validator accepts). Either makes a valid Matrix localpart. */
int ident_agent_id_valid(const char *id);

/* 1 if `prefix` may start a Matrix localpart: 0-32 characters of
 * a-z 0-9 . _ = - /. */
int ident_prefix_valid(const char *prefix);

/* Writes "@<prefix><agent_id>:<server>" into `out`. Returns 0, ERR_INVAL
 * (bad agent id, prefix or server name), ERR_TOOBIG (longer than `outlen`
 * or than the spec's 255 bytes). */
int ident_agent_user_id(const char *prefix, const char *agent_id,
                        const char *server, char *out, size_t outlen);

/* 1 if `id` is "<sigil>localpart:server" with the given sigil ('@', '!',
 * '#', '$'), at most 255 bytes, no control characters or spaces. */
int ident_matrix_id_valid(const char *id, char sigil);

#endif
