/*
 * test_dns_net: the resolver end to end, against fake nameservers inside
 * this process (non-blocking UDP sockets on 127.0.0.x watched by the same
 * loop), with temporary resolv.conf and hosts files. The wire-format
 * parser has its own suite, test_dns.c.
 */
#include "net/dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns_pkt.h"
#include "core/err.h"
#include "harness.h"
#include "core/limits.h"
#include "core/loop.h"

static const uint8_t V6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

/* ---------------------------------------------------------------- resolver
 * A fake nameserver inside this process: a non-blocking UDP socket on
 * 127.0.0.1, watched by the same loop as the resolver. */

enum fake_mode {
	FAKE_OK, FAKE_NXDOMAIN, FAKE_SILENT, FAKE_WRONG_ID_FIRST,
	FAKE_OTHER_PORT, FAKE_TC, FAKE_A_ONLY, FAKE_SERVFAIL,
};

struct fake {
	int fd, other_fd;
	uint16_t port;
	enum fake_mode mode;
	int queries;            /* datagrams received */
	uint32_t ttl;
};

static void fake_reply(struct fake *f, const uint8_t *q, size_t n,
                       const struct sockaddr_in *to)
{
	struct pkt p;
	unsigned id = (unsigned)(q[0] << 8 | q[1]), type, flags = PK_QR;
	int an = 0;

	if (n < 17)
		return;
	type = (unsigned)(q[n - 4] << 8 | q[n - 3]);
	if (f->mode == FAKE_SILENT || (f->mode == FAKE_A_ONLY &&
	                               type == DNS_TYPE_AAAA))
		return;
	if (f->mode == FAKE_NXDOMAIN)
		flags |= 3;
	if (f->mode == FAKE_SERVFAIL)
		flags |= 2;
	if (f->mode == FAKE_TC)
		flags |= 0x200;
	an = (flags == PK_QR) ? 1 : 0;
	pk_header(&p, id, flags, 1, (unsigned)an, 0, 0);
	pk_raw(&p, q + 12, n - 12);                     /* the question */
	if (an && type == DNS_TYPE_A)
		pk_a(&p, PK_QNAME, f->ttl, 192, 0, 2, 1);
	else if (an)
		pk_aaaa(&p, PK_QNAME, f->ttl, V6);
	if (f->mode == FAKE_WRONG_ID_FIRST) {
		p.b[1] ^= 1;
		sendto(f->fd, p.b, p.n, 0, (const struct sockaddr *)to,
		       sizeof *to);
		p.b[1] ^= 1;
	}
	sendto(f->mode == FAKE_OTHER_PORT ? f->other_fd : f->fd, p.b, p.n, 0,
	       (const struct sockaddr *)to, sizeof *to);
}

static void fake_readable(void *arg, int fd, unsigned revents)
{
	struct fake *f = arg;
	uint8_t q[600];
	struct sockaddr_in from;
	socklen_t flen = sizeof from;
	ssize_t n;

	(void)revents;
	while ((n = recvfrom(fd, q, sizeof q, 0, (struct sockaddr *)&from,
	                     &flen)) > 0) {
		f->queries++;
		fake_reply(f, q, (size_t)n, &from);
		flen = sizeof from;
	}
}

static int udp_socket(const char *ip, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	                          .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, ip, &sa.sin_addr);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int fake_open(struct fake *f, struct loop *l, const char *ip,
                     uint16_t port, enum fake_mode mode)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;

	memset(f, 0, sizeof *f);
	f->mode = mode;
	f->ttl = 300;
	f->fd = udp_socket(ip, port);
	f->other_fd = udp_socket(ip, 0);
	if (f->fd < 0 || f->other_fd < 0)
		return -1;
	getsockname(f->fd, (struct sockaddr *)&sa, &len);
	f->port = ntohs(sa.sin_port);
	return loop_fd_add(l, f->fd, LOOP_READ, fake_readable, f);
}

