/*
 * bridge_msg: step 2, the inbox (bridge_int.h has the map): what reaches an
 * agent, what it reads, and the inbox and outbox records that carry a
 * message between the steps. No I/O.
 */
#include "bridge/bridge.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/md.h>

#include "core/err.h"
#include "core/ident.h"
#include "core/json.h"
#include "matrix/mx_media.h"

/* ---- who may speak ---- */

/* Glob with '*' (any run of characters) over the whole of s. */
static int glob(const char *g, size_t gn, const char *s)
{
	if (!gn)
		return !*s;
	if (*g == '*') {
		for (;; s++) {
			if (glob(g + 1, gn - 1, s))
				return 1;
			if (!*s)
				return 0;
		}
	}
	return *s && *s == *g && glob(g + 1, gn - 1, s + 1);
}

int bridge_allowed(const struct bridge_policy *p, const char *user)
{
	const char *l = p->allow, *e;

	if (!l || !*l) {
		size_t n = strlen(p->server ? p->server : "");
		const char *colon = strchr(user, ':');

		return n && colon && !strcmp(colon + 1, p->server);
	}
	for (; *l; l = *e ? e + 1 : e) {
		size_t n;

		while (*l == ' ' || *l == '\t')
			l++;
		e = strchr(l, ',');
		if (!e)
			e = l + strlen(l);
		n = (size_t)(e - l);
		while (n && (l[n - 1] == ' ' || l[n - 1] == '\t'))
			n--;
		if (n && glob(l, n, user))
			return 1;
	}
	return 0;
}

static int is_media(const char *mt)
{
	return !strcmp(mt, "m.image") || !strcmp(mt, "m.file") ||
	       !strcmp(mt, "m.audio") || !strcmp(mt, "m.video");
}

int bridge_wanted(const struct bridge_policy *p, const struct sync_ev *ev,
                  int from_agent, const char **why)
{
	*why = NULL;
	if (strcmp(ev->type, "m.room.message") || ev->is_state)
		*why = "not a message";
	else if (p->bot && !strcmp(ev->sender, p->bot))
		*why = "from the bot";
	else if (from_agent)
		*why = "from an agent user";
	else if (ev->redacted)
		*why = "redacted";
	else if (ev->rel == SYNC_REL_REPLACE)
		*why = "an edit";
	else if (!strcmp(ev->msgtype, "m.notice"))
		*why = "a notice";
	else if (strcmp(ev->msgtype, "m.text") &&
	         strcmp(ev->msgtype, "m.emote") && !is_media(ev->msgtype))
		*why = "a message type agents do not read";
	else if (!ev->has_body)
		*why = "no body";
	else if (!bridge_allowed(p, ev->sender))
		*why = "sender not allowed";
	return *why == NULL;
}

/* ---- what the agent reads ---- */

size_t bridge_strip_fallback(char *body, size_t n)
{
	size_t i = 0;

	if (n < 2 || body[0] != '>')
		return n;
	while (i < n && body[i] == '>') {
		const char *nl = memchr(body + i, '\n', n - i);

		if (!nl)
			return n;       /* all quote: keep it, it is the text */
		i = (size_t)(nl - body) + 1;
	}
	if (i < n && body[i] == '\n')
		i++;
	if (i >= n)
		return n;
	memmove(body, body + i, n - i);
	body[n - i] = '\0';
	return n - i;
}

/* The name to show: the display name, else the localpart. */
static void display(const struct sync_ev *ev, char *out, size_t cap)
{
	const char *colon = strchr(ev->sender, ':');
	int n;

	if (ev->sender_name[0]) {
		snprintf(out, cap, "%s", ev->sender_name);
		return;
	}
	n = colon ? (int)(colon - ev->sender - 1) : (int)strlen(ev->sender);
	snprintf(out, cap, "%.*s", n, ev->sender + 1);
}

/* Appends s[0..n) to out, cut at the last whole character that fits. */
static void put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	size_t room = cap - 1 - *len;

	if (*len >= cap - 1)
		return;
	if (n > room)
		n = json_utf8_fit(s, n, room);
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
}

static void put_s(char *out, size_t cap, size_t *len, const char *s)
{
	put(out, cap, len, s, strlen(s));
}

/* The sender prefix from the format, and a space before the text when
 * the format does not end in one (config values are trimmed). */
