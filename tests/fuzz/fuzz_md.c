/*
 * fuzz_md: the agent's Markdown -> Matrix HTML path on arbitrary bytes.
 *
 * The first byte picks what runs on the rest:
 *   low bits 01: md_body, then md_split with a budget from the second
 *     byte, every part checked (a quarter of the runs: splitting renders
 *     each candidate, so it is the slow path);
 *   otherwise: md_render into a buffer sized from the second byte (so
 *     the ERR_TOOBIG path runs too), and md_body.
 * Asserted every time (abort() on failure): the HTML is valid UTF-8, its
 * tags are only those md.c may write, balanced, with only href (a safe
 * scheme), start and class="language-x" attributes (tests/html_check.h,
 * which shares no code with src/core/md.c), so no raw HTML and no unsafe link
 * from the input gets out; a too-small buffer gives ERR_TOOBIG and "";
 * each split part keeps the budget; bodies are valid UTF-8.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "html_check.h"
#include "core/json.h"
#include "core/md.h"

#define OUT_MAX (4u << 20)

static char *out, *body, *part_b, *part_h;
static size_t work[256][2];

static void check_html(const char *h, size_t n)
{
	const char *bad = html_check(h, n);

	if (bad || strlen(h) != n) {
		fprintf(stderr, "fuzz_md: %s\n%.*s\n", bad ? bad : "length", (int)n,
		        h);
		abort();
	}
}

static void render(const char *md, size_t n, unsigned sel)
{
	size_t cap = sel == 0xff ? OUT_MAX : (size_t)sel * 64 + 1, len = 0;
	bool rich;
	int r = md_render(md, n, out, cap, &len, &rich);

	if (r == 0)
		check_html(out, len);
	else if (r != ERR_TOOBIG || out[0] != '\0')
		abort();
	if (r == ERR_TOOBIG && md_render(md, n, out, OUT_MAX, &len, &rich) == 0)
		check_html(out, len);
}

static void split(const char *md, size_t n, unsigned sel)
{
	size_t limit = 2048 + (size_t)sel * 256, bl, hl, total = 0;
	struct md_split sp;
	int r, parts = 0;

	md_split_init(&sp, md, n, limit, work, sizeof work);
	while ((r = md_split_next(&sp, part_b, limit, &bl, part_h, limit, &hl,
	                          NULL)) > 0) {
		check_html(part_h, hl);
		if (!json_utf8_valid(part_b, bl) || md_json_len(part_b, bl) +
		    md_json_len(part_h, hl) + MD_EVENT_OVERHEAD > limit)
			abort();
		total += bl;
		if (++parts > 100000)
			abort();      /* no progress */
	}
	/* ERR_INVAL only when not even one character fits a part */
	if (r < 0 && r != ERR_INVAL)
		abort();
	(void)total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t bn;

	if (!out) {
		out = malloc(OUT_MAX);
		body = malloc(OUT_MAX);
		part_b = malloc(OUT_MAX);
		part_h = malloc(OUT_MAX);
		if (!out || !body || !part_b || !part_h)
			abort();
	}
	if (size < 2 || size > 256 * 1024)
		return 0;
	const char *md = (const char *)data + 2;
	size_t n = size - 2;
	if (md_body(md, n, body, OUT_MAX, &bn) != 0 ||
	    !json_utf8_valid(body, bn))
		abort();
	if ((data[0] & 3) == 1)
		split(body, bn, data[1]);
	else
		render(md, n, data[1]);
	return 0;
}
