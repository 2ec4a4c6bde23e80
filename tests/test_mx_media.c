/*
 * mx_media: mxc URIs checked strictly, the two download paths, and what
 * an answer means (Synapse 1.67's 400 M_UNRECOGNIZED on the
 * authenticated path sends us to the legacy one; a missing picture
 * does not).
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "matrix/mx_media.h"

#define MB (1u << 20)

static struct proto_resp resp(int status, const char *body)
{
	struct proto_resp r = { status, -1, body, strlen(body), 0, NULL };

	return r;
}

static int parse(const char *s, struct mx_mxc *m)
{
	return mx_mxc_parse(s, strlen(s), m);
}

static void test_parse(void)
{
	struct mx_mxc m;

	CHECK_EQ(parse("mxc://localhost/AbCdEfGhIjKlMnOpQrStUvWx", &m), 0);
	CHECK_STR(m.server, "localhost");
	CHECK_STR(m.media_id, "AbCdEfGhIjKlMnOpQrStUvWx");
	CHECK_EQ(parse("mxc://matrix.example.org:8448/a_b-9", &m), 0);
	CHECK_STR(m.server, "matrix.example.org:8448");
	CHECK_EQ(parse("mxc://[::1]:8448/x", &m), 0);
	CHECK_STR(m.server, "[::1]:8448");
	CHECK_EQ(parse("mxc://[2001:db8::1]/x", &m), 0);
	CHECK_EQ(parse("mxc://1.2.3.4/x", &m), 0);
	/* not one of ours: every one refused, *m emptied */
	static const char *const bad[] = {
		"", "mxc://", "mxc:///x", "mxc://host", "mxc://host/",
		"https://host/x", "MXC://host/x", "mxc:/host/x",
		"mxc://host/x/y", "mxc://host/x?y", "mxc://host/x#y",
		"mxc://host/x%2F", "mxc://host/x.png", "mxc://host/x y",
		"mxc://ho st/x", "mxc://host:/x", "mxc://host:0/x",
		"mxc://host:65536/x", "mxc://host:123456/x",
		"mxc://host:8a/x", "mxc://user@host/x", "mxc://[::1/x",
		"mxc://[]/x", "mxc://[g::1]/x", "mxc://::1/x",
		"mxc://host/../x", "mxc://h\xc3\xa9/x", "mxc://host/\xc3\xa9",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&m, 'z', sizeof m);
		if (parse(bad[i], &m) != ERR_INVAL)
			harness_fail(__FILE__, __LINE__, "took %s", bad[i]);
		CHECK_STR(m.server, "");
	}
	/* a NUL inside: the length counts, not the C string */
	CHECK_EQ(mx_mxc_parse("mxc://host/x\0y", 14, &m), ERR_INVAL);
	CHECK_EQ(mx_mxc_parse(NULL, 0, &m), ERR_INVAL);
}

/* The bounds: a 255-character host and a 255-character id pass, one
 * more does not. */
static void test_bounds(void)
{
	char uri[700], host[300], id[300];
	struct mx_mxc m;

	memset(host, 'h', 255);
	host[255] = 0;
	memset(id, 'i', 255);
	id[255] = 0;
	snprintf(uri, sizeof uri, "mxc://%s:65535/%s", host, id);
	CHECK_EQ(parse(uri, &m), 0);
	CHECK_EQ(strlen(m.server), 261);
	snprintf(uri, sizeof uri, "mxc://%sh/%s", host, id);
	CHECK_EQ(parse(uri, &m), ERR_INVAL);
	snprintf(uri, sizeof uri, "mxc://%s/%si", host, id);
	CHECK_EQ(parse(uri, &m), ERR_INVAL);
}

static void test_paths(void)
{
	struct mx_mxc m;
	struct proto_req r;
	char p[128];

	CHECK_EQ(parse("mxc://localhost/abc", &m), 0);
	CHECK_EQ(mx_media_path(p, sizeof p, &m, MX_MEDIA_V1), 47);
	CHECK_STR(p, "/_matrix/client/v1/media/download/localhost/abc");
	CHECK_EQ(mx_media_path(p, sizeof p, &m, MX_MEDIA_LEGACY), 40);
	CHECK_STR(p, "/_matrix/media/v3/download/localhost/abc");
	CHECK_EQ(mx_media_path(p, 20, &m, MX_MEDIA_V1), ERR_TOOBIG);
	CHECK_EQ(mx_media_path(p, sizeof p, &m, 0), ERR_INVAL);
	CHECK_EQ(parse("mxc://[::1]:8448/a-b_c", &m), 0);
	CHECK(mx_media_path(p, sizeof p, &m, MX_MEDIA_LEGACY) > 0);
	CHECK_STR(p, "/_matrix/media/v3/download/%5B%3A%3A1%5D%3A8448/a-b_c");
	/* a struct filled by hand is checked again */
	memcpy(m.media_id, "../x", 5);
	CHECK_EQ(mx_media_path(p, sizeof p, &m, MX_MEDIA_V1), ERR_INVAL);

	CHECK_EQ(parse("mxc://localhost/abc", &m), 0);
	CHECK_EQ(mx_req_media_download(&r, "tok", &m, MX_MEDIA_V1), 0);
	CHECK_EQ(r.method, PROTO_GET);
	CHECK_STR(r.path, "/_matrix/client/v1/media/download/localhost/abc");
	CHECK_STR(r.bearer, "tok");
	CHECK_EQ(r.has_body, 0);
	CHECK_EQ(mx_req_media_download(&r, "tok", &m, MX_MEDIA_LEGACY), 0);
	CHECK_STR(r.path, "/_matrix/media/v3/download/localhost/abc");
	CHECK_STR(r.bearer, "");
}

