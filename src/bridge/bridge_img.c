/*
 * bridge_img: a picture's part of a turn (step 3 of bridge_int.h's map).
 * An m.image of a person is queued with its mxc URI (BRIDGE_IN_F_IMAGE);
 * before its question goes to the agent, the turn downloads the bytes
 * from the homeserver (the authenticated media path, then the old one
 * when the server does not know it), checks them (the type from the
 * bytes) and hands them to the Letta API beside the text. A picture that
 * is too big, not a picture, or cannot be had reaches the agent as the
 * line that names it, and the person is told.
 *
 * Memory: every picture held at once is counted against [bridge]
 * image_memory before its download starts, at what it may cost until
 * its turn ends (the bytes, their base64 in the request, and on the App
 * Server the copy in the WebSocket's send queue). A turn with a picture
 * waits, in order, until its cost fits; the bytes are freed when the
 * turn ends (a retry of the same turn sends them again).
 */
#include "bridge/bridge_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/err.h"
#include "core/img.h"
#include "core/log.h"
#include "matrix/mx_media.h"

#define IMG_TRIES      3        /* downloads with no answer, 5xx, 429 */
#define IMG_BACKOFF_MS 1000
#define IMG_TOTAL_MS   120000   /* one download, start to end */
#define IMG_IDLE_MS    30000    /* ... with no byte */
#define IMG_SLACK      (64u << 10)  /* the rest of a request: its text */

enum { BI_RESERVED, BI_FETCH, BI_HELD, BI_SKIP };

struct bimg {
	uint64_t seq;                   /* the inbox entry it is for */
	int state;                      /* BI_* */
	int api;                        /* MX_MEDIA_V1, MX_MEDIA_LEGACY */
	int tries;
	size_t bound;                   /* bytes it may have */
	size_t charge;                  /* of b->img_used */
	uint8_t *p;                     /* bound bytes, n of them read */
	size_t n;
	int over;                       /* the body passed bound */
	const char *type;               /* img_sniff's */
	struct bcall *call;
};

size_t bridge_img_cost(const struct bridge *b, size_t bound)
{
	size_t enc = b64_len(bound);

	/* the bytes, their base64 in the request body (REST) or in the
	 * input frame and the send queue's copy of it (App Server) */
	return bound + enc * (size_t)b->img_copies + IMG_SLACK;
}

/* ---- memory ---- */

static void release(struct bridge *b, size_t n)
{
	b->img_used = n > b->img_used ? 0 : b->img_used - n;
}

/* Rooms waiting for picture memory get it in order while it fits. */
static void wake(struct bridge *b)
{
	struct broom *r;

	while ((r = b->imgq) && b->img_used + r->img_need <= b->img_mem) {
		b->imgq = r->img_next;
		if (!b->imgq)
			b->imgq_tail = NULL;
		r->img_next = NULL;
		r->img_queued = 0;
		b->img_used += r->img_need;
		r->img_paid = r->img_need;
		if (r->turn == T_IMGWAIT)
			r->turn = T_IDLE;
		bridge_kick(r);
	}
}

static void queue(struct broom *r, size_t need)
{
	struct bridge *b = r->b;

	r->img_need = need;
	r->turn = T_IMGWAIT;
	if (r->img_queued)
		return;
	r->img_queued = 1;
	if (b->imgq_tail)
		b->imgq_tail->img_next = r;
	else
		b->imgq = r;
	b->imgq_tail = r;
	LOG_INFO("bridge", "event=image_waits room=%s need=%zu used=%zu "
	         "cap=%zu", r->id, need, b->img_used, b->img_mem);
}

static void unqueue(struct broom *r)
{
	struct bridge *b = r->b;
	struct broom **p = &b->imgq, *prev = NULL;

	if (!r->img_queued)
		return;
	for (; *p && *p != r; p = &(*p)->img_next)
		prev = *p;
	if (*p)
		*p = r->img_next;
	if (b->imgq_tail == r)
		b->imgq_tail = prev;
	r->img_next = NULL;
	r->img_queued = 0;
}

void bridge_img_drop(struct broom *r)
{
	struct bimg *im = r->img;
	struct bridge *b = r->b;
	size_t freed = r->img_paid;

	r->img_paid = 0;
	if (im) {
		if (im->call)
			bridge_call_forget(b, im->call);
		freed += im->charge;
		free(im->p);
		free(im);
		r->img = NULL;
	}
	if (freed) {
		release(b, freed);
		wake(b);
	}
}

void bridge_img_stop(struct broom *r)
{
	unqueue(r);
	if (r->img)
		r->img->call = NULL;    /* bridge_stop cancelled the calls */
}

