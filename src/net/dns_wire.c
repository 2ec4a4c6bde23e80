/*
 * dns_wire: DNS messages as bytes, without sockets (RFC 1035 section 4).
 *
 * The parser trusts nothing: every read is bounds-checked against the
 * packet, compression pointers must point strictly before the start of
 * the name part they continue (which makes loops impossible and bounds
 * the work), names stay within 255 wire bytes, counts must fit the
 * packet, and RDLENGTH must match what the record type implies. Names are
 * compared in their uncompressed, lower-cased wire form, so "a.b" as one
 * label never equals "a" "b".
 */
#include "net/dns.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/limits.h"

#define WIRE_NAME_MAX 255       /* RFC 1035 2.3.4 */
#define HDR_LEN       12
#define RR_FIXED      10        /* type, class, ttl, rdlength */
#define RR_MIN        (1 + RR_FIXED)
#define CLASS_IN      1
#define FLAG_QR       0x8000u
#define FLAG_TC       0x0200u
#define FLAG_RD       0x0100u
#define RCODE_NXDOMAIN 3

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int host_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

int dns_name_normalize(const char *name, char *out)
{
	size_t n = strlen(name), label = 0;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > DNS_NAME_MAX)
		return ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		int c = lower((unsigned char)name[i]);

		if (c == '.') {
			if (label == 0)
				return ERR_INVAL;
			label = 0;
		} else if (!host_char(c) || ++label > 63) {
			return ERR_INVAL;
		}
		out[i] = (char)c;
	}
	if (label == 0)
		return ERR_INVAL;
	out[n] = '\0';
	return (int)n;
}

/* Text name to uncompressed lower-case wire form. Returns its length. */
static int name_to_wire(const char *name, uint8_t *out)
{
	char norm[DNS_NAME_MAX + 1];
	int n = dns_name_normalize(name, norm);
	size_t len_at = 0, o = 1;

	if (n < 0)
		return n;
	for (int i = 0; i <= n; i++) {
		if (i == n || norm[i] == '.') {
			out[len_at] = (uint8_t)(o - len_at - 1);
			len_at = o++;
		} else {
			out[o++] = (uint8_t)norm[i];
		}
	}
	out[len_at] = 0;
	return (int)o;
}

int dns_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name,
                    int qtype)
{
	uint8_t wire[WIRE_NAME_MAX + 1];
	int n = name_to_wire(name, wire);

	if (n < 0)
		return n;
	if (cap < (size_t)HDR_LEN + (size_t)n + 4)
		return ERR_TOOBIG;
	memset(buf, 0, HDR_LEN);
	put16(buf, id);
	put16(buf + 2, FLAG_RD);
	put16(buf + 4, 1);
	memcpy(buf + HDR_LEN, wire, (size_t)n);
	put16(buf + HDR_LEN + n, (unsigned)qtype);
	put16(buf + HDR_LEN + n + 2, CLASS_IN);
	return HDR_LEN + n + 4;
}

/* Reads the (possibly compressed) name at *pos into `out` (uncompressed,
 * lower case, at most WIRE_NAME_MAX bytes) and moves *pos past it.
 * Returns the wire length or ERR_PROTO. */
static int name_read(const uint8_t *p, size_t len, size_t *pos, uint8_t *out)
{
	size_t cur = *pos, limit = *pos, n = 0;
	int jumped = 0;

	for (;;) {
		unsigned c;

		if (cur >= len)
			return ERR_PROTO;
		c = p[cur];
		if (c == 0)
			break;
		if ((c & 0xc0) == 0xc0) {
			size_t to;

			if (cur + 1 >= len)
				return ERR_PROTO;
			to = (size_t)(c & 0x3f) << 8 | p[cur + 1];
			if (to >= limit)        /* forward, self or loop */
				return ERR_PROTO;
			if (!jumped)
				*pos = cur + 2;
			jumped = 1;
			limit = cur = to;
			continue;
		}
		if (c & 0xc0)                   /* 0x40, 0x80: reserved */
			return ERR_PROTO;
		if (cur + 1 + c > len || n + 1 + c + 1 > WIRE_NAME_MAX)
			return ERR_PROTO;
		out[n++] = (uint8_t)c;
		for (unsigned i = 0; i < c; i++)
			out[n++] = (uint8_t)lower(p[cur + 1 + i]);
		cur += 1 + c;
	}
	out[n++] = 0;
	if (!jumped)
		*pos = cur + 1;
	return (int)n;
}

struct rr {
	size_t owner;           /* offset of the owner name */
	uint16_t type;
	uint32_t ttl;
	size_t rd;              /* offset of RDATA */
};

struct msg {
	const uint8_t *p;
	size_t len;
	struct rr rr[LIM_DNS_ANSWERS];
	size_t nrr;
};

/* Validates one answer record at *pos and keeps the ones of class IN that
 * matter (A, AAAA, CNAME). */
static int rr_read(struct msg *m, size_t *pos)
{
	uint8_t name[WIRE_NAME_MAX + 1];
	size_t owner = *pos, rd, rdlen, end;
	uint16_t type, class;

	if (name_read(m->p, m->len, pos, name) < 0)
		return ERR_PROTO;
	if (m->len - *pos < RR_FIXED)
		return ERR_PROTO;
	type = get16(m->p + *pos);
	class = get16(m->p + *pos + 2);
	rdlen = get16(m->p + *pos + 8);
	rd = *pos + RR_FIXED;
	if (rdlen > m->len - rd)
		return ERR_PROTO;
	end = rd + rdlen;
	if (type == DNS_TYPE_A && rdlen != 4)
		return ERR_PROTO;
	if (type == DNS_TYPE_AAAA && rdlen != 16)
		return ERR_PROTO;
	if (type == DNS_TYPE_CNAME) {
		size_t q = rd;

		if (name_read(m->p, end, &q, name) < 0 || q != end)
			return ERR_PROTO;
	}
	if (class == CLASS_IN && (type == DNS_TYPE_A ||
	    type == DNS_TYPE_AAAA || type == DNS_TYPE_CNAME)) {
		uint32_t ttl = get32(m->p + *pos + 4);

		if (m->nrr == LIM_DNS_ANSWERS)
			return ERR_PROTO;
		/* RFC 2181 8: a TTL with the top bit set means zero */
		m->rr[m->nrr++] = (struct rr){ owner, type,
		                               ttl > 0x7fffffffu ? 0 : ttl, rd };
	}
	*pos = end;
	return 0;
}

