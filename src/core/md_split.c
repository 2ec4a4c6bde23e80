/*
 * md_split: long answers as several messages (see md.h).
 *
 * Each candidate part is rendered and measured, so the budget is kept
 * exactly (HTML escaping can make a part several times its source). The
 * furthest fitting cut is searched between what is known to fit and the
 * budget: the first probes guess from the cost per byte measured so far
 * (a part's cost grows nearly linearly with its length), then bisection;
 * a probe that lands on a cut already measured costs no render. A 200 KB
 * answer takes about 5 renders per part.
 */
#include "core/md.h"

#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/md_int.h"

#define MIN_LIMIT 2048

struct part {
	char *body, *html;
	size_t bcap, hcap, blen, hlen;
	size_t cost;          /* of the last part measured */
	bool rich;
};

void md_split_init(struct md_split *sp, const char *md, size_t n,
                   size_t limit, void *work, size_t work_cap)
{
	memset(sp, 0, sizeof *sp);
	sp->src = md;
	sp->n = n;
	sp->limit = limit;
	sp->code = work;
	sp->code_cap = work ? (unsigned)(work_cap / sizeof sp->code[0]) : 0;
	if (limit < MIN_LIMIT || (!md && n))
		sp->err = ERR_INVAL;
}

/* ---- lines ---- */

static bool blank_line(const char *s, size_t a, size_t n, size_t *next)
{
	size_t i = a;

	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	if (i < n && s[i] != '\n')
		return false;
	*next = i < n ? i + 1 : n;
	return true;
}

static size_t line_end(const char *s, size_t a, size_t n)
{
	const char *p = memchr(s + a, '\n', n - a);
	return p ? (size_t)(p - s) + 1 : n;
}

/* Ranges come in document order, so their starts ascend; prepare() made
 * each end the largest end so far. The last range starting before c
 * then tells whether any range holds c. */
