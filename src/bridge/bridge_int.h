/*
 * bridge_int: what the bridge's files share, and their map. Not for other
 * modules.
 *
 * A message's path, one way, each step calling only the steps after it:
 *
 *   1 sync in      bridge_sync.c    /sync events -> inbox, with the token
 *   2 inbox        bridge_msg.c     the inbox and outbox records (no I/O)
 *   3 turn         bridge_turn.c    the oldest question -> its agent once,
 *                                   through the Letta API (letta/lapi.h)
 *                  bridge_thread.c  a thread's own conversation, found or
 *                                   made before its first question goes,
 *                                   marked in the room for reconcile
 *                  bridge_img.c     a picture: downloaded, checked and
 *                                   counted in image_memory before it goes
 *   4 as it comes  bridge_stream.c  the answer so far, the live message
 *   5 as seen      bridge_conv.c    Markdown -> the event, parts, threads
 *   6 answer out   bridge_out.c     the outbox, sent as the agent user
 *
 * When an agent stays quiet (bridge_quiet.c): at 1, what a room of
 * several people passes on ([bridge] respond, listen); at 3, an answer
 * that is <no-reply/> or empty by choice, posted as nothing; at 4, the
 * live message held back while the answer may still become that.
 *
 * At the side: the `!` commands (bridge_cmd.c, texts in bcmd.c), which a
 * sync hands over and which act on a room's turn and outbox; approvals
 * (bridge_appr.c), the side-car of a turn: a turn calls it when the agent
 * asks, and it ends the turn through bridge_turn_finish. The outbox tells
 * the live message what became of it through struct bout_watch, never by
 * calling back up.
 *
 * Shared state and wiring: bridge.c (rooms, HTTP calls, timers, start and
 * stop) and this header. Every step calls bridge.c; bridge.c starts the
 * steps.
 */
#ifndef LETTAMX_BRIDGE_INT_H
#define LETTAMX_BRIDGE_INT_H

#include "bridge/bridge.h"
#include "core/loop.h"
#include "net/http.h"
#include "store/store.h"

struct app;
struct bridge;
struct broom;
struct lapi_events;

enum { BASE_HS, BASE_LETTA };

#define BRIDGE_SPLIT_WORK (16u << 10)  /* code ranges of an answer's split */

/* One HTTP request of the bridge, on the heap for its lifetime only (a
 * thousand idle rooms hold none). */
struct bcall {
	struct http_req h;
	struct bridge *b;
	struct broom *room;             /* NULL: not a room's */
	void (*done)(struct bcall *c, int status, const char *body,
	             size_t len, int64_t retry_after_ms, int err);
	int (*on_body)(struct bcall *c, const char *data, size_t len);
	/* a request of the Letta API (letta/lapi.h): its own callbacks */
	void (*l_done)(void *arg, int status, const char *body, size_t len,
	               int err);
	int (*l_body)(void *arg, const char *data, size_t len);
	void *l_arg;
	char *url;
	char *body;
	char auth[LIM_MX_TOKEN + 8];
	struct httpp_field hdr[4];
	struct bcall *prev, *next;      /* b->calls */
};

/* Turn states of a room. */
enum { T_IDLE, T_SLOT, T_HIST, T_SEND, T_WAIT, T_LOGIN, T_RUN, T_RUNS,
       T_CONV, T_IMG, T_IMGWAIT };
/* broom.runs_check: the agent's runs looked at before a re-send */
enum { RUNS_UNASKED, RUNS_ASK, RUNS_CLEAR };
/* Outbox states of a room. */
enum { O_IDLE, O_CHECK, O_SEND, O_WAIT, O_LOGIN };

/* What a room's respond rests on (bridge_quiet.c), kept in the store
 * with the sync token that brought it. */
struct bquiet {
	int loaded;                     /* read from the store */
	int members;                    /* joined, the agent too; 0 unknown */
	int respond;                    /* BQ_R_*: the room's settings, 0
	                                 * none (the bridge's default) */
	int dirty;                      /* on the sync's list to be written */
	struct broom *next;             /* that list */
};

