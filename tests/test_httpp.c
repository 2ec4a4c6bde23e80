#include "net/httpp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "core/limits.h"

/* ---------------------------------------------------------------- driver */

/* What a whole response parsed into. */
struct parsed {
	int err;                /* 0, or the first error */
	int status;
	int keepalive;
	int framing;
	int complete;           /* body ended (done, or by EOF when close) */
	char body[4096];
	size_t body_len;
	char ctype[64];         /* Content-Type, to check header slices */
};

static void collect(struct parsed *p, const char *d, size_t n)
{
	if (n > sizeof p->body - p->body_len) {
		p->err = ERR_TOOBIG;
		return;
	}
	memcpy(p->body + p->body_len, d, n);
	p->body_len += n;
}

/* Feeds the body in pieces of `step` bytes (0 = all at once). */
static void feed_body(struct parsed *p, struct httpp_body *b, const char *s,
                      size_t len, size_t step)
{
	size_t off = 0;

	while (off < len && !b->done && !p->err) {
		size_t piece = step ? step : len - off, used = 0;

		if (piece > len - off)
			piece = len - off;
		while (used < piece && !b->done) {
			const char *d;
			size_t dl;
			int r = httpp_body_feed(b, s + off + used, piece - used,
			                        &d, &dl);

			if (r < 0) {
				p->err = r;
				return;
			}
			collect(p, d, dl);
			used += (size_t)r;
		}
		off += used;
	}
}

/* Parses `s` as a whole response: whole when step is 0, else growing the
 * visible head `step` bytes at a time and feeding the body in `step`
 * pieces; `eof` says the server closes after the last byte. */
static struct parsed parse(const char *s, int step, int eof)
{
	struct parsed p = { 0 };
	struct httpp_head h;
	struct httpp_body b;
	size_t len = strlen(s), vis = step ? 0 : len;
	int r = ERR_AGAIN;

	while (r == ERR_AGAIN && vis <= len) {
		if (vis)
			r = httpp_head_parse(&h, s, vis, LIM_HTTP_HEAD);
		if (vis == len)
			break;
		vis += step ? (size_t)step : len;
		if (vis > len)
			vis = len;
	}
	if (r < 0) {
		p.err = r == ERR_AGAIN ? ERR_CLOSED : r;
		return p;
	}
	p.status = h.status;
	p.keepalive = httpp_head_keepalive(&h);
	const struct httpp_header *ct = httpp_head_find(&h, "content-type");
	if (ct)
		snprintf(p.ctype, sizeof p.ctype, "%.*s", (int)ct->value_len,
		         ct->value);
	p.err = httpp_body_init(&b, &h);
	p.framing = b.framing;
	if (p.err)
		return p;
	feed_body(&p, &b, s + r, len - (size_t)r, (size_t)step);
	if (!p.err && !b.done && eof)
		p.err = httpp_body_eof(&b);
	p.complete = b.done;
	return p;
}

/* The same response gives the same result whole, byte by byte, and in
 * pieces of 7; returns the byte-by-byte result. */
static struct parsed parse3(const char *s, int eof)
{
	struct parsed a = parse(s, 0, eof);
	struct parsed b = parse(s, 1, eof);
	struct parsed c = parse(s, 7, eof);

	CHECK_EQ(a.err, b.err);
	CHECK_EQ(a.err, c.err);
	CHECK_EQ(a.status, b.status);
	CHECK_EQ(a.body_len, b.body_len);
	CHECK_EQ(c.body_len, b.body_len);
	CHECK(memcmp(a.body, b.body, a.body_len) == 0);
	CHECK(memcmp(c.body, b.body, c.body_len) == 0);
	CHECK_EQ(a.complete, b.complete);
	return b;
}

/* ---------------------------------------------------------------- heads */

static void test_head_fields_are_slices(void)
{
	static const char r[] = "HTTP/1.1 404 Not Found\r\n"
	                        "Content-Type:  application/json \r\n"
	                        "X-Empty:\r\n"
	                        "Content-Length: 2\r\n\r\n{}";
	struct httpp_head h;
	int n = httpp_head_parse(&h, r, sizeof r - 1, LIM_HTTP_HEAD);

	CHECK_EQ(n, (int)(sizeof r - 1 - 2));
	CHECK_EQ(h.status, 404);
	CHECK_EQ(h.minor, 1);
	CHECK_MEM(h.reason, h.reason_len, "Not Found");
	CHECK_EQ(h.nhdr, 3);
	CHECK_MEM(h.hdr[0].value, h.hdr[0].value_len, "application/json");
	CHECK(h.hdr[0].value >= r && h.hdr[0].value < r + sizeof r);
	CHECK_EQ(h.hdr[1].value_len, 0);
	CHECK(httpp_head_find(&h, "CONTENT-LENGTH") == &h.hdr[2]);
	CHECK(httpp_head_find(&h, "retry-after") == NULL);
}

