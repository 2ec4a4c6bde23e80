/*
 * httpp: response head parser, body framer, URL parser, request writer.
 *
 * The head parser is re-run on the whole buffer each time more bytes
 * arrive (as picohttpparser does); heads are small and capped, so the
 * rescans cost less than keeping a resumable state. The chunked framer
 * is a byte-at-a-time state machine for the framing lines and passes body
 * bytes through as slices, so it never needs to hold bytes back.
 * Line endings: CRLF, and bare LF as RFC 9112 2.2 allows a recipient to
 * accept; a CR not followed by LF is an error (request smuggling lives in
 * such leniencies).
 */
#include "net/httpp.h"

#include <string.h>

#include "core/err.h"
#include "core/url.h"

/* ---------------------------------------------------------------- chars */

static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field values and reason phrases: VCHAR, SP, HTAB, obs-text. */
static int is_vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int ci_eq(const char *a, size_t n, const char *b)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!b[i] || lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return b[i] == '\0';
}

/* ---------------------------------------------------------------- head */

/* Finds the next line at `*pos`. Returns 1 with the line (without its
 * end) in `*ls`/`*ll` and `*pos` past it, 0 if no line end yet, or
 * ERR_PROTO for a CR not followed by LF. */
static int next_line(const char *buf, size_t len, size_t *pos,
                     size_t *ls, size_t *ll)
{
	for (size_t i = *pos; i < len; i++) {
		if (buf[i] == '\n') {
			*ls = *pos;
			*ll = i - *pos;
			*pos = i + 1;
			return 1;
		}
		if (buf[i] == '\r') {
			if (i + 1 == len)
				return 0;
			if (buf[i + 1] != '\n')
				return ERR_PROTO;
			*ls = *pos;
			*ll = i - *pos;
			*pos = i + 2;
			return 1;
		}
	}
	return 0;
}

static int parse_status(struct httpp_head *h, const char *s, size_t n)
{
	if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' ||
	    s[7] > '9' || s[8] != ' ')
		return ERR_PROTO;
	for (int i = 9; i < 12; i++)
		if (s[i] < '0' || s[i] > '9')
			return ERR_PROTO;
	if (s[9] == '0' || (n > 12 && s[12] != ' '))
		return ERR_PROTO;
	h->minor = s[7] - '0';
	h->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	h->reason = s + (n > 12 ? 13 : 12);
	h->reason_len = n > 12 ? n - 13 : 0;
	for (size_t i = 0; i < h->reason_len; i++)
		if (!is_vchar((unsigned char)h->reason[i]))
			return ERR_PROTO;
	return 0;
}

static int parse_header(struct httpp_header *f, const char *s, size_t n)
{
	size_t i = 0, end;

	while (i < n && is_tchar((unsigned char)s[i]))
		i++;
	/* No name, a space before the colon, or an obs-fold line. */
	if (i == 0 || i == n || s[i] != ':')
		return ERR_PROTO;
	f->name = s;
	f->name_len = i++;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	end = n;
	while (end > i && (s[end - 1] == ' ' || s[end - 1] == '\t'))
		end--;
	for (size_t k = i; k < end; k++)
		if (!is_vchar((unsigned char)s[k]))
			return ERR_PROTO;
	f->value = s + i;
	f->value_len = end - i;
	return 0;
}

/* Whether buf[0..n) holds an empty line (the end of a head). A memchr
 * scan is much cheaper than a full parse, and heads arriving in many
 * small reads would otherwise be parsed again and again. */
static int has_end(const char *buf, size_t n)
{
	const char *p = buf, *e = buf + n;

	while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		p++;
		if (p < e && *p == '\n')
			return 1;
		if (e - p >= 2 && p[0] == '\r' && p[1] == '\n')
			return 1;
	}
	return 0;
}

int httpp_head_parse(struct httpp_head *h, const char *buf, size_t len,
                     size_t cap)
{
	size_t lim = cap < LIM_HTTP_HEAD ? cap : LIM_HTTP_HEAD;
	size_t n = len < lim ? len : lim, pos = 0, ls, ll;
	int r;

	/* Reject garbage early instead of waiting for a full head of it. */
	if (memcmp(buf, "HTTP/1.", n < 7 ? n : 7) != 0)
		return ERR_PROTO;
	if (!has_end(buf, n))
		return len >= lim ? ERR_TOOBIG : ERR_AGAIN;
	h->nhdr = 0;
	r = next_line(buf, n, &pos, &ls, &ll);
	if (r == 1 && parse_status(h, buf + ls, ll) != 0)
		return ERR_PROTO;
	while (r == 1) {
		r = next_line(buf, n, &pos, &ls, &ll);
		if (r != 1)
			break;
		if (ll == 0)
			return (int)pos;
		if (h->nhdr == LIM_HTTP_HEADERS)
			return ERR_TOOBIG;
		if (parse_header(&h->hdr[h->nhdr++], buf + ls, ll) != 0)
			return ERR_PROTO;
	}
	if (r < 0)
		return r;
	return len >= lim ? ERR_TOOBIG : ERR_AGAIN;
}

