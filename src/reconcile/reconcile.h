/*
 * reconcile: the store rebuilt from the room graph the homeserver keeps
 * (seeds 003 and 004: the store is a cache; losing it, restoring an old
 * snapshot or a crash in the middle of provisioning must cost nothing but
 * a re-login, and never a new room).
 *
 * The engine is sans-I/O like provision.h: recon_next() says which
 * request to send (or how long to wait), recon_feed() takes the answer.
 * It reads the graph with ONE filtered full-state /sync of the bot (an
 * inline filter; the request count does not grow with the rooms), then
 * applies every decision in ONE write transaction, after a verified
 * snapshot and only if something changes. It never creates, leaves or
 * changes anything on the server.
 *
 * The rules (issue 10, item 3):
 *   - our Space is the room whose org.lettamx.space marker our bot sent
 *     naming our install id (secret_install_id); one with a {"v":1}
 *     marker of our bot from an older version counts when there is none;
 *   - a room's org.lettamx.agent marker counts only when sent by our bot
 *     or by the agent user it names, in a room created by that agent
 *     user or the bot; any other is forged: reported, never mapped;
 *   - an existing valid mapping is kept; a missing one is restored; one
 *     pointing elsewhere is repaired; two rooms claiming one agent are a
 *     conflict with a deterministic keeper (the one mapped locally, else
 *     the one linked in our Space, else the oldest m.room.create, then
 *     the smaller room id); nothing is deleted anywhere;
 *   - a mapping whose room is gone, tombstoned or left by the bot is
 *     stale; when no other room of the agent is in the graph the record
 *     is flagged RECON_F_STALE and its room cleared, for provisioning
 *     to find or make one;
 *   - the by_room / by_user indexes are checked and rebuilt when wrong;
 *   - rooms without our markers are skipped and counted;
 *   - in each agent's room, a thread marked by our bot (MX_THREAD_TYPE)
 *     whose conversation the store lacks gets it back; one the store
 *     keeps is never replaced; a mark another user sent is forged.
 * Running it twice in a row changes nothing the second time.
 */
#ifndef LETTAMX_RECONCILE_H
#define LETTAMX_RECONCILE_H

#include <stddef.h>
#include <stdint.h>

#include "net/proto.h"

struct store;
struct secret_master;

/* Agent record flag of this module, next to PROV_F_* (provision.h): the
 * stored room was found dead (gone, tombstoned, the bot out of it) and
 * no other room of the agent is in the bot's graph, so its room_id was
 * cleared; provisioning finds the agent's room again by its marker among
 * the agent user's rooms, or makes one. Cleared by the next reconcile
 * that finds a valid mapping. */
#define RECON_F_STALE       0x2000u

enum { RECON_LINE_ROUTINE, RECON_LINE_ALERT };

/* Meta key: the last reconcile (ms since the epoch), for operators. */
#define RECON_META_LAST     "reconciled_at"

struct recon_conf {
	struct store *store;
	const char *snapdir;            /* snapshot before a change; NULL:
	                                 * none (tests) */
	const char *bot_user;           /* @bot:server */
	const char *bot_token;          /* the bot's access token */
	const char *install_id;         /* secret_install_id() */
	const char *server_name;        /* agent user ids */
	const char *user_prefix;
	const struct secret_master *master;     /* agent passwords; may be
	                                         * NULL */
	int dry_run;                    /* decide and report, write nothing */
	/* One line per finding, for the command's output and the log; may
	 * be NULL. `kind`: RECON_LINE_ROUTINE for a mapping restored or
	 * its flags corrected (one per agent after a lost store), else
	 * RECON_LINE_ALERT (conflict, forged, stale, Space, index). */
	void (*on_line)(void *arg, int kind, const char *line);
	void *arg;
};

struct recon_report {
	size_t rooms;                   /* rooms in the graph (join + leave) */
	size_t restored;                /* mappings that were missing */
	size_t repaired;                /* mappings that were wrong */
	size_t kept;                    /* mappings that were right */
	size_t conflicts;               /* agents claimed by several rooms */
	size_t forged;                  /* markers that do not count */
	size_t stale;                   /* mappings to dead rooms */
	size_t skipped;                 /* rooms without our markers */
	size_t index_fixed;             /* index problems rebuilt */
	size_t threads;                 /* thread conversations put back
	                                 * from their marks */
	size_t requests;                /* HTTP requests made */
	uint64_t ms;                    /* time taken (set by the driver) */
	int changed;                    /* the store was (would be) changed */
	int token_refused;              /* stopped: the homeserver refused the
	                                 * bot's access token */
	int space;                      /* RECON_SPACE_* */
	char space_id[256];
	char snapshot[96];              /* taken before the change, or "" */
};

enum {
	RECON_SPACE_KEPT,               /* stored and found */
	RECON_SPACE_FOUND,              /* found by its marker, recorded */
	RECON_SPACE_GONE,               /* none of ours: provisioning makes
	                                 * one and relinks every room */
};

enum recon_action {
	RECON_DONE = 0,
	RECON_SEND = 1,                 /* send *req to the homeserver */
	RECON_WAIT = 2,                 /* wait *wait_ms, then recon_wake */
};

struct recon;

/* An engine for one run; `c` must outlive it. NULL on allocation
 * failure. */
struct recon *recon_new(const struct recon_conf *c);
void recon_free(struct recon *r);

/* The next action (RECON_SEND fills req). Call again after each
 * recon_feed or recon_wake until RECON_DONE. */
int recon_next(struct recon *r, struct proto_req *req, int64_t *wait_ms);

/* The answer to the request (status 0 when none came: resp->neterr and
 * resp->reason say why). Returns 0. */
int recon_feed(struct recon *r, const struct proto_resp *resp);

void recon_wake(struct recon *r);

/* 0 when the run finished, else the error and a sentence naming the
 * cause and what to do: ERR_TLS, ERR_REFUSED, ERR_DNS (no retry helps),
 * ERR_HTTP, ERR_CONFIG (whoami names another user), ERR_TOOBIG,
 * ERR_PROTO, ERR_STORE. */
int recon_result(const struct recon *r, char *why, size_t cap);

/* The report so far (complete after RECON_DONE). */
struct recon_report *recon_report(struct recon *r);

/* The report as one line of key=value pairs (for the log). */
void recon_report_line(const struct recon_report *rep, char *out,
                       size_t cap);

/* The bot's token for a reconcile: `configured` when set, else the one
 * provisioning keeps in the store. Returns 0 or ERR_NOTFOUND. */
int recon_bot_token(struct store *s, const char *configured, char *out,
                    size_t cap);

#endif
