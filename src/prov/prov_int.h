/*
 * prov_int: what provision.c (the run: listing, bot, Space, deletions)
 * and prov_agent.c (one agent's step machine) share. Not for other
 * modules.
 */
#ifndef LETTAMX_PROV_INT_H
#define LETTAMX_PROV_INT_H

#include <stdarg.h>

#include "prov/provision.h"
#include "store/secret.h"

enum phase { PH_LIST, PH_BOT, PH_SPACE, PH_AGENTS, PH_DELETE, PH_DONE };

enum step {
	S_START, S_REGISTER, S_SS_NONCE, S_SS_REGISTER, S_ADMIN_PUT, S_LOGIN,
	S_DISPLAYNAME, S_ROOM_NAME, S_ROOM, S_JOINED, S_MARKER, S_CREATE,
	S_LINK, S_JOIN, S_INVITE_BOT, S_FINISH,
	S_OVERRIDE,     /* the bot lifts the agent user's rate limits */
	S_TOKEN,        /* the agent user's token from the admin login API */
	S_TOMB,         /* a room with our marker: replaced (tombstone)? */
	S_AVATAR,       /* is the agent's avatar the one made last? */
	S_AVATAR_GET,   /* none recorded (a lost store): does the user have
	                 * one already? (costs no login) */
	S_AVATAR_UP,    /* upload it */
	S_AVATAR_USER,  /* the agent user's avatar_url */
	S_AVATAR_ROOM,  /* the room's m.room.avatar */
	SP_START, SP_JOINED, SP_MARKER, SP_CREATE,
	SP_MARK_GET,    /* the stored Space's marker: does it name us? */
	SP_MARK_FIX,    /* add install and bot to an older marker */
	B_START, B_LOGIN, B_SS_NONCE, B_SS_REGISTER,
	B_OVERRIDE,     /* the bot lifts its own rate limits */
	D_START, D_UNLINK, D_NOTICE,
};

/* Rate-limit buckets shared by lanes (the bot's, and the per-address
 * ones). While one lane waits out a 429 of a bucket, the other lanes
 * send nothing of that bucket, only of others; the waiting lane goes
 * first, and its next answer opens the bucket again. An agent user's
 * own requests stay in its lane and need no sharing. */
enum bucket {
	BK_AGENT = -1,          /* the lane's agent user */
	BK_BOT_JOIN,            /* joins of the bot (rc_joins) */
	BK_BOT_ACTION,          /* state events, rooms, sends of the bot */
	BK_BOT_ADMIN,           /* admin API calls of the bot */
	BK_LOGIN,               /* password logins (per address) */
	BK_REGISTER,            /* registrations (per address) */
	BK_N
};

/* What one lane works on: an agent's step machine, or (lane 0 only) the
 * run's own phases. prov_next() and prov_feed() swap a lane in and out
 * of struct prov, so the step code reads p->rec, p->step... unchanged. */
#define PROV_LANE_FIELDS \
	int step, resume; \
	int attempt, relogged, fresh_user, invite_tried; \
	struct letta_agent *a;          /* the lane's agent, NULL: idle */ \
	struct store_agent rec; \
	char localpart[IDENT_MXID_MAX + 1]; \
	char password[SECRET_PASSWORD_LEN + 1]; \
	char cred[LIM_STORE_SECRET];    /* appservice: acting as the agent \
	                                 * user (mx_cred.h) */ \
	uint8_t *av;                    /* S_AVATAR_*: the picture (owned) */ \
	size_t av_len; \
	const char *av_type;            /* its Content-Type */ \
	char av_hash[65];               /* SHA-256 of it, hex */ \
	char av_mxc[LIM_STORE_ID];      /* where the upload went */ \
	char nonce[LIM_MX_NONCE];       /* Synapse nonce, or UIA session */ \
	char (*cand)[IDENT_MXID_MAX + 1];   /* rooms to check for a marker */ \
	size_t ncand, ci, cand_cap; \
	int cand_full;                  /* more than LIM_PROV_CANDIDATES */ \
	int dirty;                      /* rec has uncommitted changes */ \
	int64_t wait_ms;                /* asked for, not yet handed out */ \
	int rl_n;                       /* 429s of this step in a row */ \
	int rl_bk;                      /* bucket of the current rate-limit \
	                                 * wait, BK_AGENT; -2: not one */ \
	char awhy[256];                 /* why the agent failed */ \
	struct prov_report rep;

struct prov_lane {
	PROV_LANE_FIELDS
};

enum { LANE_IDLE, LANE_SENT, LANE_WAITING };

