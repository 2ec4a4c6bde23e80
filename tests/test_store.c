#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "harness.h"
#include "store/store.h"
#include "storefx.h"
#include "store/store_int.h"
#include "store/store_snap.h"

static int64_t fake_now = 1763900000000;
static int64_t fake_clock(void) { return fake_now; }

/* The store at dir on this test's clock. */
static struct store *open_at(const char *dir, size_t map)
{
	return storefx_open(dir, map, fake_clock);
}

static void agent(struct store_agent *a, const char *id, const char *user,
                  const char *room)
{
	memset(a, 0, sizeof *a);
	snprintf(a->agent_id, sizeof a->agent_id, "%s", id);
	snprintf(a->name, sizeof a->name, "Agent %s", id);
	snprintf(a->user_id, sizeof a->user_id, "%s", user);
	snprintf(a->room_id, sizeof a->room_id, "%s", room);
	snprintf(a->password, sizeof a->password, "pw-%s", id);
	snprintf(a->access_token, sizeof a->access_token, "s3cr3t-TEST-TOKEN");
	a->flags = room[0] ? STORE_AGENT_ROOM_CREATED : 0;
}

static int put_fn(struct store_txn *t, void *arg)
{
	return store_agent_put(t, arg);
}

static int put1(struct store *s, const char *id, const char *user,
                const char *room)
{
	struct store_agent a;

	agent(&a, id, user, room);
	return store_update(s, put_fn, &a);
}

struct get { const char *key; int how; struct store_agent a; };

static int get_fn(struct store_txn *t, void *arg)
{
	struct get *g = arg;

	if (g->how == 0)
		return store_agent_get(t, g->key, &g->a);
	if (g->how == 1)
		return store_agent_by_room(t, g->key, &g->a);
	return store_agent_by_user(t, g->key, &g->a);
}

static int get1(struct store *s, int how, const char *key, char *agent_id)
{
	struct get g = { .key = key, .how = how };
	int r = store_view(s, get_fn, &g);

	if (agent_id)
		snprintf(agent_id, LIM_STORE_ID, "%s", r ? "" : g.a.agent_id);
	return r;
}

static int count_fn(struct store_txn *t, void *arg)
{
	uint64_t *n = arg;
	int r = 0;

	for (int db = 0; db < STORE_NDB && !r; db++)
		r = store_count(t, db, &n[db]);
	return r;
}

