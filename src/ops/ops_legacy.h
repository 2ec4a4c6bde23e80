/*
 * ops_legacy: the Python bridge's agent_user_mappings.json, sans-I/O.
 *
 * The file is one object keyed by agent id (json.dump(indent=2) of a
 * dict of dataclasses):
 *
 *   { "agent-<uuid>": { "agent_id": "agent-<uuid>", "agent_name": "...",
 *       "matrix_user_id": "@...:server", "matrix_password": "...",
 *       "created": true, "room_id": "!...:server" or null,
 *       "room_created": true, "invitation_status": {"@u:s": "joined"}
 *       or null }, ... }
 *
 * legacy_parse() validates the whole file before anything is used: JSON
 * errors with line and column, every entry's fields and ids, rooms and
 * users claimed twice (named). Unknown fields are warnings, not errors.
 */
#ifndef LETTAMX_OPS_LEGACY_H
#define LETTAMX_OPS_LEGACY_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

struct json_w;

struct legacy_entry {
	struct store_agent a;   /* agent_id, name, user_id, room_id,
	                         * password, flags (ROOM_CREATED) */
	bool has_password;
	bool created;           /* "created": the user was made */
};

struct legacy_file {
	struct legacy_entry *e; /* heap, in file order */
	size_t n;
	int errors, warnings;
};

/* Called once per finding: fatal (the file is refused) or a warning. */
typedef void (*legacy_report_fn)(void *arg, bool fatal, const char *msg);

/* Parses and validates text[0..len) into *f (free with legacy_free).
 * Returns 0 (f->errors == 0), ERR_PROTO (a JSON error or invalid
 * entries: each was reported), ERR_NOMEM. */
int legacy_parse(const char *text, size_t len, struct legacy_file *f,
                 legacy_report_fn report, void *arg);

void legacy_free(struct legacy_file *f);

/* The offset of the first JSON syntax error in text[0..len) (len for a
 * truncated document), or -1 when the grammar is fine. */
long legacy_json_errpos(const char *text, size_t len);

/* 1-based line and column (in characters) of byte offset off. */
void legacy_linecol(const char *text, size_t len, size_t off, int *line,
                    int *col);

/* Compares entry e of the file with record s of the store (s NULL: not
 * in the store); reports each difference (a warning). Returns how many. */
int legacy_diff(const struct legacy_entry *e, const struct store_agent *s,
                legacy_report_fn report, void *arg);

/* Writes record a as one member "agent_id": {...} of the file's object
 * (the password only when with_secrets). */
void legacy_write(struct json_w *w, const struct store_agent *a,
                  bool with_secrets);

#endif