/* A room, or one of its lanes. A room's turns go in lanes, one per
 * Letta conversation it talks in: the room's own struct is the lane of
 * its main timeline (and of threads that share it), and a thread with a
 * conversation of its own gets a lane of its own (lanes below, made
 * when it has a question, freed when it has none), so that its turn runs
 * beside the main timeline's. A lane is a struct broom too, with the
 * same id: the turn's fields are its own, the rest (the outbox, logins,
 * typing, the inbox's count, commands) is the room's (bridge_room_of). */
struct broom {
	char id[LIM_STORE_ID];
	struct broom *parent;           /* a lane: its room; NULL: a room */
	char *lane;                     /* a lane: its thread root (owned);
	                                 * NULL: a room, whose lane is "" (a
	                                 * pointer: every room has the field,
	                                 * few have lanes) */
	struct broom *lanes;            /* a room: its thread lanes */
	struct broom *lane_next;        /* in the room's lanes */
	int lane_n;                     /* questions of this lane in the
	                                 * inbox, as its last look counted */
	int lane_maybe;                 /* a room: its inbox may hold a
	                                 * thread's question (set when one is
	                                 * queued, cleared by a look that
	                                 * finds none): without it and without
	                                 * lanes, no look for them is made */
	/* the Letta conversation the room talks in ("": the agent's
	 * default), as the store keeps it (store_conv_get) */
	char conv[LIM_LETTA_APP_ID];
	/* the conversation of the turn in flight (a thread's, or conv):
	 * where !cancel stops it */
	char turn_conv[LIM_LETTA_APP_ID];
	struct broom *hnext;            /* hash chain */
	struct bridge *b;
	int nin;                        /* inbox entries */
	int pend;                       /* entries of the sync batch being
	                                 * made, not yet committed */
	/* the turn */
	int turn, next_step;            /* T_*; the step after a slot */
	int tries, look_tries;          /* failed sends, failed history
	                                 * looks: each gives up on its own */
	int check_first;                /* read history before (re)sending */
	int resumed;                    /* the head was queued before this
	                                 * process started: it may be on its
	                                 * way to Letta, or just there */
	int runs_check;                 /* RUNS_*: such a turn, not in the
	                                 * history, is re-sent only once no
	                                 * run of the agent is going */
	int has_slot;
	uint64_t head;                  /* inbox seq being worked on */
	uint64_t receipt_for;           /* seq whose receipt was sent */
	uint64_t first_sent;            /* monotonic ms of the first POST */
	uint64_t sent_at;               /* of the last POST */
	uint64_t unsure_until;          /* a POST may still be on its way to
	                                 * Letta: "not in the history" only
	                                 * counts after this */
	int wait_noticed;               /* one queue notice per stretch of
	                                 * waiting (until the inbox is empty) */
	int typing;
	int typing_busy;                /* a typing request in flight */
	int typing_next;                /* 0: none, else wanted state + 1 */
	char typing_user[LIM_STORE_ID];
	struct broom *slot_next;        /* b->slotq */
	struct loop_timer t_turn, t_typing, t_wait;
	void *turn_call;                /* the turn's call in flight (a
	                                 * handle of the Letta API) */
	/* the outbox */
	int out, out_tries, out_check;
	struct loop_timer t_out;
	struct bcall *out_call;
	/* a login of the agent user in flight */
	struct bcall *login_call;
	struct loop_timer t_login;      /* a failed login: try again */
	struct loop_defer kick;
	/* what !status and !reset need (bridge_cmd.c) */
	char last_err[160];             /* the last failure told, "" none */
	struct breset *rs;              /* a !reset asked or being done (on
	                                 * the heap from the room's first
	                                 * !reset: few rooms ever have one) */
	/* a streamed turn and its live message (bridge_stream.c); on the
	 * heap while there is one */
	struct blive *lv;
	char run_id[80];                /* the Letta run of the turn, "" */
	int run_over;                   /* GET /v1/runs said it is over */
	struct bquiet q;                /* respond = mention (bridge_quiet.c) */
	/* the picture of the turn (bridge_img.c), on the heap while held */
	struct bimg *img;
	size_t img_need;                /* T_IMGWAIT: the cost waited for */
	size_t img_paid;                /* given by wake, not used yet */
	int img_queued;                 /* on b->imgq */
	int img_full;                   /* the picture was bigger than its
	                                 * event said: size it at the most */
	struct broom *img_next;         /* b->imgq */
};

