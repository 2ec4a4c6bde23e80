/*
 * fuzz_store_rec: the agent record decoder on arbitrary bytes (a damaged
 * store file must be refused, never read past or crashed on). A record
 * that decodes must encode and decode again to the same agent, in clear
 * and sealed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const struct store_agent *a, const uint8_t *key)
{
	static unsigned char buf[STORE_REC_MAX];
	struct store_agent b;
	unsigned ver;
	bool sealed;
	int n = store_rec_encode(a, key, buf, sizeof buf);

	if (n < 0)
		abort();            /* a decoded record always fits */
	if (store_rec_decode(buf, (size_t)n, key, &b, &ver, &sealed) != 0 ||
	    sealed != (key != NULL) || memcmp(a, &b, sizeof b))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = { 1, 2, 3 };
	struct store_agent a;
	unsigned ver;
	bool sealed;

	if (store_rec_decode(data, size, NULL, &a, &ver, &sealed) == 0) {
		round_trip(&a, NULL);
		round_trip(&a, key);
	}
	if (store_rec_decode(data, size, key, &a, &ver, &sealed) == 0)
		round_trip(&a, NULL);
	return 0;
}
