/* The sans-I/O WebSocket client (net/ws): the opening handshake, the
 * frame writer, and the frame reader fed whole, byte by byte and in
 * pieces; ws:// URLs. */
#include "net/ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/url.h"
#include "harness.h"

/* ---------------------------------------------------------------- driver */

/* What a stream read into: the events in order and how it ended. */
struct ev {
	int op;
	int code;
	size_t len;
	uint32_t sum;           /* of the whole payload */
	char head[80];          /* its first bytes, NUL-terminated */
};

struct trace {
	struct ev ev[16];
	int n;
	int err;                /* 0, or the error that stopped it */
	int zero_copy;          /* a message pointed into the input */
};

static unsigned char rbuf[70000];

static uint32_t sum_of(const char *p, size_t n)
{
	uint32_t s = 2166136261u;

	for (size_t i = 0; i < n; i++)
		s = (s ^ (unsigned char)p[i]) * 16777619u;
	return s;
}

static void record(struct trace *t, const struct ws_msg *m, const void *in,
                   size_t inlen)
{
	struct ev *e;

	if (t->n == 16)
		return;
	e = &t->ev[t->n++];
	e->op = m->op;
	e->code = m->code;
	e->len = m->len;
	e->sum = sum_of(m->data, m->len);
	snprintf(e->head, sizeof e->head, "%.*s",
	         (int)(m->len < 79 ? m->len : 79), m->data);
	if (m->len && m->data >= (const char *)in &&
	    m->data + m->len <= (const char *)in + inlen)
		t->zero_copy = 1;
}

/* Feeds s[0..len) in pieces of `step` bytes (0: whole) to a reader
 * capped at `cap`. */
static struct trace feed(const void *s, size_t len, size_t cap, size_t step)
{
	struct trace t = { 0 };
	struct ws_reader r;
	struct ws_msg m;
	const char *p = s;
	size_t off = 0;

	ws_reader_init(&r, rbuf, cap);
	while (off < len) {
		size_t piece = step && step < len - off ? step : len - off;
		size_t used = 0;

		while (used < piece) {
			int n = ws_reader_feed(&r, p + off + used, piece - used,
			                       &m);

			if (n < 0) {
				t.err = n;
				CHECK_EQ(ws_reader_feed(&r, "", 0, &m), n);
				return t;
			}
			if (m.op == WS_OP_NONE)
				CHECK_EQ(n, piece - used);
			else
				record(&t, &m, p + off + used, piece - used);
			used += (size_t)n;
		}
		off += piece;
	}
	return t;
}

static void same(const struct trace *a, const struct trace *b)
{
	CHECK_EQ(a->err, b->err);
	CHECK_EQ(a->n, b->n);
	for (int i = 0; i < a->n && i < b->n; i++) {
		CHECK_EQ(a->ev[i].op, b->ev[i].op);
		CHECK_EQ(a->ev[i].code, b->ev[i].code);
		CHECK_EQ(a->ev[i].len, b->ev[i].len);
		CHECK_EQ(a->ev[i].sum, b->ev[i].sum);
	}
}

/* The same stream whole, byte by byte and in pieces of 3 and 7: the
 * same events and end. Returns the whole run. */
static struct trace feed3(const void *s, size_t len, size_t cap)
{
	struct trace whole = feed(s, len, cap, 0);
	struct trace one = feed(s, len, cap, 1);
	struct trace three = feed(s, len, cap, 3);
	struct trace seven = feed(s, len, cap, 7);

	same(&whole, &one);
	same(&whole, &three);
	same(&whole, &seven);
	return whole;
}

/* Appends a server frame (unmasked): first byte `b0` as given (FIN,
 * RSV, opcode), the shortest length form, the payload. */
static size_t sframe(unsigned char *o, unsigned b0, const void *p, size_t n)
{
	size_t h = 0;

	o[h++] = (unsigned char)b0;
	if (n <= 125) {
		o[h++] = (unsigned char)n;
	} else if (n <= 65535) {
		o[h++] = 126;
		o[h++] = (unsigned char)(n >> 8);
		o[h++] = (unsigned char)n;
	} else {
		o[h++] = 127;
		for (int i = 7; i >= 0; i--)
			o[h++] = (unsigned char)((uint64_t)n >> (8 * i));
	}
	memcpy(o + h, p, n);
	return h + n;
}

/* One stream that must fail with `err`, the same way in every split. */
static void fails(const void *s, size_t len, int err, int code)
{
	struct trace t = feed3(s, len, 1024);

	CHECK_EQ(t.err, err);
	CHECK_EQ(ws_close_code_of(t.err), code);
}

