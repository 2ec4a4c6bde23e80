/*
 * The provisioning engine against a small stateful homeserver and Letta
 * written here (users, tokens, rooms with state and members, an agent
 * list), answering by method and path, failing on anything else (the
 * Python fakes in tools/ cover the same ground through the binary). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "core/json.h"
#include "prov/provision.h"
#include "store/secret.h"
#include "store/store_snap.h"

#define MAXU 64
#define MAXR 64
#define MAXA 64
#define SRV "localhost"
#define BOT "@bot:localhost"

struct user { char local[300]; char pw[64]; char tok[64]; };
struct room {
	char id[64];
	char marker[64];        /* agent id of org.lettamx.agent, or "" */
	int space;
	char members[8][300];
	int nmem;
	char invited[8][300];
	int ninv;
	char children[MAXR][64];
	int nchild;
	char install[40];       /* the Space marker's install id, or "" */
};
struct agent { char id[64]; char name[64]; };

static struct fake {
	struct user u[MAXU];
	int nu;
	struct room r[MAXR];
	int nr;
	struct agent a[MAXA];
	int na;
	int reqs, writes, logins, registers, creates, notices, names;
	int fail_create_429;    /* next createRoom answers 429 */
	int list_fail;          /* the listing answers 500 */
	int given;              /* prov_take_list: 1 complete, 2 not, 3 fails */
	int reg_offers_token;   /* /register wants a registration token */
	int crash_after;        /* stop the run after this many Matrix
	                         * requests, dropping the last answer */
	int lose_creates;       /* createRoom works, its answer is lost */
	unsigned chaos;         /* seed: random 5xx, 429, lost answers */
	int interleave;         /* answer the lanes' requests in any order */
	int synapse;            /* admin API: override_ratelimit, login */
	int overrides, admin_logins;
	char body[65536];
	int64_t now;
} F;

static int64_t fake_clock(void)
{
	return F.now;
}

static const char *agent_id(int i)
{
	static char buf[8][64];
	char *b = buf[i % 8];

	snprintf(b, 64, "agent-00000000-0000-4000-8000-%012d", i);
	return b;
}

static void add_agent(int i, const char *name)
{
	if (snprintf(F.a[F.na].id, 64, "%s", agent_id(i)) >= 64)
		harness_fail(__FILE__, __LINE__, "agent id too long");
	snprintf(F.a[F.na].name, 64, "%s", name);
	F.na++;
}

static struct user *by_token(const char *tok)
{
	for (int i = 0; tok && *tok && i < F.nu; i++)
		if (!strcmp(F.u[i].tok, tok))
			return &F.u[i];
	return NULL;
}

static struct user *by_local(const char *l)
{
	for (int i = 0; i < F.nu; i++)
		if (!strcmp(F.u[i].local, l))
			return &F.u[i];
	return NULL;
}

static struct room *room_of(const char *path, const char *pre)
{
	char id[64];
	size_t n = strlen(pre);

	if (strncmp(path, pre, n))
		return NULL;
	/* "%21rN%3Alocalhost" */
	if (sscanf(path + n, "%%21%63[^%%]", id) != 1)
		return NULL;
	for (int i = 0; i < F.nr; i++)
		if (!strncmp(F.r[i].id + 1, id, strlen(id)) &&
		    F.r[i].id[1 + strlen(id)] == ':')
			return &F.r[i];
	return NULL;
}

static int member(const struct room *r, const char *uid)
{
	for (int i = 0; i < r->nmem; i++)
		if (!strcmp(r->members[i], uid))
			return 1;
	return 0;
}

static void uid_of(const struct user *u, char *out)
{
	snprintf(out, 300, "@%s:" SRV, u->local);
}