static void test_open_modes(void)
{
	const char *dir = storefx_dir("modes");
	char path[600];
	struct stat st;
	struct store *s = open_at(dir, 0);

	CHECK(s != NULL);
	CHECK_EQ(stat(dir, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0700);
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	store_close(s);

	/* a wider mode is reported, naming the path and the mode */
	chmod(dir, 0755);
	fflush(stderr);
	snprintf(path, sizeof path, "%s/stderr.txt", harness_tmpdir());
	int saved = dup(2), fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	s = open_at(dir, 0);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	char out[2048] = "";
	ssize_t n = pread(fd, out, sizeof out - 1, 0);
	out[n > 0 ? n : 0] = 0;
	close(fd);
	CHECK(strstr(out, "event=wide_mode") != NULL);
	CHECK(strstr(out, "mode=0755") != NULL);
	CHECK(strstr(out, dir) != NULL);
	store_close(s);
}

static void test_writer_lock(void)
{
	const char *dir = storefx_dir("lock");
	struct store *s = open_at(dir, 0), *s2 = NULL;
	char why[512] = "", pid[64];

	CHECK_EQ(store_open(&s2, dir, NULL, why, sizeof why), ERR_EXISTS);
	CHECK(s2 == NULL);
	/* the refusal names the holder's pid and what to do */
	snprintf(pid, sizeof pid, "a running lettamx (pid %ld,",
	         (long)getpid());
	CHECK(strstr(why, pid) != NULL);
	CHECK(strstr(why, "stop it first") != NULL);
	store_close(s);
	CHECK_EQ(store_open(&s2, dir, NULL, why, sizeof why), 0);
	store_close(s2);
	/* a reader needs no lock */
	s = open_at(dir, 0);
	struct store_opts ro = { .read_only = true };
	CHECK_EQ(store_open(&s2, dir, &ro, why, sizeof why), 0);
	CHECK_EQ(put1(s2, "a", "@a:x", "!r:x"), ERR_INVAL);
	store_close(s2);
	store_close(s);
}

static void test_put_get_indexes(void)
{
	struct store *s = open_at(storefx_dir("put"), 0);
	char id[LIM_STORE_ID];
	struct get g = { .key = "agent-1" };

	CHECK_EQ(put1(s, "agent-1", "@letta_1:x", "!room1:x"), 0);
	CHECK_EQ(put1(s, "agent-2", "@letta_2:x", ""), 0);
	CHECK_EQ(store_view(s, get_fn, &g), 0);
	CHECK_STR(g.a.name, "Agent agent-1");
	CHECK_STR(g.a.password, "pw-agent-1");
	CHECK(g.a.created_at == fake_now && g.a.updated_at == fake_now);
	CHECK_EQ(get1(s, 1, "!room1:x", id), 0);
	CHECK_STR(id, "agent-1");
	CHECK_EQ(get1(s, 2, "@letta_2:x", id), 0);
	CHECK_STR(id, "agent-2");
	CHECK_EQ(get1(s, 1, "!nope:x", id), ERR_NOTFOUND);
	CHECK_EQ(get1(s, 0, "agent-9", id), ERR_NOTFOUND);

	/* moving agent-1 to another room frees the old one; created_at kept */
	fake_now += 5000;
	CHECK_EQ(put1(s, "agent-1", "@letta_1:x", "!room9:x"), 0);
	CHECK_EQ(get1(s, 1, "!room1:x", id), ERR_NOTFOUND);
	CHECK_EQ(get1(s, 1, "!room9:x", id), 0);
	CHECK_EQ(store_view(s, get_fn, &g), 0);
	CHECK(g.a.created_at == fake_now - 5000 && g.a.updated_at == fake_now);
	/* the freed room can go to agent-2 */
	CHECK_EQ(put1(s, "agent-2", "@letta_2:x", "!room1:x"), 0);

	uint64_t n[STORE_NDB];
	CHECK_EQ(store_view(s, count_fn, n), 0);
	CHECK_EQ(n[STORE_AGENTS], 2);
	CHECK_EQ(n[STORE_BY_ROOM], 2);
	CHECK_EQ(n[STORE_BY_USER], 2);
	store_close(s);
}

struct dump { char text[8192]; size_t len; };

static int dump_agent(const struct store_agent *a, void *arg)
{
	struct dump *d = arg;
	int n = snprintf(d->text + d->len, sizeof d->text - d->len,
	                 "%s|%s|%s|%lld;", a->agent_id, a->user_id, a->room_id,
	                 (long long)a->updated_at);
	d->len += (size_t)n;
	return 0;
}

static int dump_fn(struct store_txn *t, void *arg)
{
	return store_agent_each(t, dump_agent, arg);
}

static void test_uniqueness_changes_nothing(void)
{
	struct store *s = open_at(storefx_dir("uniq"), 0);
	struct dump before = { "", 0 }, after = { "", 0 };
	uint64_t n1[STORE_NDB], n2[STORE_NDB];

	CHECK_EQ(put1(s, "agent-a", "@a:x", "!ra:x"), 0);
	CHECK_EQ(put1(s, "agent-b", "@b:x", "!rb:x"), 0);
	CHECK_EQ(store_view(s, dump_fn, &before), 0);
	CHECK_EQ(store_view(s, count_fn, n1), 0);
	fake_now += 1000;
	/* b takes a's room: refused, naming a */
	CHECK_EQ(put1(s, "agent-b", "@b:x", "!ra:x"), ERR_EXISTS);
	CHECK(strstr(store_why(s), "agent-a") != NULL);
	CHECK(strstr(store_why(s), "!ra:x") != NULL);
	/* a new agent with b's user: refused */
	CHECK_EQ(put1(s, "agent-c", "@b:x", "!rc:x"), ERR_EXISTS);
	CHECK(strstr(store_why(s), "agent-b") != NULL);
	CHECK_EQ(store_view(s, dump_fn, &after), 0);
	CHECK_EQ(store_view(s, count_fn, n2), 0);
	CHECK_STR(before.text, after.text);
	CHECK_EQ(memcmp(n1, n2, sizeof n1), 0);
	CHECK_EQ(get1(s, 1, "!rc:x", NULL), ERR_NOTFOUND);
	store_close(s);
}

struct two { int step; };

/* One logical change of two writes where the second fails: nothing of
 * the first may remain. */
static int two_fn(struct store_txn *t, void *arg)
{
	struct store_agent a;
	int r;

	(void)arg;
	agent(&a, "agent-new", "@new:x", "!new:x");
	if ((r = store_agent_put(t, &a)) < 0)
		return r;
	agent(&a, "agent-new2", "@a:x", "!other:x");   /* @a:x is taken */
	return store_agent_put(t, &a);
}

static void test_txn_all_or_nothing(void)
{
	struct store *s = open_at(storefx_dir("atomic"), 0);

	CHECK_EQ(put1(s, "agent-a", "@a:x", "!ra:x"), 0);
	CHECK_EQ(store_update(s, two_fn, NULL), ERR_EXISTS);
	CHECK_EQ(get1(s, 0, "agent-new", NULL), ERR_NOTFOUND);
	CHECK_EQ(get1(s, 1, "!new:x", NULL), ERR_NOTFOUND);
	store_close(s);
}

static void test_delete(void)
{
	struct store *s = open_at(storefx_dir("del"), 0);
	struct store_txn *t;

	CHECK_EQ(put1(s, "agent-a", "@a:x", "!ra:x"), 0);
	CHECK_EQ(store_txn_begin(s, true, &t), 0);
	CHECK_EQ(store_agent_del(t, "agent-a"), 0);
	CHECK_EQ(store_agent_del(t, "agent-a"), ERR_NOTFOUND);
	CHECK_EQ(store_txn_commit(t), 0);
	CHECK_EQ(get1(s, 1, "!ra:x", NULL), ERR_NOTFOUND);
	CHECK_EQ(get1(s, 2, "@a:x", NULL), ERR_NOTFOUND);
	/* room and user are free again */
	CHECK_EQ(put1(s, "agent-b", "@a:x", "!ra:x"), 0);
	store_close(s);
}

static int many_fn(struct store_txn *t, void *arg)
{
	struct store_agent a;
	char id[32], u[32], r[32];
	int n = *(int *)arg, rc;

	for (int i = 0; i < n; i++) {
		snprintf(id, sizeof id, "agent-%05d", i);
		snprintf(u, sizeof u, "@u%05d:x", i);
		snprintf(r, sizeof r, "!r%05d:x", i);
		agent(&a, id, u, r);
		if ((rc = store_agent_put(t, &a)) < 0)
			return rc;
	}
	return n;
}

static void test_map_growth(void)
{
	struct store *s = open_at(storefx_dir("grow"), 32 << 10);
	struct store_txn *t;
	struct store_agent a;
	int n = 3000, r;
	uint64_t cnt[STORE_NDB];

	/* explicit transactions: a full map says "again" */
	CHECK_EQ(store_txn_begin(s, true, &t), 0);
	r = 0;
	for (int i = 0; i < 500 && r == 0; i++) {
		char id[32];
		snprintf(id, sizeof id, "x-%d", i);
		agent(&a, id, "", "");
		r = store_agent_put(t, &a);
	}
	CHECK_EQ(r, ERR_AGAIN);
	CHECK_EQ(store_txn_commit(t), ERR_AGAIN);
	/* the callback form retries on its own, with the map grown */
	CHECK_EQ(store_update(s, many_fn, &n), n);
	CHECK_EQ(store_view(s, count_fn, cnt), 0);
	CHECK_EQ(cnt[STORE_AGENTS], n);
	CHECK_EQ(cnt[STORE_BY_ROOM], n);
	CHECK_EQ(get1(s, 1, "!r02999:x", NULL), 0);
	store_close(s);
}

static int schema_fn(struct store_txn *t, void *arg)
{
	return store_meta_put(t, "schema", arg);
}

static void test_schema_version(void)
{
	const char *dir = storefx_dir("schema");
	struct store *s = open_at(dir, 0);
	char why[512];

	CHECK_EQ(store_update(s, schema_fn, "7"), 0);
	store_close(s);
	CHECK_EQ(store_open(&s, dir, NULL, why, sizeof why), ERR_VERSION);
	CHECK(strstr(why, "schema version 7") != NULL);
	CHECK(strstr(why, "(1)") != NULL);
	CHECK(s == NULL);
}

/* Writes a record of format version 9 straight through LMDB. */
static void test_record_version(void)
{
	const char *dir = storefx_dir("recver");
	struct store *s = open_at(dir, 0);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	unsigned char rec[64] = { 9 };
	MDB_val k = { 7, "agent-z" }, v = { sizeof rec, rec };

	store_close(s);
	CHECK_EQ(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 8);
	CHECK_EQ(mdb_env_open(env, dir, 0, 0600), 0);
	CHECK_EQ(mdb_txn_begin(env, NULL, 0, &txn), 0);
	CHECK_EQ(mdb_dbi_open(txn, "agents", 0, &dbi), 0);
	CHECK_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
	unsigned char shorter[10] = { 1 };          /* version 1, truncated */
	MDB_val k2 = { 7, "agent-y" }, v2 = { sizeof shorter, shorter };
	CHECK_EQ(mdb_put(txn, dbi, &k2, &v2, 0), 0);
	CHECK_EQ(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	s = open_at(dir, 0);
	CHECK_EQ(get1(s, 0, "agent-z", NULL), ERR_VERSION);
	CHECK(strstr(store_why(s), "version 9") != NULL);
	CHECK(strstr(store_why(s), "(1)") != NULL);
	CHECK_EQ(get1(s, 0, "agent-y", NULL), ERR_CORRUPT);
	CHECK(strstr(store_why(s), "agent-y is corrupt") != NULL);
	store_close(s);
}

static int qpush_fn(struct store_txn *t, void *arg)
{
	static const char *rooms[] = { "!a:x", "!b:x", "!a:x", "!ab:x",
	                               "!b:x", "!a:x" };
	char data[16];
	int r;

	(void)arg;
	for (int i = 0; i < 6; i++) {
		snprintf(data, sizeof data, "m%d", i);
		if ((r = store_q_push(t, STORE_Q_INBOX, rooms[i], data,
		                      strlen(data), NULL)) < 0)
			return r;
	}
	return store_q_push(t, STORE_Q_OUTBOX, "!a:x", "reply", 5, NULL);
}

static int collect(const char *room, uint64_t seq, const void *data,
                   size_t n, void *arg)
{
	char *out = arg;
	size_t len = strlen(out);

	snprintf(out + len, 256 - len, "%s=%.*s@%llu ", room, (int)n,
	         (const char *)data, (unsigned long long)seq);
	return 0;
}

static int qcheck_fn(struct store_txn *t, void *arg)
{
	char *out = arg, buf[16], id[64];
	uint64_t seq;
	size_t n;
	int r;

	out[0] = 0;
	if ((r = store_q_each(t, STORE_Q_INBOX, "!a:x", collect, out)) < 0)
		return r;
	CHECK_STR(out, "!a:x=m0@1 !a:x=m2@3 !a:x=m5@6 ");
	out[0] = 0;
	store_q_each(t, STORE_Q_INBOX, NULL, collect, out);
	CHECK_STR(out, "!a:x=m0@1 !a:x=m2@3 !a:x=m5@6 !ab:x=m3@4 "
	               "!b:x=m1@2 !b:x=m4@5 ");
	{
		int k = -1;

		/* "!a:x" is a prefix of "!ab:x": not counted with it */
		CHECK_EQ(store_q_count(t, STORE_Q_INBOX, "!a:x", &k), 0);
		CHECK_EQ(k, 3);
		CHECK_EQ(store_q_count(t, STORE_Q_INBOX, NULL, &k), 0);
		CHECK_EQ(k, 6);
		CHECK_EQ(store_q_count(t, STORE_Q_OUTBOX, "!a:x", &k), 0);
		CHECK_EQ(k, 1);                 /* its own queue: one reply */
		CHECK_EQ(store_q_count(t, STORE_Q_OUTBOX, "!b:x", &k), 0);
		CHECK_EQ(k, 0);
	}
	CHECK_EQ(store_q_first(t, STORE_Q_INBOX, "!b:x", &seq, buf,
	                       sizeof buf, &n), 0);
	CHECK_MEM(buf, n, "m1");
	CHECK_EQ(store_q_del(t, STORE_Q_INBOX, "!b:x", seq), 0);
	CHECK_EQ(store_q_del(t, STORE_Q_INBOX, "!b:x", seq), ERR_NOTFOUND);
	CHECK_EQ(store_q_first(t, STORE_Q_INBOX, "!b:x", &seq, buf,
	                       sizeof buf, &n), 0);
	CHECK_MEM(buf, n, "m4");
	CHECK_EQ(store_q_first(t, STORE_Q_INBOX, "!b:x", &seq, buf, 1, &n),
	         ERR_TOOBIG);
	CHECK_EQ(store_q_first(t, STORE_Q_INBOX, "!c:x", &seq, buf,
	                       sizeof buf, &n), ERR_NOTFOUND);
	CHECK_EQ(store_q_first(t, STORE_Q_OUTBOX, "!a:x", &seq, buf,
	                       sizeof buf, &n), 0);
	CHECK_EQ(seq, 7);
	CHECK_EQ(store_txnid(t, seq, id, sizeof id), 0);
	CHECK(strncmp(id, "lmx.", 4) == 0 && strlen(id) == 4 + 16 + 2);
	CHECK_EQ(store_txnid(t, seq, id, 8), ERR_TOOBIG);
	return 0;
}

static void test_queues_ordered_per_room(void)
{
	struct store *s = open_at(storefx_dir("queue"), 0);
	char out[256];

	CHECK_EQ(store_update(s, qpush_fn, NULL), 0);
	CHECK_EQ(store_update(s, qcheck_fn, out), 0);
	store_close(s);
}

static int meta_fn(struct store_txn *t, void *arg)
{
	char buf[8];
	int r;

	(void)arg;
	CHECK_EQ(store_meta_put(t, "sync_token", "s72594_4483_1934"), 0);
	CHECK_EQ(store_meta_get(t, "sync_token", buf, sizeof buf), ERR_TOOBIG);
	CHECK_EQ(store_meta_get(t, "nope", buf, sizeof buf), ERR_NOTFOUND);
	CHECK_EQ(store_meta_del(t, "sync_token"), 0);
	r = store_meta_del(t, "sync_token");
	CHECK_EQ(r, ERR_NOTFOUND);
	return 0;
}

static void test_meta(void)
{
	struct store *s = open_at(storefx_dir("meta"), 0);

	CHECK_EQ(store_update(s, meta_fn, NULL), 0);
	store_close(s);
}

/* ---- crash consistency ---- */

/* Each transaction moves agent k to room !r<i>, user @u<i> and pushes
 * inbox entry i, and records i in meta "last": four writes, one change. */
static int crash_step(struct store_txn *t, void *arg)
{
	int i = *(int *)arg, r;
	char id[32], u[32], room[32], num[32];
	struct store_agent a;

	snprintf(id, sizeof id, "agent-%02d", i % 20);
	snprintf(u, sizeof u, "@u%d:x", i);
	snprintf(room, sizeof room, "!r%d:x", i);
	snprintf(num, sizeof num, "%d", i);
	agent(&a, id, u, room);
	if ((r = store_agent_put(t, &a)) < 0 ||
	    (r = store_q_push(t, STORE_Q_INBOX, "!q:x", num, strlen(num),
	                      NULL)) < 0)
		return r;
	return store_meta_put(t, "last", num);
}

static void crash_child(const char *dir, int start)
{
	struct store *s = NULL;

	if (store_open(&s, dir, NULL, NULL, 0) != 0)
		_exit(3);
	for (int i = start;; i++)
		if (store_update(s, crash_step, &i) < 0)
			_exit(4);
}

struct inv { struct store_txn *t; long max_room, last_msg; int agents, bad; };

static int inv_agent(const struct store_agent *a, void *arg)
{
	struct inv *v = arg;
	struct store_agent b;
	long n = strtol(a->room_id + 2, NULL, 10);

	v->agents++;
	if (n > v->max_room)
		v->max_room = n;
	if (strtol(a->user_id + 2, NULL, 10) != n)
		v->bad++;
	if (store_agent_by_room(v->t, a->room_id, &b) ||
	    strcmp(b.agent_id, a->agent_id))
		v->bad++;
	if (store_agent_by_user(v->t, a->user_id, &b) ||
	    strcmp(b.agent_id, a->agent_id))
		v->bad++;
	return 0;
}

static int inv_msg(const char *room, uint64_t seq, const void *data,
                   size_t n, void *arg)
{
	struct inv *v = arg;
	char num[32];

	(void)room, (void)seq;
	snprintf(num, sizeof num, "%.*s", (int)n, (const char *)data);
	v->last_msg = strtol(num, NULL, 10);
	return 0;
}

/* Checks the invariants; returns meta "last" (-1 when nothing yet). */
static long check_invariants(struct store *s)
{
	struct inv v = { NULL, -1, -1, 0, 0 };
	struct store_txn *t;
	uint64_t n[STORE_NDB];
	char last[32];
	long lastv = -1;

	if (store_txn_begin(s, false, &t))
		return -2;
	v.t = t;
	CHECK_EQ(store_agent_each(t, inv_agent, &v), 0);
	CHECK_EQ(store_q_each(t, STORE_Q_INBOX, NULL, inv_msg, &v), 0);
	CHECK_EQ(count_fn(t, n), 0);
	if (store_meta_get(t, "last", last, sizeof last) == 0)
		lastv = strtol(last, NULL, 10);
	store_txn_abort(t);
	CHECK_EQ(v.bad, 0);
	CHECK_EQ(n[STORE_BY_ROOM], v.agents);
	CHECK_EQ(n[STORE_BY_USER], v.agents);
	/* all four writes of a change are there, or none */
	CHECK_EQ(v.max_room, lastv);
	CHECK_EQ(v.last_msg, lastv);
	CHECK_EQ((long)n[STORE_INBOX], lastv + 1);
	return lastv;
}

static void test_crash_all_or_nothing(void)
{
	const char *dir = storefx_dir("crash");
	struct timespec ts;
	long last = -1, progressed = 0;
	struct store *s;
	pid_t pid;

	srand((unsigned)time(NULL));
	for (int round = 0; round < 200; round++) {
		fflush(NULL);
		pid = fork();
		if (pid == 0)
			crash_child(dir, (int)last + 1);
		ts.tv_sec = 0;
		ts.tv_nsec = (rand() % 30000) * 1000L;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		s = open_at(dir, 0);
		if (!s)
			return;
		long now = check_invariants(s);
		if (now > last)
			progressed++;
		CHECK_INT(now, >=, last);
		last = now;
		store_close(s);
	}
	CHECK_INT(progressed, >=, 10);    /* the kills fell mid-run */
	printf("crash: 200 kills, %ld changes committed\n", last + 1);
}

/* Every field survives a write and a read, at its longest. */
static void test_record_round_trip(void)
{
	struct store *s = open_at(storefx_dir("rec"), 0);
	struct store_agent a, b;
	struct get g = { .key = NULL };

	memset(&a, 0, sizeof a);
	memset(a.agent_id, 'i', sizeof a.agent_id - 1);
	memset(a.name, 'n', sizeof a.name - 1);
	memcpy(a.user_id, "@", 1);
	memset(a.user_id + 1, 'u', sizeof a.user_id - 2);
	memset(a.room_id, 'r', sizeof a.room_id - 1);
	memset(a.password, 'p', sizeof a.password - 1);
	memset(a.access_token, 't', sizeof a.access_token - 1);
	a.flags = 0xa5a5a5a5u;
	a.deleted_at = -1;
	fake_now = INT64_MAX - 5;
	CHECK_EQ(store_update(s, put_fn, &a), 0);
	g.key = a.agent_id;
	CHECK_EQ(store_view(s, get_fn, &g), 0);
	b = g.a;
	CHECK_STR(b.name, a.name);
	CHECK_STR(b.user_id, a.user_id);
	CHECK_STR(b.room_id, a.room_id);
	CHECK(strcmp(b.password, a.password) == 0);
	CHECK(strcmp(b.access_token, a.access_token) == 0);
	CHECK(b.flags == a.flags);
	CHECK(b.deleted_at == -1);
	CHECK(b.created_at == INT64_MAX - 5 && b.updated_at == INT64_MAX - 5);
	/* a field without its NUL is refused, nothing written */
	a.name[sizeof a.name - 1] = 'x';
	CHECK_EQ(store_update(s, put_fn, &a), ERR_INVAL);
	fake_now = 1763900000000;
	store_close(s);
}

/* A record in the documented version 1 format, built by hand. */
static size_t rec_v1(unsigned char *b, const char *id, const char *user,
                     const char *room)
{
	const char *f[6] = { id, "name", user, room, "", "" };
	size_t pos = 30;

	memset(b, 0, 30);
	b[0] = 1;
	for (int i = 0; i < 6; i++) {
		size_t n = strlen(f[i]);
		b[pos] = (unsigned char)(n >> 8);
		b[pos + 1] = (unsigned char)n;
		memcpy(b + pos + 2, f[i], n);
		pos += n + 2;
	}
	return pos;
}

/* Raw LMDB surgery on a closed store: op 'd' deletes, 'p' puts. */
static void raw(const char *dir, const char *db, char op, const char *key,
                const void *val, size_t n)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { strlen(key), (void *)(uintptr_t)key };
	MDB_val v = { n, (void *)(uintptr_t)val };

	CHECK_EQ(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 8);
	CHECK_EQ(mdb_env_open(env, dir, 0, 0600), 0);
	CHECK_EQ(mdb_txn_begin(env, NULL, 0, &txn), 0);
	CHECK_EQ(mdb_dbi_open(txn, db, 0, &dbi), 0);
	if (op == 'd')
		CHECK_EQ(mdb_del(txn, dbi, &k, NULL), 0);
	else
		CHECK_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
	CHECK_EQ(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void collect_problem(const char *p, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 2048 - n, "%s\n", p);
}

struct chk { char text[2048]; int n; };

static int check_fn(struct store_txn *t, void *arg)
{
	struct chk *c = arg;

	c->text[0] = 0;
	c->n = store_check(t, collect_problem, c->text);
	return 0;
}

static int reindex_fn(struct store_txn *t, void *arg)
{
	(void)arg;
	return store_reindex(t);
}

static void test_check_and_reindex(void)
{
	const char *dir = storefx_dir("check");
	struct store *s = open_at(dir, 0);
	struct chk c;
	unsigned char rec[512];

	CHECK_EQ(put1(s, "agent-a", "@a:x", "!ra:x"), 0);
	CHECK_EQ(put1(s, "agent-b", "@b:x", "!rb:x"), 0);
	CHECK_EQ(store_view(s, check_fn, &c), 0);
	CHECK_EQ(c.n, 0);
	store_close(s);
	raw(dir, "by_room", 'd', "!ra:x", NULL, 0);       /* lost entry */
	raw(dir, "by_user", 'p', "@ghost:x", "agent-z", 7); /* stale entry */
	s = open_at(dir, 0);
	CHECK_EQ(store_view(s, check_fn, &c), 0);
	CHECK_EQ(c.n, 2);
	CHECK(strstr(c.text, "agent agent-a has room !ra:x, which by_room "
	                     "gives to ''") != NULL);
	CHECK(strstr(c.text, "by_user entry @ghost:x names agent agent-z, "
	                     "which does not exist") != NULL);
	CHECK_EQ(store_update(s, reindex_fn, NULL), 0);
	CHECK_EQ(store_view(s, check_fn, &c), 0);
	CHECK_EQ(c.n, 0);
	CHECK_EQ(get1(s, 1, "!ra:x", NULL), 0);
	store_close(s);
	/* two records claiming one room: reindex refuses, changes nothing */
	raw(dir, "agents", 'p', "agent-c", rec,
	    rec_v1(rec, "agent-c", "@c:x", "!ra:x"));
	s = open_at(dir, 0);
	CHECK_EQ(store_view(s, check_fn, &c), 0);
	CHECK_EQ(c.n, 2);           /* its room is agent-a's, its user unindexed */
	CHECK(strstr(c.text, "agent agent-c has room !ra:x, which by_room "
	                     "gives to 'agent-a'") != NULL);
	CHECK_EQ(store_update(s, reindex_fn, NULL), ERR_EXISTS);
	CHECK(strstr(store_why(s), "room !ra:x is claimed by agents agent-a "
	                          "and agent-c") != NULL);
	CHECK_EQ(get1(s, 1, "!ra:x", NULL), 0);            /* still agent-a */
	store_close(s);
}

/* True when the bytes of file path contain s. */
static bool file_has(const char *path, const char *s)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;

	if (f)
		fclose(f);
	return memmem(buf, n, s, strlen(s)) != NULL;
}

static void test_sealed_secrets(void)
{
	const char *dir = storefx_dir("seal");
	struct store *s = open_at(dir, 0);
	uint8_t key[32], other[32];
	struct get g = { .key = "agent-a" };
	char data[600];

	snprintf(data, sizeof data, "%s/data.mdb", dir);
	CHECK_EQ(store_key_derive((const uint8_t *)"master-secret-0123456789"
	                          "abcdefghij", 34, key), 0);
	CHECK_EQ(store_key_derive((const uint8_t *)"another-master-secret-0"
	                          "123456789", 33, other), 0);
	CHECK(memcmp(key, other, 32) != 0);
	/* in clear without a key */
	CHECK_EQ(put1(s, "agent-a", "@a:x", "!a:x"), 0);
	store_close(s);
	CHECK(file_has(data, "pw-agent-a"));
	/* with the key: readable, sealed on the next write */
	s = open_at(dir, 0);
	store_set_key(s, key);
	CHECK_EQ(store_view(s, get_fn, &g), 0);
	CHECK_STR(g.a.password, "pw-agent-a");
	CHECK_EQ(put1(s, "agent-a", "@a:x", "!a:x"), 0);
	CHECK_EQ(put1(s, "agent-b", "@b:x", "!b:x"), 0);
	g.a.password[0] = 0;
	CHECK_EQ(store_view(s, get_fn, &g), 0);
	CHECK_STR(g.a.password, "pw-agent-a");
	CHECK(strcmp(g.a.access_token, "s3cr3t-TEST-TOKEN") == 0);
	CHECK_STR(g.a.room_id, "!a:x");
	store_close(s);
	/* the file (and so every snapshot) no longer holds them; LMDB may
	 * keep the freed page of the clear record, so check live pages via
	 * a compacted copy */
	s = open_at(dir, 0);
	struct store_snap m;
	CHECK_EQ(store_snapshot(s, storefx_dir("sealsnap"), "t", &m), 0);
	char snapfile[700];
	snprintf(snapfile, sizeof snapfile, "%s/%s.mdb", storefx_dir("sealsnap"),
	         m.name);
	CHECK(!file_has(snapfile, "pw-agent-"));
	CHECK(!file_has(snapfile, "s3cr3t-TEST"));
	CHECK(file_has(snapfile, "!b:x"));
	/* no key, or another one: refused with the reason */
	CHECK_EQ(store_view(s, get_fn, &g), ERR_CORRUPT);
	CHECK(strstr(store_why(s), "no key set") != NULL);
	store_set_key(s, other);
	CHECK_EQ(store_view(s, get_fn, &g), ERR_CORRUPT);
	CHECK(strstr(store_why(s), "another master secret") != NULL);
	store_close(s);
}

struct msealed {
	const char *val;        /* to write, or NULL to read */
	char out[LIM_STORE_SECRET];
	bool clear;
	char raw[LIM_STORE_META];
	size_t nraw;
};

static int msealed_fn(struct store_txn *t, void *arg)
{
	struct msealed *m = arg;
	MDB_val k = { 9, (void *)(uintptr_t)"bot_token" }, v;
	int r;

	if (m->val)
		return store_meta_put_sealed(t, "bot_token", m->val);
	r = store_meta_get_sealed(t, "bot_token", m->out, sizeof m->out,
	                          &m->clear);
	if (mdb_get(t->txn, t->s->dbi[STORE_META], &k, &v) == 0 &&
	    v.mv_size <= sizeof m->raw) {
		memcpy(m->raw, v.mv_data, v.mv_size);
		m->nraw = v.mv_size;
	}
	return r;
}

static int mclear_fn(struct store_txn *t, void *arg)
{
	return store_meta_put(t, "bot_token", arg);
}

static void test_meta_sealed(void)
{
	const char *dir = storefx_dir("metaseal");
	const char *tok = "syt_Ym90_SECRETbotTOKEN_0123";
	struct store *s = open_at(dir, 0);
	struct msealed m = { 0 };
	uint8_t key[32], other[32];

	CHECK_EQ(store_key_derive((const uint8_t *)"master-secret-0123456789"
	                          "abcdefghij", 34, key), 0);
	CHECK_EQ(store_key_derive((const uint8_t *)"another-master-secret-0"
	                          "123456789", 33, other), 0);
	CHECK_EQ(store_view(s, msealed_fn, &m), ERR_NOTFOUND);
	/* an older store: in clear, read as is and flagged */
	CHECK_EQ(store_update(s, mclear_fn, (void *)(uintptr_t)tok), 0);
	store_set_key(s, key);
	CHECK_EQ(store_view(s, msealed_fn, &m), 0);
	CHECK_STR(m.out, tok);
	CHECK(m.clear);
	/* rewritten sealed: the raw value no longer holds it */
	m.val = tok;
	CHECK_EQ(store_update(s, msealed_fn, &m), 0);
	m.val = NULL;
	memset(m.out, 0, sizeof m.out);
	CHECK_EQ(store_view(s, msealed_fn, &m), 0);
	CHECK_STR(m.out, tok);
	CHECK(!m.clear);
	CHECK(m.nraw > strlen(tok));
	CHECK(memmem(m.raw, m.nraw, tok, strlen(tok)) == NULL);
	CHECK(memmem(m.raw, m.nraw, "SECRET", 6) == NULL);
	store_close(s);
	/* round trip across a reopen */
	s = open_at(dir, 0);
	store_set_key(s, key);
	memset(m.out, 0, sizeof m.out);
	CHECK_EQ(store_view(s, msealed_fn, &m), 0);
	CHECK_STR(m.out, tok);
	CHECK(!m.clear);
	/* another key: a clear error and nothing that looks like a token */
	store_set_key(s, other);
	CHECK_EQ(store_view(s, msealed_fn, &m), ERR_CORRUPT);
	CHECK_STR(m.out, "");
	CHECK(!m.clear);
	CHECK(strstr(store_why(s), "meta bot_token cannot be unsealed") != NULL);
	CHECK(strstr(store_why(s), "another master secret") != NULL);
	store_close(s);
	/* no key: refused too */
	s = open_at(dir, 0);
	CHECK_EQ(store_view(s, msealed_fn, &m), ERR_CORRUPT);
	CHECK_STR(m.out, "");
	CHECK(strstr(store_why(s), "no key set") != NULL);
	store_close(s);
}

int main(void)
{
	RUN(test_open_modes);
	RUN(test_writer_lock);
	RUN(test_put_get_indexes);
	RUN(test_uniqueness_changes_nothing);
	RUN(test_txn_all_or_nothing);
	RUN(test_delete);
	RUN(test_map_growth);
	RUN(test_schema_version);
	RUN(test_record_version);
	RUN(test_queues_ordered_per_room);
	RUN(test_meta);
	RUN(test_record_round_trip);
	RUN(test_check_and_reindex);
	RUN(test_sealed_secrets);
	RUN(test_meta_sealed);
	RUN(test_crash_all_or_nothing);
	return harness_done("store");
}
