/*
 * fuzz_http: the response parser (head and body framing, chunked with
 * trailers) on arbitrary bytes at arbitrary split points.
 *
 * Input: byte 0 seeds the split sizes (its top bit also shrinks the head
 * cap to 300 bytes, so inputs of libFuzzer's usual sizes reach the
 * "head too big" path), the rest is the server's stream.
 * The stream is parsed twice, whole and in pieces; both runs must agree
 * on the result and on every body byte (the parser is meant to give the
 * same answer however the bytes arrive), and every slice must lie inside
 * the input. A disagreement aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "net/httpp.h"

struct run {
	int err;
	int status;
	int done;
	uint64_t sum;           /* position-weighted checksum of the body */
	uint64_t n;
};

static void check_slice(const char *p, size_t n, const uint8_t *in,
                        size_t len)
{
	if (n && ((const uint8_t *)p < in || (const uint8_t *)p + n > in + len))
		abort();
}

/* Next piece size from a tiny LCG seeded by the first byte. */
static size_t piece(uint32_t *seed, size_t left)
{
	size_t n;

	if (*seed == 0)
		return left;
	*seed = *seed * 1103515245u + 12345u;
	n = 1 + (*seed >> 16) % 17;
	return n < left ? n : left;
}

static size_t head_cap;

static int head(struct httpp_head *h, const uint8_t *in, size_t len,
                uint32_t *seed)
{
	size_t vis = 0;
	int r = ERR_AGAIN;

	while (r == ERR_AGAIN && vis < len) {
		vis += piece(seed, len - vis);
		r = httpp_head_parse(h, (const char *)in, vis, head_cap);
	}
	return r;
}

static void body(struct run *o, struct httpp_body *b, const uint8_t *in,
                 size_t len, uint32_t *seed)
{
	size_t off = 0;

	while (off < len && !b->done) {
		size_t end = off + piece(seed, len - off);

		while (off < end && !b->done) {
			const char *d;
			size_t dl;
			int r = httpp_body_feed(b, (const char *)in + off,
			                        end - off, &d, &dl);

			if (r < 0) {
				o->err = r;
				return;
			}
			if ((size_t)r > end - off || (r == 0 && !b->done))
				abort();        /* no progress: would spin */
			check_slice(d, dl, in + off, end - off);
			for (size_t i = 0; i < dl; i++)
				o->sum = o->sum * 31 + (uint8_t)d[i] + o->n++;
			off += (size_t)r;
		}
	}
	if (!b->done)
		o->err = httpp_body_eof(b);
}

static struct run parse(const uint8_t *in, size_t len, uint32_t seed)
{
	struct run o = { 0 };
	struct httpp_head h;
	struct httpp_body b;
	int r = head(&h, in, len, &seed);

	if (r < 0) {
		o.err = r == ERR_AGAIN ? ERR_CLOSED : r;
		return o;
	}
	if ((size_t)r > len)
		abort();
	for (size_t i = 0; i < h.nhdr; i++) {
		check_slice(h.hdr[i].name, h.hdr[i].name_len, in, (size_t)r);
		check_slice(h.hdr[i].value, h.hdr[i].value_len, in, (size_t)r);
	}
	o.status = h.status;
	(void)httpp_head_keepalive(&h);
	o.err = httpp_body_init(&b, &h);
	if (o.err == 0)
		body(&o, &b, in + r, len - (size_t)r, &seed);
	o.done = b.done;
	if (b.total != o.n)
		abort();
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, split;

	if (size < 1)
		return 0;
	head_cap = (data[0] & 0x80) ? 300 : LIM_HTTP_HEAD;
	whole = parse(data + 1, size - 1, 0);
	split = parse(data + 1, size - 1, data[0] | 1u);
	if (whole.err != split.err || whole.status != split.status ||
	    whole.sum != split.sum || whole.n != split.n ||
	    whole.done != split.done)
		abort();
	return 0;
}
