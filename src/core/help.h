/*
 * help: what `lettamx <command> --help` prints: the usage, what the
 * command does in a few lines, its options and exit status.
 */
#ifndef LETTAMX_HELP_H
#define LETTAMX_HELP_H

/* The help text of command `cmd`, or NULL when the command prints its
 * own (config, with its subcommands) or is unknown. */
const char *help_text(const char *cmd);

/* 1 when one of argv[1..argc) asks for help (-h, --help). */
int help_asked(int argc, char **argv);

#endif