#define FAILS(lit, err, code) fails(lit, sizeof(lit) - 1, err, code)

/* A stream of a control frame and then a text message `text`. */
static void second_is(const void *s, size_t len, size_t cap, const char *text)
{
	struct trace t = feed3(s, len, cap);

	CHECK_EQ(t.err, 0);
	CHECK_EQ(t.n, 2);
	CHECK_EQ(t.ev[1].op, WS_OP_TEXT);
	CHECK_STR(t.ev[1].head, text);
}

/* ---------------------------------------------------------------- handshake */

static void test_rfc_key_and_accept(void)
{
	struct ws_key k;
	char acc[WS_ACCEPT_LEN + 1];

	/* RFC 6455 1.3: the nonce is "the sample nonce" */
	CHECK_EQ(ws_key_make(&k, (const uint8_t *)"the sample nonce"), 0);
	CHECK_STR(k.key, "dGhlIHNhbXBsZSBub25jZQ==");
	CHECK_STR(k.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	CHECK_EQ(ws_accept_of("dGhlIHNhbXBsZSBub25jZQ==", 24, acc), 0);
	CHECK_STR(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_handshake_request(void)
{
	static const char want[] =
		"GET /v1/agents/a/ws?x=1 HTTP/1.1\r\n"
		"Host: app.example.org:8283\r\n"
		"Upgrade: websocket\r\n"
		"Connection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		"Sec-WebSocket-Version: 13\r\n"
		"Authorization: Bearer tok-123\r\n\r\n";
	char buf[1024], big[LIM_WS_BEARER + 2];
	struct ws_key k;
	struct url u;
	int n;

	ws_key_make(&k, (const uint8_t *)"the sample nonce");
	CHECK_EQ(url_parse_ws(&u, "ws://App.example.org:8283/v1/agents/a/ws?x=1"),
	         0);
	n = ws_handshake_write(buf, sizeof buf, &u, &k, "tok-123");
	CHECK_EQ(n, sizeof want - 1);
	CHECK(n > 0 && memcmp(buf, want, (size_t)n) == 0);
	CHECK(!strstr(buf, "Origin"));
	/* no token, default port of wss, no path */
	CHECK_EQ(url_parse_ws(&u, "wss://h"), 0);
	n = ws_handshake_write(buf, sizeof buf, &u, &k, "");
	CHECK(n > 0);
	buf[n > 0 ? n : 0] = '\0';
	CHECK(strncmp(buf, "GET / HTTP/1.1\r\nHost: h\r\nUpgrade", 32) == 0);
	CHECK(!strstr(buf, "Authorization"));
	CHECK_EQ(ws_handshake_write(buf, sizeof buf, &u, &k, NULL), n);
	/* a token that would inject a header, one too long, no room */
	CHECK_EQ(ws_handshake_write(buf, sizeof buf, &u, &k, "a\r\nX: y"),
	         ERR_INVAL);
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK_EQ(ws_handshake_write(buf, sizeof buf, &u, &k, big), ERR_TOOBIG);
	CHECK_EQ(ws_handshake_write(buf, 40, &u, &k, NULL), ERR_TOOBIG);
}

/* The RFC's answer, with `extra` headers, and "DATA" (a frame) after. */
static int answer(const char *status, const char *extra, const char **why,
                  struct httpp_head *h, size_t *len)
{
	static char buf[1024];
	struct ws_key k;
	int n, r = ERR_AGAIN;

	ws_key_make(&k, (const uint8_t *)"the sample nonce");
	n = snprintf(buf, sizeof buf, "HTTP/1.1 %s\r\n%s\r\nDATA", status,
	             extra);
	*len = (size_t)n;
	/* byte by byte: need more until the empty line */
	for (size_t vis = 1; vis <= (size_t)n && r == ERR_AGAIN; vis++)
		r = ws_handshake_read(h, buf, vis, &k, why);
	return r;
}

#define GOOD_101 "Upgrade: websocket\r\nConnection: Upgrade\r\n" \
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"

static void test_handshake_answer(void)
{
	static const struct {
		const char *status, *extra, *why;
		int want;
	} c[] = {
		{ "101 Switching Protocols", GOOD_101, "", 0 },
		{ "101 x", "upgrade: WebSocket\r\nconnection: keep-alive, "
		  "upgrade\r\nsec-websocket-accept: "
		  "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", "", 0 },
		{ "101 x", GOOD_101 "Sec-WebSocket-Extensions:\r\n", "", 0 },
		{ "403 Forbidden", "Content-Length: 0\r\n",
		  "the server refused the upgrade", ERR_HTTP },
		{ "200 OK", GOOD_101, "the server refused the upgrade",
		  ERR_HTTP },
		{ "101 x", "Connection: Upgrade\r\nSec-WebSocket-Accept: "
		  "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", "no Upgrade: websocket",
		  ERR_PROTO },
		{ "101 x", "Upgrade: h2c\r\n" GOOD_101, "", 0 },
		{ "101 x", "Upgrade: websocket\r\nConnection: close\r\n"
		  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
		  "no Connection: Upgrade", ERR_PROTO },
		{ "101 x", "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo\r\n",
		  "wrong Sec-WebSocket-Accept", ERR_PROTO },
		{ "101 x", "Upgrade: websocket\r\nConnection: Upgrade\r\n",
		  "wrong Sec-WebSocket-Accept", ERR_PROTO },
		{ "101 x", GOOD_101 "Sec-WebSocket-Accept: x\r\n",
		  "wrong Sec-WebSocket-Accept", ERR_PROTO },
		{ "101 x", GOOD_101 "Sec-WebSocket-Extensions: "
		  "permessage-deflate\r\n", "an extension we did not ask for",
		  ERR_PROTO },
		{ "101 x", GOOD_101 "Sec-WebSocket-Protocol: chat\r\n",
		  "a subprotocol we did not ask for", ERR_PROTO },
	};
	struct httpp_head h;
	const char *why;
	size_t len;

	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		int r = answer(c[i].status, c[i].extra, &why, &h, &len);

		if (c[i].want == 0) {
			/* the head's length: the frame after it is not eaten */
			if (!CHECK(r > 0 && (size_t)r == len - 4))
				fprintf(stderr, "  case %zu: %d %s\n", i, r, why);
		} else if (r != c[i].want) {
			CHECK_EQ(r, c[i].want);
			fprintf(stderr, "  case %zu\n", i);
		}
		CHECK_STR(why, c[i].why);
	}
	CHECK_EQ(answer("403 Forbidden", "", &why, &h, &len), ERR_HTTP);
	CHECK_EQ(h.status, 403);
}

static void test_handshake_answer_bad_head(void)
{
	struct ws_key k;
	struct httpp_head h;
	const char *why;
	static char big[LIM_HTTP_HEAD + 64];

	ws_key_make(&k, (const uint8_t *)"the sample nonce");
	CHECK_EQ(ws_handshake_read(&h, "HTTP/1.0 101 x\r\n" GOOD_101 "\r\n",
	                           16 + sizeof GOOD_101 - 1 + 2, &k, &why),
	         ERR_PROTO);
	CHECK_STR(why, "not HTTP/1.1");
	CHECK_EQ(ws_handshake_read(&h, "SSH-2.0", 7, &k, &why), ERR_PROTO);
	CHECK_STR(why, "malformed response head");
	memcpy(big, "HTTP/1.1 101 x\r\nX: ", 19);
	memset(big + 19, 'x', sizeof big - 19);
	CHECK_EQ(ws_handshake_read(&h, big, sizeof big, &k, &why), ERR_TOOBIG);
}

static void test_url_ws(void)
{
	static const struct {
		const char *url;
		int ws, err, tls, port;
		const char *host, *path;
	} c[] = {
		{ "ws://127.0.0.1/ws", 1, 0, 0, 80, "127.0.0.1", "/ws" },
		{ "WSS://[::1]:8443", 1, 0, 1, 8443, "::1", "" },
		{ "wss://H?q=1", 1, 0, 1, 443, "h", "?q=1" },
		{ "https://h/", 1, ERR_INVAL, 0, 0, "", "" },
		{ "ws:/h", 1, ERR_INVAL, 0, 0, "", "" },
		{ "ws://u@h/", 1, ERR_INVAL, 0, 0, "", "" },
		{ "ws://h/#f", 1, ERR_INVAL, 0, 0, "", "" },
		{ "ws://h:0/", 1, ERR_INVAL, 0, 0, "", "" },
		{ "wsx://h/", 1, ERR_INVAL, 0, 0, "", "" },
		/* the HTTP parser stays HTTP only */
		{ "ws://h/", 0, ERR_INVAL, 0, 0, "", "" },
		{ "wss://h/", 0, ERR_INVAL, 0, 0, "", "" },
		{ "https://h/", 0, 0, 1, 443, "h", "/" },
	};

	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		struct url u;
		int r = c[i].ws ? url_parse_ws(&u, c[i].url) :
		        url_parse(&u, c[i].url);

		CHECK_EQ(r, c[i].err);
		if (r != 0)
			continue;
		CHECK_EQ(u.tls, c[i].tls);
		CHECK_EQ(u.port, c[i].port);
		CHECK_STR(u.host, c[i].host);
		CHECK_STR(u.path, c[i].path);
	}
}

/* ---------------------------------------------------------------- writer */

static const uint8_t rfc_mask[4] = { 0x37, 0xfa, 0x21, 0x3d };

static void test_rfc_frames_written(void)
{
	/* RFC 6455 5.7: a masked "Hello", and a masked Pong of it */
	static const unsigned char text[] = { 0x81, 0x85, 0x37, 0xfa, 0x21,
		0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	char buf[64];

	CHECK_EQ(ws_frame_write(buf, sizeof buf, WS_OP_TEXT, 1, "Hello", 5,
	                        rfc_mask), sizeof text);
	CHECK(memcmp(buf, text, sizeof text) == 0);
	CHECK_EQ(ws_frame_write(buf, sizeof buf, WS_OP_PONG, 1, "Hello", 5,
	                        rfc_mask), sizeof text);
	CHECK_EQ((unsigned char)buf[0], 0x8a);
	CHECK(memcmp(buf + 1, text + 1, sizeof text - 1) == 0);
	/* the first fragment of a message: no FIN */
	CHECK_EQ(ws_frame_write(buf, sizeof buf, WS_OP_TEXT, 0, "Hel", 3,
	                        rfc_mask), 9);
	CHECK_EQ((unsigned char)buf[0], 0x01);
}

/* Unmasks a client frame written by ws_frame_write: checks the mask bit
 * and the length form; returns the header length. */
static size_t unmask(unsigned char *f, size_t n, uint64_t *plen)
{
	size_t h = 2;
	uint64_t len = f[1] & 0x7f;

	CHECK(f[1] & 0x80);
	if (len == 126)
		len = (uint64_t)f[2] << 8 | f[3], h = 4;
	else if (len == 127)
		for (len = 0; h < 10; h++)
			len = len << 8 | f[h];
	for (uint64_t i = 0; i < len && h + 4 + i < n; i++)
		f[h + 4 + i] ^= f[h + (i & 3)];
	*plen = len;
	return h + 4;
}

static void test_lengths_written(void)
{
	static const size_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536,
	                               66000 };
	static const size_t hdrs[] = { 6, 6, 6, 8, 8, 8, 14, 14 };
	static char p[66000], buf[66100];
	const uint8_t mask[4] = { 1, 0x80, 0xff, 0x55 };

	for (size_t i = 0; i < sizeof p; i++)
		p[i] = (char)('a' + i % 26);
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		uint64_t got;
		int n = ws_frame_write(buf, sizeof buf, WS_OP_BINARY, 1, p,
		                       lens[i], mask);

		CHECK_EQ(n, hdrs[i] + lens[i]);
		CHECK_EQ(ws_frame_size(lens[i]), hdrs[i] + lens[i]);
		CHECK_EQ(unmask((unsigned char *)buf, (size_t)n, &got),
		         hdrs[i]);
		CHECK_EQ(got, lens[i]);
		CHECK(memcmp(buf + hdrs[i], p, lens[i]) == 0);
		/* one byte short of room */
		CHECK_EQ(ws_frame_write(buf, (size_t)n - 1, WS_OP_BINARY, 1, p,
		                        lens[i], mask), ERR_TOOBIG);
	}
	CHECK_EQ(ws_frame_size(SIZE_MAX - 3), SIZE_MAX);
}

