/*
 * png: the two-colour writer makes a PNG a decoder takes: its chunks in
 * order with right CRCs, the pixel data as stored deflate blocks whose
 * rows give back the pattern, an Adler-32 that matches.
 */
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "core/png.h"
#include "harness.h"

static int diag(void *arg, int x, int y)
{
	(void)arg;
	return x == y || x == 9;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Walks the chunks: their types in order, and each CRC checked. */
static int chunks(const uint8_t *b, size_t n, char types[8][5],
                  const uint8_t **idat, size_t *idat_len)
{
	size_t at = 8;
	int k = 0;

	while (at + 12 <= n && k < 8) {
		uint32_t len = be32(b + at);

		if (at + 12 + len > n ||
		    png_crc32(0, b + at + 4, len + 4) != be32(b + at + 8 + len))
			return -1;
		memcpy(types[k], b + at + 4, 4);
		types[k][4] = '\0';
		if (!strcmp(types[k], "IDAT")) {
			*idat = b + at + 8;
			*idat_len = len;
		}
		k++;
		at += 12 + len;
	}
	return at == n ? k : -1;
}

static void test_a_valid_png(void)
{
	static const uint8_t bg[3] = { 1, 2, 3 }, fg[3] = { 200, 100, 50 };
	uint8_t b[2048];
	char types[8][5];
	const uint8_t *d = NULL, *row;
	size_t dn = 0;
	uint32_t a = 1, s = 0;
	int n = png_two_colour(b, sizeof b, 10, 10, bg, fg, diag, NULL);

	CHECK_EQ((size_t)n, png_size(10, 10));
	CHECK(!memcmp(b, "\x89PNG\r\n\x1a\n", 8));
	CHECK_EQ(chunks(b, (size_t)n, types, &d, &dn), 4);
	CHECK_STR(types[0], "IHDR");
	CHECK_STR(types[1], "PLTE");
	CHECK_STR(types[2], "IDAT");
	CHECK_STR(types[3], "IEND");
	CHECK_EQ(be32(b + 16), 10);                     /* width */
	CHECK_EQ(b[24], 1);                             /* bit depth */
	CHECK_EQ(b[25], 3);                             /* palette */
	CHECK(!memcmp(b + 41, bg, 3) && !memcmp(b + 44, fg, 3));
	/* zlib: no compression; 10 stored blocks of 3 bytes, the last
	 * final; row 2 has bits 2 and 9 set */
	CHECK(d && d[0] == 0x78 && d[1] == 0x01);
	row = d + 2 + 2 * 8;
	CHECK_EQ(row[0], 0);
	CHECK_EQ(row[1], 3);
	CHECK_EQ(row[3], (uint8_t)~3);
	CHECK_EQ(row[5], 0);                            /* filter none */
	CHECK_EQ(row[6], 0x20);                         /* x = 2 */
	CHECK_EQ(row[7], 0x40);                         /* x = 9 */
	CHECK_EQ(d[2 + 9 * 8], 1);                      /* BFINAL */
	for (int y = 0; y < 10; y++)
		for (int i = 0; i < 3; i++) {
			a = (a + d[2 + y * 8 + 5 + i]) % 65521;
			s = (s + a) % 65521;
		}
	CHECK_EQ(be32(d + dn - 4), s << 16 | a);
}

static void test_bounds(void)
{
	static const uint8_t c[3] = { 0, 0, 0 };
	uint8_t b[64];

	CHECK_EQ(png_two_colour(b, sizeof b, 0, 1, c, c, diag, NULL),
	         ERR_INVAL);
	CHECK_EQ(png_two_colour(b, sizeof b, PNG_MAX_SIDE + 1, 1, c, c, diag,
	                        NULL), ERR_INVAL);
	CHECK_EQ(png_two_colour(b, sizeof b, 10, 10, c, c, diag, NULL),
	         ERR_TOOBIG);
	/* the standard check value of CRC-32 */
	CHECK_EQ(png_crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
}

int main(void)
{
	RUN(test_a_valid_png);
	RUN(test_bounds);
	return harness_done("png");
}
