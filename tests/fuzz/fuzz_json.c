/*
 * fuzz_json: the JSON reader on arbitrary bytes. A document that parses is
 * walked entirely (every value typed, every string unescaped, every number
 * read as an integer), re-emitted with the writer, and the result must
 * parse again and re-emit to the very same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"

static void emit(struct json_w *w, const struct json *j, int v);

static void emit_str(struct json_w *w, const struct json *j, int v,
                     bool key)
{
	size_t n, raw;
	char *buf;

	json_raw(j, v, &raw);
	buf = malloc(raw + 1);
	if (!buf)
		abort();
	if (json_strn(j, v, buf, raw + 1, &n) != 0)
		abort();            /* a parsed string always unescapes */
	if (!json_utf8_valid(buf, n))
		abort();
	if (key)
		json_w_keyn(w, buf, n);
	else
		json_w_strn(w, buf, n);
	free(buf);
}

static void emit_container(struct json_w *w, const struct json *j, int v)
{
	int count = 0;

	if (json_type(j, v) == JSON_OBJ) {
		json_w_obj(w);
		for (int k = json_obj_first(j, v); k >= 0;
		     k = json_obj_next(j, v, k), count++) {
			emit_str(w, j, k, true);
			emit(w, j, k + 1);
		}
		json_w_obj_end(w);
	} else {
		json_w_arr(w);
		for (int e = json_arr_first(j, v); e >= 0;
		     e = json_arr_next(j, v, e), count++)
			emit(w, j, e);
		json_w_arr_end(w);
	}
	if (count != json_count(j, v))
		abort();
}

static void emit(struct json_w *w, const struct json *j, int v)
{
	int64_t i;
	bool b;

	switch (json_type(j, v)) {
	case JSON_OBJ:
	case JSON_ARR:
		emit_container(w, j, v);
		break;
	case JSON_STR:
		emit_str(w, j, v, false);
		break;
	case JSON_NUM:
		if (json_int(j, v, INT64_MIN, INT64_MAX, &i) == 0)
			json_w_int(w, i);
		else
			json_w_copy(w, j, v);
		break;
	case JSON_BOOL:
		if (json_bool(j, v, &b) != 0)
			abort();
		json_w_bool(w, b);
		break;
	case JSON_NULL:
		json_w_null(w);
		break;
	default:
		abort();
	}
}

/* Parses text and re-emits it into out; returns the writer's result.
 * Re-emitting never grows a byte into more than 6 (a control character
 * becomes \u00XX), so out has room for 6 * len + 16. */
static int roundtrip(const char *text, size_t len, char *out, size_t *n)
{
	struct json j;
	struct json_w w;
	int r;

	json_init(&j);
	r = json_parse(&j, text, len);
	if (r == 0) {
		json_w_init(&w, out, 6 * len + 16);
		emit(&w, &j, 0);
		r = json_w_finish(&w, n);
		if (r != 0)
			abort();
		if (json_skip(&j, 0) != (int)j.ntok)
			abort();
	}
	json_free(&j);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *a = malloc(6 * size + 16), *b = malloc(6 * size + 16);
	size_t na, nb;

	if (!a || !b)
		abort();
	if (roundtrip((const char *)data, size, a, &na) == 0) {
		if (roundtrip(a, na, b, &nb) != 0)
			abort();            /* our own output must parse */
		if (na != nb || memcmp(a, b, na))
			abort();            /* and be a fixed point */
	}
	free(a);
	free(b);
	return 0;
}
