/*
 * letta_rest_stream: a send on the REST API's streaming route
 * (letta-api.md §6), read as it comes: Server-Sent Events, each one
 * Letta message or a ping, told to the owner as the answer grows
 * (struct lapi_events). The reader's buffers start small and grow only
 * for an event that needs it, so a thousand quiet streams hold little.
 */
#include "letta/letta_rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

#define SSE_EVENT_MAX  (128u << 10)  /* one event's data (pages touched
                                      * only as far as used; a bigger
                                      * message is read from the history) */
#define STREAM_IDLE_MS 65000         /* three missed 20 s pings */
#define BUF_FIRST      512           /* the event buffer starts so (a
                                      * ping is ~200 bytes) and grows */
#define STRS_STACK     1024          /* an event's strings, on the stack
                                      * unless they need more */

/* buf grows (to at most SSE_EVENT_MAX) to hold want bytes. Returns 1
 * when it does. */
static int grow(char **buf, size_t *cap, size_t want)
{
	size_t n = *cap ? *cap : BUF_FIRST;
	char *nb;

	if (want <= *cap || *cap >= SSE_EVENT_MAX)
		return 0;
	while (n < want && n < SSE_EVENT_MAX)
		n *= 2;
	if (n > SSE_EVENT_MAX)
		n = SSE_EVENT_MAX;
	if (!(nb = realloc(*buf, n)))
		return 0;
	*buf = nb;
	*cap = n;
	return 1;
}

/* Reads one event into m (strings in a stack buffer, or in c->strs when
 * they need more). Returns 0 or an err code. */
static int parse(struct rcall *c, const struct sse_event *ev,
                 struct letta_stream_msg *m, char *small, size_t cap)
{
	int e = letta_stream_parse(m, &c->j, ev->name, ev->data, ev->data_len,
	                           small, cap);

	if (e == ERR_TOOBIG && (ev->data_len < c->strs_cap ||
	                        grow(&c->strs, &c->strs_cap,
	                             ev->data_len + 1)))
		e = letta_stream_parse(m, &c->j, ev->name, ev->data,
		                       ev->data_len, c->strs, c->strs_cap);
	/* the tokens go with the event: a quiet stream holds none */
	json_free(&c->j);
	if (!e && m->kind != LETTA_SK_PING && m->kind != LETTA_SK_OTHER &&
	    !rest_call_rep(c))
		e = ERR_NOMEM;
	return e;
}

static void news(struct rcall *c, const struct letta_stream_msg *m)
{
	struct letta_reply *rep = c->rep;

	switch (m->kind) {
	case LETTA_SK_ASSISTANT:
		letta_reply_add(rep, m->text, m->text_len);
		c->ev->text(c->arg, rep);
		break;
	case LETTA_SK_TOOL_CALL:
		c->ev->tool(c->arg, m->tool.name);
		break;
	case LETTA_SK_TOOL_RETURN:
		c->ev->tool(c->arg, "");
		break;
	case LETTA_SK_APPROVAL:
		letta_reply_approval(rep, m->tool.name, m->tool.call_id,
		                     m->tool.arguments, m->tool.arguments_len);
		break;
	case LETTA_SK_STOP:
		/* the names are short; a longer one is unknown anyway */
		snprintf(rep->stop, sizeof rep->stop, "%.63s", m->stop_str);
		break;
	case LETTA_SK_ERROR:
		LOG_WARN("letta", "event=stream_error type=%s detail=\"%.120s\"",
		         m->error_type, m->text);
		if (!rep->stop[0])
			snprintf(rep->stop, sizeof rep->stop, "error");
		break;
	default:
		break;
	}
}

static int on_event(void *ctx, const struct sse_event *ev)
{
	struct rcall *c = ctx;
	struct letta_stream_msg m;
	char small[STRS_STACK];
	int e = parse(c, ev, &m, small, sizeof small);

	if (e) {
		c->bad = 1;
		c->ev->bad(c->arg, e);
		return 0;
	}
	if (m.run_id[0] && !c->run_id[0]) {
		snprintf(c->run_id, sizeof c->run_id, "%s", m.run_id);
		c->ev->run(c->arg, c->run_id);
	}
	news(c, &m);
	return 0;
}

static int on_body(void *arg, const char *data, size_t len)
{
	struct rcall *c = arg;
	size_t k;

	if (!c->reading || c->ev->stop(c->arg)) {
		c->reading = 0;
		return ERR_CLOSED;
	}
	k = REST_RAW_KEEP - 1 - c->raw_len;
	if (k > len)
		k = len;
	memcpy(c->raw + c->raw_len, data, k);
	c->raw_len += k;
	c->raw[c->raw_len] = '\0';
	/* room for what this piece may add to the event being read */
	if (c->sse.len + len + 1 > c->sse.cap) {
		size_t cap = c->sse.cap;

		if (grow(&c->buf, &cap, c->sse.len + len + 1))
			sse_set_buf(&c->sse, c->buf, cap);
	}
	return sse_feed(&c->sse, data, len);
}

/* The stream is over: the answer as it came, or a break (never a second
 * send of a turn that may be running: the owner looks first). */
static void on_done(void *arg, int st, const char *body, size_t len, int err)
{
	struct rcall *c = arg;
	struct lapi_res res = { .status = st, .err = err };
	int e = c->reading ? sse_finish(&c->sse) : ERR_CLOSED;

	(void)body;
	(void)len;
	if (st == 200 && !e && !c->bad && rest_call_rep(c)) {
		res.rep = c->rep;
	} else if (st == 200 && e == ERR_PROTO && !c->bad && rest_call_rep(c)) {
		/* an error event ends a stream as Letta ends it: what the
		 * agent said and the stop reason are the turn's outcome */
		res.rep = c->rep;
	} else if (st == 200 || st == 0) {
		/* the turn may still run on the server */
		res.outcome = LAPI_BROKEN;
		res.ambiguous = 1;
	} else {
		res.outcome = LAPI_FAILED;
		rest_send_failed(&res, st, c->raw, c->raw_len, err);
	}
	rest_call_end(c, &res);
}

void *rest_stream_start(struct rcall *c, void *owner, const char *path,
                        char *body, size_t len, const struct lapi_ask *q,
                        const struct lapi_events *ev)
{
	if (!(c->buf = malloc(BUF_FIRST))) {
		free(body);
		rest_call_free(c);
		return NULL;
	}
	c->ev = ev;
	json_init(&c->j);
	sse_init(&c->sse, c->buf, BUF_FIRST, on_event, c);
	c->reading = 1;
	return rest_call_start(c, owner, "POST", path, body, len,
	                       (int)q->timeout_ms, STREAM_IDLE_MS, on_body,
	                       on_done);
}

void rest_stream_reset(struct rcall *c)
{
	if (c->buf)
		json_free(&c->j);
	free(c->buf);
	free(c->strs);
	c->buf = c->strs = NULL;
	c->strs_cap = 0;
	c->reading = 0;
}