static void test_writer_refuses(void)
{
	char buf[256], big[126] = { 0 };

	CHECK_EQ(ws_frame_write(buf, sizeof buf, WS_OP_PING, 0, "x", 1,
	                        rfc_mask), ERR_INVAL);
	CHECK_EQ(ws_frame_write(buf, sizeof buf, WS_OP_PING, 1, big, 126,
	                        rfc_mask), ERR_INVAL);
	CHECK_EQ(ws_frame_write(buf, sizeof buf, WS_OP_PONG, 1, big, 125,
	                        rfc_mask), 131);
	CHECK_EQ(ws_frame_write(buf, sizeof buf, 3, 1, "x", 1, rfc_mask),
	         ERR_INVAL);
	CHECK_EQ(ws_frame_write(buf, sizeof buf, 0xb, 1, "x", 1, rfc_mask),
	         ERR_INVAL);
	CHECK_EQ(ws_frame_write(buf, sizeof buf, WS_OP_TEXT, 1, "\xc0\x80", 2,
	                        rfc_mask), ERR_UTF8);
	/* a fragment may end inside a character */
	CHECK_EQ(ws_frame_write(buf, sizeof buf, WS_OP_TEXT, 0, "\xe2\x82", 2,
	                        rfc_mask), 8);
}

static void test_close_written(void)
{
	char buf[256], why[WS_REASON_MAX + 1];
	uint64_t len;
	size_t h;

	CHECK_EQ(ws_close_write(buf, sizeof buf, 1000, "bye", 3, rfc_mask),
	         11);
	h = unmask((unsigned char *)buf, 11, &len);
	CHECK_EQ((unsigned char)buf[0], 0x88);
	CHECK_EQ(len, 5);
	CHECK(memcmp(buf + h, "\x03\xe8" "bye", 5) == 0);
	CHECK_EQ(ws_close_write(buf, sizeof buf, 0, NULL, 0, rfc_mask), 6);
	CHECK_EQ((unsigned char)buf[1], 0x80);
	CHECK_EQ(ws_close_write(buf, sizeof buf, 0, "x", 1, rfc_mask),
	         ERR_INVAL);
	CHECK_EQ(ws_close_write(buf, sizeof buf, 1005, NULL, 0, rfc_mask),
	         ERR_INVAL);
	CHECK_EQ(ws_close_write(buf, sizeof buf, 4999, NULL, 0, rfc_mask), 8);
	CHECK_EQ(ws_close_write(buf, sizeof buf, 1001, "\xff", 1, rfc_mask),
	         ERR_UTF8);
	memset(why, 'w', sizeof why);
	CHECK_EQ(ws_close_write(buf, sizeof buf, 1000, why, WS_REASON_MAX,
	                        rfc_mask), 131);
	CHECK_EQ(ws_close_write(buf, sizeof buf, 1000, why, WS_REASON_MAX + 1,
	                        rfc_mask), ERR_INVAL);
	CHECK_EQ(ws_close_write(buf, 10, 1000, "bye", 3, rfc_mask),
	         ERR_TOOBIG);
}

