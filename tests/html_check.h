/*
 * html_check: an independent checker of the HTML md.c lets out, shared by
 * tests/test_md.c and tests/fuzz/fuzz_md.c. It shares no code with src/core/md.c:
 * it re-reads the output as a browser would and says what is wrong.
 *
 * Accepted: valid UTF-8; text without a raw '<' or '>' (only entities
 * &amp; &lt; &gt; &quot;); tags from the Matrix subset md.c may write,
 * properly nested; attributes only href="..." on <a> with a safe scheme,
 * start="N" on <ol>, class="language-x" on <code>.
 */
#ifndef LETTAMX_HTML_CHECK_H
#define LETTAMX_HTML_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"

#define HC_DEPTH 256

static const char *const hc_tags[] = {
	"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol",
	"li", "pre", "code", "em", "strong", "del", "u", "a", "table", "thead",
	"tbody", "tr", "th", "td", NULL
};

static bool hc_known(const char *t, size_t n)
{
	for (int i = 0; hc_tags[i]; i++)
		if (strlen(hc_tags[i]) == n && memcmp(hc_tags[i], t, n) == 0)
			return true;
	return false;
}

static bool hc_prefix(const char *s, size_t n, const char *p)
{
	size_t k = strlen(p);
	return n >= k && strncasecmp(s, p, k) == 0;
}

/* The attribute text between the tag name and '>' */
static bool hc_attrs(const char *tag, size_t tn, const char *a, size_t n)
{
	if (n == 0)
		return true;
	if (tn == 1 && tag[0] == 'a') {
		if (!hc_prefix(a, n, " href=\"") || a[n - 1] != '"')
			return false;
		const char *u = a + 7;
		size_t un = n - 8;
		if (memchr(u, '"', un) || memchr(u, '<', un))
			return false;
		return hc_prefix(u, un, "http://") || hc_prefix(u, un, "https://") ||
		       hc_prefix(u, un, "mailto:") || hc_prefix(u, un, "matrix:");
	}
	if (tn == 2 && memcmp(tag, "ol", 2) == 0) {
		if (!hc_prefix(a, n, " start=\"") || a[n - 1] != '"' || n < 10)
			return false;
		for (size_t i = 8; i < n - 1; i++)
			if (a[i] < '0' || a[i] > '9')
				return false;
		return true;
	}
	if (tn == 4 && memcmp(tag, "code", 4) == 0) {
		if (!hc_prefix(a, n, " class=\"language-") || a[n - 1] != '"')
			return false;
		for (size_t i = 17; i < n - 1; i++) {
			char c = a[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || strchr("_+#.-", c)))
				return false;
		}
		return n > 18;
	}
	return false;
}

/* Returns NULL when html[0..n) is acceptable, else what is wrong. */
static const char *html_check(const char *html, size_t n)
{
	const char *stack[HC_DEPTH];
	size_t slen[HC_DEPTH];
	int depth = 0;
	size_t i = 0;

	if (!json_utf8_valid(html, n))
		return "not valid UTF-8";
	while (i < n) {
		if (html[i] == '>')
			return "raw '>' in text";
		if (html[i] == '&') {
			const char *e = html + i;
			if (!hc_prefix(e, n - i, "&amp;") && !hc_prefix(e, n - i, "&lt;") &&
			    !hc_prefix(e, n - i, "&gt;") && !hc_prefix(e, n - i, "&quot;"))
				return "raw '&' in text";
		}
		if (html[i] != '<') {
			i++;
			continue;
		}
		const char *end = memchr(html + i, '>', n - i);
		if (!end)
			return "unterminated tag";
		const char *t = html + i + 1;
		size_t tl = (size_t)(end - t);
		bool close = tl && t[0] == '/';
		if (close) {
			t++;
			tl--;
		}
		size_t nm = 0;
		while (nm < tl && t[nm] >= 'a' && t[nm] <= 'z')
			nm++;
		while (nm < tl && t[nm] >= '1' && t[nm] <= '6' && t[0] == 'h')
			nm++;
		if ((nm == 2 && memcmp(t, "br", 2) == 0) ||
		    (nm == 2 && memcmp(t, "hr", 2) == 0)) {
			if (close || tl != 4 || memcmp(t + 2, " /", 2) != 0)
				return "bad void tag";
		} else if (!hc_known(t, nm)) {
			return "tag not allowed";
		} else if (close) {
			if (tl != nm || depth == 0 || slen[depth - 1] != nm ||
			    memcmp(stack[depth - 1], t, nm) != 0)
				return "unbalanced close tag";
			depth--;
		} else {
			if (!hc_attrs(t, nm, t + nm, tl - nm))
				return "attribute not allowed";
			if (depth == HC_DEPTH)
				return "too deep";
			stack[depth] = t;
			slen[depth++] = nm;
		}
		i = (size_t)(end - html) + 1;
	}
	return depth ? "unclosed tag" : NULL;
}

#endif