/* A room's !reset (bridge_cmd.c). */
struct breset {
	uint64_t asked;                 /* monotonic ms of a !reset, 0 none */
	char by[LIM_STORE_ID];          /* who asked; then the agent user
	                                 * that tells how it went */
	char ev[LIM_STORE_ID];          /* the !reset confirm being done */
	char thread[LIM_STORE_ID];
	int is_thread;                  /* the !reset is a thread's own */
};

struct bsync;

/* What the outbox tells the live answer (bridge_stream.c) about its
 * messages. The outbox is the last step of a message's path and does
 * not call back up into an earlier one: bridge.c sets these when it
 * wires the steps together. */
struct bout_watch {
	/* the live message of question was sent as event_id */
	void (*shown)(struct broom *r, const char *question,
	              const char *event_id);
	/* the final answer of question was sent or dropped */
	void (*final_sent)(struct broom *r, const char *question);
	/* 1 while the final answer of question must wait: an edit in
	 * flight (the room is kicked when it returns) or *ms until the
	 * edit gap */
	int (*final_wait)(struct broom *r, const char *question,
	                  int64_t *ms);
};

struct bridge {
	struct app *a;
	struct loop *loop;
	struct http_client *http;
	struct store *store;
	struct bridge_policy pol;
	char hs[LIM_HTTP_URL], letta[LIM_HTTP_URL];
	char bot_token[LIM_STORE_SECRET];
	const char *letta_token;
	int max_steps, queue_limit, max_turns;
	int64_t letta_timeout, wait_notice;
	int poll_ms;                    /* [bridge] sync_timeout */
	int decline_invites;
	int agent_invites;              /* BRIDGE_INVITES_* */
	int dm_scan, dm_scan_failed;    /* bridge_dm_scan's requests out */
	int split_bytes;                /* [bridge] split_bytes */
	int reply_rich;                 /* [bridge] reply_style = reply */
	const char *cmd_prefix;         /* [bridge] command_prefix, checked:
	                                 * "!" when unusable */
	const char *admins;             /* [bridge] admins */
	const char *approvers;          /* [bridge] approvers (NULL: admins) */
	int stream;                     /* [bridge] stream */
	int64_t stream_after;           /* [bridge] stream_after */
	int show_tools;                 /* [bridge] show_tools = compact */
	/* scratch of one answer on its way to the outbox, kept for the
	 * bridge's life: a turn's end is on the path to the PUT, and a
	 * fresh 64 KiB or more per turn is an mmap and munmap with musl */
	uint8_t *orec;                  /* LIM_STORE_QVALUE: the record */
	char *md_body, *md_html;        /* LIM_BRIDGE_EVENT each: a part */
	void *md_work;                  /* BRIDGE_SPLIT_WORK: the split's */
	/* pictures (bridge_img.c) */
	size_t img_max;                 /* [bridge] image_max_bytes, 0 none */
	size_t img_mem;                 /* [bridge] image_memory */
	size_t img_used;                /* of it, counted to turns */
	int img_copies;                 /* base64 copies a request holds */
	struct broom *imgq, *imgq_tail; /* turns waiting for img_mem */
	int thread_convs;               /* [bridge] threads = conversation */
	int no_convs;                   /* ... but this Letta has none */
	int respond_mention;            /* [bridge] respond = mention */
	int listen;                     /* [bridge] listen */
	int stopping;
	int64_t started;                /* store_now() at start: a question
	                                 * stored before may have been sent */
	int turns;                      /* Letta calls in flight */
	struct broom *slotq, *slotq_tail;
	struct broom **hash;
	size_t nhash;
	struct bcall *calls;
	struct bsync *sync;
	struct srv *as_srv;             /* appservice mode: the listener */
	struct metrics *metrics;        /* NULL: none kept */
	int queued;                     /* inbox entries, all rooms */
	uint8_t *rec;                   /* LIM_STORE_QVALUE scratch */
	char *text;                     /* LIM_BRIDGE_TEXT scratch */
	struct bout_watch watch;        /* bridge_stream's, for the outbox */
	struct lapi *lapi;              /* Letta, whichever API it speaks */
	/* the thread marks (bridge_thread.c): one posted at a time */
	struct bcall *mark_call;
	struct loop_timer t_mark;
	int mark_tries;
	char mark_key[STORE_META_KEY + 1];      /* the one posted */
	char mark_conv[LIM_LETTA_APP_ID];
};

