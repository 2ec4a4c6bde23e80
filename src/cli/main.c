/*
 * main: the lettamx multi-call front end. Parses the subcommand and hands
 * over; every subcommand returns its exit status (0 ok, 1 failed, 2 bad
 * usage or configuration).
 */
#include <stdio.h>
#include <string.h>

#include "cli/prov_cmd.h"
#include "cli/run.h"
#include "conf/cfg.h"
#include "core/help.h"
#include "core/version.h"
#include "ops/ops_cmd.h"
#include "reconcile/reconcile_cmd.h"

struct cmd {
	const char *name;
	const char *args;
	const char *summary;
	int (*run)(int argc, char **argv);
};

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const struct cmd cmds[] = {
	{ "help",    "",  "show this help",                          cmd_help },
	{ "version", "",  "show the version and the dependencies compiled in",
	  cmd_version },
	{ "config",  "check|keys|example",
	  "validate and print the configuration; list or write its keys",
	  cfg_cmd },
	{ "provision", "[options]",
	  "a Matrix user and room per agent (--dry-run, --watch)",
	  prov_cmd_provision },
	{ "status",  "[--json]",  "agents, their users, rooms and state",
	  prov_cmd_status },
	{ "run",     "[--pid-file F]",
	  "the daemon: start-up checks, provisioning, the bridge",
	  run_cmd },
	{ "reconcile", "[options]",
	  "rebuild mappings from the room graph (--dry-run, --json)",
	  recon_cmd },
	{ "check",   "[options]",
	  "check store, Letta and Matrix (--json, --offline)",
	  ops_cmd_check },
	{ "snapshot", "[--reason R]",
	  "take a verified snapshot of the store (beside a daemon too)",
	  ops_cmd_snapshot },
	{ "snapshots", "", "list the snapshots and verify each",
	  ops_cmd_snapshots },
	{ "restore", "NAME [--dry-run]",
	  "replace the store by a snapshot (the daemon stopped)",
	  ops_cmd_restore },
	{ "import-json", "FILE [options]",
	  "import the Python bridge's mappings (--dry-run, --verify)",
	  ops_cmd_import },
	{ "export-json", "[FILE] [options]",
	  "write the mappings in that format (--with-secrets)",
	  ops_cmd_export },
	{ "reset", "MODE [--dry-run]",
	  "start over: --local-only, or --leave-rooms --yes (see its --help)",
	  ops_cmd_reset },
	{ "dedupe",  "[--dry-run]",
	  "fold rooms that claim the same agent into one", ops_cmd_dedupe },
	{ "appservice", "registration [-o F]",
	  "write the registration for [matrix] mode = appservice "
	  "(--rotate: new tokens)", ops_cmd_appservice },
};

#define NCMDS (sizeof cmds / sizeof cmds[0])

static void usage(FILE *out)
{
	fputs("usage: lettamx <command> [options]\n\n"
	      "lettamx bridges the agents of a Letta server into Matrix.\n\n"
	      "commands:\n", out);
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(out, "  %-11s %-18s %s\n", cmds[i].name, cmds[i].args,
		        cmds[i].summary);
	fputs("\nRun 'lettamx <command> --help' for a command's options.\n", out);
}

static int no_args(const char *name, int argc, char **argv)
{
	if (argc <= 1)
		return 0;
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		printf("usage: lettamx %s\n", name);
		return 1;
	}
	fprintf(stderr, "lettamx %s: unexpected argument '%s'\n", name, argv[1]);
	return -1;
}

static int cmd_help(int argc, char **argv)
{
	int r = no_args("help", argc, argv);
	if (r)
		return r < 0 ? 2 : 0;
	usage(stdout);
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	int r = no_args("version", argc, argv);
	if (r)
		return r < 0 ? 2 : 0;
	version_print(stdout);
	return 0;
}

static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

#define MAX_ARGS 64

/* `lettamx -c FILE cmd args` is `lettamx cmd -c FILE args`: commands that
 * read the configuration take -c themselves. */
static int global_config(int *argc, char ***argv, char **buf)
{
	char **a = *argv;

	if (*argc < 4 || (strcmp(a[1], "-c") && strcmp(a[1], "--config")))
		return 0;
	if (*argc > MAX_ARGS)
		return -1;
	buf[0] = a[0];
	buf[1] = a[3];
	buf[2] = a[1];
	buf[3] = a[2];
	for (int i = 4; i <= *argc; i++)
		buf[i] = a[i];
	*argv = buf;
	return 0;
}

int main(int argc, char **argv)
{
	const struct cmd *c;
	char *buf[MAX_ARGS + 1];

	if (global_config(&argc, &argv, buf) < 0) {
		fputs("lettamx: too many arguments\n", stderr);
		return 2;
	}

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return cmd_help(1, argv + 1);
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))
		return cmd_version(1, argv + 1);
	c = find_cmd(argv[1]);
	if (!c) {
		fprintf(stderr, "lettamx: unknown command '%s' "
		        "(run 'lettamx help' for the list)\n", argv[1]);
		return 2;
	}
	/* `lettamx CMD --help`: what it does, on stdout, exit 0 (config
	 * answers for its subcommands itself) */
	if (help_asked(argc - 1, argv + 1) && help_text(c->name)) {
		fputs(help_text(c->name), stdout);
		return 0;
	}
	return c->run(argc - 1, argv + 1);
}
