#include "dns.h"

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
#include "err.h"
#include "harness.h"
#include "limits.h"
#include "loop.h"

static const uint8_t V6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

static int parse(const struct pkt *p, unsigned id, const char *name,
                 int qtype, struct dns_answer *a)
{
	return dns_parse_answer(p->b, p->n, (uint16_t)id, name, qtype, a);
}

static void answer_a(struct pkt *p, unsigned id, const char *name)
{
	pk_header(p, id, PK_QR, 1, 2, 0, 0);
	pk_question(p, name, DNS_TYPE_A);
	pk_a(p, PK_QNAME, 300, 192, 0, 2, 1);
	pk_a(p, PK_QNAME, 60, 192, 0, 2, 2);
}

/* ---------------------------------------------------------------- parser */

static void test_parse_a_and_aaaa(void)
{
	struct pkt p;
	struct dns_answer a;

	answer_a(&p, 0x1234, "example.com");
	CHECK_EQ(parse(&p, 0x1234, "example.com", DNS_TYPE_A, &a), 0);
	CHECK_EQ(a.naddrs, 2);
	CHECK_EQ(a.addrs[0].family, AF_INET);
	CHECK(memcmp(a.addrs[0].addr, "\xc0\x00\x02\x01", 4) == 0);
	CHECK(memcmp(a.addrs[1].addr, "\xc0\x00\x02\x02", 4) == 0);
	CHECK_EQ(a.ttl, 60);
	/* names compare case-insensitively, a trailing dot is the same name */
	CHECK_EQ(parse(&p, 0x1234, "EXAMPLE.com.", DNS_TYPE_A, &a), 0);

	pk_header(&p, 7, PK_QR, 1, 1, 0, 0);
	pk_question(&p, "Example.COM", DNS_TYPE_AAAA);
	pk_aaaa(&p, PK_QNAME, 0x80000000u, V6);  /* top bit: TTL 0 */
	CHECK_EQ(parse(&p, 7, "example.com", DNS_TYPE_AAAA, &a), 0);
	CHECK_EQ(a.naddrs, 1);
	CHECK_EQ(a.addrs[0].family, AF_INET6);
	CHECK(memcmp(a.addrs[0].addr, V6, 16) == 0);
	CHECK_EQ(a.ttl, 0);
}

/* CNAMEs in any order, compressed; an A record for a name off the chain
 * (cache poisoning attempt) is ignored. */
static void test_parse_cname_chain(void)
{
	struct pkt p;
	struct dns_answer a;
	int c1, c2;

	pk_header(&p, 1, PK_QR, 1, 4, 0, 0);
	pk_question(&p, "www.example.com", DNS_TYPE_A);
	c1 = pk_cname(&p, PK_QNAME, 500, "edge.cdn.net");
	pk_a(&p, PK_QNAME + 4, 10, 6, 6, 6, 6);         /* example.com */
	c2 = (int)p.n + 2 + 10;
	pk_cname(&p, c1, 400, "host.cdn.net");
	pk_a(&p, c2, 200, 198, 51, 100, 7);
	CHECK_EQ(parse(&p, 1, "www.example.com", DNS_TYPE_A, &a), 0);
	CHECK_EQ(a.naddrs, 1);
	CHECK(memcmp(a.addrs[0].addr, "\xc6\x33\x64\x07", 4) == 0);
	CHECK_EQ(a.ttl, 200);

	/* a CNAME to a name with no address: NODATA, not an error */
	pk_header(&p, 1, PK_QR, 1, 1, 0, 0);
	pk_question(&p, "www.example.com", DNS_TYPE_A);
	pk_cname(&p, PK_QNAME, 500, "nowhere.example");
	CHECK_EQ(parse(&p, 1, "www.example.com", DNS_TYPE_A, &a), 0);
	CHECK_EQ(a.naddrs, 0);
}

