/*
 * b64: base64 encoding (RFC 4648 §4: the standard alphabet, '=' padding),
 * into caller-owned memory. Pictures go to Letta as base64 inside JSON;
 * a 5 MB picture is ~6.7 MB of text, so the size is computed first and
 * the text written once, where it is needed (json_w_b64 writes it straight
 * into a JSON document).
 */
#ifndef LETTAMX_B64_H
#define LETTAMX_B64_H

#include <stddef.h>

/* The length of the base64 text of n bytes: 4 * ceil(n / 3). Returns 0
 * for n == 0, and 0 too when the length would not fit in a size_t (n
 * beyond SIZE_MAX / 4 * 3: no buffer could hold it). */
size_t b64_len(size_t n);

/* Writes the base64 text of p[0..n) into out[0..cap) (no NUL: the
 * caller knows the length, b64_len(n)). p and out must not overlap.
 * Returns 0, or ERR_TOOBIG when cap < b64_len(n) (nothing written) or
 * the length overflows. */
int b64_enc(char *out, size_t cap, const void *p, size_t n);

#endif
