/*
 * dns_pkt: a tiny DNS packet writer for tests and the fuzz seed generator.
 * Header-only (static functions) so each test program takes what it uses.
 */
#ifndef LETTAMX_TESTS_DNS_PKT_H
#define LETTAMX_TESTS_DNS_PKT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct pkt {
	uint8_t b[2048];
	size_t n;
};

static inline void pk_u8(struct pkt *p, unsigned v)
{
	if (p->n < sizeof p->b)
		p->b[p->n++] = (uint8_t)v;
}

static inline void pk_u16(struct pkt *p, unsigned v)
{
	pk_u8(p, v >> 8);
	pk_u8(p, v);
}

static inline void pk_u32(struct pkt *p, uint32_t v)
{
	pk_u16(p, v >> 16);
	pk_u16(p, v & 0xffff);
}

static inline void pk_raw(struct pkt *p, const void *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pk_u8(p, ((const uint8_t *)d)[i]);
}

/* Labels of a dotted name; ends with the root label unless `ptr` >= 0, in
 * which case it ends with a compression pointer to `ptr`. */
static inline void pk_name_ptr(struct pkt *p, const char *name, int ptr)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t n = dot ? (size_t)(dot - name) : strlen(name);

		pk_u8(p, (unsigned)n);
		pk_raw(p, name, n);
		name += n;
		if (*name == '.')
			name++;
	}
	if (ptr >= 0)
		pk_u16(p, 0xc000u | (unsigned)ptr);
	else
		pk_u8(p, 0);
}

static inline void pk_name(struct pkt *p, const char *name)
{
	pk_name_ptr(p, name, -1);
}

static inline void pk_header(struct pkt *p, unsigned id, unsigned flags,
                             unsigned qd, unsigned an, unsigned ns,
                             unsigned ar)
{
	p->n = 0;
	pk_u16(p, id);
	pk_u16(p, flags);
	pk_u16(p, qd);
	pk_u16(p, an);
	pk_u16(p, ns);
	pk_u16(p, ar);
}

static inline void pk_question(struct pkt *p, const char *name, unsigned type)
{
	pk_name(p, name);
	pk_u16(p, type);
	pk_u16(p, 1);
}

/* Type, class IN, TTL and RDLENGTH after an owner name already written. */
static inline void pk_rr_fixed(struct pkt *p, unsigned type, uint32_t ttl,
                               unsigned rdlen)
{
	pk_u16(p, type);
	pk_u16(p, 1);
	pk_u32(p, ttl);
	pk_u16(p, rdlen);
}

/* A record owned by the name at offset `owner` (compressed). */
static inline void pk_a(struct pkt *p, int owner, uint32_t ttl, uint8_t a,
                        uint8_t b, uint8_t c, uint8_t d)
{
	pk_u16(p, 0xc000u | (unsigned)owner);
	pk_rr_fixed(p, 1, ttl, 4);
	pk_u8(p, a);
	pk_u8(p, b);
	pk_u8(p, c);
	pk_u8(p, d);
}

static inline void pk_aaaa(struct pkt *p, int owner, uint32_t ttl,
                           const uint8_t *a16)
{
	pk_u16(p, 0xc000u | (unsigned)owner);
	pk_rr_fixed(p, 28, ttl, 16);
	pk_raw(p, a16, 16);
}

/* CNAME owned by `owner` pointing at `target` (uncompressed). Returns the
 * offset of the target name, for later records to point at. */
static inline int pk_cname(struct pkt *p, int owner, uint32_t ttl,
                           const char *target)
{
	size_t at;

	pk_u16(p, 0xc000u | (unsigned)owner);
	pk_rr_fixed(p, 5, ttl, (unsigned)strlen(target) + 2);
	at = p->n;
	pk_name(p, target);
	return (int)at;
}

#define PK_QNAME 12     /* offset of the question name */
#define PK_QR    0x8180u   /* response, RD, RA, NOERROR */

#endif
