/*
 * size_probe: links every dependency the way the finished daemon will use
 * it (a verifying TLS 1.2/1.3 client with a CA bundle, LMDB, jsmn, md4c's
 * HTML renderer), so `make bench` can track the size floor of the 1 MiB
 * budget per board before the daemon itself uses all of them. It is never
 * run; its size is the figure.
 */
#include <stdio.h>

#include <jsmn.h>
#include <lmdb.h>
#include <md4c-html.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

static void md_out(const MD_CHAR *t, MD_SIZE n, void *u)
{
	fwrite(t, 1, n, u);
}

int main(int argc, char **argv)
{
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	unsigned char mac[20];
	MDB_env *env;
	jsmn_parser p;
	jsmntok_t tok[8];

	if (argc < 2)
		return 0;
	psa_crypto_init();
	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0);
	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_parse_file(&ca, argv[1]);
	mbedtls_ssl_config_init(&conf);
	mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT,
	                            MBEDTLS_SSL_TRANSPORT_STREAM,
	                            MBEDTLS_SSL_PRESET_DEFAULT);
	mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
	mbedtls_ssl_init(&ssl);
	mbedtls_ssl_setup(&ssl, &conf);
	mbedtls_ssl_set_hostname(&ssl, argv[1]);
	mbedtls_ssl_handshake(&ssl);
	mbedtls_ssl_write(&ssl, (const unsigned char *)"x", 1);
	mbedtls_ssl_read(&ssl, mac, sizeof mac);
	mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA1),
	                (const unsigned char *)"k", 1,
	                (const unsigned char *)"m", 1, mac);
	mdb_env_create(&env);
	mdb_env_open(env, argv[1], 0, 0600);
	mdb_env_copy2(env, argv[1], MDB_CP_COMPACT);
	jsmn_init(&p);
	jsmn_parse(&p, argv[1], 1, tok, 8);
	md_html(argv[1], 1, md_out, stdout, 0, 0);
	return 0;
}
