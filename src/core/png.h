/*
 * png: a tiny PNG writer for two-colour pictures (an agent's generated
 * avatar), with no image library: one palette of two colours, one bit
 * per pixel, the pixel data in stored (uncompressed) deflate blocks. The
 * output is a valid PNG any client shows.
 */
#ifndef LETTAMX_PNG_H
#define LETTAMX_PNG_H

#include <stddef.h>
#include <stdint.h>

/* The most bytes a w x h picture takes (w, h <= PNG_MAX_SIDE). */
#define PNG_MAX_SIDE 256
size_t png_size(int w, int h);

/* Writes a w x h PNG into out[0..cap): pixel (x, y) has colour fg where
 * on(arg, x, y) is non-zero, else bg (RGB each). Returns its length, or
 * ERR_INVAL (a side out of 1..PNG_MAX_SIDE), ERR_TOOBIG. */
int png_two_colour(uint8_t *out, size_t cap, int w, int h,
                   const uint8_t bg[3], const uint8_t fg[3],
                   int (*on)(void *arg, int x, int y), void *arg);

/* CRC-32 as PNG and zlib use it (exposed for the tests). */
uint32_t png_crc32(uint32_t crc, const uint8_t *p, size_t n);

#endif
