/*
 * A question with a picture, to both Letta APIs: the REST body
 * (letta_msg_body_img) and the App Server's input (letta_app_input_
 * message_img) carry a text part and an image part with the base64 of
 * the bytes, exactly as letta-openapi.json's ImageContent / Base64Image
 * and the App Server's isBase64ImageContentPart read them; without a
 * picture both write what they wrote before, byte for byte; a 5 MiB
 * picture fits the buffers they size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/err.h"
#include "core/img.h"
#include "core/json.h"
#include "harness.h"
#include "imgfx.h"
#include "letta/letta_app.h"
#include "letta/letta_msg.h"

#define A1 "agent-6f1c2b9e-0d4a-4c1e-9a57-2f3b8c0d1e2a"
#define AG1 "agent-local-3da277ef-3289-4a21-989d-fb0f9cbecab8"
#define OTID "5d2c8f0e-3a41-4b7e-9c11-8e4f2a6b7c90"

/* base64 of imgfx_png */
#define PNG_B64 "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEklEQVR4nGP4" \
	"z8DAAMIM/4EAAB/uBfsL2WiLAAAAAElFTkSuQmCC"

static const struct img png = { "image/png", imgfx_png, sizeof imgfx_png };
static const struct letta_app_runtime rt1 = { AG1, "local-conv-1" };

static struct letta_send question(const char *text)
{
	struct letta_send s = { A1, text, strlen(text), "a", "@a:x", OTID, 20,
	                        0, 0 };
	return s;
}

static void test_rest_shape(void)
{
	struct letta_send s = question("[A (@a:x)] look \"here\"");
	char *body;
	size_t n;

	CHECK_EQ(letta_msg_body_img(&s, &png, &body, &n), 0);
	CHECK_MEM(body, n, "{\"messages\":[{\"role\":\"user\",\"content\":["
	          "{\"type\":\"text\",\"text\":\"[A (@a:x)] look \\\"here\\\"\"},"
	          "{\"type\":\"image\",\"source\":{\"type\":\"base64\","
	          "\"media_type\":\"image/png\",\"data\":\"" PNG_B64 "\"}}],"
	          "\"text\":\"[A (@a:x)] look \\\"here\\\"\",\"name\":\"a\","
	          "\"sender_id\":\"@a:x\",\"otid\":\"" OTID "\"}],"
	          "\"max_steps\":20}");
	CHECK_EQ(strlen(body), n);
	free(body);
	/* streamed, to a conversation: the tail as without a picture */
	s.stream = 1;
	s.conv = 1;
	CHECK_EQ(letta_msg_body_img(&s, &png, &body, &n), 0);
	CHECK(strstr(body, "\"}}],\"text\":") != NULL);
	CHECK(strstr(body, "\"max_steps\":20,\"streaming\":true,"
	             "\"stream_tokens\":false,\"include_pings\":true}") != NULL);
	free(body);
}

/* No picture: letta_msg_body's bytes. */
static void test_rest_same(void)
{
	struct letta_send s = question("plain \x01 text");
	char *a, *b;
	size_t an, bn;

	for (int k = 0; k < 4; k++) {
		s.stream = k & 1;
		s.conv = k >> 1;
		CHECK_EQ(letta_msg_body(&s, &a, &an), 0);
		CHECK_EQ(letta_msg_body_img(&s, NULL, &b, &bn), 0);
		CHECK(an == bn && !memcmp(a, b, an));
		free(a);
		free(b);
	}
}

static void test_rest_refused(void)
{
	struct letta_send s = question("x");
	struct img im = png;
	static const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
	char *body = (char *)1;
	size_t n;

	im.type = "image/jpeg";         /* the bytes are a PNG */
	CHECK_EQ(letta_msg_body_img(&s, &im, &body, &n), ERR_INVAL);
	CHECK(body == NULL);
	im.type = "image/svg+xml";
	im.p = (const uint8_t *)svg;
	im.n = sizeof svg - 1;
	CHECK_EQ(letta_msg_body_img(&s, &im, &body, &n), ERR_INVAL);
	s.text = "\xff";
	s.text_len = 1;
	CHECK_EQ(letta_msg_body_img(&s, &png, &body, &n), ERR_UTF8);
	CHECK(body == NULL);
}

/* A big picture made of a real PNG header and padding (sniffed by its
 * header only): its base64 in the body decodes to... its length. */
static uint8_t *big_png(size_t n)
{
	uint8_t *p = malloc(n);

	if (!p)
		return NULL;
	memset(p, 0xab, n);
	memcpy(p, imgfx_png, sizeof imgfx_png);
	return p;
}

