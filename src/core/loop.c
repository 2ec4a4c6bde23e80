/*
 * loop: one poll() per pass, a binary min-heap of timers, a FIFO of
 * deferred calls, and signals turned into callbacks through a self-pipe.
 *
 * A pass: fold the earliest deadline into the poll timeout, poll, then
 * dispatch fd events, fire due timers, run deferred calls, and reap the
 * watchers removed meanwhile. Watchers live in one array with a parallel
 * pollfd array, so poll() gets the array directly; an fd-indexed map finds
 * a watcher in O(1). A removed watcher is only marked (its pollfd gets
 * fd -1) and compacted away when no dispatch is walking the array.
 */
#include "core/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/limits.h"

struct watcher {
	int fd;
	unsigned events;
	int dead;
	loop_fd_cb cb;
	void *arg;
};

/* The heap keeps the deadline next to the pointer (one cache line for
 * comparisons) and an arming sequence number: equal deadlines fire in the
 * order they were armed, and a timer armed while timers fire waits for the
 * next pass instead of starving the loop. */
struct heap_ent {
	uint64_t deadline;
	uint64_t seq;
	struct loop_timer *t;
};

struct loop {
	struct watcher *w;
	struct pollfd *pfd;
	size_t nw, capw;
	int *fdmap;             /* fd -> watcher index + 1, 0 = none */
	size_t capfdmap;
	int reap;               /* some watcher is marked dead */
	int dispatching;        /* the fd array is being walked */

	struct heap_ent *heap;
	size_t nheap, capheap;
	uint64_t seq;

	struct loop_defer *dhead, *dtail;   /* queued for the next run */
	struct loop_defer *drun;            /* being run now */
	struct loop_defer *nhead, *ntail;   /* loop_defer_next: after this
	                                     * pass, queued for the next */

	uint64_t now;
	int stop;
	struct loop_stats stats;

	int sigfd[2];
	void (*sig_cb)(void *arg, int signo);
	void *sig_arg;

	loop_cb before_poll;    /* loop_before_poll() */
	void *before_arg;
};

/* ---------------------------------------------------------------- clock */

uint64_t loop_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t loop_now(const struct loop *l)
{
	return l->now;
}

/* ---------------------------------------------------------------- create */

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof *l);

	if (!l)
		return NULL;
	l->sigfd[0] = l->sigfd[1] = -1;
	l->now = loop_clock_ms();
	return l;
}

static void signals_release(struct loop *l);

void loop_free(struct loop *l)
{
	struct loop_defer *d;

	if (!l)
		return;
	signals_release(l);
	for (size_t i = 0; i < l->nheap; i++)
		l->heap[i].t->heap_idx = SIZE_MAX;
	for (d = l->dhead; d; d = d->next)
		d->queued = 0;
	free(l->heap);
	free(l->w);
	free(l->pfd);
	free(l->fdmap);
	free(l);
}

/* ---------------------------------------------------------------- fds */

static struct watcher *watcher_find(const struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->capfdmap || l->fdmap[fd] == 0)
		return NULL;
	return &l->w[l->fdmap[fd] - 1];
}

static short to_poll(unsigned events)
{
	return (short)(((events & LOOP_READ) ? POLLIN : 0) |
	               ((events & LOOP_WRITE) ? POLLOUT : 0));
}

static void reap_watchers(struct loop *l);

static int grow_fdmap(struct loop *l, int fd)
{
	size_t cap = l->capfdmap ? l->capfdmap : 64;
	int *m;

	while (cap <= (size_t)fd)
		cap *= 2;
	m = realloc(l->fdmap, cap * sizeof *m);
	if (!m)
		return ERR_NOMEM;
	memset(m + l->capfdmap, 0, (cap - l->capfdmap) * sizeof *m);
	l->fdmap = m;
	l->capfdmap = cap;
	return 0;
}

static int grow_watchers(struct loop *l)
{
	size_t cap = l->capw ? l->capw * 2 : 16;
	struct watcher *w;
	struct pollfd *p;

	if (cap > LIM_LOOP_FDS)
		cap = LIM_LOOP_FDS;
	w = realloc(l->w, cap * sizeof *w);
	if (!w)
		return ERR_NOMEM;
	l->w = w;
	p = realloc(l->pfd, cap * sizeof *p);
	if (!p)
		return ERR_NOMEM;
	l->pfd = p;
	l->capw = cap;
	return 0;
}

