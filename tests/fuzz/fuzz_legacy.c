/*
 * fuzz_legacy: agent_user_mappings.json on arbitrary bytes. The error
 * locator agrees with the JSON reader (a document json_parse accepts has
 * no error position; one it refuses as malformed has one inside it), and
 * every entry of a file that validates is written back and read again to
 * the same record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ident.h"
#include "core/json.h"
#include "ops/ops_legacy.h"

static void roundtrip(const struct legacy_entry *e)
{
	static char buf[8192];
	struct legacy_file f;
	struct json_w w;
	size_t n;

	json_w_init(&w, buf, sizeof buf);
	json_w_obj(&w);
	legacy_write(&w, &e->a, true);
	json_w_obj_end(&w);
	if (json_w_finish(&w, &n) != 0)
		abort();
	if (legacy_parse(buf, n, &f, NULL, NULL) != 0 || f.n != 1 ||
	    strcmp(f.e[0].a.agent_id, e->a.agent_id) ||
	    strcmp(f.e[0].a.name, e->a.name) ||
	    strcmp(f.e[0].a.user_id, e->a.user_id) ||
	    strcmp(f.e[0].a.room_id, e->a.room_id) ||
	    strcmp(f.e[0].a.password, e->a.password))
		abort();
	legacy_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct legacy_file f;
	struct json j;
	long at = legacy_json_errpos(text, size);
	int line, col, r;

	json_init(&j);
	r = json_parse(&j, text, size);
	json_free(&j);
	if (r == 0 && at >= 0)
		abort();                /* a valid document has no error */
	if (at > (long)size)
		abort();
	if (r == ERR_PROTO && at < 0) {
		/* only a valid scalar root is refused without a position */
		size_t k = strspn(text, " \t\r\n");

		if (k < size && (text[k] == '{' || text[k] == '['))
			abort();
	}
	if (at >= 0) {
		legacy_linecol(text, size, (size_t)at, &line, &col);
		if (line < 1 || col < 1 || (size_t)line > size + 1)
			abort();
	}
	if (legacy_parse(text, size, &f, NULL, NULL) == 0) {
		for (size_t i = 0; i < f.n; i++) {
			if (!ident_agent_id_valid(f.e[i].a.agent_id) ||
			    !ident_matrix_id_valid(f.e[i].a.user_id, '@'))
				abort();
			roundtrip(&f.e[i]);
		}
	}
	legacy_free(&f);
	return 0;
}