/* ---- bridge.c ---- */

/* The room `id`, made on first use. NULL on allocation failure. */
struct broom *bridge_room(struct bridge *b, const char *id);

/* The room `id` when it was made already, else NULL. A room costs about
 * 2 KiB: a sync that lists every room (the first) makes only those
 * that have something to do. */
struct broom *bridge_room_get(struct bridge *b, const char *id);

/* Makes the room look at its inbox and outbox again (deferred); a lane:
 * its turn, and its room's outbox. */
void bridge_kick(struct broom *r);

/* The room of r (r itself when it is one). */
struct broom *bridge_room_of(struct broom *r);

/* The lane of room r for the question m: the thread's own when its
 * thread talks in a conversation of its own (threads = conversation),
 * made now (queued: when m was stored, to look first at a question that
 * may have been sent before a restart); else r. NULL on allocation
 * failure. */
struct broom *bridge_lane_of(struct broom *r, const struct bridge_in *m);

/* The lane of room r for thread root `thread` if there is one, else
 * NULL ("": r). */
struct broom *bridge_lane_find(struct broom *r, const char *thread);

/* 1 when question m belongs to lane r. */
int bridge_lane_has(const struct broom *r, const struct bridge_in *m);

/* Starts a request to base `base` + `path` with bearer `token` (may be
 * NULL) and `body` (malloc'd, taken; may be NULL). total_ms 0: built-in.
 * Returns the call, or NULL (body freed, nothing will be called). */
struct bcall *bridge_call(struct bridge *b, struct broom *room,
                          const char *method, int base, const char *path,
                          const char *token, char *body, size_t body_len,
                          int total_ms,
                          void (*done)(struct bcall *, int, const char *,
                                       size_t, int64_t, int));

/* bridge_call with the response body streamed to on_body (returning
 * non-zero aborts the request with that error) and an idle deadline
 * (0: total_ms) for a body that may stay quiet between pings. */
struct bcall *bridge_call_body(struct bridge *b, struct broom *room,
                               const char *method, int base,
                               const char *path, const char *token,
                               char *body, size_t body_len, int total_ms,
                               int idle_ms,
                               int (*on_body)(struct bcall *, const char *,
                                              size_t),
                               void (*done)(struct bcall *, int,
                                            const char *, size_t, int64_t,
                                            int));

/* Cancels c (a call of bridge_call) and frees it: its done is not
 * called. */
void bridge_call_forget(struct bridge *b, struct bcall *c);

/* metrics_add() when the daemon keeps metrics. */
void bridge_metric(struct bridge *b, int id, const char *label, double v);

/* The room's inbox gained (lost) entries: counts and the depth gauge. */
void bridge_inbox_moved(struct broom *r, int delta);

/* A wait of `base_ms` doubled per try, capped, with +-25 % jitter. */
int64_t bridge_backoff(int64_t base_ms, int tries);

/* Arms t at now + ms. */
void bridge_arm(struct bridge *b, struct loop_timer *t, int64_t ms);

/* ---- bridge_turn.c ---- */

/* Works the room's inbox: the oldest question goes to its agent. */
void bridge_turn_run(struct broom *r);

/* The room's timers: typing refresh, the waiting notice. */
void bridge_turn_typing_timer(void *arg);
void bridge_turn_wait_timer(void *arg);

struct letta_reply;

/* The head of a room's inbox: the question the turn works on. */
struct bturn_head {
	uint64_t seq;
	struct bridge_in m;
	struct store_agent ag;
	size_t n;
	/* the conversation the question goes to (bridge_thread_conv) */
	char conv[LIM_LETTA_APP_ID];
	int conv_missing;               /* a thread's, not made yet */
};

