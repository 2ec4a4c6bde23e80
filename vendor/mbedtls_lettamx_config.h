/*
 * lettamx's own mbedTLS 3.6 configuration.
 *
 * Why trimmed: the default configuration links ~580 KB of TLS into a static
 * musl binary; the whole daemon must fit in 1 MiB. lettamx is only ever a
 * TLS *client* talking to a homeserver and a Letta server, so everything a
 * server, a DTLS peer or a legacy cipher needs is left out.
 *
 * What stays:
 *   - TLS 1.2 and TLS 1.3, client side, with SNI and session tickets
 *     (cheap reconnects to origins that drop idle connections).
 *   - Key exchange: ECDHE (x25519, secp256r1, secp384r1) with RSA or ECDSA
 *     certificates (TLS 1.2); ephemeral (EC)DHE for TLS 1.3.
 *   - Ciphers: AES-GCM and ChaCha20-Poly1305 only.
 *   - X.509 verification with dates (expired certificates are refused),
 *     PEM CA bundles read from a file.
 *   - Randomness: CTR-DRBG over the entropy module, whose only source is
 *     the Linux getrandom() system call (entropy_poll.c).
 *   - SHA-1 stays for one non-TLS use: the HMAC-SHA1 of Synapse's
 *     shared-secret registration.
 *
 * Selected with -DMBEDTLS_CONFIG_FILE='"mbedtls_lettamx_config.h"' (see Makefile);
 * the name must differ from mbedTLS's own include/mbedtls/mbedtls_config.h,
 * which a quoted include from build_info.h would find first.
 */
#ifndef LETTAMX_MBEDTLS_CONFIG_H
#define LETTAMX_MBEDTLS_CONFIG_H

/* ---- platform ---- */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE          /* certificate validity periods */
#define MBEDTLS_FS_IO                   /* CA bundle from a file */
#define MBEDTLS_DEPRECATED_REMOVED

/* ---- randomness ---- */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C

/* ---- symmetric crypto ---- */
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES          /* tables in .rodata, not RAM */
#define MBEDTLS_AES_FEWER_TABLES        /* 6 KiB instead of 8 KiB */
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_CIPHER_C

/* ---- hashes ---- */
#define MBEDTLS_MD_C
#define MBEDTLS_SHA1_C                  /* Synapse shared-secret HMAC only */
#define MBEDTLS_SHA224_C                /* required companion of SHA256_C */
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C                /* SHA-384 is computed by it */
#define MBEDTLS_HKDF_C

/* ---- public key ---- */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21               /* RSA-PSS, mandatory in TLS 1.3 */
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C            /* ECDSA signature encoding */
#define MBEDTLS_OID_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C

/* ---- PSA, which TLS 1.3 is built on ---- */
#define MBEDTLS_PSA_CRYPTO_C

/* ---- X.509 ---- */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C

/* ---- TLS: client only ---- */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE   /* required by TLS 1.3 code */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_ENCRYPT_THEN_MAC
#define MBEDTLS_SSL_SESSION_TICKETS
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED

/*
 * Record buffers. A server may send full 16 KiB records, so the input side
 * must stay at the maximum; what we send is small (JSON requests), so the
 * output side is 4 KiB: ~12 KiB saved per open connection.
 */
#define MBEDTLS_SSL_IN_CONTENT_LEN  16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096

/* Error strings cost ~20 KB; lettamx prints its own messages per code. */

#endif /* LETTAMX_MBEDTLS_CONFIG_H */
