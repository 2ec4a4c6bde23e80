/*
 * ws: the sans-I/O half of the WebSocket client (RFC 6455, client side).
 *
 * Everything here works on bytes the caller owns and never touches a
 * socket, so unit tests and the fuzzer drive it directly:
 *   - the opening handshake: the key from caller-given random bytes, the
 *     GET request head, the check of the server's 101 head (parsed by
 *     httpp);
 *   - the frame writer: masked client frames (mask bytes from the
 *     caller, who owns the randomness);
 *   - the frame reader: an incremental parser that returns whole
 *     messages, reassembling fragments in a caller-owned, capped buffer,
 *     and maps every protocol violation to the close code to send.
 * As httpp: "consumed / need more / error", the same answer whether the
 * bytes arrive whole or one at a time; errors are sticky.
 */
#ifndef LETTAMX_WS_H
#define LETTAMX_WS_H

#include <stddef.h>
#include <stdint.h>

#include "core/url.h"
#include "net/httpp.h"

/* Opcodes (RFC 6455 5.2). */
enum ws_op {
	WS_OP_NONE   = -1,      /* ws_msg: no message completed yet */
	WS_OP_CONT   = 0x0,
	WS_OP_TEXT   = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE  = 0x8,
	WS_OP_PING   = 0x9,
	WS_OP_PONG   = 0xa,
};

/* Close codes we send or report (RFC 6455 7.4.1, IANA registry). */
enum ws_close {
	WS_CLOSE_NORMAL      = 1000,
	WS_CLOSE_GOING_AWAY  = 1001,
	WS_CLOSE_PROTOCOL    = 1002,
	WS_CLOSE_UNSUPPORTED = 1003,    /* a binary message: we take text */
	WS_CLOSE_NO_STATUS   = 1005,    /* reported only: a close without a code */
	WS_CLOSE_ABNORMAL    = 1006,    /* reported only: no close frame */
	WS_CLOSE_BAD_DATA    = 1007,    /* invalid UTF-8 */
	WS_CLOSE_TOOBIG      = 1009,
	WS_CLOSE_INTERNAL    = 1011,
	WS_CLOSE_TLS         = 1015,    /* reported only: TLS failed */
};

#define WS_NONCE_LEN   16       /* random bytes of a Sec-WebSocket-Key */
#define WS_KEY_LEN     24       /* their base64 */
#define WS_ACCEPT_LEN  28       /* base64 of a SHA-1 */
#define WS_CTL_MAX     125      /* payload of a control frame */
#define WS_REASON_MAX  123      /* close reason: 125 less the code */
#define WS_HDR_MAX     14       /* a client frame's header: 2 + 8 + mask */

/* ---- opening handshake ---- */

/* A connection's key and the answer the server must give to it. */
struct ws_key {
	char key[WS_KEY_LEN + 1];
	char accept[WS_ACCEPT_LEN + 1];
};

/* Makes `k` from WS_NONCE_LEN random bytes (the caller's: they must be
 * fresh for each connection). Returns 0, or ERR_TLS if SHA-1 or base64
 * failed (never with mbedTLS as configured). */
int ws_key_make(struct ws_key *k, const uint8_t nonce[WS_NONCE_LEN]);

/* Writes base64(SHA-1(key + the RFC's GUID)) of key[0..len) and a NUL
 * into `out`. Returns 0 or ERR_TLS. */
int ws_accept_of(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1]);

/* Writes the GET request head for `u` (path, Host) into buf[0..cap):
 * Upgrade, Connection, Sec-WebSocket-Key and -Version 13, and
 * "Authorization: Bearer <bearer>" unless `bearer` is NULL or "". No
 * Origin (the App Server answers 403 to one), no extension, no
 * subprotocol.
 * Returns the length, ERR_TOOBIG (does not fit, or a bearer over
 * LIM_WS_BEARER), ERR_INVAL (CR, LF or a control character in the
 * bearer). The head holds the bearer: never log it. */
int ws_handshake_write(char *buf, size_t cap, const struct url *u,
                       const struct ws_key *k, const char *bearer);

