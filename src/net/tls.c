/*
 * tls: mbedTLS 3.6 client glue.
 *
 * Learnt from curl lib/vtls/mbedtls.c and redis tls.c: mbedTLS asks for a
 * direction (WANT_READ / WANT_WRITE) and the caller polls for exactly
 * that; a blocked write must be repeated with the same buffer and length;
 * decrypted bytes can sit inside mbedTLS while the socket is quiet, so a
 * reader drains until ERR_AGAIN before polling again. TLS 1.3 servers send
 * NewSessionTicket messages after the handshake; with signalling enabled
 * mbedTLS reports each one once (RECEIVED_NEW_SESSION_TICKET), we keep it
 * for resumption and carry on reading.
 */
#include "net/tls.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/loop.h"

struct tls_ctx {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

struct tls_session {
	mbedtls_ssl_session s;
};

struct tls_conn {
	mbedtls_ssl_context ssl;
	tls_send_fn send;
	tls_recv_fn recv;
	void *io;
	unsigned want;
	int io_err;             /* last transport error, kept for callers */
	int new_session;        /* a resumable session is available */
	char reason[LIM_TLS_REASON];
};

/* Where distributions keep their CA bundle (curl's and Go's lists). */
static const char *const ca_paths[] = {
	"/etc/ssl/certs/ca-certificates.crt",   /* Debian, Alpine, Arch */
	"/etc/pki/tls/certs/ca-bundle.crt",     /* Fedora, RHEL */
	"/etc/ssl/ca-bundle.pem",               /* openSUSE */
	"/etc/pki/tls/cacert.pem",              /* OpenELEC */
	"/etc/ssl/cert.pem",                    /* Alpine, macOS, BSDs */
	NULL,
};

/* ---------------------------------------------------------------- context */

static const char *default_ca_file(void)
{
	for (int i = 0; ca_paths[i]; i++)
		if (access(ca_paths[i], R_OK) == 0)
			return ca_paths[i];
	return NULL;
}

static int load_ca(struct tls_ctx *t, const char *file)
{
	int r;

	if (!file)
		file = default_ca_file();
	if (!file) {
		LOG_ERROR("tls", "event=ca_missing reason=\"no CA bundle found; "
		          "set ca_file\"");
		return ERR_CONFIG;
	}
	/* > 0: that many certificates were skipped (unsupported algorithms
	 * in a system bundle); fine as long as some were loaded. */
	r = mbedtls_x509_crt_parse_file(&t->ca, file);
	if (r < 0 || t->ca.version == 0) {
		LOG_ERROR("tls", "event=ca_load_failed file=%s code=-0x%04x",
		          file, (unsigned)-r);
		return ERR_CONFIG;
	}
	LOG_DEBUG("tls", "event=ca_loaded file=%s skipped=%d", file, r);
	return 0;
}

static int setup_conf(struct tls_ctx *t, const struct tls_conf *conf)
{
	mbedtls_ssl_config *c = &t->conf;

	if (mbedtls_ssl_config_defaults(c, MBEDTLS_SSL_IS_CLIENT,
	                                MBEDTLS_SSL_TRANSPORT_STREAM,
	                                MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		return ERR_TLS;
	mbedtls_ssl_conf_rng(c, mbedtls_ctr_drbg_random, &t->drbg);
	if (conf->no_verify) {
		mbedtls_ssl_conf_authmode(c, MBEDTLS_SSL_VERIFY_NONE);
	} else {
		mbedtls_ssl_conf_authmode(c, MBEDTLS_SSL_VERIFY_REQUIRED);
		mbedtls_ssl_conf_ca_chain(c, &t->ca, NULL);
	}
	mbedtls_ssl_conf_session_tickets(c, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
	mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
		c, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
	return 0;
}

int tls_ctx_new(struct tls_ctx **out, const struct tls_conf *conf)
{
	static const struct tls_conf defaults;
	struct tls_ctx *t;
	int r;

	*out = NULL;
	conf = conf ? conf : &defaults;
	/* Idempotent; TLS 1.3 (and PSA-backed ciphers) need it first. */
	if (psa_crypto_init() != PSA_SUCCESS)
		return ERR_TLS;
	t = calloc(1, sizeof *t);
	if (!t)
		return ERR_NOMEM;
	mbedtls_ssl_config_init(&t->conf);
	mbedtls_x509_crt_init(&t->ca);
	mbedtls_entropy_init(&t->entropy);
	mbedtls_ctr_drbg_init(&t->drbg);
	r = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
	                          (const unsigned char *)"lettamx", 7) ?
	    ERR_TLS : 0;
	if (!r && !conf->no_verify)
		r = load_ca(t, conf->ca_file);
	if (!r)
		r = setup_conf(t, conf);
	if (r) {
		tls_ctx_free(t);
		return r;
	}
	if (conf->no_verify)
		LOG_WARN("tls", "event=verify_off reason=\"tls_verify = off: "
		         "server certificates are NOT checked\"");
	*out = t;
	return 0;
}

void tls_ctx_free(struct tls_ctx *t)
{
	if (!t)
		return;
	mbedtls_ssl_config_free(&t->conf);
	mbedtls_x509_crt_free(&t->ca);
	mbedtls_ctr_drbg_free(&t->drbg);
	mbedtls_entropy_free(&t->entropy);
	free(t);
}

/* ---------------------------------------------------------------- BIO */

/* mbedTLS sees only its own codes; our err codes are kept in io_err. */
static int bio_send(void *arg, const unsigned char *buf, size_t len)
{
	struct tls_conn *c = arg;
	int r = c->send(c->io, buf, len);

	if (r >= 0)
		return r;
	if (r == ERR_AGAIN)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	c->io_err = r;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *arg, unsigned char *buf, size_t len)
{
	struct tls_conn *c = arg;
	int r = c->recv(c->io, buf, len);

	if (r >= 0)
		return r;
	if (r == ERR_AGAIN)
		return MBEDTLS_ERR_SSL_WANT_READ;
	c->io_err = r;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

/* ---------------------------------------------------------------- errors */

static const char *verify_reason(uint32_t flags)
{
	if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
		return "certificate expired";
	if (flags & MBEDTLS_X509_BADCERT_FUTURE)
		return "certificate not yet valid";
	if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
		return "hostname mismatch";
	if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
		return "not trusted (self-signed or unknown CA)";
	if (flags & (MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK |
	             MBEDTLS_X509_BADCERT_BAD_KEY))
		return "certificate uses a weak or unsupported algorithm";
	if (flags & (MBEDTLS_X509_BADCERT_KEY_USAGE |
	             MBEDTLS_X509_BADCERT_EXT_KEY_USAGE))
		return "certificate not valid for a TLS server";
	return "certificate rejected";
}

static const char *code_reason(int code)
{
	switch (code) {
	case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
		return "server sent a fatal alert";
	case MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE:
		return "handshake failure (no common cipher or group?)";
	case MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION:
		return "no common TLS version (1.2 or 1.3 needed)";
	case MBEDTLS_ERR_SSL_INVALID_RECORD:
	case MBEDTLS_ERR_SSL_INVALID_MAC:
	case MBEDTLS_ERR_SSL_DECODE_ERROR:
		return "corrupt TLS record (not a TLS server?)";
	case MBEDTLS_ERR_SSL_ALLOC_FAILED:
		return "out of memory";
	default:
		return NULL;
	}
}

/* Converts an mbedTLS failure into an err code and a reason. */
static int fail(struct tls_conn *c, int code)
{
	const char *why;

	if (code == MBEDTLS_ERR_NET_SEND_FAILED ||
	    code == MBEDTLS_ERR_NET_RECV_FAILED) {
		snprintf(c->reason, sizeof c->reason, "%s", err_str(c->io_err));
		return c->io_err;
	}
	if (code == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED)
		why = verify_reason(mbedtls_ssl_get_verify_result(&c->ssl));
	else
		why = code_reason(code);
	if (why)
		snprintf(c->reason, sizeof c->reason, "%s", why);
	else
		snprintf(c->reason, sizeof c->reason, "mbedtls error -0x%04x",
		         (unsigned)-code);
	return ERR_TLS;
}

/* Sorts an mbedTLS result: returns 1 to retry at once (a session ticket
 * arrived), ERR_AGAIN with c->want set, or the converted failure. */
static int classify(struct tls_conn *c, int code)
{
	switch (code) {
	case MBEDTLS_ERR_SSL_WANT_READ:
		c->want = LOOP_READ;
		return ERR_AGAIN;
	case MBEDTLS_ERR_SSL_WANT_WRITE:
		c->want = LOOP_WRITE;
		return ERR_AGAIN;
	case MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET:
		c->new_session = 1;
		return 1;
	default:
		return fail(c, code);
	}
}

/* ---------------------------------------------------------------- conns */

struct tls_conn *tls_conn_new(struct tls_ctx *t, const char *host,
                              const struct tls_session *resume,
                              tls_send_fn send, tls_recv_fn recv, void *io)
{
	struct tls_conn *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	mbedtls_ssl_init(&c->ssl);
	c->send = send;
	c->recv = recv;
	c->io = io;
	if (mbedtls_ssl_setup(&c->ssl, &t->conf) != 0 ||
	    mbedtls_ssl_set_hostname(&c->ssl, host) != 0) {
		tls_conn_free(c);
		return NULL;
	}
	/* A stale or rejected session only costs a full handshake. */
	if (resume)
		(void)mbedtls_ssl_set_session(&c->ssl, &resume->s);
	mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
	return c;
}

void tls_conn_free(struct tls_conn *c)
{
	if (!c)
		return;
	mbedtls_ssl_free(&c->ssl);
	free(c);
}

int tls_handshake(struct tls_conn *c)
{
	int r;

	do {
		r = mbedtls_ssl_handshake(&c->ssl);
		if (r == 0) {
			/* TLS 1.2 sessions are resumable right away; TLS 1.3
			 * ones only through tickets, which come later. */
			if (mbedtls_ssl_get_version_number(&c->ssl) ==
			    MBEDTLS_SSL_VERSION_TLS1_2)
				c->new_session = 1;
			return 0;
		}
		r = classify(c, r);
	} while (r == 1);
	return r;
}

int tls_read(struct tls_conn *c, void *buf, size_t len)
{
	int r;

	do {
		r = mbedtls_ssl_read(&c->ssl, buf, len);
		if (r >= 0)
			return r;
		/* A TCP close without close_notify: HTTP framing decides
		 * whether the body was complete. */
		if (r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
		    r == MBEDTLS_ERR_SSL_CONN_EOF)
			return 0;
		r = classify(c, r);
	} while (r == 1);
	return r;
}

int tls_write(struct tls_conn *c, const void *buf, size_t len)
{
	int r;

	do {
		r = mbedtls_ssl_write(&c->ssl, buf, len);
		if (r >= 0)
			return r;
		r = classify(c, r);
	} while (r == 1);
	return r;
}

size_t tls_pending(const struct tls_conn *c)
{
	return mbedtls_ssl_get_bytes_avail(&c->ssl);
}

unsigned tls_want(const struct tls_conn *c)
{
	return c->want ? c->want : LOOP_READ;
}

const char *tls_reason(const struct tls_conn *c)
{
	return c->reason;
}

int tls_session_take(struct tls_conn *c, struct tls_session **slot)
{
	struct tls_session *s = *slot;

	if (!c->new_session)
		return 0;
	c->new_session = 0;
	if (!s) {
		s = calloc(1, sizeof *s);
		if (!s)
			return 0;
		mbedtls_ssl_session_init(&s->s);
	} else {
		mbedtls_ssl_session_free(&s->s);
		mbedtls_ssl_session_init(&s->s);
	}
	*slot = s;
	return mbedtls_ssl_get_session(&c->ssl, &s->s) == 0;
}

void tls_session_free(struct tls_session *s)
{
	if (!s)
		return;
	mbedtls_ssl_session_free(&s->s);
	free(s);
}
