/*
 * run: `lettamx run`, the daemon.
 *
 * Boot order (DESIGN.md): open the store (writer lock) -> a `boot`
 * snapshot when the store holds anything -> the start-up gate (the
 * homeserver answers /versions; the bot has a token and whoami names the
 * configured bot; Letta answers /v1/health/) -> reconcile the store from
 * the room graph -> one provisioning run -> live (the bridge), with a
 * provisioning run again every [letta] discovery_interval. Everything on
 * the one loop.
 *
 * The gate waits, it does not die: a daemon started by init before its
 * homeserver retries every 5 s, then every 10 s, and logs once a minute
 * while it waits. Only what waiting cannot fix ends it: a bot token that
 * names another user, a configuration the server refuses (exit 2).
 * SIGTERM/SIGINT end it with 0 within 5 s; SIGHUP reopens the log.
 */
#ifndef LETTAMX_RUN_H
#define LETTAMX_RUN_H

/* `lettamx run [-c FILE] [--pid-file FILE]`. Returns the exit status. */
int run_cmd(int argc, char **argv);

#endif