/* Parses and checks the server's answer at the start of buf[0..len).
 * Returns the head length (> 0; frames may follow it), ERR_AGAIN (not
 * complete yet), ERR_HTTP (a complete head whose status is not 101:
 * see h->status), ERR_PROTO (malformed, or a 101 that is not the one we
 * asked for: Upgrade, Connection, Sec-WebSocket-Accept, or an extension
 * or subprotocol we did not ask for), ERR_TOOBIG (head over
 * LIM_HTTP_HEAD). `*why` gets a static text for the logs ("" when
 * fine). `h`'s slices point into `buf`. */
int ws_handshake_read(struct httpp_head *h, const char *buf, size_t len,
                      const struct ws_key *k, const char **why);

/* ---- frames we send ---- */

/* Bytes of a client frame with `len` payload bytes (SIZE_MAX if that
 * overflows). */
size_t ws_frame_size(size_t len);

/* Writes one masked client frame into buf[0..cap): opcode `op`, FIN when
 * `fin`, the payload p[0..len) masked with mask[0..4) (the caller's
 * random bytes, fresh for each frame). Returns the length, ERR_TOOBIG
 * (does not fit), ERR_INVAL (unknown opcode, a control frame that is
 * fragmented or over WS_CTL_MAX), ERR_UTF8 (a whole text message that
 * is not UTF-8). */
int ws_frame_write(char *buf, size_t cap, int op, int fin, const void *p,
                   size_t len, const uint8_t mask[4]);

/* Writes a close frame: `code` and reason[0..rlen), or no payload at all
 * when `code` is 0. Returns the length, ERR_TOOBIG, ERR_INVAL (a code
 * that may not be sent, a reason with no code or over WS_REASON_MAX),
 * ERR_UTF8 (a reason that is not UTF-8). */
int ws_close_write(char *buf, size_t cap, int code, const char *reason,
                   size_t rlen, const uint8_t mask[4]);

/* 1 if `code` may stand in a close frame (1000-1003, 1007-1014,
 * 3000-4999), else 0. */
int ws_close_code_ok(int code);

/* The close code to send after the reader failed with `err`: 1002 for
 * ERR_PROTO, 1007 for ERR_UTF8, 1009 for ERR_TOOBIG, else 1011. */
int ws_close_code_of(int err);

/* ---- frames we receive ---- */

/* One thing the reader completed. */
struct ws_msg {
	int op;                 /* WS_OP_NONE, _TEXT, _BINARY, _CLOSE, _PING,
	                         * _PONG */
	const char *data;       /* payload (close: the reason); see
	                         * ws_reader_feed for how long it is valid */
	size_t len;
	int code;               /* WS_OP_CLOSE: the status, 1005 if none */
};

/* The reader's state, caller-owned; fields are private. */
struct ws_reader {
	unsigned char *buf;     /* the caller's: a message being assembled */
	size_t cap;             /* its size: the cap on a message */
	size_t mlen;            /* bytes assembled */
	int mop;                /* the message's opcode; WS_OP_NONE if none */
	int in_payload;         /* reading a payload (else a header) */
	unsigned char hdr[10];  /* the frame header read so far */
	size_t hlen, hneed;
	int fop, fin;           /* the frame's opcode and FIN bit */
	uint64_t flen, fgot;    /* its payload length, bytes read of it */
	uint32_t utf8;          /* UTF-8 check of a text message */
	unsigned char ctl[WS_CTL_MAX];  /* a control frame's payload */
	int err;                /* sticky error */
	int closed;             /* a close frame was read */
};

/* Sets up `r` over the caller's buf[0..cap); `cap` is the largest
 * message accepted (a message over it fails with ERR_TOOBIG). `buf`
 * must outlive `r`. */
void ws_reader_init(struct ws_reader *r, void *buf, size_t cap);

/* Feeds in[0..len) (server frames). Consumes a prefix and returns its
 * length (>= 0); when that prefix completes a message or control frame,
 * `m` describes it (else m->op is WS_OP_NONE and all of `in` was used).
 * Call again with the rest. m->data points into `in` (a frame that
 * arrived whole) or into the reader's buffer: valid until the next call
 * and while `in` is unchanged. Errors (sticky): ERR_PROTO (close with
 * 1002), ERR_UTF8 (1007), ERR_TOOBIG (1009), and ERR_CLOSED for bytes
 * after a close frame; ws_close_code_of() names the code to send. */
int ws_reader_feed(struct ws_reader *r, const void *in, size_t len,
                   struct ws_msg *m);

#endif
