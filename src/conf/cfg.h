/*
 * cfg: the configuration (/etc/lettamx.conf by default, -c FILE).
 *
 *   # comment
 *   [matrix]
 *   homeserver_url = https://matrix.example.org
 *   bot_password_file = /etc/lettamx/bot.password
 *
 * Every key can also come from the environment as LETTAMX_<SECTION>_<KEY>
 * (upper case), which wins over the file. Secrets are never values: keys
 * ending in _file name a file holding the secret (mode 0600 or stricter),
 * so no secret sits in the config or in the process list; cfg_secret()
 * reads one and registers it with the log's redaction.
 *
 * The keys are one table in cfg.c (section, key, type, default, range,
 * flags, help): a later module adds its keys there and nowhere else.
 * Loading stops at the first problem with one message naming the file
 * and line (or the environment variable) and the key; the front end
 * prints it and exits 2.
 */
#ifndef LETTAMX_CFG_H
#define LETTAMX_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/limits.h"

#define CFG_DEFAULT_PATH "/etc/lettamx.conf"

enum cfg_src { CFG_SRC_UNSET = 0, CFG_SRC_DEFAULT, CFG_SRC_FILE,
               CFG_SRC_ENV };

struct cfg_val {
	char text[LIM_CFG_VALUE];
	enum cfg_src src;
	int line;                   /* file line, for CFG_SRC_FILE */
	int64_t num;                /* int, bool (0/1), duration (ms) */
};

struct cfg {
	char path[LIM_STORE_PATH];
	struct cfg_val val[LIM_CFG_KEYS];   /* indexed like the table */
};

/* Loads defaults, then the file at `path` (NULL: CFG_DEFAULT_PATH), then
 * the environment `envp` (NULL-terminated "NAME=value" strings; NULL for
 * the process's own environment), and validates everything. Returns 0, or ERR_CONFIG with one
 * message in err naming file:line or variable, and key. */
int cfg_load(struct cfg *c, const char *path, char *const *envp,
             char *err, size_t errlen);

/* The value of section.key as text, or NULL when it has no value (or the
 * key does not exist). Owned by c. */
const char *cfg_get(const struct cfg *c, const char *section,
                    const char *key);

/* Numeric value of an int, bool (0/1) or duration (milliseconds) key;
 * 0 when unset. */
int64_t cfg_num(const struct cfg *c, const char *section, const char *key);

/* Item i (from 0) of a comma-separated list value, trimmed, into
 * out[0..cap). Returns 0, ERR_NOTFOUND (no such item), ERR_TOOBIG. */
int cfg_list_item(const char *list, int i, char *out, size_t cap);

/* Reads the secret in the file named by key (a *_file key) into
 * out[0..cap), without a trailing newline, and registers it with the
 * log's redaction. Returns 0, ERR_NOTFOUND (the key is unset), or
 * ERR_CONFIG with the reason in err. */
int cfg_secret(const struct cfg *c, const char *section, const char *key,
               char *out, size_t cap, char *err, size_t errlen);

/* Reads a secret file named by path: a regular file not readable by
 * group or others, one line of 1 to cap-2 bytes (a trailing newline is
 * dropped), into out[0..cap) with a NUL. Not registered with the log.
 * Returns 0 or ERR_CONFIG with the reason in err. */
int cfg_read_secret(const char *path, char *out, size_t cap, char *err,
                    size_t errlen);

/* Applies [log] level and target to the log. Returns 0, or ERR_IO when
 * syslog cannot be reached (events then go to stderr; worth a warning). */
int cfg_apply_log(const struct cfg *c);

/* Writes the effective configuration, each value with where it came from
 * (default, file:line, env); secret files are named, never read out. */
void cfg_print(const struct cfg *c, FILE *out);

/* `lettamx config check [-c FILE]`: validates and prints. Returns the
 * exit status (0 valid, 2 invalid or bad usage). */
int cfg_cmd(int argc, char **argv);

#endif