static void test_close_codes(void)
{
	static const int ok[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009,
	                          1010, 1011, 1012, 1013, 1014, 3000, 3999,
	                          4000, 4999 };
	static const int bad[] = { -1, 0, 999, 1004, 1005, 1006, 1015, 1016,
	                           1100, 2000, 2999, 5000, 65535 };

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		CHECK_EQ(ws_close_code_ok(ok[i]), 1);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ(ws_close_code_ok(bad[i]), 0);
	CHECK_EQ(ws_close_code_of(ERR_PROTO), 1002);
	CHECK_EQ(ws_close_code_of(ERR_UTF8), 1007);
	CHECK_EQ(ws_close_code_of(ERR_TOOBIG), 1009);
	CHECK_EQ(ws_close_code_of(ERR_IO), 1011);
}

/* ---------------------------------------------------------------- reader */

static void test_rfc_frames_read(void)
{
	/* RFC 6455 5.7 */
	static const char hello[] = "\x81\x05Hello";
	static const char frag[] = "\x01\x03Hel\x80\x02lo";
	static const char ping[] = "\x89\x05Hello";
	static const char masked[] = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d"
	                             "\x51\x58";
	static unsigned char big[65546];
	struct trace t;

	t = feed3(hello, sizeof hello - 1, 1024);
	CHECK_EQ(t.err, 0);
	CHECK_EQ(t.n, 1);
	CHECK_EQ(t.ev[0].op, WS_OP_TEXT);
	CHECK_STR(t.ev[0].head, "Hello");
	CHECK(t.zero_copy);             /* whole: a slice of the input */
	CHECK(!feed(hello, sizeof hello - 1, 1024, 1).zero_copy);
	t = feed3(frag, sizeof frag - 1, 1024);
	CHECK_EQ(t.n, 1);
	CHECK_STR(t.ev[0].head, "Hello");
	t = feed3(ping, sizeof ping - 1, 1024);
	CHECK_EQ(t.n, 1);
	CHECK_EQ(t.ev[0].op, WS_OP_PING);
	CHECK_STR(t.ev[0].head, "Hello");
	/* a server must not mask */
	FAILS(masked, ERR_PROTO, 1002);
	/* 256 bytes (16-bit length), 64 KiB (64-bit length) */
	memset(big, 'b', sizeof big);
	big[0] = 0x82;
	big[1] = 0x7e;
	big[2] = 0x01;
	big[3] = 0x00;
	t = feed3(big, 4 + 256, sizeof rbuf);
	CHECK_EQ(t.n, 1);
	CHECK_EQ(t.ev[0].op, WS_OP_BINARY);
	CHECK_EQ(t.ev[0].len, 256);
	memcpy(big, "\x82\x7f\0\0\0\0\0\x01\0\0", 10);
	t = feed3(big, sizeof big, sizeof rbuf);
	CHECK_EQ(t.err, 0);
	CHECK_EQ(t.n, 1);
	CHECK_EQ(t.ev[0].len, 65536);
	CHECK_EQ(t.ev[0].sum, sum_of((const char *)big + 10, 65536));
}

