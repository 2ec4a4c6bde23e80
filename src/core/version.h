/*
 * version: what this binary is and what it was built from.
 */
#ifndef LETTAMX_VERSION_H
#define LETTAMX_VERSION_H

#include <stdio.h>

/* Writes lettamx's version, board and the version of each dependency
 * compiled in (as its own headers or library report it, with the pinned
 * Debian source package version) to `out`, one per line. */
void version_print(FILE *out);

/* The upstream version string each dependency reports about itself, read
 * from its headers or library at build/run time (not from the manifest).
 * `name` is one of "mbedtls", "lmdb", "jsmn", "md4c"; NULL if unknown. */
const char *version_dep_reported(const char *name);

#endif
