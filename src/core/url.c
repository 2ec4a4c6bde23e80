/*
 * url: absolute http(s) URLs taken apart (see url.h).
 */
#include "core/url.h"

#include <string.h>
#include <strings.h>

#include "core/err.h"

static int is_host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

static int is_v6_char(unsigned char c)
{
	unsigned char l = c | 0x20;     /* ASCII letters to lower case */

	return (c >= '0' && c <= '9') || (l >= 'a' && l <= 'f') || c == ':' ||
	       c == '.';
}

/* Copies host[0..n) lower-cased into u->host after checking its chars. */
static int set_host(struct url *u, const char *s, size_t n, int v6)
{
	if (n == 0 || n > LIM_HTTP_HOST)
		return ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(v6 ? is_v6_char(c) : is_host_char(c)))
			return ERR_INVAL;
		u->host[i] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
	}
	u->host[n] = '\0';
	return 0;
}

static int parse_port(struct url *u, const char *s, size_t n)
{
	unsigned long p = 0;

	if (n == 0 || n > 5)
		return ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return ERR_INVAL;
		p = p * 10 + (unsigned long)(s[i] - '0');
	}
	if (p == 0 || p > 65535)
		return ERR_INVAL;
	u->port = (uint16_t)p;
	return 0;
}

/* Parses "host", "host:port", "[v6]" or "[v6]:port" in s[0..n). */
static int parse_authority(struct url *u, const char *s, size_t n)
{
	const char *colon;

	if (memchr(s, '@', n))
		return ERR_INVAL;       /* userinfo: never send credentials */
	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (!close || set_host(u, s + 1, (size_t)(close - s - 1), 1))
			return ERR_INVAL;
		if (close + 1 == s + n)
			return 0;
		if (close[1] != ':')
			return ERR_INVAL;
		return parse_port(u, close + 2, (size_t)(s + n - close - 2));
	}
	colon = memchr(s, ':', n);
	if (!colon)
		return set_host(u, s, n, 0);
	if (set_host(u, s, (size_t)(colon - s), 0))
		return ERR_INVAL;
	return parse_port(u, colon + 1, (size_t)(s + n - colon - 1));
}

/* Length of `scheme` ("http://") if `url` starts with it, else 0. */
static size_t has_scheme(const char *url, const char *scheme)
{
	size_t n = strlen(scheme);

	return strncasecmp(url, scheme, n) == 0 ? n : 0;
}

/* Takes `url` apart when its scheme is `plain` or `secure` (with TLS);
 * both have the same default ports (80, 443), as ws:// and wss:// share
 * them with http:// and https:// (RFC 6455 3). */
static int parse_as(struct url *u, const char *url, const char *plain,
                    const char *secure)
{
	size_t len = strlen(url), skip, alen;

	memset(u, 0, sizeof *u);
	if (len > LIM_HTTP_URL)
		return ERR_TOOBIG;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f ||
		    url[i] == '#')
			return ERR_INVAL;
	if ((skip = has_scheme(url, plain)) == 0 &&
	    (skip = has_scheme(url, secure)) != 0)
		u->tls = 1;
	if (skip == 0)
		return ERR_INVAL;
	u->port = u->tls ? 443 : 80;
	alen = strcspn(url + skip, "/?");
	if (parse_authority(u, url + skip, alen))
		return ERR_INVAL;
	u->path = url + skip + alen;
	return 0;
}

int url_parse(struct url *u, const char *url)
{
	return parse_as(u, url, "http://", "https://");
}

int url_parse_ws(struct url *u, const char *url)
{
	return parse_as(u, url, "ws://", "wss://");
}

int url_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int url_unescape(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	if (!cap)
		return ERR_TOOBIG;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i], hi, lo;

		if (c == '%') {
			if (n - i < 3)
				return ERR_INVAL;
			hi = url_hex_digit((unsigned char)s[i + 1]);
			lo = url_hex_digit((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return ERR_INVAL;
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == 0)
			return ERR_INVAL;
		if (o + 1 >= cap)
			return ERR_TOOBIG;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (int)o;
}

int url_query_get(const char *q, const char *key, char *out, size_t cap)
{
	size_t kn = strlen(key);

	while (q && *q) {
		size_t n = strcspn(q, "&");

		if (n > kn && !strncmp(q, key, kn) && q[kn] == '=')
			return url_unescape(q + kn + 1, n - kn - 1, out, cap);
		if (n == kn && !strncmp(q, key, kn))
			return url_unescape("", 0, out, cap);
		q += n + (q[n] == '&');
	}
	return ERR_NOTFOUND;
}
