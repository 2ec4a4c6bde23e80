/*
 * cfg_int: the schema table and helpers shared by cfg.c and cfg_cmd.c.
 */
#ifndef LETTAMX_CFG_INT_H
#define LETTAMX_CFG_INT_H

#include "conf/cfg.h"

enum cfg_type {
	CFG_STR,        /* any text */
	CFG_INT,        /* decimal integer in [min, max] */
	CFG_BOOL,       /* true/false, yes/no, on/off, 1/0 */
	CFG_DURATION,   /* 90, 90s, 15m, 2h, 1d, 500ms: ms in [min, max] */
	CFG_SIZE,       /* 5000000, 5MB, 512KB, 32MiB, 64KiB: bytes in
	                 * [min, max] (KB, MB: 1000s; KiB, MiB: 1024s) */
	CFG_PATH,       /* an absolute path */
	CFG_URL,        /* an http:// or https:// URL */
	CFG_URL_WS,     /* the same, or a ws:// or wss:// URL */
	CFG_ENUM,       /* one of `choices` ("a|b|c") */
	CFG_LIST,       /* comma-separated words */
	CFG_USER,       /* a Matrix localpart or @local:server */
	CFG_USERS,      /* comma-separated @local:server */
};

#define CFG_REQUIRED 0x1u   /* no default: must be set */
#define CFG_SECRET   0x2u   /* names a secret file (0600, read by cfg_secret) */
#define CFG_CREATED  0x4u   /* ...which may not exist yet (made at start) */

struct cfg_key {
	const char *section, *key;
	enum cfg_type type;
	const char *def;        /* default, as text; NULL: none */
	int64_t min, max;       /* for CFG_INT, _DURATION (ms), _SIZE */
	const char *choices;    /* for CFG_ENUM */
	unsigned flags;
	const char *help;
};

extern const struct cfg_key cfg_keys[];
extern const int cfg_nkeys;

/* Index of section.key in cfg_keys, or -1. */
int cfg_find(const char *section, size_t slen, const char *key, size_t klen);

/* LETTAMX_<SECTION>_<KEY> of entry i. */
void cfg_env_name(int i, char *out, size_t cap);

/* "FILE:LINE", "environment NAME" or "default" for value i. */
void cfg_origin(const struct cfg *c, int i, char *out, size_t cap);

/* Makes message s one line of text in place: a control character or a
 * byte that starts no UTF-8 character becomes '?', a character cut at
 * the end (by the buffer's size) is dropped. */
void cfg_msg_clean(char *s);

/* Checks every value against its type and the cross-key rules; fills the
 * numeric values. Returns 0 or ERR_CONFIG with the message in err. */
int cfg_validate(struct cfg *c, char *err, size_t errlen);

#endif
