/*
 * limits: every compile-time cap of lettamx, in one place.
 *
 * Each cap bounds memory an untrusted peer, file or user could make us
 * allocate. Hitting one is an error (ERR_TOOBIG) for that one request or
 * input, never a crash or a silent truncation. Sizes are chosen for a
 * Raspberry Pi with 1,000 agents; the reason is next to each.
 */
#ifndef LETTAMX_LIMITS_H
#define LETTAMX_LIMITS_H

/* ---- command line ---- */
#define LIM_ARG_LEN            4096   /* one command-line argument */

/*
 * Each section below belongs to one module. Add a module's caps in its own
 * section, keeping the blank comment line between sections.
 */

/* ---- loop ---- */
/* Watched fds: HTTP connections (a few per origin), resolver sockets and
 * the signal pipe. 1,024 is also the usual RLIMIT_NOFILE soft limit. */
#define LIM_LOOP_FDS           1024
/* Armed timers: a few per connection, request and agent (1,000 agents with
 * retries and deadlines each stay far below this); 24 bytes each. */
#define LIM_LOOP_TIMERS        65536

/* ---- proto / letta / matrix / provision ---- */
/* A request path with its query: the longest is a state PUT naming a room
 * id, an event type and a state key (each <= 255 bytes, up to 3x longer
 * when percent-encoded). */
#define LIM_PROTO_PATH         2048
/* A request body we build: createRoom with the topic (a description cut
 * to LIM_LETTA_DESC), initial state and invites is the biggest. */
#define LIM_PROTO_BODY         16384
/* Agents per listing page we ask for (the server's default). */
#define LIM_LETTA_PAGE         50
/* Agents one listing may return in all: a bound on memory and on a server
 * that pages forever. */
#define LIM_LETTA_AGENTS       10000
/* An agent name (the room name and display name); Matrix caps a display
 * name at 256 bytes in practice. */
#define LIM_LETTA_NAME         256
/* A description, used as the room topic; longer ones are cut on a UTF-8
 * character boundary (a topic is display text, not an identifier). */
#define LIM_LETTA_DESC         1024
/* Tags of one agent, NUL-separated, for include/exclude filters. */
#define LIM_LETTA_TAGS         512
/* The longest Letta error detail we keep for a message. */
#define LIM_PROTO_DETAIL       256
/* Matrix: an access token, a device id, a nonce, an errcode. */
#define LIM_MX_TOKEN           512
#define LIM_MX_NONCE           256
#define LIM_MX_ERRCODE         64
/* Backoff when a server says nothing better: first wait, and the cap on
 * it (a 429's own wait has its cap below). */
#define LIM_MX_BACKOFF_MS      500
#define LIM_MX_BACKOFF_MAX_MS  (5 * 60 * 1000)
/* A 429's wait is honoured as told up to this (an hour: far above any
 * real limiter, and a hostile value still cannot park work for a day). */
#define LIM_MX_RL_MAX_MS       (3600LL * 1000)
/* Tries of one provisioning step (5xx, no answer; a 429 is pacing and
 * never counts) before the agent is
 * reported failed for this run; the next run starts again. */
#define LIM_PROV_ATTEMPTS      8
/* Joined rooms examined for a marker (the bot is in every agent room, so
 * finding the Space again after a lost store may look at all of them). */
#define LIM_PROV_CANDIDATES    20000
/* Agents provisioned at once (one request in flight each): enough to
 * hide a homeserver's latency, few enough for its rate limits. */
#define LIM_PROV_LANES         4
/* `lettamx status --json` output: ~400 bytes per agent, 10,000 agents. */
#define LIM_STATUS_JSON        (4 * 1024 * 1024)

/*  */

/* ---- dns ---- */
/* Receive buffer for one UDP answer. We send no EDNS0, so servers answer
 * in 512 bytes; 1232 (the DNS flag day 2020 size) tolerates servers that
 * send more anyway. Larger datagrams are cut by recv() and rejected. */
#define LIM_DNS_PACKET         1232
/* Answer records kept from one packet for CNAME chasing: 1232 bytes hold
 * at most ~110 minimal records. */
