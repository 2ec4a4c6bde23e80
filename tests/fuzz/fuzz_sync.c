/*
 * fuzz_sync: the /sync and /messages readers and the application
 * service transaction reader on arbitrary bytes, and what
 * the bridge makes of every event they hand out (is it for an agent, the
 * text it would read, its inbox record). Nothing may crash or read past
 * a buffer; every event handed out carries valid ids and UTF-8, and its
 * inbox record decodes to the same question.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge.h"
#include "core/json.h"
#include "core/log.h"
#include "matrix/sync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char text[LIM_BRIDGE_TEXT];
static uint8_t rec[LIM_STORE_QVALUE];

static int on_room(void *arg, const char *room, int limited,
                   const char *prev)
{
	(void)arg;
	(void)limited;
	if (!room[0] || !json_utf8_valid(prev, strlen(prev)))
		abort();
	return 0;
}

static int on_event(void *arg, const struct sync_ev *ev)
{
	static const struct bridge_policy p = { "@bot:ex.org", NULL, "ex.org",
	                                        NULL };
	struct bridge_in m = { 0 }, back;
	const char *why;
	size_t n;
	int len;

	(void)arg;
	if (!sync_event_id_valid(ev->event_id) ||
	    !json_utf8_valid(ev->body, ev->body_len) ||
	    strlen(ev->body) != ev->body_len)
		abort();
	if (!bridge_wanted(&p, ev, 0, &why) && !why)
		abort();
	len = bridge_text(&p, ev, text, sizeof text);
	if (len <= 0)
		return 0;
	memcpy(m.event_id, ev->event_id, sizeof m.event_id);
	memcpy(m.sender, ev->sender, sizeof m.sender);
	m.text = text;
	m.text_len = (size_t)len;
	if (bridge_in_encode(&m, rec, sizeof rec, &n))
		abort();        /* a read event always makes a record */
	if (bridge_in_decode(rec, n, &back) || back.text_len != m.text_len ||
	    memcmp(back.text, text, m.text_len) ||
	    strcmp(back.event_id, m.event_id))
		abort();
	return 0;
}

static int on_invite(void *arg, const char *room, const char *inviter)
{
	(void)arg;
	(void)inviter;
	if (!room[0])
		abort();
	return 0;
}

/* An application service transaction's invite of another user: both
 * ids are whole Matrix ids, the inviter one or "". */
static int on_user_invite(void *arg, const char *room, const char *invitee,
                          const char *inviter, int is_direct)
{
	(void)arg;
	if (!room[0] || invitee[0] != '@' || (inviter[0] && inviter[0] != '@')
	    || (is_direct != 0 && is_direct != 1))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sync_reader *sr;
	struct sync_sink s = { on_room, on_event, on_invite, NULL,
	                       "@bot:ex.org", on_user_invite, NULL, NULL };
	char next[LIM_STORE_META];

	if (!sr) {
		log_set_level(LOG_LEVEL_ERROR);     /* skipped events say so */
		sr = sync_reader_new();
		if (!sr)
			abort();
	}
	sync_parse(sr, (const char *)data, size, &s, next, sizeof next);
	sync_messages_parse(sr, (const char *)data, size, "!r:ex.org", &s,
	                    next, sizeof next);
	sync_txn_parse(sr, (const char *)data, size, &s);
	return 0;
}
