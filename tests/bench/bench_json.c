/*
 * bench_json: what JSON costs on the hot paths (figures for the
 * Raspberry Pi budget of <= 1 ms added latency per message).
 *
 *   bench json_parse_sync: N MB/s     parse + validate a /sync-shaped body
 *                                     of 1,000 rooms (~1 MB), walk every
 *                                     room's timeline, unescape each body
 *   bench json_write_event: N us      build one m.room.message body with
 *                                     formatted text (~2 KB), median
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/json.h"
#include "bench_clock.h"

#define ROOMS 1000
#define RUNS  7

/* A /sync response: rooms.join.<id>.timeline.events[] of messages. */
static size_t make_sync(char *buf, size_t cap)
{
	struct json_w w;
	char id[64], body[128];
	size_t n = 0;

	json_w_init(&w, buf, cap);
	json_w_obj(&w);
	json_w_kstr(&w, "next_batch", "s72595_4483_1934_1_1_1_1_21_0");
	json_w_key(&w, "rooms");
	json_w_obj(&w);
	json_w_key(&w, "join");
	json_w_obj(&w);
	for (int r = 0; r < ROOMS; r++) {
		snprintf(id, sizeof id, "!room%06d:matrix.example.org", r);
		json_w_key(&w, id);
		json_w_obj(&w);
		json_w_key(&w, "timeline");
		json_w_obj(&w);
		json_w_key(&w, "events");
		json_w_arr(&w);
		for (int e = 0; e < 3; e++) {
			json_w_obj(&w);
			json_w_kstr(&w, "type", "m.room.message");
			json_w_kstr(&w, "sender", "@alice:matrix.example.org");
			snprintf(id, sizeof id, "$ev%d_%d:example.org", r, e);
			json_w_kstr(&w, "event_id", id);
			json_w_kint(&w, "origin_server_ts", 1763900000000LL + e);
			json_w_key(&w, "content");
			json_w_obj(&w);
			json_w_kstr(&w, "msgtype", "m.text");
			snprintf(body, sizeof body, "Hello \"agent\" n\xc2\xb0%d,\n"
			         "please summarise the caf\xc3\xa9 notes \xf0\x9f"
			         "\x98\x80", r);
			json_w_kstr(&w, "body", body);
			json_w_obj_end(&w);
			json_w_key(&w, "unsigned");
			json_w_obj(&w);
			json_w_kint(&w, "age", 1234);
			json_w_obj_end(&w);
			json_w_obj_end(&w);
		}
		json_w_arr_end(&w);
		json_w_kbool(&w, "limited", false);
		json_w_obj_end(&w);
		json_w_obj_end(&w);
	}
	json_w_obj_end(&w);
	json_w_obj_end(&w);
	json_w_obj_end(&w);
	return json_w_finish(&w, &n) == 0 ? n : 0;
}

/* Parses and walks the body; returns the number of message bodies. */
static int walk(struct json *j, const char *doc, size_t n)
{
	char body[256];
	int rooms, count = 0;

	if (json_parse(j, doc, n) != 0)
		return -1;
	rooms = json_get(j, json_get(j, 0, "rooms"), "join");
	for (int k = json_obj_first(j, rooms); k >= 0;
	     k = json_obj_next(j, rooms, k)) {
		int ev = json_get(j, json_get(j, k + 1, "timeline"), "events");
		for (int e = json_arr_first(j, ev); e >= 0;
		     e = json_arr_next(j, ev, e))
			if (json_get_str(j, json_get(j, e, "content"), "body",
			                 body, sizeof body) == 0)
				count++;
	}
	return count;
}

static void bench_parse(void)
{
	size_t cap = 4u << 20, n;
	char *doc = malloc(cap);
	double t[RUNS], t0;
	struct json j;

	n = make_sync(doc, cap);
	json_init(&j);
	for (int i = 0; i < RUNS; i++) {
		t0 = us_now();
		if (walk(&j, doc, n) != ROOMS * 3) {
			printf("bench json_parse_sync: FAILED\n");
			return;
		}
		t[i] = us_now() - t0;
	}
	qsort(t, RUNS, sizeof *t, cmp);
	printf("bench json_parse_sync: %.1f MB/s (%zu bytes, %u tokens, "
	       "%.2f ms)\n", (double)n / t[RUNS / 2], n, j.ntok,
	       t[RUNS / 2] / 1e3);
	json_free(&j);
	free(doc);
}

static void bench_write(void)
{
	static char buf[8192], text[2048];
	double t[RUNS], t0;
	struct json_w w;

	for (size_t i = 0; i < sizeof text - 1; i++)
		text[i] = "abc def \"q\" <b>\n"[i % 16];
	for (int i = 0; i < RUNS; i++) {
		t0 = us_now();
		for (int k = 0; k < 1000; k++) {
			json_w_init(&w, buf, sizeof buf);
			json_w_obj(&w);
			json_w_kstr(&w, "msgtype", "m.text");
			json_w_kstr(&w, "body", text);
			json_w_kstr(&w, "format", "org.matrix.custom.html");
			json_w_kstr(&w, "formatted_body", text);
			json_w_obj_end(&w);
			if (json_w_finish(&w, NULL) != 0)
				return;
		}
		t[i] = (us_now() - t0) / 1000;
	}
	qsort(t, RUNS, sizeof *t, cmp);
	printf("bench json_write_event: %.2f us\n", t[RUNS / 2]);
}

int main(void)
{
	bench_parse();
	bench_write();
	return 0;
}
