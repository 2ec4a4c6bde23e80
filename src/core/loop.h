/*
 * loop: the one poll() of lettamx, with timers, deferred calls and signals.
 *
 * Everything that waits registers here: fd watchers (read/write interest),
 * timers on CLOCK_MONOTONIC absolute deadlines in milliseconds, and
 * deferred callbacks run once at the end of the current pass. Nothing else
 * in lettamx sleeps or blocks.
 *
 * Ownership: the loop owns its own arrays; watchers, timers and deferred
 * entries are embedded in the caller's objects (caller-owned memory) and
 * must be removed/cancelled before that memory is freed. Removing or
 * cancelling from inside any callback is safe: removal is marked and reaped
 * at the end of the pass. Never free an object inside its own callback:
 * defer the free with loop_defer().
 */
#ifndef LETTAMX_LOOP_H
#define LETTAMX_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct loop;

/* Interest / readiness bits for fd watchers. */
enum {
	LOOP_READ  = 1u << 0,
	LOOP_WRITE = 1u << 1,
	LOOP_ERROR = 1u << 2,   /* POLLERR/POLLHUP/POLLNVAL; always reported */
};
/* An error or hang-up is reported as LOOP_ERROR together with the watched
 * direction(s), so a reader finds its EOF or error in read() itself. */

typedef void (*loop_fd_cb)(void *arg, int fd, unsigned revents);
typedef void (*loop_cb)(void *arg);

/* A timer embedded in a caller's object. Zero-initialise or loop_timer_init
 * before first use. Fields are private. */
struct loop_timer {
	uint64_t deadline;      /* absolute monotonic ms */
	size_t heap_idx;        /* position + 1 in the loop's heap; 0 or
	                         * SIZE_MAX when not armed (so zeroed memory
	                         * is an unarmed timer) */
	loop_cb cb;
	void *arg;
};

/* A deferred call embedded in a caller's object. Fields are private. */
struct loop_defer {
	struct loop_defer *next;
	loop_cb cb;
	void *arg;
	int queued;
};

/* Counters for tests and benchmarks (idle behaviour: a long-poll with
 * nothing else going on must wake only when something happens). */
struct loop_stats {
	uint64_t passes;        /* poll() calls */
	uint64_t fd_events;     /* fd callbacks run */
	uint64_t timers_fired;
	uint64_t deferred_run;
};

/* Creates a loop. Returns NULL on allocation failure. */
struct loop *loop_new(void);

/* Frees the loop and closes its own fds (self-pipe). Watched fds belong to
 * their owners and are not closed. */
void loop_free(struct loop *l);

/* Watches `fd` for `events` (LOOP_READ|LOOP_WRITE); `cb` gets the ready
 * bits. One watcher per fd. Returns 0, ERR_EXISTS if fd is watched,
 * ERR_NOMEM, ERR_TOOBIG past LIM_LOOP_FDS, ERR_INVAL for fd < 0 or no cb.
 * A watcher added inside a callback is first polled in the next pass. */
int loop_fd_add(struct loop *l, int fd, unsigned events, loop_fd_cb cb,
                void *arg);

/* Changes the interest of a watched fd (0 = none, keep watching). Returns
 * 0 or ERR_NOTFOUND. */
int loop_fd_set(struct loop *l, int fd, unsigned events);

/* Stops watching `fd`. Safe inside callbacks; no callback for `fd` runs
 * after this returns. The fd itself is not closed. */
void loop_fd_del(struct loop *l, int fd);

/* Monotonic milliseconds, read when the current pass's poll() returned
 * (cheap, consistent within one pass). */
uint64_t loop_now(const struct loop *l);

/* Monotonic milliseconds, read now. */
uint64_t loop_clock_ms(void);

void loop_timer_init(struct loop_timer *t, loop_cb cb, void *arg);

/* Arms (or re-arms) `t` to fire once at absolute time `deadline_ms`.
 * Timers with equal deadlines fire in arming order; a timer armed from a
 * timer callback fires in the next pass at the earliest. Returns 0,
 * ERR_NOMEM, or ERR_TOOBIG past LIM_LOOP_TIMERS. */
int loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t deadline_ms);

/* Disarms `t`; harmless if not armed. */
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

int loop_timer_armed(const struct loop_timer *t);

/* Queues `cb(arg)` to run once at the end of the current pass (or the next
 * pass if called outside one). Queuing an already queued entry is a no-op.
 */
void loop_defer(struct loop *l, struct loop_defer *d, loop_cb cb, void *arg);

/* Queues `cb(arg)` to run once in the next pass, after its before-poll
 * hook and its poll (and the fd callbacks and timers of that pass): work
 * that must wait until what this pass made was committed and written.
 * Queuing an already queued entry is a no-op. */
void loop_defer_next(struct loop *l, struct loop_defer *d, loop_cb cb,
                     void *arg);

/* Unqueues `d` (no call follows); harmless if not queued. */
void loop_defer_cancel(struct loop *l, struct loop_defer *d);

/* Installs the signal handling of the daemon: SIGPIPE ignored; SIGTERM,
 * SIGINT and SIGHUP caught through a self-pipe and delivered as
 * `cb(arg, signo)` from inside the loop (never from the handler).
 * Returns 0 or ERR_IO. */
int loop_signals(struct loop *l, void (*cb)(void *arg, int signo), void *arg);

/* Runs cb(arg) at the start of every pass, before poll(): after all the
 * callbacks, timers and deferred calls of the last pass, and before any
 * fd is watched again (so before any byte of a request made in that pass
 * can leave: the HTTP client writes only when poll() says writable). A
 * cb that calls loop_stop() ends the pass there, without polling. One
 * hook per loop; cb NULL removes it. */
void loop_before_poll(struct loop *l, loop_cb cb, void *arg);

/* Runs one pass: polls with a timeout folded from the earliest timer (and
 * at most `max_wait_ms`, -1 for no cap), dispatches fd events, fires due
 * timers, runs deferred calls, reaps removed watchers. Returns the number
 * of callbacks run (>= 0) or ERR_IO if poll() failed other than EINTR. */
int loop_run_once(struct loop *l, int max_wait_ms);

/* Runs passes until loop_stop(). Returns 0, or ERR_IO. */
int loop_run(struct loop *l);

/* Makes loop_run() return after the current pass. */
void loop_stop(struct loop *l);

const struct loop_stats *loop_stats(const struct loop *l);

#endif
