/*
 * ws: the opening handshake, the frame writer and the frame reader
 * (see ws.h).
 *
 * The reader takes a frame header one byte at a time (at most ten
 * bytes), so every check happens at the same byte of the stream however
 * the bytes arrive, and a payload in whole: a frame that arrives whole
 * and starts no fragmented message is handed out as a slice of the
 * input, anything else is copied into the caller's buffer, where
 * fragments meet. Control frames (125 bytes at most) have their own
 * buffer, so one that arrives between two fragments leaves the message
 * being assembled alone. UTF-8 is checked as the bytes come, carried
 * across fragments (a character may be split between two of them).
 */
#include "net/ws.h"

#include <string.h>
#include <strings.h>

#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha1.h>

#include "core/err.h"
#include "core/limits.h"

/* ---------------------------------------------------------------- handshake */

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int ws_accept_of(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1])
{
	mbedtls_sha1_context sha;
	unsigned char dig[20];
	size_t olen;
	int r;

	mbedtls_sha1_init(&sha);
	r = mbedtls_sha1_starts(&sha);
	if (r == 0)
		r = mbedtls_sha1_update(&sha, (const unsigned char *)key, len);
	if (r == 0)
		r = mbedtls_sha1_update(&sha, (const unsigned char *)ws_guid,
		                        sizeof ws_guid - 1);
	if (r == 0)
		r = mbedtls_sha1_finish(&sha, dig);
	mbedtls_sha1_free(&sha);
	if (r == 0)
		r = mbedtls_base64_encode((unsigned char *)out,
		                          WS_ACCEPT_LEN + 1, &olen, dig,
		                          sizeof dig);
	return r == 0 && olen == WS_ACCEPT_LEN ? 0 : ERR_TLS;
}

int ws_key_make(struct ws_key *k, const uint8_t nonce[WS_NONCE_LEN])
{
	size_t olen;

	if (mbedtls_base64_encode((unsigned char *)k->key, sizeof k->key,
	                          &olen, nonce, WS_NONCE_LEN) != 0 ||
	    olen != WS_KEY_LEN)
		return ERR_TLS;
	return ws_accept_of(k->key, WS_KEY_LEN, k->accept);
}

int ws_handshake_write(char *buf, size_t cap, const struct url *u,
                       const struct ws_key *k, const char *bearer)
{
	/* "Bearer " and the token: a stack copy, wiped after use. */
	char auth[LIM_WS_BEARER + 8];
	struct httpp_field f[5] = {
		{ "Upgrade", "websocket" },
		{ "Connection", "Upgrade" },
		{ "Sec-WebSocket-Key", k->key },
		{ "Sec-WebSocket-Version", "13" },
		{ "Authorization", auth },
	};
	size_t blen = bearer ? strlen(bearer) : 0;
	int r;

	if (blen > LIM_WS_BEARER)
		return ERR_TOOBIG;
	memcpy(auth, "Bearer ", 7);
	memcpy(auth + 7, bearer ? bearer : "", blen + 1);
	r = httpp_req_write(buf, cap, "GET", u, f, blen ? 5 : 4, 0);
	mbedtls_platform_zeroize(auth, sizeof auth);
	return r;
}