/* 1 when h (re-read) is still the question r's turn is for; else the
 * turn ends (a !cancel took it away) and 0. */
int bridge_turn_head_still(struct broom *r, struct bturn_head *h);

/* The turn's call answered: r's turn_call is cleared; returns r when h
 * (re-read) is still the question, else NULL (the turn ended: a !cancel
 * took it away). */
struct broom *bridge_turn_answered(struct broom *r, struct bturn_head *h);

/* The question h is answered with `text` (kind BRIDGE_OUT_*), then
 * notice `note` (NULL: none); rep: Letta's answer (NULL: none), whose
 * approval request is kept as the room's pending call; gone: the agent
 * is gone from Letta. Ends the turn. */
void bridge_turn_finish(struct broom *r, struct bturn_head *h, int kind,
                        const char *text, size_t len, int gone,
                        const struct letta_reply *rep, const char *note);

/* A try of the turn failed (why: words for the person): again after a
 * backoff, or the person is told after the last. */
void bridge_turn_retry(struct broom *r, struct bturn_head *h, const char *why);

/* 1 when the turn of rep ended paused on a tool call we can answer. */
int bridge_turn_waits_approval(const struct letta_reply *rep);

/* The turn waits ms (its slot given up), then goes on. */
void bridge_turn_pause(struct broom *r, int64_t ms);

/* ---- bridge_img.c ---- */

struct img;

/* What a picture of bound bytes may cost in [bridge] image_memory until
 * its turn ends. */
size_t bridge_img_cost(const struct bridge *b, size_t bound);

/* Before h is sent: 1 when it may go on (no picture, or its memory is
 * counted, or it will not go: the person was told), 0 when it waits for
 * memory (T_IMGWAIT; the room is kicked when it has it). */
int bridge_img_room(struct broom *r, const struct bturn_head *h);

/* 1 when h's picture is still to be downloaded: bridge_img_fetch does
 * (T_IMG; the room is kicked when it is done, held or given up). */
int bridge_img_wanted(const struct broom *r, const struct bturn_head *h);
void bridge_img_fetch(struct broom *r, const struct bturn_head *h);

/* h's picture, when it is held: 1 and *out (valid until the turn ends). */
int bridge_img_of(const struct broom *r, const struct bturn_head *h,
                  struct img *out);

/* The turn is over: its picture and memory go (waiting turns get it). */
void bridge_img_drop(struct broom *r);

/* bridge_stop: the room leaves the line; its download was cancelled. */
void bridge_img_stop(struct broom *r);

/* ---- bridge_thread.c ---- */

/* The conversation the question m of room r goes to, into h->conv: a
 * thread's own (threads = conversation; h->conv_missing when none is
 * kept yet), or the room's. Inside the head's read transaction. */
int bridge_thread_conv(struct store_txn *t, const struct broom *r,
                       struct bturn_head *h);

/* The summary naming the conversation of thread `thread` of room r;
 * `since` (NULL: none) the event of a !reset that starts it over. */
void bridge_thread_key(const char *room, const char *thread,
                       const char *since, char *out, size_t cap);

/* The head's thread has no conversation yet: find or make it (T_CONV),
 * keep it, and go on with the turn. */
void bridge_thread_make(struct broom *r, struct bturn_head *h);

/* Keeps conv as the conversation of thread `thread` of room in t (the
 * caller's write transaction), and the thread's mark to be posted: the
 * bot's MX_THREAD_TYPE state event, from which reconcile rebuilds the
 * mapping after a lost store. Returns 0 or a store error. */
int bridge_thread_keep(struct store_txn *t, const char *room,
                       const char *thread, const char *conv);

/* Posts the marks the store holds, one at a time, each until the
 * homeserver takes it (a 429 waits as long as it says; a refusal or
 * the last try drops it, said in the log). Call at start and after a
 * commit of bridge_thread_keep; does nothing while one is on its way. */
void bridge_thread_mark(struct bridge *b);