int loop_fd_add(struct loop *l, int fd, unsigned events, loop_fd_cb cb,
                void *arg)
{
	int rc;

	if (fd < 0 || !cb)
		return ERR_INVAL;
	if (watcher_find(l, fd))
		return ERR_EXISTS;
	if (l->nw == l->capw)
		reap_watchers(l);       /* outside a dispatch, free slots now */
	if (l->nw == l->capw) {
		if (l->nw >= LIM_LOOP_FDS)
			return ERR_TOOBIG;
		if ((rc = grow_watchers(l)) != 0)
			return rc;
	}
	if ((size_t)fd >= l->capfdmap && (rc = grow_fdmap(l, fd)) != 0)
		return rc;
	/* Appended, never put in a freed slot: a dispatch in progress walks
	 * only the slots that were polled, so a new watcher on a reused fd
	 * number cannot receive the old watcher's event. */
	l->w[l->nw] = (struct watcher){ fd, events, 0, cb, arg };
	l->pfd[l->nw] = (struct pollfd){ fd, to_poll(events), 0 };
	l->nw++;
	l->fdmap[fd] = (int)l->nw;
	return 0;
}

int loop_fd_set(struct loop *l, int fd, unsigned events)
{
	struct watcher *w = watcher_find(l, fd);

	if (!w)
		return ERR_NOTFOUND;
	w->events = events;
	l->pfd[w - l->w].events = to_poll(events);
	return 0;
}

void loop_fd_del(struct loop *l, int fd)
{
	struct watcher *w = watcher_find(l, fd);

	if (!w)
		return;
	w->dead = 1;
	w->cb = NULL;
	l->pfd[w - l->w].fd = -1;
	l->fdmap[fd] = 0;
	l->reap = 1;
}

/* Compacts the arrays; only when no dispatch holds indices into them. */
static void reap_watchers(struct loop *l)
{
	size_t k = 0;

	if (!l->reap || l->dispatching)
		return;
	for (size_t i = 0; i < l->nw; i++) {
		if (l->w[i].dead)
			continue;
		if (k != i) {
			l->w[k] = l->w[i];
			l->pfd[k] = l->pfd[i];
		}
		l->fdmap[l->w[k].fd] = (int)(k + 1);
		k++;
	}
	l->nw = k;
	l->reap = 0;
}

static unsigned from_poll(short revents, unsigned interest)
{
	unsigned r = 0;

	if (revents & (POLLIN | POLLPRI))
		r |= LOOP_READ;
	if (revents & POLLOUT)
		r |= LOOP_WRITE;
	/* An error or hang-up also wakes the interested direction, so that a
	 * reader sees its EOF or error from read() itself. */
	if (revents & (POLLERR | POLLHUP | POLLNVAL))
		r |= LOOP_ERROR | (interest & (LOOP_READ | LOOP_WRITE));
	return r & (interest | LOOP_ERROR);
}

static int dispatch_fds(struct loop *l, size_t npolled)
{
	int ran = 0;

	l->dispatching = 1;
	for (size_t i = 0; i < npolled; i++) {
		struct watcher *w = &l->w[i];
		unsigned rev;

		if (w->dead || l->pfd[i].revents == 0)
			continue;
		rev = from_poll(l->pfd[i].revents, w->events);
		l->pfd[i].revents = 0;
		if (rev == 0)
			continue;
		w->cb(w->arg, w->fd, rev);
		l->stats.fd_events++;
		ran++;
	}
	l->dispatching = 0;
	return ran;
}

/* ---------------------------------------------------------------- timers */

static int heap_less(const struct heap_ent *a, const struct heap_ent *b)
{
	return a->deadline < b->deadline ||
	       (a->deadline == b->deadline && a->seq < b->seq);
}

/* heap_idx holds position + 1, so that a zeroed timer reads as unarmed. */
static void heap_put(struct loop *l, size_t i, struct heap_ent e)
{
	l->heap[i] = e;
	e.t->heap_idx = i + 1;
}

static void sift_up(struct loop *l, size_t i)
{
	struct heap_ent e = l->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!heap_less(&e, &l->heap[p]))
			break;
		heap_put(l, i, l->heap[p]);
		i = p;
	}
	heap_put(l, i, e);
}

static void sift_down(struct loop *l, size_t i)
{
	struct heap_ent e = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && heap_less(&l->heap[c + 1], &l->heap[c]))
			c++;
		if (!heap_less(&l->heap[c], &e))
			break;
		heap_put(l, i, l->heap[c]);
		i = c;
	}
	heap_put(l, i, e);
}

static void heap_remove(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i].t;

	t->heap_idx = SIZE_MAX;
	if (--l->nheap == i)
		return;
	l->heap[i] = l->heap[l->nheap];
	l->heap[i].t->heap_idx = i + 1;
	if (i > 0 && heap_less(&l->heap[i], &l->heap[(i - 1) / 2]))
		sift_up(l, i);
	else
		sift_down(l, i);
}