static void prefix(const struct bridge_policy *p, const char *name,
                   const char *id, char *out, size_t cap, size_t *len)
{
	const char *f = p->sender_format ? p->sender_format : "[{name} ({id})] ";
	size_t start = *len;

	while (*f) {
		if (!strncmp(f, "{name}", 6)) {
			put_s(out, cap, len, name);
			f += 6;
		} else if (!strncmp(f, "{id}", 4)) {
			put_s(out, cap, len, id);
			f += 4;
		} else {
			put(out, cap, len, f++, 1);
		}
	}
	if (*len > start && out[*len - 1] != ' ' && out[*len - 1] != '\n')
		put(out, cap, len, " ", 1);
}

static void size_text(int64_t size, char *out, size_t cap)
{
	if (size < 0)
		out[0] = '\0';
	else if (size < 1024)
		snprintf(out, cap, ", %lld bytes", (long long)size);
	else if (size < 1024 * 1024)
		snprintf(out, cap, ", %lld KB", (long long)((size + 512) / 1024));
	else
		snprintf(out, cap, ", %.1f MB", (double)size / (1024.0 * 1024));
}

static const char *media_word(const char *mt)
{
	if (!strcmp(mt, "m.image"))
		return "an image";
	if (!strcmp(mt, "m.audio"))
		return "an audio file";
	if (!strcmp(mt, "m.video"))
		return "a video";
	return "a file";
}

int bridge_text(const struct bridge_policy *p, const struct sync_ev *ev,
                char *out, size_t cap)
{
	char name[LIM_STORE_NAME], sz[48];
	size_t len = 0, bl;

	if (cap < 64)
		return ERR_TOOBIG;
	out[0] = '\0';
	display(ev, name, sizeof name);
	prefix(p, name, ev->sender, out, cap, &len);
	if (is_media(ev->msgtype)) {
		size_text(ev->size, sz, sizeof sz);
		put_s(out, cap, &len, "[");
		put_s(out, cap, &len, name);
		put_s(out, cap, &len, " sent ");
		put_s(out, cap, &len, media_word(ev->msgtype));
		put_s(out, cap, &len, ": ");
		put_s(out, cap, &len, ev->filename[0] ? ev->filename : "(no name)");
		put_s(out, cap, &len, sz);
		if (ev->encrypted)
			put_s(out, cap, &len, ", end-to-end encrypted: not "
			      "readable here");
		put_s(out, cap, &len, "]");
		if (ev->caption) {
			/* the sender's words with it (Matrix 1.10 captions) */
			put_s(out, cap, &len, " ");
			put(out, cap, &len, ev->body, ev->body_len);
		}
		return (int)len;
	}
	bl = ev->body_len;
	if (ev->rel == SYNC_REL_REPLY || ev->rel == SYNC_REL_THREAD)
		bl = bridge_strip_fallback(ev->body, bl);
	if (!strcmp(ev->msgtype, "m.emote")) {
		put_s(out, cap, &len, "* ");
		put_s(out, cap, &len, name);
		put_s(out, cap, &len, " ");
	}
	put(out, cap, &len, ev->body, bl);
	return (int)len;
}

void bridge_otid(const char *room, const char *event_id, char out[37])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(
		MBEDTLS_MD_SHA256);
	mbedtls_md_context_t c;
	unsigned char h[32];
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	mbedtls_md_init(&c);
	mbedtls_md_setup(&c, md, 0);
	mbedtls_md_starts(&c);
	mbedtls_md_update(&c, (const unsigned char *)"lettamx-otid", 13);
	mbedtls_md_update(&c, (const unsigned char *)room, strlen(room) + 1);
	mbedtls_md_update(&c, (const unsigned char *)event_id,
	                  strlen(event_id));
	mbedtls_md_finish(&c, h);
	mbedtls_md_free(&c);
	h[6] = (unsigned char)((h[6] & 0x0f) | 0x40);  /* version 4 shape */
	h[8] = (unsigned char)((h[8] & 0x3f) | 0x80);  /* RFC 4122 variant */
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[h[i] >> 4];
		out[o++] = hex[h[i] & 15];
	}
	out[o] = '\0';
}

void bridge_letta_name(const char *user_id, char *out, size_t cap)
{
	size_t o = 0;

	for (const char *s = user_id + (*user_id == '@'); *s && *s != ':' &&
	     o + 1 < cap; s++)
		out[o++] = strchr(" \t\r\n<|\\/>", *s) ? '_' : *s;
	out[o] = '\0';
}

