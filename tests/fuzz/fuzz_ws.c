/*
 * fuzz_ws: the WebSocket frame reader (net/ws) on arbitrary server bytes
 * at arbitrary split points.
 *
 * Input: byte 0 seeds the piece sizes (its top bit also shrinks the
 * message cap to 64 bytes, so short inputs reach "too big"), the rest is
 * the server's stream. The stream is read three times: whole, in pieces
 * of 1-17 bytes, and byte by byte; all must agree on every message and
 * on how the stream ended. Every message must lie inside the input or
 * the reader's buffer (which is allocated to its exact size, so ASan
 * sees a write past the cap), a data message within the cap, a control
 * payload within 125 bytes, a text message and a close reason valid
 * UTF-8 (checked by core/json's validator, not the reader's), a close
 * code one that may be sent (or 1005 for none). A broken rule aborts,
 * which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "net/ws.h"

struct run {
	int err;
	uint64_t msgs;
	uint64_t sum;           /* position-weighted checksum of everything */
};

static size_t msg_cap;

/* Next piece size: `mode` 0 whole, 1 byte by byte, else a tiny LCG. */
static size_t piece(int mode, uint32_t *seed, size_t left)
{
	size_t n;

	if (mode == 0)
		return left;
	if (mode == 1)
		return 1;
	*seed = *seed * 1103515245u + 12345u;
	n = 1 + (*seed >> 16) % 17;
	return n < left ? n : left;
}

static int inside(const char *p, size_t n, const void *base, size_t len)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;

	return a >= b && n <= len && a - b <= len - n;
}

static void check_msg(const struct ws_msg *m, const struct ws_reader *r,
                      const void *in, size_t inlen)
{
	if (!inside(m->data, m->len, in, inlen) &&
	    !inside(m->data, m->len, r->buf, r->cap) &&
	    !inside(m->data, m->len, r->ctl, sizeof r->ctl) &&
	    !(m->len == 0 && m->data))
		abort();
	switch (m->op) {
	case WS_OP_TEXT:
		if (!json_utf8_valid(m->data, m->len))
			abort();
		/* fall through */
	case WS_OP_BINARY:
		if (m->len > msg_cap)
			abort();
		break;
	case WS_OP_CLOSE:
		if (m->code != WS_CLOSE_NO_STATUS &&
		    !ws_close_code_ok(m->code))
			abort();
		if (!json_utf8_valid(m->data, m->len))
			abort();
		/* fall through */
	case WS_OP_PING:
	case WS_OP_PONG:
		if (m->len > WS_CTL_MAX)
			abort();
		break;
	default:
		abort();
	}
}

static void add(struct run *o, const struct ws_msg *m)
{
	o->sum = o->sum * 31 + (uint64_t)m->op * 7 + (uint64_t)m->code;
	for (size_t i = 0; i < m->len; i++)
		o->sum = o->sum * 31 + (uint8_t)m->data[i] + i;
	o->msgs++;
}

static struct run parse(const uint8_t *in, size_t len, int mode,
                        uint32_t seed, unsigned char *buf)
{
	struct run o = { 0 };
	struct ws_reader r;
	struct ws_msg m;
	size_t off = 0;

	ws_reader_init(&r, buf, msg_cap);
	while (off < len && !o.err) {
		size_t end = off + piece(mode, &seed, len - off);

		while (off < end) {
			int n = ws_reader_feed(&r, in + off, end - off, &m);

			if (n < 0) {
				o.err = n;
				break;
			}
			if ((size_t)n > end - off ||
			    (m.op == WS_OP_NONE && (size_t)n != end - off) ||
			    (m.op != WS_OP_NONE && n == 0))
				abort();        /* past the input, or no progress */
			if (m.op != WS_OP_NONE) {
				check_msg(&m, &r, in + off, (size_t)n);
				add(&o, &m);
			}
			off += (size_t)n;
		}
	}
	/* errors are sticky */
	if (o.err && ws_reader_feed(&r, in, len, &m) != o.err)
		abort();
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, split, bytes;
	unsigned char *buf;

	if (size < 1)
		return 0;
	msg_cap = (data[0] & 0x80) ? 64 : 4096;
	buf = malloc(msg_cap);
	if (!buf)
		return 0;
	whole = parse(data + 1, size - 1, 0, 0, buf);
	split = parse(data + 1, size - 1, 2, data[0] | 1u, buf);
	bytes = parse(data + 1, size - 1, 1, 0, buf);
	free(buf);
	if (whole.err != split.err || whole.msgs != split.msgs ||
	    whole.sum != split.sum || whole.err != bytes.err ||
	    whole.msgs != bytes.msgs || whole.sum != bytes.sum)
		abort();
	return 0;
}
