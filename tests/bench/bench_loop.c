/*
 * bench_loop: the costs the issue names for the network core.
 *   - timer heap: arm + cancel, and arm + fire, per timer, with 100k armed
 *     (many agents with deadlines);
 *   - an idle loop with a watched fd: poll passes per second of waiting
 *     (must be ~1 per wait, no busy polling);
 *   - DNS answer parsing: ns per A answer with a CNAME.
 * Prints "bench <name>: <figure>" lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/loop.h"
#include "net/dns.h"

#define N 100000

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void noop(void *arg)
{
	(void)arg;
}

static void bench_timers(void)
{
	struct loop *l = loop_new();
	struct loop_timer *t = calloc(N, sizeof *t);
	uint64_t base = loop_clock_ms() - 1000000;
	double t0, t1, t2;

	if (!l || !t)
		exit(1);
	srand(1);
	for (int i = 0; i < N; i++)
		loop_timer_init(&t[i], noop, NULL);
	t0 = now_ns();
	for (int i = 0; i < N; i++)
		loop_timer_arm(l, &t[i], base + (uint64_t)(rand() % 900000));
	for (int i = 0; i < N; i += 2)
		loop_timer_cancel(l, &t[i]);
	t1 = now_ns();
	loop_run_once(l, 0);                    /* fires the other half */
	t2 = now_ns();
	printf("bench loop_timer_arm_cancel: %.0f ns per timer (%d armed)\n",
	       (t1 - t0) / N, N);
	printf("bench loop_timer_fire: %.0f ns per timer\n",
	       (t2 - t1) / (N / 2));
	loop_free(l);
	free(t);
}

static void fd_noop(void *arg, int fd, unsigned revents)
{
	(void)arg;
	(void)fd;
	(void)revents;
}

static void stop(void *arg)
{
	loop_stop(arg);
}

static void bench_idle(void)
{
	struct loop *l = loop_new();
	struct loop_timer t;
	int p[2];

	if (!l || pipe(p) != 0)
		exit(1);
	loop_fd_add(l, p[0], LOOP_READ, fd_noop, NULL);
	loop_timer_init(&t, stop, l);
	loop_timer_arm(l, &t, loop_clock_ms() + 500);
	loop_run(l);
	printf("bench loop_idle_passes: %llu poll passes in 500 ms idle\n",
	       (unsigned long long)loop_stats(l)->passes);
	loop_fd_del(l, p[0]);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

static void bench_dns_parse(void)
{
	static const uint8_t pkt[] = {
		0x12, 0x34, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0,
		3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
		3, 'c', 'o', 'm', 0, 0, 1, 0, 1,
		0xc0, 12, 0, 5, 0, 1, 0, 0, 1, 0, 0, 7,
		4, 'e', 'd', 'g', 'e', 0xc0, 16,
		0xc0, 45, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1,
		0xc0, 45, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 2,
	};
	struct dns_answer a;
	enum { R = 1000000 };
	double t0 = now_ns();
	size_t got = 0;

	for (int i = 0; i < R; i++) {
		dns_parse_answer(pkt, sizeof pkt, 0x1234, "www.example.com",
		                 DNS_TYPE_A, &a);
		got += a.naddrs;
	}
	if (got != 2u * R)
		exit(1);
	printf("bench dns_parse_answer: %.0f ns per answer (CNAME + 2 A)\n",
	       (now_ns() - t0) / R);
}

int main(void)
{
	bench_timers();
	bench_idle();
	bench_dns_parse();
	return 0;
}
