/*
 * ops_cmd: the operator tools (issue 13), one entry point per command,
 * each returning its exit status (0 ok, 1 failed or problems found, 2 bad
 * usage or configuration; check: 2 = could not check).
 *
 * Every mutating command opens the store for writing (the writer lock:
 * refused beside a running lettamx) and snapshots before it changes
 * anything; every one has --dry-run. The read-only ones (check, snapshot,
 * snapshots, export-json) open the store read-only and work beside a
 * running daemon.
 */
#ifndef LETTAMX_OPS_CMD_H
#define LETTAMX_OPS_CMD_H

int ops_cmd_check(int argc, char **argv);
int ops_cmd_snapshot(int argc, char **argv);
int ops_cmd_snapshots(int argc, char **argv);
int ops_cmd_restore(int argc, char **argv);
int ops_cmd_import(int argc, char **argv);
int ops_cmd_export(int argc, char **argv);
int ops_cmd_reset(int argc, char **argv);
int ops_cmd_dedupe(int argc, char **argv);
int ops_cmd_appservice(int argc, char **argv);

#endif