void loop_timer_init(struct loop_timer *t, loop_cb cb, void *arg)
{
	t->deadline = 0;
	t->heap_idx = SIZE_MAX;
	t->cb = cb;
	t->arg = arg;
}

int loop_timer_armed(const struct loop_timer *t)
{
	return t->heap_idx != 0 && t->heap_idx != SIZE_MAX;
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (!loop_timer_armed(t))
		return;
	if (t->heap_idx > l->nheap || l->heap[t->heap_idx - 1].t != t)
		return;     /* armed on another loop: not ours to touch */
	heap_remove(l, t->heap_idx - 1);
}

static int grow_heap(struct loop *l)
{
	size_t cap = l->capheap ? l->capheap * 2 : 16;
	struct heap_ent *h;

	if (l->nheap >= LIM_LOOP_TIMERS)
		return ERR_TOOBIG;
	if (cap > LIM_LOOP_TIMERS)
		cap = LIM_LOOP_TIMERS;
	h = realloc(l->heap, cap * sizeof *h);
	if (!h)
		return ERR_NOMEM;
	l->heap = h;
	l->capheap = cap;
	return 0;
}

int loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t deadline_ms)
{
	int rc;

	loop_timer_cancel(l, t);
	if (l->nheap == l->capheap && (rc = grow_heap(l)) != 0)
		return rc;
	t->deadline = deadline_ms;
	l->heap[l->nheap] = (struct heap_ent){ deadline_ms, l->seq++, t };
	l->nheap++;
	sift_up(l, l->nheap - 1);
	return 0;
}

static int fire_timers(struct loop *l)
{
	uint64_t limit = l->seq;
	int ran = 0;

	while (l->nheap > 0 && l->heap[0].deadline <= l->now &&
	       l->heap[0].seq < limit) {
		struct loop_timer *t = l->heap[0].t;

		heap_remove(l, 0);
		if (t->cb) {
			t->cb(t->arg);
			ran++;
		}
		l->stats.timers_fired++;
	}
	return ran;
}

/* ---------------------------------------------------------------- defer */

/* Appends d to the list [*head, *tail] unless it is queued already. */
static void enqueue(struct loop_defer **head, struct loop_defer **tail,
                    struct loop_defer *d, loop_cb cb, void *arg)
{
	if (d->queued)
		return;
	d->cb = cb;
	d->arg = arg;
	d->next = NULL;
	d->queued = 1;
	if (*tail)
		(*tail)->next = d;
	else
		*head = d;
	*tail = d;
}

void loop_defer(struct loop *l, struct loop_defer *d, loop_cb cb, void *arg)
{
	enqueue(&l->dhead, &l->dtail, d, cb, arg);
}

static int unlink_defer(struct loop_defer **head, struct loop_defer **tail,
                        struct loop_defer *d)
{
	struct loop_defer *prev = NULL;

	for (struct loop_defer *p = *head; p; prev = p, p = p->next) {
		if (p != d)
			continue;
		if (prev)
			prev->next = d->next;
		else
			*head = d->next;
		if (tail && *tail == d)
			*tail = prev;
		return 1;
	}
	return 0;
}

void loop_defer_next(struct loop *l, struct loop_defer *d, loop_cb cb,
                     void *arg)
{
	enqueue(&l->nhead, &l->ntail, d, cb, arg);
}

void loop_defer_cancel(struct loop *l, struct loop_defer *d)
{
	if (!d->queued)
		return;
	if (!unlink_defer(&l->dhead, &l->dtail, d) &&
	    !unlink_defer(&l->nhead, &l->ntail, d))
		unlink_defer(&l->drun, NULL, d);
	d->queued = 0;
	d->next = NULL;
}

/* Runs what was queued before this phase; what the calls queue runs in
 * the next pass (whose poll then does not wait). */
static int run_deferred(struct loop *l)
{
	int ran = 0;

	l->drun = l->dhead;
	l->dhead = l->dtail = NULL;
	while (l->drun) {
		struct loop_defer *d = l->drun;

		l->drun = d->next;
		d->next = NULL;
		d->queued = 0;
		d->cb(d->arg);
		l->stats.deferred_run++;
		ran++;
	}
	/* loop_defer_next's: queued now, so they run in the next pass */
	if (l->nhead) {
		if (l->dtail)
			l->dtail->next = l->nhead;
		else
			l->dhead = l->nhead;
		l->dtail = l->ntail;
		l->nhead = l->ntail = NULL;
	}
	return ran;
}

/* ---------------------------------------------------------------- signals */

/* The one piece of process-wide loop state: where the handler writes, and
 * which signals are pending. The handler touches nothing else. */
