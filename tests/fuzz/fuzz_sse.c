/*
 * fuzz_sse: the SSE reader and the Letta chunk parser on arbitrary bytes.
 *
 * The input after its first byte is fed twice: whole, and in pieces whose
 * sizes come from a generator seeded by the first byte (pieces of 1 byte
 * up to 64). Both runs must deliver the very same events (names and data,
 * by a running hash) and the same end status: a reader whose result
 * depends on how TCP cut the body would show text twice or lose it. Every
 * event is NUL-terminated, within the cap, and goes through
 * letta_stream_parse, whose strings must be valid UTF-8 of the lengths it
 * says.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/sse.h"
#include "letta/letta_stream.h"

#define CAP 4096

struct sink {
	uint64_t hash;
	unsigned long n;
};

static struct json j;
static char pool[8192];

static void mix(struct sink *s, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		s->hash = (s->hash ^ b[i]) * 1099511628211ull;
	s->hash = (s->hash ^ 0xff) * 1099511628211ull;
}

static void check_str(const char *s, size_t n)
{
	if (!json_utf8_valid(s, n) || s[n] != '\0')
		abort();
}

static int on_event(void *ctx, const struct sse_event *ev)
{
	struct sink *s = ctx;
	struct letta_stream_msg m;

	if (ev->data_len >= CAP || ev->data[ev->data_len] != '\0')
		abort();
	if (ev->done != (ev->data_len == 6 && !memcmp(ev->data, "[DONE]", 6)))
		abort();
	mix(s, ev->name, strlen(ev->name));
	mix(s, ev->data, ev->data_len);
	s->n++;
	if (letta_stream_parse(&m, &j, ev->name, ev->data, ev->data_len, pool,
	                       sizeof pool) == 0) {
		check_str(m.text, m.text_len);
		check_str(m.tool.arguments, m.tool.arguments_len);
		check_str(m.tool.name, strlen(m.tool.name));
	}
	return 0;
}

static int run(const uint8_t *p, size_t n, unsigned seed, struct sink *s)
{
	static char buf[CAP];
	struct sse r;
	size_t i = 0;
	int rc = 0;

	memset(s, 0, sizeof *s);
	sse_init(&r, buf, sizeof buf, on_event, s);
	while (i < n && rc == 0) {
		size_t k = n - i;
		if (seed) {
			seed = seed * 1103515245u + 12345u;
			k = 1 + (seed >> 16) % 64;
			if (k > n - i)
				k = n - i;
		}
		rc = sse_feed(&r, (const char *)p + i, k);
		i += k;
	}
	return rc ? rc : sse_finish(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sink a, b;
	int ra, rb;

	if (size < 1)
		return 0;
	ra = run(data + 1, size - 1, 0, &a);
	rb = run(data + 1, size - 1, data[0] | 1u, &b);
	if (ra != rb || a.hash != b.hash || a.n != b.n)
		abort();
	if (ra != 0 && ra != ERR_CLOSED && ra != ERR_PROTO && ra != ERR_TOOBIG)
		abort();
	return 0;
}
