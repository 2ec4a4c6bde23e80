#include <string.h>

#include "err.h"
#include "harness.h"
#include "proto.h"

static void test_buf_caps_are_sticky(void)
{
	char mem[8];
	struct proto_buf b;

	proto_buf_init(&b, mem, sizeof mem);
	proto_buf_str(&b, "abcdefg");
	CHECK_EQ(b.err, 0);
	CHECK_STR(mem, "abcdefg");
	proto_buf_str(&b, "h");
	CHECK_EQ(b.err, ERR_TOOBIG);
	CHECK_STR(mem, "abcdefg");
	proto_buf_init(&b, mem, sizeof mem);
	proto_buf_fmt(&b, "%d", 12345678);
	CHECK_EQ(b.err, ERR_TOOBIG);
	CHECK_STR(mem, "");
	proto_buf_str(&b, "x");
	CHECK_EQ(b.len, 0);
}

static void test_urlenc_matrix_ids(void)
{
	char mem[128];
	struct proto_buf b;

	proto_buf_init(&b, mem, sizeof mem);
	proto_buf_urlenc(&b, "!zvjyMMZzogKCvZeBgQ:localhost");
	CHECK_STR(mem, "%21zvjyMMZzogKCvZeBgQ%3Alocalhost");
	proto_buf_init(&b, mem, sizeof mem);
	proto_buf_urlenc(&b, "@a_b.c-d~e/f?g#h &");
	CHECK_STR(mem, "%40a_b.c-d~e%2Ff%3Fg%23h%20%26");
	proto_buf_init(&b, mem, sizeof mem);
	proto_buf_urlenc(&b, "\xc3\xa9");
	CHECK_STR(mem, "%C3%A9");
}

static void test_jstr_escapes_and_utf8(void)
{
	char mem[128];
	struct proto_buf b;

	proto_buf_init(&b, mem, sizeof mem);
	proto_buf_jstr(&b, "a\"b\\c\nd\x01 \xc3\xa9 \xf0\x9f\x98\x80");
	CHECK_EQ(b.err, 0);
	CHECK_STR(mem, "\"a\\\"b\\\\c\\u000ad\\u0001 \xc3\xa9 \xf0\x9f\x98\x80\"");
	proto_buf_init(&b, mem, sizeof mem);
	proto_buf_jstr(&b, "bad \xc3");
	CHECK_EQ(b.err, ERR_UTF8);
	proto_buf_init(&b, mem, sizeof mem);
	proto_buf_jstr(&b, "\xed\xa0\x80");     /* an encoded surrogate */
	CHECK_EQ(b.err, ERR_UTF8);
	proto_buf_init(&b, mem, sizeof mem);
	proto_buf_jstr(&b, "\xc0\xaf");         /* overlong '/' */
	CHECK_EQ(b.err, ERR_UTF8);
}

static const char doc[] =
	"{\"a\": {\"x\": [1, 2, {\"y\": null}]}, \"b\\u0041\": \"v\","
	" \"s\": \"\\u00e9\\ud83d\\ude00\\n\", \"n\": -42, \"t\": true,"
	" \"f\": false, \"e\": \"\"}";

