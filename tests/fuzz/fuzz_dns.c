/*
 * fuzz_dns: the DNS answer parser on arbitrary bytes.
 *
 * The expected id is taken from the input itself, so the fuzzer gets past
 * the id check and into the question, records, compression and CNAME
 * code; each input is asked as A and AAAA for two names (the seeds use
 * both). Besides memory errors (ASan) and UB (UBSan) it checks the
 * parser's promises: at most DNS_ADDRS_MAX addresses, all of the asked
 * family, none on failure.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "core/err.h"
#include "net/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size, const char *name,
                  int qtype)
{
	struct dns_answer a;
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	int rc = dns_parse_answer(data, size, id, name, qtype, &a);
	int fam = qtype == DNS_TYPE_A ? AF_INET : AF_INET6;

	if (rc != 0 && a.naddrs != 0)
		abort();
	if (rc != 0 && rc != ERR_PROTO && rc != ERR_DNS && rc != ERR_REFUSED &&
	    rc != ERR_TOOBIG)
		abort();
	if (a.naddrs > DNS_ADDRS_MAX)
		abort();
	for (size_t i = 0; i < a.naddrs; i++)
		if (a.addrs[i].family != fam)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size, "example.com", DNS_TYPE_A);
	check(data, size, "example.com", DNS_TYPE_AAAA);
	check(data, size, "www.example.com", DNS_TYPE_A);
	check(data, size, "www.example.com", DNS_TYPE_AAAA);
	return 0;
}