#define LIM_DNS_ANSWERS        128
/* CNAME links followed from the asked name (glibc follows about 16;
 * real chains are 1-3 long, longer ones are loops or abuse). */
#define LIM_DNS_CNAME_DEPTH    8
/* Nameservers read from resolv.conf (MAXNS of the libc resolvers). */
#define LIM_DNS_SERVERS        3
/* Cached answers: lettamx talks to a handful of hosts (homeserver, Letta,
 * a media host); the oldest entry is evicted when full. ~250 B each. */
#define LIM_DNS_CACHE          32
/* TTLs above this are clamped, so a moved service is found within it. */
#define LIM_DNS_TTL_MAX        3600
/* Distinct names being asked at once (queries for a name already in
 * flight join it and cost nothing). One UDP socket each. */
#define LIM_DNS_INFLIGHT       32
/* Longest line read from resolv.conf or hosts; longer lines are skipped. */
#define LIM_DNS_CONF_LINE      1024

/*  */

/* ---- tls / http ---- */
/* Response head (status line + headers). Synapse and Letta send < 2 KiB;
 * 8 KiB is what nginx allows per request head by default. */
#define LIM_HTTP_HEAD          8192
/* Header lines in one response head (picohttpparser's tests use 100). */
#define LIM_HTTP_HEADERS       64
/* Receive window per connection after the head: one TLS record fits. */
#define LIM_HTTP_RBUF          16384
/* Default cap on a collected response body. An initial /sync of an
 * account in a few hundred rooms is a few MiB; callers may raise it. */
#define LIM_HTTP_BODY          (8u << 20)
/* A chunk-size line with extensions, and the whole trailer section. */
#define LIM_HTTP_CHUNK_LINE    1024
#define LIM_HTTP_TRAILER       8192
/* URLs we build: Matrix room ids, event ids and query strings. */
#define LIM_HTTP_URL           4096
/* Host name in a URL (DNS_NAME_MAX; an IPv6 literal is shorter). */
#define LIM_HTTP_HOST          253
/* Serialised request head (request line + caller headers). */
#define LIM_HTTP_REQ_HEAD      8192
/* Connections open at once to one origin: enough that a /sync long-poll
 * and several slow Letta calls never hold up short calls. */
#define LIM_HTTP_PER_ORIGIN    8
/* Distinct origins (homeserver, Letta, a media host...). */
#define LIM_HTTP_ORIGINS       32
/* Retry-After beyond a day is treated as a day. */
#define LIM_HTTP_RETRY_AFTER_MS (24ll * 3600 * 1000)
/* Reason kept on a connection for logs (TLS and socket errors). */
#define LIM_TLS_REASON         96
/* A failed request's explanation: its reason, host:port and advice. */
#define LIM_HTTP_REASON        (LIM_TLS_REASON + LIM_HTTP_HOST + 256)

/*  */

/* ---- json ---- */
/* An initial /sync of 1,000 rooms is a few MiB; larger is refused. */
#define LIM_JSON_DOC        (8u << 20)
/* Tokens of one document (24 bytes each with the skip table): real bodies
 * carry ~1 token per 8-10 bytes, so 1 M tokens cover LIM_JSON_DOC of
 * ordinary JSON (at most 24 MiB, transient); a denser one is refused. */
#define LIM_JSON_TOKENS     (1u << 20)
/* Matrix event content and Letta bodies nest < 20 deep; 64 is generous
 * and keeps the recursive validation's stack small. */
#define LIM_JSON_DEPTH      64

/*  */

/* ---- store ---- */
/* Matrix ids are at most 255 bytes (spec: "Identifier Grammar"); Letta
 * ids are ~42. One more for the NUL. */
/* The largest application service transaction taken: Synapse sends at
 * most 100 events (65,536 bytes each at most) and 100 ephemeral ones in
 * one, one transaction at a time; the body is read only once the head
 * carried the homeserver's token. */
