/*
 * store_seal: the secrets of agent records sealed at rest.
 *
 * With a key set (store_set_key, derived from the master secret), the
 * password and access token of a record are stored as one AES-256-GCM
 * box (random 96-bit nonce | ciphertext | 128-bit tag) bound to the agent
 * id (additional data), so the store file and every snapshot of it give
 * away no token. Without a key the record is written in clear (tests,
 * operator reads) and a sealed one cannot be read.
 */
#include "store_int.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>

#include "err.h"

#define NONCE 12
#define TAG   16

int store_key_derive(const uint8_t *master, size_t n, uint8_t key[32])
{
	static const char info[] = "lettamx store secrets v1";
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(
		MBEDTLS_MD_SHA256);

	if (!md || !n || mbedtls_hkdf(md, NULL, 0, master, n,
	                              (const unsigned char *)info,
	                              sizeof info - 1, key, 32))
		return ERR_INVAL;
	return 0;
}

int store_seal(const uint8_t key[32], const char *aad, const uint8_t *pt,
               size_t n, uint8_t *out, size_t cap)
{
	mbedtls_gcm_context g;
	int rc;

	if (cap < n + NONCE + TAG)
		return ERR_TOOBIG;
	if (getrandom(out, NONCE, 0) != NONCE)
		return ERR_IO;
	mbedtls_gcm_init(&g);
	rc = mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, 256);
	if (!rc)
		rc = mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, n, out,
		                               NONCE, (const uint8_t *)aad,
		                               strlen(aad), pt, out + NONCE,
		                               TAG, out + NONCE + n);
	mbedtls_gcm_free(&g);
	return rc ? ERR_IO : (int)(n + NONCE + TAG);
}

int store_unseal(const uint8_t key[32], const char *aad, const uint8_t *in,
                 size_t n, uint8_t *out, size_t cap)
{
	mbedtls_gcm_context g;
	size_t len;
	int rc;

	if (n < NONCE + TAG || n - NONCE - TAG > cap)
		return ERR_CORRUPT;
	len = n - NONCE - TAG;
	mbedtls_gcm_init(&g);
	rc = mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, 256);
	if (!rc)
		rc = mbedtls_gcm_auth_decrypt(&g, len, in, NONCE,
		                              (const uint8_t *)aad, strlen(aad),
		                              in + NONCE + len, TAG, in + NONCE,
		                              out);
	mbedtls_gcm_free(&g);
	return rc ? ERR_CORRUPT : (int)len;
}
