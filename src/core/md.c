/*
 * md: Markdown -> Matrix HTML with our own renderer over md4c's parser
 * (see md.h for why), the plain body, and the link check.
 */
#include "core/md.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <entity.h>
#include <md4c.h>

#include "core/err.h"
#include "core/json.h"
#include "core/md_int.h"

/* GitHub's dialect without raw HTML. */
#define MD_FLAGS (MD_FLAG_NOHTML | MD_FLAG_TABLES | MD_FLAG_STRIKETHROUGH | \
                  MD_FLAG_TASKLISTS | MD_FLAG_PERMISSIVEURLAUTOLINKS | \
                  MD_FLAG_PERMISSIVEWWWAUTOLINKS | \
                  MD_FLAG_PERMISSIVEEMAILAUTOLINKS)

/* A decoded link target longer than this is shown as text, not linked. */
#define MD_URL_MAX 4096
/* Deeper nesting of blocks (or of spans) keeps its text but not its
 * tags: 2,000 nested quotes are legal Markdown, and no client needs them
 * as 2,000 nested elements. */
#define MD_NEST_MAX 32
/* A code block's language is kept only when it is a plain word. */
#define MD_LANG_MAX 32

static const char REPL[] = "\xef\xbf\xbd";  /* U+FFFD */

struct rend {
	char *out;
	size_t cap, len;
	int err;
	const char *doc;
	size_t doc_n;
	unsigned img_depth;   /* inside an image: its alt text, text only */
	unsigned link_depth;  /* link spans open */
	unsigned paras, other; /* for `rich` */
	/* What is open, with the text that closes it (NULL: no tag was
	 * written). md4c's calls are not always balanced (0.5.2 leaves an
	 * emphasis it never entered for "[](*)*"), so a leave is only
	 * honoured when it matches the innermost open element; spans still
	 * open when a block begins or ends are closed then. Levels deeper
	 * than MD_NEST_MAX are only counted. */
	struct { int type; const char *close; } bs[MD_NEST_MAX],
		ss[MD_NEST_MAX];
	unsigned bdepth, sdepth;
	struct md_ranges *rg;
	bool code_open, code_pending, code_start_known;
	size_t last_end;
};

/* ---- output ---- */

static void put(struct rend *r, const char *s, size_t n)
{
	if (r->err)
		return;
	if (!r->out) {          /* counting only (the splitter's first pass) */
		r->len += n;
		return;
	}
	if (n >= r->cap - r->len) {
		r->err = ERR_TOOBIG;
		return;
	}
	memcpy(r->out + r->len, s, n);
	r->len += n;
	r->out[r->len] = '\0';
}

static void puts_(struct rend *r, const char *s)
{
	put(r, s, strlen(s));
}

/* Text, escaped for HTML element content and attribute values; invalid
 * UTF-8 and control characters but tab and newline become U+FFFD. */
static void put_text(struct rend *r, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n && !r->err) {
		size_t run = i;
		while (run < n && p[run] >= 0x20 && p[run] < 0x7f &&
		       p[run] != '&' && p[run] != '<' && p[run] != '>' &&
		       p[run] != '"')
			run++;
		put(r, s + i, run - i);
		if ((i = run) == n)
			break;
		if (p[i] >= 0x80) {
			size_t k = json_utf8_seq(p + i, n - i);
			if (k) {
				put(r, s + i, k);
				i += k;
				continue;
			}
			put(r, REPL, 3);
		} else if (p[i] == '&') {
			put(r, "&amp;", 5);
		} else if (p[i] == '<') {
			put(r, "&lt;", 4);
		} else if (p[i] == '>') {
			put(r, "&gt;", 4);
		} else if (p[i] == '"') {
			put(r, "&quot;", 6);
		} else if (p[i] == '\n' || p[i] == '\t') {
			put(r, s + i, 1);
		} else {
			put(r, REPL, 3);
		}
		i++;
	}
}

/* An entity's code point as UTF-8; NUL, surrogates and values past
 * U+10FFFF become U+FFFD (as HTML says). */
static size_t utf8_enc(unsigned cp, char *o)
{
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	return json_utf8_put(cp, o);
}

/* Decodes one entity "&...;" into o[0..8); returns its length, or 0 when
 * it is no entity we know (the caller shows it as text). */