static int reply(struct proto_resp *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int reply(struct proto_resp *resp, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(F.body, sizeof F.body, fmt, ap);
	va_end(ap);
	resp->status = status;
	resp->body = F.body;
	resp->len = strlen(F.body);
	resp->retry_after_ms = -1;
	return 0;
}

static int letta(const struct proto_req *q, struct proto_resp *resp)
{
	const char *after = strstr(q->path, "&after=");
	size_t n = 1;
	int start = 0, k = 0;

	if (F.list_fail)
		return reply(resp, 500, "{\"detail\":\"boom\"}");
	if (after) {
		for (start = 0; start < F.na; start++)
			if (!strcmp(F.a[start].id, after + 7))
				break;
		start++;
	}
	F.body[0] = '[';
	for (int i = start; i < F.na && k < LIM_LETTA_PAGE; i++, k++)
		n += (size_t)snprintf(F.body + n, sizeof F.body - n,
		       "%s{\"id\":\"%s\",\"name\":\"%s\",\"tags\":[]}",
		       k ? "," : "", F.a[i].id, F.a[i].name);
	snprintf(F.body + n, sizeof F.body - n, "]");
	resp->status = 200;
	resp->body = F.body;
	resp->len = strlen(F.body);
	resp->retry_after_ms = -1;
	return 0;
}

static int do_register(const struct proto_req *q, struct proto_resp *resp)
{
	struct json j;
	char local[300], pw[64];
	struct user *u;

	F.registers++;
	if (F.reg_offers_token)
		return reply(resp, 401, "{\"session\":\"s\",\"flows\":[{\"stages\":"
		             "[\"m.login.registration_token\"]}],\"params\":{}}");
	json_init(&j);
	json_parse(&j, q->body, q->body_len);
	json_get_str(&j, 0, "username", local, sizeof local);
	json_get_str(&j, 0, "password", pw, sizeof pw);
	json_free(&j);
	if (by_local(local))
		return reply(resp, 400, "{\"errcode\":\"M_USER_IN_USE\","
		             "\"error\":\"User ID already taken.\"}");
	u = &F.u[F.nu++];
	snprintf(u->local, sizeof u->local, "%s", local);
	snprintf(u->pw, sizeof u->pw, "%s", pw);
	snprintf(u->tok, sizeof u->tok, "tok%d", F.reqs);
	return reply(resp, 200, "{\"user_id\":\"@%s:" SRV "\",\"access_token\":"
	             "\"%s\",\"device_id\":\"D\"}", u->local, u->tok);
}

static int do_login(const struct proto_req *q, struct proto_resp *resp)
{
	struct json j;
	char local[300], pw[64];
	struct user *u;

	F.logins++;
	json_init(&j);
	json_parse(&j, q->body, q->body_len);
	json_get_str(&j, json_get(&j, 0, "identifier"), "user", local,
	             sizeof local);
	json_get_str(&j, 0, "password", pw, sizeof pw);
	json_free(&j);
	u = by_local(local);
	if (!u || strcmp(u->pw, pw))
		return reply(resp, 403, "{\"errcode\":\"M_FORBIDDEN\",\"error\":"
		             "\"Invalid username or password\"}");
	snprintf(u->tok, sizeof u->tok, "tok%d", F.reqs);
	return reply(resp, 200, "{\"user_id\":\"@%s:" SRV "\",\"access_token\":"
	             "\"%s\"}", u->local, u->tok);
}

static int do_create(const struct proto_req *q, struct proto_resp *resp,
                     const char *uid)
{
	struct json j;
	struct room *r;
	int st, inv;

	F.creates++;
	if (F.fail_create_429) {
		F.fail_create_429--;
		reply(resp, 429, "{\"errcode\":\"M_LIMIT_EXCEEDED\","
		      "\"retry_after_ms\":1234}");
		return 0;
	}
	r = &F.r[F.nr];
	memset(r, 0, sizeof *r);
	snprintf(r->id, sizeof r->id, "!r%d:" SRV, F.nr);
	F.nr++;
	snprintf(r->members[r->nmem++], 300, "%s", uid);
	json_init(&j);
	CHECK_EQ(json_parse(&j, q->body, q->body_len), 0);
	r->space = json_get(&j, 0, "creation_content") >= 0;
	st = json_get(&j, 0, "initial_state");
	for (int e = json_arr_first(&j, st); e >= 0; e = json_arr_next(&j, st, e))
		if (json_str_eq(&j, json_get(&j, e, "type"), "org.lettamx.agent"))
			json_get_str(&j, json_get(&j, e, "content"), "agent_id",
			             r->marker, sizeof r->marker);
		else if (json_str_eq(&j, json_get(&j, e, "type"),
		                     "org.lettamx.space"))
			json_get_str(&j, json_get(&j, e, "content"), "install",
			             r->install, sizeof r->install);
	inv = json_get(&j, 0, "invite");
	for (int e = json_arr_first(&j, inv); e >= 0; e = json_arr_next(&j, inv, e))
		json_str(&j, e, r->invited[r->ninv++], 300);
	json_free(&j);
	return reply(resp, 200, "{\"room_id\":\"%s\"}", r->id);
}

static int do_joined(struct proto_resp *resp, const char *uid)
{
	size_t n = (size_t)snprintf(F.body, sizeof F.body, "{\"joined_rooms\":[");
	int k = 0;

	for (int i = 0; i < F.nr; i++)
		if (member(&F.r[i], uid))
			n += (size_t)snprintf(F.body + n, sizeof F.body - n,
			                      "%s\"%s\"", k++ ? "," : "", F.r[i].id);
	snprintf(F.body + n, sizeof F.body - n, "]}");
	resp->status = 200;
	resp->body = F.body;
	resp->len = strlen(F.body);
	resp->retry_after_ms = -1;
	return 0;
}

static int do_state(const struct proto_req *q, struct proto_resp *resp,
                    const char *uid)
{
	struct room *r = room_of(q->path, "/_matrix/client/v3/rooms/");

	if (!r || !member(r, uid))
		return reply(resp, 403, "{\"errcode\":\"M_FORBIDDEN\"}");
	if (q->method == PROTO_GET) {
		if (strstr(q->path, "/state/org.lettamx.agent/") && r->marker[0])
			return reply(resp, 200, "{\"agent_id\":\"%s\",\"v\":1}",
			             r->marker);
		if (strstr(q->path, "/state/org.lettamx.space/?format=event") &&
		    r->space)
			return reply(resp, 200, "{\"type\":\"org.lettamx.space\","
			             "\"state_key\":\"\",\"sender\":\"" BOT "\","
			             "\"content\":{\"v\":1%s%s%s}}",
			             r->install[0] ? ",\"install\":\"" : "",
			             r->install, r->install[0] ? "\",\"bot\":\""
			             BOT "\"" : "");
		return reply(resp, 404, "{\"errcode\":\"M_NOT_FOUND\"}");
	}
	F.writes++;
	if (strstr(q->path, "/state/m.room.name/"))
		F.names++;
	if (strstr(q->path, "/state/org.lettamx.space/")) {
		struct json j;

		json_init(&j);
		CHECK_EQ(json_parse(&j, q->body, q->body_len), 0);
		json_get_str(&j, 0, "install", r->install, sizeof r->install);
		json_free(&j);
	}
	if (strstr(q->path, "/state/m.space.child/")) {
		const char *child = strstr(q->path, "m.space.child/") + 14;
		int i = 0;

		/* state: one entry per key, replaced; {} empties it */
		while (i < r->nchild && strcmp(r->children[i], child) &&
		       strcmp(r->children[i] + 1, child))
			i++;
		if (i == r->nchild)
			r->nchild++;
		snprintf(r->children[i], 64, "%s%s",
		         strcmp(q->body, "{}") ? "" : "-", child);
	}
	return reply(resp, 200, "{\"event_id\":\"$e%d\"}", F.reqs);
}

static int do_join(const struct proto_req *q, struct proto_resp *resp,
                   const char *uid)
{
	struct room *r = room_of(q->path, "/_matrix/client/v3/join/");
	int inv = 0;

	if (!r)
		return reply(resp, 404, "{\"errcode\":\"M_NOT_FOUND\"}");
	for (int i = 0; i < r->ninv; i++)
		inv |= !strcmp(r->invited[i], uid);
	if (!inv && !member(r, uid))
		return reply(resp, 403, "{\"errcode\":\"M_FORBIDDEN\"}");
	if (!member(r, uid))
		snprintf(r->members[r->nmem++], 300, "%s", uid);
	return reply(resp, 200, "{\"room_id\":\"%s\"}", r->id);
}

/* Synapse's admin API for users (F.synapse), else a 404 as from a
 * server without it. */
static int do_admin(const struct proto_req *q, struct proto_resp *resp,
                    const char *uid)
{
	const char *id = q->path + strlen("/_synapse/admin/v1/users/%40");
	char local[300];
	struct user *t;

	if (!F.synapse)
		return reply(resp, 404, "{\"errcode\":\"M_UNRECOGNIZED\"}");
	if (strcmp(uid, BOT))
		return reply(resp, 403, "{\"errcode\":\"M_FORBIDDEN\"}");
	snprintf(local, sizeof local, "%.*s", (int)strcspn(id, "%"), id);
	t = by_local(local);
	if (!t)
		return reply(resp, 404, "{\"errcode\":\"M_NOT_FOUND\"}");
	if (strstr(q->path, "/override_ratelimit")) {
		F.overrides++;
		return reply(resp, 200, "{\"messages_per_second\":0,"
		             "\"burst_count\":0}");
	}
	F.admin_logins++;
	snprintf(t->tok, sizeof t->tok, "atok%d", F.reqs);
	return reply(resp, 200, "{\"access_token\":\"%s\"}", t->tok);
}

/* One Matrix request: route by method and path; unknown ones fail the
 * test (a fake that answers anything proves nothing). */
static int matrix(const struct proto_req *q, struct proto_resp *resp)
{
	struct user *u = by_token(q->bearer);
	char uid[300] = "";

	if (u)
		uid_of(u, uid);
	if (q->method != PROTO_GET)
		F.writes++;
	if (!strcmp(q->path, "/_matrix/client/v3/register?kind=user"))
		return do_register(q, resp);
	if (!strcmp(q->path, "/_matrix/client/v3/login"))
		return do_login(q, resp);
	if (q->bearer[0] && !u)
		return reply(resp, 401, "{\"errcode\":\"M_UNKNOWN_TOKEN\"}");
	if (!u)
		return reply(resp, 401, "{\"errcode\":\"M_MISSING_TOKEN\"}");
	if (!strncmp(q->path, "/_synapse/admin/v1/users/", 25))
		return do_admin(q, resp, uid);
	if (strstr(q->path, "/displayname")) {
		F.names++;
		return reply(resp, 200, "{}");
	}
	if (!strcmp(q->path, "/_matrix/client/v3/createRoom"))
		return do_create(q, resp, uid);
	if (!strcmp(q->path, "/_matrix/client/v3/joined_rooms"))
		return do_joined(resp, uid);
	if (strstr(q->path, "/state/")) {
		if (q->method != PROTO_GET)
			F.writes--;     /* counted in do_state */
		return do_state(q, resp, uid);
	}
	if (strstr(q->path, "/join/"))
		return do_join(q, resp, uid);
	if (strstr(q->path, "/send/m.room.notice/")) {
		F.notices++;
		return reply(resp, 200, "{\"event_id\":\"$n\"}");
	}
	harness_fail(__FILE__, __LINE__, "unexpected %s %s",
	             proto_method_str(q->method), q->path);
	return reply(resp, 400, "{\"errcode\":\"M_UNRECOGNIZED\"}");
}

static struct store *S;
static struct secret_master M;
static struct prov_conf C;
static int64_t waited;
static int reports;

static void on_agent(void *arg, const struct prov_report *r)
{
	(void)arg;
	(void)r;
	reports++;
}

static unsigned rnd(void)
{
	F.chaos = F.chaos * 1103515245u + 12345u;
	return (F.chaos >> 16) & 0x7fff;
}

/* Before the server sees a request: sometimes a 5xx, a 429 or no answer
 * at all (nothing done). Returns 1 when it answered. */
static int chaos(const struct proto_req *q, struct proto_resp *resp)
{
	(void)q;
	switch (rnd() % 12) {
	case 0:
		reply(resp, 502, "<html>bad gateway</html>");
		return 1;
	case 1:
		reply(resp, 429, "{\"errcode\":\"M_LIMIT_EXCEEDED\","
		      "\"retry_after_ms\":100}");
		return 1;
	case 2:
		resp->status = 0;
		resp->len = 0;
		return 1;
	default:
		return 0;
	}
}

/* Answers one request of the engine as the fakes would. Returns 1 when
 * the run is "killed" here (F.crash_after). */
static int answer(const struct proto_req *q, int target,
                  struct proto_resp *resp, int *n)
{
	F.reqs++;
	if (target == PROV_LETTA)
		return CHECK(!F.given), letta(q, resp), 0;
	if (F.chaos && chaos(q, resp))
		return 0;
	matrix(q, resp);
	if (F.chaos && rnd() % 16 == 0) {
		resp->status = 0;       /* done, answer lost */
		resp->len = 0;
	}
	if (F.lose_creates && strstr(q->path, "createRoom")) {
		F.lose_creates--;
		resp->status = 0;
		resp->len = 0;
	}
	if (getenv("PROV_TRACE"))
		fprintf(stderr, "TRACE %s %s -> %d %.*s\n",
		        proto_method_str(q->method), q->path, resp->status,
		        (int)resp->len, resp->body);
	return F.crash_after && ++*n == F.crash_after;
}

/* A listing read elsewhere (the App Server's), given to the engine. */
static void give_list(struct prov *p)
{
	struct letta_list l = { .done = 1, .complete = F.given == 1 };
	struct letta_agent a = { .sleeptime = 0 };

	for (int i = 0; i < F.na; i++) {
		snprintf(a.id, sizeof a.id, "%s", F.a[i].id);
		snprintf(a.name, sizeof a.name, "%s", F.a[i].name);
		CHECK_EQ(letta_list_add(&l, &a), 0);
	}
	prov_take_list(p, &l, F.given == 3 ? ERR_CLOSED : 0, "gone");
	letta_list_reset(&l);
}

/* Runs the engine to its end (or to F.crash_after Matrix requests).
 * With F.interleave, requests of all lanes are collected first and
 * answered in a random order. Returns prov_result's code. */
static int run(char *why, size_t cap)
{
	static struct proto_req q[LIM_PROV_LANES];
	struct prov *p = prov_new(&C, on_agent, NULL);
	struct proto_resp resp = { 0, -1, "", 0, 0, NULL };
	int target[LIM_PROV_LANES], slot[LIM_PROV_LANES], a, r, n = 0;
	int queued = 0, s;
	int64_t w;

	if (F.given)
		give_list(p);
	for (;;) {
		a = prov_next(p, &q[queued], &target[queued], &w, &s);
		if (a == PROV_WAIT) {
			waited += w;
			prov_wake(p, s);
			continue;
		}
		if (a == PROV_SEND) {
			slot[queued++] = s;
			if (F.interleave && queued < LIM_PROV_LANES)
				continue;
		}
		if (a == PROV_DONE)
			break;
		if (!queued) {
			harness_fail(__FILE__, __LINE__, "idle, nothing sent");
			break;
		}
		r = F.interleave ? (int)(rnd() % (unsigned)queued) : 0;
		if (answer(&q[r], target[r], &resp, &n)) {
			prov_free(p);   /* killed: the answer is lost */
			return ERR_CANCELLED;
		}
		s = slot[r];
		queued--;
		q[r] = q[queued];
		target[r] = target[queued];
		slot[r] = slot[queued];
		prov_feed(p, s, &resp);
	}
	r = prov_result(p, why, cap);
	prov_free(p);
	return r;
}

/* Returns 0, or -1 when the store cannot be opened (the test stops). */
static int setup(const char *name, int nagents)
{
	struct store_opts o = { .clock = fake_clock };
	char dir[512], why[512];

	memset(&F, 0, sizeof F);
	F.now = 1763900000000;
	/* the bot exists already, with a token from its file */
	snprintf(F.u[0].local, 300, "bot");
	snprintf(F.u[0].tok, 64, "bottok");
	F.nu = 1;
	for (int i = 0; i < nagents; i++) {
		char nm[32];
		snprintf(nm, sizeof nm, "agent %d", i);
		add_agent(i, nm);
	}
	snprintf(dir, sizeof dir, "%s/%s", harness_tmpdir(), name);
	store_close(S);
	S = NULL;
	if (store_open(&S, dir, &o, why, sizeof why)) {
		harness_fail(__FILE__, __LINE__, "store_open: %s", why);
		return -1;
	}
	memset(&M, 0, sizeof M);
	memcpy(M.key, "0123456789abcdef0123456789abcdef", 32);
	M.len = 32;
	memset(&C, 0, sizeof C);
	C.server_name = SRV;
	C.user_prefix = "letta_";
	C.reg = MX_REG_DUMMY;
	C.bot_user = BOT;
	C.bot_token = "bottok";
	C.grace_ms = 2 * 3600 * 1000;
	C.master = &M;
	C.store = S;
	C.avatars = PROV_AVATAR_NONE;   /* tested in test_avatars.py */
	waited = 0;
	reports = 0;
	return 0;
}

/* Rooms carrying each agent's marker, users per agent. */
static void check_one_each(int nagents)
{
	for (int i = 0; i < nagents; i++) {
		int rooms = 0, users = 0;
		char local[300];

		if (snprintf(local, sizeof local, "letta_%s", agent_id(i)) >=
		    (int)sizeof local)
			harness_fail(__FILE__, __LINE__, "localpart too long");
		for (int k = 0; k < F.nr; k++)
			rooms += !strcmp(F.r[k].marker, agent_id(i));
		for (int k = 0; k < F.nu; k++)
			users += !strcmp(F.u[k].local, local);
		if (rooms != 1 || users != 1)
			harness_fail(__FILE__, __LINE__, "agent %d: %d rooms, "
			             "%d users", i, rooms, users);
	}
}

static void test_fresh_then_steady_state(void)
{
	char why[512];
	int spaces = 0, children;

	struct store_snap snaps[4];
	char snapdir[512];

	if (setup("fresh", 3))
		return;
	snprintf(snapdir, sizeof snapdir, "%s/fresh-snaps", harness_tmpdir());
	C.snapdir = snapdir;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(store_snap_list(snapdir, snaps, 4), 1);    /* before changing */
	CHECK_EQ(snaps[0].counts[STORE_AGENTS], 0);
	check_one_each(3);
	for (int k = 0; k < F.nr; k++)
		spaces += F.r[k].space;
	CHECK_EQ(spaces, 1);
	CHECK_EQ(F.nr, 4);
	children = F.r[0].space ? F.r[0].nchild : -1;
	CHECK_EQ(children, 3);
	CHECK_EQ(F.logins, 0);
	CHECK_EQ(reports, 3);
	for (int k = 1; k < F.nr; k++) {
		CHECK(member(&F.r[k], BOT));
		CHECK(F.r[k].marker[0]);
	}

	/* the second run: no Matrix request at all */
	F.reqs = F.writes = F.logins = 0;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.writes, 0);
	CHECK_EQ(F.logins, 0);
	CHECK_EQ(F.reqs, 1);    /* the listing */
	CHECK_EQ(store_snap_list(snapdir, snaps, 4), 1);    /* nothing changed */
}

