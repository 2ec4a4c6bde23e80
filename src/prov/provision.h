/*
 * provision: every wanted Letta agent gets a Matrix user and a room in the
 * Space, and stays right as agents appear, get renamed and disappear.
 *
 * The engine is sans-I/O: prov_next() says what to do next (send this
 * request to Letta or to the homeserver, wait, or nothing for now) and
 * prov_feed() takes the response. A driver (the CLI or the daemon) moves
 * the requests over the HTTP client. Agents go through a few lanes at
 * once, one request in flight per lane; every answer is applied to the
 * store before the lane goes on.
 *
 * Crash safety: before a remote call that creates something, the intent
 * is in the store; after it, the result, each in one transaction. Before
 * creating a room we look for the agent's existing room by its marker
 * among the agent user's joined rooms, so a run killed at any point and
 * run again never makes a second room or user. In steady state a run
 * makes no Matrix request at all: stored access tokens are reused, and
 * M_UNKNOWN_TOKEN leads to exactly one login with the derived password.
 */
#ifndef LETTAMX_PROVISION_H
#define LETTAMX_PROVISION_H

#include <stddef.h>
#include <stdint.h>

#include "letta/letta.h"
#include "matrix/matrix.h"
#include "net/proto.h"
#include "store/store.h"

struct secret_master;

/* Agent record flags of this module (store.h owns the low byte). */
#define PROV_F_ROOM_INTENT  0x0100u  /* createRoom may have been sent */
#define PROV_F_LINKED       0x0200u  /* m.space.child is in the Space */
#define PROV_F_BOT_JOINED   0x0400u  /* the bot is in the room */
#define PROV_F_UNLINKED     0x0800u  /* deleted: unlinked after the grace */
#define PROV_F_NAMED        0x1000u  /* display name and room name = name */
#define PROV_F_RL_LIFTED    0x8000u  /* override_ratelimit: no limits
                                      * (0x2000 is RECON_F_STALE) */

/* Meta keys. */
#define PROV_META_SPACE     "space_id"
#define PROV_META_BOT_TOKEN "bot_token"
/* "<state> <bot user id>": whether the bot's rate limits are lifted
 * (state "lifted", "refused": not an admin, "absent": not Synapse), so a
 * later run asks again only when the bot changed. */
#define PROV_META_RL        "ratelimit_override"
/* The install id the stored Space's marker names (written once the
 * marker is known to carry it). */
#define PROV_META_SPACE_MARK "space_marker"

/* [matrix] access: how people reach agent rooms. */
enum { PROV_ACCESS_INVITE = 0, PROV_ACCESS_SPACE = 1 };

struct prov_conf {
	const char *server_name;        /* user ids and `via` */
	const char *user_prefix;        /* localpart prefix, "" allowed */
	int reg;                        /* enum mx_reg */
	const char *reg_token;          /* registration = token */
	const char *shared_secret;      /* registration = shared-secret */
	const char *bot_user;           /* @bot:server */
	const char *bot_token;          /* NULL: meta, else bot_password */
	const char *bot_password;       /* NULL: none */
	const char *space_name;         /* default "Letta Agents" */
	const char *const *invite;      /* people invited to every room */
	size_t ninvite;
	const char *include_tags;       /* comma-separated; NULL = all */
	const char *exclude_tags;
	const char *letta_token;        /* NULL: no Authorization */
	int64_t grace_ms;               /* deleted agent -> unlink */
	int dry_run;                    /* plan only, no Matrix request
	                                 * (with bot_only: a login only, never
	                                 * a registration of the bot) */
	int bot_only;                   /* only get the bot's token (the
	                                 * daemon's start-up gate, a one-off
	                                 * reconcile), then end */
	const struct secret_master *master;
	struct store *store;
	const char *snapdir;            /* snapshot before the first change of
	                                 * a run; NULL: none (tests) */
	const char *install_id;         /* secret_install_id(); NULL: derived
	                                 * from `master` */
	int rl_override;                /* [matrix] rate_limit_override = auto
	                                 * (1): lift limits where the bot is
	                                 * an admin; off (0) */
	int access;                     /* PROV_ACCESS_* */
	/* [matrix] mode = appservice: the service's token (reg is then
	 * MX_REG_APPSERVICE): the bot acts with it, agent users through it
	 * (mx_cred.h), and nobody has a password or a token of its own.
	 * NULL: client mode. */
	const char *as_token;
	/* [matrix] avatars and avatar_dir: an agent's avatar from
	 * avatar_dir/<name or id>.png|.jpg, else a generated one
	 * (PROV_AVATAR_MAKE), or none */
	int avatars;
	const char *avatar_dir;
};

enum { PROV_AVATAR_MAKE = 0, PROV_AVATAR_NONE = 1 };

struct store_txn;

/* In t: agent_id's avatar is mxc, the picture not known (a store rebuilt
 * from the room graph): the next provisioning takes it as the one made,
 * uploading nothing. Keeps a record there is. Returns 0 or an err code. */
int prov_avatar_adopt(struct store_txn *t, const char *agent_id,
                      const char *mxc);

