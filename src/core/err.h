/*
 * err: the one error vocabulary of lettamx.
 *
 * 0 is success, every failure is negative. Incremental steps (parsers,
 * I/O state machines) return >= 0 for progress, ERR_AGAIN for "need more
 * input / would block", or another negative code. Foreign codes (errno,
 * mbedTLS, LMDB) are converted at the module boundary that meets them.
 */
#ifndef LETTAMX_ERR_H
#define LETTAMX_ERR_H

enum err {
	ERR_OK        =   0,
	ERR_AGAIN     =  -1,  /* need more input, or the fd would block */
	ERR_TIMEOUT   =  -2,  /* a deadline passed */
	ERR_PROTO     =  -3,  /* the peer broke the protocol */
	ERR_TOOBIG    =  -4,  /* a hard cap was reached */
	ERR_TLS       =  -5,  /* handshake, certificate or record failure */
	ERR_STORE     =  -6,  /* the LMDB store failed */
	ERR_HTTP      =  -7,  /* a non-success HTTP status */
	ERR_NOMEM     =  -8,  /* allocation failed */
	ERR_IO        =  -9,  /* a system call failed (errno kept by caller) */
	ERR_DNS       = -10,  /* name resolution failed */
	ERR_INVAL     = -11,  /* bad argument or malformed input */
	ERR_NOTFOUND  = -12,  /* no such record, key or name */
	ERR_EXISTS    = -13,  /* would break a uniqueness rule */
	ERR_CLOSED    = -14,  /* the peer closed the connection */
	ERR_CANCELLED = -15,  /* cancelled by its owner */
	ERR_UTF8      = -16,  /* text that is not valid UTF-8 */
	ERR_CONFIG    = -17,  /* configuration error */
	ERR_VERSION   = -18,  /* data written by a newer, unknown version */
	ERR_CORRUPT   = -19,  /* data failed an integrity check */
	ERR_REFUSED   = -20,  /* connection refused */
	ERR__LAST     = -21
};

/* Returns a short, static, human-readable text for an err code (or for an
 * unknown value, "unknown error"). Never NULL. */
const char *err_str(int code);

#endif