static void test_lengths_read(void)
{
	static const size_t lens[] = { 0, 125, 126, 65535, 65536 };
	static unsigned char s[66000];
	static char p[65536];

	for (size_t i = 0; i < sizeof p; i++)
		p[i] = (char)(' ' + i % 90);
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		size_t n = sframe(s, 0x81, p, lens[i]);
		struct trace t = feed3(s, n, sizeof rbuf);

		CHECK_EQ(t.err, 0);
		CHECK_EQ(t.n, 1);
		CHECK_EQ(t.ev[0].len, lens[i]);
		CHECK_EQ(t.ev[0].sum, sum_of(p, lens[i]));
	}
	/* the longer forms for lengths the shorter ones could say */
	FAILS("\x81\x7e\x00\x7d", ERR_PROTO, 1002);
	FAILS("\x82\x7f\0\0\0\0\0\0\xff\xff", ERR_PROTO, 1002);
	/* the top bit of a 64-bit length */
	FAILS("\x82\x7f\x80\0\0\0\0\0\0\x01", ERR_PROTO, 1002);
	/* a length past any cap, without its top bit */
	FAILS("\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff", ERR_TOOBIG, 1009);
}

static void test_fragments_with_control_frames(void)
{
	unsigned char s[256];
	size_t n = 0;
	struct trace t;

	n += sframe(s + n, 0x01, "Hel", 3);
	n += sframe(s + n, 0x89, "p1", 2);      /* ping in between */
	n += sframe(s + n, 0x00, "l", 1);
	n += sframe(s + n, 0x8a, "", 0);        /* empty pong */
	n += sframe(s + n, 0x00, "", 0);        /* empty fragment */
	n += sframe(s + n, 0x80, "o", 1);
	n += sframe(s + n, 0x82, "\0\1", 2);    /* a binary message */
	n += sframe(s + n, 0x81, "", 0);        /* an empty text message */
	n += sframe(s + n, 0x01, "x", 1);
	n += sframe(s + n, 0x88, "\x03\xe8" "bye", 5);  /* close mid-message */
	t = feed3(s, n, 1024);
	CHECK_EQ(t.err, 0);
	CHECK_EQ(t.n, 6);
	CHECK_EQ(t.ev[0].op, WS_OP_PING);
	CHECK_STR(t.ev[0].head, "p1");
	CHECK_EQ(t.ev[1].op, WS_OP_PONG);
	CHECK_EQ(t.ev[1].len, 0);
	CHECK_EQ(t.ev[2].op, WS_OP_TEXT);
	CHECK_STR(t.ev[2].head, "Hello");
	CHECK_EQ(t.ev[3].op, WS_OP_BINARY);
	CHECK_EQ(t.ev[3].len, 2);
	CHECK_EQ(t.ev[4].op, WS_OP_TEXT);
	CHECK_EQ(t.ev[4].len, 0);
	CHECK_EQ(t.ev[5].op, WS_OP_CLOSE);
	CHECK_EQ(t.ev[5].code, 1000);
	CHECK_STR(t.ev[5].head, "bye");
	/* nothing is read after a close */
	s[n++] = 0x81;
	s[n++] = 0;
	t = feed3(s, n, 1024);
	CHECK_EQ(t.err, ERR_CLOSED);
	CHECK_EQ(t.n, 6);
}

