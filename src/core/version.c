#include "core/version.h"

#include <string.h>

#include <lmdb.h>
#include <mbedtls/build_info.h>

#include "deps.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * jsmn and md4c carry no version macro, so for them the manifest pin is
 * all there is; fetch.sh checked the tarball against it before the build.
 */
const char *version_dep_reported(const char *name)
{
	if (!strcmp(name, "mbedtls"))
		return MBEDTLS_VERSION_STRING;
	if (!strcmp(name, "lmdb"))
		return STR(MDB_VERSION_MAJOR) "." STR(MDB_VERSION_MINOR) "."
		       STR(MDB_VERSION_PATCH);
	if (!strcmp(name, "jsmn"))
		return LETTAMX_DEP_JSMN_UPSTREAM;
	if (!strcmp(name, "md4c"))
		return LETTAMX_DEP_MD4C_UPSTREAM;
	return NULL;
}

void version_print(FILE *out)
{
	fprintf(out, "lettamx %s (%s)\n", LETTAMX_VERSION, LETTAMX_BOARD);
	fprintf(out, "  mbedTLS %s (Debian source %s)\n",
	        version_dep_reported("mbedtls"), LETTAMX_DEP_MBEDTLS_DEBIAN);
	fprintf(out, "  LMDB %s (Debian source %s)\n",
	        version_dep_reported("lmdb"), LETTAMX_DEP_LMDB_DEBIAN);
	fprintf(out, "  jsmn %s (Debian source %s)\n",
	        version_dep_reported("jsmn"), LETTAMX_DEP_JSMN_DEBIAN);
	fprintf(out, "  md4c %s (Debian source %s)\n",
	        version_dep_reported("md4c"), LETTAMX_DEP_MD4C_DEBIAN);
}