/* c0 -> c1 -> ... -> c<links>, which has the address. */
static int parse_chain(int links, struct dns_answer *a)
{
	struct pkt p;
	int at = PK_QNAME;

	pk_header(&p, 1, PK_QR, 1, (unsigned)links + 1, 0, 0);
	pk_question(&p, "c0.test", DNS_TYPE_A);
	for (int i = 1; i <= links; i++) {
		char name[16];

		snprintf(name, sizeof name, "c%d.test", i);
		at = pk_cname(&p, at, 5, name);
	}
	pk_a(&p, at, 5, 1, 2, 3, 4);
	return parse(&p, 1, "c0.test", DNS_TYPE_A, a);
}

static void test_parse_cname_loops_and_depth(void)
{
	struct pkt p;
	struct dns_answer a;
	int b;

	/* a -> b -> a */
	pk_header(&p, 1, PK_QR, 1, 2, 0, 0);
	pk_question(&p, "a.test", DNS_TYPE_A);
	b = pk_cname(&p, PK_QNAME, 5, "b.test");
	pk_u16(&p, 0xc000u | (unsigned)b);
	pk_rr_fixed(&p, DNS_TYPE_CNAME, 5, 2);
	pk_u16(&p, 0xc000u | PK_QNAME);
	CHECK_EQ(parse(&p, 1, "a.test", DNS_TYPE_A, &a), ERR_PROTO);

	/* a chain at the limit resolves, one link more is refused */
	CHECK_EQ(parse_chain(LIM_DNS_CNAME_DEPTH, &a), 0);
	CHECK_EQ(a.naddrs, 1);
	CHECK_EQ(parse_chain(LIM_DNS_CNAME_DEPTH + 1, &a), ERR_PROTO);
}

static void test_parse_not_our_answer(void)
{
	struct pkt p;
	struct dns_answer a;

	answer_a(&p, 0x1234, "example.com");
	CHECK_EQ(parse(&p, 0x1235, "example.com", DNS_TYPE_A, &a), ERR_PROTO);
	CHECK_EQ(parse(&p, 0x1234, "example.org", DNS_TYPE_A, &a), ERR_PROTO);
	CHECK_EQ(parse(&p, 0x1234, "example.co", DNS_TYPE_A, &a), ERR_PROTO);
	CHECK_EQ(parse(&p, 0x1234, "example.com", DNS_TYPE_AAAA, &a),
	         ERR_PROTO);
	p.b[2] &= 0x7f;                                 /* a query, QR=0 */
	CHECK_EQ(parse(&p, 0x1234, "example.com", DNS_TYPE_A, &a), ERR_PROTO);
	answer_a(&p, 0x1234, "example.com");
	p.b[5] = 2;                                     /* QDCOUNT 2 */
	CHECK_EQ(parse(&p, 0x1234, "example.com", DNS_TYPE_A, &a), ERR_PROTO);
	answer_a(&p, 0x1234, "example.com");
	p.b[PK_QNAME + 13 + 3] = 3;                     /* class CH */
	CHECK_EQ(parse(&p, 0x1234, "example.com", DNS_TYPE_A, &a), ERR_PROTO);
	/* "example.com" as one label holding a dot is another name */
	pk_header(&p, 1, PK_QR, 1, 0, 0, 0);
	pk_u8(&p, 11);
	pk_raw(&p, "example.com", 11);
	pk_u8(&p, 0);
	pk_u16(&p, DNS_TYPE_A);
	pk_u16(&p, 1);
	CHECK_EQ(parse(&p, 1, "example.com", DNS_TYPE_A, &a), ERR_PROTO);
}