static void test_violations(void)
{
	FAILS("\x91\x00", ERR_PROTO, 1002);             /* RSV1 */
	FAILS("\xa1\x00", ERR_PROTO, 1002);             /* RSV2 */
	FAILS("\xc1\x00", ERR_PROTO, 1002);             /* RSV3 */
	for (unsigned op = 3; op <= 0xf; op++) {
		char s[2] = { (char)(0x80 | op), 0 };

		if (op != 8 && op != 9 && op != 0xa)
			fails(s, 2, ERR_PROTO, 1002);   /* unknown opcode */
	}
	FAILS("\x09\x00", ERR_PROTO, 1002);             /* fragmented ping */
	FAILS("\x08\x00", ERR_PROTO, 1002);             /* fragmented close */
	FAILS("\x89\x7e\x00\x7e", ERR_PROTO, 1002);     /* 126-byte ping */
	FAILS("\x8a\x7f\0\0\0\0\0\0\0\x01", ERR_PROTO, 1002);
	FAILS("\x80\x01x", ERR_PROTO, 1002);            /* continuation alone */
	FAILS("\x00\x01x", ERR_PROTO, 1002);
	FAILS("\x01\x01x\x81\x01y", ERR_PROTO, 1002);   /* text in a text */
	FAILS("\x01\x01x\x02\x01y", ERR_PROTO, 1002);   /* binary in a text */
	FAILS("\x81\x81\0\0\0\0x", ERR_PROTO, 1002);    /* masked */
	/* close: one byte, codes that may not be sent, a bad reason */
	FAILS("\x88\x01\x03", ERR_PROTO, 1002);
	FAILS("\x88\x02\x03\xe7", ERR_PROTO, 1002);     /* 999 */
	FAILS("\x88\x02\x03\xec", ERR_PROTO, 1002);     /* 1004 */
	FAILS("\x88\x02\x03\xed", ERR_PROTO, 1002);     /* 1005 */
	FAILS("\x88\x02\x03\xee", ERR_PROTO, 1002);     /* 1006 */
	FAILS("\x88\x02\x03\xf7", ERR_PROTO, 1002);     /* 1015 */
	FAILS("\x88\x02\x0b\xb7", ERR_PROTO, 1002);     /* 2999 */
	FAILS("\x88\x02\x13\x88", ERR_PROTO, 1002);     /* 5000 */
	FAILS("\x88\x02\0\0", ERR_PROTO, 1002);         /* 0 */
	FAILS("\x88\x04\x03\xe8\xc3\x28", ERR_UTF8, 1007);
}

