/*
 * b64: base64 encoding (RFC 4648 §4).
 */
#include "core/b64.h"

#include <stdint.h>

#include "core/err.h"

static const char b64_alphabet[65] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_len(size_t n)
{
	size_t groups = n / 3 + (n % 3 != 0);

	if (groups > SIZE_MAX / 4)
		return 0;
	return groups * 4;
}

/* One group of 1-3 bytes as four characters, '=' for the missing ones. */
static void b64_group(char *o, const uint8_t *s, size_t k)
{
	uint32_t v = (uint32_t)s[0] << 16;

	if (k > 1)
		v |= (uint32_t)s[1] << 8;
	if (k > 2)
		v |= s[2];
	o[0] = b64_alphabet[v >> 18 & 63];
	o[1] = b64_alphabet[v >> 12 & 63];
	o[2] = k > 1 ? b64_alphabet[v >> 6 & 63] : '=';
	o[3] = k > 2 ? b64_alphabet[v & 63] : '=';
}

int b64_enc(char *out, size_t cap, const void *p, size_t n)
{
	const uint8_t *s = p;
	size_t need = b64_len(n), i;

	if ((n && !need) || cap < need)
		return ERR_TOOBIG;
	for (i = 0; n - i >= 3; i += 3, out += 4)
		b64_group(out, s + i, 3);
	if (i < n)
		b64_group(out, s + i, n - i);
	return 0;
}