/* b->t_mark's (arg: the bridge): the wait after a failed try is over. */
void bridge_thread_mark_timer(void *arg);

/* ---- bridge_appr.c ---- */

/* The turn ended on an approval request: what the agent said, then one
 * notice naming the tool and its arguments and how to answer. */
void bridge_appr_asked(struct broom *r, struct bturn_head *h,
                       const struct letta_reply *rep);

/* 409 PENDING_APPROVAL: the message is not taken; says which tool
 * waits and how to answer. */
void bridge_appr_waits(struct broom *r, struct bturn_head *h);

/* The App Server lost agent_id's tool call that waited for approval (its
 * connection dropped): the room's pending call is dropped and the room
 * told, in plain words, to ask again (arg: the bridge). */
void bridge_appr_lapsed(void *arg, const char *agent_id, const char *tool);

/* ---- bridge_out.c ---- */

/* Works the room's outbox: the oldest answer is sent. */
void bridge_out_run(struct broom *r);

/* The access token of agent user `user` into out, or "" after starting
 * a login (then the room is kicked when it is done). Returns 0 with a
 * token, ERR_AGAIN (login started or in flight), or an error. */
int bridge_agent_token(struct broom *r, const char *user, char *out,
                       size_t cap);

/* Queues a notice for the person in room's outbox (own transaction). */
int bridge_notice(struct broom *r, const char *agent_user,
                  const char *reply_to, const char *text);

/* The path of PUT .../send/m.room.message/<txn> in room. */
int bridge_send_path(char *out, size_t cap, const char *room,
                     const char *txn);

/* Typing on (refreshed) or off as the agent user; best effort. */
void bridge_typing(struct broom *r, const char *user, const char *token,
                   int on);

/* A read receipt on event as the agent user; best effort. */
void bridge_receipt(struct broom *r, const char *token, const char *event);

/* ---- bridge_dm.c ---- */

/* The answer of agent user `user` to its invite to `room` (recorded as a
 * direct chat already when join): join, then mark the room; or leave
 * with the reason `why`. A join that fails forgets the direct chat. */
void bridge_dm_answer(struct bridge *b, const char *room, const char *user,
                      int join, const char *why);

/* At start: the agent users join their direct chats again (a join is
 * harmless when in; a crash between the record and the join is made
 * good). */
void bridge_dm_resume(struct bridge *b);

/* Once per store: finds the direct chats the store lost from their marks
 * (each agent user's joined rooms). */
void bridge_dm_scan(struct bridge *b);

/* ---- bridge_as.c ---- */

struct srv_req;
struct proto_buf;

/* The application service API (appservice mode), as a srv_req_handler
 * over the bridge (arg): _head refuses a request without the
 * homeserver's token before its body is read, so _handler, called only
 * for what _head let through, does not check it again. */
int bridge_as_head(void *arg, const struct srv_req *req,
                   struct proto_buf *out, const char **content_type);
int bridge_as_handler(void *arg, const struct srv_req *req,
                      struct proto_buf *out, const char **content_type);

/* The ids of the transactions taken (appservice mode): txns holds them
 * space-separated, newest first, in meta "appservice_txns". _ok: 1 when
 * txn may go in the list (printable, no space, 1-64 bytes); _seen: 1
 * when txn is in txns; _put: txns with txn first, the oldest beyond 32
 * dropped; _get: into txns[0..cap), "" when none (0 or a store error). */
int bridge_as_txn_ok(const char *txn);
int bridge_as_txn_seen(const char *txns, const char *txn);

/* 1 when item is a whole entry of list (entries separated by sep). */
int bridge_in_list(const char *list, char sep, const char *item);
int bridge_as_txns_put(struct store_txn *t, const char *txns,
                       const char *txn);
int bridge_as_txns_get(struct store_txn *t, char *txns, size_t cap);

/* ---- bridge_conv.c ---- */

/* Pushes o to room's outbox in t: an answer (BRIDGE_OUT_TEXT) as its
 * plain body, cut into parts of at most split_bytes of event JSON, each
 * its own entry in order; a notice as it is. buf: LIM_STORE_QVALUE
 * scratch. Returns 0 or an error (nothing must be committed then). */