static void test_parse_rcodes_and_truncation(void)
{
	struct pkt p;
	struct dns_answer a;

	pk_header(&p, 9, PK_QR | 3, 1, 0, 0, 0);
	pk_question(&p, "gone.example", DNS_TYPE_A);
	CHECK_EQ(parse(&p, 9, "gone.example", DNS_TYPE_A, &a), ERR_DNS);
	/* a spoofed NXDOMAIN must still echo our question */
	CHECK_EQ(parse(&p, 9, "other.example", DNS_TYPE_A, &a), ERR_PROTO);
	p.b[3] = (PK_QR & 0xff) | 2;                    /* SERVFAIL */
	CHECK_EQ(parse(&p, 9, "gone.example", DNS_TYPE_A, &a), ERR_REFUSED);
	p.b[3] = (PK_QR & 0xff) | 5;                    /* REFUSED */
	CHECK_EQ(parse(&p, 9, "gone.example", DNS_TYPE_A, &a), ERR_REFUSED);
	answer_a(&p, 9, "example.com");
	p.b[2] |= 0x02;                                 /* TC */
	CHECK_EQ(parse(&p, 9, "example.com", DNS_TYPE_A, &a), ERR_TOOBIG);
	/* NOERROR without records: the name exists, no such type */
	pk_header(&p, 9, PK_QR, 1, 0, 0, 0);
	pk_question(&p, "v4only.example", DNS_TYPE_AAAA);
	CHECK_EQ(parse(&p, 9, "v4only.example", DNS_TYPE_AAAA, &a), 0);
	CHECK_EQ(a.naddrs, 0);
}

/* Every prefix of a good answer is rejected (a datagram is whole or
 * nothing), without reading past it: ASan checks each with an exact-size
 * heap copy. */
static void test_parse_every_truncation(void)
{
	struct pkt p;
	struct dns_answer a;
	int c1;

	pk_header(&p, 5, PK_QR, 1, 3, 0, 0);
	pk_question(&p, "www.example.com", DNS_TYPE_A);
	c1 = pk_cname(&p, PK_QNAME, 50, "x.example.com");
	pk_a(&p, c1, 30, 1, 2, 3, 4);
	pk_aaaa(&p, c1, 30, V6);
	CHECK_EQ(parse(&p, 5, "www.example.com", DNS_TYPE_A, &a), 0);
	for (size_t n = 0; n < p.n; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		int rc;

		memcpy(copy, p.b, n);
		rc = dns_parse_answer(copy, n, 5, "www.example.com",
		                      DNS_TYPE_A, &a);
		if (rc != ERR_PROTO)
			CHECK_EQ(rc, ERR_PROTO);
		free(copy);
	}
}

static void test_parse_hostile_names(void)
{
	struct pkt p;
	struct dns_answer a;

	/* an answer owner that points at itself */
	answer_a(&p, 1, "example.com");
	p.n -= 16;
	pk_u16(&p, 0xc000u | (unsigned)p.n);
	pk_rr_fixed(&p, DNS_TYPE_A, 5, 4);
	pk_u32(&p, 0x01020304);
	CHECK_EQ(parse(&p, 1, "example.com", DNS_TYPE_A, &a), ERR_PROTO);

	/* a forward pointer (to the next record) */
	answer_a(&p, 1, "example.com");
	p.b[p.n - 32] = 0xc0;
	p.b[p.n - 31] = (uint8_t)(p.n - 16);
	CHECK_EQ(parse(&p, 1, "example.com", DNS_TYPE_A, &a), ERR_PROTO);

	/* two names pointing at each other: a loop without forward jumps
	 * from the first one's view */
	pk_header(&p, 1, PK_QR, 1, 1, 0, 0);
	pk_question(&p, "l.test", DNS_TYPE_A);
	pk_u8(&p, 1);
	pk_u8(&p, 'x');
	pk_u16(&p, 0xc000u | (unsigned)(p.n - 2));      /* back to "x" */
	pk_rr_fixed(&p, DNS_TYPE_A, 5, 4);
	pk_u32(&p, 0);
	CHECK_EQ(parse(&p, 1, "l.test", DNS_TYPE_A, &a), ERR_PROTO);

	/* reserved label types 0x40 and 0x80 */
	answer_a(&p, 1, "example.com");
	p.b[p.n - 32] = 0x40;
	CHECK_EQ(parse(&p, 1, "example.com", DNS_TYPE_A, &a), ERR_PROTO);
	p.b[p.n - 32] = 0x80;
	CHECK_EQ(parse(&p, 1, "example.com", DNS_TYPE_A, &a), ERR_PROTO);

	/* an owner name of 5 x 63-byte labels: over 255 bytes */
	pk_header(&p, 1, PK_QR, 1, 1, 0, 0);
	pk_question(&p, "big.test", DNS_TYPE_A);
	for (int i = 0; i < 5; i++) {
		pk_u8(&p, 63);
		for (int j = 0; j < 63; j++)
			pk_u8(&p, 'a');
	}
	pk_u8(&p, 0);
	pk_rr_fixed(&p, DNS_TYPE_A, 5, 4);
	pk_u32(&p, 0);
	CHECK_EQ(parse(&p, 1, "big.test", DNS_TYPE_A, &a), ERR_PROTO);
}

