#include "core/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "harness.h"
#include "core/limits.h"

/* ---------------------------------------------------------------- timers */

struct rec {
	int order[64];
	int n;
	struct loop *l;
};

struct tmr {
	struct loop_timer t;
	struct rec *r;
	int id;
	struct tmr *victim;     /* cancelled by this one's callback */
};

static void tmr_fire(void *arg)
{
	struct tmr *m = arg;

	if (m->r->n < 64)
		m->r->order[m->r->n++] = m->id;
	if (m->victim)
		loop_timer_cancel(m->r->l, &m->victim->t);
}

static void test_timers_fire_in_deadline_order(void)
{
	struct loop *l = loop_new();
	struct rec r = { .l = l };
	struct tmr m[5];
	uint64_t base = loop_clock_ms();
	/* ids 0..4 armed with these offsets; 2 and 4 tie and keep arming
	 * order */
	const int off[5] = { 40, 10, 25, 0, 25 };

	for (int i = 0; i < 5; i++) {
		m[i] = (struct tmr){ .r = &r, .id = i };
		loop_timer_init(&m[i].t, tmr_fire, &m[i]);
		CHECK_EQ(loop_timer_arm(l, &m[i].t, base + off[i]), 0);
		CHECK(loop_timer_armed(&m[i].t));
	}
	while (r.n < 5 && loop_clock_ms() < base + 2000)
		CHECK_INT(loop_run_once(l, -1), >=, 0);
	CHECK_EQ(r.n, 5);
	CHECK_EQ(r.order[0], 3);
	CHECK_EQ(r.order[1], 1);
	CHECK_EQ(r.order[2], 2);
	CHECK_EQ(r.order[3], 4);
	CHECK_EQ(r.order[4], 0);
	for (int i = 0; i < 5; i++)
		CHECK(!loop_timer_armed(&m[i].t));
	CHECK_EQ(loop_stats(l)->timers_fired, 5);
	loop_free(l);
}

static void test_timer_cancel_and_rearm(void)
{
	struct loop *l = loop_new();
	struct rec r = { .l = l };
	struct tmr a = { .r = &r, .id = 1 }, b = { .r = &r, .id = 2 };
	struct tmr c = { .r = &r, .id = 3 };
	struct loop_timer zeroed;
	uint64_t now = loop_clock_ms();

	memset(&zeroed, 0, sizeof zeroed);
	CHECK(!loop_timer_armed(&zeroed));
	loop_timer_cancel(l, &zeroed);          /* harmless */

	loop_timer_init(&a.t, tmr_fire, &a);
	loop_timer_init(&b.t, tmr_fire, &b);
	loop_timer_init(&c.t, tmr_fire, &c);
	CHECK(!loop_timer_armed(&a.t));
	loop_timer_arm(l, &a.t, now);
	loop_timer_arm(l, &b.t, now);
	loop_timer_arm(l, &c.t, now + 100000);
	loop_timer_cancel(l, &a.t);
	loop_timer_cancel(l, &a.t);             /* twice is harmless */
	CHECK(!loop_timer_armed(&a.t));
	/* re-arming moves c from far away to now */
	loop_timer_arm(l, &c.t, now);
	loop_run_once(l, 0);
	CHECK_EQ(r.n, 2);
	CHECK_EQ(r.order[0], 2);
	CHECK_EQ(r.order[1], 3);

	/* a due timer cancelled by an earlier callback in the same pass */
	r.n = 0;
	a.victim = &b;
	loop_timer_arm(l, &a.t, now);
	loop_timer_arm(l, &b.t, now + 1);
	loop_run_once(l, 0);
	CHECK_EQ(r.n, 1);
	CHECK_EQ(r.order[0], 1);
	CHECK(!loop_timer_armed(&b.t));
	loop_free(l);
}

struct rearm {
	struct loop_timer t;
	struct loop *l;
	int fired;
};

static void rearm_now(void *arg)
{
	struct rearm *x = arg;

	x->fired++;
	loop_timer_arm(x->l, &x->t, loop_now(x->l));
}

/* A timer re-armed for "now" from its own callback must not spin the pass
 * forever: it fires once per pass. */