static void test_json_lookup(void)
{
	struct proto_json j;
	char out[32];
	int64_t v;
	int x;

	CHECK_EQ(proto_json_parse(&j, doc, strlen(doc)), 0);
	x = proto_json_get(&j, proto_json_get(&j, 0, "a"), "x");
	CHECK_INT(x, >, 0);
	CHECK_EQ(j.tok[x].size, 3);
	CHECK(proto_json_null(&j, proto_json_get(&j, proto_json_at(&j, x, 2), "y")));
	CHECK_EQ(proto_json_at(&j, x, 3), -1);
	CHECK_EQ(proto_json_int(&j, proto_json_at(&j, x, 1), &v), 0);
	CHECK_EQ(v, 2);
	CHECK(proto_json_is(&j, proto_json_get(&j, 0, "bA"), "v"));
	CHECK_EQ(proto_json_str(&j, proto_json_get(&j, 0, "s"), out, sizeof out), 7);
	CHECK_STR(out, "\xc3\xa9\xf0\x9f\x98\x80\n");
	CHECK_EQ(proto_json_int(&j, proto_json_get(&j, 0, "n"), &v), 0);
	CHECK_EQ(v, -42);
	CHECK_EQ(proto_json_bool(&j, proto_json_get(&j, 0, "t")), 1);
	CHECK_EQ(proto_json_bool(&j, proto_json_get(&j, 0, "f")), 0);
	CHECK_EQ(proto_json_bool(&j, proto_json_get(&j, 0, "s")), ERR_INVAL);
	CHECK_EQ(proto_json_str(&j, proto_json_get(&j, 0, "e"), out, sizeof out), 0);
	CHECK_EQ(proto_json_get(&j, 0, "zz"), -1);
	CHECK_EQ(proto_json_str(&j, -1, out, sizeof out), ERR_INVAL);
	CHECK_EQ(proto_json_str(&j, proto_json_get(&j, 0, "s"), out, 4), ERR_TOOBIG);
	proto_json_free(&j);
}

static void test_json_cut_keeps_whole_chars(void)
{
	static const char t[] = "\"ab\xc3\xa9\xc3\xa9\"";
	struct proto_json j;
	char out[5];
	int cut;

	CHECK_EQ(proto_json_parse(&j, t, strlen(t)), 0);
	CHECK_EQ(proto_json_str_cut(&j, 0, out, sizeof out, &cut), 4);
	CHECK_EQ(cut, 1);
	CHECK_STR(out, "ab\xc3\xa9");
	proto_json_free(&j);
}

static void test_json_rejects(void)
{
	static const char *bad[] = {
		"", "{", "{\"a\":}", "[1,]x", "{\"a\":1} {}", "{a:1}", "[tru]",
		"\"abc", "{\"a\" 1}", "[1] [2]", "nul", "[01]", "[1.]", "[-]",
		"[1e]", "{\"a\":1,}", "[1,]", "[ 1 , ]", "{\"a\":[1,],\"b\":2}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	};
	struct proto_json j;
	char out[16];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int r = proto_json_parse(&j, bad[i], strlen(bad[i]));
		if (r != ERR_PROTO)
			harness_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
		proto_json_free(&j);
	}
	CHECK_EQ(proto_json_parse(&j, "[1] \r\n", 6), 0);
	proto_json_free(&j);
	CHECK_EQ(proto_json_parse(&j, "[-0.5e+3, 10, 1E9, true, null]", 30), 0);
	proto_json_free(&j);
	CHECK_EQ(proto_json_parse(&j, "\"\\ud800\"", 8), 0);
	CHECK_EQ(proto_json_str(&j, 0, out, sizeof out), ERR_UTF8);
	proto_json_free(&j);
	CHECK_EQ(proto_json_parse(&j, "\"\\u0000\"", 8), 0);
	CHECK_EQ(proto_json_str(&j, 0, out, sizeof out), ERR_UTF8);
	proto_json_free(&j);
	CHECK_EQ(proto_json_parse(&j, "\"\\x\"", 4), ERR_PROTO);
	proto_json_free(&j);
}

static void test_json_int_range(void)
{
	struct proto_json j;
	int64_t v;

	CHECK_EQ(proto_json_parse(&j, "[99999999999999999999, 1.5, \"3\"]", 32), 0);
	CHECK_EQ(proto_json_int(&j, proto_json_at(&j, 0, 0), &v), ERR_INVAL);
	CHECK_EQ(proto_json_int(&j, proto_json_at(&j, 0, 1), &v), ERR_INVAL);
	CHECK_EQ(proto_json_int(&j, proto_json_at(&j, 0, 2), &v), ERR_INVAL);
	proto_json_free(&j);
}

int main(void)
{
	RUN(test_buf_caps_are_sticky);
	RUN(test_urlenc_matrix_ids);
	RUN(test_jstr_escapes_and_utf8);
	RUN(test_json_lookup);
	RUN(test_json_cut_keeps_whole_chars);
	RUN(test_json_rejects);
	RUN(test_json_int_range);
	return harness_done("proto");
}
