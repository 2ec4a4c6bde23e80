/*
 * img and b64: picture types from the bytes (real small pictures taken,
 * a text file named .png, truncated headers, an SVG, a TIFF, a BMP and
 * nothing refused), base64 as RFC 4648 gives it, and json_w_b64 writing
 * it straight into a document.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/err.h"
#include "core/img.h"
#include "core/json.h"
#include "harness.h"
#include "imgfx.h"

#define SNIFF(a) img_sniff((a), sizeof(a))

static void test_real_pictures(void)
{
	CHECK_STR(SNIFF(imgfx_png), "image/png");
	CHECK_STR(SNIFF(imgfx_jpeg), "image/jpeg");
	CHECK_STR(SNIFF(imgfx_gif), "image/gif");
	CHECK_STR(SNIFF(imgfx_webp), "image/webp");
	/* a GIF87a, and a JPEG starting with APP0 (JFIF) */
	uint8_t g[sizeof imgfx_gif], j[] = { 0xff, 0xd8, 0xff, 0xe0, 0x00,
	                                     0x10, 'J', 'F', 'I', 'F' };
	memcpy(g, imgfx_gif, sizeof g);
	g[4] = '7';
	CHECK_STR(SNIFF(g), "image/gif");
	CHECK_STR(SNIFF(j), "image/jpeg");
}

/* Every prefix shorter than the header is refused. */
static void test_truncated(void)
{
	for (size_t n = 0; n < 33; n++)
		CHECK(img_sniff(imgfx_png, n) == NULL);
	for (size_t n = 0; n < 6; n++)
		CHECK(img_sniff(imgfx_jpeg, n) == NULL);
	for (size_t n = 0; n < 13; n++)
		CHECK(img_sniff(imgfx_gif, n) == NULL);
	/* WebP: RIFF's size says how long the whole file is */
	for (size_t n = 0; n < sizeof imgfx_webp; n++)
		CHECK(img_sniff(imgfx_webp, n) == NULL);
	/* the PNG's header is all there is checked: its tail may be cut */
	CHECK_STR(img_sniff(imgfx_png, 33), "image/png");
}

