/* Tests of md: Markdown -> Matrix HTML, the body, the link check. The
 * splitter's tests are in test_md_split.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "html_check.h"
#include "core/json.h"
#include "core/md.h"

static char out[65536];

/* Renders s; returns the HTML (static) or "ERR <code>". */
static const char *html(const char *s)
{
	size_t n = 0;
	int r = md_render(s, strlen(s), out, sizeof out, &n, NULL);

	if (r != 0) {
		snprintf(out, sizeof out, "ERR %d", r);
		return out;
	}
	if (n != strlen(out))
		return "length mismatch";
	const char *bad = html_check(out, n);
	if (bad) {
		fprintf(stderr, "html_check: %s in %s\n", bad, out);
		return bad;
	}
	return out;
}

static void test_blocks(void)
{
	CHECK_STR(html("# Title\n\nSome *em* and **strong**."),
	          "<h1>Title</h1>\n<p>Some <em>em</em> and "
	          "<strong>strong</strong>.</p>\n");
	CHECK_STR(html("###### six"), "<h6>six</h6>\n");
	CHECK_STR(html("- a\n- b\n"), "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n");
	CHECK_STR(html("3. c\n4. d\n"),
	          "<ol start=\"3\">\n<li>c</li>\n<li>d</li>\n</ol>\n");
	CHECK_STR(html("1. one\n"), "<ol>\n<li>one</li>\n</ol>\n");
	CHECK_STR(html("> quoted & <escaped>"),
	          "<blockquote>\n<p>quoted &amp; &lt;escaped&gt;</p>\n"
	          "</blockquote>\n");
	CHECK_STR(html("a\n\n---\n\nb"), "<p>a</p>\n<hr />\n<p>b</p>\n");
	CHECK_STR(html("~~gone~~ `x<y`"),
	          "<p><del>gone</del> <code>x&lt;y</code></p>\n");
	CHECK_STR(html("- [x] done\n- [ ] todo\n"),
	          "<ul>\n<li>[x] done</li>\n<li>[ ] todo</li>\n</ul>\n");
	CHECK_STR(html("line one\nline two"),
	          "<p>line one<br />\nline two</p>\n");
}

static void test_code(void)
{
	CHECK_STR(html("```python\nprint(\"<hello>\")\n```\n"),
	          "<pre><code class=\"language-python\">print(&quot;&lt;hello"
	          "&gt;&quot;)\n</code></pre>\n");
	CHECK_STR(html("~~~c++ extra info\nint x;\n~~~"),
	          "<pre><code class=\"language-c++\">int x;\n</code></pre>\n");
	/* a language that is not a plain word gets no class at all */
	CHECK_STR(html("```py\"onload=x\nx\n```"),
	          "<pre><code>x\n</code></pre>\n");
	CHECK_STR(html("```\nplain\n```"), "<pre><code>plain\n</code></pre>\n");
	CHECK_STR(html("    indented\n"),
	          "<pre><code>indented\n</code></pre>\n");
}

static void test_table(void)
{
	CHECK_STR(html("| col | val |\n|-----|:---:|\n| a | 1 |\n"),
	          "<table>\n<thead>\n<tr>\n<th>col</th>\n<th>val</th>\n</tr>\n"
	          "</thead>\n<tbody>\n<tr>\n<td>a</td>\n<td>1</td>\n</tr>\n"
	          "</tbody>\n</table>\n");
}

static void test_raw_html_is_text(void)
{
	CHECK_STR(html("<script>alert(1)</script>"),
	          "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n");
	CHECK_STR(html("hi <img src=x onerror=alert(1)> there"),
	          "<p>hi &lt;img src=x onerror=alert(1)&gt; there</p>\n");
	CHECK_STR(html("<div>\nblock\n</div>"),
	          "<p>&lt;div&gt;<br />\nblock<br />\n&lt;/div&gt;</p>\n");
	/* entities decode to text and are escaped again, never to markup */
	CHECK_STR(html("&lt;b&gt; &amp; &#60;i&#x3e; &copy; &bogus;"),
	          "<p>&lt;b&gt; &amp; &lt;i&gt; \xc2\xa9 &amp;bogus;</p>\n");
	CHECK_STR(html("&#0; &#xD800; &#1114112; &#99999999;"),
	          "<p>\xef\xbf\xbd \xef\xbf\xbd \xef\xbf\xbd "
	          "&amp;#99999999;</p>\n");
}