int bridge_conv_push(struct store_txn *t, struct bridge *b, const char *room,
                     const struct bridge_out *o, uint8_t *buf);

/* The m.room.message content of outbox entry o with transaction id txn
 * (malloc'd, *n its length): an answer with formatted_body when its
 * Markdown renders to more than a plain paragraph, the thread or reply
 * relation. NULL on allocation failure. */
char *bridge_conv_event(const struct bridge_out *o, const char *txn,
                        size_t *n);

/* ---- bridge_cmd.c ---- */

/* 1 when ev (a wanted event) is a command (bcmd.h) for the bridge. */
int bridge_cmd_is(struct bridge *b, const struct sync_ev *ev);

/* Runs the command in inbox-shaped record data[0..n) (bridge_in: the
 * raw body as text) in room r, once its sync batch is stored. */
void bridge_cmd_run(struct broom *r, const uint8_t *data, size_t n);

/* ---- bridge_stream.c ---- */

struct letta_reply;

/* A streamed send of question `question` (asked by the person in
 * `thread`, answered as `user`; reply: a rich reply) is about to start:
 * the live message is shown after [bridge] stream_after unless the
 * answer is whole by then. Returns 0, or ERR_NOMEM. */
int bridge_stream_begin(struct broom *r, const char *question,
                        const char *user, const char *thread, int reply);

/* What the Letta API tells of a streamed send (arg: the room). */
extern const struct lapi_events bridge_stream_events;

/* The send is over (its answer taken or not): the live message stays
 * for the final answer of the same question. */
void bridge_stream_done(struct broom *r);

/* The turn ended: a live message that got no final answer gets one
 * (what was said, or that the agent stopped). */
void bridge_stream_close(struct broom *r);

/* 1 while the final answer of a previous live message is not sent: the
 * next turn waits for it (answers stay in order, one live at a time). */
int bridge_stream_busy(const struct broom *r);

/* BRIDGE_OUT_F_FINAL when question has a live message (shown, queued,
 * or kept by an earlier run), else 0 (in the finishing transaction). */
int bridge_stream_flags(struct store_txn *t, struct broom *r,
                        const char *question);

/* finish() stored the final answer of question. */
void bridge_stream_final_queued(struct broom *r, const char *question);

/* The live message's event id, kept in the store when it is sent (t:
 * the transaction that removes it from the outbox), read when the final
 * answer is sent, removed with it. */
int bridge_live_put(struct store_txn *t, const char *room,
                    const char *question, const char *event_id);
int bridge_live_get(struct store_txn *t, const char *room,
                    const char *question, char *event_id, size_t cap);
int bridge_live_del(struct store_txn *t, const char *room,
                    const char *question);

/* The outbox's news of the live message (struct bout_watch). */
void bridge_stream_shown(struct broom *r, const char *question,
                         const char *event_id);
void bridge_stream_final_sent(struct broom *r, const char *question);

int bridge_stream_final_wait(struct broom *r, const char *question,
                             int64_t *ms);

/* Edits of the turn's live message so far, or -1 when it has none shown
 * (for !status). */
int bridge_stream_edits(const struct broom *r);

/* 1 when r's live message is that of question. */
int bridge_stream_is(const struct broom *r, const char *question);

/* bridge_stop / bridge_free. */
void bridge_stream_stop(struct broom *r);
void bridge_stream_free(struct broom *r);
/* The room's pending tool call, stored durably (meta "approval/<room>")
 * by the turn that ended on the approval request and cleared by the
 * !approve or !deny that answers it. get: call_id and tool into the
 * caller's buffers; 0 or ERR_NOTFOUND (also for a room id too long to
 * have one). put: 0 or a store error (a room id too long: 0, nothing
 * kept). del: 0 also when there was none. */
int bridge_pending_get(struct store_txn *t, const char *room, char *call_id,
                       size_t ccap, char *tool, size_t tcap);
int bridge_pending_put(struct store_txn *t, const char *room,
                       const char *call_id, const char *tool,
                       const char *thread);
/* The thread (root event id, "": the main timeline) whose turn the
 * pending call paused: its answer goes to that conversation. */
