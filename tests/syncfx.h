/*
 * syncfx: a /sync message event as the sync reader hands it over, for the
 * bridge's unit tests: a person's message in !r:ex.org.
 */
#ifndef LETTAMX_TEST_SYNCFX_H
#define LETTAMX_TEST_SYNCFX_H

#include <stdio.h>
#include <string.h>

#include "matrix/sync.h"

static char syncfx_body[LIM_SYNC_BODY];

/* Event $e1 from @alice:ex.org, msgtype mt, body (copied; the last
 * event made owns the buffer). */
static inline struct sync_ev syncfx_msg(const char *mt, const char *body)
{
	struct sync_ev e;

	memset(&e, 0, sizeof e);
	e.room_id = "!r:ex.org";
	snprintf(e.event_id, sizeof e.event_id, "$e1");
	snprintf(e.sender, sizeof e.sender, "@alice:ex.org");
	snprintf(e.type, sizeof e.type, "m.room.message");
	snprintf(e.msgtype, sizeof e.msgtype, "%s", mt);
	snprintf(syncfx_body, sizeof syncfx_body, "%s", body);
	e.body = syncfx_body;
	e.body_len = strlen(body);
	e.has_body = 1;
	e.size = -1;
	return e;
}

#endif