static void fake_close(struct fake *f, struct loop *l)
{
	loop_fd_del(l, f->fd);
	close(f->fd);
	close(f->other_fd);
}

static const char *write_file(const char *name, const char *text)
{
	static char path[2][512];
	static int which;
	char *p = path[which++ % 2];
	FILE *f;

	snprintf(p, 512, "%s/%s", harness_tmpdir(), name);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	return p;
}

struct result {
	int calls, err;
	size_t naddrs;
	struct dns_addr addrs[DNS_ADDRS_MAX];
	uint64_t at;
};

static void on_result(void *arg, int err, const struct dns_addr *addrs,
                      size_t n)
{
	struct result *r = arg;

	r->calls++;
	r->err = err;
	r->naddrs = n;
	if (n)
		memcpy(r->addrs, addrs, n * sizeof *addrs);
	r->at = loop_clock_ms();
}

static void run_until(struct loop *l, const int *calls, int want, int ms)
{
	uint64_t end = loop_clock_ms() + (uint64_t)ms;

	while (*calls < want && loop_clock_ms() < end)
		loop_run_once(l, 20);
}

/* A loop, a fake server in `mode` and a resolver pointed at it. */
struct rig {
	struct loop *l;
	struct fake f;
	struct dns *d;
};

static int rig_open(struct rig *r, enum fake_mode mode, int timeout_ms,
                    int attempts)
{
	struct dns_conf c = { 0 };

	r->l = loop_new();
	if (!r->l || fake_open(&r->f, r->l, "127.0.0.1", 0, mode) != 0)
		return -1;
	c.resolv_conf = write_file("resolv.conf", "# test\n"
	                           "search example.org\n"
	                           "nameserver 127.0.0.1\n");
	c.hosts = write_file("hosts", "127.0.0.1 localhost\n");
	c.port = r->f.port;
	c.timeout_ms = timeout_ms;
	c.attempts = attempts;
	r->d = dns_new(r->l, &c);
	return r->d ? 0 : -1;
}

static void rig_close(struct rig *r)
{
	dns_free(r->d);
	fake_close(&r->f, r->l);
	loop_free(r->l);
}

static void test_resolve_and_cache(void)
{
	struct rig g;
	struct result r = { 0 }, r2 = { 0 };
	struct dns_query q = { 0 }, q2 = { 0 };

	CHECK_EQ(rig_open(&g, FAKE_OK, 1000, 2), 0);
	CHECK_EQ(dns_resolve(g.d, &q, "Service.Example.", on_result, &r), 0);
	CHECK_EQ(r.calls, 0);                   /* never from inside */
	run_until(g.l, &r.calls, 1, 2000);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.naddrs, 2);
	CHECK_EQ(r.addrs[0].family, AF_INET);   /* v4 first */
	CHECK(memcmp(r.addrs[0].addr, "\xc0\x00\x02\x01", 4) == 0);
	CHECK_EQ(r.addrs[1].family, AF_INET6);
	CHECK(memcmp(r.addrs[1].addr, V6, 16) == 0);
	CHECK_EQ(g.f.queries, 2);               /* A and AAAA */
	CHECK_EQ(dns_stats(g.d)->packets_sent, 2);
	CHECK_EQ(dns_stats(g.d)->answers_used, 2);

	/* within the TTL: from the cache, still through the loop */
	CHECK_EQ(dns_resolve(g.d, &q2, "service.example", on_result, &r2), 0);
	CHECK_EQ(r2.calls, 0);
	run_until(g.l, &r2.calls, 1, 1000);
	CHECK_EQ(r2.calls, 1);
	CHECK_EQ(r2.naddrs, 2);
	CHECK_EQ(g.f.queries, 2);
	CHECK_EQ(dns_stats(g.d)->cache_hits, 1);
	rig_close(&g);
}