#define LIM_AS_TXN           (8u << 20)
/* The largest avatar picture taken from [matrix] avatar_dir. */
#define LIM_AVATAR_BYTES     (1 << 20)
#define LIM_STORE_ID         256
#define LIM_STORE_NAME       256   /* an agent's display name */
#define LIM_STORE_SECRET     512   /* a password or access token */
#define LIM_STORE_PATH      1024   /* the store or snapshot directory */
#define LIM_STORE_WHY        512   /* one explanation of a failure */
#define LIM_STORE_META      4096   /* one meta value (a sync token ~100 B) */
/* One queued message: a Matrix event body is at most 64 KiB. */
#define LIM_STORE_QVALUE   (64u << 10)
/* The map starts small (the file grows with it) and doubles when full,
 * up to a cap that fits a 32-bit address space next to everything else. */
#define LIM_STORE_MAP_INITIAL (1u << 20)
#define LIM_STORE_MAP_MAX     (512u << 20)
#define LIM_STORE_SNAPSHOTS  1000  /* snapshots listed in one directory */
/* Updates in one batch (store_batch_start) before it commits by itself:
 * bounds what one commit writes and what a lost batch loses. */
#define LIM_STORE_BATCH       512

/*  */

/* ---- cfg / log ---- */
#define LIM_CFG_LINE         4096  /* one line of the config file */
#define LIM_CFG_FILE   (256 * 1024)  /* the whole config file */
#define LIM_CFG_VALUE        1024  /* one value (a URL, a list of ids) */
#define LIM_CFG_KEYS           96  /* entries of the schema table */
#define LIM_CFG_SECRET       4096  /* a secret file (token, password) */
#define LIM_CFG_ERR           512  /* one configuration error message */

/*  */

/* ---- reconcile ---- */
/* Rooms of the bot's graph read at once (join + leave + invite), and
 * Space links kept: 20,000 agent rooms with room to spare; ~200 bytes a
 * room plus its strings (bounded by the /sync answer, LIM_JSON_DOC). */
#define LIM_RECON_ROOMS      40000
#define LIM_RECON_CHILDREN   40000
/* Thread marks (org.lettamx.thread) read at once, over all rooms; more
 * are not read (their threads fall back on the summary find). */
#define LIM_RECON_THREADS    200000

/*  */

/* ---- sync / bridge ---- */
/* An event type or msgtype we keep (longer ones are skipped as junk). */
#define LIM_SYNC_TYPE         128
/* A media file name shown to an agent (cut to fit). */
#define LIM_SYNC_NAME         256
/* An mxc:// URI of a picture as an event names it: "mxc://", a server
 * name (MX_MEDIA_SERVER_MAX), '/', a media id (MX_MEDIA_ID_MAX). */
#define LIM_SYNC_MXC          528
/* A message body: a whole Matrix event is at most 64 KiB (spec). */
#define LIM_SYNC_BODY         (64u << 10)
/* The users one message mentions, one id a line: enough for the agent
 * among a crowd (a mention is looked for only in what fits). */
#define LIM_SYNC_MENTIONS     2048
/* A room's joined member count as kept (a bigger one is kept as this:
 * all that matters is "more than three"). */
#define LIM_QUIET_MEMBERS     1000000
/* Timeline events per room in one /sync (our filter), and per /messages
 * page when a limited timeline is caught up. */
#define LIM_SYNC_TIMELINE     50
#define LIM_SYNC_PAGE         50
/* Events fetched to catch one room up after a gap; older ones are
 * reported in the log as missed and told to the room in one notice (a
 * bound on a restart after months). */
#define LIM_SYNC_CATCHUP      1000
/* The /sync answer's cap (a first sync of 1,000 rooms is a few MiB). */
#define LIM_SYNC_RESP         (8u << 20)
/* What an agent reads of one message (with the sender prefix): Letta
 * takes more, Matrix bodies never are. */
#define LIM_BRIDGE_TEXT       (60u << 10)
/* An answer read from Letta: posted as several events (an event over
 * 65,536 bytes is refused, M_TOO_LARGE, transcript; LIM_BRIDGE_EVENT
 * pass); longer than this is cut, saying so. */
#define LIM_BRIDGE_ANSWER     (512u << 10)
/* Most bytes of one answer event's JSON ([bridge] split_bytes' cap). */
#define LIM_BRIDGE_EVENT      60000
/* A Letta answer body (several assistant messages, tool traces). */
#define LIM_BRIDGE_LETTA_RESP (4u << 20)
/* Tries of one Letta turn (5xx, timeouts, dropped answers, busy) before
 * the person is told; tries of one answer that the homeserver refuses
 * other than with 429/5xx. */
