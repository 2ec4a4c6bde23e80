/*
 * fuzz_letta_app: App Server messages (letta_app_frame_parse) and the
 * history reader (letta_app_hist_find) on arbitrary bytes.
 *
 * The input is one server message. The parser must return 0 or one of
 * its errors (and leave an empty frame after an error). After 0 every
 * id field must be a NUL-terminated run of printable ASCII inside its
 * array, every text valid UTF-8 of the length it says, the tool input a
 * slice of the message within its cap, every token of the type it names;
 * an agent list is read with letta_agent_parse. A history page (a
 * conversation_messages_list_response, or an input that is a bare JSON
 * array) is read for the otid of each of its first user messages and
 * for one that is absent: the answer must be a LETTA_APP_TURN_* and the
 * reply valid UTF-8 within its cap. A broken rule aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "letta/letta.h"
#include "letta/letta_app.h"
#include "letta/letta_msg.h"

static struct json j, page;
static struct letta_app_frame f;
static struct letta_reply rep;

#define FIELD_ID(a) check_id((a), sizeof (a))
#define FIELD_TEXT(a) check_text((a), sizeof (a))

static void check_id(const char *s, size_t cap)
{
	const char *end = memchr(s, '\0', cap);

	if (!end)
		abort();
	for (; s < end; s++)
		if (*s <= ' ' || *s > '~')
			abort();
}

static void check_text(const char *s, size_t cap)
{
	const char *end = memchr(s, '\0', cap);

	if (!end || !json_utf8_valid(s, (size_t)(end - s)))
		abort();
}

static void check_tok(const struct json *d, int t, enum json_type type)
{
	if (t != -1 && json_type(d, t) != type)
		abort();
}

static void check_frame(const uint8_t *data, size_t size)
{
	FIELD_ID(f.request_id);
	FIELD_ID(f.agent_id);
	FIELD_ID(f.conversation_id);
	FIELD_ID(f.delta_id);
	FIELD_ID(f.run_id);
	FIELD_ID(f.stop);
	FIELD_ID(f.turn_id);
	FIELD_ID(f.call_id);
	FIELD_ID(f.status);
	FIELD_ID(f.next_before);
	FIELD_TEXT(f.error);
	FIELD_TEXT(f.version);
	FIELD_TEXT(f.tool);
	if (f.agent_id[0] && !ident_agent_id_valid(f.agent_id))
		abort();
	if (f.text_len >= sizeof f.text || f.text[f.text_len] ||
	    strlen(f.text) != f.text_len ||
	    !json_utf8_valid(f.text, f.text_len))
		abort();
	if (f.input_len > LIM_LETTA_APP_INPUT ||
	    !json_utf8_valid(f.input, f.input_len))
		abort();
	if (f.input_len && ((const uint8_t *)f.input < data ||
	                    (const uint8_t *)f.input + f.input_len >
	                    data + size))
		abort();
	check_tok(&j, f.agents, JSON_ARR);
	check_tok(&j, f.messages, JSON_ARR);
	check_tok(&j, f.cmids_by_run, JSON_OBJ);
}

static void check_reply(int r)
{
	if (r < LETTA_APP_TURN_ABSENT || r > LETTA_APP_TURN_COMPLETE)
		abort();
	if (rep.len > LIM_BRIDGE_ANSWER || rep.text[rep.len] ||
	    strlen(rep.text) != rep.len ||
	    !json_utf8_valid(rep.text, rep.len))
		abort();
	if (rep.args_len >= sizeof rep.args ||
	    !json_utf8_valid(rep.args, rep.args_len))
		abort();
	FIELD_TEXT(rep.tool);
	FIELD_ID(rep.call_id);
	FIELD_ID(rep.stop);
	if ((r == LETTA_APP_TURN_WAITING) != (rep.approval != 0))
		abort();
}

/* The history reader for the otids of the first user messages of
 * array a, and for one that is absent. */
static void history(const struct json *d, int a)
{
	char otid[256];
	int k = 0, b;

	check_reply(letta_app_hist_find(d, a, "cm-absent", &rep, &b));
	for (int m = json_arr_first(d, a); m >= 0 && k < 8;
	     m = json_arr_next(d, a, m), k++) {
		if (json_get_str(d, m, "otid", otid, sizeof otid))
			continue;
		check_reply(letta_app_hist_find(d, a, otid, &rep, &b));
		if (b < 0 || b >= json_count(d, a))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct letta_agent ag;
	int r = letta_app_frame_parse(&j, s, size, &f);

	if (r) {
		if (r != ERR_PROTO && r != ERR_UTF8 && r != ERR_TOOBIG &&
		    r != ERR_NOMEM)
			abort();
		if (f.type != LETTA_APP_F_OTHER || f.request_id[0])
			abort();
	} else {
		check_frame(data, size);
		for (int a = json_arr_first(&j, f.agents); a >= 0;
		     a = json_arr_next(&j, f.agents, a))
			(void)letta_agent_parse(&j, a, &ag);
		if (f.messages >= 0)
			history(&j, f.messages);
	}
	if (json_parse(&page, s, size) == 0 && json_type(&page, 0) == JSON_ARR)
		history(&page, 0);
	return 0;
}