static void test_ttl_zero_is_not_cached(void)
{
	struct rig g;
	struct result r = { 0 };
	struct dns_query q = { 0 };

	CHECK_EQ(rig_open(&g, FAKE_OK, 1000, 2), 0);
	g.f.ttl = 0;
	dns_resolve(g.d, &q, "short.example", on_result, &r);
	run_until(g.l, &r.calls, 1, 2000);
	dns_resolve(g.d, &q, "short.example", on_result, &r);
	run_until(g.l, &r.calls, 2, 2000);
	CHECK_EQ(r.calls, 2);
	CHECK_EQ(r.err, 0);
	CHECK_EQ(g.f.queries, 4);
	rig_close(&g);
}

static void test_nxdomain(void)
{
	struct rig g;
	struct result r = { 0 };
	struct dns_query q = { 0 };

	CHECK_EQ(rig_open(&g, FAKE_NXDOMAIN, 1000, 2), 0);
	dns_resolve(g.d, &q, "nope.example", on_result, &r);
	run_until(g.l, &r.calls, 1, 2000);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.err, ERR_DNS);
	CHECK_EQ(r.naddrs, 0);
	rig_close(&g);
}

/* A server that never answers: ERR_TIMEOUT after timeout x attempts,
 * one A and one AAAA packet per attempt. */
static void test_timeout(void)
{
	struct rig g;
	struct result r = { 0 };
	struct dns_query q = { 0 };
	uint64_t t0;

	CHECK_EQ(rig_open(&g, FAKE_SILENT, 100, 3), 0);
	t0 = loop_clock_ms();
	dns_resolve(g.d, &q, "slow.example", on_result, &r);
	run_until(g.l, &r.calls, 1, 3000);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.err, ERR_TIMEOUT);
	CHECK_INT(r.at - t0, >=, 300);
	CHECK_INT(r.at - t0, <, 500);
	CHECK_EQ(g.f.queries, 6);
	CHECK_EQ(dns_stats(g.d)->timeouts, 3);
	rig_close(&g);
}

static void test_hostile_answers_ignored(void)
{
	struct rig g;
	struct result r = { 0 };
	struct dns_query q = { 0 };

	/* a wrong-id answer arrives first and is ignored */
	CHECK_EQ(rig_open(&g, FAKE_WRONG_ID_FIRST, 1000, 1), 0);
	dns_resolve(g.d, &q, "spoof.example", on_result, &r);
	run_until(g.l, &r.calls, 1, 2000);
	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.naddrs, 2);
	CHECK_INT(dns_stats(g.d)->answers_ignored, >=, 1);
	rig_close(&g);

	/* answers from another port never count */
	r.calls = 0;
	CHECK_EQ(rig_open(&g, FAKE_OTHER_PORT, 100, 1), 0);
	dns_resolve(g.d, &q, "spoof.example", on_result, &r);
	run_until(g.l, &r.calls, 1, 2000);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.err, ERR_TIMEOUT);
	rig_close(&g);

	/* truncated: no TCP fallback, a clear protocol error */
	r.calls = 0;
	CHECK_EQ(rig_open(&g, FAKE_TC, 100, 1), 0);
	dns_resolve(g.d, &q, "big.example", on_result, &r);
	run_until(g.l, &r.calls, 1, 2000);
	CHECK_EQ(r.err, ERR_PROTO);
	rig_close(&g);

	/* SERVFAIL everywhere: moves on at once, ends as no answer */
	r.calls = 0;
	CHECK_EQ(rig_open(&g, FAKE_SERVFAIL, 1000, 2), 0);
	dns_resolve(g.d, &q, "broken.example", on_result, &r);
	run_until(g.l, &r.calls, 1, 2000);
	CHECK_EQ(r.err, ERR_TIMEOUT);
	CHECK_EQ(dns_stats(g.d)->timeouts, 0);  /* no attempt waited */
	rig_close(&g);
}

/* A server that drops AAAA: the A answer is used after one attempt. */
static void test_one_family_is_enough(void)
{
	struct rig g;
	struct result r = { 0 };
	struct dns_query q = { 0 };

	CHECK_EQ(rig_open(&g, FAKE_A_ONLY, 100, 3), 0);
	dns_resolve(g.d, &q, "v4.example", on_result, &r);
	run_until(g.l, &r.calls, 1, 2000);
	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.naddrs, 1);
	CHECK_EQ(r.addrs[0].family, AF_INET);
	CHECK_EQ(g.f.queries, 2);
	rig_close(&g);
}