static void test_close_frames_read(void)
{
	static const struct {
		const char *s;
		size_t n;
		int code;
		const char *why;
	} c[] = {
		{ "\x88\x00", 2, 1005, "" },
		{ "\x88\x02\x03\xe8", 4, 1000, "" },
		{ "\x88\x02\x03\xf3", 4, 1011, "" },
		{ "\x88\x02\x03\xf4", 4, 1012, "" },   /* uvicorn restarting */
		{ "\x88\x02\x0f\xa0", 4, 4000, "" },
		{ "\x88\x06\x03\xf3\xe2\x82\xac!", 8, 1011, "\xe2\x82\xac!" },
	};

	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		struct trace t = feed3(c[i].s, c[i].n, 1024);

		CHECK_EQ(t.err, 0);
		CHECK_EQ(t.n, 1);
		CHECK_EQ(t.ev[0].op, WS_OP_CLOSE);
		CHECK_EQ(t.ev[0].code, c[i].code);
		CHECK_STR(t.ev[0].head, c[i].why);
	}
}

static void test_utf8(void)
{
	static const char *const good[] = {
		"", "plain", "\xc2\xa9", "\xe2\x82\xac", "\xed\x9f\xbf",
		"\xee\x80\x80", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",
		"\xef\xbf\xbf", "{\"a\":\"caf\xc3\xa9 \xe2\x82\xac\"}\x7f",
	};
	static const char *const bad[] = {
		"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80",
		"\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
		"\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80",
		"\xf5\x80\x80\x80", "\xff", "\xfe", "a\xe2\x82",
		"\xe2\x82\x61", "\xc3", "\xc3\xc3", "{\"a\":1}\xff",
		"plain text then \xc3\xa9\xa9 one too many",
	};
	unsigned char s[64];
	size_t n;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		n = sframe(s, 0x81, good[i], strlen(good[i]));
		CHECK_EQ(feed3(s, n, 1024).err, 0);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = sframe(s, 0x81, bad[i], strlen(bad[i]));
		fails(s, n, ERR_UTF8, 1007);
		/* binary data is not checked */
		n = sframe(s, 0x82, bad[i], strlen(bad[i]));
		CHECK_EQ(feed3(s, n, 1024).err, 0);
	}
}