/* ---- before the send ---- */

static void size_words(int64_t n, char *out, size_t cap)
{
	if (n < 1000000)
		snprintf(out, cap, "%lld KB", (long long)((n + 999) / 1000));
	else
		snprintf(out, cap, "%.1f MB", (double)n / 1e6);
}

/* The picture of h will not go: the agent reads its line, the person
 * hears why (words: after "This picture"). */
static void skip(struct broom *r, const struct bturn_head *h,
                 const char *why, const char *words)
{
	struct bimg *im = r->img;
	char msg[400];

	if (im) {
		free(im->p);
		im->p = NULL;
		release(r->b, im->charge);
		im->charge = 0;
		im->state = BI_SKIP;
		wake(r->b);
	}
	LOG_INFO("bridge", "event=image_not_passed room=%s event_id=%s "
	         "why=%s", r->id, h->m.event_id, why);
	snprintf(msg, sizeof msg, "This picture %s, so the agent gets only a "
	         "line naming it.", words);
	bridge_notice(r, h->ag.user_id, h->m.event_id, msg);
}

static struct bimg *img_new(struct broom *r, uint64_t seq, int state)
{
	struct bimg *im = calloc(1, sizeof *im);

	if (!im)
		return NULL;
	im->seq = seq;
	im->state = state;
	im->api = MX_MEDIA_V1;
	r->img = im;
	return im;
}

int bridge_img_room(struct broom *r, const struct bturn_head *h)
{
	struct bridge *b = r->b;
	size_t bound, need;
	char a[32], c[32], words[160];

	if (!(h->m.flags & BRIDGE_IN_F_IMAGE) || !b->img_max) {
		if (r->img || r->img_paid)
			bridge_img_drop(r);     /* an earlier question's */
		return 1;
	}
	if (r->img && r->img->seq == h->seq)
		return 1;               /* reserved, fetched or given up */
	if (r->img)
		bridge_img_drop(r);     /* an earlier question's */
	if (h->m.img_size > (int64_t)b->img_max) {
		if (!img_new(r, h->seq, BI_SKIP))
			return 1;       /* no memory: the line alone */
		size_words(h->m.img_size, a, sizeof a);
		size_words((int64_t)b->img_max, c, sizeof c);
		snprintf(words, sizeof words, "is too big to pass on (%s; the "
		         "limit is %s)", a, c);
		skip(r, h, "too_big", words);
		return 1;
	}
	/* the declared size, unless the body proves it wrong (then the
	 * most a picture may have: r->img_full) */
	bound = h->m.img_size > 0 && !r->img_full ? (size_t)h->m.img_size
	                                          : b->img_max;
	need = bridge_img_cost(b, bound);
	if (r->img_paid >= need || (!b->imgq && !r->img_paid &&
	                            b->img_used + need <= b->img_mem)) {
		if (!img_new(r, h->seq, BI_RESERVED))
			return 1;
		r->img->bound = bound;
		r->img->charge = r->img_paid ? r->img_paid : need;
		if (!r->img_paid)
			b->img_used += need;
		r->img_paid = 0;
		return 1;
	}
	if (r->img_paid) {              /* paid for a smaller one */
		release(b, r->img_paid);
		r->img_paid = 0;
		wake(b);
		if (r->turn == T_IDLE && b->img_used + need <= b->img_mem &&
		    !b->imgq)
			return bridge_img_room(r, h);
	}
	queue(r, need);
	return 0;
}

int bridge_img_wanted(const struct broom *r, const struct bturn_head *h)
{
	return r->img && r->img->seq == h->seq && r->img->state == BI_RESERVED;
}

int bridge_img_of(const struct broom *r, const struct bturn_head *h,
                  struct img *out)
{
	const struct bimg *im = r->img;

	if (!im || im->seq != h->seq || im->state != BI_HELD)
		return 0;
	*out = (struct img){ im->type, im->p, im->n };
	return 1;
}

/* ---- the download ---- */

static int on_bytes(struct bcall *c, const char *data, size_t len)
{
	struct bimg *im = c->room->img;

	if (!im || im->call != c)
		return ERR_CANCELLED;
	if (len > im->bound - im->n) {
		im->over = 1;
		return ERR_TOOBIG;
	}
	memcpy(im->p + im->n, data, len);
	im->n += len;
	return 0;
}

static void fetch(struct broom *r, const struct bturn_head *h);