/* Kill the run after each Matrix request of one agent (its answer lost),
 * run again: one user and one room every time. */
static void test_crash_at_every_point(void)
{
	char why[512];

	for (int k = 1; k <= 9; k++) {
		char name[32];

		snprintf(name, sizeof name, "crash%d", k);
		if (setup(name, 1))
			return;
		F.crash_after = k;
		run(why, sizeof why);
		F.crash_after = 0;
		CHECK_EQ(run(why, sizeof why), 0);
		check_one_each(1);
		CHECK_EQ(F.nr, 2);
		CHECK(member(&F.r[1], BOT));
		/* and a third run is quiet */
		F.writes = 0;
		CHECK_EQ(run(why, sizeof why), 0);
		CHECK_EQ(F.writes, 0);
	}
}

/* The server made the room (or the Space) but the answer never came:
 * the retry looks for it by its marker instead of making another. */
static void test_lost_answer_never_duplicates(void)
{
	char why[512];

	if (setup("lost", 2))
		return;
	F.lose_creates = 3;     /* the Space, then both agent rooms */
	CHECK_EQ(run(why, sizeof why), 0);
	check_one_each(2);
	CHECK_EQ(F.nr, 3);
	CHECK_EQ(F.r[0].nchild, 2);
}

/* The store is lost and the agent renamed meanwhile: the room is found
 * by its marker (not made again) and takes the new name. */