static int name_is(const struct httpp_header *f, const char *name)
{
	size_t n = strlen(name);

	return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

/* Checks the headers of a 101 against what we asked for (RFC 6455 4.1,
 * the client's checks of the server's handshake). */
static int check_upgrade(const struct httpp_head *h, const struct ws_key *k,
                         const char **why)
{
	int upgrade = 0, connection = 0, accepts = 0, accept_ok = 0;

	for (size_t i = 0; i < h->nhdr; i++) {
		const struct httpp_header *f = &h->hdr[i];

		if (name_is(f, "upgrade"))
			upgrade |= httpp_has_token(f->value, f->value_len,
			                           "websocket");
		else if (name_is(f, "connection"))
			connection |= httpp_has_token(f->value, f->value_len,
			                              "upgrade");
		else if (name_is(f, "sec-websocket-accept"))
			accepts++, accept_ok = f->value_len == WS_ACCEPT_LEN &&
			    memcmp(f->value, k->accept, WS_ACCEPT_LEN) == 0;
		else if (name_is(f, "sec-websocket-extensions") && f->value_len)
			*why = "an extension we did not ask for";
		else if (name_is(f, "sec-websocket-protocol") && f->value_len)
			*why = "a subprotocol we did not ask for";
	}
	if (h->minor < 1)
		*why = "not HTTP/1.1";
	else if (!upgrade)
		*why = "no Upgrade: websocket";
	else if (!connection)
		*why = "no Connection: Upgrade";
	else if (accepts != 1 || !accept_ok)
		*why = "wrong Sec-WebSocket-Accept";
	return **why ? ERR_PROTO : 0;
}

int ws_handshake_read(struct httpp_head *h, const char *buf, size_t len,
                      const struct ws_key *k, const char **why)
{
	int n = httpp_head_parse(h, buf, len, LIM_HTTP_HEAD);

	*why = "";
	if (n == ERR_AGAIN)
		return n;
	if (n < 0) {
		*why = n == ERR_TOOBIG ? "response head too big" :
		       "malformed response head";
		return n;
	}
	if (h->status != 101) {
		*why = "the server refused the upgrade";
		return ERR_HTTP;
	}
	return check_upgrade(h, k, why) ? ERR_PROTO : n;
}

/* ---------------------------------------------------------------- UTF-8 */

/* An incremental UTF-8 check (the ranges of RFC 3629 4): 0 between
 * characters, else the continuation bytes still due and the range the
 * next one must fall in. Overlong forms, surrogates and code points past
 * U+10FFFF are refused at the byte that makes them so. */
#define U8_BAD 0xffffffffu
#define U8(need, lo, hi) ((uint32_t)(need) << 16 | (uint32_t)(lo) << 8 | (hi))

static uint32_t u8_lead(unsigned c)
{
	if (c < 0x80)
		return 0;
	if (c >= 0xc2 && c <= 0xdf)
		return U8(1, 0x80, 0xbf);
	if (c == 0xe0)
		return U8(2, 0xa0, 0xbf);
	if (c == 0xed)
		return U8(2, 0x80, 0x9f);
	if (c >= 0xe1 && c <= 0xef)
		return U8(2, 0x80, 0xbf);
	if (c == 0xf0)
		return U8(3, 0x90, 0xbf);
	if (c >= 0xf1 && c <= 0xf3)
		return U8(3, 0x80, 0xbf);
	if (c == 0xf4)
		return U8(3, 0x80, 0x8f);
	return U8_BAD;
}

/* Checks p[0..n) from state `s`; returns the new state or U8_BAD. */
static uint32_t u8_run(uint32_t s, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n && s != U8_BAD; i++) {
		unsigned c = p[i];

		if (s == 0) {
			/* the frames are JSON, nearly all ASCII: skip it in
			 * a tight loop, not one state step a byte */
			while (c < 0x80 && ++i < n)
				c = p[i];
			if (c < 0x80)
				break;
			s = u8_lead(c);
			continue;
		}
		if (c < ((s >> 8) & 0xff) || c > (s & 0xff))
			return U8_BAD;
		s = (s >> 16) == 1 ? 0 : U8((s >> 16) - 1, 0x80, 0xbf);
	}
	return s;
}

static int u8_whole(const void *p, size_t n)
{
	return u8_run(0, p, n) == 0;
}

/* ---------------------------------------------------------------- writer */

static int is_control(int op)
{
	return op >= WS_OP_CLOSE;
}

static int op_known(int op)
{
	return op == WS_OP_CONT || op == WS_OP_TEXT || op == WS_OP_BINARY ||
	       op == WS_OP_CLOSE || op == WS_OP_PING || op == WS_OP_PONG;
}

size_t ws_frame_size(size_t len)
{
	size_t hdr = 6 + (len > 65535 ? 8 : len > 125 ? 2 : 0);

	return len > SIZE_MAX - hdr ? SIZE_MAX : hdr + len;
}

