#include "store/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/constant_time.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "conf/cfg.h"
#include "core/err.h"

/* Changing this string changes every agent password: never do it without
 * a migration that logs each agent user in with its old password first. */
static const char pw_domain[] = "lettamx agent password v1";

int secret_random(uint8_t *buf, size_t len)
{
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	static const unsigned char pers[] = "lettamx secret";
	int r;

	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&drbg);
	r = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, pers,
	                          sizeof pers - 1);
	if (r == 0)
		r = mbedtls_ctr_drbg_random(&drbg, buf, len);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&ent);
	return r ? ERR_TLS : 0;
}

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Writes a new master secret file; fails if one appeared meanwhile. */
static int master_create(const char *path, char *why, size_t whylen)
{
	uint8_t raw[SECRET_MASTER_LEN];
	char text[2 * SECRET_MASTER_LEN + 2];
	int fd, r;

	if (secret_random(raw, sizeof raw) != 0) {
		snprintf(why, whylen, "no randomness for a new master secret");
		return ERR_TLS;
	}
	hex_encode(raw, sizeof raw, text);
	mbedtls_platform_zeroize(raw, sizeof raw);
	memcpy(text + 2 * SECRET_MASTER_LEN, "\n", 2);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, whylen, "cannot create %s: %s", path, strerror(errno));
		return ERR_IO;
	}
	r = write(fd, text, strlen(text)) == (ssize_t)strlen(text) &&
	    fsync(fd) == 0 ? 0 : ERR_IO;
	if (close(fd) != 0)
		r = ERR_IO;
	mbedtls_platform_zeroize(text, sizeof text);
	if (r) {
		snprintf(why, whylen, "cannot write %s: %s", path, strerror(errno));
		unlink(path);
	}
	return r;
}

/* The file's one line is the key; the mode and shape rules are those of
 * every secret file (cfg_read_secret), plus a minimum length. */
static int master_read(struct secret_master *m, const char *path, char *why,
                       size_t whylen)
{
	char *text = (char *)m->key;
	int r = cfg_read_secret(path, text, sizeof m->key, why, whylen);

	if (r)
		return r;
	m->len = strlen(text);
	if (m->len < SECRET_MASTER_MIN) {
		snprintf(why, whylen, "%s must hold %d to %d bytes of secret",
		         path, SECRET_MASTER_MIN, SECRET_MASTER_MAX - 2);
		secret_master_reset(m);
		return ERR_CONFIG;
	}
	return 0;
}

int secret_master_load(struct secret_master *m, const char *path,
                       int *created, char *why, size_t whylen)
{
	int r;

	memset(m, 0, sizeof *m);
	*created = 0;
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		r = master_create(path, why, whylen);
		if (r == ERR_IO && errno != EEXIST)
			return r;
		*created = r == 0;
	}
	return master_read(m, path, why, whylen);
}

void secret_master_reset(struct secret_master *m)
{
	mbedtls_platform_zeroize(m, sizeof *m);
}

static void base64url(const uint8_t *in, size_t n, char *out)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i;
	uint32_t v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = a[v >> 6 & 63];
		out[o++] = a[v & 63];
	}
	if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = a[v >> 6 & 63];
	} else if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
	}
	out[o] = '\0';
}

int secret_agent_password(const struct secret_master *m, const char *agent_id,
                          char *out, size_t outlen)
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t ctx;
	uint8_t mac[32];
	int r;

	if (!agent_id || !*agent_id)
		return ERR_INVAL;
	if (outlen <= SECRET_PASSWORD_LEN)
		return ERR_TOOBIG;
	mbedtls_md_init(&ctx);
	r = mbedtls_md_setup(&ctx, md, 1) ||
	    mbedtls_md_hmac_starts(&ctx, m->key, m->len) ||
	    mbedtls_md_hmac_update(&ctx, (const uint8_t *)pw_domain, sizeof pw_domain) ||
	    mbedtls_md_hmac_update(&ctx, (const uint8_t *)agent_id, strlen(agent_id)) ||
	    mbedtls_md_hmac_finish(&ctx, mac);
	mbedtls_md_free(&ctx);
	if (r)
		return ERR_TLS;
	base64url(mac, sizeof mac, out);
	mbedtls_platform_zeroize(mac, sizeof mac);
	return 0;
}

/* The install id: a public name of this installation (it is written in
 * the Space's marker), derived one way from the master secret so that a
 * lost store finds its own Space again and two installations on one
 * homeserver never take each other's. */
static const char install_domain[] = "lettamx install id v1";

int secret_install_id(const struct secret_master *m, char *out, size_t outlen)
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	uint8_t mac[32];

	if (outlen <= SECRET_INSTALL_ID_LEN)
		return ERR_TOOBIG;
	if (mbedtls_md_hmac(md, m->key, m->len, (const uint8_t *)install_domain,
	                    sizeof install_domain, mac))
		return ERR_TLS;
	hex_encode(mac, SECRET_INSTALL_ID_LEN / 2, out);
	mbedtls_platform_zeroize(mac, sizeof mac);
	return 0;
}

int secret_synapse_mac(const char *shared_secret, const char *nonce,
                       const char *user, const char *password, int admin,
                       char *out, size_t outlen)
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
	const char *role = admin ? "admin" : "notadmin";
	const char *parts[] = { nonce, user, password, role };
	mbedtls_md_context_t ctx;
	uint8_t mac[20];
	int r;

	if (outlen <= SECRET_SHA1_HEX)
		return ERR_TOOBIG;
	mbedtls_md_init(&ctx);
	r = mbedtls_md_setup(&ctx, md, 1) ||
	    mbedtls_md_hmac_starts(&ctx, (const uint8_t *)shared_secret,
	                           strlen(shared_secret));
	/* Synapse's message is the four parts joined by NUL bytes. */
	for (size_t i = 0; !r && i < 4; i++) {
		r = mbedtls_md_hmac_update(&ctx, (const uint8_t *)parts[i],
		                           strlen(parts[i]));
		if (!r && i < 3)
			r = mbedtls_md_hmac_update(&ctx, (const uint8_t *)"", 1);
	}
	if (!r)
		r = mbedtls_md_hmac_finish(&ctx, mac);
	mbedtls_md_free(&ctx);
	if (r)
		return ERR_TLS;
	hex_encode(mac, sizeof mac, out);
	return 0;
}

int secret_equal(const char *a, const char *b)
{
	size_t n = strlen(a);

	if (n != strlen(b))
		return 0;
	return n == 0 || mbedtls_ct_memcmp(a, b, n) == 0;
}

void secret_hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int secret_token(char *out, size_t cap)
{
	uint8_t r[32];

	if (cap < 2 * sizeof r + 1)
		return ERR_TOOBIG;
	if (secret_random(r, sizeof r))
		return ERR_TLS;
	secret_hex(r, sizeof r, out);
	mbedtls_platform_zeroize(r, sizeof r);
	return 0;
}