static void test_lost_store_finds_rooms_and_renames(void)
{
	struct store_opts o = { .clock = fake_clock };
	char why[512], dir[512];
	int names;

	if (setup("lost-store", 2))
		return;
	CHECK_EQ(run(why, sizeof why), 0);
	store_close(S);
	snprintf(dir, sizeof dir, "%s/lost-store-2", harness_tmpdir());
	CHECK_EQ(store_open(&S, dir, &o, why, sizeof why), 0);
	C.store = S;
	snprintf(F.a[0].name, 64, "helpdesk");
	names = F.names;
	F.creates = 0;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.creates, 0);
	check_one_each(2);
	CHECK_EQ(F.names - names, 4);   /* display name and room name, each */
	F.writes = 0;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.writes, 0);
}

/* Whatever fails and however often, and in whatever order the lanes'
 * answers come, a few runs end with exactly one user and one room per
 * agent, all linked, and then a quiet run. To replay one seed with a
 * trace of every request: PROV_SEED=N PROV_TRACE=1 test_provision. */
static void test_chaos_never_duplicates(void)
{
	char why[512];

	const char *one = getenv("PROV_SEED");
	unsigned first = one ? (unsigned)strtoul(one, NULL, 10) : 1;
	unsigned last = one ? first : 40;

	for (unsigned seed = first; seed <= last; seed++) {
		char name[32];
		int ok = 0;

		snprintf(name, sizeof name, "chaos%u", seed);
		if (setup(name, 4))
			return;
		F.chaos = seed;
		F.interleave = seed % 2;
		for (int i = 0; i < 6 && !ok; i++)
			ok = run(why, sizeof why) == 0;
		F.chaos = 0;
		F.interleave = 0;
		if (!ok)
			CHECK_EQ(run(why, sizeof why), 0);
		check_one_each(4);
		CHECK_EQ(F.nr, 5);
		CHECK_EQ(F.r[0].nchild, 4);
		F.writes = 0;
		CHECK_EQ(run(why, sizeof why), 0);
		CHECK_EQ(F.writes, 0);
	}
}