static void test_parse_counts_and_rdlength(void)
{
	struct pkt p;
	struct dns_answer a;

	answer_a(&p, 1, "example.com");
	p.b[7] = 3;                                     /* ANCOUNT 3 of 2 */
	CHECK_EQ(parse(&p, 1, "example.com", DNS_TYPE_A, &a), ERR_PROTO);
	answer_a(&p, 1, "example.com");
	p.b[6] = 0xff;                                  /* ANCOUNT 65282 */
	CHECK_EQ(parse(&p, 1, "example.com", DNS_TYPE_A, &a), ERR_PROTO);
	answer_a(&p, 1, "example.com");
	p.b[11] = 40;                                   /* ARCOUNT 40 */
	CHECK_EQ(parse(&p, 1, "example.com", DNS_TYPE_A, &a), ERR_PROTO);

	answer_a(&p, 1, "example.com");
	p.b[p.n - 5] = 5;                               /* A with RDLEN 5 */
	CHECK_EQ(parse(&p, 1, "example.com", DNS_TYPE_A, &a), ERR_PROTO);
	answer_a(&p, 1, "example.com");
	p.b[p.n - 5] = 3;                               /* A with RDLEN 3 */
	CHECK_EQ(parse(&p, 1, "example.com", DNS_TYPE_A, &a), ERR_PROTO);
	answer_a(&p, 1, "example.com");
	p.b[p.n - 6] = 1;                               /* RDLEN past end */
	CHECK_EQ(parse(&p, 1, "example.com", DNS_TYPE_A, &a), ERR_PROTO);

	/* a CNAME whose name is shorter than its RDLENGTH */
	pk_header(&p, 1, PK_QR, 1, 1, 0, 0);
	pk_question(&p, "a.test", DNS_TYPE_A);
	pk_u16(&p, 0xc000u | PK_QNAME);
	pk_rr_fixed(&p, DNS_TYPE_CNAME, 5, 9);
	pk_name(&p, "b.test");
	pk_u8(&p, 0);
	CHECK_EQ(parse(&p, 1, "a.test", DNS_TYPE_A, &a), ERR_PROTO);
	p.b[p.n - 10] = 7;                              /* ... and longer */
	p.n--;
	CHECK_EQ(parse(&p, 1, "a.test", DNS_TYPE_A, &a), ERR_PROTO);
	p.b[p.n - 9] = 8;
	CHECK_EQ(parse(&p, 1, "a.test", DNS_TYPE_A, &a), 0);
}

static void test_parse_keeps_at_most_addrs_max(void)
{
	struct pkt p;
	struct dns_answer a;

	pk_header(&p, 1, PK_QR, 1, 20, 0, 0);
	pk_question(&p, "many.test", DNS_TYPE_A);
	for (int i = 0; i < 20; i++)
		pk_a(&p, PK_QNAME, (uint32_t)(100 - i), 10, 0, 0, (uint8_t)i);
	CHECK_EQ(parse(&p, 1, "many.test", DNS_TYPE_A, &a), 0);
	CHECK_EQ(a.naddrs, DNS_ADDRS_MAX);
	CHECK_EQ(a.ttl, 81);            /* the minimum over all records */
}

