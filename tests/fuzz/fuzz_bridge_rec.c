/*
 * fuzz_bridge_rec: the inbox and outbox record decoders on arbitrary
 * bytes (a damaged store must be refused, never read past). A record that
 * decodes encodes again to the very same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t buf[LIM_STORE_QVALUE + 64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bridge_in in;
	struct bridge_out out;
	size_t n;

	if (bridge_in_decode(data, size, &in) == 0) {
		if (bridge_in_encode(&in, buf, sizeof buf, &n) || n != size ||
		    memcmp(buf, data, n))
			abort();
	}
	if (bridge_out_decode(data, size, &out) == 0) {
		if (bridge_out_encode(&out, buf, sizeof buf, &n) || n != size ||
		    memcmp(buf, data, n))
			abort();
	}
	return 0;
}