const struct httpp_header *httpp_head_find(const struct httpp_head *h,
                                           const char *name)
{
	for (size_t i = 0; i < h->nhdr; i++)
		if (ci_eq(h->hdr[i].name, h->hdr[i].name_len, name))
			return &h->hdr[i];
	return NULL;
}

/* Walks a comma list: returns the next token of `v` from `*i` (trimmed),
 * or 0 when the list is exhausted. */
static int next_token(const char *v, size_t n, size_t *i,
                      const char **t, size_t *tl)
{
	size_t s, e;

	while (*i < n) {
		s = *i;
		while (*i < n && v[*i] != ',')
			(*i)++;
		e = *i;
		if (*i < n)
			(*i)++;
		while (s < e && (v[s] == ' ' || v[s] == '\t'))
			s++;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s) {
			*t = v + s;
			*tl = e - s;
			return 1;
		}
	}
	return 0;
}

int httpp_has_token(const char *v, size_t n, const char *token)
{
	size_t i = 0, tl;
	const char *t;

	while (next_token(v, n, &i, &t, &tl))
		if (ci_eq(t, tl, token))
			return 1;
	return 0;
}

int httpp_head_keepalive(const struct httpp_head *h)
{
	int ka = h->minor >= 1;

	for (size_t i = 0; i < h->nhdr; i++) {
		const struct httpp_header *f = &h->hdr[i];

		if (!ci_eq(f->name, f->name_len, "connection"))
			continue;
		if (httpp_has_token(f->value, f->value_len, "close"))
			return 0;
		if (httpp_has_token(f->value, f->value_len, "keep-alive"))
			ka = 1;
	}
	return ka;
}

/* ---------------------------------------------------------------- body */

enum {
	CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF,
	CH_TRAILER_START, CH_TRAILER_LINE, CH_TRAILER_LF, CH_END_LF,
};

/* Largest chunk size or Content-Length we accept (2^60): far beyond any
 * cap, and safe from overflow when 16 is multiplied in. */
#define BODY_LEN_MAX (1ull << 60)

static int parse_length(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;

	if (n == 0)
		return ERR_PROTO;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return ERR_PROTO;
		x = x * 10 + (uint64_t)(v[i] - '0');
		if (x > BODY_LEN_MAX)
			return ERR_PROTO;
	}
	*out = x;
	return 0;
}

/* Transfer-Encoding: chunked only when it is the final coding. */
static int te_chunked(const struct httpp_header *f)
{
	size_t i = 0, tl;
	const char *t, *last = NULL;
	size_t last_len = 0;

	while (next_token(f->value, f->value_len, &i, &t, &tl)) {
		last = t;
		last_len = tl;
	}
	return last && ci_eq(last, last_len, "chunked");
}

static int framing_by_length(struct httpp_body *b, const struct httpp_head *h)
{
	int seen = 0;
	uint64_t len = 0, x;

	for (size_t i = 0; i < h->nhdr; i++) {
		const struct httpp_header *f = &h->hdr[i];

		if (!ci_eq(f->name, f->name_len, "content-length"))
			continue;
		if (parse_length(f->value, f->value_len, &x) != 0 ||
		    (seen && x != len))
			return ERR_PROTO;
		len = x;
		seen = 1;
	}
	b->framing = seen ? HTTPP_LENGTH : HTTPP_CLOSE;
	b->left = len;
	b->done = seen && len == 0;
	return 0;
}

int httpp_body_init(struct httpp_body *b, const struct httpp_head *h)
{
	const struct httpp_header *te = NULL;

	memset(b, 0, sizeof *b);
	if ((h->status >= 100 && h->status < 200) || h->status == 204 ||
	    h->status == 304) {
		b->framing = HTTPP_NONE;
		b->done = 1;
		return 0;
	}
	for (size_t i = 0; i < h->nhdr; i++)
		if (ci_eq(h->hdr[i].name, h->hdr[i].name_len,
		          "transfer-encoding"))
			te = &h->hdr[i];
	if (!te)
		return framing_by_length(b, h);
	b->framing = te_chunked(te) ? HTTPP_CHUNKED : HTTPP_CLOSE;
	b->state = CH_SIZE;
	return 0;
}

