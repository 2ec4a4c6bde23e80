#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "core/json.h"

/* Parses a C string; returns the result code. */
static int parse(struct json *j, const char *s)
{
	return json_parse(j, s, strlen(s));
}

static int parse_once(const char *s)
{
	struct json j;
	int r;

	json_init(&j);
	r = parse(&j, s);
	json_free(&j);
	return r;
}

static void test_walk_object(void)
{
	struct json j;
	const char *doc = " {\"a\": 1, \"b\": [true, false, null, \"x\"],"
	                  " \"c\": {\"d\": {}}, \"e\": -42}\n";
	char s[16];
	int64_t v;
	bool b;
	int n = 0;

	json_init(&j);
	CHECK_EQ(parse(&j, doc), 0);
	CHECK_EQ(json_type(&j, 0), JSON_OBJ);
	CHECK_EQ(json_count(&j, 0), 4);
	for (int k = json_obj_first(&j, 0); k >= 0; k = json_obj_next(&j, 0, k))
		n++;
	CHECK_EQ(n, 4);
	int arr = json_get(&j, 0, "b");
	CHECK_EQ(json_type(&j, arr), JSON_ARR);
	CHECK_EQ(json_count(&j, arr), 4);
	int e = json_arr_first(&j, arr);
	CHECK_EQ(json_bool(&j, e, &b), 0);
	CHECK(b);
	e = json_arr_next(&j, arr, e);
	CHECK_EQ(json_bool(&j, e, &b), 0);
	CHECK(!b);
	e = json_arr_next(&j, arr, e);
	CHECK_EQ(json_type(&j, e), JSON_NULL);
	e = json_arr_next(&j, arr, e);
	CHECK_EQ(json_str(&j, e, s, sizeof s), 0);
	CHECK_STR(s, "x");
	CHECK_EQ(json_arr_next(&j, arr, e), ERR_NOTFOUND);
	CHECK_EQ(json_get_int(&j, 0, "e", INT64_MIN, INT64_MAX, &v), 0);
	CHECK_EQ(v, -42);
	CHECK_EQ(json_get(&j, 0, "zz"), ERR_NOTFOUND);
	CHECK_EQ(json_get(&j, arr, "a"), ERR_INVAL);
	/* skipping the subtree "c" lands on key "e" */
	int c = json_get(&j, 0, "c");
	CHECK(json_str_eq(&j, json_skip(&j, c), "e"));
	CHECK_EQ(json_type(&j, json_get(&j, c, "d")), JSON_OBJ);
	CHECK_EQ(json_get_str(&j, 0, "a", s, sizeof s), ERR_INVAL);
	json_free(&j);
}

static void test_grammar_refused(void)
{
	static const char *bad[] = {
		"", " ", "1", "\"s\"", "true", "{", "[", "}", "[1,]",
		"{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{\"a\":}", "{1:2}",
		"{\"a\":1 \"b\":2}", "[01]", "[1.]", "[.5]", "[1e]", "[-]",
		"[+1]", "[tru]", "[nul]", "[truex]", "[1]x", "[1] [2]",
		"[\"a\":1]", "{\"a\"::1}", "[,1]", "[[]", "[]]", "{\"a\":1}}",
		"[\"\\x\"]", "[\"\\u12\"]", "[\"\\u12G4\"]", "[0x10]", "[NaN]",
		"{\"a\",1}", "[1,,2]", "['a']",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int r = parse_once(bad[i]);
		if (r != ERR_PROTO)
			harness_fail(__FILE__, __LINE__, "'%s' gave %d", bad[i], r);
	}
	CHECK_EQ(json_parse(&(struct json){0}, "[1]\0", 4), ERR_PROTO);
}

static void test_grammar_accepted(void)
{
	static const char *good[] = {
		"[]", "{}", " [ ] ", "[0]", "[-0]", "[1.5e+10]", "[1E-2]",
		"[-0.0e0]", "{\"\":\"\"}", "[[[[]]]]", "[\"\\/\"]",
		"{\"a\":[{},{\"b\":null}],\"c\":true}", "\t\r\n[1]\r\n",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		int r = parse_once(good[i]);
		if (r != 0)
			harness_fail(__FILE__, __LINE__, "'%s' gave %d", good[i], r);
	}
}

