/*
 * mx_media: mxc URIs, the download paths, what an answer means.
 */
#include "matrix/mx_media.h"

#include <string.h>

#include "core/err.h"
#include "matrix/matrix.h"

#define MXC_SCHEME "mxc://"

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static int is_alnum(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ":" and 1..5 digits naming a port 1..65535, or nothing. */
static int port_ok(const char *s, size_t n)
{
	unsigned long v = 0;

	if (n == 0)
		return 1;
	if (s[0] != ':' || n < 2 || n > 6)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

static int is_ipv6_char(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

/* The host part's length: "[" 2..45 IPv6 characters "]", or a DNS name
 * or IPv4 address (1..255 of letters, digits, '-' and '.'). 0 when
 * neither starts s[0..n). */
static size_t host_len(const char *s, size_t n)
{
	size_t i = 0;

	if (n && s[0] == '[') {
		for (i = 1; i < n && is_ipv6_char((unsigned char)s[i]); i++)
			;
		if (i == n || s[i] != ']' || i - 1 < 2 || i - 1 > 45)
			return 0;
		return i + 1;
	}
	while (i < n && (is_alnum((unsigned char)s[i]) || s[i] == '-' ||
	                 s[i] == '.'))
		i++;
	return i <= 255 ? i : 0;
}

static int server_ok(const char *s, size_t n)
{
	size_t h = host_len(s, n);

	return h > 0 && n <= MX_MEDIA_SERVER_MAX && port_ok(s + h, n - h);
}

static int media_id_ok(const char *s, size_t n)
{
	if (n == 0 || n > MX_MEDIA_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-')
			return 0;
	return 1;
}

int mx_mxc_parse(const char *s, size_t n, struct mx_mxc *m)
{
	const size_t k = sizeof MXC_SCHEME - 1;
	const char *slash;
	size_t sn;

	memset(m, 0, sizeof *m);
	if (!s || n <= k || memcmp(s, MXC_SCHEME, k))
		return ERR_INVAL;
	s += k;
	n -= k;
	slash = memchr(s, '/', n);
	if (!slash)
		return ERR_INVAL;
	sn = (size_t)(slash - s);
	if (!server_ok(s, sn) || !media_id_ok(slash + 1, n - sn - 1))
		return ERR_INVAL;
	memcpy(m->server, s, sn);
	memcpy(m->media_id, slash + 1, n - sn - 1);
	return 0;
}

int mx_media_path(char *path, size_t cap, const struct mx_mxc *m, int api)
{
	struct proto_buf b;

	if (api != MX_MEDIA_V1 && api != MX_MEDIA_LEGACY)
		return ERR_INVAL;
	if (!server_ok(m->server, strlen(m->server)) ||
	    !media_id_ok(m->media_id, strlen(m->media_id)))
		return ERR_INVAL;
	if (cap == 0)
		return ERR_TOOBIG;
	proto_buf_init(&b, path, cap);
	proto_buf_str(&b, api == MX_MEDIA_V1 ?
	              "/_matrix/client/v1/media/download/" :
	              "/_matrix/media/v3/download/");
	proto_buf_urlenc(&b, m->server);
	proto_buf_str(&b, "/");
	proto_buf_urlenc(&b, m->media_id);
	return b.err ? b.err : (int)b.len;
}

int mx_req_media_download(struct proto_req *r, const char *token,
                          const struct mx_mxc *m, int api)
{
	int n;

	proto_req_init(r, PROTO_GET);
	n = mx_media_path(r->path, sizeof r->path, m, api);
	if (n < 0)
		return n;
	if (api == MX_MEDIA_V1)
		return proto_req_bearer(r, token);
	return 0;
}

/* A server that has no authenticated media: M_UNRECOGNIZED with 400
 * (Synapse before 1.111, as for any unknown path), 404 or 405 (the
 * spec's unknown endpoint), or a bare 404 with no Matrix error at all
 * (a proxy in front that routes only the paths it knows). A 404
 * M_NOT_FOUND is the media missing, not the endpoint. */
static int v1_unknown(int status, const struct mx_error *e)
{
	if (mx_error_is(e, "M_UNRECOGNIZED"))
		return status == 400 || status == 404 || status == 405;
	return status == 404 && !e->errcode[0];
}

static int classify_error(int api, const struct proto_resp *resp)
{
	struct mx_error e;
	int st = resp->status;

	mx_error_parse(resp, &e);
	if (st == 0 || st == 429 || mx_error_is(&e, "M_LIMIT_EXCEEDED"))
		return MX_MEDIA_RETRY;
	if (api == MX_MEDIA_V1 && v1_unknown(st, &e))
		return MX_MEDIA_USE_LEGACY;
	if (mx_error_is(&e, "M_TOO_LARGE"))
		return MX_MEDIA_TOOBIG;
	if (st >= 500 || mx_error_is(&e, "M_NOT_YET_UPLOADED"))
		return MX_MEDIA_RETRY;
	if (st == 404)
		return MX_MEDIA_GONE;
	return MX_MEDIA_REFUSED;
}

int mx_media_classify(int api, const struct proto_resp *resp,
                      int64_t content_length, uint64_t cap)
{
	if (resp->status != 200)
		return classify_error(api, resp);
	/* the header first: the bridge may stop reading a body it would
	 * refuse anyway */
	if (content_length >= 0 && (uint64_t)content_length > cap)
		return MX_MEDIA_TOOBIG;
	if ((uint64_t)resp->len > cap)
		return MX_MEDIA_TOOBIG;
	return MX_MEDIA_OK;
}

const char *mx_media_verdict_str(int v)
{
	static const char *const names[] = {
		"ok", "use-legacy", "too-big", "retry", "gone", "refused",
	};

	if (v < 0 || (size_t)v >= sizeof names / sizeof names[0])
		return "?";
	return names[v];
}