static void test_head_every_prefix_needs_more(void)
{
	static const char r[] = "HTTP/1.1 200 OK\r\nA: b\r\n\r\n";
	struct httpp_head h;

	for (size_t i = 1; i < sizeof r - 1; i++)
		CHECK_EQ(httpp_head_parse(&h, r, i, LIM_HTTP_HEAD), ERR_AGAIN);
	CHECK_EQ(httpp_head_parse(&h, r, sizeof r - 1, LIM_HTTP_HEAD),
	         (int)(sizeof r - 1));
}

static void test_head_bare_lf_and_no_reason(void)
{
	struct parsed p = parse3("HTTP/1.0 200\nContent-Length: 3\n\nabc", 0);

	CHECK_EQ(p.err, 0);
	CHECK_EQ(p.status, 200);
	CHECK_MEM(p.body, p.body_len, "abc");
	CHECK_EQ(p.keepalive, 0);       /* HTTP/1.0 without keep-alive */
}

static void test_head_malformed(void)
{
	static const char *bad[] = {
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 200OK\r\n\r\n",
		"HTTP/1.1 099 X\r\n\r\n",
		"SSH-2.0-OpenSSH\r\n\r\n",
		"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
		"HTTP/1.1 200 OK\r\nSpace : x\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
		"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
		"HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n",
		"HTTP/1.1 200 O\x7fK\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct parsed p = parse3(bad[i], 1);

		if (p.err != ERR_PROTO)
			harness_fail(__FILE__, __LINE__, "case %zu: %d", i, p.err);
	}
}

static void test_head_caps(void)
{
	char *big = malloc(LIM_HTTP_HEAD + 64);
	struct httpp_head h;
	size_t n;

	/* One huge header line: too big without ever seeing its end. */
	n = (size_t)snprintf(big, 64, "HTTP/1.1 200 OK\r\nX: ");
	memset(big + n, 'a', LIM_HTTP_HEAD + 64 - n);
	CHECK_EQ(httpp_head_parse(&h, big, LIM_HTTP_HEAD - 1, LIM_HTTP_HEAD),
	         ERR_AGAIN);
	CHECK_EQ(httpp_head_parse(&h, big, LIM_HTTP_HEAD, LIM_HTTP_HEAD),
	         ERR_TOOBIG);
	CHECK_EQ(httpp_head_parse(&h, big, 100, 100), ERR_TOOBIG);
	/* Too many header lines, each small. */
	n = (size_t)snprintf(big, 64, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i <= LIM_HTTP_HEADERS; i++)
		n += (size_t)snprintf(big + n, 64, "H%d: v\r\n", i);
	n += (size_t)snprintf(big + n, 64, "\r\n");
	CHECK_EQ(httpp_head_parse(&h, big, n, LIM_HTTP_HEAD), ERR_TOOBIG);
	free(big);
}