struct prov {
	const struct prov_conf *c;
	void (*on_agent)(void *arg, const struct prov_report *);
	void *arg;
	int phase;
	int fatal;
	char why[512];
	struct letta_list list;
	size_t ai;                      /* next agent of list.agents */
	char bot_token[LIM_STORE_SECRET];
	char bot_pw[LIM_STORE_SECRET];  /* configured, or derived (made by
	                                 * shared-secret registration) */
	int bot_from_meta;              /* bot_token came from the store */
	char space_id[LIM_STORE_ID];
	size_t finished;                /* agents reported */
	int snapped;                    /* this run took its snapshot */
	char (*del)[LIM_STORE_ID];      /* agents to unlink */
	size_t ndel, di;
	struct prov_summary sum;
	int bk_owner[BK_N];             /* lane waiting out a 429 of the
	                                 * bucket, -1: open */
	int bk_hit;                     /* bucket a 429 hit while feeding */
	unsigned char bk_serial[BK_N];  /* limited once this run: one
	                                 * request of it at a time, so one
	                                 * token is not raced for by all */
	int bk_busy[BK_N];              /* lane with the one in flight, -1 */
	int slot;                       /* the lane swapped in */
	int bot_admin;                  /* -1 unknown, 0 no, 1 yes */
	int admin_login;                /* the admin login API: -1 untried,
	                                 * 0 absent, 1 works */
	int admin_probe;                /* lane trying it first, -1: none
	                                 * (the others wait for its answer) */
	char install[IDENT_MXID_MAX + 1];  /* our install id */
	unsigned rnd;                   /* jitter */
	int nlanes;                     /* lanes in use for agents */
	int state[LIM_PROV_LANES];      /* LANE_* */
	struct prov_lane lane[LIM_PROV_LANES];  /* parked lanes */
	union {                         /* the lane being worked on */
		struct { PROV_LANE_FIELDS };
		struct prov_lane cur;
	};
};

/* Ends the run with `err` and a sentence (the first one wins). */
void prov_fatal(struct prov *p, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Before the first change of a run: a verified snapshot of the store
 * (seed 000: back up before modifying). Returns 0 or the error (then the
 * run is over and nothing was changed). */
int prov_before_change(struct prov *p);

/* Saves p->rec in one transaction (with everything marked dirty). Returns 0 or the store's error (then
 * the run is over). */
int prov_save(struct prov *p);

/* A failed Matrix answer to the current step: one re-login on
 * M_UNKNOWN_TOKEN for the agent's own calls (`as_agent`), a wait and a
 * retry for 429 and 5xx, else the agent (or, outside an agent, the run)
 * fails. Returns 0. */
int prov_on_mx_error(struct prov *p, const struct mx_error *e, int as_agent);

/* prov_avatar.c: the agent's avatar (S_AVATAR*). _want fills the lane's
 * picture and returns the step to go to: S_AVATAR_UP (it differs from
 * the one made last), S_AVATAR_GET (none recorded), S_FINISH (the same,
 * or none wanted); _build and _feed as prov_agent_build/_feed; _free
 * drops the lane's picture. */
int prov_avatar_want(struct prov *p);
int prov_avatar_build(struct prov *p, struct proto_req *req,
                      const char *token);
int prov_avatar_feed(struct prov *p, const struct proto_resp *resp);
void prov_avatar_free(struct prov *p);

/* The homeserver refused the bot's access token: forget a stored one
 * (the next run logs in once) and end the run with an explanation. */
void prov_bot_refused(struct prov *p);

/* prov_setup.c: the bot and Space phases on lane 0. _next builds the
 * phase's request (0), or returns 1 when it moved on without one; _feed
 * takes the answer. Errors as prov_agent_build / prov_agent_feed. */
int prov_bot_next(struct prov *p, struct proto_req *req);
int prov_feed_bot(struct prov *p, const struct proto_resp *resp);
int prov_space_next(struct prov *p, struct proto_req *req);
int prov_feed_space(struct prov *p, const struct proto_resp *resp);

/* prov_limits.c: a 429 on the current step: wait what the server said
 * (never less), then the same request again; the bucket stays closed to
 * other lanes until this lane's next answer. Returns 0. */
int prov_rate_limited(struct prov *p, const struct mx_error *e);

/* The bucket of the current step (after settling an agent's). */
int prov_bucket(struct prov *p);

/* Moves to step `s` with a fresh retry budget. */
void prov_go(struct prov *p, int s);

/* The agent cannot be finished in this run: report `why`, go on. */
void prov_agent_fail(struct prov *p, const char *why);

/* joined_rooms callback: appends a room to p->cand (growing it). */
int prov_keep_candidate(void *arg, const char *room);

/* Calls the progress callback and moves to the next agent. */
void prov_agent_done(struct prov *p);

/* Loads or makes the record of p->a and picks its first step. Returns 0
 * or a fatal error. */
int prov_agent_start(struct prov *p);

/* Settles the current agent's step (skipping what is done; a token or
 * a lifted limit first when the step needs them) and returns it. */
int prov_agent_settle(struct prov *p);

/* Dry run: reports what would happen to p->a. */
void prov_agent_plan(struct prov *p);

/* Builds the current agent's next request into `req`. Returns 0 (built),
 * 1 (the agent is finished), or an error of the builders. */
int prov_agent_build(struct prov *p, struct proto_req *req);

/* Takes the answer to the current agent's request. Returns 0 or
 * ERR_STORE. */
int prov_agent_feed(struct prov *p, const struct proto_resp *resp);

#endif