int ws_frame_write(char *buf, size_t cap, int op, int fin, const void *p,
                   size_t len, const uint8_t mask[4])
{
	unsigned char *o = (unsigned char *)buf;
	const unsigned char *in = p;
	size_t need = ws_frame_size(len), h = 2;

	if (!op_known(op) || (is_control(op) && (!fin || len > WS_CTL_MAX)))
		return ERR_INVAL;
	if (op == WS_OP_TEXT && fin && !u8_whole(p, len))
		return ERR_UTF8;
	if (need > cap || need > (size_t)INT32_MAX)
		return ERR_TOOBIG;
	o[0] = (unsigned char)((fin ? 0x80 : 0) | op);
	if (len <= 125) {
		o[1] = (unsigned char)(0x80 | len);
	} else if (len <= 65535) {
		o[1] = 0x80 | 126;
		o[h++] = (unsigned char)(len >> 8);
		o[h++] = (unsigned char)len;
	} else {
		o[1] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			o[h++] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	memcpy(o + h, mask, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		o[h + i] = in[i] ^ mask[i & 3];
	return (int)need;
}

int ws_close_code_ok(int code)
{
	return (code >= 1000 && code <= 1003) ||
	       (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

int ws_close_write(char *buf, size_t cap, int code, const char *reason,
                   size_t rlen, const uint8_t mask[4])
{
	unsigned char pl[WS_CTL_MAX];

	if (code == 0)
		return rlen ? ERR_INVAL :
		       ws_frame_write(buf, cap, WS_OP_CLOSE, 1, "", 0, mask);
	if (!ws_close_code_ok(code) || rlen > WS_REASON_MAX)
		return ERR_INVAL;
	if (!u8_whole(reason, rlen))
		return ERR_UTF8;
	pl[0] = (unsigned char)(code >> 8);
	pl[1] = (unsigned char)code;
	if (rlen)
		memcpy(pl + 2, reason, rlen);
	return ws_frame_write(buf, cap, WS_OP_CLOSE, 1, pl, rlen + 2, mask);
}

int ws_close_code_of(int err)
{
	switch (err) {
	case ERR_PROTO:
		return WS_CLOSE_PROTOCOL;
	case ERR_UTF8:
		return WS_CLOSE_BAD_DATA;
	case ERR_TOOBIG:
		return WS_CLOSE_TOOBIG;
	default:
		return WS_CLOSE_INTERNAL;
	}
}

/* ---------------------------------------------------------------- reader */

void ws_reader_init(struct ws_reader *r, void *buf, size_t cap)
{
	memset(r, 0, sizeof *r);
	r->buf = buf;
	r->cap = buf ? cap : 0;
	r->mop = WS_OP_NONE;
	r->hneed = 2;
}

/* The first header byte: FIN, RSV1-3 (no extension: must be 0), opcode,
 * and whether the opcode fits the message in progress. */
static int hdr_first(struct ws_reader *r, unsigned c)
{
	r->fin = (c & 0x80) != 0;
	r->fop = (int)(c & 0x0f);
	if ((c & 0x70) || !op_known(r->fop))
		return ERR_PROTO;
	if (is_control(r->fop))
		return r->fin ? 0 : ERR_PROTO;
	if (r->fop == WS_OP_CONT)
		return r->mop == WS_OP_NONE ? ERR_PROTO : 0;
	return r->mop == WS_OP_NONE ? 0 : ERR_PROTO;
}

/* The second: MASK (a server never masks) and the 7-bit length. */
static int hdr_second(struct ws_reader *r, unsigned c)
{
	unsigned len7 = c & 0x7f;

	if ((c & 0x80) || (is_control(r->fop) && len7 > WS_CTL_MAX))
		return ERR_PROTO;
	r->flen = len7;
	r->hneed = len7 == 127 ? 10 : len7 == 126 ? 4 : 2;
	return 0;
}

/* The extended length: the shortest form only (RFC 6455 5.2: "the
 * minimal number of bytes MUST be used"), the top bit of 64 clear. */
static int hdr_length(struct ws_reader *r)
{
	uint64_t n = 0;

	for (size_t i = 2; i < r->hneed; i++)
		n = n << 8 | r->hdr[i];
	if (r->hneed == 4 && n < 126)
		return ERR_PROTO;
	if (r->hneed == 10 && (n >> 63 || n <= 65535))
		return ERR_PROTO;
	r->flen = n;
	return 0;
}

/* The header is complete: a data frame must fit the cap with what was
 * assembled before it; a first frame starts a message. */
static int hdr_done(struct ws_reader *r)
{
	int e = r->hneed > 2 ? hdr_length(r) : 0;

	if (e)
		return e;
	if (!is_control(r->fop)) {
		if (r->flen > r->cap - r->mlen)
			return ERR_TOOBIG;
		if (r->fop != WS_OP_CONT) {
			r->mop = r->fop;
			r->utf8 = 0;
		}
	}
	r->in_payload = 1;
	r->fgot = 0;
	return 0;
}

static int hdr_byte(struct ws_reader *r, unsigned c)
{
	r->hdr[r->hlen++] = (unsigned char)c;
	if (r->hlen == 1)
		return hdr_first(r, c);
	if (r->hlen == 2) {
		int e = hdr_second(r, c);

		if (e || r->hneed > 2)
			return e;
	}
	return r->hlen == r->hneed ? hdr_done(r) : 0;
}

static void next_frame(struct ws_reader *r)
{
	r->in_payload = 0;
	r->hlen = 0;
	r->hneed = 2;
}

/* A complete close frame: no payload (no status), or a code that may be
 * sent and a UTF-8 reason; a one-byte payload is malformed. */
static int close_frame(struct ws_reader *r, struct ws_msg *m)
{
	size_t n = (size_t)r->flen;

	r->closed = 1;
	m->code = WS_CLOSE_NO_STATUS;
	m->data = (const char *)r->ctl;
	if (n == 0)
		return 1;
	if (n == 1)
		return ERR_PROTO;
	m->code = r->ctl[0] << 8 | r->ctl[1];
	if (!ws_close_code_ok(m->code))
		return ERR_PROTO;
	if (!u8_whole(r->ctl + 2, n - 2))
		return ERR_UTF8;
	m->data += 2;
	m->len = n - 2;
	return 1;
}

/* A complete frame: 1 when it completes something for the caller. */
static int frame_end(struct ws_reader *r, struct ws_msg *m)
{
	next_frame(r);
	if (r->fop == WS_OP_CLOSE) {
		m->op = WS_OP_CLOSE;
		return close_frame(r, m);
	}
	if (is_control(r->fop)) {
		m->op = r->fop;
		m->data = (const char *)r->ctl;
		m->len = (size_t)r->flen;
		return 1;
	}
	if (!r->fin)
		return 0;
	if (r->mop == WS_OP_TEXT && r->utf8 != 0)
		return ERR_UTF8;        /* ends inside a character */
	m->op = r->mop;
	if (!m->data) {
		m->data = r->buf ? (const char *)r->buf : "";
		m->len = r->mlen;
	}
	r->mop = WS_OP_NONE;
	r->mlen = 0;
	return 1;
}

/* Takes payload bytes from in[0..len); `*used` gets how many. Returns
 * as frame_end, or 0 when the frame needs more. */
static int payload(struct ws_reader *r, const unsigned char *in, size_t len,
                   size_t *used, struct ws_msg *m)
{
	uint64_t left = r->flen - r->fgot;
	size_t n = left < len ? (size_t)left : len;
	int whole = !is_control(r->fop) && r->fop != WS_OP_CONT && r->fin &&
	            r->fgot == 0 && n == left;

	*used = n;
	if (is_control(r->fop)) {
		memcpy(r->ctl + r->fgot, in, n);
	} else {
		if (r->mop == WS_OP_TEXT) {
			r->utf8 = u8_run(r->utf8, in, n);
			if (r->utf8 == U8_BAD)
				return ERR_UTF8;
		}
		if (whole) {            /* zero-copy: a slice of the input */
			m->data = (const char *)in;
			m->len = n;
		} else {
			memcpy(r->buf + r->mlen, in, n);
			r->mlen += n;
		}
	}
	r->fgot += n;
	return r->fgot == r->flen ? frame_end(r, m) : 0;
}

int ws_reader_feed(struct ws_reader *r, const void *in, size_t len,
                   struct ws_msg *m)
{
	const unsigned char *p = in;
	size_t i = 0, used;
	int e = 0;

	memset(m, 0, sizeof *m);
	m->op = WS_OP_NONE;
	if (r->err)
		return r->err;
	if (r->closed)
		return ERR_CLOSED;
	if (len > (size_t)INT32_MAX)
		len = INT32_MAX;        /* the result must fit an int */
	while (i < len && e == 0) {
		if (!r->in_payload) {
			e = hdr_byte(r, p[i++]);
			/* An empty payload ends the frame with its header. */
			if (e == 0 && r->in_payload && r->flen == 0)
				e = frame_end(r, m);
			continue;
		}
		e = payload(r, p + i, len - i, &used, m);
		i += used;
	}
	if (e < 0) {
		memset(m, 0, sizeof *m);
		m->op = WS_OP_NONE;
		r->err = e;
		return e;
	}
	return (int)i;
}
