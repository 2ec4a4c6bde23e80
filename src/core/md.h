/*
 * md: an agent's Markdown as a Matrix message: `formatted_body`
 * (org.matrix.custom.html) and the plain `body`, and long answers cut into
 * several messages.
 *
 * Why our own renderer over md4c's parser callbacks (md_parse) rather
 * than md4c-html with a filter afterwards: the HTML that leaves is then
 * safe by construction. Every tag is written by this file from a fixed
 * list (a subset of the tags the Matrix spec recommends clients permit,
 * client-server API, m.room.message "HTML tags to permit"), each one
 * opened on md4c's enter callback and closed on its leave callback, so the
 * tags always balance; attributes are only href (a checked scheme), start
 * on <ol> and class="language-x" on <code>. md4c-html would emit <img>,
 * <input type="checkbox">, title= and align= attributes we would have to
 * find and strip again in a second HTML parser, and one mistake there is
 * an injection. Raw HTML is off in the parser (MD_FLAG_NOHTML) and, in
 * depth, any MD_TEXT_HTML that still came through is escaped as text.
 *
 * What a person sees:
 *   headings h1-h6, paragraphs, emphasis/strong, ~~strike~~ (<del>), code
 *   spans, fenced and indented code (<pre><code class="language-py">, the
 *   class Element uses for highlighting), lists (start number kept),
 *   task lists as "[x] ", block quotes, rules, tables, links with http,
 *   https, mailto or matrix: (anything else -- javascript:, data:,
 *   relative -- shows as its text only), bare URLs and e-mail addresses as
 *   links, images as a link to the image (clients only show mxc:// images)
 *   or as their alt text. A single newline is a line break (<br />): agents
 *   write chat, and the body shows the same lines.
 *
 * Output is always valid UTF-8 (invalid input bytes become U+FFFD) and
 * bounded by the caller's buffer: hitting the cap is ERR_TOOBIG, never a
 * cut HTML document.
 *
 * `body`: the Markdown source itself, as Element sends it, so a client
 * that shows no HTML (and a reply quoting the message) shows what the agent
 * wrote; invalid UTF-8 and NUL become U+FFFD, trailing blank lines go.
 */
#ifndef LETTAMX_MD_H
#define LETTAMX_MD_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes of an event's JSON outside body and formatted_body: msgtype,
 * format, the keys, and a thread or reply relation (m.relates_to with two
 * event ids, rel_type, is_falling_back). Part of the split budget. */
#define MD_EVENT_OVERHEAD 512

/* Renders Markdown md[0..n) as Matrix HTML into out[0..cap), always
 * NUL-terminated; *outlen (may be NULL) gets its length and *rich (may be
 * NULL) whether the HTML carries formatting beyond one plain paragraph
 * (when false the bridge may send the body alone). Returns 0, ERR_TOOBIG
 * (out is too small; out then holds "" -- never a cut document), ERR_NOMEM
 * (md4c could not allocate). md is borrowed. */
int md_render(const char *md, size_t n, char *out, size_t cap,
              size_t *outlen, bool *rich);

/* Writes the plain body for md[0..n) into out[0..cap) (NUL-terminated):
 * the source with invalid UTF-8 and NUL as U+FFFD and trailing whitespace
 * lines removed. Returns 0 or ERR_TOOBIG. */
int md_body(const char *md, size_t n, char *out, size_t cap, size_t *outlen);

/* True when url[0..n) is a link we let out: scheme http or https followed
 * by "//" and a host, mailto: or matrix: with something after the colon;
 * no whitespace or control character anywhere. Case-insensitive scheme. */
bool md_link_safe(const char *url, size_t n);

/* Bytes s[0..n) take once escaped as a JSON string (without the quotes),
 * as json_w writes them. */
size_t md_json_len(const char *s, size_t n);

/* ---- long answers ---- */

/* Cutting md[0..n) into messages whose JSON stays within a budget.
 *
 *   struct md_split sp;
 *   md_split_init(&sp, text, len, 60000, work, work_cap);
 *   while ((r = md_split_next(&sp, body, bcap, &blen, html, hcap, &hlen))
 *          > 0)
 *       ... send part (body, html) ...
 *   if (r < 0) ... error ...
 *
 * Parts follow the source in order and, put together, hold all of it.
 * A cut falls after a blank line (a paragraph, list or heading boundary)
 * outside every code block as md4c parsed it (fenced, indented, inside
 * lists and quotes); failing that, a fenced code block longer than the
 * budget becomes several complete code blocks with the same fence and
 * language, cut at line ends; a paragraph longer than the budget is cut
 * at a line end, else after a space, else between two UTF-8 characters.
 * Each part is its own Markdown document, rendered on its own, so its HTML
 * balances.
 *
 * Budget: md_json_len(body) + md_json_len(html) + MD_EVENT_OVERHEAD <=
 * limit. An edit (m.replace) carries the content twice (fallback and
 * m.new_content): use limit / 2 for a part that will be sent as an edit.
 * Reference-style link definitions only apply inside their own part. */
struct md_split {
	const char *src;
	size_t n, pos;
	size_t limit;
	size_t (*code)[2];     /* code ranges [start, end) of the source */
	unsigned ncode, code_cap;
	int err;               /* sticky */
	/* inside an oversized fenced code block being cut */
	bool in_fence;
	size_t fence_open, fence_open_len; /* the opening fence line */
	size_t fence_end;                  /* end of its content */
	char fence_close[16];
	int ready;             /* code ranges computed */
};

/* Prepares to split md[0..n) (borrowed, must outlive the split) with a
 * budget of `limit` bytes per event (>= 2048). Pass md_body's output: a
 * part's body is a slice of md, so md must be valid UTF-8 without NUL.
 * work[0..work_cap) (aligned as size_t) is scratch the split keeps: code
 * ranges, 16 bytes each; 16 KB holds 1,024, and more code blocks than
 * that only means fewer cut points (NULL, 0 works the same way). */
void md_split_init(struct md_split *sp, const char *md, size_t n,
                   size_t limit, void *work, size_t work_cap);

/* Writes the next part: its body into body[0..bcap) and its HTML into
 * html[0..hcap), both NUL-terminated, with their lengths (either length
 * pointer may be NULL). Both buffers must hold limit bytes (they are also
 * the scratch for measuring candidates). Returns 1 for a part, 0 when
 * there is none left, or a sticky error: ERR_INVAL (a limit under 2048,
 * a buffer under limit, or a piece of text of which not one character
 * fits), ERR_NOMEM. *rich as md_render. */
int md_split_next(struct md_split *sp, char *body, size_t bcap,
                  size_t *blen, char *html, size_t hcap, size_t *hlen,
                  bool *rich);

#endif