/* The bytes are in: a picture, or not. */
static void got(struct broom *r, const struct bturn_head *h)
{
	struct bimg *im = r->img;

	im->type = img_sniff(im->p, im->n);
	if (!im->type) {
		skip(r, h, "not_a_picture", "is not a PNG, JPEG, GIF or WebP "
		     "picture (by its bytes)");
		return;
	}
	im->state = BI_HELD;
	LOG_INFO("bridge", "event=image_fetched room=%s event_id=%s type=%s "
	         "bytes=%zu", r->id, h->m.event_id, im->type, im->n);
}

/* What the answer to a download means for the turn. */
static void verdict(struct broom *r, const struct bturn_head *h, int v,
                    int status)
{
	struct bimg *im = r->img;
	char words[160], a[32];

	switch (v) {
	case MX_MEDIA_OK:
		got(r, h);
		return;
	case MX_MEDIA_USE_LEGACY:
		im->api = MX_MEDIA_LEGACY;
		fetch(r, h);
		return;
	case MX_MEDIA_TOOBIG:
		if (im->bound < r->b->img_max && im->over) {
			/* bigger than its event said: again, at the most a
			 * picture may have (its cost may have to wait) */
			r->img_full = 1;
			bridge_img_drop(r);
			r->turn = T_IDLE;
			bridge_kick(r);
			return;
		}
		size_words((int64_t)r->b->img_max, a, sizeof a);
		snprintf(words, sizeof words, "is bigger than the limit for "
		         "pictures (%s)", a);
		skip(r, h, "too_big", words);
		return;
	case MX_MEDIA_RETRY:
		if (++im->tries < IMG_TRIES) {
			im->state = BI_RESERVED;
			bridge_turn_pause(r, bridge_backoff(IMG_BACKOFF_MS,
			                                    im->tries - 1));
			return;
		}
		/* fall through */
	default:
		if (status)
			snprintf(words, sizeof words, "could not be downloaded "
			         "from the homeserver (HTTP %d)", status);
		else
			snprintf(words, sizeof words, "could not be downloaded "
			         "from the homeserver (no answer)");
		skip(r, h, mx_media_verdict_str(v), words);
	}
}

static void on_fetched(struct bcall *c, int st, const char *body, size_t len,
                       int64_t ra, int err)
{
	struct broom *r = c->room;
	struct bimg *im = r->img;
	struct proto_resp resp = { .status = st, .retry_after_ms = ra };
	struct bturn_head h;
	int v;

	(void)body;
	(void)len;
	if (!im || im->call != c)
		return;
	im->call = NULL;
	r->turn = T_IDLE;
	if (!bridge_turn_head_still(r, &h) || h.seq != im->seq) {
		bridge_img_drop(r);
		return;
	}
	resp.body = (const char *)im->p;
	resp.len = im->n;
	if (err == ERR_TOOBIG && im->over)
		v = MX_MEDIA_TOOBIG;
	else
		v = mx_media_classify(im->api, &resp, -1, im->bound);
	LOG_DEBUG("bridge", "event=image_answer room=%s status=%d err=%s "
	          "verdict=%s", r->id, st, err_str(err),
	          mx_media_verdict_str(v));
	if (v != MX_MEDIA_OK)
		im->n = 0;
	verdict(r, &h, v, st);
	if (r->turn == T_IDLE)
		bridge_kick(r);
}

static void fetch(struct broom *r, const struct bturn_head *h)
{
	struct bimg *im = r->img;
	struct mx_mxc m;
	char path[LIM_PROTO_PATH];

	im->n = 0;
	im->over = 0;
	if (mx_mxc_parse(h->m.mxc, strlen(h->m.mxc), &m) ||
	    mx_media_path(path, sizeof path, &m, im->api) < 0 ||
	    (!im->p && !(im->p = malloc(im->bound ? im->bound : 1)))) {
		skip(r, h, "unusable", "could not be read");
		r->turn = T_IDLE;
		bridge_kick(r);
		return;
	}
	im->state = BI_FETCH;
	r->turn = T_IMG;
	/* the legacy path takes no token: none is spread where it is not
	 * needed */
	im->call = bridge_call_body(r->b, r, "GET", BASE_HS, path,
	                            im->api == MX_MEDIA_V1 ? r->b->bot_token
	                                                   : NULL,
	                            NULL, 0, IMG_TOTAL_MS, IMG_IDLE_MS,
	                            on_bytes, on_fetched);
	if (!im->call) {
		im->state = BI_RESERVED;
		bridge_turn_pause(r, bridge_backoff(IMG_BACKOFF_MS, im->tries++));
	}
}

void bridge_img_fetch(struct broom *r, const struct bturn_head *h)
{
	r->img_full = 0;
	fetch(r, h);
}
