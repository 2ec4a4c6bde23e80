/*
 * help: the text of each command's --help (see help.h). Kept apart from
 * main.c so the command table stays a table; the man page says the same
 * at more length.
 */
#include "core/help.h"

#include <string.h>

#define CONF \
	"  -c, --config FILE  the configuration (default /etc/lettamx.conf;\n" \
	"                     every key can also be LETTAMX_<SECTION>_<KEY>)\n"
#define EXIT \
	"\nExit status: 0 done, 1 it failed (the last line says why and what\n" \
	"to do), 2 a bad command line or configuration.\n"

struct help {
	const char *cmd;
	const char *text;
};

static const struct help helps[] = {
	{ "run",
	  "usage: lettamx run [-c FILE] [--pid-file FILE]\n\n"
	  "The daemon. Checks the configuration and the store, waits for\n"
	  "Letta and the homeserver to answer, rebuilds the mappings from the\n"
	  "room graph, provisions every agent, then bridges: a message in an\n"
	  "agent's room goes to that agent once, and its answer comes back in\n"
	  "the room from the agent's own Matrix user. Agents are listed again\n"
	  "every [letta] discovery_interval. SIGTERM or SIGINT stop it once\n"
	  "what is in flight is stored; SIGHUP reopens the log.\n\n"
	  CONF
	  "  --pid-file FILE    write the process id there once started\n"
	  "\nExit status: 0 stopped by a signal, 1 it failed (logged with the\n"
	  "reason), 2 a bad command line or configuration.\n" },
	{ "provision",
	  "usage: lettamx provision [-c FILE] [--dry-run | --watch]\n\n"
	  "Makes a Matrix user and a room per Letta agent, in the \"Letta\n"
	  "Agents\" Space, and keeps names in step; an agent gone from a\n"
	  "complete listing is marked deleted and unlinked after\n"
	  "[letta] delete_grace. A line per agent on a terminal, then a\n"
	  "summary. Refused beside a running daemon (it provisions itself).\n\n"
	  CONF
	  "  --dry-run          say what would be created, renamed or deleted;\n"
	  "                     change nothing\n"
	  "  --watch            again every [letta] discovery_interval, until\n"
	  "                     SIGTERM\n"
	  EXIT },
	{ "status",
	  "usage: lettamx status [-c FILE] [--json]\n\n"
	  "Reads the store: the Space, then per agent its name and id, its\n"
	  "Matrix user, its room and its state (ok, no user, no room, partial,\n"
	  "deleted), and whether rate limits are lifted. Works beside a\n"
	  "running daemon.\n\n"
	  CONF
	  "  --json             the agents only, as a JSON array (agent,\n"
	  "                     agent_id, matrix_user, room, state, linked,\n"
	  "                     deleted_at)\n"
	  EXIT },
	{ "reconcile",
	  "usage: lettamx reconcile [-c FILE] [--dry-run] [--json]\n\n"
	  "Rebuilds the mappings from the room graph (one filtered /sync of\n"
	  "the bot; nothing is written on the server): rooms found by their\n"
	  "markers come back, stale mappings move or are cleared, forged\n"
	  "markers and conflicts are reported. The store changes in one\n"
	  "transaction after a snapshot, only when something differs.\n"
	  "`lettamx run` does this at every start. With no bot_token_file\n"
	  "and no token in the store (a lost store), the bot logs in first,\n"
	  "as `lettamx run` does, and its new token is kept in the store.\n\n"
	  CONF
	  "  --dry-run          the report only; nothing written but the\n"
	  "                     token of that login\n"
	  "  --json             the report as JSON\n"
	  EXIT },
	{ "check",
	  "usage: lettamx check [-c FILE] [--json] [--offline]\n\n"
	  "Checks the store's records and indexes and its newest snapshot;\n"
	  "online also Letta (agents and mappings agree), each agent user's\n"
	  "token and the room graph (rooms, members, markers, the Space).\n"
	  "Prints a fix for each problem. Works beside a running daemon.\n\n"
	  CONF
	  "  --json             the findings as JSON\n"
	  "  --offline          the store only; no request leaves\n"
	  "\nExit status: 0 healthy, 1 problems found, 2 could not check.\n" },
	{ "snapshot",
	  "usage: lettamx snapshot [-c FILE] [--reason R]\n\n"
	  "Takes a copy-on-write snapshot of the store and verifies it.\n"
	  "Works beside a running daemon.\n\n"
	  CONF
	  "  --reason R         a word kept with it (default: manual)\n"
	  EXIT },
	{ "snapshots",
	  "usage: lettamx snapshots [-c FILE]\n\n"
	  "Lists the snapshots (time, reason, schema, counts, size) and\n"
	  "verifies each.\n\n"
	  CONF
	  EXIT },
	{ "restore",
	  "usage: lettamx restore [-c FILE] NAME [--dry-run]\n\n"
	  "Replaces the store by snapshot NAME (see `lettamx snapshots`):\n"
	  "verifies it, snapshots the current state, then swaps. The daemon\n"
	  "must be stopped.\n\n"
	  CONF
	  "  --dry-run          what would change; nothing done\n"
	  EXIT },
	{ "import-json",
	  "usage: lettamx import-json [-c FILE] FILE [--dry-run | --verify]\n\n"
	  "Imports the Python bridge's agent_user_mappings.json: the whole\n"
	  "file is checked first, then imported in one transaction or not at\n"
	  "all; each legacy room then gets our marker and the bot. Running it\n"
	  "again finishes what could not be reached.\n\n"
	  CONF
	  "  --dry-run          what would be imported; nothing changed\n"
	  "  --verify           every difference between FILE and the store;\n"
	  "                     exit 1 if there is one\n"
	  EXIT },
	{ "export-json",
	  "usage: lettamx export-json [-c FILE] [FILE] [--with-secrets]\n\n"
	  "Writes the mappings in the Python bridge's format, to FILE or to\n"
	  "standard output. Works beside a running daemon.\n\n"
	  CONF
	  "  --with-secrets     with the agent users' passwords (needs FILE;\n"
	  "                     it is created mode 0600)\n"
	  EXIT },
	{ "reset",
	  "usage: lettamx reset [-c FILE] --local-only [--dry-run]\n"
	  "       lettamx reset [-c FILE] --leave-rooms --yes [--dry-run]\n\n"
	  "Starts over, after a snapshot. --local-only removes the store and\n"
	  "nothing on the server (the rooms are found again by their markers\n"
	  "at the next start); the snapshots and the master secret stay.\n"
	  "--leave-rooms makes the bot and the agent users leave every\n"
	  "managed room and the Space, then removes the store the same way.\n"
	  "The daemon must be stopped.\n\n"
	  CONF
	  "  --local-only       the store only\n"
	  "  --leave-rooms      leave the rooms and the Space too\n"
	  "  --yes              needed with --leave-rooms\n"
	  "  --dry-run          what it would do; nothing done\n"
	  EXIT },
	{ "dedupe",
	  "usage: lettamx dedupe [-c FILE] [--dry-run]\n\n"
	  "Folds rooms that claim the same agent into the one reconcile keeps:\n"
	  "the store first (after a snapshot), then each duplicate is unlinked\n"
	  "from the Space and tombstoned towards the keeper, its people are\n"
	  "invited to the keeper and our users leave it; then it checks.\n"
	  "The daemon must be stopped.\n\n"
	  CONF
	  "  --dry-run          what it would fold; nothing done\n"
	  EXIT },
	{ "appservice",
	  "usage: lettamx appservice [-c FILE] registration [-o FILE] "
	  "[--rotate]\n\n"
	  "Writes the registration that makes lettamx the homeserver's\n"
	  "application service ([matrix] mode = appservice): its id and URL,\n"
	  "two tokens, the bot as sender, and the agent users' namespace\n"
	  "(exclusive, not rate limited). The tokens are made once and kept\n"
	  "sealed in the store: running it again writes the same file. Add\n"
	  "the file to the homeserver's app_service_config_files (Synapse)\n"
	  "and restart it. The daemon must be stopped.\n\n"
	  CONF
	  "  -o FILE            write it to FILE (mode 0600) instead of\n"
	  "                     standard output\n"
	  "  --rotate           new tokens: the homeserver must load the file\n"
	  "                     again\n"
	  EXIT },
};

const char *help_text(const char *cmd)
{
	for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++)
		if (!strcmp(helps[i].cmd, cmd))
			return helps[i].text;
	return NULL;
}

int help_asked(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
	return 0;
}
