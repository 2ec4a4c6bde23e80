/*
 * bridge_conv: step 5, the answer as a person sees it (bridge_int.h has the
 * map). An agent's Markdown is kept as the plain body and rendered to
 * Matrix HTML when the event is built (md.h: the same part always renders
 * the same way, so the outbox stores the text only); an answer longer than
 * one event is cut into parts when it enters the outbox, each part its own
 * entry (its own transaction id, in order); a question asked in a thread is
 * answered in that thread, one in the main timeline plainly or as a rich
 * reply.
 */
#include "bridge/bridge_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/md.h"

#define MX_K_REPLY_TO "org.lettamx.reply_to"
#define MX_K_TXN      "org.lettamx.txn"
#define MX_K_CONV     "org.lettamx.conversation"


static int push_one(struct store_txn *t, const char *room,
                    const struct bridge_out *o, uint8_t *buf)
{
	size_t n;
	int e = bridge_out_encode(o, buf, LIM_STORE_QVALUE, &n);

	return e ? e : store_q_push(t, STORE_Q_OUTBOX, room, buf, n, NULL);
}

/* Buffers of one split, all on the heap for the length of a push. */
/* The parts' buffers: the source is the answer's own (its size), the
 * rest the bridge's scratch. */
struct parts {
	char *src, *body, *html;
	void *work;
};

static void parts_free(struct parts *p)
{
	free(p->src);
}

int bridge_conv_push(struct store_txn *t, struct bridge *b, const char *room,
                     const struct bridge_out *o, uint8_t *buf)
{
	struct bridge_out part = *o;
	struct md_split sp;
	struct parts p = { 0 };
	size_t limit = (size_t)b->split_bytes, n, blen;
	int r = 0, e = 0, parts = 0;

	if (o->kind != BRIDGE_OUT_TEXT || (o->flags & BRIDGE_OUT_F_LIVE))
		return push_one(t, room, o, buf);
	if (limit < 4096 || limit > LIM_BRIDGE_EVENT)
		limit = LIM_BRIDGE_EVENT;
	/* The final edit of a live message carries its text twice (the
	 * fallback and m.new_content): its parts get half the room. */
	if (o->flags & BRIDGE_OUT_F_FINAL)
		limit /= 2;
	p.src = malloc(o->body_len * 3 + 1);
	p.body = b->md_body;
	p.html = b->md_html;
	p.work = b->md_work;
	if (!p.src) {
		parts_free(&p);
		return ERR_NOMEM;
	}
	e = md_body(o->body, o->body_len, p.src, o->body_len * 3 + 1, &n);
	if (!e) {
		md_split_init(&sp, p.src, n, limit, p.work, BRIDGE_SPLIT_WORK);
		while ((r = md_split_next(&sp, p.body, limit, &blen, p.html, limit,
		                          NULL, NULL)) > 0) {
			part.body = p.body;
			part.body_len = blen;
			if ((e = push_one(t, room, &part, buf)))
				break;
			parts++;
			part.flags = 0;     /* the rest are new messages */
		}
	}
	parts_free(&p);
	if (e == ERR_NOMEM || (!e && r >= 0 && parts))
		return e;
	if (!e && r >= 0)
		return push_one(t, room, o, buf);   /* only blank lines */
	/* A piece that cannot be cut or stored: the parts before it stay
	 * and the person is told, rather than the turn being stored again
	 * and again. */
	part = *o;
	part.kind = BRIDGE_OUT_NOTICE;
	part.body = "The rest of the answer could not be prepared as Matrix "
	            "messages.";
	part.body_len = strlen(part.body);
	return push_one(t, room, &part, buf);
}

/* m.relates_to: the thread (with the reply fallback the spec asks for:
 * is_falling_back and m.in_reply_to the question), or a rich reply. */
static void write_rel(struct json_w *w, const struct bridge_out *o)
{
	if (!o->thread[0] && !o->reply)
		return;
	json_w_key(w, "m.relates_to");
	json_w_obj(w);
	if (o->thread[0]) {
		json_w_kstr(w, "rel_type", "m.thread");
		json_w_kstr(w, "event_id", o->thread);
		json_w_kbool(w, "is_falling_back", true);
	}
	json_w_key(w, "m.in_reply_to");
	json_w_obj(w);
	json_w_kstr(w, "event_id", o->reply_to);
	json_w_obj_end(w);
	json_w_obj_end(w);
}

/* The HTML of an answer's text, or NULL when it adds nothing (one plain
 * paragraph), cannot be made, or the answer is a notice. */
static char *render(const struct bridge_out *o, size_t *hlen)
{
	size_t cap = o->body_len * 8 + 4096;
	char *h;
	bool rich = false;

	if (o->kind != BRIDGE_OUT_TEXT || !(h = malloc(cap)))
		return NULL;
	if (md_render(o->body, o->body_len, h, cap, hlen, &rich) || !rich) {
		free(h);
		return NULL;
	}
	return h;
}

/* msgtype, body and the HTML; `star` marks an edit's fallback ("* "
 * in front, as clients without edits show it). */
static void write_content(struct json_w *w, const struct bridge_out *o,
                          const char *html, size_t hlen, int star)
{
	json_w_kstr(w, "msgtype", o->kind == BRIDGE_OUT_TEXT ? "m.text"
	                                                   : "m.notice");
	json_w_key(w, "body");
	json_w_strn2(w, star ? "* " : "", star ? 2 : 0, o->body, o->body_len);
	if (html) {
		json_w_kstr(w, "format", "org.matrix.custom.html");
		json_w_key(w, "formatted_body");
		json_w_strn2(w, star ? "* " : "", star ? 2 : 0, html, hlen);
	}
}

char *bridge_conv_event(const struct bridge_out *o, const char *txn,
                        size_t *n)
{
	size_t hlen = 0, cap;
	char *html = render(o, &hlen), *b;
	int edit = o->replaces && *o->replaces;
	struct json_w w;

	cap = (o->body_len + hlen) * (edit ? 12 : 6) + 2048;
	if (!(b = malloc(cap))) {
		free(html);
		return NULL;
	}
	json_w_init(&w, b, cap);
	json_w_obj(&w);
	write_content(&w, o, html, hlen, edit);
	if (edit) {
		/* an edit (m.replace): the new content whole; the thread or
		 * reply relation stays the original event's */
		json_w_key(&w, "m.new_content");
		json_w_obj(&w);
		write_content(&w, o, html, hlen, 0);
		json_w_obj_end(&w);
		json_w_key(&w, "m.relates_to");
		json_w_obj(&w);
		json_w_kstr(&w, "rel_type", "m.replace");
		json_w_kstr(&w, "event_id", o->replaces);
		json_w_obj_end(&w);
	} else {
		write_rel(&w, o);
	}
	if (o->reply_to[0])     /* a notice about the room names none */
		json_w_kstr(&w, MX_K_REPLY_TO, o->reply_to);
	json_w_kstr(&w, MX_K_TXN, txn);
	/* the thread's conversation, in the room for reconcile and for
	 * whoever reads the room after a lost store */
	if (o->conv && o->conv[0])
		json_w_kstr(&w, MX_K_CONV, o->conv);
	json_w_obj_end(&w);
	free(html);
	if (json_w_finish(&w, n)) {
		free(b);
		return NULL;
	}
	return b;
}