static void test_links(void)
{
	CHECK_STR(html("[a link](https://example.org/x?a=1&b=2)"),
	          "<p><a href=\"https://example.org/x?a=1&amp;b=2\">a link</a>"
	          "</p>\n");
	CHECK_STR(html("[t](http://h/a b \"title\")"), "<p>[t](http://h/a b "
	          "&quot;title&quot;)</p>\n");
	/* a target with a space in it is not linked */
	CHECK_STR(html("[t](<http://h/a b> \"title\")"), "<p>t</p>\n");
	CHECK_STR(html("[t](<http://h/\xc3\xa9> \"title\")"),
	          "<p><a href=\"http://h/%C3%A9\">t</a></p>\n");
	CHECK_STR(html("[m](mailto:a@b.org) [r](matrix:r/room:example.org)"),
	          "<p><a href=\"mailto:a@b.org\">m</a> "
	          "<a href=\"matrix:r/room:example.org\">r</a></p>\n");
	CHECK_STR(html("[x](javascript:alert(1))"), "<p>x</p>\n");
	CHECK_STR(html("[x](JaVaScRiPt:alert(1))"), "<p>x</p>\n");
	CHECK_STR(html("[x](jav&#97;script:alert(1))"), "<p>x</p>\n");
	CHECK_STR(html("[x](data:text/html;base64,PHNjcmlwdD4=)"), "<p>x</p>\n");
	CHECK_STR(html("[x](/relative/path)"), "<p>x</p>\n");
	CHECK_STR(html("[x](ftp://host/file)"), "<p>x</p>\n");
	CHECK_STR(html("[*x*](vbscript:y)"), "<p><em>x</em></p>\n");
	/* md4c 0.5.2 leaves an emphasis it never entered here (fuzz_md) */
	CHECK_STR(html("[](*)*"), "<p></p>\n");
	CHECK_STR(html("[x](https:&#x2F;&#x2F;ok.example)"),
	          "<p><a href=\"https://ok.example\">x</a></p>\n");
	CHECK_STR(html("see https://example.org/a and www.example.com or "
	               "me@example.org"),
	          "<p>see <a href=\"https://example.org/a\">https://example.org/"
	          "a</a> and <a href=\"http://www.example.com\">www.example.com"
	          "</a> or <a href=\"mailto:me@example.org\">me@example.org</a>"
	          "</p>\n");
	CHECK_STR(html("<https://auto.example/x>"),
	          "<p><a href=\"https://auto.example/x\">https://auto.example/x"
	          "</a></p>\n");
	CHECK_STR(html("[q](https://e.org/\"onmouseover=\"x)"),
	          "<p><a href=\"https://e.org/%22onmouseover=%22x\">q</a></p>\n");
}

static void test_images(void)
{
	CHECK_STR(html("![a *cat*](https://e.org/cat.png)"),
	          "<p><a href=\"https://e.org/cat.png\">a cat</a></p>\n");
	CHECK_STR(html("![alt](javascript:x)"), "<p>alt</p>\n");
	CHECK_STR(html("[![in](https://e.org/i.png)](https://e.org/page)"),
	          "<p><a href=\"https://e.org/page\">in</a></p>\n");
}

/* The answer issue 12 names: headings, lists, code with a language, a
 * table, a link, raw <script> and <img onerror>, in one document. */
static void test_issue_answer(void)
{
	const char *md = "# Report\n\n## Steps\n\n1. one\n2. two\n\n- a\n- b\n\n"
	                 "```js\nlet x = 1 < 2;\n```\n\n| k | v |\n|---|---|\n"
	                 "| a | 1 |\n\nSee [docs](https://example.org/d).\n\n"
	                 "<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n";
	const char *h = html(md);
	char body[512];

	CHECK(strstr(h, "<h1>Report</h1>") != NULL);
	CHECK(strstr(h, "<h2>Steps</h2>") != NULL);
	CHECK(strstr(h, "<ol>\n<li>one</li>") != NULL);
	CHECK(strstr(h, "<ul>\n<li>a</li>") != NULL);
	CHECK(strstr(h, "<pre><code class=\"language-js\">let x = 1 &lt; 2;\n"
	             "</code></pre>") != NULL);
	CHECK(strstr(h, "<td>a</td>") != NULL);
	CHECK(strstr(h, "<a href=\"https://example.org/d\">docs</a>") != NULL);
	CHECK(strstr(h, "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>") != NULL);
	CHECK(strstr(h, "<p>&lt;img src=x onerror=alert(1)&gt;</p>") != NULL);
	CHECK(strstr(h, "<script") == NULL);
	CHECK(strstr(h, "<img") == NULL);
	CHECK_EQ(md_body(md, strlen(md), body, sizeof body, NULL), 0);
	CHECK_EQ(strlen(body), strlen(md) - 1);     /* the source, trimmed */
	CHECK(strncmp(body, md, strlen(body)) == 0);
}

static void test_link_safe(void)
{
	CHECK(md_link_safe("https://a", 9));
	CHECK(md_link_safe("HTTP://a", 8));
	CHECK(!md_link_safe("http:/a", 7));
	CHECK(!md_link_safe("https:///a", 10));
	CHECK(!md_link_safe("https://", 8));
	CHECK(!md_link_safe("https://a b", 11));
	CHECK(!md_link_safe("https://a\tb", 11));
	CHECK(!md_link_safe("mailto:", 7));
	CHECK(md_link_safe("mailto:x", 8));
	CHECK(!md_link_safe("javascript:x", 12));
	CHECK(!md_link_safe(" https://a", 10));
	CHECK(!md_link_safe("", 0));
}