/* The first nameserver is silent, the second answers: found after one
 * per-attempt timeout. An unreachable one (ICMP) is skipped at once. */
static void test_nameserver_rotation(void)
{
	struct loop *l = loop_new();
	struct fake silent, ok;
	struct dns_conf c = { 0 };
	struct result r = { 0 };
	struct dns_query q = { 0 };
	struct dns *d;
	uint64_t t0;

	CHECK_EQ(fake_open(&silent, l, "127.0.0.1", 0, FAKE_SILENT), 0);
	CHECK_EQ(fake_open(&ok, l, "127.0.0.3", silent.port, FAKE_OK), 0);
	c.resolv_conf = write_file("resolv.conf", "nameserver 127.0.0.1\n"
	                           "nameserver 127.0.0.3\n"
	                           "options timeout:1 attempts:1\n");
	c.hosts = write_file("hosts", "");
	c.port = silent.port;
	d = dns_new(l, &c);
	t0 = loop_clock_ms();
	dns_resolve(d, &q, "two.example", on_result, &r);
	run_until(l, &r.calls, 1, 3000);
	CHECK_EQ(r.err, 0);
	CHECK_INT(r.at - t0, >=, 1000);         /* options timeout:1 */
	CHECK_INT(r.at - t0, <, 1500);
	CHECK_EQ(silent.queries, 2);
	CHECK_EQ(ok.queries, 2);
	dns_free(d);

	/* nobody listens on 127.0.0.2: refused at once, next server */
	c.resolv_conf = write_file("resolv.conf", "nameserver 127.0.0.2\n"
	                           "nameserver 127.0.0.3\n");
	d = dns_new(l, &c);
	r.calls = 0;
	t0 = loop_clock_ms();
	dns_resolve(d, &q, "three.example", on_result, &r);
	run_until(l, &r.calls, 1, 3000);
	CHECK_EQ(r.err, 0);
	CHECK_INT(r.at - t0, <, 500);
	dns_free(d);
	fake_close(&silent, l);
	fake_close(&ok, l);
	loop_free(l);
}

static void test_cancel_and_coalesce(void)
{
	struct rig g;
	struct result r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	struct dns_query q1 = { 0 }, q2 = { 0 }, q3 = { 0 };

	CHECK_EQ(rig_open(&g, FAKE_OK, 1000, 2), 0);
	/* two waiters on one name share the packets */
	CHECK_EQ(dns_resolve(g.d, &q1, "same.example", on_result, &r1), 0);
	CHECK_EQ(dns_resolve(g.d, &q2, "same.example", on_result, &r2), 0);
	CHECK_EQ(dns_resolve(g.d, &q1, "x.example", on_result, &r1),
	         ERR_INVAL);                     /* q1 is busy */
	dns_cancel(g.d, &q1);
	dns_cancel(g.d, &q1);                   /* harmless */
	run_until(g.l, &r2.calls, 1, 2000);
	CHECK_EQ(r2.calls, 1);
	CHECK_EQ(r2.err, 0);
	CHECK_EQ(g.f.queries, 2);

	/* cancelled while on the network: the lookup stops, no callback */
	CHECK_EQ(dns_resolve(g.d, &q3, "other.example", on_result, &r3), 0);
	dns_cancel(g.d, &q3);
	/* cancelled with a result already due (literal, cache) */
	CHECK_EQ(dns_resolve(g.d, &q1, "192.0.2.9", on_result, &r1), 0);
	dns_cancel(g.d, &q1);
	CHECK_EQ(dns_resolve(g.d, &q2, "same.example", on_result, &r2), 0);
	dns_cancel(g.d, &q2);
	for (int i = 0; i < 10; i++)
		loop_run_once(g.l, 10);
	CHECK_EQ(r1.calls, 0);
	CHECK_EQ(r2.calls, 1);
	CHECK_EQ(r3.calls, 0);

	/* freeing the resolver with queries in flight: no callback */
	CHECK_EQ(dns_resolve(g.d, &q3, "late.example", on_result, &r3), 0);
	CHECK_EQ(dns_resolve(g.d, &q1, "::1", on_result, &r1), 0);
	dns_free(g.d);
	g.d = NULL;
	for (int i = 0; i < 5; i++)
		loop_run_once(g.l, 10);
	CHECK_EQ(r1.calls, 0);
	CHECK_EQ(r3.calls, 0);
	rig_close(&g);
}