static void test_429_waits_as_told(void)
{
	char why[512];

	if (setup("429", 1))
		return;
	/* More 429s than a step's attempts: pacing never fails an agent;
	 * each wait is what the server said (+1 ms: never early). */
	F.fail_create_429 = LIM_PROV_ATTEMPTS + 4;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(waited, (LIM_PROV_ATTEMPTS + 4) * (1234 + 1));
	check_one_each(1);
}

static void test_rename_and_relogin(void)
{
	char why[512];
	int names;

	if (setup("rename", 2))
		return;
	CHECK_EQ(run(why, sizeof why), 0);
	snprintf(F.a[1].name, 64, "helpdesk");
	snprintf(F.u[2].tok, 64, "revoked");    /* agent 1's token is gone */
	names = F.names;
	F.logins = 0;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.names - names, 2);   /* display name, room name */
	CHECK_EQ(F.logins, 1);
	F.writes = F.logins = 0;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.writes, 0);
	CHECK_EQ(F.logins, 0);
}

static void test_delete_grace_and_return(void)
{
	char why[512];
	struct agent gone;
	struct room *space;

	if (setup("delete", 3))
		return;
	CHECK_EQ(run(why, sizeof why), 0);
	space = &F.r[0];
	gone = F.a[2];
	F.na = 2;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.notices, 0);         /* marked only */
	F.now += 3 * 3600 * 1000;       /* past the grace period */
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.notices, 1);
	CHECK(space->children[2][0] == '-');   /* emptied */
	F.writes = 0;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.writes, 0);          /* unlinked once */
	F.a[F.na++] = gone;             /* it comes back */
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.nr, 4);              /* no new room */
	CHECK_EQ(space->nchild, 3);     /* linked again, same key */
	CHECK_STR(space->children[2], "%21r3%3Alocalhost");
}