static size_t entity_dec(const char *s, size_t n, char *o)
{
	unsigned long cp = 0;
	size_t i, k;

	if (n < 3 || s[0] != '&' || s[n - 1] != ';')
		return 0;
	if (s[1] != '#') {
		const ENTITY *e = entity_lookup(s, n);
		if (!e)
			return 0;
		k = utf8_enc(e->codepoints[0], o);
		if (e->codepoints[1])
			k += utf8_enc(e->codepoints[1], o + k);
		return k;
	}
	bool hex = n > 3 && (s[2] == 'x' || s[2] == 'X');
	for (i = hex ? 3 : 2; i < n - 1; i++) {
		unsigned d;
		char c = s[i];
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (hex && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (hex && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return 0;
		cp = cp * (hex ? 16 : 10) + d;
		if (cp > 0x10ffff)
			cp = 0x110000;  /* stays out of range, no overflow */
	}
	return utf8_enc((unsigned)cp, o);
}

static void put_entity(struct rend *r, const char *s, size_t n)
{
	char o[8];
	size_t k = entity_dec(s, n, o);

	if (k)
		put_text(r, o, k);
	else
		put_text(r, s, n);
}

/* ---- attributes ---- */

/* Decodes an md4c attribute (text with entities) into o[0..cap); returns
 * its length, or (size_t)-1 when it does not fit. */
static size_t attr_dec(const MD_ATTRIBUTE *a, char *o, size_t cap)
{
	size_t len = 0;
	char tmp[8];

	for (unsigned i = 0; a->substr_offsets &&
	     a->substr_offsets[i] < a->size; i++) {
		const char *s = a->text + a->substr_offsets[i];
		size_t n = a->substr_offsets[i + 1] - a->substr_offsets[i];
		if (a->substr_types[i] == MD_TEXT_ENTITY) {
			size_t k = entity_dec(s, n, tmp);
			if (k) {
				s = tmp;
				n = k;
			}
		} else if (a->substr_types[i] == MD_TEXT_NULLCHAR) {
			s = REPL;
			n = 3;
		}
		if (n >= cap - len)
			return (size_t)-1;
		memcpy(o + len, s, n);
		len += n;
	}
	o[len] = '\0';
	return len;
}

static bool scheme_is(const char *u, size_t n, const char *scheme)
{
	size_t k = strlen(scheme);

	if (n <= k || u[k] != ':')
		return false;
	for (size_t i = 0; i < k; i++) {
		char c = u[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != scheme[i])
			return false;
	}
	return true;
}

bool md_link_safe(const char *url, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)url[i];
		if (c <= 0x20 || c == 0x7f)
			return false;
	}
	if (scheme_is(url, n, "http") || scheme_is(url, n, "https")) {
		size_t k = url[4] == ':' ? 5 : 6;
		return n > k + 2 && url[k] == '/' && url[k + 1] == '/' &&
		       url[k + 2] != '/';
	}
	if (scheme_is(url, n, "mailto"))
		return n > 7;
	if (scheme_is(url, n, "matrix"))
		return n > 7;
	return false;
}

/* A URL in an href: attribute-escaped, and percent-encoded where a
 * browser would do it anyway (space, controls, non-ASCII, a few marks). */
static void put_url(struct rend *r, const char *u, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n && !r->err; i++) {
		unsigned char c = (unsigned char)u[i];
		if (c == '&') {
			put(r, "&amp;", 5);
		} else if (c <= 0x20 || c >= 0x7f || strchr("\"'<>\\^`{|}", c)) {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			put(r, e, 3);
		} else {
			put(r, u + i, 1);
		}
	}
}

/* Opens <a href> for a safe target; returns whether it did. */
static bool open_link(struct rend *r, const MD_ATTRIBUTE *href)
{
	char url[MD_URL_MAX];
	size_t n = attr_dec(href, url, sizeof url);

	if (n == (size_t)-1 || !md_link_safe(url, n))
		return false;
	puts_(r, "<a href=\"");
	put_url(r, url, n);
	puts_(r, "\">");
	return true;
}

