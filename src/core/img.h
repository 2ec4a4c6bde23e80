/*
 * img: what kind of picture some bytes are, from the bytes alone (a file
 * name or a sender's mimetype says nothing that can be trusted): PNG,
 * JPEG, GIF or WebP, the four types every model behind Letta reads (the
 * App Server's SUPPORTED_BASE64_IMAGE_MEDIA_TYPES). Nothing is decoded;
 * the header is checked far enough that a text file, a truncated header
 * or another format is refused before it is sent anywhere.
 */
#ifndef LETTAMX_IMG_H
#define LETTAMX_IMG_H

#include <stddef.h>
#include <stdint.h>

/* No picture of more bytes is ever sent, whatever the configuration
 * (image_max_bytes, default 5 MB, is the everyday cap below it). */
#define IMG_MAX_BYTES (16u << 20)

/* A picture handed to a message writer: the bytes (borrowed; the caller
 * keeps them alive for the call) and the media type img_sniff gave them. */
struct img {
	const char *type;               /* "image/png", … */
	const uint8_t *p;
	size_t n;
};

/* The media type of p[0..n): "image/png", "image/jpeg", "image/gif" or
 * "image/webp" (static strings), or NULL when the bytes are none of
 * these or too short to hold a real header:
 *   PNG   the signature, then an IHDR chunk (length 13, its CRC right,
 *         width and height 1..2^31-1);
 *   JPEG  SOI, then a marker that starts a segment, with its length;
 *   GIF   "GIF87a"/"GIF89a" and the logical screen descriptor (width and
 *         height not 0);
 *   WebP  "RIFF", a size that is exactly n - 8, "WEBP" and a first chunk
 *         "VP8 ", "VP8L" or "VP8X" with its header.
 * p may be NULL when n is 0. */
const char *img_sniff(const void *p, size_t n);

/* 1 when im is a picture a message may carry: a type img_sniff knows,
 * bytes that sniff as exactly that type, 1..IMG_MAX_BYTES of them. */
int img_ok(const struct img *im);

#endif
