/*
 * secret: the master secret and what is derived from it.
 *
 * Every agent user's Matrix password is derived from one master secret and
 * the agent id, so losing the store costs a re-login, never an account.
 * The master secret lives in a file named by the configuration, created
 * 0600 from the CTR-DRBG at first start. Nothing here is ever logged.
 */
#ifndef LETTAMX_SECRET_H
#define LETTAMX_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define SECRET_MASTER_LEN   32  /* bytes of randomness in a new master */
#define SECRET_MASTER_MIN   32  /* shortest master secret accepted */
#define SECRET_MASTER_MAX  256  /* longest master secret file read */
#define SECRET_PASSWORD_LEN 43  /* base64url of 32 bytes, no padding */
#define SECRET_SHA1_HEX     40
#define SECRET_INSTALL_ID_LEN 16 /* hex digits */

struct secret_master {
	uint8_t key[SECRET_MASTER_MAX];
	size_t len;
};

/* Reads the master secret from `path`, creating it (mode 0600, exclusive,
 * fsynced, 32 random bytes written as 64 hex digits) if it does not exist.
 * It is read like every secret file (cfg_read_secret: one line, mode 0600)
 * and must hold at least SECRET_MASTER_MIN bytes. `*created` tells whether
 * a new one was written. Returns 0, ERR_IO (cannot create), ERR_CONFIG
 * (unreadable, too short, too long, wrong mode; reason in `why`), ERR_TLS
 * (no randomness). */
int secret_master_load(struct secret_master *m, const char *path,
                       int *created, char *why, size_t whylen);

/* Wipes the key from memory. */
void secret_master_reset(struct secret_master *m);

/* Writes the password of agent `agent_id` into `out` (NUL-terminated,
 * SECRET_PASSWORD_LEN characters of base64url: HMAC-SHA256 of the master
 * over a domain-separated agent id). `outlen` must be > 43.
 * Returns 0, ERR_TOOBIG (buffer), ERR_INVAL (empty id). */
int secret_agent_password(const struct secret_master *m, const char *agent_id,
                          char *out, size_t outlen);

/* Writes this installation's id into `out`: SECRET_INSTALL_ID_LEN hex
 * digits of HMAC-SHA256(master, a fixed label) and a NUL (`outlen` >
 * SECRET_INSTALL_ID_LEN). Public (it names our Space in its marker), the
 * same for as long as the master secret is, different for another
 * installation. Returns 0, ERR_TOOBIG, ERR_TLS. */
int secret_install_id(const struct secret_master *m, char *out, size_t outlen);

/* Synapse shared-secret registration MAC: hex HMAC-SHA1 keyed with the
 * shared secret over nonce NUL user NUL password NUL ("admin"|"notadmin").
 * `out` gets 40 hex digits and a NUL (outlen > 40). Returns 0, ERR_TOOBIG,
 * ERR_TLS. */
int secret_synapse_mac(const char *shared_secret, const char *nonce,
                       const char *user, const char *password, int admin,
                       char *out, size_t outlen);

/* Fills `buf` with `len` bytes from a CTR-DRBG seeded by getrandom().
 * Returns 0 or ERR_TLS. */
int secret_random(uint8_t *buf, size_t len);

/* 1 when the C strings a and b are equal, in a time that depends only on
 * their lengths (a token checked against what a client sent). */
int secret_equal(const char *a, const char *b);

/* n bytes as lower-case hex into out (2n + 1 bytes, NUL-terminated). */
void secret_hex(const uint8_t *b, size_t n, char *out);

/* A new random token: 32 bytes from secret_random() in hex (64
 * characters) into out[0..cap). Returns 0, ERR_TOOBIG or ERR_TLS. */
int secret_token(char *out, size_t cap);

#endif