/* ---- records ----
 *
 * inbox:  'I' 1 | be64 ts | be64 queued | u16 event_id | u16 sender |
 *         u32 text [| u16 thread [| u8 approval | u16 call_id
 *         [| u8 flags [| u16 mxc | be64 size + 1 (0: unknown)]]]]
 *         (approval 0 and no call id only before flags; the picture
 *         only with flag BRIDGE_IN_F_IMAGE)
 *         (strings without NUL)
 * outbox: 'O' 1 | kind | u16 sender | u16 reply_to | u32 body
 *         [| u8 reply and flags | u16 thread]
 *         (a notice about the room, not answering a question, has an
 *         empty reply_to)
 */

#define REC_V 1

struct wr { uint8_t *p; size_t cap, n; int err; };
struct rd { const uint8_t *p; size_t n, i; int err; };

static void w_bytes(struct wr *w, const void *s, size_t n)
{
	if (w->err || n > w->cap - w->n) {
		w->err = ERR_TOOBIG;
		return;
	}
	memcpy(w->p + w->n, s, n);
	w->n += n;
}

static void w_uint(struct wr *w, uint64_t v, int bytes)
{
	uint8_t b[8];

	for (int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	w_bytes(w, b, (size_t)bytes);
}

static void w_str(struct wr *w, const char *s, size_t n, int lenbytes)
{
	w_uint(w, n, lenbytes);
	w_bytes(w, s, n);
}

static uint64_t r_uint(struct rd *r, int bytes)
{
	uint64_t v = 0;

	if (r->err || (size_t)bytes > r->n - r->i) {
		r->err = ERR_CORRUPT;
		return 0;
	}
	for (int i = 0; i < bytes; i++)
		v = v << 8 | r->p[r->i++];
	return v;
}

/* A string of length prefix `lenbytes`: valid UTF-8, no NUL. */
static const char *r_str(struct rd *r, int lenbytes, size_t *n)
{
	uint64_t len = r_uint(r, lenbytes);
	const char *s;

	if (r->err || len > r->n - r->i) {
		r->err = ERR_CORRUPT;
		return NULL;
	}
	s = (const char *)r->p + r->i;
	if (memchr(s, 0, (size_t)len) || !json_utf8_valid(s, (size_t)len)) {
		r->err = ERR_CORRUPT;
		return NULL;
	}
	r->i += (size_t)len;
	*n = (size_t)len;
	return s;
}

/* An id into out (LIM_STORE_ID), checked with its sigil (0: any
 * string, checked by the caller). */
static void r_id(struct rd *r, char *out, char sigil)
{
	size_t n = 0;
	const char *s = r_str(r, 2, &n);

	if (!s || n >= LIM_STORE_ID) {
		r->err = ERR_CORRUPT;
		return;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	if (sigil == '$' ? !sync_event_id_valid(out)
	                 : sigil && !ident_matrix_id_valid(out, sigil))
		r->err = ERR_CORRUPT;
}

static int id_ok(const char *id, char sigil)
{
	return sigil == '$' ? sync_event_id_valid(id)
	                    : ident_matrix_id_valid(id, sigil);
}

static int ids_ok(const char *a, char sa, const char *b, char sb)
{
	return id_ok(a, sa) && id_ok(b, sb);
}

/* The question an outbox entry answers: a notice may name none. */
static int reply_ok(const struct bridge_out *m)
{
	return id_ok(m->reply_to, '$') ||
	       (m->kind == BRIDGE_OUT_NOTICE && !m->reply_to[0] && !m->reply &&
	        !m->flags);
}

/* An mxc URI a record may carry: one mx_mxc_parse takes, that fits. */
static int mxc_ok(const char *s, size_t n)
{
	struct mx_mxc m;

	return n && n < LIM_SYNC_MXC && !mx_mxc_parse(s, n, &m);
}

/* A tool call id as letta_msg keeps it: printable ASCII, no space. */
static int call_ok(const char *s)
{
	if (!*s || strlen(s) >= sizeof ((struct bridge_in *)0)->call_id)
		return 0;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return 0;
	return 1;
}

int bridge_in_encode(const struct bridge_in *m, uint8_t *out, size_t cap,
                     size_t *n)
{
	struct wr w = { out, cap, 0, 0 };

	if (!ids_ok(m->event_id, '$', m->sender, '@') ||
	    !json_utf8_valid(m->text, m->text_len) ||
	    memchr(m->text, 0, m->text_len))
		return ERR_INVAL;
	w_bytes(&w, "I\1", 2);
	w_uint(&w, (uint64_t)m->ts, 8);
	w_uint(&w, (uint64_t)m->queued, 8);
	w_str(&w, m->event_id, strlen(m->event_id), 2);
	w_str(&w, m->sender, strlen(m->sender), 2);
	w_str(&w, m->text, m->text_len, 4);
	if ((m->flags & ~BRIDGE_IN_F_ALL) ||
	    (m->flags & BRIDGE_IN_F_IMAGE && !mxc_ok(m->mxc, strlen(m->mxc))))
		return ERR_INVAL;
	if (m->thread[0] || m->approval || m->flags) {
		if (m->thread[0] && !id_ok(m->thread, '$'))
			return ERR_INVAL;
		w_str(&w, m->thread, strlen(m->thread), 2);
	}
	if (m->approval) {
		if (m->approval > BRIDGE_APPROVAL_NO || !call_ok(m->call_id))
			return ERR_INVAL;
		w_uint(&w, (uint64_t)m->approval, 1);
		w_str(&w, m->call_id, strlen(m->call_id), 2);
	} else if (m->flags) {
		w_uint(&w, 0, 1);
		w_str(&w, "", 0, 2);
	}
	if (m->flags)
		w_uint(&w, (uint64_t)m->flags, 1);
	if (m->flags & BRIDGE_IN_F_IMAGE) {
		w_str(&w, m->mxc, strlen(m->mxc), 2);
		w_uint(&w, m->img_size < 0 ? 0 : (uint64_t)m->img_size + 1, 8);
	}
	*n = w.n;
	return w.err;
}

/* The picture after the flags: an mxc URI as sync checked it, and the
 * declared size. */
static void r_in_image(struct rd *r, struct bridge_in *m)
{
	size_t n = 0;
	const char *s = r_str(r, 2, &n);
	uint64_t size;

	if (r->err || !mxc_ok(s, n)) {
		r->err = ERR_CORRUPT;
		return;
	}
	memcpy(m->mxc, s, n);
	m->mxc[n] = '\0';
	size = r_uint(r, 8);
	if (size > (uint64_t)INT64_MAX)
		r->err = ERR_CORRUPT;
	m->img_size = (int64_t)size - 1;
}

/* The flags after the approval: never 0 (then not written), known
 * bits only; an approval of 0 is written only before them. */
static void r_in_flags(struct rd *r, struct bridge_in *m)
{
	if (r->i == r->n) {
		if (!m->approval)
			r->err = ERR_CORRUPT;
		return;
	}
	m->flags = (int)r_uint(r, 1);
	if (!m->flags || (m->flags & ~BRIDGE_IN_F_ALL))
		r->err = ERR_CORRUPT;
	if (!r->err && (m->flags & BRIDGE_IN_F_IMAGE))
		r_in_image(r, m);
}

/* The optional tail of an inbox record: thread, then approval, then
 * flags. */
static void r_in_tail(struct rd *r, struct bridge_in *m)
{
	size_t tn = 0;
	const char *t = r_str(r, 2, &tn);

	if (r->err || tn >= LIM_STORE_ID) {
		r->err = ERR_CORRUPT;
		return;
	}
	memcpy(m->thread, t, tn);
	m->thread[tn] = '\0';
	if (tn && !id_ok(m->thread, '$'))
		r->err = ERR_CORRUPT;
	/* the encoder writes the tail only when it holds something: an empty
	 * one is not a record lettamx wrote */
	if (!r->err && !tn && r->i == r->n)
		r->err = ERR_CORRUPT;
	if (r->err || r->i == r->n)
		return;
	m->approval = (int)r_uint(r, 1);
	t = r_str(r, 2, &tn);
	if (r->err || m->approval > BRIDGE_APPROVAL_NO ||
	    tn >= sizeof m->call_id || (!m->approval && tn)) {
		r->err = ERR_CORRUPT;
		return;
	}
	memcpy(m->call_id, t, tn);
	m->call_id[tn] = '\0';
	if (m->approval && !call_ok(m->call_id))
		r->err = ERR_CORRUPT;
	else
		r_in_flags(r, m);
}

int bridge_in_decode(const uint8_t *p, size_t n, struct bridge_in *m)
{
	struct rd r = { p, n, 0, 0 };

	memset(m, 0, sizeof *m);
	m->img_size = -1;
	if (n < 2 || p[0] != 'I')
		return ERR_CORRUPT;
	if (p[1] != REC_V)
		return p[1] > REC_V ? ERR_VERSION : ERR_CORRUPT;
	r.i = 2;
	m->ts = (int64_t)r_uint(&r, 8);
	m->queued = (int64_t)r_uint(&r, 8);
	r_id(&r, m->event_id, '$');
	r_id(&r, m->sender, '@');
	m->text = r_str(&r, 4, &m->text_len);
	if (!r.err && r.i < n)
		r_in_tail(&r, m);
	if (!r.err && r.i != n)
		r.err = ERR_CORRUPT;
	return r.err;
}

int bridge_in_peek(const uint8_t *p, size_t n, char *thread, int64_t *queued)
{
	struct rd r = { p, n, 0, 0 };
	uint64_t len;

	thread[0] = '\0';
	if (n < 2 || p[0] != 'I' || p[1] != REC_V)
		return ERR_CORRUPT;
	r.i = 10;
	*queued = (int64_t)r_uint(&r, 8);
	for (int k = 0; k < 3 && !r.err; k++) {     /* event, sender, text */
		len = r_uint(&r, k == 2 ? 4 : 2);
		if (!r.err && len > r.n - r.i)
			r.err = ERR_CORRUPT;
		else
			r.i += (size_t)len;
	}
	if (r.err)
		return ERR_CORRUPT;
	if (r.i == n)
		return 0;
	len = r_uint(&r, 2);
	if (r.err || len > r.n - r.i || len >= LIM_STORE_ID)
		return ERR_CORRUPT;
	memcpy(thread, p + r.i, (size_t)len);
	thread[len] = '\0';
	return 0;
}

int bridge_out_encode(const struct bridge_out *m, uint8_t *out, size_t cap,
                      size_t *n)
{
	struct wr w = { out, cap, 0, 0 };

	if (!id_ok(m->sender, '@') || !reply_ok(m) ||
	    (m->kind != BRIDGE_OUT_TEXT && m->kind != BRIDGE_OUT_NOTICE) ||
	    !json_utf8_valid(m->body, m->body_len) ||
	    memchr(m->body, 0, m->body_len))
		return ERR_INVAL;
	w_bytes(&w, "O\1", 2);
	w_uint(&w, (uint64_t)m->kind, 1);
	w_str(&w, m->sender, strlen(m->sender), 2);
	w_str(&w, m->reply_to, strlen(m->reply_to), 2);
	w_str(&w, m->body, m->body_len, 4);
	if (m->flags & ~(BRIDGE_OUT_F_LIVE | BRIDGE_OUT_F_FINAL))
		return ERR_INVAL;
	if (m->thread[0] || m->reply || m->flags) {
		if (m->thread[0] && !id_ok(m->thread, '$'))
			return ERR_INVAL;
		/* one byte: bit 0 the rich reply, the stream flags above */
		w_uint(&w, (uint64_t)((m->reply ? 1 : 0) | m->flags), 1);
		w_str(&w, m->thread, strlen(m->thread), 2);
	}
	*n = w.n;
	return w.err;
}

int bridge_out_decode(const uint8_t *p, size_t n, struct bridge_out *m)
{
	struct rd r = { p, n, 0, 0 };

	memset(m, 0, sizeof *m);
	if (n < 2 || p[0] != 'O')
		return ERR_CORRUPT;
	if (p[1] != REC_V)
		return p[1] > REC_V ? ERR_VERSION : ERR_CORRUPT;
	r.i = 2;
	m->kind = (int)r_uint(&r, 1);
	if (m->kind != BRIDGE_OUT_TEXT && m->kind != BRIDGE_OUT_NOTICE)
		r.err = ERR_CORRUPT;
	r_id(&r, m->sender, '@');
	r_id(&r, m->reply_to, 0);
	m->body = r_str(&r, 4, &m->body_len);
	if (!r.err && r.i < n) {
		size_t tn = 0;
		const char *t;

		m->reply = (int)r_uint(&r, 1);
		m->flags = m->reply & ~1;
		m->reply &= 1;
		t = r_str(&r, 2, &tn);
		/* an empty tail is never written (see the encoder) */
		if ((m->flags & ~(BRIDGE_OUT_F_LIVE | BRIDGE_OUT_F_FINAL)) ||
		    tn >= LIM_STORE_ID || (!tn && !m->reply && !m->flags))
			r.err = ERR_CORRUPT;
		if (!r.err && tn) {
			memcpy(m->thread, t, tn);
			m->thread[tn] = '\0';
			if (!id_ok(m->thread, '$'))
				r.err = ERR_CORRUPT;
		}
	}
	if (!r.err && (r.i != n || !reply_ok(m)))
		r.err = ERR_CORRUPT;
	return r.err;
}
