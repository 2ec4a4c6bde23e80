#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deps.h"
#include "core/err.h"
#include "harness.h"
#include "core/version.h"

/* The headers compiled in must be the pinned ones: a mismatch means the
 * build picked up some other copy of a dependency. */
static void test_reported_versions_match_pins(void)
{
	CHECK_STR(version_dep_reported("mbedtls"), LETTAMX_DEP_MBEDTLS_UPSTREAM);
	CHECK_STR(version_dep_reported("lmdb"), LETTAMX_DEP_LMDB_UPSTREAM);
	CHECK_STR(version_dep_reported("jsmn"), LETTAMX_DEP_JSMN_UPSTREAM);
	CHECK_STR(version_dep_reported("md4c"), LETTAMX_DEP_MD4C_UPSTREAM);
	CHECK(version_dep_reported("openssl") == NULL);
}

static void test_version_print_names_every_dependency(void)
{
	char buf[1024] = {0};
	FILE *f = fmemopen(buf, sizeof buf - 1, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	version_print(f);
	fclose(f);
	CHECK(strstr(buf, "lettamx " LETTAMX_VERSION) == buf);
	CHECK(strstr(buf, "mbedTLS 3.6.") != NULL);
	CHECK(strstr(buf, "LMDB 0.9.31") != NULL);
	CHECK(strstr(buf, "jsmn 1.1.0") != NULL);
	CHECK(strstr(buf, "md4c ") != NULL);
}

static void test_err_str_covers_every_code(void)
{
	for (int c = 0; c > ERR__LAST; c--) {
		const char *s = err_str(c);
		CHECK(s != NULL && *s != '\0' && strcmp(s, "unknown error") != 0);
	}
	CHECK_STR(err_str(1), "unknown error");
	CHECK_STR(err_str(ERR__LAST), "unknown error");
	CHECK_STR(err_str(-1000), "unknown error");
}

int main(void)
{
	RUN(test_reported_versions_match_pins);
	RUN(test_version_print_names_every_dependency);
	RUN(test_err_str_covers_every_code);
	return harness_done("version");
}
