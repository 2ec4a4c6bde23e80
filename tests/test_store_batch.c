/*
 * The store's batch (store_batch_start): updates nest in one write
 * transaction, are seen at once by views, reach the disk only when the
 * batch is flushed, and keep their own all-or-nothing.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "harness.h"
#include "core/limits.h"
#include "store/store.h"
#include "storefx.h"

static int64_t fake_clock(void) { return 1763900000000; }

/* The store at dir on this test's clock. */
static struct store *open_at(const char *dir, size_t map)
{
	return storefx_open(dir, map, fake_clock);
}

struct put { const char *room; size_t n; int fail; };

/* Pushes one inbox entry of p->n bytes; p->fail: then fails. */
static int push_fn(struct store_txn *t, void *arg)
{
	static uint8_t buf[LIM_STORE_QVALUE];
	const struct put *p = arg;
	int e;

	memset(buf, 'x', p->n);
	if ((e = store_q_push(t, STORE_Q_INBOX, p->room, buf, p->n, NULL)))
		return e;
	return p->fail ? ERR_INVAL : 0;
}

static int push(struct store *s, const char *room, size_t n, int fail)
{
	struct put p = { room, n, fail };

	return store_update(s, push_fn, &p);
}

static int count_view(struct store_txn *t, void *arg)
{
	return store_q_count(t, STORE_Q_INBOX, NULL, arg);
}

static int count(struct store *s)
{
	int n = -1;

	CHECK_EQ(store_view(s, count_view, &n), 0);
	return n;
}

/* What another process finds on disk (an operator's `status`, or the
 * daemon after a kill -9): the store opened anew in a child. */
static int count_on_disk(const char *dir)
{
	int fds[2], n = -1;
	pid_t pid;

	if (pipe(fds))
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct store_opts o = { .read_only = true, .clock = fake_clock };
		struct store *s = NULL;
		char why[512];

		if (store_open(&s, dir, &o, why, sizeof why) == 0)
			store_view(s, count_view, &n);
		if (write(fds[1], &n, sizeof n) != sizeof n)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], &n, sizeof n) != sizeof n)
		n = -1;
	close(fds[0]);
	waitpid(pid, NULL, 0);
	return n;
}

/* Views see the batch at once; the disk only after the flush. */
static void test_batch_seen_at_once_on_disk_at_flush(void)
{
	const char *dir = storefx_dir("seen");
	struct store *s = open_at(dir, 0);

	CHECK_EQ(store_batch_start(s), 0);
	CHECK_EQ(push(s, "!a:x", 10, 0), 0);
	CHECK_EQ(push(s, "!b:x", 10, 0), 0);
	CHECK_EQ(count(s), 2);
	CHECK_EQ(count_on_disk(dir), 0);
	CHECK_EQ(store_batch_flush(s), 0);
	CHECK_EQ(count_on_disk(dir), 2);
	CHECK_EQ(store_batch_flush(s), 0);      /* nothing open: a no-op */
	CHECK_EQ(push(s, "!a:x", 10, 0), 0);
	CHECK_EQ(store_batch_stop(s), 0);       /* flushes */
	CHECK_EQ(count_on_disk(dir), 3);
	CHECK_EQ(push(s, "!a:x", 10, 0), 0);    /* one commit each again */
	CHECK_EQ(count_on_disk(dir), 4);
	CHECK(!store_batch_lost(s));
	store_close(s);
}

/* A failing update undoes its own writes only, the batch goes on. */
static void test_failed_update_undoes_only_itself(void)
{
	const char *dir = storefx_dir("undo");
	struct store *s = open_at(dir, 0);

	CHECK_EQ(store_batch_start(s), 0);
	CHECK_EQ(push(s, "!a:x", 10, 0), 0);
	CHECK_EQ(push(s, "!a:x", 10, 1), ERR_INVAL);
	CHECK_EQ(push(s, "!b:x", 10, 0), 0);
	CHECK_EQ(count(s), 2);
	CHECK_EQ(store_batch_flush(s), 0);
	CHECK_EQ(count_on_disk(dir), 2);
	store_close(s);
}

/* An explicit transaction and store_close() flush first: an explicit
 * reader sees everything, and a writer does not wait on the batch. */
static void test_explicit_txn_and_close_flush(void)
{
	const char *dir = storefx_dir("explicit");
	struct store *s = open_at(dir, 0);
	struct store_txn *t;
	int n = -1;

	CHECK_EQ(store_batch_start(s), 0);
	CHECK_EQ(push(s, "!a:x", 10, 0), 0);
	CHECK_EQ(store_txn_begin(s, false, &t), 0);
	CHECK_EQ(count_view(t, &n), 0);
	CHECK_EQ(n, 1);
	store_txn_abort(t);
	CHECK_EQ(count_on_disk(dir), 1);
	CHECK_EQ(push(s, "!a:x", 10, 0), 0);
	CHECK_EQ(store_txn_begin(s, true, &t), 0);
	CHECK_EQ(store_meta_put(t, "k", "v"), 0);
	CHECK_EQ(store_txn_commit(t), 0);
	CHECK_EQ(count_on_disk(dir), 2);
	CHECK_EQ(push(s, "!a:x", 10, 0), 0);
	store_close(s);
	CHECK_EQ(count_on_disk(dir), 3);
}

/* The map fills up inside a batch (1 MiB, 64 KiB entries): the batch
 * commits, the map grows, nothing is lost or doubled. */
static void test_map_grows_inside_a_batch(void)
{
	const char *dir = storefx_dir("grow");
	struct store *s = open_at(dir, 1u << 20);
	int ok = 0;

	CHECK_EQ(store_batch_start(s), 0);
	for (int i = 0; i < 100; i++)
		ok += push(s, "!big:x", LIM_STORE_QVALUE, 0) == 0;
	CHECK_EQ(ok, 100);
	CHECK_EQ(count(s), 100);
	CHECK_EQ(store_batch_flush(s), 0);
	CHECK_EQ(count_on_disk(dir), 100);
	store_close(s);
}

/* A batch commits by itself after LIM_STORE_BATCH updates. */
static void test_batch_is_bounded(void)
{
	const char *dir = storefx_dir("bounded");
	struct store *s = open_at(dir, 0);

	CHECK_EQ(store_batch_start(s), 0);
	for (int i = 0; i < LIM_STORE_BATCH + 3; i++)
		CHECK_EQ(push(s, "!a:x", 4, 0), 0);
	CHECK_EQ(count_on_disk(dir), LIM_STORE_BATCH);
	store_close(s);
}

/* A process killed with a batch open loses that batch only: the store
 * opens with every flushed update and none of the others. */
static void test_kill_loses_only_the_open_batch(void)
{
	const char *dir = storefx_dir("kill");
	int st = 0;
	pid_t pid;
	struct store *s = open_at(dir, 0);

	store_close(s);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		s = open_at(dir, 0);
		store_batch_start(s);
		push(s, "!a:x", 10, 0);
		push(s, "!a:x", 10, 0);
		store_batch_flush(s);
		push(s, "!a:x", 10, 0);
		kill(getpid(), SIGKILL);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFSIGNALED(st));
	s = open_at(dir, 0);
	CHECK_EQ(count(s), 2);
	store_close(s);
}

int main(void)
{
	RUN(test_batch_seen_at_once_on_disk_at_flush);
	RUN(test_failed_update_undoes_only_itself);
	RUN(test_explicit_txn_and_close_flush);
	RUN(test_map_grows_inside_a_batch);
	RUN(test_batch_is_bounded);
	RUN(test_kill_loses_only_the_open_batch);
	return harness_done("store_batch");
}
