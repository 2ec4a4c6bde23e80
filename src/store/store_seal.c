/*
 * store_seal: the secrets of agent records sealed at rest.
 *
 * With a key set (store_set_key, derived from the master secret), the
 * password and access token of a record are stored as one AES-256-GCM
 * box (random 96-bit nonce | ciphertext | 128-bit tag) bound to the agent
 * id (additional data), so the store file and every snapshot of it give
 * away no token. Without a key the record is written in clear (tests,
 * operator reads) and a sealed one cannot be read.
 *
 * Secret meta values (the bot's access token) use the same box, bound to
 * "meta:" and their name, after a 0x01 mark byte: a value in clear is
 * text and never starts with it, so a store written by an older lettamx
 * still reads, and the caller rewrites such a value sealed.
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>

#include "core/err.h"

#define NONCE 12
#define TAG   16
#define META_SEALED 0x01    /* first byte of a sealed meta value */

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

/* The additional data binding a sealed meta value to its name. */
static void meta_aad(const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "meta:%s", name);
}

int store_meta_put_sealed(struct store_txn *t, const char *name,
                          const char *val)
{
	uint8_t box[1 + NONCE + LIM_STORE_SECRET + TAG];
	char aad[5 + LIM_STORE_ID];
	size_t n = strlen(val);
	MDB_val k = { strlen(name), (void *)(uintptr_t)name }, v;
	int r;

	if (!t->s->has_key)
		return store_meta_put(t, name, val);
	if (!k.mv_size || k.mv_size >= LIM_STORE_ID || n >= LIM_STORE_SECRET)
		return store_fail(t->s, ERR_TOOBIG, "meta %.40s: key or value "
		                  "too long", name);
	meta_aad(name, aad, sizeof aad);
	box[0] = META_SEALED;
	r = store_seal(t->s->key, aad, (const uint8_t *)val, n, box + 1,
	               sizeof box - 1);
	if (r < 0)
		return store_fail(t->s, r, "meta %s: cannot seal it", name);
	v.mv_size = (size_t)r + 1;
	v.mv_data = box;
	r = store_mdb_err(t, mdb_put(t->txn, t->s->dbi[STORE_META], &k, &v, 0),
	                  "meta put");
	memset(box, 0, sizeof box);
	return r;
}

/* Copies a value in clear into out (a C string); sets *clear. */
static int meta_clear(struct store_txn *t, const char *name,
                      const MDB_val *v, char *out, size_t cap, bool *clear)
{
	if (v->mv_size >= cap)
		return store_fail(t->s, ERR_TOOBIG, "meta %s is %zu bytes",
		                  name, v->mv_size);
	memcpy(out, v->mv_data, v->mv_size);
	out[v->mv_size] = 0;
	*clear = true;
	return 0;
}

int store_meta_get_sealed(struct store_txn *t, const char *name, char *out,
                          size_t cap, bool *clear)
{
	MDB_val k = { strlen(name), (void *)(uintptr_t)name }, v;
	const uint8_t *p;
	char aad[5 + LIM_STORE_ID];
	int rc = mdb_get(t->txn, t->s->dbi[STORE_META], &k, &v), n;

	*clear = false;
	if (cap)
		out[0] = 0;
	if (rc)
		return store_mdb_err(t, rc, "meta get");
	p = v.mv_data;
	if (!v.mv_size || p[0] != META_SEALED)
		return meta_clear(t, name, &v, out, cap, clear);
	if (!t->s->has_key)
		return store_fail(t->s, ERR_CORRUPT, "meta %s is sealed and "
		                  "cannot be unsealed (no key set)", name);
	if (v.mv_size >= 1 + NONCE + TAG && v.mv_size - 1 - NONCE - TAG >= cap)
		return store_fail(t->s, ERR_TOOBIG, "meta %s is %zu bytes",
		                  name, v.mv_size);
	meta_aad(name, aad, sizeof aad);
	n = store_unseal(t->s->key, aad, p + 1, v.mv_size - 1,
	                 (uint8_t *)out, cap - 1);
	if (n < 0) {
		memset(out, 0, cap);
		return store_fail(t->s, ERR_CORRUPT, "meta %s cannot be "
		                  "unsealed (damaged, or another master "
		                  "secret)", name);
	}
	out[n] = 0;
	return 0;
}