static void test_refused(void)
{
	static const char text[] = "hello, I am a text file named cat.png\n";
	static const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\" "
		"width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\"/>"
		"</svg>";
	static const uint8_t tiff_le[] = { 'I', 'I', 42, 0, 8, 0, 0, 0, 0, 0,
	                                   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	                                   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	                                   0, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t tiff_be[] = { 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 0,
	                                   0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t bmp[] = { 'B', 'M', 58, 0, 0, 0, 0, 0, 0, 0, 54,
	                               0, 0, 0, 40, 0, 0, 0, 1, 0, 0, 0, 1,
	                               0, 0, 0, 1, 0, 24, 0 };
	uint8_t b[sizeof imgfx_png + 8];

	CHECK(img_sniff(text, strlen(text)) == NULL);
	CHECK(img_sniff(svg, strlen(svg)) == NULL);
	CHECK(SNIFF(tiff_le) == NULL);
	CHECK(SNIFF(tiff_be) == NULL);
	CHECK(SNIFF(bmp) == NULL);
	CHECK(img_sniff(NULL, 0) == NULL);
	CHECK(img_sniff("", 0) == NULL);
	/* PNG: a wrong IHDR CRC, a zero width, another first chunk */
	memcpy(b, imgfx_png, sizeof imgfx_png);
	b[30] ^= 1;
	CHECK(img_sniff(b, sizeof imgfx_png) == NULL);
	memcpy(b, imgfx_png, sizeof imgfx_png);
	memset(b + 16, 0, 4);
	CHECK(img_sniff(b, sizeof imgfx_png) == NULL);
	memcpy(b, imgfx_png, sizeof imgfx_png);
	memcpy(b + 12, "tEXt", 4);
	CHECK(img_sniff(b, sizeof imgfx_png) == NULL);
	/* JPEG: SOI then EOI, a fill byte, a zero segment length */
	static const uint8_t j1[] = { 0xff, 0xd8, 0xff, 0xd9, 0, 2 };
	static const uint8_t j2[] = { 0xff, 0xd8, 0xff, 0xff, 0, 2 };
	static const uint8_t j3[] = { 0xff, 0xd8, 0xff, 0xe0, 0, 1 };
	CHECK(SNIFF(j1) == NULL);
	CHECK(SNIFF(j2) == NULL);
	CHECK(SNIFF(j3) == NULL);
	/* GIF: a zero-sized screen, "GIF88a" */
	memcpy(b, imgfx_gif, sizeof imgfx_gif);
	memset(b + 6, 0, 2);
	CHECK(img_sniff(b, sizeof imgfx_gif) == NULL);
	memcpy(b, imgfx_gif, sizeof imgfx_gif);
	b[4] = '8';
	CHECK(img_sniff(b, sizeof imgfx_gif) == NULL);
	/* WebP: bytes after the RIFF, a WAVE, an unknown first chunk */
	memcpy(b, imgfx_webp, sizeof imgfx_webp);
	CHECK(img_sniff(b, sizeof imgfx_webp + 2) == NULL);
	memcpy(b + 8, "WAVE", 4);
	CHECK(img_sniff(b, sizeof imgfx_webp) == NULL);
	memcpy(b, imgfx_webp, sizeof imgfx_webp);
	memcpy(b + 12, "ALPH", 4);
	CHECK(img_sniff(b, sizeof imgfx_webp) == NULL);
}

static void test_ok(void)
{
	struct img im = { "image/png", imgfx_png, sizeof imgfx_png };

	CHECK_EQ(img_ok(&im), 1);
	im.type = "image/jpeg";         /* the bytes say otherwise */
	CHECK_EQ(img_ok(&im), 0);
	im.type = "image/svg+xml";
	CHECK_EQ(img_ok(&im), 0);
	im.type = NULL;
	CHECK_EQ(img_ok(&im), 0);
	im.type = "image/png";
	im.n = 0;
	CHECK_EQ(img_ok(&im), 0);
	im.n = IMG_MAX_BYTES + 1;       /* never read: refused by its size */
	CHECK_EQ(img_ok(&im), 0);
	CHECK_EQ(img_ok(NULL), 0);
}

/* RFC 4648 §10, and every padding case. */
static void test_b64(void)
{
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	static const uint8_t hi[] = { 0xfb, 0xff, 0xbf };
	char out[16];

	for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
		size_t n = strlen(vec[i][0]);

		CHECK_EQ(b64_len(n), strlen(vec[i][1]));
		memset(out, 0, sizeof out);
		CHECK_EQ(b64_enc(out, sizeof out, vec[i][0], n), 0);
		CHECK_STR(out, vec[i][1]);
	}
	memset(out, 0, sizeof out);
	CHECK_EQ(b64_enc(out, 4, hi, 3), 0);
	CHECK_STR(out, "+/+/");         /* the standard alphabet, not url */
	/* exactly the length fits; one less is refused, nothing written */
	memset(out, 0, sizeof out);
	CHECK_EQ(b64_enc(out, 7, "fooba", 5), ERR_TOOBIG);
	CHECK_STR(out, "");
	CHECK_EQ(b64_enc(out, 8, "fooba", 5), 0);
	CHECK_EQ(b64_len(SIZE_MAX), 0);
	CHECK_EQ(b64_enc(out, sizeof out, "", SIZE_MAX), ERR_TOOBIG);
	CHECK_EQ(b64_len(5u << 20), 6990508);   /* a 5 MiB picture */
}

static void test_json_b64(void)
{
	char buf[64];
	struct json_w w;
	size_t n;

	json_w_init(&w, buf, sizeof buf);
	json_w_obj(&w);
	json_w_key(&w, "data");
	json_w_b64(&w, "foob", 4);
	json_w_key(&w, "e");
	json_w_b64(&w, "", 0);
	json_w_obj_end(&w);
	CHECK_EQ(json_w_finish(&w, &n), 0);
	CHECK_STR(buf, "{\"data\":\"Zm9vYg==\",\"e\":\"\"}");
	CHECK_EQ(n, strlen(buf));
	/* the exact room: {"d":"Zm9v"} is 12 bytes and the NUL */
	for (size_t cap = 10; cap <= 13; cap++) {
		json_w_init(&w, buf, cap);
		json_w_obj(&w);
		json_w_key(&w, "d");
		json_w_b64(&w, "foo", 3);
		json_w_obj_end(&w);
		CHECK_EQ(json_w_finish(&w, NULL), cap == 13 ? 0 : ERR_TOOBIG);
	}
	/* only where a value may stand */
	json_w_init(&w, buf, sizeof buf);
	json_w_obj(&w);
	json_w_b64(&w, "foo", 3);
	CHECK_EQ(json_w_finish(&w, NULL), ERR_INVAL);
}

int main(void)
{
	RUN(test_real_pictures);
	RUN(test_truncated);
	RUN(test_refused);
	RUN(test_ok);
	RUN(test_b64);
	RUN(test_json_b64);
	return harness_done("img");
}