static void test_timer_rearmed_in_callback_waits_a_pass(void)
{
	struct loop *l = loop_new();
	struct rearm x = { .l = l };

	loop_timer_init(&x.t, rearm_now, &x);
	loop_timer_arm(l, &x.t, loop_clock_ms());
	loop_run_once(l, 0);
	CHECK_EQ(x.fired, 1);
	loop_run_once(l, 1000);                 /* due: does not wait */
	CHECK_EQ(x.fired, 2);
	loop_timer_cancel(l, &x.t);
	loop_free(l);
}

struct many {
	struct loop_timer t;
	uint64_t *last;
	int *bad, *fired;
	int cancelled;
};

static void many_fire(void *arg)
{
	struct many *m = arg;

	if (m->t.deadline < *m->last || m->cancelled)
		(*m->bad)++;
	*m->last = m->t.deadline;
	(*m->fired)++;
}

static void test_heap_with_many_timers(void)
{
	enum { N = 20000 };
	struct loop *l = loop_new();
	struct many *m = calloc(N, sizeof *m);
	uint64_t base = loop_clock_ms() - 100000, last = 0;
	int bad = 0, fired = 0, live = N;

	CHECK(m != NULL);
	if (!m)
		return;
	srand(7);
	for (int i = 0; i < N; i++) {
		m[i] = (struct many){ .last = &last, .bad = &bad, .fired = &fired };
		loop_timer_init(&m[i].t, many_fire, &m[i]);
		CHECK_EQ(loop_timer_arm(l, &m[i].t, base + (uint64_t)(rand() % 50000)), 0);
	}
	/* cancel a third, re-arm a third (both exercise removal from the
	 * middle of the heap) */
	for (int i = 0; i < N; i += 3) {
		loop_timer_cancel(l, &m[i].t);
		m[i].cancelled = 1;
		live--;
	}
	for (int i = 1; i < N; i += 3)
		loop_timer_arm(l, &m[i].t, base + (uint64_t)(rand() % 50000));
	loop_run_once(l, 0);
	CHECK_EQ(fired, live);
	CHECK_EQ(bad, 0);
	for (int i = 0; i < N; i++)
		CHECK(!loop_timer_armed(&m[i].t));
	loop_free(l);
	free(m);
}

static void test_timer_cap(void)
{
	struct loop *l = loop_new();
	struct loop_timer *t = calloc(LIM_LOOP_TIMERS + 1, sizeof *t);
	int rc = 0;

	if (!t) {
		loop_free(l);
		return;
	}
	for (size_t i = 0; i < LIM_LOOP_TIMERS && rc == 0; i++)
		rc = loop_timer_arm(l, &t[i], UINT64_MAX);
	CHECK_EQ(rc, 0);
	CHECK_EQ(loop_timer_arm(l, &t[LIM_LOOP_TIMERS], UINT64_MAX), ERR_TOOBIG);
	CHECK(!loop_timer_armed(&t[LIM_LOOP_TIMERS]));
	/* re-arming an armed timer at the cap still works */
	CHECK_EQ(loop_timer_arm(l, &t[5], 1), 0);
	loop_free(l);
	CHECK(!loop_timer_armed(&t[0]));        /* loop_free disarms */
	free(t);
}

/* ---------------------------------------------------------------- fds */

struct fdrec {
	struct loop *l;
	int calls;
	unsigned rev;
	int del_fd;             /* removed by this callback, -1 none */
	int close_and_reuse;    /* ... closed and its number reused */
	int reused_fd;
	struct fdrec *reuser;
	int self_del;
};

static void fd_cb(void *arg, int fd, unsigned revents)
{
	struct fdrec *r = arg;

	r->calls++;
	r->rev = revents;
	if (r->self_del)
		loop_fd_del(r->l, fd);
	if (r->del_fd >= 0) {
		loop_fd_del(r->l, r->del_fd);
		if (r->close_and_reuse) {
			close(r->del_fd);
			r->reused_fd = dup(fd);   /* lowest free: del_fd's number */
			loop_fd_add(r->l, r->reused_fd, LOOP_READ, fd_cb, r->reuser);
		}
		r->del_fd = -1;
	}
}