static void open_code(struct rend *r, const MD_BLOCK_CODE_DETAIL *d)
{
	char lang[MD_LANG_MAX + 1];
	size_t n = attr_dec(&d->lang, lang, sizeof lang);
	bool ok = n != (size_t)-1 && n > 0;

	for (size_t i = 0; ok && i < n; i++) {
		char c = lang[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		     (c >= '0' && c <= '9') || strchr("_+#.-", c);
	}
	if (!ok) {
		puts_(r, "<pre><code>");
		return;
	}
	puts_(r, "<pre><code class=\"language-");
	put(r, lang, n);
	puts_(r, "\">");
}

/* ---- code ranges (for the splitter) ---- */

static size_t line_start(const struct rend *r, size_t pos)
{
	while (pos > 0 && r->doc[pos - 1] != '\n' && r->doc[pos - 1] != '\r')
		pos--;
	return pos;
}

static bool in_doc(const struct rend *r, const char *p)
{
	return r->doc && p >= r->doc && p < r->doc + r->doc_n;
}

static void code_enter(struct rend *r, const MD_BLOCK_CODE_DETAIL *d)
{
	struct md_ranges *g = r->rg;

	if (!g || g->cap == 0)
		return;
	if (g->n == g->cap) {
		/* Out of slots: the last range grows over this block too. */
		r->code_open = true;
		r->code_start_known = true;
		r->code_pending = false;
		return;
	}
	g->r[g->n][0] = r->last_end;
	g->r[g->n][1] = r->doc_n;
	r->code_start_known = false;
	if (d->fence_char && in_doc(r, d->info.text)) {
		g->r[g->n][0] = line_start(r, (size_t)(d->info.text - r->doc));
		r->code_start_known = true;
	}
	g->n++;
	r->code_open = true;
	r->code_pending = false;
}

static void code_text(struct rend *r, const char *p, size_t n)
{
	struct md_ranges *g = r->rg;
	size_t pos;

	if (!g || !in_doc(r, p) || n == 0)
		return;
	pos = (size_t)(p - r->doc);
	if (r->code_pending && g->n) {
		g->r[g->n - 1][1] = line_start(r, pos);
		r->code_pending = false;
	}
	if (r->code_open && !r->code_start_known && g->n) {
		g->r[g->n - 1][0] = line_start(r, pos);
		r->code_start_known = true;
	}
	r->last_end = pos + n;
}

/* ---- md4c callbacks ---- */

static const char *const H_CLOSE[] = {
	"</h1>\n", "</h2>\n", "</h3>\n", "</h4>\n", "</h5>\n", "</h6>\n"
};

/* Opens block t; returns the text that closes it, or NULL. */
static const char *open_block(struct rend *r, MD_BLOCKTYPE t, void *d)
{
	static const char *const tag[][2] = {
		[MD_BLOCK_QUOTE] = { "<blockquote>\n", "</blockquote>\n" },
		[MD_BLOCK_UL] = { "<ul>\n", "</ul>\n" },
		[MD_BLOCK_HR] = { "<hr />\n", NULL },
		[MD_BLOCK_TABLE] = { "<table>\n", "</table>\n" },
		[MD_BLOCK_THEAD] = { "<thead>\n", "</thead>\n" },
		[MD_BLOCK_TBODY] = { "<tbody>\n", "</tbody>\n" },
		[MD_BLOCK_TR] = { "<tr>\n", "</tr>\n" },
		[MD_BLOCK_TH] = { "<th>", "</th>\n" },
		[MD_BLOCK_TD] = { "<td>", "</td>\n" },
		[MD_BLOCK_P] = { "<p>", "</p>\n" },
	};
	char b[32];

	switch (t) {
	case MD_BLOCK_OL: {
		unsigned start = ((MD_BLOCK_OL_DETAIL *)d)->start;
		if (start == 1) {
			puts_(r, "<ol>\n");
		} else {
			int k = snprintf(b, sizeof b, "<ol start=\"%u\">\n", start);
			put(r, b, (size_t)k);
		}
		return "</ol>\n";
	}
	case MD_BLOCK_LI: {
		const MD_BLOCK_LI_DETAIL *li = d;
		puts_(r, "<li>");
		if (li->is_task)
			puts_(r, li->task_mark == ' ' ? "[ ] " : "[x] ");
		return "</li>\n";
	}
	case MD_BLOCK_H: {
		unsigned lv = ((MD_BLOCK_H_DETAIL *)d)->level;
		lv = lv < 1 ? 1 : lv > 6 ? 6 : lv;
		snprintf(b, sizeof b, "<h%u>", lv);
		puts_(r, b);
		return H_CLOSE[lv - 1];
	}
	case MD_BLOCK_CODE:
		open_code(r, d);
		return "</code></pre>\n";
	default:
		if ((size_t)t < sizeof tag / sizeof tag[0] && tag[t][0]) {
			puts_(r, tag[t][0]);
			return tag[t][1];
		}
		return NULL;     /* the document, raw HTML blocks */
	}
}

static void close_spans(struct rend *r)
{
	while (r->sdepth > 0) {
		unsigned i = --r->sdepth;
		if (i < MD_NEST_MAX && r->ss[i].close)
			puts_(r, r->ss[i].close);
	}
	r->img_depth = r->link_depth = 0;
}

static int enter_block(MD_BLOCKTYPE t, void *d, void *u)
{
	struct rend *r = u;

	close_spans(r);
	if (t == MD_BLOCK_P)
		r->paras++;
	else if (t != MD_BLOCK_DOC)
		r->other++;
	if (t == MD_BLOCK_CODE)
		code_enter(r, d);
	if (t == MD_BLOCK_DOC)
		return r->err ? 1 : 0;
	if (r->bdepth < MD_NEST_MAX) {
		r->bs[r->bdepth].type = (int)t;
		r->bs[r->bdepth].close = open_block(r, t, d);
	}
	r->bdepth++;
	return r->err ? 1 : 0;
}

static int leave_block(MD_BLOCKTYPE t, void *d, void *u)
{
	struct rend *r = u;

	(void)d;
	close_spans(r);
	if (t == MD_BLOCK_CODE) {
		r->code_open = false;
		r->code_pending = true;
	}
	if (t == MD_BLOCK_DOC || r->bdepth == 0)
		return r->err ? 1 : 0;
	if (r->bdepth > MD_NEST_MAX) {
		r->bdepth--;
	} else if (r->bs[r->bdepth - 1].type == (int)t) {
		r->bdepth--;
		if (r->bs[r->bdepth].close)
			puts_(r, r->bs[r->bdepth].close);
	}
	return r->err ? 1 : 0;
}

/* Opens span t; returns the text that closes it, or NULL. */
static const char *open_span(struct rend *r, MD_SPANTYPE t, void *d)
{
	static const char *const tag[][2] = {
		[MD_SPAN_EM] = { "<em>", "</em>" },
		[MD_SPAN_STRONG] = { "<strong>", "</strong>" },
		[MD_SPAN_CODE] = { "<code>", "</code>" },
		[MD_SPAN_DEL] = { "<del>", "</del>" },
		[MD_SPAN_U] = { "<u>", "</u>" },
	};

	if (r->img_depth) {
		r->img_depth += t == MD_SPAN_IMG;
		return NULL;            /* alt text: no markup */
	}
	if (t == MD_SPAN_IMG) {
		r->img_depth = 1;
		return r->link_depth == 0 &&
		       open_link(r, &((MD_SPAN_IMG_DETAIL *)d)->src) ? "</a>"
		                                                     : NULL;
	}
	if (t == MD_SPAN_A)
		return r->link_depth++ == 0 &&
		       open_link(r, &((MD_SPAN_A_DETAIL *)d)->href) ? "</a>"
		                                                    : NULL;
	if ((size_t)t < sizeof tag / sizeof tag[0] && tag[t][0]) {
		puts_(r, tag[t][0]);
		return tag[t][1];
	}
	return NULL;
}

static int enter_span(MD_SPANTYPE t, void *d, void *u)
{
	struct rend *r = u;

	r->other++;
	if (r->sdepth < MD_NEST_MAX) {
		r->ss[r->sdepth].type = (int)t;
		r->ss[r->sdepth].close = open_span(r, t, d);
	}
	r->sdepth++;
	return r->err ? 1 : 0;
}

static int leave_span(MD_SPANTYPE t, void *d, void *u)
{
	struct rend *r = u;
	unsigned i;

	(void)d;
	if (r->sdepth == 0)
		return 0;
	if (r->sdepth > MD_NEST_MAX) {
		r->sdepth--;
		return 0;
	}
	i = r->sdepth - 1;
	if (r->ss[i].type != (int)t)
		return 0;              /* a leave md4c never entered */
	r->sdepth--;
	if (r->ss[i].close)
		puts_(r, r->ss[i].close);
	if (t == MD_SPAN_IMG && r->img_depth)
		r->img_depth--;
	else if (t == MD_SPAN_A && !r->img_depth && r->link_depth)
		r->link_depth--;
	return r->err ? 1 : 0;
}

static int text(MD_TEXTTYPE t, const MD_CHAR *s, MD_SIZE n, void *u)
{
	struct rend *r = u;

	code_text(r, s, n);
	switch (t) {
	case MD_TEXT_NULLCHAR:
		put(r, REPL, 3);
		break;
	case MD_TEXT_BR: case MD_TEXT_SOFTBR:
		if (r->img_depth) {
			put(r, " ", 1);
		} else {
			r->other++;
			puts_(r, "<br />\n");
		}
		break;
	case MD_TEXT_ENTITY:
		put_entity(r, s, n);
		break;
	default:  /* normal, code, math and (never expected) HTML: as text */
		put_text(r, s, n);
	}
	return r->err ? 1 : 0;
}

int md_render_rg(const char *md, size_t n, char *out, size_t cap,
                 size_t *outlen, bool *rich, struct md_ranges *rg)
{
	struct rend r = { .out = out, .cap = cap, .doc = md, .doc_n = n,
	                  .rg = rg };
	MD_PARSER p = { .flags = MD_FLAGS, .enter_block = enter_block,
	                .leave_block = leave_block, .enter_span = enter_span,
	                .leave_span = leave_span, .text = text };
	int ret;

	if (!out && !rg)
		return ERR_INVAL;
	if (out && cap == 0)
		return ERR_TOOBIG;
	if (out)
		out[0] = '\0';
	if (rg)
		rg->n = 0;
	if (n > UINT32_MAX)
		return ERR_TOOBIG;
	ret = md_parse(md, (MD_SIZE)n, &p, &r);
	close_spans(&r);
	while (r.bdepth > 0) {   /* whatever md4c left open */
		unsigned i = --r.bdepth;
		if (i < MD_NEST_MAX && r.bs[i].close)
			puts_(&r, r.bs[i].close);
	}
	if (rg && r.code_pending && rg->n)
		rg->r[rg->n - 1][1] = n;
	if (r.err || ret) {
		if (out)
			out[0] = '\0';
		return r.err ? r.err : ERR_NOMEM;
	}
	if (outlen)
		*outlen = r.len;
	if (rich)
		*rich = r.other > 0 || r.paras > 1;
	return 0;
}

int md_render(const char *md, size_t n, char *out, size_t cap,
              size_t *outlen, bool *rich)
{
	return md_render_rg(md, n, out, cap, outlen, rich, NULL);
}

/* ---- body and sizes ---- */

int md_body(const char *md, size_t n, char *out, size_t cap, size_t *outlen)
{
	const unsigned char *p = (const unsigned char *)md;
	size_t len = 0, i = 0;

	if (!out || cap == 0)
		return ERR_TOOBIG;
	while (n > 0 && (md[n - 1] == '\n' || md[n - 1] == '\r' ||
	                 md[n - 1] == ' ' || md[n - 1] == '\t'))
		n--;
	while (i < n) {
		size_t k = p[i] >= 0x80 ? json_utf8_seq(p + i, n - i) : 1;
		const char *s = md + i;
		size_t w = k;
		if (k == 0 || p[i] == 0) {
			s = REPL;
			w = 3;
			k = 1;
		}
		if (w >= cap - len) {
			out[0] = '\0';
			return ERR_TOOBIG;
		}
		memcpy(out + len, s, w);
		len += w;
		i += k;
	}
	out[len] = '\0';
	if (outlen)
		*outlen = len;
	return 0;
}

size_t md_json_len(const char *s, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\' || c == '\n' || c == '\r' ||
		    c == '\t' || c == '\b' || c == '\f')
			len += 2;
		else if (c < 0x20)
			len += 6;
		else
			len++;
	}
	return len;
}