/* Counts one byte of a framing line against its cap. */
static int line_byte(struct httpp_body *b)
{
	if (++b->line > LIM_HTTP_CHUNK_LINE)
		return ERR_TOOBIG;
	return 0;
}

static int trailer_byte(struct httpp_body *b)
{
	if (++b->trailer > LIM_HTTP_TRAILER)
		return ERR_TOOBIG;
	return 0;
}

/* End of a chunk-size line: data follows, or the trailers. */
static void size_line_done(struct httpp_body *b)
{
	b->line = 0;
	b->state = b->left ? CH_DATA : CH_TRAILER_START;
}

static int chunk_size_byte(struct httpp_body *b, int c)
{
	int d = url_hex_digit(c), first = b->line == 0;

	if (line_byte(b))
		return ERR_TOOBIG;
	if (c == '\r' || c == '\n') {
		if (first)
			return ERR_PROTO;       /* no digit before it */
		if (c == '\r')
			b->state = CH_SIZE_LF;
		else
			size_line_done(b);
		return 0;
	}
	if (b->state == CH_EXT)
		return 0;                       /* extensions are ignored */
	if (d >= 0) {
		if (b->left >= BODY_LEN_MAX >> 4)
			return ERR_PROTO;
		b->left = b->left * 16 + (uint64_t)d;
		return 0;
	}
	if (first || (c != ';' && c != ' ' && c != '\t'))
		return ERR_PROTO;
	b->state = CH_EXT;
	return 0;
}

/* One framing byte (anything but chunk data). */
static int chunk_byte(struct httpp_body *b, int c)
{
	switch (b->state) {
	case CH_SIZE:
	case CH_EXT:
		return chunk_size_byte(b, c);
	case CH_SIZE_LF:
		if (c != '\n')
			return ERR_PROTO;
		size_line_done(b);
		return 0;
	case CH_DATA_CR:
		if (c == '\n')
			b->state = CH_SIZE;
		else if (c == '\r')
			b->state = CH_DATA_LF;
		else
			return ERR_PROTO;
		return 0;
	case CH_DATA_LF:
		if (c != '\n')
			return ERR_PROTO;
		b->state = CH_SIZE;
		return 0;
	case CH_TRAILER_START:
		if (c == '\n')
			b->done = 1;
		else
			b->state = c == '\r' ? CH_END_LF : CH_TRAILER_LINE;
		return trailer_byte(b);
	case CH_TRAILER_LINE:
		if (c == '\n')
			b->state = CH_TRAILER_START;
		return trailer_byte(b);
	case CH_END_LF:
		if (c != '\n')
			return ERR_PROTO;
		b->done = 1;
		return 0;
	default:
		return ERR_PROTO;
	}
}

static int chunked_feed(struct httpp_body *b, const char *in, size_t len,
                        const char **data, size_t *dlen)
{
	size_t i = 0;
	int r;

	while (i < len && !b->done) {
		if (b->state == CH_DATA) {
			size_t n = len - i;

			if (n > b->left)
				n = (size_t)b->left;
			*data = in + i;
			*dlen = n;
			b->left -= n;
			b->total += n;
			if (b->left == 0)
				b->state = CH_DATA_CR;
			return (int)(i + n);
		}
		r = chunk_byte(b, (unsigned char)in[i++]);
		if (r < 0)
			return r;
	}
	return (int)i;
}

int httpp_body_feed(struct httpp_body *b, const char *in, size_t len,
                    const char **data, size_t *dlen)
{
	size_t n;

	*data = in;
	*dlen = 0;
	if (len > (size_t)INT32_MAX)
		len = INT32_MAX;        /* the result must fit an int */
	if (b->done || len == 0)
		return 0;
	if (b->framing == HTTPP_CHUNKED)
		return chunked_feed(b, in, len, data, dlen);
	n = len;
	if (b->framing == HTTPP_LENGTH) {
		if (n > b->left)
			n = (size_t)b->left;
		b->left -= n;
		b->done = b->left == 0;
	}
	*dlen = n;
	b->total += n;
	return (int)n;
}

int httpp_body_eof(struct httpp_body *b)
{
	if (b->done)
		return 0;
	if (b->framing == HTTPP_CLOSE) {
		b->done = 1;
		return 0;
	}
	return ERR_CLOSED;
}

/* ---------------------------------------------------------------- request */

