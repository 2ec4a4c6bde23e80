/*
 * bench_md: what formatting an agent's answer costs (issue 12 figures).
 *
 *   bench md_<kind>: H bytes of HTML per KB of Markdown, T us per answer
 *       (median of RUNS, md4c's parse and our rendering together) for
 *       representative answers: a one-line chat reply, a ~2 KB answer
 *       (heading, list, link, code block), a ~20 KB report (sections,
 *       tables, code), and a 200 KB answer split into events;
 *   bench md_split_200k: P parts, T ms for the whole split (every part
 *       rendered and measured, median);
 *   bench sse_feed: N MB/s reading a Letta step stream of 1 MB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/md.h"
#include "core/sse.h"
#include "bench_clock.h"

#define RUNS 15

static const char SECTION[] =
	"## Step %d: what I checked\n\n"
	"I looked at the **VPN gateway** logs and the *token service*. The "
	"relevant lines are below; see [the runbook](https://wiki.example.org"
	"/vpn?id=%d&view=full) for details.\n\n"
	"- the gateway rejected `tok_%d` at 09:14\n"
	"- the token had expired after 30 days\n"
	"- a new token was issued and mailed\n\n"
	"```python\nfor line in open(\"/var/log/vpn.log\"):\n"
	"    if \"reject\" in line and \"<tok>\" in line:\n"
	"        print(line.strip())\n```\n\n"
	"| check | result |\n|-------|--------|\n| gateway | ok |\n"
	"| token | renewed |\n\n";

static char *answer(size_t size)
{
	char *s = malloc(size + 2048);
	size_t k = (size_t)snprintf(s, 128, "# VPN access restored\n\n");

	for (int i = 0; k < size; i++)
		k += (size_t)snprintf(s + k, 2048, SECTION, i, i, i);
	s[k] = '\0';
	return s;
}

/* Times `reps` renders per run (a short answer takes well under the
 * clock's resolution of a single call) and reports the median per answer. */
static void bench_render(const char *name, const char *md, int reps,
                         char *out, size_t cap)
{
	double t[RUNS];
	size_t n = strlen(md), h = 0;

	for (int r = 0; r < RUNS; r++) {
		double t0 = us_now();
		for (int k = 0; k < reps; k++) {
			if (md_render(md, n, out, cap, &h, NULL) != 0) {
				printf("bench md_%s: FAILED\n", name);
				return;
			}
		}
		t[r] = (us_now() - t0) / reps;
	}
	qsort(t, RUNS, sizeof t[0], cmp);
	printf("bench md_%s: %zu bytes of Markdown -> %zu bytes of HTML "
	       "(%.0f bytes per KB), %.2f us per answer (median)\n", name, n,
	       h, (double)h * 1024 / (double)n, t[RUNS / 2]);
}

static void bench_split(const char *md, char *b, char *h)
{
	static size_t work[1024][2];
	double t[RUNS];
	int parts = 0;

	for (int r = 0; r < RUNS; r++) {
		struct md_split sp;
		double t0 = us_now();
		parts = 0;
		md_split_init(&sp, md, strlen(md), 60000, work, sizeof work);
		while (md_split_next(&sp, b, 60000, NULL, h, 60000, NULL,
		                     NULL) > 0)
			parts++;
		t[r] = us_now() - t0;
	}
	qsort(t, RUNS, sizeof t[0], cmp);
	printf("bench md_split_200k: %d parts of <= 60000 bytes of JSON, "
	       "%.1f ms for the whole answer (median)\n", parts,
	       t[RUNS / 2] / 1000);
}

static int count(void *ctx, const struct sse_event *ev)
{
	*(size_t *)ctx += ev->data_len;
	return 0;
}

static void bench_sse(void)
{
	static const char ev[] = "data: {\"id\":\"message-0b7f\",\"message_type\""
		":\"assistant_message\",\"otid\":\"0b7f-a501\",\"run_id\":"
		"\"run-44aa\",\"content\":\"Done - your new VPN token was mailed "
		"to you, and the gateway accepts it again.\"}\n\n";
	size_t n = 0, total = 1 << 20, got;
	char *body = malloc(total + sizeof ev), buf[4096];
	double t[RUNS];

	while (n + sizeof ev - 1 <= total) {
		memcpy(body + n, ev, sizeof ev - 1);
		n += sizeof ev - 1;
	}
	for (int r = 0; r < RUNS; r++) {
		struct sse s;
		got = 0;
		sse_init(&s, buf, sizeof buf, count, &got);
		double t0 = us_now();
		for (size_t i = 0; i < n; i += 1400)   /* TCP-sized pieces */
			sse_feed(&s, body + i, n - i < 1400 ? n - i : 1400);
		t[r] = us_now() - t0;
	}
	qsort(t, RUNS, sizeof t[0], cmp);
	printf("bench sse_feed: %.0f MB/s (1 MB of step events in 1,400-byte "
	       "pieces, median)\n", (double)n / t[RUNS / 2]);
	free(body);
}

int main(void)
{
	size_t cap = 8u << 20;
	char *out = malloc(cap), *b = malloc(60000), *h = malloc(60000);
	char *mid = answer(2000), *big = answer(20000), *huge = answer(200000);

	bench_render("chat_reply", "Sure - your **VPN token** was reset; "
	             "check your mail in a minute.", 2000, out, cap);
	bench_render("answer_2k", mid, 200, out, cap);
	bench_render("report_20k", big, 20, out, cap);
	bench_render("answer_200k", huge, 2, out, cap);
	bench_split(huge, b, h);
	bench_sse();
	free(out), free(b), free(h), free(mid), free(big), free(huge);
	return 0;
}