static void test_hosts_and_literals_skip_the_network(void)
{
	struct rig g;
	struct result r = { 0 };
	struct dns_query q = { 0 };
	struct dns_conf c = { 0 };

	CHECK_EQ(rig_open(&g, FAKE_OK, 1000, 2), 0);
	dns_free(g.d);
	c.resolv_conf = write_file("resolv.conf", "nameserver 127.0.0.1\n");
	c.hosts = write_file("hosts",
	    "# comment\n"
	    "10.1.2.3\tmyhost.example myalias # trailing comment\n"
	    "bogus line here\n"
	    "fe80::1%eth0 scoped.example\n"
	    "::1 myhost.example.\n");
	c.port = g.f.port;
	g.d = dns_new(g.l, &c);

	dns_resolve(g.d, &q, "MyHost.Example", on_result, &r);
	run_until(g.l, &r.calls, 1, 1000);
	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.naddrs, 2);
	CHECK(memcmp(r.addrs[0].addr, "\x0a\x01\x02\x03", 4) == 0);
	CHECK_EQ(r.addrs[1].family, AF_INET6);
	dns_resolve(g.d, &q, "myalias", on_result, &r);
	run_until(g.l, &r.calls, 2, 1000);
	CHECK_EQ(r.naddrs, 1);

	const char *lits[] = { "192.0.2.55", "::1", "[2001:db8::1]" };
	for (int i = 0; i < 3; i++) {
		dns_resolve(g.d, &q, lits[i], on_result, &r);
		CHECK_EQ(r.calls, 2 + i);
		run_until(g.l, &r.calls, 3 + i, 1000);
		CHECK_EQ(r.err, 0);
		CHECK_EQ(r.naddrs, 1);
	}
	CHECK_EQ(r.addrs[0].family, AF_INET6);
	CHECK_EQ(g.f.queries, 0);

	/* no hosts entry needed for localhost */
	dns_resolve(g.d, &q, "api.LOCALHOST", on_result, &r);
	run_until(g.l, &r.calls, 6, 1000);
	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.naddrs, 2);
	CHECK(memcmp(r.addrs[0].addr, "\x7f\x00\x00\x01", 4) == 0);
	CHECK_EQ(g.f.queries, 0);

	CHECK_EQ(dns_resolve(g.d, &q, "bad name", on_result, &r), ERR_INVAL);
	CHECK_EQ(dns_resolve(g.d, &q, "", on_result, &r), ERR_INVAL);
	CHECK_EQ(dns_resolve(g.d, &q, "a..b", on_result, &r), ERR_INVAL);
	CHECK_EQ(dns_resolve(g.d, &q, "[::1", on_result, &r), ERR_INVAL);
	rig_close(&g);
}

/* Every fd the resolver opens is non-blocking and close-on-exec. */
static void test_sockets_nonblock_cloexec(void)
{
	struct rig g;
	struct result r = { 0 };
	struct dns_query q = { 0 };
	int seen = 0;

	CHECK_EQ(rig_open(&g, FAKE_SILENT, 1000, 1), 0);
	int before[256];
	for (int fd = 0; fd < 256; fd++)
		before[fd] = fcntl(fd, F_GETFD) != -1;
	dns_resolve(g.d, &q, "fds.example", on_result, &r);
	for (int fd = 0; fd < 256; fd++) {
		if (before[fd] || fcntl(fd, F_GETFD) == -1)
			continue;
		seen++;
		CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
	}
	CHECK_EQ(seen, 1);
	dns_cancel(g.d, &q);
	rig_close(&g);
}