static int owner_is(const struct msg *m, const struct rr *r,
                    const uint8_t *name, int nlen)
{
	uint8_t own[WIRE_NAME_MAX + 1];
	size_t pos = r->owner;
	int n = name_read(m->p, m->len, &pos, own);

	return n == nlen && memcmp(own, name, (size_t)n) == 0;
}

/* Follows CNAMEs from `name` (rewritten in place to the chain's end).
 * Returns the smallest TTL on the way, or ERR_PROTO for a chain too long
 * (a loop included). */
static int64_t chase_cnames(const struct msg *m, uint8_t *name, int *nlen)
{
	uint32_t ttl = UINT32_MAX;
	int depth = 0;

	for (size_t i = 0; i < m->nrr; i++) {
		const struct rr *r = &m->rr[i];
		size_t pos = r->rd;

		if (r->type != DNS_TYPE_CNAME || !owner_is(m, r, name, *nlen))
			continue;
		if (++depth > LIM_DNS_CNAME_DEPTH)
			return ERR_PROTO;
		/* validated by rr_read already */
		*nlen = name_read(m->p, m->len, &pos, name);
		if (r->ttl < ttl)
			ttl = r->ttl;
		i = (size_t)-1;         /* links may come in any order */
	}
	return ttl;
}

static void collect(const struct msg *m, const uint8_t *name, int nlen,
                    int qtype, struct dns_answer *out)
{
	for (size_t i = 0; i < m->nrr; i++) {
		const struct rr *r = &m->rr[i];
		struct dns_addr *a;

		if (r->type != qtype || !owner_is(m, r, name, nlen))
			continue;
		if (r->ttl < out->ttl)
			out->ttl = r->ttl;
		if (out->naddrs == DNS_ADDRS_MAX)
			continue;
		a = &out->addrs[out->naddrs++];
		memset(a, 0, sizeof *a);
		a->family = qtype == DNS_TYPE_A ? AF_INET : AF_INET6;
		memcpy(a->addr, m->p + r->rd, qtype == DNS_TYPE_A ? 4 : 16);
	}
}

/* Header and question: is this the answer to our query at all? Leaves
 * *pos after the question. */
static int check_question(const struct msg *m, uint16_t id, const char *name,
                          int qtype, size_t *pos, uint8_t *want, int *wlen)
{
	uint8_t got[WIRE_NAME_MAX + 1];
	uint16_t flags;
	int n;

	if (m->len < HDR_LEN || get16(m->p) != id)
		return ERR_PROTO;
	flags = get16(m->p + 2);
	if (!(flags & FLAG_QR) || (flags & 0x7800u) != 0 ||
	    get16(m->p + 4) != 1)
		return ERR_PROTO;
	*wlen = name_to_wire(name, want);
	if (*wlen < 0)
		return ERR_INVAL;
	*pos = HDR_LEN;
	n = name_read(m->p, m->len, pos, got);
	if (n != *wlen || memcmp(got, want, (size_t)n) != 0)
		return ERR_PROTO;
	if (m->len - *pos < 4 || get16(m->p + *pos) != qtype ||
	    get16(m->p + *pos + 2) != CLASS_IN)
		return ERR_PROTO;
	*pos += 4;
	return 0;
}

int dns_parse_answer(const uint8_t *pkt, size_t len, uint16_t id,
                     const char *name, int qtype, struct dns_answer *out)
{
	uint8_t want[WIRE_NAME_MAX + 1];
	struct msg m;
	size_t pos, count;
	unsigned flags;
	int64_t ttl;
	int rc, wlen;

	m.p = pkt;
	m.len = len;
	m.nrr = 0;
	memset(out, 0, sizeof *out);
	rc = check_question(&m, id, name, qtype, &pos, want, &wlen);
	if (rc < 0)
		return rc;
	flags = get16(pkt + 2);
	if (flags & FLAG_TC)
		return ERR_TOOBIG;
	if ((flags & 0xf) == RCODE_NXDOMAIN)
		return ERR_DNS;
	if ((flags & 0xf) != 0)
		return ERR_REFUSED;
	count = (size_t)get16(pkt + 6) + get16(pkt + 8) + get16(pkt + 10);
	if (count > (len - pos) / RR_MIN)
		return ERR_PROTO;
	for (size_t i = get16(pkt + 6); i > 0; i--)
		if (rr_read(&m, &pos) < 0)
			return ERR_PROTO;
	ttl = chase_cnames(&m, want, &wlen);
	if (ttl < 0)
		return ERR_PROTO;
	out->ttl = (uint32_t)ttl;
	collect(&m, want, wlen, qtype, out);
	if (out->naddrs == 0)
		out->ttl = 0;
	return 0;
}

int dns_parse_literal(const char *s, struct dns_addr *out)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);

	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, s, out->addr) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		if (n - 2 >= sizeof buf)
			return ERR_INVAL;
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = '\0';
		s = buf;
	}
	if (inet_pton(AF_INET6, s, out->addr) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	memset(out, 0, sizeof *out);
	return ERR_INVAL;
}
