/*
 * img: picture types from magic bytes (PNG: ISO 15948 §5.2-5.3, 11.2.2;
 * JPEG: ITU T.81 B.1; GIF: GIF89a §17-18; WebP: RFC 9649 §2-3).
 */
#include "core/img.h"

#include <string.h>

#include "core/png.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[1] << 8 | p[0];
}

/* The signature and the IHDR chunk, which must come first: 8 + 25. */
static int is_png(const uint8_t *p, size_t n)
{
	static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', 0x0d, 0x0a,
	                                0x1a, 0x0a };
	uint32_t w, h;

	if (n < 33 || memcmp(p, sig, 8) || be32(p + 8) != 13 ||
	    memcmp(p + 12, "IHDR", 4))
		return 0;
	w = be32(p + 16);
	h = be32(p + 20);
	if (!w || !h || w > 0x7fffffffu || h > 0x7fffffffu)
		return 0;
	/* the CRC covers the type and the data: 17 bytes */
	return png_crc32(0, p + 12, 17) == be32(p + 29);
}

/* SOI, then the first segment's marker and its length (>= 2). Markers
 * without a segment (RSTn, SOI, EOI, TEM) or fill cannot come there. */
static int is_jpeg(const uint8_t *p, size_t n)
{
	uint8_t m;

	if (n < 6 || p[0] != 0xff || p[1] != 0xd8 || p[2] != 0xff)
		return 0;
	m = p[3];
	if (m < 0xc0 || m == 0xff || (m >= 0xd0 && m <= 0xd9))
		return 0;
	return ((unsigned)p[4] << 8 | p[5]) >= 2;
}

/* The header and the logical screen descriptor: 6 + 7 bytes. */
static int is_gif(const uint8_t *p, size_t n)
{
	if (n < 13 || (memcmp(p, "GIF87a", 6) && memcmp(p, "GIF89a", 6)))
		return 0;
	return (p[6] | p[7]) && (p[8] | p[9]);
}

/* RIFF's size counts what follows it, so a whole file is size + 8
 * bytes; a first chunk's header (fourcc and size) must be there. */
static int is_webp(const uint8_t *p, size_t n)
{
	if (n < 20 || memcmp(p, "RIFF", 4) || memcmp(p + 8, "WEBP", 4))
		return 0;
	if ((uint64_t)le32(p + 4) + 8 != n)
		return 0;
	return !memcmp(p + 12, "VP8 ", 4) || !memcmp(p + 12, "VP8L", 4) ||
	       !memcmp(p + 12, "VP8X", 4);
}

const char *img_sniff(const void *p, size_t n)
{
	const uint8_t *b = p;

	if (!b || !n)
		return NULL;
	if (is_png(b, n))
		return "image/png";
	if (is_jpeg(b, n))
		return "image/jpeg";
	if (is_gif(b, n))
		return "image/gif";
	if (is_webp(b, n))
		return "image/webp";
	return NULL;
}

int img_ok(const struct img *im)
{
	const char *t;

	if (!im || !im->type || !im->p || !im->n || im->n > IMG_MAX_BYTES)
		return 0;
	t = img_sniff(im->p, im->n);
	return t && !strcmp(t, im->type);
}