/* The cache is bounded and evicts its oldest entry; the number of names
 * in flight is bounded too. */
static void test_cache_and_inflight_bounds(void)
{
	static struct dns_query qs[LIM_DNS_INFLIGHT + 1];
	struct rig g;
	struct result r = { 0 };
	struct dns_query q = { 0 };
	char name[32];
	int sent;

	CHECK_EQ(rig_open(&g, FAKE_OK, 1000, 1), 0);
	for (int i = 0; i <= LIM_DNS_CACHE; i++) {
		snprintf(name, sizeof name, "n%d.example", i);
		dns_resolve(g.d, &q, name, on_result, &r);
		run_until(g.l, &r.calls, i + 1, 1000);
		CHECK_EQ(r.err, 0);
	}
	sent = g.f.queries;
	CHECK_EQ(sent, 2 * (LIM_DNS_CACHE + 1));
	dns_resolve(g.d, &q, "n1.example", on_result, &r);      /* cached */
	run_until(g.l, &r.calls, LIM_DNS_CACHE + 2, 1000);
	CHECK_EQ(g.f.queries, sent);
	dns_resolve(g.d, &q, "n0.example", on_result, &r);      /* evicted */
	run_until(g.l, &r.calls, LIM_DNS_CACHE + 3, 1000);
	CHECK_EQ(r.err, 0);
	CHECK_EQ(g.f.queries, sent + 2);

	g.f.mode = FAKE_SILENT;
	for (int i = 0; i < LIM_DNS_INFLIGHT; i++) {
		snprintf(name, sizeof name, "busy%d.example", i);
		CHECK_EQ(dns_resolve(g.d, &qs[i], name, on_result, &r), 0);
	}
	CHECK_EQ(dns_resolve(g.d, &qs[LIM_DNS_INFLIGHT], "one-more.example",
	                     on_result, &r), ERR_TOOBIG);
	/* joining a name already in flight costs nothing */
	CHECK_EQ(dns_resolve(g.d, &qs[LIM_DNS_INFLIGHT], "busy0.example",
	                     on_result, &r), 0);
	rig_close(&g);
}

/* resolv.conf's attempts:N when the caller sets none. */
static void test_resolv_conf_attempts(void)
{
	struct loop *l = loop_new();
	struct fake f;
	struct dns_conf c = { 0 };
	struct result r = { 0 };
	struct dns_query q = { 0 };
	struct dns *d;

	CHECK_EQ(fake_open(&f, l, "127.0.0.1", 0, FAKE_SILENT), 0);
	c.resolv_conf = write_file("resolv.conf", "nameserver 127.0.0.1\n"
	                           "options ndots:2 attempts:3 bogus\n");
	c.hosts = write_file("hosts", "");
	c.port = f.port;
	c.timeout_ms = 50;
	d = dns_new(l, &c);
	dns_resolve(d, &q, "quiet.example", on_result, &r);
	run_until(l, &r.calls, 1, 2000);
	CHECK_EQ(r.err, ERR_TIMEOUT);
	CHECK_EQ(f.queries, 6);
	dns_free(d);
	fake_close(&f, l);
	loop_free(l);
}

int main(void)
{
	RUN(test_resolve_and_cache);
	RUN(test_ttl_zero_is_not_cached);
	RUN(test_nxdomain);
	RUN(test_timeout);
	RUN(test_hostile_answers_ignored);
	RUN(test_one_family_is_enough);
	RUN(test_nameserver_rotation);
	RUN(test_cancel_and_coalesce);
	RUN(test_hosts_and_literals_skip_the_network);
	RUN(test_sockets_nonblock_cloexec);
	RUN(test_cache_and_inflight_bounds);
	RUN(test_resolv_conf_attempts);
	return harness_done("dns_net");
}