int bridge_pending_thread(struct store_txn *t, const char *room,
                          char *thread, size_t cap);
int bridge_pending_del(struct store_txn *t, const char *room);

/* ---- bridge_quiet.c ---- */

#define BRIDGE_NO_REPLY "<no-reply/>"
/* The first line of what the agent reads of a message it was not asked
 * ([bridge] listen), before the sender line. */
#define BRIDGE_LISTEN_MARK "[not addressed to you; no answer is expected]\n"

enum { BQ_R_ALWAYS = 1, BQ_R_MENTION };         /* bquiet.respond */
enum { BQ_ANSWER, BQ_LISTEN, BQ_DROP };         /* bridge_quiet_take */
enum { BQ_NO_REPLY = 1, BQ_EMPTY, BQ_LISTENED }; /* why nothing is posted */

/* BQ_NO_REPLY when s[0..n) is exactly <no-reply/> but for white space
 * around it, BQ_EMPTY when it is only white space, else 0. */
int bridge_quiet_text(const char *s, size_t n);

/* 1 while the answer so far s[0..n) may still become <no-reply/> (it is
 * a prefix of it, white space before it not counted, or it): the live
 * message waits. */
int bridge_quiet_prefix(const char *s, size_t n);

/* 1 when ev mentions user: in m.mentions (a client that sends them
 * means only those), else a matrix.to link of formatted_body, or the
 * whole user id in the body. */
int bridge_quiet_mentioned(const char *user, const struct sync_ev *ev);

/* What becomes of ev (a wanted message, not a command) in room r of
 * agent user agent_user: BQ_ANSWER, BQ_LISTEN (context only), BQ_DROP. */
int bridge_quiet_take(const struct bridge *b, const struct broom *r,
                      const char *agent_user, const struct sync_ev *ev);

/* What the agent reads of ev (bridge_text) into b->text, after the
 * BRIDGE_LISTEN_MARK line when it reads it as context only (listen).
 * Returns the length, or <= 0 as bridge_text. */
int bridge_quiet_read(struct bridge *b, const struct sync_ev *ev, int listen);

/* The room's kept state, read once (t: the sync's read transaction). */
void bridge_quiet_load(struct store_txn *t, struct broom *r);

/* A room of at most this many joined members (the agent, the bot and
 * one person) is never one of "several people". */
#define BQ_SMALL_JOINED 3

/* 1 when the store keeps a respond state for room. */
int bridge_quiet_stored(struct store_txn *t, const char *room);

/* The room's joined member count, and its settings event, as /sync
 * brought them: r goes on *list, to be written with the token. */
void bridge_quiet_members(struct broom *r, int64_t joined,
                          struct broom **list);
void bridge_quiet_setting(struct broom *r, const struct sync_state *st,
                          struct broom **list);

/* Writes the rooms of list in t (the sync token's transaction); once it
 * is committed, _saved empties the list. */
int bridge_quiet_save(struct store_txn *t, struct broom *list);
void bridge_quiet_saved(struct broom **list);

/* Why the end of question h's turn (as bridge_turn_finish gets it)
 * posts nothing (BQ_*), or 0: it is posted. */
int bridge_quiet_is(const struct bturn_head *h, int kind, const char *text,
                    size_t len, const struct letta_reply *rep);

/* Nothing was posted for h, for reason why: one log line, a read
 * receipt on the question unless it has one. */
void bridge_quiet_done(struct broom *r, const struct bturn_head *h, int why);

/* ---- bridge_sync.c ---- */

struct bsync *bridge_sync_start(struct bridge *b);
/* appservice mode: takes the events of the homeserver's transaction txn
 * (its JSON body) into the inbox, with txn's id, in one store
 * transaction; a txn taken before is not taken again. Returns 0 (answer
 * 200), ERR_INVAL (a bad id), or an error (nothing taken: the homeserver
 * sends it again). */
int bridge_sync_push(struct bsync *s, const char *txn, const char *body,
                     size_t len);
void bridge_sync_stop(struct bsync *s);
void bridge_sync_free(struct bsync *s);

#endif
