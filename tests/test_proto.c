#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "core/json.h"
#include "net/proto.h"

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

static void test_str_cut_keeps_whole_chars(void)
{
	static const char t[] = "[\"ab\\u00e9\xc3\xa9\", \"abc\", 1, \"a\\u0000b\"]";
	struct json j;
	char out[5];
	int cut;

	json_init(&j);
	CHECK_EQ(json_parse(&j, t, strlen(t)), 0);
	CHECK_EQ(proto_str_cut(&j, 1, out, sizeof out, &cut), 4);
	CHECK_EQ(cut, 1);
	CHECK_STR(out, "ab\xc3\xa9");
	CHECK_EQ(proto_str_cut(&j, 2, out, sizeof out, &cut), 3);
	CHECK_EQ(cut, 0);
	CHECK_STR(out, "abc");
	CHECK_EQ(proto_str_cut(&j, 3, out, sizeof out, &cut), ERR_INVAL);
	CHECK_EQ(proto_str_cut(&j, 4, out, sizeof out, &cut), ERR_INVAL);
	CHECK_EQ(proto_str_cut(&j, -2, out, sizeof out, &cut), ERR_INVAL);
	CHECK_EQ(proto_str_cut(&j, 1, out, 1, &cut), 0);
	CHECK_STR(out, "");
	json_free(&j);
}

static void test_req_init(void)
{
	struct proto_req r;

	proto_req_init(&r, PROTO_PUT);
	CHECK_STR(proto_method_str(r.method), "PUT");
	CHECK_STR(proto_method_str(PROTO_DELETE), "DELETE");
	CHECK_EQ(r.body_len, 0);
	CHECK_EQ(r.has_body, 0);
	CHECK_STR(r.bearer, "");
}

int main(void)
{
	RUN(test_buf_caps_are_sticky);
	RUN(test_urlenc_matrix_ids);
	RUN(test_str_cut_keeps_whole_chars);
	RUN(test_req_init);
	return harness_done("proto");
}