struct out {
	char *buf;
	size_t cap, len;
	int err;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->err)
		return;
	if (n > o->cap - o->len) {
		o->err = ERR_TOOBIG;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_uint(struct out *o, uint64_t v)
{
	char d[24];
	size_t i = sizeof d;

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(o, d + i, sizeof d - i);
}

static int field_ok(const struct httpp_field *f)
{
	size_t n = strlen(f->name);

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)f->name[i]))
			return 0;
	/* Framing headers are ours: a caller's would smuggle a body. */
	if (ci_eq(f->name, n, "host") || ci_eq(f->name, n, "content-length") ||
	    ci_eq(f->name, n, "transfer-encoding"))
		return 0;
	for (const char *v = f->value; *v; v++)
		if (!is_vchar((unsigned char)*v))
			return 0;
	return 1;
}

static void put_host(struct out *o, const struct url *u)
{
	int v6 = strchr(u->host, ':') != NULL;

	puts_(o, "Host: ");
	puts_(o, v6 ? "[" : "");
	puts_(o, u->host);
	puts_(o, v6 ? "]" : "");
	if (u->port != (u->tls ? 443 : 80)) {
		puts_(o, ":");
		put_uint(o, u->port);
	}
	puts_(o, "\r\n");
}

int httpp_req_write(char *buf, size_t cap, const char *method,
                    const struct url *u, const struct httpp_field *f,
                    size_t nf, size_t body_len)
{
	struct out o = { buf, cap, 0, 0 };
	size_t mlen = strlen(method);

	if (mlen == 0 || mlen > 16)
		return ERR_INVAL;
	for (size_t i = 0; i < mlen; i++)
		if (method[i] < 'A' || method[i] > 'Z')
			return ERR_INVAL;
	for (size_t i = 0; i < nf; i++)
		if (!field_ok(&f[i]))
			return ERR_INVAL;
	puts_(&o, method);
	puts_(&o, u->path[0] == '/' ? " " : " /");
	puts_(&o, u->path);
	puts_(&o, " HTTP/1.1\r\n");
	put_host(&o, u);
	for (size_t i = 0; i < nf; i++) {
		puts_(&o, f[i].name);
		puts_(&o, ": ");
		puts_(&o, f[i].value);
		puts_(&o, "\r\n");
	}
	if (body_len > 0 || strcmp(method, "GET") != 0) {
		puts_(&o, "Content-Length: ");
		put_uint(&o, body_len);
		puts_(&o, "\r\n");
	}
	puts_(&o, "\r\n");
	if (o.err)
		return o.err;
	return o.len > (size_t)INT32_MAX ? ERR_TOOBIG : (int)o.len;
}

/* ---------------------------------------------------------------- Retry-After */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), so no time zone or libc timegm is involved. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
static int parse_imf_date(const char *s, size_t n, int64_t *t)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int d, y, hh, mm, ss, mon = -1;

	if (n != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' ||
	    s[11] != ' ' || s[16] != ' ' || s[19] != ':' || s[22] != ':' ||
	    memcmp(s + 25, " GMT", 4) != 0)
		return ERR_INVAL;
	for (int i = 0; i < 12; i++)
		if (memcmp(s + 8, months + 3 * i, 3) == 0)
			mon = i + 1;
	if (mon < 0 || digits(s + 5, 2, &d) || digits(s + 12, 4, &y) ||
	    digits(s + 17, 2, &hh) || digits(s + 20, 2, &mm) ||
	    digits(s + 23, 2, &ss) || d < 1 || d > 31 || hh > 23 || mm > 59 ||
	    ss > 60)
		return ERR_INVAL;
	*t = days_from_civil(y, mon, d) * 86400 + hh * 3600 + mm * 60 + ss;
	return 0;
}

int64_t httpp_retry_after_ms(const char *v, size_t n, int64_t now_unix)
{
	int64_t secs = 0, t;
	const int64_t max_s = LIM_HTTP_RETRY_AFTER_MS / 1000;

	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n == 0)
		return ERR_INVAL;
	if (v[0] >= '0' && v[0] <= '9') {
		for (size_t i = 0; i < n; i++) {
			if (v[i] < '0' || v[i] > '9')
				return ERR_INVAL;
			if (secs < max_s)
				secs = secs * 10 + (v[i] - '0');
		}
	} else {
		if (parse_imf_date(v, n, &t))
			return ERR_INVAL;
		secs = t > now_unix ? t - now_unix : 0;
	}
	if (secs > max_s)
		secs = max_s;
	return secs * 1000;
}
