#include "core/ident.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

static int is_hex_lower(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int ident_agent_id_valid(const char *id)
{
	static const char uuid[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	size_t n;

	if (!id)
		return 0;
	if (!strncmp(id, "agent-local-", 12))
		id += 12;
	else if (!strncmp(id, "agent-", 6))
		id += 6;
	else
		return 0;
	n = strlen(id);
	if (n != sizeof uuid - 1)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (uuid[i] == 'x' ? !is_hex_lower(id[i]) : id[i] != uuid[i])
			return 0;
	}
	return 1;
}

static int localpart_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '=' || c == '-' || c == '/';
}

int ident_prefix_valid(const char *prefix)
{
	size_t n = prefix ? strlen(prefix) : 0;

	if (!prefix || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!localpart_char(prefix[i]))
			return 0;
	return 1;
}

/* A server name: host[:port] with no sigils, spaces or controls. The full
 * grammar is the homeserver's business; this keeps paths and keys sane. */
static int server_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 230)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || strchr("@!#$/?&%\"'\\", c))
			return 0;
	}
	return 1;
}

int ident_agent_user_id(const char *prefix, const char *agent_id,
                        const char *server, char *out, size_t outlen)
{
	int n;

	if (!ident_prefix_valid(prefix) || !ident_agent_id_valid(agent_id) ||
	    !server_name_valid(server))
		return ERR_INVAL;
	n = snprintf(out, outlen, "@%s%s:%s", prefix, agent_id, server);
	if (n < 0 || (size_t)n >= outlen || n > IDENT_MXID_MAX)
		return ERR_TOOBIG;
	return 0;
}

int ident_matrix_id_valid(const char *id, char sigil)
{
	const char *colon;
	size_t n = id ? strlen(id) : 0;

	if (n < 4 || n > IDENT_MXID_MAX || id[0] != sigil)
		return 0;
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (c <= ' ' || c == 0x7f)
			return 0;
	}
	colon = strchr(id + 1, ':');
	return colon && colon > id + 1 && server_name_valid(colon + 1);
}