#define LIM_BRIDGE_TRIES      6
#define LIM_BRIDGE_OUT_TRIES  5
/* Backoff of retries: first wait and cap, with +-25 % jitter. */
#define LIM_BRIDGE_BACKOFF_MS 1000
#define LIM_BRIDGE_BACKOFF_MAX_MS (60 * 1000)
/* Letta history entries read to find a turn by its otid. */
#define LIM_BRIDGE_HISTORY    100
/* Runs asked for when looking whether an agent is still busy: any one
 * going is enough to wait (the list is read in full, so keep it short). */
#define LIM_LETTA_RUNS_LISTED 5
/* Edits of one live answer, the final one included (issue 12: one peer's
 * room stopped loading in every client after ~1,000 edits of one event). */
#define LIM_BRIDGE_EDITS      20

/*  */

/* ---- ws ---- */
/* An incoming WebSocket message, fragments reassembled. Most App Server
 * messages are JSON events of a few KiB, but a page of history or a
 * delta as long as a whole answer is as big as a Letta answer body over
 * HTTP (LIM_BRIDGE_LETTA_RESP). Past it the connection is closed with
 * 1009. Pages of the buffer are touched only as far as a message goes. */
#define LIM_WS_MSG            (4u << 20)
/* Bytes of frames queued for sending; a send that would pass it is
 * refused (backpressure), it never grows. Also holds the opening
 * request, so it is never below LIM_WS_SENDQ_MIN. */
#define LIM_WS_SENDQ          (256u << 10)
#define LIM_WS_SENDQ_MIN      (LIM_HTTP_REQ_HEAD + LIM_WS_BEARER + 1024)
/* Room of the send queue kept for control frames (pong, ping, close:
 * 131 bytes each at most), so a full queue of data never stops a pong. */
#define LIM_WS_CTL_RESERVE    1024
/* Receive window: one TLS record (as LIM_HTTP_RBUF). */
#define LIM_WS_RBUF           16384
/* A bearer token sent in the opening request (a Letta API key is ~60
 * bytes; a JWT a few hundred). */
#define LIM_WS_BEARER         4096
/* A close reason kept for the on_close callback and the logs. */
#define LIM_WS_WHY            128

/*  */

/* ---- letta_app ---- */
/* An id the App Server gives or echoes (request, run, turn, message,
 * conversation and permission ids: "perm-call_1", "local-conv-1",
 * "batch-direct-" + a UUID are all under 64 bytes). A longer one is
 * refused, never cut: ids are sent back or compared. */
#define LIM_LETTA_APP_ID      128
/* An error text of a frame (error, loop_error's message) kept for the log
 * and the person; longer is cut at a character. */
#define LIM_LETTA_APP_ERROR   1024
/* The text of one stream_delta (an answer chunk, a tool's arguments): as
 * much as one whole answer keeps (LIM_BRIDGE_ANSWER), so a server that
 * sends a message in one delta loses nothing the reply would show; past
 * it cut at a character. */
#define LIM_LETTA_APP_TEXT    LIM_BRIDGE_ANSWER
/* A control_request's tool input (raw JSON) handed on for a person to
 * judge; longer is cut at a character (and is then no longer JSON). */
#define LIM_LETTA_APP_INPUT   (64u << 10)
/* Largest page asked for (agent_list, conversation_messages_list), and
 * the messages of one page the history reader looks at. */
#define LIM_LETTA_APP_LIMIT   1000

/* ---- letta_app_list ---- */
/* Agents asked for in one agent_list page. The App Server sends every
 * agent whole (system prompt, the ids of its messages): a page of 50
 * long-used agents stays well under LIM_LETTA_APP_LIST_MSG. */
#define LIM_LETTA_APP_PAGE    50
/* The largest agent_list answer taken: as much as one JSON document. */
#define LIM_LETTA_APP_LIST_MSG LIM_JSON_DOC

/*  */

#endif