#define V1 MX_MEDIA_V1
#define V3 MX_MEDIA_LEGACY

static int cls(int api, int status, const char *body)
{
	struct proto_resp r = resp(status, body);

	return mx_media_classify(api, &r, -1, 5 * MB);
}

static void test_classify(void)
{
	static const char unrec[] = "{\"errcode\":\"M_UNRECOGNIZED\","
		"\"error\":\"Unrecognized request\"}";
	static const char nf[] = "{\"errcode\":\"M_NOT_FOUND\",\"error\":"
		"\"Not found [b'localhost', b'abc']\"}";
	struct proto_resp r = resp(200, "\x89PNG");

	/* Synapse 1.67 on the authenticated path (transcript-1.67.json:
	 * any unknown endpoint), and the spec's 404/405 */
	CHECK_EQ(cls(V1, 400, unrec), MX_MEDIA_USE_LEGACY);
	CHECK_EQ(cls(V1, 404, unrec), MX_MEDIA_USE_LEGACY);
	CHECK_EQ(cls(V1, 405, unrec), MX_MEDIA_USE_LEGACY);
	CHECK_EQ(cls(V1, 404, "<html>404 Not Found</html>"),
	         MX_MEDIA_USE_LEGACY);
	CHECK_EQ(cls(V1, 404, ""), MX_MEDIA_USE_LEGACY);
	/* the media is missing, not the endpoint */
	CHECK_EQ(cls(V1, 404, nf), MX_MEDIA_GONE);
	/* the legacy path never sends us round again */
	CHECK_EQ(cls(V3, 400, unrec), MX_MEDIA_REFUSED);
	CHECK_EQ(cls(V3, 404, unrec), MX_MEDIA_GONE);
	CHECK_EQ(cls(V3, 404, nf), MX_MEDIA_GONE);
	CHECK_EQ(cls(V3, 404, ""), MX_MEDIA_GONE);
	/* passing troubles */
	CHECK_EQ(cls(V1, 0, ""), MX_MEDIA_RETRY);
	CHECK_EQ(cls(V1, 429, "{\"errcode\":\"M_LIMIT_EXCEEDED\","
	             "\"retry_after_ms\":500}"), MX_MEDIA_RETRY);
	CHECK_EQ(cls(V3, 502, "{\"errcode\":\"M_UNKNOWN\",\"error\":"
	             "\"Failed to fetch remote media\"}"), MX_MEDIA_RETRY);
	CHECK_EQ(cls(V1, 504, "{\"errcode\":\"M_NOT_YET_UPLOADED\"}"),
	         MX_MEDIA_RETRY);
	CHECK_EQ(cls(V1, 500, "{\"errcode\":\"M_UNKNOWN\"}"), MX_MEDIA_RETRY);
	/* the server will not serve it */
	CHECK_EQ(cls(V1, 502, "{\"errcode\":\"M_TOO_LARGE\"}"),
	         MX_MEDIA_TOOBIG);
	/* nothing to gain by asking again */
	CHECK_EQ(cls(V1, 401, "{\"errcode\":\"M_MISSING_TOKEN\"}"),
	         MX_MEDIA_REFUSED);
	CHECK_EQ(cls(V1, 403, "{\"errcode\":\"M_FORBIDDEN\"}"),
	         MX_MEDIA_REFUSED);
	CHECK_EQ(cls(V1, 307, ""), MX_MEDIA_REFUSED);
	CHECK_EQ(cls(V1, 400, "{\"errcode\":\"M_INVALID_PARAM\"}"),
	         MX_MEDIA_REFUSED);
	/* 200: within the cap, by the header and by the body */
	CHECK_EQ(mx_media_classify(V1, &r, 4, 5 * MB), MX_MEDIA_OK);
	CHECK_EQ(mx_media_classify(V1, &r, -1, 5 * MB), MX_MEDIA_OK);
	CHECK_EQ(mx_media_classify(V1, &r, 5 * MB, 5 * MB), MX_MEDIA_OK);
	CHECK_EQ(mx_media_classify(V1, &r, 5 * MB + 1, 5 * MB),
	         MX_MEDIA_TOOBIG);
	CHECK_EQ(mx_media_classify(V3, &r, 20 * MB, 5 * MB), MX_MEDIA_TOOBIG);
	CHECK_EQ(mx_media_classify(V1, &r, -1, 3), MX_MEDIA_TOOBIG);
	CHECK_STR(mx_media_verdict_str(MX_MEDIA_USE_LEGACY), "use-legacy");
	CHECK_STR(mx_media_verdict_str(99), "?");
}

int main(void)
{
	RUN(test_parse);
	RUN(test_bounds);
	RUN(test_paths);
	RUN(test_classify);
	return harness_done("mx_media");
}