static void test_connection_tokens(void)
{
	CHECK_EQ(parse3("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\n"
	                "Content-Length: 0\r\n\r\n", 0).keepalive, 0);
	CHECK_EQ(parse3("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"
	                "Content-Length: 0\r\n\r\n", 0).keepalive, 1);
	CHECK_EQ(parse3("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	                0).keepalive, 1);
	CHECK(httpp_has_token(" a ,, b,c ", 10, "B"));
	CHECK(!httpp_has_token("closed", 6, "close"));
}

/* ---------------------------------------------------------------- bodies */

static void test_content_length_body(void)
{
	struct parsed p = parse3("HTTP/1.1 200 OK\r\nContent-Type: text/x\r\n"
	                         "Content-Length: 11\r\n\r\nhello world", 0);

	CHECK_EQ(p.err, 0);
	CHECK_EQ(p.framing, HTTPP_LENGTH);
	CHECK_EQ(p.complete, 1);
	CHECK_MEM(p.body, p.body_len, "hello world");
	CHECK_STR(p.ctype, "text/x");
}

static void test_content_length_stops_at_end(void)
{
	/* Bytes after the body (a server bug) are not body. */
	struct parsed p = parse3("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
	                         "okEXTRA", 0);

	CHECK_MEM(p.body, p.body_len, "ok");
	CHECK_EQ(p.complete, 1);
}

static void test_content_length_invalid(void)
{
	CHECK_EQ(parse3("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 0).err,
	         ERR_PROTO);
	CHECK_EQ(parse3("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0).err,
	         ERR_PROTO);
	CHECK_EQ(parse3("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	                "Content-Length: 3\r\n\r\nabc", 0).err, ERR_PROTO);
	CHECK_EQ(parse3("HTTP/1.1 200 OK\r\nContent-Length: "
	                "99999999999999999999\r\n\r\n", 0).err, ERR_PROTO);
	/* Equal duplicates are what some proxies send. */
	CHECK_EQ(parse3("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	                "Content-Length: 1\r\n\r\nx", 0).err, 0);
}

static void test_body_truncated_by_close(void)
{
	CHECK_EQ(parse3("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
	                1).err, ERR_CLOSED);
	CHECK_EQ(parse3("HTTP/1.1 200 OK\r\nContent-Le", 1).err, ERR_CLOSED);
}

static void test_close_delimited(void)
{
	struct parsed p = parse3("HTTP/1.1 200 OK\r\n\r\nuntil the end", 1);

	CHECK_EQ(p.err, 0);
	CHECK_EQ(p.framing, HTTPP_CLOSE);
	CHECK_EQ(p.complete, 1);
	CHECK_MEM(p.body, p.body_len, "until the end");
}

static void test_no_body_statuses(void)
{
	struct parsed p = parse3("HTTP/1.1 204 No Content\r\n"
	                         "Content-Length: 5\r\n\r\n", 0);

	CHECK_EQ(p.framing, HTTPP_NONE);
	CHECK_EQ(p.complete, 1);
	CHECK_EQ(p.body_len, 0);
	CHECK_EQ(parse3("HTTP/1.1 304 Not Modified\r\n\r\n", 0).complete, 1);
}

static void test_chunked(void)
{
	struct parsed p = parse3("HTTP/1.1 200 OK\r\n"
	                         "Transfer-Encoding: gzip, chunked\r\n\r\n"
	                         "5\r\nhello\r\n"
	                         "1;name=value\r\n \r\n"
	                         "A \r\n0123456789\r\n"
	                         "0\r\nX-Trailer: yes\r\nY: z\r\n\r\n", 0);

	CHECK_EQ(p.err, 0);
	CHECK_EQ(p.framing, HTTPP_CHUNKED);
	CHECK_EQ(p.complete, 1);
	CHECK_MEM(p.body, p.body_len, "hello 0123456789");
}

static void test_chunked_wins_over_length(void)
{
	struct parsed p = parse3("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n"
	                         "Transfer-Encoding: chunked\r\n\r\n"
	                         "2\nab\n0\n\n", 0);

	CHECK_EQ(p.err, 0);
	CHECK_MEM(p.body, p.body_len, "ab");
	CHECK_EQ(p.complete, 1);
}

static void test_chunked_malformed(void)
{
	static const char *bad[] = {
		"\r\n",                         /* empty size line */
		"g\r\n",                        /* not hex */
		";x\r\n",                       /* extension without size */
		"2\r\nabXY0\r\n\r\n",           /* no CRLF after data */
		"2\rX",                         /* CR without LF */
		"1000000000000000\r\n",         /* 2^60: too big */
		"0\r\n\rX",                     /* bad end of trailers */
	};
	char buf[256];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\n"
		         "Transfer-Encoding: chunked\r\n\r\n%s", bad[i]);
		struct parsed p = parse3(buf, 1);

		if (p.err != ERR_PROTO)
			harness_fail(__FILE__, __LINE__, "case %zu: %d", i, p.err);
	}
}

static void test_chunked_truncated(void)
{
	/* Mid-chunk, in the size line, and before the final CRLF. */
	CHECK_EQ(parse3("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                "5\r\nhel", 1).err, ERR_CLOSED);
	CHECK_EQ(parse3("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                "5\r\nhello\r\n1", 1).err, ERR_CLOSED);
	CHECK_EQ(parse3("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                "0\r\n", 1).err, ERR_CLOSED);
}

static void test_chunked_caps(void)
{
	static char buf[LIM_HTTP_TRAILER + 256];
	size_t n;

	n = (size_t)snprintf(buf, 128, "HTTP/1.1 200 OK\r\n"
	                     "Transfer-Encoding: chunked\r\n\r\n1;");
	memset(buf + n, 'e', LIM_HTTP_CHUNK_LINE + 10);
	buf[n + LIM_HTTP_CHUNK_LINE + 10] = '\0';
	CHECK_EQ(parse3(buf, 1).err, ERR_TOOBIG);
	n = (size_t)snprintf(buf, 128, "HTTP/1.1 200 OK\r\n"
	                     "Transfer-Encoding: chunked\r\n\r\n0\r\nT: ");
	memset(buf + n, 't', LIM_HTTP_TRAILER + 10);
	buf[n + LIM_HTTP_TRAILER + 10] = '\0';
	CHECK_EQ(parse3(buf, 1).err, ERR_TOOBIG);
}

static void test_unknown_transfer_coding_reads_to_close(void)
{
	struct parsed p = parse3("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip"
	                         "\r\n\r\nzzz", 1);

	CHECK_EQ(p.framing, HTTPP_CLOSE);
	CHECK_MEM(p.body, p.body_len, "zzz");
}

/* ---------------------------------------------------------------- URLs */

static void test_url_forms(void)
{
	struct url u;

	CHECK_EQ(url_parse(&u, "https://Matrix.Example.org/_matrix/"
	                         "client/v3/sync?timeout=30000"), 0);
	CHECK_EQ(u.tls, 1);
	CHECK_EQ(u.port, 443);
	CHECK_STR(u.host, "matrix.example.org");
	CHECK_STR(u.path, "/_matrix/client/v3/sync?timeout=30000");
	CHECK_EQ(url_parse(&u, "http://127.0.0.1:8283"), 0);
	CHECK_EQ(u.tls, 0);
	CHECK_EQ(u.port, 8283);
	CHECK_STR(u.path, "");
	CHECK_EQ(url_parse(&u, "http://[::1]:8008/x"), 0);
	CHECK_STR(u.host, "::1");
	CHECK_EQ(u.port, 8008);
	CHECK_EQ(url_parse(&u, "HTTPS://[2001:DB8::1]?q=1"), 0);
	CHECK_STR(u.host, "2001:db8::1");
	CHECK_STR(u.path, "?q=1");
}

static void test_url_rejects(void)
{
	static const char *bad[] = {
		"ftp://x/", "http:/x", "http://", "http:///x", "x",
		"http://user:pw@host/", "http://host:0/", "http://host:65536/",
		"http://host:/", "http://host:8a/", "http://ho st/",
		"http://host/a b", "http://host/#frag", "http://[::1/",
		"http://[::1]x/", "http://[]/", "http://h\x01/", "http://h%41/",
	};
	struct url u;
	char *huge = malloc(LIM_HTTP_URL + 16);

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (url_parse(&u, bad[i]) != ERR_INVAL)
			harness_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
	memcpy(huge, "http://h/", 9);
	memset(huge + 9, 'a', LIM_HTTP_URL);
	huge[LIM_HTTP_URL + 9] = '\0';
	CHECK_EQ(url_parse(&u, huge), ERR_TOOBIG);
	free(huge);
}

/* ---------------------------------------------------------------- requests */

static void test_request_head(void)
{
	struct url u;
	struct httpp_field f[] = { { "Authorization", "Bearer t" },
	                           { "Content-Type", "application/json" } };
	char buf[512];
	int n;

	url_parse(&u, "http://[::1]:8008/_matrix/x?y=1");
	n = httpp_req_write(buf, sizeof buf, "PUT", &u, f, 2, 12);
	CHECK_INT(n, >, 0);
	CHECK_MEM(buf, (size_t)n, "PUT /_matrix/x?y=1 HTTP/1.1\r\n"
	          "Host: [::1]:8008\r\nAuthorization: Bearer t\r\n"
	          "Content-Type: application/json\r\n"
	          "Content-Length: 12\r\n\r\n");
	url_parse(&u, "https://h?q");
	n = httpp_req_write(buf, sizeof buf, "GET", &u, NULL, 0, 0);
	CHECK_MEM(buf, (size_t)n, "GET /?q HTTP/1.1\r\nHost: h\r\n\r\n");
	n = httpp_req_write(buf, sizeof buf, "POST", &u, NULL, 0, 0);
	CHECK_MEM(buf, (size_t)n, "POST /?q HTTP/1.1\r\nHost: h\r\n"
	          "Content-Length: 0\r\n\r\n");
	CHECK_EQ(httpp_req_write(buf, 20, "GET", &u, NULL, 0, 0), ERR_TOOBIG);
}

static void test_request_header_injection(void)
{
	struct url u;
	struct httpp_field inj[] = { { "X", "a\r\nEvil: 1" } };
	struct httpp_field badname[] = { { "X Y", "a" } };
	struct httpp_field host[] = { { "host", "other" } };
	struct httpp_field te[] = { { "Transfer-Encoding", "chunked" } };
	char buf[512];

	url_parse(&u, "http://h/");
	CHECK_EQ(httpp_req_write(buf, sizeof buf, "GET", &u, inj, 1, 0),
	         ERR_INVAL);
	CHECK_EQ(httpp_req_write(buf, sizeof buf, "GET", &u, badname, 1, 0),
	         ERR_INVAL);
	CHECK_EQ(httpp_req_write(buf, sizeof buf, "GET", &u, host, 1, 0),
	         ERR_INVAL);
	CHECK_EQ(httpp_req_write(buf, sizeof buf, "GET", &u, te, 1, 0),
	         ERR_INVAL);
	CHECK_EQ(httpp_req_write(buf, sizeof buf, "get", &u, NULL, 0, 0),
	         ERR_INVAL);
	CHECK_EQ(httpp_req_write(buf, sizeof buf, "GET /x", &u, NULL, 0, 0),
	         ERR_INVAL);
}

/* ---------------------------------------------------------------- Retry-After */

static void test_retry_after(void)
{
	/* 1994-11-06T08:49:37Z */
	const int64_t t = 784111777;

	CHECK_EQ(httpp_retry_after_ms("120", 3, t), 120000);
	CHECK_EQ(httpp_retry_after_ms(" 0 ", 3, t), 0);
	CHECK_EQ(httpp_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 29,
	                              t - 5), 5000);
	CHECK_EQ(httpp_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 29,
	                              t + 5), 0);
	CHECK_EQ(httpp_retry_after_ms("Thu, 01 Jan 2099 00:00:00 GMT", 29, t),
	         LIM_HTTP_RETRY_AFTER_MS);
	CHECK_EQ(httpp_retry_after_ms("99999999999999999999", 20, t),
	         LIM_HTTP_RETRY_AFTER_MS);
	CHECK_EQ(httpp_retry_after_ms("-1", 2, t), ERR_INVAL);
	CHECK_EQ(httpp_retry_after_ms("1.5", 3, t), ERR_INVAL);
	CHECK_EQ(httpp_retry_after_ms("", 0, t), ERR_INVAL);
	CHECK_EQ(httpp_retry_after_ms("Sun, 06 Foo 1994 08:49:37 GMT", 29, t),
	         ERR_INVAL);
	/* 2000-02-29 (leap day) 12:00:00 = 951825600 */
	CHECK_EQ(httpp_retry_after_ms("Tue, 29 Feb 2000 12:00:00 GMT", 29,
	                              951825600 - 1), 1000);
}

int main(void)
{
	RUN(test_head_fields_are_slices);
	RUN(test_head_every_prefix_needs_more);
	RUN(test_head_bare_lf_and_no_reason);
	RUN(test_head_malformed);
	RUN(test_head_caps);
	RUN(test_connection_tokens);
	RUN(test_content_length_body);
	RUN(test_content_length_stops_at_end);
	RUN(test_content_length_invalid);
	RUN(test_body_truncated_by_close);
	RUN(test_close_delimited);
	RUN(test_no_body_statuses);
	RUN(test_chunked);
	RUN(test_chunked_wins_over_length);
	RUN(test_chunked_malformed);
	RUN(test_chunked_truncated);
	RUN(test_chunked_caps);
	RUN(test_unknown_transfer_coding_reads_to_close);
	RUN(test_url_forms);
	RUN(test_url_rejects);
	RUN(test_request_head);
	RUN(test_request_header_injection);
	RUN(test_retry_after);
	return harness_done("httpp");
}