static void test_empty_or_failed_listing_deletes_nothing(void)
{
	char why[512];

	if (setup("empty", 2))
		return;
	CHECK_EQ(run(why, sizeof why), 0);
	F.na = 0;
	CHECK_EQ(run(why, sizeof why), 0);
	F.now += 3 * 3600 * 1000;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.notices, 0);
	F.na = 2;
	F.list_fail = 1;
	CHECK_EQ(run(why, sizeof why), ERR_HTTP);
	CHECK(strstr(why, "Letta") != NULL);
	F.na = 1;
	F.list_fail = 0;
	CHECK_EQ(run(why, sizeof why), 0);      /* marks agent 1 now */
	CHECK_EQ(F.notices, 0);
}

/* A listing read elsewhere (the App Server's), not over REST: complete;
 * incomplete, an agent missing (never marked); failed (the run ends). */
static void test_given_listing(void)
{
	static const struct { int given, agents, err; } runs[] = {
		{ 1, 3, 0 }, { 2, 2, 0 }, { 2, 2, 0 }, { 3, 2, ERR_CLOSED },
	};
	char why[512];

	if (setup("given", 3))
		return;
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		F.given = runs[i].given;
		F.na = runs[i].agents;
		CHECK_EQ(run(why, sizeof why), runs[i].err);
		F.now += 3 * 3600 * 1000;       /* past the grace */
	}
	check_one_each(3);
	CHECK_EQ(F.notices, 0);
	CHECK_STR(why, "listing the Letta agents failed: gone");
}

