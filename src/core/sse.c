/*
 * sse: the event-stream reader (see sse.h). One pass over the bytes with
 * a small state machine per line; data values are copied straight into
 * the caller's buffer, so an event costs its size once.
 */
#include "core/sse.h"

#include <string.h>

#include "core/err.h"

enum {
	ST_FIELD,     /* reading a field name (or a blank line) */
	ST_SPACE,     /* just after the colon: one space is dropped */
	ST_DATA,      /* the value of a data line */
	ST_EVENT,     /* the value of an event line */
	ST_SKIP,      /* a comment, or a field we ignore */
};

void sse_init(struct sse *s, char *buf, size_t cap, sse_cb cb, void *ctx)
{
	memset(s, 0, sizeof *s);
	s->data = buf;
	s->cap = cap;
	s->cb = cb;
	s->ctx = ctx;
	if (!buf || cap < 2)
		s->err = ERR_INVAL;
	else
		buf[0] = '\0';
}

void sse_set_buf(struct sse *s, char *buf, size_t cap)
{
	if (!buf || cap <= s->len + 1)
		return;                 /* would cut the event: keep the old */
	s->data = buf;
	s->cap = cap;
}

static int append(struct sse *s, const char *p, size_t n)
{
	if (n >= s->cap - s->len)
		return s->err = ERR_TOOBIG;
	memcpy(s->data + s->len, p, n);
	s->len += n;
	return 0;
}

static void reset_event(struct sse *s)
{
	s->len = 0;
	s->name_len = 0;
	s->name_long = false;
	s->have_data = false;
	s->pending_line = false;
}

static int dispatch(struct sse *s)
{
	struct sse_event ev;
	int r = 0;

	if (!s->have_data) {
		reset_event(s);
		return 0;
	}
	s->name[s->name_len] = '\0';
	ev.name = s->name_long ? "?" : s->name_len ? s->name : "message";
	ev.data_len = s->len ? s->len - 1 : 0;   /* the last "\n" goes */
	s->data[ev.data_len] = '\0';
	ev.data = s->data;
	ev.done = ev.data_len == 6 && memcmp(ev.data, "[DONE]", 6) == 0;
	ev.error = !s->name_long && strcmp(s->name, "error") == 0;
	s->seen_done |= ev.done;
	s->seen_error |= ev.error;
	s->events++;
	if (s->cb)
		r = s->cb(s->ctx, &ev);
	reset_event(s);
	if (r)
		s->err = r;
	return r;
}

/* The colon ended the field name: what its value becomes. */
static int field_state(const struct sse *s)
{
	if (s->field_len == 4 && memcmp(s->field, "data", 4) == 0)
		return ST_DATA;
	if (s->field_len == 5 && memcmp(s->field, "event", 5) == 0)
		return ST_EVENT;
	return ST_SKIP;   /* id, retry, anything else */
}

static int end_line(struct sse *s)
{
	int st = s->state;

	s->state = ST_FIELD;
	if (st == ST_FIELD && s->field_len == 0)
		return dispatch(s);              /* blank line */
	if (st == ST_FIELD)                      /* a field without colon */
		st = field_state(s);
	else if (st == ST_SPACE)                 /* "data:" and nothing */
		st = s->value_state;
	s->field_len = 0;
	if (st == ST_DATA) {
		s->have_data = true;
		s->pending_line = true;
		return append(s, "\n", 1);
	}
	if (st == ST_EVENT)
		s->pending_line = true;
	return 0;
}

static void name_byte(struct sse *s, char c)
{
	if (s->name_len < SSE_NAME_MAX)
		s->name[s->name_len++] = c;
	else
		s->name_long = true;
}

/* Handles one byte that is not a line end; returns an err code. */
static int byte(struct sse *s, char c)
{
	switch (s->state) {
	case ST_FIELD:
		if (c == ':') {
			/* an empty field name is a comment line */
			s->value_state = s->field_len ? field_state(s) : ST_SKIP;
			s->state = s->value_state == ST_SKIP ? ST_SKIP : ST_SPACE;
			s->line_mark = s->len;
			return 0;
		}
		if (s->field_len < sizeof s->field)
			s->field[s->field_len++] = c;
		else
			s->field_len = sizeof s->field + 1;  /* unknown */
		return 0;
	case ST_SPACE:
		s->state = s->value_state;
		if (c == ' ')
			return 0;
		return byte(s, c);
	case ST_DATA:
		return append(s, &c, 1);
	case ST_EVENT:
		name_byte(s, c);
		return 0;
	default:
		return 0;
	}
}

int sse_feed(struct sse *s, const char *p, size_t n)
{
	size_t i = 0;
	int r;

	while (i < n && !s->err) {
		char c = p[i];
		if (c == '\n' || c == '\r') {
			bool crlf = c == '\n' && s->after_cr;
			s->after_cr = c == '\r';
			i++;
			if (!crlf && (r = end_line(s)) != 0)
				return r;
			continue;
		}
		s->after_cr = false;
		if (s->state == ST_DATA) {
			/* a run of value bytes at once */
			size_t run = i;
			while (run < n && p[run] != '\n' && p[run] != '\r')
				run++;
			if (append(s, p + i, run - i))
				break;
			i = run;
			continue;
		}
		if ((r = byte(s, c)) != 0)
			return r;
		i++;
	}
	return s->err;
}

int sse_finish(struct sse *s)
{
	int r;

	if (s->err)
		return s->err;
	if (s->state == ST_DATA)
		s->len = s->line_mark;      /* a half line: what it added goes */
	s->state = ST_FIELD;
	s->field_len = 0;
	if (s->pending_line && (r = dispatch(s)) != 0)
		return r;
	reset_event(s);
	if (s->seen_done)
		return 0;
	return s->seen_error ? ERR_PROTO : ERR_CLOSED;
}