static void test_build_query_and_names(void)
{
	static const uint8_t want[] = {
		0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
		3, 'c', 'o', 'm', 0, 0, 28, 0, 1 };
	char norm[DNS_NAME_MAX + 1], long_name[300];
	uint8_t buf[512];

	CHECK_EQ(dns_build_query(buf, sizeof buf, 0xabcd, "WWW.Example.com.",
	                         DNS_TYPE_AAAA), (int)sizeof want);
	CHECK(memcmp(buf, want, sizeof want) == 0);
	CHECK_EQ(dns_build_query(buf, 20, 1, "www.example.com", 1), ERR_TOOBIG);
	CHECK_EQ(dns_build_query(buf, sizeof buf, 1, "a..b", 1), ERR_INVAL);

	CHECK_EQ(dns_name_normalize("Host-1.Example_x.", norm), 16);
	CHECK_STR(norm, "host-1.example_x");
	CHECK_EQ(dns_name_normalize("", norm), ERR_INVAL);
	CHECK_EQ(dns_name_normalize(".", norm), ERR_INVAL);
	CHECK_EQ(dns_name_normalize(".a", norm), ERR_INVAL);
	CHECK_EQ(dns_name_normalize("a b", norm), ERR_INVAL);
	CHECK_EQ(dns_name_normalize("a/b", norm), ERR_INVAL);
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	CHECK_EQ(dns_name_normalize(long_name, norm), ERR_INVAL);
	long_name[63] = '\0';
	CHECK_EQ(dns_name_normalize(long_name, norm), 63);
	for (int i = 0; i < 254; i++)
		long_name[i] = i % 2 ? '.' : 'a';
	long_name[253] = '\0';
	CHECK_EQ(dns_name_normalize(long_name, norm), 253);
	long_name[253] = '.';
	long_name[254] = 'a';
	long_name[255] = '\0';
	CHECK_EQ(dns_name_normalize(long_name, norm), ERR_INVAL);
}

static void test_literals(void)
{
	struct dns_addr a;

	CHECK_EQ(dns_parse_literal("192.0.2.7", &a), 0);
	CHECK_EQ(a.family, AF_INET);
	CHECK(memcmp(a.addr, "\xc0\x00\x02\x07", 4) == 0);
	CHECK_EQ(dns_parse_literal("::1", &a), 0);
	CHECK_EQ(a.family, AF_INET6);
	CHECK_EQ(a.addr[15], 1);
	CHECK_EQ(dns_parse_literal("[2001:db8::1]", &a), 0);
	CHECK(memcmp(a.addr, V6, 16) == 0);
	CHECK_EQ(dns_parse_literal("1.2.3", &a), ERR_INVAL);
	CHECK_EQ(dns_parse_literal("[1.2.3.4]", &a), ERR_INVAL);
	CHECK_EQ(dns_parse_literal("[::1", &a), ERR_INVAL);
	CHECK_EQ(dns_parse_literal("example.com", &a), ERR_INVAL);
}


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

static void run_resolver_tests(void)
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
}

int main(void)
{
	RUN(test_parse_a_and_aaaa);
	RUN(test_parse_cname_chain);
	RUN(test_parse_cname_loops_and_depth);
	RUN(test_parse_not_our_answer);
	RUN(test_parse_rcodes_and_truncation);
	RUN(test_parse_every_truncation);
	RUN(test_parse_hostile_names);
	RUN(test_parse_counts_and_rdlength);
	RUN(test_parse_keeps_at_most_addrs_max);
	RUN(test_build_query_and_names);
	RUN(test_literals);
	run_resolver_tests();
	return harness_done("dns");
}