static void test_unsupported_mode_is_clear(void)
{
	char why[512];

	if (setup("mode", 3))
		return;
	F.reg_offers_token = 1;
	CHECK_EQ(run(why, sizeof why), ERR_CONFIG);
	CHECK(strstr(why, "registration = token") != NULL);
	CHECK_EQ(F.registers, 1);       /* stopped at once, no loop */
}

static void test_dry_run_sends_nothing_to_matrix(void)
{
	char why[512];

	if (setup("dry", 4))
		return;
	C.dry_run = 1;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.reqs, 1);
	CHECK_EQ(F.nr, 0);
	CHECK_EQ(reports, 4);
}

static int forget_token(const struct store_agent *a, void *arg)
{
	struct store_agent b = *a;

	b.access_token[0] = '\0';
	return store_agent_put(arg, &b);
}

static int forget_tokens_fn(struct store_txn *t, void *arg)
{
	(void)arg;
	return store_agent_each(t, forget_token, t);
}

/* Records as reconciliation rebuilds them after a lost store: all done,
 * no token. Nothing to do costs no login; a rename costs one, only for
 * that agent. */
static void test_no_login_storm(void)
{
	char why[512];

	if (setup("storm", 5))
		return;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(store_update(S, forget_tokens_fn, NULL), 0);
	F.reqs = F.writes = F.logins = 0;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.logins, 0);
	CHECK_EQ(F.reqs, 1);            /* the listing only */
	snprintf(F.a[3].name, 64, "helpdesk");
	F.reqs = 0;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.logins, 1);          /* agent 3, password (no admin API) */
	CHECK_EQ(F.admin_logins, 0);
	F.logins = 0;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.logins, 0);          /* its token is kept now */
}