static void test_utf8_across_fragments(void)
{
	unsigned char s[64];
	size_t n = 0;

	/* the euro sign split 1 + 2 over three fragments, a ping between */
	n += sframe(s + n, 0x01, "a\xe2", 2);
	n += sframe(s + n, 0x89, "", 0);
	n += sframe(s + n, 0x00, "\x82", 1);
	n += sframe(s + n, 0x80, "\xac" "b", 2);
	second_is(s, n, 1024, "a\xe2\x82\xac" "b");
	/* a split character that goes wrong in the next fragment */
	n = sframe(s, 0x01, "a\xe2\x82", 3);
	n += sframe(s + n, 0x80, "x", 1);
	fails(s, n, ERR_UTF8, 1007);
	/* a message that ends inside a character */
	n = sframe(s, 0x01, "a", 1);
	n += sframe(s + n, 0x80, "\xe2\x82", 2);
	fails(s, n, ERR_UTF8, 1007);
	/* ...which a control frame in between does not end */
	n = sframe(s, 0x01, "\xe2\x82", 2);
	n += sframe(s + n, 0x8a, "\xac", 1);
	n += sframe(s + n, 0x80, "\xac", 1);
	second_is(s, n, 1024, "\xe2\x82\xac");
}

static void test_message_cap(void)
{
	unsigned char s[256];
	size_t n;
	struct trace t;

	n = sframe(s, 0x81, "0123456789", 10);
	CHECK_EQ(feed3(s, n, 10).err, 0);
	CHECK_EQ(feed3(s, n, 9).err, ERR_TOOBIG);
	CHECK_EQ(ws_close_code_of(ERR_TOOBIG), 1009);
	/* fragments add up: 6 + 5 is over 10 */
	n = sframe(s, 0x01, "012345", 6);
	n += sframe(s + n, 0x80, "67890", 5);
	t = feed3(s, n, 10);
	CHECK_EQ(t.err, ERR_TOOBIG);
	CHECK_EQ(t.n, 0);
	/* 6 + 4 fits; control frames do not count */
	n = sframe(s, 0x01, "012345", 6);
	n += sframe(s + n, 0x89, "0123456789abc", 13);
	n += sframe(s + n, 0x80, "6789", 4);
	second_is(s, n, 10, "0123456789");
	/* no buffer: only empty messages */
	n = sframe(s, 0x81, "", 0);
	n += sframe(s + n, 0x81, "x", 1);
	{
		struct ws_reader r;
		struct ws_msg m;

		ws_reader_init(&r, NULL, 100);
		CHECK_EQ(ws_reader_feed(&r, s, n, &m), 2);
		CHECK_EQ(m.op, WS_OP_TEXT);
		CHECK(m.data != NULL);
		CHECK_EQ(ws_reader_feed(&r, s + 2, n - 2, &m), ERR_TOOBIG);
	}
}

/* Each prefix of a stream leaves the reader waiting, never failing. */
static void test_prefixes_need_more(void)
{
	unsigned char s[300];
	char z[200];
	size_t n = 0;

	memset(z, 'z', sizeof z);
	n += sframe(s + n, 0x01, "abc", 3);
	n += sframe(s + n, 0x89, "ping", 4);
	n += sframe(s + n, 0x80, z, sizeof z);
	for (size_t k = 0; k < n; k++) {
		struct trace t = feed(s, k, 1024, 1);

		CHECK_EQ(t.err, 0);
		CHECK_EQ(t.n, k >= 11 ? 1 : 0);
	}
}

int main(void)
{
	RUN(test_rfc_key_and_accept);
	RUN(test_handshake_request);
	RUN(test_handshake_answer);
	RUN(test_handshake_answer_bad_head);
	RUN(test_url_ws);
	RUN(test_rfc_frames_written);
	RUN(test_lengths_written);
	RUN(test_writer_refuses);
	RUN(test_close_written);
	RUN(test_close_codes);
	RUN(test_rfc_frames_read);
	RUN(test_lengths_read);
	RUN(test_fragments_with_control_frames);
	RUN(test_violations);
	RUN(test_close_frames_read);
	RUN(test_utf8);
	RUN(test_utf8_across_fragments);
	RUN(test_message_cap);
	RUN(test_prefixes_need_more);
	return harness_done("ws");
}
