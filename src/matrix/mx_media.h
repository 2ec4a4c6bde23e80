/*
 * mx_media: downloading a picture a person sent, sans-I/O. An m.image
 * names its bytes by an mxc:// URI (untrusted: checked strictly before
 * any of it goes into a path); the bytes come from the authenticated
 * endpoint of Matrix 1.11 first,
 *     GET /_matrix/client/v1/media/download/{serverName}/{mediaId}
 * with the access token, and from the unauthenticated one,
 *     GET /_matrix/media/v3/download/{serverName}/{mediaId}
 * when the homeserver does not know the first (Synapse before 1.111:
 * 400 M_UNRECOGNIZED for any unknown path, reference/synapse/
 * transcript-1.67.json; the spec: 404 or 405 M_UNRECOGNIZED).
 */
#ifndef LETTAMX_MX_MEDIA_H
#define LETTAMX_MX_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#include "net/proto.h"

/* The spec's grammar bounds a DNS name at 255 characters; a port adds
 * at most 6. Media ids have no bound in the spec; Synapse makes 24
 * characters, and anything past 255 is nobody's. */
#define MX_MEDIA_SERVER_MAX 261
#define MX_MEDIA_ID_MAX     255

/* An mxc URI taken apart: two C strings, checked (below). */
struct mx_mxc {
	char server[MX_MEDIA_SERVER_MAX + 1];
	char media_id[MX_MEDIA_ID_MAX + 1];
};

/* Parses "mxc://<server name>/<media id>" from s[0..n) (not a C string:
 * straight from an event's JSON) into *m. The server name as the spec's
 * appendix gives it: a DNS name (letters, digits, '-', '.'; 1..255), an
 * IPv4 address, or an IPv6 literal in brackets, then optionally ':' and
 * 1..5 digits (1..65535); the media id 1..MX_MEDIA_ID_MAX of
 * [A-Za-z0-9_-]. Nothing may follow (no further '/', query, fragment).
 * Returns 0 or ERR_INVAL (*m is then empty). */
int mx_mxc_parse(const char *s, size_t n, struct mx_mxc *m);

/* Which download endpoint. */
enum mx_media_api {
	MX_MEDIA_V1 = 1,        /* /_matrix/client/v1/media/download, with
	                         * the access token */
	MX_MEDIA_LEGACY,        /* /_matrix/media/v3/download, without */
};

/* Writes the download path of m (both parts percent-encoded: ':' and
 * brackets of a server name become %3A, %5B, %5D) into path[0..cap).
 * Returns its length, or ERR_INVAL (api unknown), ERR_TOOBIG. */
int mx_media_path(char *path, size_t cap, const struct mx_mxc *m, int api);

/* A GET of that path into r; token (borrowed, copied) is sent only to
 * MX_MEDIA_V1: the legacy endpoint takes none, and a token is not
 * spread where it is not needed. Returns 0, ERR_INVAL, ERR_TOOBIG. */
int mx_req_media_download(struct proto_req *r, const char *token,
                          const struct mx_mxc *m, int api);

/* What a download's answer means. */
enum mx_media_verdict {
	MX_MEDIA_OK = 0,        /* 200, within the cap: the bytes */
	MX_MEDIA_USE_LEGACY,    /* v1 unknown to the server: ask
	                         * MX_MEDIA_LEGACY */
	MX_MEDIA_TOOBIG,        /* over the cap (Content-Length or the body),
	                         * or 502 M_TOO_LARGE: the server will not
	                         * serve it */
	MX_MEDIA_RETRY,         /* no answer, 429, 5xx, 504
	                         * M_NOT_YET_UPLOADED: later, with backoff */
	MX_MEDIA_GONE,          /* 404 M_NOT_FOUND: no such media */
	MX_MEDIA_REFUSED,       /* any other answer: 401/403 (the token),
	                         * 3xx (no redirect is asked for), other
	                         * 4xx; trying again cannot help */
};

/* Classifies the answer resp to a download from api. content_length is
 * the answer's Content-Length header (-1: none, a chunked body); cap
 * the most bytes a picture may have (image_max_bytes). Answers to the
 * legacy endpoint are never MX_MEDIA_USE_LEGACY. Returns MX_MEDIA_*. */
int mx_media_classify(int api, const struct proto_resp *resp,
                      int64_t content_length, uint64_t cap);

/* A short name of a verdict for logs ("ok", "use-legacy", …). */
const char *mx_media_verdict_str(int v);

#endif