/* An admin bot: its limits and each new agent user's lifted once, tokens
 * of users without one from the admin login API, nothing asked again. */
static void test_admin_bot_lifts_limits_once(void)
{
	char why[512];

	if (setup("admin", 3))
		return;
	F.synapse = 1;
	C.rl_override = 1;
	CHECK_EQ(run(why, sizeof why), 0);
	check_one_each(3);
	CHECK_EQ(F.overrides, 4);       /* the bot and three users */
	CHECK_EQ(store_update(S, forget_tokens_fn, NULL), 0);
	snprintf(F.a[0].name, 64, "renamed");
	F.reqs = F.logins = 0;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.overrides, 4);
	CHECK_EQ(F.admin_logins, 1);
	CHECK_EQ(F.logins, 0);
	F.reqs = 0;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.reqs, 1);
}

static int del_mark_fn(struct store_txn *t, void *arg)
{
	(void)arg;
	return store_meta_del(t, PROV_META_SPACE_MARK);
}

/* A store and a Space from before the install id: the marker gets the
 * fields once (a state event of the bot), then nothing more. */
static void test_older_space_marker_completed(void)
{
	char why[512];
	int writes;

	if (setup("oldspace", 1))
		return;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK(F.r[0].space);
	CHECK_EQ(strlen(F.r[0].install), 16);
	F.r[0].install[0] = '\0';
	CHECK_EQ(store_update(S, del_mark_fn, NULL), 0);
	writes = F.writes;
	F.reqs = 0;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.reqs, 3);            /* listing, marker read, marker put */
	CHECK_EQ(F.writes - writes, 1);
	CHECK_EQ(strlen(F.r[0].install), 16);
	F.reqs = 0;
	CHECK_EQ(run(why, sizeof why), 0);
	CHECK_EQ(F.reqs, 1);
}

int main(void)
{
	if (getenv("PROV_SEED")) {      /* debugging one chaos seed */
		RUN(test_chaos_never_duplicates);
		return harness_done("provision");
	}
	RUN(test_fresh_then_steady_state);
	RUN(test_crash_at_every_point);
	RUN(test_lost_answer_never_duplicates);
	RUN(test_lost_store_finds_rooms_and_renames);
	RUN(test_chaos_never_duplicates);
	RUN(test_429_waits_as_told);
	RUN(test_rename_and_relogin);
	RUN(test_delete_grace_and_return);
	RUN(test_empty_or_failed_listing_deletes_nothing);
	RUN(test_given_listing);
	RUN(test_unsupported_mode_is_clear);
	RUN(test_dry_run_sends_nothing_to_matrix);
	RUN(test_no_login_storm);
	RUN(test_older_space_marker_completed);
	RUN(test_admin_bot_lifts_limits_once);
	store_close(S);
	return harness_done("provision");
}