static void test_fd_readiness(void)
{
	struct loop *l = loop_new();
	struct fdrec r = { .l = l, .del_fd = -1 };
	int sv[2], p[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	CHECK_EQ(loop_fd_add(l, sv[0], LOOP_READ, fd_cb, &r), 0);
	CHECK_EQ(loop_fd_add(l, sv[0], LOOP_READ, fd_cb, &r), ERR_EXISTS);
	CHECK_EQ(loop_fd_add(l, -1, LOOP_READ, fd_cb, &r), ERR_INVAL);
	CHECK_EQ(loop_fd_set(l, 999, LOOP_READ), ERR_NOTFOUND);
	CHECK_EQ(loop_run_once(l, 0), 0);
	CHECK_EQ(r.calls, 0);
	CHECK_EQ(write(sv[1], "x", 1), 1);
	CHECK_EQ(loop_run_once(l, 1000), 1);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.rev, LOOP_READ);
	/* writable interest */
	CHECK_EQ(loop_fd_set(l, sv[0], LOOP_WRITE), 0);
	loop_run_once(l, 1000);
	CHECK_EQ(r.calls, 2);
	CHECK_EQ(r.rev, LOOP_WRITE);
	/* no interest: pending data does not wake us */
	CHECK_EQ(loop_fd_set(l, sv[0], 0), 0);
	CHECK_EQ(loop_run_once(l, 20), 0);
	CHECK_EQ(r.calls, 2);
	loop_fd_del(l, sv[0]);
	loop_fd_del(l, sv[0]);                  /* harmless */
	CHECK_EQ(loop_fd_set(l, sv[0], LOOP_READ), ERR_NOTFOUND);
	CHECK_EQ(loop_fd_add(l, sv[0], LOOP_READ, fd_cb, &r), 0);

	/* hang-up on a pipe: the reader is woken to find EOF */
	CHECK_EQ(pipe(p), 0);
	r.calls = 0;
	loop_fd_del(l, sv[0]);
	CHECK_EQ(loop_fd_add(l, p[0], LOOP_READ, fd_cb, &r), 0);
	close(p[1]);
	loop_run_once(l, 1000);
	CHECK_EQ(r.calls, 1);
	CHECK(r.rev & LOOP_READ);
	CHECK(r.rev & LOOP_ERROR);
	loop_fd_del(l, p[0]);
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
	CHECK_EQ(loop_stats(l)->fd_events, 3);
	loop_free(l);
}

/* Both ends readable; the first callback removes the second watcher,
 * closes its fd and watches a new fd that gets the same number. Neither
 * the removed watcher nor the newcomer may see this pass's event. */
static void test_removal_inside_callback(void)
{
	struct loop *l = loop_new();
	struct fdrec b = { .l = l, .del_fd = -1 };
	struct fdrec c = { .l = l, .del_fd = -1 };
	struct fdrec a = { .l = l, .close_and_reuse = 1, .reuser = &c };
	int s1[2], s2[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, s1), 0);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, s2), 0);
	CHECK_EQ(write(s1[1], "x", 1), 1);
	CHECK_EQ(write(s2[1], "x", 1), 1);
	a.del_fd = s2[0];
	CHECK_EQ(loop_fd_add(l, s1[0], LOOP_READ, fd_cb, &a), 0);
	CHECK_EQ(loop_fd_add(l, s2[0], LOOP_READ, fd_cb, &b), 0);
	CHECK_EQ(loop_run_once(l, 1000), 1);
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(b.calls, 0);
	CHECK_EQ(a.reused_fd, s2[0]);
	CHECK_EQ(c.calls, 0);
	/* next pass: the newcomer is polled and gets its own event */
	a.del_fd = -1;
	CHECK_EQ(loop_run_once(l, 1000), 2);
	CHECK_EQ(c.calls, 1);
	CHECK_EQ(b.calls, 0);

	/* a watcher removing itself; its fd can be watched again */
	a.self_del = 1;
	loop_run_once(l, 1000);
	CHECK_EQ(a.calls, 3);
	loop_run_once(l, 0);
	CHECK_EQ(a.calls, 3);
	CHECK_EQ(loop_fd_add(l, s1[0], LOOP_READ, fd_cb, &b), 0);
	loop_run_once(l, 1000);
	CHECK_EQ(b.calls, 1);
	loop_fd_del(l, s1[0]);
	loop_fd_del(l, a.reused_fd);
	close(a.reused_fd);
	close(s1[0]);
	close(s1[1]);
	close(s2[1]);
	loop_free(l);
}

