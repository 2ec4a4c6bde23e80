/*
 * test_dns: the sans-I/O wire format (query writer, answer parser with
 * every hostile case, names, literals). The resolver against fake
 * nameservers is test_dns_net.c.
 */
#include "net/dns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns_pkt.h"
#include "core/err.h"
#include "harness.h"
#include "core/limits.h"

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

	/* the address record before the CNAME that leads to it */
	pk_header(&p, 1, PK_QR, 1, 2, 0, 0);
	pk_question(&p, "a.test", DNS_TYPE_A);
	c1 = (int)p.n;
	pk_name(&p, "b.test");
	pk_rr_fixed(&p, DNS_TYPE_A, 9, 4);
	pk_u32(&p, 0x0a000001);
	pk_u16(&p, 0xc000u | PK_QNAME);
	pk_rr_fixed(&p, DNS_TYPE_CNAME, 99, 2);
	pk_u16(&p, 0xc000u | (unsigned)c1);
	CHECK_EQ(parse(&p, 1, "a.test", DNS_TYPE_A, &a), 0);
	CHECK_EQ(a.naddrs, 1);
	CHECK_EQ(a.ttl, 9);

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
	return harness_done("dns");
}
