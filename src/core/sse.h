/*
 * sse: an incremental reader of Server-Sent Events (the WHATWG event
 * stream format) for Letta's streaming answers (letta-api.md section 6).
 *
 * Sans-I/O: feed it the response body as it arrives, in pieces of any
 * size (one byte at a time works), and it calls back once per complete
 * event. Lines end in CRLF, LF or CR (a CRLF split across two feeds is one
 * line end). Per the format: "data:" lines are joined with "\n"; "event:"
 * names the event; lines starting with ':' are comments (Letta's
 * keep-alives may be either comments or `ping` events); "id:" and
 * "retry:" are read and ignored, unknown fields too; a single space after
 * the colon is dropped; a blank line ends an event, and an event without
 * data is not dispatched. The data `[DONE]` marks Letta's end of stream.
 * A leading byte-order mark is not stripped (Letta sends none; it would
 * only make the first field unknown).
 *
 * Bounds: the data of one event is kept in the caller's buffer; more than
 * fits is ERR_TOOBIG (sticky), never a cut event. Event names longer than
 * SSE_NAME_MAX are reported as an unknown name ("?").
 *
 * End of body: sse_finish() says whether the stream ended properly.
 * Letta may end a body right after an error event's data line with no
 * blank line (a mid-step failure); sse_finish() dispatches such a last
 * event when its lines are complete, and drops a half line.
 */
#ifndef LETTAMX_SSE_H
#define LETTAMX_SSE_H

#include <stdbool.h>
#include <stddef.h>

#define SSE_NAME_MAX 32

struct sse_event {
	const char *name;     /* "message" when the event had no name */
	const char *data;     /* NUL-terminated, borrowed until the callback returns */
	size_t data_len;
	bool done;            /* data is exactly "[DONE]" */
	bool error;           /* the event is named "error" */
};

/* Called once per event; returning non-zero stops the feed, and
 * sse_feed returns that value (use a negative err code). */
typedef int (*sse_cb)(void *ctx, const struct sse_event *ev);

struct sse {
	char *data;
	size_t cap, len;
	char name[SSE_NAME_MAX + 1];
	size_t name_len;
	bool name_long;
	char field[8];        /* the field name being read (longer: ignored) */
	size_t field_len;
	int state;
	int value_state;      /* what the value after "field: " feeds */
	size_t line_mark;     /* data length when the current line began */
	bool after_cr;        /* the last byte was a CR ending a line */
	bool have_data;       /* a data line was seen for this event */
	bool pending_line;    /* the event has complete lines not dispatched */
	bool seen_done, seen_error;
	unsigned long events;
	int err;              /* sticky */
	sse_cb cb;
	void *ctx;
};

/* Prepares a reader writing event data into buf[0..cap) (cap >= 2; the
 * largest event it can deliver is cap - 1 bytes). */
void sse_init(struct sse *s, char *buf, size_t cap, sse_cb cb, void *ctx);

/* The event buffer moved to buf[0..cap) (realloc'd: it holds what the
 * old one held), cap > the data read so far: a reader may start small
 * and grow before a feed that would not fit. A smaller buf is ignored. */
void sse_set_buf(struct sse *s, char *buf, size_t cap);

/* Feeds body bytes p[0..n). Returns 0, the callback's non-zero value, or
 * the sticky error (ERR_TOOBIG). */
int sse_feed(struct sse *s, const char *p, size_t n);

/* The body ended. Dispatches a last event whose lines are complete but
 * not followed by a blank line. Returns 0 when [DONE] was seen, ERR_PROTO
 * when an error event was seen and no [DONE], ERR_CLOSED when the body
 * ended without either, or the sticky error / callback value. */
int sse_finish(struct sse *s);

#endif