/* Where a request of the engine goes. */
enum prov_target { PROV_LETTA = 1, PROV_MATRIX = 2 };

/* What prov_next() asks for. */
enum prov_action {
	PROV_DONE = 0,          /* the run is over (see prov_result) */
	PROV_SEND = 1,          /* send *req to *target on lane *slot, then
	                         * prov_feed(slot) */
	PROV_WAIT = 2,          /* wait *wait_ms, then prov_wake(slot) */
	PROV_IDLE = 3,          /* nothing to start: wait for an answer or
	                         * a wake-up */
};

/* Per-agent outcome, for progress lines and the summary. */
struct prov_report {
	const char *agent_id;
	const char *name;
	size_t index;                   /* 1-based among wanted agents */
	size_t total;
	int user;                       /* PROV_R_* for the user */
	int room;
	int space;
	int renamed;
	int unknown;                    /* not in the store: its room is
	                                 * looked up by its marker before
	                                 * anything is made (a dry run cannot
	                                 * tell, so it says so) */
	const char *why;                /* a failure's explanation, or "" */
};

enum { PROV_R_KEPT, PROV_R_MADE, PROV_R_FAILED, PROV_R_SKIPPED };

struct prov_summary {
	size_t agents;                  /* wanted agents listed */
	size_t users_made, rooms_made, rooms_found, linked, renamed;
	size_t failed, marked_deleted, unlinked, returned;
	size_t unknown;                 /* dry run: agents not in the store,
	                                 * left out of the counts above */
	size_t requests;                /* Matrix requests sent */
	size_t limited;                 /* answers 429 (pacing, not failures) */
	int64_t limited_ms;             /* sum of the waits they asked for */
	size_t logins, admin_logins;    /* agent tokens: password / admin API */
	int rl_state;                   /* PROV_RL_* of the bot */
	int listing_complete;
	int space_made;                 /* the Space was created (in a dry
	                                 * run: none in the store, so it is
	                                 * looked up before one is made) */
};

/* Whether the bot's rate limits are lifted. */
enum { PROV_RL_UNKNOWN, PROV_RL_LIFTED, PROV_RL_REFUSED, PROV_RL_ABSENT,
       PROV_RL_OFF };

struct prov;

/* Creates an engine for one run. `conf` and everything it points to must
 * outlive it. `on_agent` (may be NULL) is called once per agent when it
 * is finished. Returns NULL on allocation failure. */
struct prov *prov_new(const struct prov_conf *conf,
                      void (*on_agent)(void *arg, const struct prov_report *),
                      void *arg);

void prov_free(struct prov *p);

/* The next action. Agents are provisioned in up to LIM_PROV_LANES lanes
 * at once, one request in flight per lane; everything else runs on lane
 * 0 alone. PROV_SEND fills `req`, `*target` and `*slot`; PROV_WAIT sets
 * `*wait_ms` and `*slot`. Call again after each PROV_SEND or PROV_WAIT
 * until PROV_IDLE or PROV_DONE. `req` is copied by the caller's HTTP
 * layer or kept until the answer: it is not reused by the engine. */
int prov_next(struct prov *p, struct proto_req *req, int *target,
              int64_t *wait_ms, int *slot);

/* Feeds the answer to lane `slot`'s request (status 0 when none came).
 * Returns 0, or a store error (the run then ends). */
int prov_feed(struct prov *p, int slot, const struct proto_resp *resp);

/* Gives the run a listing read some other way (over the App Server's
 * socket) instead of its first phase's REST listing: l's agents move into
 * the engine (l is left empty) and the run goes on as after a REST
 * listing, deletions only after a complete one. err: the listing failed
 * (`why` in words): the run ends with err, as after a failed REST
 * listing. Call before the first prov_next(); later calls, and calls on a
 * bot-only run, do nothing. */
void prov_take_list(struct prov *p, struct letta_list *l, int err,
                    const char *why);

/* Ends lane `slot`'s wait. */
void prov_wake(struct prov *p, int slot);

/* The run's outcome: 0 if every wanted agent is provisioned, else the
 * first fatal error (ERR_CONFIG for a registration mode the server does
 * not support, the listing's error, ERR_STORE), or ERR_AGAIN when some
 * agents failed and a later run should retry. `why` gets a sentence. */
int prov_result(const struct prov *p, char *why, size_t cap);

const struct prov_summary *prov_summary(const struct prov *p);

/* What lane `slot`'s current wait is for: 1 and a sentence in `why`
 * ("the homeserver limits joins of @bot:server") when it is a rate limit,
 * else 0. For progress lines. */
int prov_wait_why(const struct prov *p, int slot, char *why, size_t cap);

/* Ends the run now with `err` and `why` (a deadline): prov_next() then
 * says PROV_DONE; answers still coming are ignored. */
void prov_cancel(struct prov *p, int err, const char *why);

/* The PROV_RL_* state recorded in the store for `bot_user` (meta
 * PROV_META_RL), for `lettamx status`. */
int prov_rl_state(struct store *s, const char *bot_user);
const char *prov_rl_name(int state);

/* The bot's access token the run used or got ("" if none). Owned by p. */
const char *prov_bot_token(const struct prov *p);

#endif
