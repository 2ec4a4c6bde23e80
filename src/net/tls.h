/*
 * tls: mbedTLS client sessions over non-blocking transports.
 *
 * One `struct tls_ctx` per process holds what connections share (the
 * mbedTLS configuration, the CA chain, the entropy source and DRBG); one
 * `struct tls_conn` per connection holds the mbedTLS context. tls never
 * touches a socket: the caller gives a send/recv pair (normally the
 * http I/O seam), so handshakes, reads and writes return ERR_AGAIN with
 * the direction to poll for (tls_want) and are resumed by the caller's
 * event loop.
 *
 * Certificate verification is on unless tls_conf.no_verify is set, and
 * then every tls_ctx_new() logs a warning.
 */
#ifndef LETTAMX_TLS_H
#define LETTAMX_TLS_H

#include <stddef.h>

struct tls_conf {
	const char *ca_file;    /* PEM bundle; NULL = first system bundle
	                         * found (see tls.c) */
	int no_verify;          /* tls_verify = off: accept any certificate.
	                         * For tests against self-signed servers
	                         * only; logged as a warning. */
};

struct tls_ctx;
struct tls_conn;
struct tls_session;

/* Transport callbacks: like send()/recv() on a non-blocking socket.
 * Return bytes moved (> 0), 0 for end of stream (recv only), ERR_AGAIN
 * when the socket would block, or another negative err code. */
typedef int (*tls_send_fn)(void *io, const unsigned char *buf, size_t len);
typedef int (*tls_recv_fn)(void *io, unsigned char *buf, size_t len);

/* Creates the shared context: initialises PSA crypto, seeds the DRBG,
 * loads the CA bundle (unless no_verify). Returns it in `*out` and 0, or
 * ERR_CONFIG (no CA bundle found / unreadable / no usable certificate),
 * ERR_TLS (DRBG seeding failed), ERR_NOMEM. `conf` is not kept. */
int tls_ctx_new(struct tls_ctx **out, const struct tls_conf *conf);

/* Frees the context. All its connections must be freed before. */
void tls_ctx_free(struct tls_ctx *t);

/* Starts a client connection to `host` (used for SNI and for checking the
 * certificate; an IP literal is checked against IP SANs). `resume` (may
 * be NULL) offers a saved session for resumption; it is copied. Returns
 * the connection or NULL (allocation or setup failure). */
struct tls_conn *tls_conn_new(struct tls_ctx *t, const char *host,
                              const struct tls_session *resume,
                              tls_send_fn send, tls_recv_fn recv, void *io);

void tls_conn_free(struct tls_conn *c);

/* Advances the handshake. Returns 0 when it is complete, ERR_AGAIN (poll
 * for tls_want()), ERR_TLS (reason in tls_reason()), or the transport's
 * error (ERR_CLOSED, ERR_IO...). */
int tls_handshake(struct tls_conn *c);

/* Reads decrypted bytes. Returns > 0, 0 at the end of the stream (close
 * notify or TCP close), ERR_AGAIN (poll for tls_want(); but first read
 * until ERR_AGAIN: mbedTLS may hold decrypted bytes the socket no longer
 * signals), ERR_TLS, or a transport error. */
int tls_read(struct tls_conn *c, void *buf, size_t len);

/* Writes bytes. Returns the number taken (> 0), ERR_AGAIN (call again
 * with the same pointer and length, as mbedTLS requires), ERR_TLS, or a
 * transport error. */
int tls_write(struct tls_conn *c, const void *buf, size_t len);

/* Bytes already decrypted and waiting in mbedTLS. */
size_t tls_pending(const struct tls_conn *c);

/* LOOP_READ or LOOP_WRITE: what the last ERR_AGAIN waits for. */
unsigned tls_want(const struct tls_conn *c);

/* A readable reason for the last failure ("certificate expired",
 * "hostname mismatch", "not trusted", ...), "" if none. Owned by `c`. */
const char *tls_reason(const struct tls_conn *c);

/* If the connection learnt a session that can resume a later connection
 * (after a TLS 1.2 handshake, or a TLS 1.3 session ticket), stores it in
 * `*slot` (allocating it when NULL; the caller frees it with
 * tls_session_free) and returns 1; else returns 0. */
int tls_session_take(struct tls_conn *c, struct tls_session **slot);

void tls_session_free(struct tls_session *s);

#endif