static void test_rest_big(void)
{
	struct json j;
	size_t big = 5u << 20, n, dn;
	uint8_t *p = big_png(big);
	struct img im = { "image/png", p, big };
	/* text that escapes 6x: the measured size must still be exact */
	char text[3001];
	struct letta_send s;
	char *body;
	const char *d;
	int c, src;

	memset(text, 1, 3000);
	text[3000] = 0;
	s = question(text);
	CHECK(p != NULL);
	CHECK_EQ(letta_msg_body_img(&s, &im, &body, &n), 0);
	CHECK_EQ(strlen(body), n);
	json_init(&j);
	CHECK_EQ(json_parse(&j, body, n), 0);
	c = json_get(&j, json_arr_first(&j, json_get(&j, 0, "messages")),
	             "content");
	CHECK_EQ(json_count(&j, c), 2);
	src = json_get(&j, json_arr_next(&j, c, json_arr_first(&j, c)),
	               "source");
	d = json_raw(&j, json_get(&j, src, "data"), &dn);
	CHECK_EQ(dn, b64_len(big));
	CHECK(d && !memcmp(d, PNG_B64, 60));
	CHECK(d && !memcmp(d + dn - 4, "q6s=", 4));    /* ab ab, padded */
	json_free(&j);
	free(body);
	/* over the hard cap: refused before anything is written */
	im.n = IMG_MAX_BYTES + 1;
	CHECK_EQ(letta_msg_body_img(&s, &im, &body, &n), ERR_INVAL);
	free(p);
}

static void test_app_shape(void)
{
	static char buf[1024];
	size_t cap = letta_app_input_message_cap(6, &png);
	int n;

	n = letta_app_input_message_img(buf, sizeof buf, "r8", &rt1,
	                                "[Ann] ", 6, &png, "cm-1");
	CHECK_STR(buf, "{\"type\":\"input\",\"request_id\":\"r8\",\"runtime\":"
	          "{\"agent_id\":\"" AG1 "\",\"conversation_id\":\"local-conv-1"
	          "\"},\"payload\":{\"kind\":\"create_message\",\"messages\":[{"
	          "\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
	          "\"[Ann] \"},{\"type\":\"image\",\"source\":{\"type\":"
	          "\"base64\",\"media_type\":\"image/png\",\"data\":\"" PNG_B64
	          "\"}}],\"client_message_id\":\"cm-1\"}]}}");
	CHECK_EQ(n, (int)strlen(buf));
	CHECK_INT(cap, >, (size_t)n);
	/* exactly the frame and its NUL */
	CHECK_EQ(letta_app_input_message_img(buf, (size_t)n, "r8", &rt1,
	                                     "[Ann] ", 6, &png, "cm-1"),
	         ERR_TOOBIG);
	CHECK_EQ(letta_app_input_message_img(buf, (size_t)n + 1, "r8", &rt1,
	                                     "[Ann] ", 6, &png, "cm-1"), n);
	/* no picture: letta_app_input_message's frame */
	char other[1024];
	n = letta_app_input_message(other, sizeof other, "r8", &rt1, "hi", 2,
	                            "cm-1");
	CHECK_EQ(letta_app_input_message_img(buf, sizeof buf, "r8", &rt1,
	                                     "hi", 2, NULL, "cm-1"), n);
	CHECK_STR(buf, other);
	CHECK_INT(letta_app_input_message_cap(2, NULL), >, (size_t)n);
	/* a picture that is not what it says */
	struct img bad = png;
	bad.type = "image/gif";
	CHECK_EQ(letta_app_input_message_img(buf, sizeof buf, "r8", &rt1,
	                                     "hi", 2, &bad, "cm-1"),
	         ERR_INVAL);
}

/* The worst text (every byte a \u00XX) and the longest ids fit the
 * buffer letta_app_input_message_cap asks for, with a 5 MiB picture. */
static void test_app_big(void)
{
	size_t big = 5u << 20, tl = 4000, cap;
	uint8_t *p = big_png(big);
	struct img im = { "image/png", p, big };
	char id[LIM_LETTA_APP_ID], *text = malloc(tl), *buf;
	struct letta_app_runtime rt = { AG1, id };
	int n;

	memset(id, '"', sizeof id - 1);         /* escaped: 2 bytes each */
	id[sizeof id - 1] = 0;
	memset(text, 1, tl);
	cap = letta_app_input_message_cap(tl, &im);
	buf = malloc(cap);
	CHECK(p && text && buf);
	n = letta_app_input_message_img(buf, cap, id, &rt, text, tl, &im,
	                                "cm-1");
	CHECK_INT(n, >, (int)b64_len(big));
	CHECK_INT((size_t)n, <, cap);
	free(buf);
	free(text);
	free(p);
}

int main(void)
{
	RUN(test_rest_shape);
	RUN(test_rest_same);
	RUN(test_rest_refused);
	RUN(test_rest_big);
	RUN(test_app_shape);
	RUN(test_app_big);
	return harness_done("letta_img");
}