static const int sig_nums[] = { SIGTERM, SIGINT, SIGHUP };
#define SIG_COUNT (sizeof sig_nums / sizeof sig_nums[0])
static volatile sig_atomic_t sig_wfd = -1;
static volatile sig_atomic_t sig_pending[SIG_COUNT];
static struct loop *sig_owner;
static struct sigaction sig_saved[SIG_COUNT];

static void sig_handler(int signo)
{
	int saved = errno;

	for (size_t i = 0; i < SIG_COUNT; i++)
		if (sig_nums[i] == signo)
			sig_pending[i] = 1;
	if (sig_wfd >= 0) {
		/* A full pipe already holds a wake-up; the flag is enough. */
		ssize_t n = write(sig_wfd, "s", 1);
		(void)n;
	}
	errno = saved;
}

static void sig_readable(void *arg, int fd, unsigned revents)
{
	struct loop *l = arg;
	char buf[64];

	(void)revents;
	while (read(fd, buf, sizeof buf) > 0)
		;
	for (size_t i = 0; i < SIG_COUNT; i++) {
		if (!sig_pending[i])
			continue;
		sig_pending[i] = 0;
		if (l->sig_cb)
			l->sig_cb(l->sig_arg, sig_nums[i]);
	}
}

static void signals_release(struct loop *l)
{
	if (sig_owner == l) {
		sig_wfd = -1;
		for (size_t i = 0; i < SIG_COUNT; i++)
			sigaction(sig_nums[i], &sig_saved[i], NULL);
		sig_owner = NULL;
	}
	if (l->sigfd[0] >= 0) {
		loop_fd_del(l, l->sigfd[0]);
		close(l->sigfd[0]);
		close(l->sigfd[1]);
		l->sigfd[0] = l->sigfd[1] = -1;
	}
}

int loop_signals(struct loop *l, void (*cb)(void *arg, int signo), void *arg)
{
	struct sigaction sa;

	if (l->sigfd[0] < 0) {
		if (pipe2(l->sigfd, O_NONBLOCK | O_CLOEXEC) != 0)
			return ERR_IO;
		if (loop_fd_add(l, l->sigfd[0], LOOP_READ, sig_readable, l)) {
			close(l->sigfd[0]);
			close(l->sigfd[1]);
			l->sigfd[0] = l->sigfd[1] = -1;
			return ERR_IO;
		}
	}
	l->sig_cb = cb;
	l->sig_arg = arg;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return ERR_IO;
	sa.sa_handler = sig_handler;
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < SIG_COUNT; i++) {
		struct sigaction *old = sig_owner ? NULL : &sig_saved[i];

		if (sigaction(sig_nums[i], &sa, old) != 0)
			return ERR_IO;
	}
	sig_owner = l;
	sig_wfd = l->sigfd[1];
	return 0;
}

/* ---------------------------------------------------------------- run */

static int poll_timeout(const struct loop *l, int max_wait_ms)
{
	uint64_t now = loop_clock_ms(), wait;

	if (l->dhead || l->nhead)
		return 0;
	if (l->nheap == 0)
		return max_wait_ms;
	if (l->heap[0].deadline <= now)
		return 0;
	wait = l->heap[0].deadline - now;
	if (wait > INT_MAX)
		wait = INT_MAX;
	if (max_wait_ms >= 0 && wait > (uint64_t)max_wait_ms)
		return max_wait_ms;
	return (int)wait;
}

void loop_before_poll(struct loop *l, loop_cb cb, void *arg)
{
	l->before_poll = cb;
	l->before_arg = arg;
}

int loop_run_once(struct loop *l, int max_wait_ms)
{
	size_t npolled;
	int n, ran = 0;

	if (l->before_poll) {
		int stopped = l->stop;

		l->before_poll(l->before_arg);
		if (l->stop && !stopped)
			return 0;       /* stopped there: no poll, no I/O */
	}
	reap_watchers(l);
	npolled = l->nw;
	n = poll(l->pfd, (nfds_t)npolled, poll_timeout(l, max_wait_ms));
	l->stats.passes++;
	l->now = loop_clock_ms();
	if (n < 0 && errno != EINTR)
		return ERR_IO;
	if (n > 0)
		ran += dispatch_fds(l, npolled);
	ran += fire_timers(l);
	ran += run_deferred(l);
	reap_watchers(l);
	return ran;
}

int loop_run(struct loop *l)
{
	int rc = 0;

	while (!l->stop) {
		rc = loop_run_once(l, -1);
		if (rc < 0)
			break;
		rc = 0;
	}
	l->stop = 0;
	return rc;
}

void loop_stop(struct loop *l)
{
	l->stop = 1;
}

const struct loop_stats *loop_stats(const struct loop *l)
{
	return &l->stats;
}