static void test_utf8(void)
{
	const char bad[] = "caf\xc3\xa9 \xff\xfe \xe2\x82 end \xed\xa0\x80";
	size_t n;

	CHECK_EQ(md_render(bad, sizeof bad - 1, out, sizeof out, &n, NULL), 0);
	CHECK(json_utf8_valid(out, n));
	CHECK_STR(out, "<p>caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd "
	          "\xef\xbf\xbd\xef\xbf\xbd end \xef\xbf\xbd\xef\xbf\xbd"
	          "\xef\xbf\xbd</p>\n");
	const char nul[] = "a\0b";
	CHECK_EQ(md_render(nul, 3, out, sizeof out, &n, NULL), 0);
	CHECK_STR(out, "<p>a\xef\xbf\xbd" "b</p>\n");
	CHECK_EQ(md_render("a\x01" "b", 3, out, sizeof out, &n, NULL), 0);
	CHECK_STR(out, "<p>a\xef\xbf\xbd" "b</p>\n");
}

static void test_toobig(void)
{
	char small[16];
	size_t n = 99;

	CHECK_EQ(md_render("**much too long for this**", 26, small,
	                   sizeof small, &n, NULL), ERR_TOOBIG);
	CHECK_STR(small, "");
	CHECK_EQ(n, 99);
	/* exactly fitting: the HTML and its NUL */
	CHECK_EQ(md_render("hi", 2, small, 11, &n, NULL), 0);
	CHECK_STR(small, "<p>hi</p>\n");
	CHECK_EQ(md_render("hi", 2, small, 10, &n, NULL), ERR_TOOBIG);
	CHECK_EQ(md_render("hi", 2, small, 0, &n, NULL), ERR_TOOBIG);
}

static void test_rich(void)
{
	bool rich = true;

	CHECK_EQ(md_render("just words", 10, out, sizeof out, NULL, &rich), 0);
	CHECK(!rich);
	CHECK_EQ(md_render("a\n\nb", 4, out, sizeof out, NULL, &rich), 0);
	CHECK(rich);
	CHECK_EQ(md_render("*a*", 3, out, sizeof out, NULL, &rich), 0);
	CHECK(rich);
	CHECK_EQ(md_render("a\nb", 3, out, sizeof out, NULL, &rich), 0);
	CHECK(rich);
	CHECK_EQ(md_render("", 0, out, sizeof out, NULL, &rich), 0);
	CHECK_STR(out, "");
	CHECK(!rich);
}

static void test_body(void)
{
	char b[64];
	size_t n;

	CHECK_EQ(md_body("# Hi\n\n**x**\n\n  \n", 16, b, sizeof b, &n), 0);
	CHECK_STR(b, "# Hi\n\n**x**");
	CHECK_EQ(n, 11);
	CHECK_EQ(md_body("a\xff\0z", 4, b, sizeof b, &n), 0);
	CHECK_STR(b, "a\xef\xbf\xbd\xef\xbf\xbdz");
	CHECK_EQ(md_body("abcdef", 6, b, 6, &n), ERR_TOOBIG);
	CHECK_EQ(md_body("abcdef", 6, b, 7, &n), 0);
}

static void test_json_len(void)
{
	CHECK_EQ(md_json_len("a\"b\\c\n\x01", 7), 1 + 2 + 1 + 2 + 1 + 2 + 6);
	CHECK_EQ(md_json_len("\xc3\xa9", 2), 2);
}

/* Nested and pathological input stays balanced and checked. */
static void test_nesting(void)
{
	static char deep[20000];
	size_t k = 0;

	for (int i = 0; i < 2000; i++)
		deep[k++] = '>';
	memcpy(deep + k, " x\n\n", 4);
	k += 4;
	for (int i = 0; i < 1000 && k < sizeof deep - 8; i++) {
		memcpy(deep + k, "*[_", 3);
		k += 3;
	}
	deep[k] = '\0';
	size_t n;
	static char big[1 << 20];
	CHECK_EQ(md_render(deep, k, big, sizeof big, &n, NULL), 0);
	CHECK(html_check(big, n) == NULL);
	/* the tags of the first 32 levels, the text of all */
	size_t quotes = 0;
	for (const char *p = big; (p = strstr(p, "<blockquote>")); p++)
		quotes++;
	CHECK_EQ(quotes, 32);
	CHECK(strchr(big, 'x') != NULL);
}

int main(void)
{
	RUN(test_blocks);
	RUN(test_code);
	RUN(test_table);
	RUN(test_raw_html_is_text);
	RUN(test_links);
	RUN(test_images);
	RUN(test_issue_answer);
	RUN(test_link_safe);
	RUN(test_utf8);
	RUN(test_toobig);
	RUN(test_rich);
	RUN(test_body);
	RUN(test_json_len);
	RUN(test_nesting);
	return harness_done("md");
}
