/*
 * png: two-colour PNGs (see png.h).
 *
 *   signature | IHDR (w, h, depth 1, colour type 3) | PLTE (bg, fg) |
 *   IDAT (zlib: stored deflate blocks of the rows, each row a filter
 *   byte 0 and the bits, most significant first) | IEND
 */
#include "core/png.h"

#include <string.h>

#include "core/err.h"

uint32_t png_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc >> 1 ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static size_t row_bytes(int w)
{
	return 1 + ((size_t)w + 7) / 8;
}

/* The IDAT's data: zlib head, a stored block per row, Adler-32. */
static size_t idat_size(int w, int h)
{
	return 2 + (5 + row_bytes(w)) * (size_t)h + 4;
}

size_t png_size(int w, int h)
{
	/* signature, IHDR, PLTE, IDAT's frame and data, IEND */
	return 8 + 25 + 18 + 12 + idat_size(w, h) + 12;
}

struct out {
	uint8_t *p;
	size_t n, cap;
	int err;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (o->err || n > o->cap - o->n) {
		o->err = ERR_TOOBIG;
		return;
	}
	memcpy(o->p + o->n, p, n);
	o->n += n;
}

static void put32(struct out *o, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
	                 (uint8_t)(v >> 8), (uint8_t)v };

	put(o, b, 4);
}

/* A chunk's CRC covers its type and data, written since `start`. */
static void chunk_end(struct out *o, size_t start)
{
	if (!o->err)
		put32(o, png_crc32(0, o->p + start, o->n - start));
}

static void header(struct out *o, int w, int h, const uint8_t bg[3],
                   const uint8_t fg[3])
{
	static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n',
	                                0x1a, '\n' };
	static const uint8_t ihdr_tail[5] = { 1, 3, 0, 0, 0 };
	size_t at;

	put(o, sig, sizeof sig);
	put32(o, 13);
	at = o->n;
	put(o, "IHDR", 4);
	put32(o, (uint32_t)w);
	put32(o, (uint32_t)h);
	put(o, ihdr_tail, sizeof ihdr_tail);    /* depth 1, palette */
	chunk_end(o, at);
	put32(o, 6);
	at = o->n;
	put(o, "PLTE", 4);
	put(o, bg, 3);
	put(o, fg, 3);
	chunk_end(o, at);
}

/* Row y: filter 0, then the bits. */
static void row(uint8_t *r, int w, int y, int (*on)(void *, int, int),
                void *arg)
{
	memset(r, 0, row_bytes(w));
	for (int x = 0; x < w; x++)
		if (on(arg, x, y))
			r[1 + x / 8] |= (uint8_t)(0x80 >> (x % 8));
}

int png_two_colour(uint8_t *out, size_t cap, int w, int h,
                   const uint8_t bg[3], const uint8_t fg[3],
                   int (*on)(void *arg, int x, int y), void *arg)
{
	struct out o = { out, 0, cap, 0 };
	uint8_t r[1 + PNG_MAX_SIDE / 8];
	size_t rb = row_bytes(w), at;
	uint32_t a = 1, b = 0;

	if (w < 1 || h < 1 || w > PNG_MAX_SIDE || h > PNG_MAX_SIDE)
		return ERR_INVAL;
	if (png_size(w, h) > cap)
		return ERR_TOOBIG;
	header(&o, w, h, bg, fg);
	put32(&o, (uint32_t)idat_size(w, h));
	at = o.n;
	put(&o, "IDAT", 4);
	put(&o, "\x78\x01", 2);                 /* zlib, no compression */
	for (int y = 0; y < h; y++) {
		/* a stored block per row (BFINAL on the last), LEN, NLEN */
		uint8_t head[5] = { y == h - 1, (uint8_t)rb, (uint8_t)(rb >> 8),
		                    (uint8_t)~rb, (uint8_t)(~rb >> 8) };

		row(r, w, y, on, arg);
		put(&o, head, 5);
		put(&o, r, rb);
		for (size_t i = 0; i < rb; i++) {
			a = (a + r[i]) % 65521;
			b = (b + a) % 65521;
		}
	}
	put32(&o, b << 16 | a);
	chunk_end(&o, at);
	put32(&o, 0);
	at = o.n;
	put(&o, "IEND", 4);
	chunk_end(&o, at);
	return o.err ? o.err : (int)o.n;
}
