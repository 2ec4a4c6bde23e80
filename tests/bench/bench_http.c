/*
 * bench_http: response parser throughput (figures for the Raspberry Pi
 * budget: how much CPU a /sync response costs before JSON parsing).
 *
 *   bench http_head_parse: N heads/s        (a Synapse-like head)
 *   bench http_chunked_framing: N MB/s      (8 KiB chunks, 1 MiB body)
 *   bench http_head_parse_1byte: N heads/s  (head arriving a byte a read)
 *   bench http_conn_bytes: N                 (memory of one connection,
 *                                             without mbedTLS's buffers)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "net/http_int.h"
#include "net/httpp.h"

static double secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char head[] =
	"HTTP/1.1 200 OK\r\n"
	"Date: Tue, 24 Nov 2026 00:23:48 GMT\r\n"
	"Content-Type: application/json\r\n"
	"Transfer-Encoding: chunked\r\n"
	"Connection: keep-alive\r\n"
	"Cache-Control: no-cache, no-store, must-revalidate\r\n"
	"Access-Control-Allow-Origin: *\r\n"
	"Access-Control-Allow-Methods: GET, HEAD, POST, PUT, DELETE, OPTIONS\r\n"
	"Access-Control-Allow-Headers: X-Requested-With, Content-Type, "
	"Authorization, Date\r\n"
	"Server: Synapse/1.120.0\r\n\r\n";

static void bench_head(void)
{
	struct httpp_head h;
	long n = 0;
	double t0 = secs(), t;

	do {
		for (int i = 0; i < 10000; i++)
			n += httpp_head_parse(&h, head, sizeof head - 1, 8192) > 0;
		t = secs() - t0;
	} while (t < 0.5);
	printf("bench http_head_parse: %.0f heads/s\n", (double)n / t);
	n = 0;
	t0 = secs();
	do {
		for (size_t k = 1; k <= sizeof head - 1; k++)
			if (httpp_head_parse(&h, head, k, 8192) > 0)
				n++;
		t = secs() - t0;
	} while (t < 0.5);
	printf("bench http_head_parse_1byte: %.0f heads/s\n", (double)n / t);
}

static void bench_chunked(void)
{
	enum { CH = 8192, NCH = 128 };
	size_t cap = NCH * (CH + 16) + 16, len = 0, total = 0;
	char *s = malloc(cap);
	double t0, t;
	struct httpp_head h;

	for (int i = 0; i < NCH; i++) {
		len += (size_t)snprintf(s + len, 16, "%x\r\n", CH);
		memset(s + len, 'j', CH);
		len += CH;
		memcpy(s + len, "\r\n", 2);
		len += 2;
	}
	memcpy(s + len, "0\r\n\r\n", 5);
	len += 5;
	httpp_head_parse(&h, head, sizeof head - 1, 8192);
	t0 = secs();
	do {
		struct httpp_body b;
		size_t off = 0;

		httpp_body_init(&b, &h);
		while (off < len && !b.done) {
			const char *d;
			size_t dl;
			int r = httpp_body_feed(&b, s + off, len - off, &d, &dl);

			if (r <= 0)
				abort();
			off += (size_t)r;
			total += dl;
		}
		t = secs() - t0;
	} while (t < 0.5);
	printf("bench http_chunked_framing: %.0f MB/s (body bytes are slices, not copied)\n", (double)total / t / 1e6);
	free(s);
}

int main(void)
{
	bench_head();
	bench_chunked();
	printf("bench http_conn_bytes: %zu (+ ~21 KiB mbedTLS records for "
	       "https)\n", sizeof(struct http_conn));
	return 0;
}