static void test_fd_cap(void)
{
	struct loop *l = loop_new();
	struct fdrec r = { .l = l, .del_fd = -1 };
	int p[2], rc = 0;

	CHECK_EQ(pipe(p), 0);
	/* watcher slots are counted, not fds: the same fd number space is
	 * not needed, so fake numbers are fine as long as nothing polls */
	for (int i = 0; i < LIM_LOOP_FDS && rc == 0; i++)
		rc = loop_fd_add(l, 10000 + i, LOOP_READ, fd_cb, &r);
	CHECK_EQ(rc, 0);
	CHECK_EQ(loop_fd_add(l, p[0], LOOP_READ, fd_cb, &r), ERR_TOOBIG);
	loop_fd_del(l, 10000);
	/* outside a pass the freed slot is reused at once */
	CHECK_EQ(loop_fd_add(l, p[0], LOOP_READ, fd_cb, &r), 0);
	CHECK_EQ(loop_fd_add(l, p[1], LOOP_WRITE, fd_cb, &r), ERR_TOOBIG);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

/* ---------------------------------------------------------------- defer */

struct dfr {
	struct loop *l;
	struct loop_defer d, again;
	int runs, again_runs;
	int timer_first;        /* timer callback ran before the deferred */
	struct loop_timer t;
	int timer_ran;
};

static void dfr_again(void *arg)
{
	((struct dfr *)arg)->again_runs++;
}

static void dfr_run(void *arg)
{
	struct dfr *x = arg;

	x->runs++;
	x->timer_first = x->timer_ran;
	loop_defer(x->l, &x->again, dfr_again, x);
}

static void dfr_timer(void *arg)
{
	((struct dfr *)arg)->timer_ran = 1;
}

static void test_defer(void)
{
	struct loop *l = loop_new();
	struct dfr x = { .l = l };
	uint64_t t0;

	loop_timer_init(&x.t, dfr_timer, &x);
	loop_timer_arm(l, &x.t, loop_clock_ms());
	loop_defer(l, &x.d, dfr_run, &x);
	loop_defer(l, &x.d, dfr_run, &x);       /* already queued: no-op */
	t0 = loop_clock_ms();
	CHECK_EQ(loop_run_once(l, 5000), 2);    /* timer + one deferred */
	CHECK_EQ(x.runs, 1);
	CHECK(x.timer_first);
	/* queued from a deferred call: next pass, which does not wait */
	CHECK_EQ(x.again_runs, 0);
	CHECK_EQ(loop_run_once(l, 5000), 1);
	CHECK_EQ(x.again_runs, 1);
	CHECK_INT(loop_clock_ms() - t0, <, 1000);
	/* cancelled before it runs */
	loop_defer(l, &x.d, dfr_run, &x);
	loop_defer_cancel(l, &x.d);
	loop_defer_cancel(l, &x.d);
	CHECK_EQ(loop_run_once(l, 0), 0);
	CHECK_EQ(x.runs, 1);
	CHECK_EQ(loop_stats(l)->deferred_run, 2);
	loop_free(l);
}

/* ---------------------------------------------------------------- before poll */

struct hook {
	struct loop *l;
	int runs;               /* hook calls */
	int polls_before;       /* passes counted when the hook last ran */
	int deferred_seen;      /* the deferred call had run by then */
	int deferred;
	int stop_at;            /* loop_stop() at this call (0: never) */
	int fd_calls;
	struct loop_defer d;
};

static void hook_defer(void *arg)
{
	((struct hook *)arg)->deferred++;
}

static void hook_run(void *arg)
{
	struct hook *h = arg;

	h->runs++;
	h->polls_before = (int)loop_stats(h->l)->passes;
	h->deferred_seen = h->deferred;
	if (h->runs == h->stop_at)
		loop_stop(h->l);
}

static void hook_fd(void *arg, int fd, unsigned ev)
{
	(void)fd;
	(void)ev;
	((struct hook *)arg)->fd_calls++;
}

/* The hook runs before each poll, after the last pass's deferred calls;
 * a loop_stop() from it ends loop_run() before that poll (a ready fd is
 * not dispatched). */
static void test_before_poll_hook(void)
{
	struct loop *l = loop_new();
	struct hook h = { .l = l };
	int sv[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	loop_before_poll(l, hook_run, &h);
	loop_defer(l, &h.d, hook_defer, &h);
	loop_run_once(l, 0);                    /* runs the deferred call */
	CHECK_EQ(h.runs, 1);
	CHECK_EQ(h.polls_before, 0);
	loop_run_once(l, 0);
	CHECK_EQ(h.runs, 2);
	CHECK_EQ(h.polls_before, 1);
	CHECK_EQ(h.deferred_seen, 1);
	CHECK_EQ(loop_fd_add(l, sv[0], LOOP_READ, hook_fd, &h), 0);
	CHECK_EQ(write(sv[1], "x", 1), 1);
	h.stop_at = 3;
	CHECK_EQ(loop_run(l), 0);
	CHECK_EQ(h.runs, 3);
	CHECK_EQ(h.fd_calls, 0);
	CHECK_EQ(loop_stats(l)->passes, 2);
	loop_before_poll(l, NULL, NULL);        /* removed */
	loop_run_once(l, 0);
	CHECK_EQ(h.runs, 3);
	CHECK_EQ(h.fd_calls, 1);
	loop_fd_del(l, sv[0]);
	close(sv[0]);
	close(sv[1]);
	loop_free(l);
}

/* loop_defer_next from an fd callback: not in that pass, but in the next
 * one, after its before-poll hook (the commit) and its poll. */
struct nxt {
	struct loop *l;
	struct loop_defer d;
	int hooks, ran, hooks_when_ran, fd_calls;
	int fd;
};

static void nxt_hook(void *arg)
{
	((struct nxt *)arg)->hooks++;
}

static void nxt_ran(void *arg)
{
	struct nxt *n = arg;

	n->ran++;
	n->hooks_when_ran = n->hooks;
}

static void nxt_fd(void *arg, int fd, unsigned ev)
{
	struct nxt *n = arg;
	char c;

	(void)ev;
	CHECK_EQ(read(fd, &c, 1), 1);
	n->fd_calls++;
	loop_defer_next(n->l, &n->d, nxt_ran, n);
	loop_defer_next(n->l, &n->d, nxt_ran, n);       /* once */
}

static void test_defer_next(void)
{
	struct loop *l = loop_new();
	struct nxt n = { .l = l };
	int sv[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	loop_before_poll(l, nxt_hook, &n);
	CHECK_EQ(loop_fd_add(l, sv[0], LOOP_READ, nxt_fd, &n), 0);
	CHECK_EQ(write(sv[1], "x", 1), 1);
	loop_run_once(l, 1000);
	CHECK_EQ(n.fd_calls, 1);
	CHECK_EQ(n.ran, 0);                     /* not in its own pass */
	loop_run_once(l, 5000);                 /* and it does not wait */
	CHECK_EQ(n.ran, 1);
	CHECK_EQ(n.hooks_when_ran, 2);          /* after the next hook */
	loop_run_once(l, 0);
	CHECK_EQ(n.ran, 1);
	/* cancelled: nothing runs */
	CHECK_EQ(write(sv[1], "y", 1), 1);
	loop_run_once(l, 1000);
	loop_defer_cancel(l, &n.d);
	loop_run_once(l, 0);
	CHECK_EQ(n.ran, 1);
	loop_fd_del(l, sv[0]);
	close(sv[0]);
	close(sv[1]);
	loop_free(l);
}

/* ---------------------------------------------------------------- signals */

struct sigrec {
	int in_run;
	int got[4];
	int n;
	int outside;            /* a callback ran outside loop_run_once */
};

static void sig_cb(void *arg, int signo)
{
	struct sigrec *s = arg;

	if (!s->in_run)
		s->outside++;
	if (s->n < 4)
		s->got[s->n++] = signo;
}

static int run_flagged(struct loop *l, struct sigrec *s, int wait)
{
	int rc;

	s->in_run = 1;
	rc = loop_run_once(l, wait);
	s->in_run = 0;
	return rc;
}

static int is_nonblock_cloexec(int fd)
{
	return (fcntl(fd, F_GETFD) & FD_CLOEXEC) &&
	       (fcntl(fd, F_GETFL) & O_NONBLOCK);
}

static void test_signals_arrive_in_loop(void)
{
	struct loop *l = loop_new();
	struct sigrec s = { 0 };
	int before[256] = { 0 }, newfds = 0, sv[2];

	for (int fd = 0; fd < 256; fd++)
		before[fd] = fcntl(fd, F_GETFD) != -1;
	CHECK_EQ(loop_signals(l, sig_cb, &s), 0);
	for (int fd = 0; fd < 256; fd++) {
		if (before[fd] || fcntl(fd, F_GETFD) == -1)
			continue;
		newfds++;
		CHECK(is_nonblock_cloexec(fd));
	}
	CHECK_EQ(newfds, 2);

	raise(SIGTERM);
	CHECK_EQ(s.n, 0);                       /* not from the handler */
	run_flagged(l, &s, 1000);
	CHECK_EQ(s.n, 1);
	CHECK_EQ(s.got[0], SIGTERM);
	raise(SIGHUP);
	raise(SIGHUP);                          /* coalesced while pending */
	raise(SIGINT);
	CHECK_EQ(s.n, 1);
	run_flagged(l, &s, 1000);
	CHECK_EQ(s.n, 3);
	CHECK_EQ(s.got[1], SIGINT);
	CHECK_EQ(s.got[2], SIGHUP);
	CHECK_EQ(run_flagged(l, &s, 0), 0);
	CHECK_EQ(s.outside, 0);

	/* SIGPIPE is ignored: a write to a closed peer is just EPIPE */
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	errno = 0;
	CHECK_EQ(write(sv[0], "x", 1), -1);
	CHECK_EQ(errno, EPIPE);
	close(sv[0]);
	loop_free(l);
}

/* ---------------------------------------------------------------- idle */

static void stop_cb(void *arg)
{
	loop_stop(arg);
}

/* Nothing happening: a pass waits the whole time in one poll(). A timer
 * wakes the loop when due, not before (no busy polling) and not much
 * after. */
static void test_idle_is_quiet_and_timers_are_punctual(void)
{
	struct loop *l = loop_new();
	struct fdrec r = { .l = l, .del_fd = -1 };
	struct loop_timer t;
	int p[2];
	uint64_t t0, due, woke;

	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(loop_fd_add(l, p[0], LOOP_READ, fd_cb, &r), 0);
	t0 = loop_clock_ms();
	CHECK_EQ(loop_run_once(l, 150), 0);
	CHECK_INT(loop_clock_ms() - t0, >=, 150);
	CHECK_EQ(loop_stats(l)->passes, 1);

	loop_timer_init(&t, stop_cb, l);
	due = loop_clock_ms() + 200;
	loop_timer_arm(l, &t, due);
	CHECK_EQ(loop_run(l), 0);
	woke = loop_clock_ms();
	CHECK_INT(woke, >=, due);
	CHECK_INT(woke, <, due + 100);   /* scheduling slack */
	/* one pass for the wait (two if poll's rounding woke us a hair
	 * early), never a spin */
	CHECK_INT(loop_stats(l)->passes, <=, 3);
	CHECK_EQ(loop_stats(l)->timers_fired, 1);
	CHECK_EQ(r.calls, 0);
	loop_fd_del(l, p[0]);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

int main(void)
{
	RUN(test_timers_fire_in_deadline_order);
	RUN(test_timer_cancel_and_rearm);
	RUN(test_timer_rearmed_in_callback_waits_a_pass);
	RUN(test_heap_with_many_timers);
	RUN(test_timer_cap);
	RUN(test_fd_readiness);
	RUN(test_removal_inside_callback);
	RUN(test_fd_cap);
	RUN(test_before_poll_hook);
	RUN(test_defer);
	RUN(test_defer_next);
	RUN(test_signals_arrive_in_loop);
	RUN(test_idle_is_quiet_and_timers_are_punctual);
	return harness_done("loop");
}