/* Every strict prefix of a valid document is refused. */
static void test_prefixes_refused(void)
{
	const char *doc = "{\"k\":[1,{\"x\":\"\\u00e9\"},true],\"n\":null}";
	size_t n = strlen(doc);
	struct json j;

	json_init(&j);
	for (size_t i = 0; i < n; i++) {
		char *p = malloc(i + 1);
		memcpy(p, doc, i);
		if (json_parse(&j, p, i) == 0)
			harness_fail(__FILE__, __LINE__, "prefix %zu parsed", i);
		free(p);
	}
	CHECK_EQ(json_parse(&j, doc, n), 0);
	json_free(&j);
}

static void test_unescape(void)
{
	struct json j;
	char s[64];
	size_t n;

	json_init(&j);
	CHECK_EQ(parse(&j, "[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\","
	                   "\"\\u00e9\\u20AC\\ud83d\\ude00\", \"\\u0000z\","
	                   "\"caf\xc3\xa9\"]"), 0);
	CHECK_EQ(json_str(&j, 1, s, sizeof s), 0);
	CHECK_STR(s, "a\"b\\c/d\b\f\n\r\t");
	CHECK_EQ(json_str(&j, 2, s, sizeof s), 0);
	CHECK_STR(s, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	CHECK_EQ(json_str(&j, 3, s, sizeof s), ERR_INVAL);  /* NUL inside */
	CHECK_EQ(json_strn(&j, 3, s, sizeof s, &n), 0);
	CHECK_EQ(n, 2);
	CHECK(s[0] == 0 && s[1] == 'z');
	CHECK_EQ(json_str(&j, 4, s, sizeof s), 0);
	CHECK_STR(s, "caf\xc3\xa9");
	CHECK_EQ(json_str(&j, 4, s, 5), ERR_TOOBIG);       /* 5 bytes + NUL */
	CHECK_EQ(json_str(&j, 4, s, 6), 0);
	CHECK(json_str_eq(&j, 2, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
	CHECK(!json_str_eq(&j, 2, "\xc3\xa9"));
	json_free(&j);
	json_init(&j);
	CHECK_EQ(parse(&j, "{\"\\u0061b\":7}"), 0);    /* escaped key */
	CHECK_EQ(json_type(&j, json_get(&j, 0, "ab")), JSON_NUM);
	/* a repeated key reads as its last value, as the servers read it */
	CHECK_EQ(parse(&j, "{\"sender\":\"@a:x\",\"s\\u0065nder\":"
	                   "\"@b:x\"}"), 0);
	CHECK(json_str_eq(&j, json_get(&j, 0, "sender"), "@b:x"));
	json_free(&j);
}

/* Plain runs (copied whole) meet escapes and multibyte characters at
 * every capacity: the string fits exactly or is ERR_TOOBIG; a compare
 * by length first is never fooled by an escape of the same length. */
static void test_runs_and_compare(void)
{
	static const char want[] = "ab\ncd\xc3\xa9" "ef\x7f" "Agh";
	struct json j;
	char s[64];
	size_t n;

	json_init(&j);
	CHECK_EQ(parse(&j, "[\"ab\\ncd\xc3\xa9" "ef\x7f\\u0041gh\", \"\\n\","
	                   "\"\\u0061\", \"ab\x01\"]"), ERR_PROTO);
	CHECK_EQ(parse(&j, "[\"ab\\ncd\xc3\xa9" "ef\x7f\\u0041gh\", \"\\n\","
	                   "\"\\u0061\"]"), 0);
	for (size_t cap = 1; cap <= sizeof want; cap++)
		CHECK_EQ(json_strn(&j, 1, s, cap, &n),
		         cap < sizeof want ? ERR_TOOBIG : 0);
	CHECK_EQ(n, sizeof want - 1);
	CHECK(!memcmp(s, want, sizeof want));
	/* the raw bytes \n are a newline, not s's backslash and n */
	CHECK(!json_str_eq(&j, 2, "\\n"));
	CHECK(json_str_eq(&j, 2, "\n"));
	CHECK(json_str_eq(&j, 3, "a"));
	CHECK(!json_str_eq(&j, 3, "\\u0061"));
	CHECK(!json_str_eq(&j, 3, "ab"));
	json_free(&j);
}

static void test_utf8_and_surrogates(void)
{
	static const char *bad[] = {
		"[\"\\ud83d\"]",            /* lone high */
		"[\"\\ude00\"]",            /* lone low */
		"[\"\\ud83d\\u0041\"]",     /* high + non-low */
		"[\"\\ud83dx\"]",
		"[\"\\ude00\\ud83d\"]",     /* reversed */
		"[\"\xff\"]", "[\"\xc0\xaf\"]",   /* invalid, overlong */
		"[\"\xe0\x80\xaf\"]",       /* overlong 3 */
		"[\"\xed\xa0\x80\"]",       /* UTF-8-encoded surrogate */
		"[\"\xf4\x90\x80\x80\"]",   /* > U+10FFFF */
		"[\"\xe2\x82\"]",           /* truncated */
		"[\"\x80\"]",               /* continuation alone */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int r = parse_once(bad[i]);
		if (r != ERR_UTF8)
			harness_fail(__FILE__, __LINE__, "case %zu gave %d", i, r);
	}
	CHECK_EQ(parse_once("[\"a\x01\"]"), ERR_PROTO);   /* raw control */
	CHECK_EQ(parse_once("[\"a\nb\"]"), ERR_PROTO);
	CHECK_EQ(parse_once("[\"\xf4\x8f\xbf\xbf\"]"), 0);  /* U+10FFFF */
	CHECK(json_utf8_valid("\xe2\x82\xac", 3));
	CHECK(!json_utf8_valid("\xe2\x82", 2));
}

static void test_integers(void)
{
	struct json j;
	int64_t v = 5;

	json_init(&j);
	CHECK_EQ(parse(&j, "[9223372036854775807,-9223372036854775808,"
	                   "9223372036854775808,1.0,1e3,-0,300,\"7\",true]"), 0);
	CHECK_EQ(json_int(&j, 1, INT64_MIN, INT64_MAX, &v), 0);
	CHECK(v == INT64_MAX);
	CHECK_EQ(json_int(&j, 2, INT64_MIN, INT64_MAX, &v), 0);
	CHECK(v == INT64_MIN);
	CHECK_EQ(json_int(&j, 3, INT64_MIN, INT64_MAX, &v), ERR_TOOBIG);
	CHECK_EQ(json_int(&j, 4, INT64_MIN, INT64_MAX, &v), ERR_INVAL);
	CHECK_EQ(json_int(&j, 5, INT64_MIN, INT64_MAX, &v), ERR_INVAL);
	CHECK_EQ(json_int(&j, 6, INT64_MIN, INT64_MAX, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(json_int(&j, 7, 0, 255, &v), ERR_TOOBIG);
	CHECK_EQ(json_int(&j, 7, 0, 300, &v), 0);
	CHECK_EQ(v, 300);
	CHECK_EQ(json_int(&j, 8, INT64_MIN, INT64_MAX, &v), ERR_INVAL);
	CHECK_EQ(json_int(&j, 9, INT64_MIN, INT64_MAX, &v), ERR_INVAL);
	CHECK_EQ(json_int(&j, 99, INT64_MIN, INT64_MAX, &v), ERR_INVAL);
	json_free(&j);
}

static char *nested(int depth)
{
	char *s = malloc((size_t)depth * 2 + 1);
	memset(s, '[', (size_t)depth);
	memset(s + depth, ']', (size_t)depth);
	s[depth * 2] = 0;
	return s;
}

static void test_limits(void)
{
	char *s = nested(LIM_JSON_DEPTH);
	struct json j;

	CHECK_EQ(parse_once(s), 0);
	free(s);
	s = nested(LIM_JSON_DEPTH + 1);
	CHECK_EQ(parse_once(s), ERR_TOOBIG);
	free(s);
	json_init(&j);
	CHECK_EQ(json_parse(&j, "[]", (size_t)LIM_JSON_DOC + 1), ERR_TOOBIG);
	/* a document of more tokens than the cap: "[0,0,0,...]" */
	size_t n = (size_t)LIM_JSON_TOKENS * 2 + 2;
	s = malloc(n + 1);
	s[0] = '[';
	for (size_t i = 1; i < n - 1; i += 2)
		s[i] = '0', s[i + 1] = ',';
	s[n - 2] = '0';
	s[n - 1] = ']';
	CHECK_EQ(json_parse(&j, s, n), ERR_TOOBIG);
	/* just under the cap grows on demand and succeeds */
	n = (size_t)(LIM_JSON_TOKENS - 1) * 2 + 1;
	s[n - 1] = ']';
	CHECK_EQ(json_parse(&j, s, n), 0);
	CHECK_EQ(j.ntok, LIM_JSON_TOKENS);
	free(s);
	json_free(&j);
}

static void test_writer(void)
{
	char buf[256];
	struct json_w w;
	size_t n;

	json_w_init(&w, buf, sizeof buf);
	json_w_obj(&w);
	json_w_kstr(&w, "body", "say \"hi\"\n\\ \x01 caf\xc3\xa9 \xf0\x9f\x98\x80");
	json_w_kint(&w, "n", INT64_MIN);
	json_w_kbool(&w, "ok", true);
	json_w_key(&w, "list");
	json_w_arr(&w);
	json_w_null(&w);
	json_w_int(&w, 1);
	json_w_obj(&w);
	json_w_obj_end(&w);
	json_w_arr_end(&w);
	json_w_obj_end(&w);
	CHECK_EQ(json_w_finish(&w, &n), 0);
	CHECK_STR(buf, "{\"body\":\"say \\\"hi\\\"\\n\\\\ \\u0001 caf\xc3\xa9 "
	               "\xf0\x9f\x98\x80\",\"n\":-9223372036854775808,"
	               "\"ok\":true,\"list\":[null,1,{}]}");
	CHECK_EQ(n, strlen(buf));
	CHECK_EQ(parse_once(buf), 0);
}

/* Cutting text to a size without splitting a character. */
static void test_utf8_fit(void)
{
	static const char s[] = "a\xc3\xa9\xe2\x82\xacz";   /* a é € z */

	CHECK_EQ(json_utf8_fit(s, 7, 100), 7);
	CHECK_EQ(json_utf8_fit(s, 7, 2), 1);     /* é does not fit whole */
	CHECK_EQ(json_utf8_fit(s, 7, 3), 3);
	CHECK_EQ(json_utf8_fit(s, 7, 5), 3);     /* nor does € */
	CHECK_EQ(json_utf8_fit(s, 7, 6), 6);
	CHECK_EQ(json_utf8_fit(s, 7, 0), 0);
	CHECK_EQ(json_utf8_fit("ab\xff", 3, 10), 2);   /* stops at a bad byte */
}

/* Two pieces as one string value (an edit's "* " fallback). */
static void test_writer_two_pieces(void)
{
	char buf[64];
	struct json_w w;
	size_t n;

	json_w_init(&w, buf, sizeof buf);
	json_w_arr(&w);
	json_w_strn2(&w, "* ", 2, "a\"b", 3);
	json_w_strn2(&w, "", 0, "", 0);
	json_w_arr_end(&w);
	CHECK_EQ(json_w_finish(&w, &n), 0);
	CHECK_STR(buf, "[\"* a\\\"b\",\"\"]");
	json_w_init(&w, buf, sizeof buf);
	json_w_strn2(&w, "ok", 2, "\xff", 1);
	CHECK_EQ(json_w_finish(&w, &n), ERR_UTF8);
}

static void test_writer_misuse(void)
{
	char buf[64];
	struct json_w w;

	json_w_init(&w, buf, sizeof buf);
	json_w_obj(&w);
	json_w_str(&w, "value without key");
	CHECK_EQ(json_w_finish(&w, NULL), ERR_INVAL);

	json_w_init(&w, buf, sizeof buf);
	json_w_arr(&w);
	json_w_key(&w, "k");
	CHECK_EQ(json_w_finish(&w, NULL), ERR_INVAL);

	json_w_init(&w, buf, sizeof buf);
	json_w_arr(&w);
	json_w_obj_end(&w);
	CHECK_EQ(json_w_finish(&w, NULL), ERR_INVAL);

	json_w_init(&w, buf, sizeof buf);
	json_w_obj(&w);
	json_w_key(&w, "k");
	json_w_obj_end(&w);             /* key without value */
	CHECK_EQ(json_w_finish(&w, NULL), ERR_INVAL);

	json_w_init(&w, buf, sizeof buf);
	json_w_arr(&w);                 /* unfinished */
	CHECK_EQ(json_w_finish(&w, NULL), ERR_INVAL);

	json_w_init(&w, buf, sizeof buf);
	json_w_arr(&w);
	json_w_arr_end(&w);
	json_w_arr(&w);                 /* a second root */
	CHECK_EQ(json_w_finish(&w, NULL), ERR_INVAL);

	json_w_init(&w, buf, sizeof buf);
	json_w_arr(&w);
	json_w_str(&w, "bad \xff utf8");
	json_w_arr_end(&w);
	CHECK_EQ(json_w_finish(&w, NULL), ERR_UTF8);

	json_w_init(&w, buf, sizeof buf);
	json_w_arr(&w);
	json_w_str(&w, "\xed\xa0\x80");   /* encoded surrogate */
	json_w_arr_end(&w);
	CHECK_EQ(json_w_finish(&w, NULL), ERR_UTF8);
}

static void test_writer_overflow(void)
{
	char buf[300];
	struct json_w w;
	size_t n;
	int fits = 0;

	/* every capacity either gives the whole document or ERR_TOOBIG,
	 * never a truncated one */
	for (size_t cap = 0; cap <= 40; cap++) {
		json_w_init(&w, buf, cap);
		json_w_obj(&w);
		json_w_kstr(&w, "k", "v\"\n");
		json_w_kint(&w, "i", 12345);
		json_w_obj_end(&w);
		int r = json_w_finish(&w, &n);
		if (r == 0) {
			fits++;
			CHECK_STR(buf, "{\"k\":\"v\\\"\\n\",\"i\":12345}");
			CHECK_INT(cap, >, n);
		} else {
			CHECK_EQ(r, ERR_TOOBIG);
			CHECK_INT(cap, <=, 23);
		}
	}
	CHECK_EQ(fits, 40 - 23);     /* the document is 23 bytes */
	json_w_init(&w, buf, sizeof buf);
	for (int i = 0; i <= LIM_JSON_DEPTH; i++)
		json_w_arr(&w);
	CHECK_EQ(json_w_finish(&w, NULL), ERR_TOOBIG);
}

static void test_copy_and_reuse(void)
{
	struct json j;
	char buf[128];
	struct json_w w;

	json_init(&j);
	CHECK_EQ(parse(&j, "{\"c\":{\"x\":[1.5,\"\\u00e9\"]}}"), 0);
	json_w_init(&w, buf, sizeof buf);
	json_w_obj(&w);
	json_w_key(&w, "copied");
	json_w_copy(&w, &j, json_get(&j, 0, "c"));
	json_w_obj_end(&w);
	CHECK_EQ(json_w_finish(&w, NULL), 0);
	CHECK_STR(buf, "{\"copied\":{\"x\":[1.5,\"\\u00e9\"]}}");
	/* a failed parse leaves nothing to read; the same struct parses again */
	CHECK_EQ(parse(&j, "[1,"), ERR_PROTO);
	CHECK_EQ(json_type(&j, 0), JSON_NONE);
	CHECK_EQ(parse(&j, "[2]"), 0);
	CHECK_EQ(json_type(&j, 1), JSON_NUM);
	json_free(&j);
}

int main(void)
{
	RUN(test_walk_object);
	RUN(test_grammar_refused);
	RUN(test_grammar_accepted);
	RUN(test_prefixes_refused);
	RUN(test_unescape);
	RUN(test_runs_and_compare);
	RUN(test_utf8_and_surrogates);
	RUN(test_integers);
	RUN(test_limits);
	RUN(test_writer);
	RUN(test_writer_two_pieces);
	RUN(test_utf8_fit);
	RUN(test_writer_misuse);
	RUN(test_writer_overflow);
	RUN(test_copy_and_reuse);
	return harness_done("json");
}