static unsigned last_before(const struct md_split *sp, size_t c)
{
	unsigned lo = 0, hi = sp->ncode;   /* answer in [lo, hi): count */

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (sp->code[mid][0] < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;            /* ranges [0, lo) start before c */
}

static bool in_code(const struct md_split *sp, size_t c)
{
	unsigned k = last_before(sp, c);

	return k > 0 && c < sp->code[k - 1][1];
}

/* Does a code block start on the line at a (and not inside another)? */
static bool code_at(const struct md_split *sp, size_t a)
{
	unsigned k = last_before(sp, a);

	return k < sp->ncode && sp->code[k][0] == a && !in_code(sp, a);
}

/* Is c (a line start) a cut: after a blank line, before a non-blank one,
 * outside code? */
static bool is_cut(const struct md_split *sp, size_t c)
{
	size_t prev, nx;

	if (c == 0 || c >= sp->n || sp->src[c - 1] != '\n')
		return false;
	if (blank_line(sp->src, c, sp->n, &nx))
		return false;
	prev = c - 1;
	while (prev > 0 && sp->src[prev - 1] != '\n')
		prev--;
	return blank_line(sp->src, prev, sp->n, &nx) && !in_code(sp, c);
}

/* The last cut in (lo, x], or 0. */
static size_t cut_before(const struct md_split *sp, size_t lo, size_t x)
{
	for (size_t c = x; c > lo; c--)
		if (sp->src[c - 1] == '\n' && is_cut(sp, c))
			return c;
	return 0;
}

/* ---- measuring ---- */

static size_t trim_end(const char *s, size_t a, size_t b)
{
	while (b > a && (s[b - 1] == '\n' || s[b - 1] == '\r' ||
	                 s[b - 1] == ' ' || s[b - 1] == '\t'))
		b--;
	return b;
}

/* Renders text[0..n) as the part; 1 when it fits the budget, 0 when not,
 * negative on another error. text may be pt->body itself. */
static int try_text(const struct md_split *sp, struct part *pt,
                    const char *text, size_t n)
{
	int r;

	if (n >= pt->bcap)
		return 0;
	if (text != pt->body)
		memmove(pt->body, text, n);
	pt->body[n] = '\0';
	pt->blen = n;
	r = md_render(pt->body, n, pt->html, pt->hcap, &pt->hlen, &pt->rich);
	if (r == ERR_TOOBIG)
		return 0;
	if (r < 0)
		return r;
	pt->cost = md_json_len(pt->body, n) + md_json_len(pt->html, pt->hlen)
	           + MD_EVENT_OVERHEAD;
	return pt->cost <= sp->limit;
}

static int try_range(const struct md_split *sp, struct part *pt,
                     size_t a, size_t b)
{
	return try_text(sp, pt, sp->src + a, trim_end(sp->src, a, b) - a);
}

/* The search: a snap function turns a byte position x into the cut a
 * part ending near x would use (0: none); a try function renders the part
 * [pos, cut) and says whether it fits (1), not (0), or fails (< 0). */
typedef size_t (*snap_fn)(const struct md_split *, size_t x);
typedef int (*try_fn)(struct md_split *, struct part *, size_t cut);

struct search {
	size_t ok_cut, ok_cost;   /* the furthest cut known to fit */
	size_t bad_cut;           /* the nearest cut known not to fit, or 0 */
};

/* Where to look next in [lo, hi]: a guess from the cost per byte while
 * guesses help, else the middle. */
static size_t next_x(const struct md_split *sp, const struct search *se,
                     size_t lo, size_t hi, int round)
{
	size_t mid = lo + (hi - lo + 1) / 2;

	if (round < 3 && se->ok_cut > sp->pos &&
	    se->ok_cost > MD_EVENT_OVERHEAD && se->ok_cost < sp->limit) {
		double rate = (double)(se->ok_cut - sp->pos) /
		              (double)(se->ok_cost - MD_EVENT_OVERHEAD);
		double room = (double)(sp->limit - se->ok_cost) * 0.97;
		double x = (double)se->ok_cut + room * rate;
		if (x > (double)lo && x <= (double)hi)
			return (size_t)x;
		if (x > (double)hi)
			return hi;
	}
	return mid;
}

/* The furthest cut that fits, searching x in (lo, hi]; se holds what is
 * known (ok_cut may be 0 when nothing is). *best gets the cut or 0. */
static int search(struct md_split *sp, struct part *pt, size_t lo,
                  size_t hi, snap_fn snap, try_fn try, struct search *se,
                  size_t *best)
{
	for (int round = 0; lo < hi; round++) {
		size_t x = next_x(sp, se, lo, hi, round);
		size_t c = snap(sp, x);
		int r;
		if (c == 0)
			r = 0;
		else if (c <= se->ok_cut)
			r = 1;                         /* measured: fits */
		else if (se->bad_cut && c >= se->bad_cut)
			r = 0;                         /* measured: too big */
		else if ((r = try(sp, pt, c)) < 0)
			return r;
		else if (r) {
			se->ok_cut = c;
			se->ok_cost = pt->cost;
		} else {
			se->bad_cut = c;
		}
		if (r)
			lo = x;
		else
			hi = x - 1;
	}
	*best = se->ok_cut;
	return 0;
}

/* ---- ordinary parts: cut after a blank line ---- */

static size_t snap_cut(const struct md_split *sp, size_t x)
{
	return x >= sp->n ? sp->n : cut_before(sp, sp->pos, x);
}

static int try_cut(struct md_split *sp, struct part *pt, size_t c)
{
	return try_range(sp, pt, sp->pos, c);
}

/* A UTF-8 character boundary at or before x (> lo if there is one). */
static size_t utf8_back(const char *s, size_t lo, size_t x)
{
	while (x > lo + 1 && ((unsigned char)s[x] & 0xc0) == 0x80)
		x--;
	return x;
}

static size_t snap_prefix(const struct md_split *sp, size_t x)
{
	return x >= sp->n ? sp->n : utf8_back(sp->src, sp->pos, x);
}

/* Inside an oversized block that is no top-level fence: the longest
 * fitting prefix, moved back to a line end or a space in its second
 * half when that still fits. */
static int cut_inside(struct md_split *sp, struct part *pt, size_t *cut)
{
	size_t hi = sp->n - sp->pos < sp->limit ? sp->n : sp->pos + sp->limit;
	struct search se = { 0, 0, 0 };
	size_t best, c;
	int r = search(sp, pt, sp->pos, hi, snap_prefix, try_cut, &se, &best);

	if (r < 0)
		return r;
	if (best <= sp->pos)
		return ERR_INVAL;    /* not even one character fits */
	for (const char *sep = "\n "; *sep; sep++) {
		for (c = best; c > sp->pos + (best - sp->pos) / 2; c--)
			if (sp->src[c - 1] == *sep)
				break;
		if (c > sp->pos + (best - sp->pos) / 2 && c < best &&
		    try_range(sp, pt, sp->pos, c) == 1) {
			*cut = c;
			return 0;
		}
	}
	*cut = best;
	return 0;
}

/* ---- an oversized fenced code block ---- */

/* Is the line at a an opening fence (``` or ~~~, indented <= 3)? Sets
 * the close marker (the fence characters). */
static bool fence_open(struct md_split *sp, size_t a)
{
	const char *s = sp->src;
	size_t i = a, k = 0;

	while (i < sp->n && i - a < 3 && s[i] == ' ')
		i++;
	if (i >= sp->n || (s[i] != '`' && s[i] != '~'))
		return false;
	while (i + k < sp->n && s[i + k] == s[i])
		k++;
	if (k < 3 || k >= sizeof sp->fence_close)
		return false;
	memset(sp->fence_close, 0, sizeof sp->fence_close);
	memset(sp->fence_close, s[i], k);
	return true;
}

/* Start of the closing fence line after content start a, and the end of
 * that line (both n when the fence is never closed). */
static void fence_close(const struct md_split *sp, size_t a, size_t *close,
                        size_t *after)
{
	size_t k = strlen(sp->fence_close), nx;

	for (size_t l = a; l < sp->n; l = line_end(sp->src, l, sp->n)) {
		size_t i = l, m = 0;
		while (i < sp->n && i - l < 3 && sp->src[i] == ' ')
			i++;
		while (i + m < sp->n && sp->src[i + m] == sp->fence_close[0])
			m++;
		if (m >= k && blank_line(sp->src, i + m, sp->n, &nx)) {
			*close = l;
			*after = nx;
			return;
		}
	}
	*close = *after = sp->n;
}

/* The part: the opening line, content [a, b), a newline if b cut a line,
 * and the closing fence; built in pt->body. */
static int try_fence(struct md_split *sp, struct part *pt, size_t a,
                     size_t b)
{
	size_t ol = sp->fence_open_len, cl = strlen(sp->fence_close);
	size_t n = ol + 1 + (b - a) + 1 + cl;
	char *o = pt->body;

	if (n >= pt->bcap)
		return 0;
	memcpy(o, sp->src + sp->fence_open, ol);
	if (o[ol - 1] != '\n')
		o[ol++] = '\n';
	memcpy(o + ol, sp->src + a, b - a);
	n = ol + (b - a);
	if (b > a && o[n - 1] != '\n')
		o[n++] = '\n';
	memcpy(o + n, sp->fence_close, cl);
	return try_text(sp, pt, o, n + cl);
}

static size_t snap_fence(const struct md_split *sp, size_t x)
{
	size_t c = x;

	if (c < sp->fence_end) {
		/* back to a line end, else a character boundary */
		while (c > sp->pos && sp->src[c - 1] != '\n')
			c--;
		if (c == sp->pos)
			c = utf8_back(sp->src, sp->pos, x);
	}
	return c;
}

static int try_fence_cut(struct md_split *sp, struct part *pt, size_t c)
{
	return try_fence(sp, pt, sp->pos, c);
}

/* A line start in (pos, hi) that opens a fenced code block, when the
 * text before it fits as a part; else 0. */
static size_t fence_ahead(struct md_split *sp, struct part *pt, size_t hi)
{
	size_t l = line_end(sp->src, sp->pos, sp->n);

	for (; l < hi && l < sp->n; l = line_end(sp->src, l, sp->n))
		if (fence_open(sp, l) && code_at(sp, l))
			return try_range(sp, pt, sp->pos, l) == 1 ? l : 0;
	return 0;
}

static int fence_begin(struct md_split *sp)
{
	size_t close, after;

	sp->fence_open = sp->pos;
	sp->fence_open_len = line_end(sp->src, sp->pos, sp->n) - sp->pos;
	fence_close(sp, sp->pos + sp->fence_open_len, &close, &after);
	sp->fence_end = close;
	sp->pos += sp->fence_open_len;
	sp->in_fence = true;
	return 0;
}

static int fence_next(struct md_split *sp, struct part *pt)
{
	struct search se = { 0, 0, 0 };
	size_t best, hi, close, after;
	int r;

	hi = sp->fence_end - sp->pos < sp->limit ? sp->fence_end
	                                          : sp->pos + sp->limit;
	r = search(sp, pt, sp->pos, hi, snap_fence, try_fence_cut, &se, &best);
	if (r < 0)
		return r;
	if (best <= sp->pos)
		return ERR_INVAL;
	if ((r = try_fence(sp, pt, sp->pos, best)) != 1)
		return r < 0 ? r : ERR_INVAL;
	sp->pos = best;
	if (best == sp->fence_end) {
		fence_close(sp, sp->fence_end, &close, &after);
		sp->pos = after;
		sp->in_fence = false;
	}
	return 1;
}

/* ---- driver ---- */

static int prepare(struct md_split *sp)
{
	struct md_ranges rg = { .r = sp->code, .cap = sp->code_cap };
	int r = md_render_rg(sp->src, sp->n, NULL, 0, NULL, NULL, &rg);

	if (r < 0)
		return r;
	/* Sorted starts, running maximum of ends; a range starting before
	 * the one ahead of it (not expected) is merged into it, which only
	 * covers more. */
	unsigned k = 0;
	for (unsigned i = 0; i < rg.n; i++) {
		size_t a = sp->code[i][0], b = sp->code[i][1];
		while (k > 0 && a < sp->code[k - 1][0]) {
			k--;
			b = b > sp->code[k][1] ? b : sp->code[k][1];
		}
		if (k > 0 && b < sp->code[k - 1][1])
			b = sp->code[k - 1][1];
		sp->code[k][0] = a;
		sp->code[k][1] = b;
		k++;
	}
	sp->ncode = k;
	sp->ready = 1;
	return 0;
}

static void skip_blank(struct md_split *sp)
{
	size_t nx;

	while (sp->pos < sp->n && blank_line(sp->src, sp->pos, sp->n, &nx))
		sp->pos = nx;
}

/* The first cut after pos, or n. */
static size_t first_cut(const struct md_split *sp)
{
	for (size_t l = line_end(sp->src, sp->pos, sp->n); l < sp->n;
	     l = line_end(sp->src, l, sp->n))
		if (is_cut(sp, l))
			return l;
	return sp->n;
}

static int next_part(struct md_split *sp, struct part *pt)
{
	size_t hi, best = 0, cut, c0;
	int r;

	if (sp->in_fence)
		return fence_next(sp, pt);
	skip_blank(sp);
	if (sp->pos >= sp->n)
		return 0;
	hi = sp->n - sp->pos < sp->limit ? sp->n : sp->pos + sp->limit;
	c0 = first_cut(sp);
	if (c0 <= hi && (r = try_range(sp, pt, sp->pos, c0)) != 0) {
		/* the first block fits: look for the furthest cut that does */
		struct search se = { c0, pt->cost, 0 };
		if (r < 0 || (r = search(sp, pt, c0, hi, snap_cut, try_cut, &se,
		                         &best)) < 0)
			return r;
		cut = best > c0 ? best : c0;
	} else if (fence_open(sp, sp->pos) && code_at(sp, sp->pos)) {
		fence_begin(sp);
		return fence_next(sp, pt);
	} else if ((cut = fence_ahead(sp, pt, hi)) > 0) {
		/* the text before a fence that starts without a blank line */
	} else if ((r = cut_inside(sp, pt, &cut)) < 0) {
		return r;
	}
	if ((r = try_range(sp, pt, sp->pos, cut)) != 1)
		return r < 0 ? r : ERR_INVAL;
	sp->pos = cut;
	return 1;
}

int md_split_next(struct md_split *sp, char *body, size_t bcap,
                  size_t *blen, char *html, size_t hcap, size_t *hlen,
                  bool *rich)
{
	struct part pt = { .body = body, .html = html, .bcap = bcap,
	                   .hcap = hcap };
	int r;

	if (sp->err)
		return sp->err;
	if (!body || !html || bcap < sp->limit || hcap < sp->limit)
		return sp->err = ERR_INVAL;
	if (!sp->ready && (r = prepare(sp)) < 0)
		return sp->err = r;
	r = next_part(sp, &pt);
	if (r < 0)
		return sp->err = r;
	if (r == 0) {
		body[0] = html[0] = '\0';
		pt.blen = pt.hlen = 0;
	}
	if (blen)
		*blen = pt.blen;
	if (hlen)
		*hlen = pt.hlen;
	if (rich)
		*rich = pt.rich;
	return r;
}
