/* Tests of md_split: long answers as ordered parts within a budget, never
 * cut inside a code block or a UTF-8 character. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "harness.h"
#include "html_check.h"
#include "core/json.h"
#include "core/md.h"

#define LIMIT 60000

static char body[LIMIT], html[LIMIT];
static size_t work[2048][2];

struct result {
	int parts;
	int err;
	char *joined;       /* the bodies joined by "\n\n" */
	size_t jlen;
	int fence_parts;    /* parts whose body starts with a fence */
	int bad;            /* parts that broke a rule */
};

static size_t fences_in(const char *s, size_t n)
{
	size_t k = 0, i = 0;

	while (i < n) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t next = nl ? (size_t)(nl - s) + 1 : n;
		if (n - i >= 3 && (memcmp(s + i, "```", 3) == 0 ||
		                   memcmp(s + i, "~~~", 3) == 0))
			k++;
		i = next;
	}
	return k;
}

/* Splits src and checks every part: within the budget, valid UTF-8, HTML
 * accepted by html_check, fences balanced in the body. */
static struct result split(const char *src, size_t n, size_t limit)
{
	struct result res = { 0 };
	struct md_split sp;
	size_t bl, hl;
	int r;

	res.joined = malloc(n * 2 + 64);
	md_split_init(&sp, src, n, limit, work, sizeof work);
	while ((r = md_split_next(&sp, body, sizeof body, &bl, html,
	                          sizeof html, &hl, NULL)) > 0) {
		size_t cost = md_json_len(body, bl) + md_json_len(html, hl) +
		              MD_EVENT_OVERHEAD;
		const char *bad = html_check(html, hl);
		if (cost > limit || bad || !json_utf8_valid(body, bl) ||
		    fences_in(body, bl) % 2 || bl != strlen(body)) {
			fprintf(stderr, "part %d: cost %zu, %s, fences %zu\n",
			        res.parts, cost, bad ? bad : "html ok",
			        fences_in(body, bl));
			res.bad++;
		}
		if (bl >= 3 && memcmp(body, "```", 3) == 0)
			res.fence_parts++;
		if (res.parts++)
			memcpy(res.joined + res.jlen, "\n\n", 2), res.jlen += 2;
		if (res.jlen + bl < n * 2 + 32) {
			memcpy(res.joined + res.jlen, body, bl);
			res.jlen += bl;
		}
		if (res.parts > 10000)
			break;
	}
	res.err = r;
	res.joined[res.jlen] = '\0';
	return res;
}

/* The text with runs of blank lines folded, for order comparisons. */
static char *squeeze(const char *s)
{
	size_t n = strlen(s), k = 0;
	char *o = malloc(n + 1);

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' && k && o[k - 1] == '\n' && k > 1 &&
		    o[k - 2] == '\n')
			continue;
		o[k++] = s[i];
	}
	while (k && o[k - 1] == '\n')
		k--;
	o[k] = '\0';
	return o;
}

static void test_short_answer_is_one_part(void)
{
	const char *md = "# Hi\n\nshort **answer**\n";
	struct result r = split(md, strlen(md), LIMIT);
	char h[256];

	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.parts, 1);
	CHECK_STR(r.joined, "# Hi\n\nshort **answer**");
	CHECK_EQ(md_render(md, strlen(md), h, sizeof h, NULL, NULL), 0);
	CHECK_STR(html, "");   /* after the end the buffers are emptied */
	free(r.joined);
}

static void test_empty(void)
{
	struct result r = split("\n\n  \n", 5, LIMIT);

	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.parts, 0);
	free(r.joined);
}

/* 200 KB of sections with paragraphs, lists and code blocks. */
static char *answer(size_t size)
{
	char *s = malloc(size + 4096);
	size_t k = 0;
	int i = 0;

	while (k < size) {
		k += (size_t)snprintf(s + k, 4096, "## Section %d\n\nSome text "
		       "with **bold**, a [link](https://example.org/%d) and "
		       "<tags> & \"quotes\" that grow when escaped.\n\n- item one"
		       "\n- item two\n\n```python\ndef f%d(x):\n\n    return "
		       "x < %d\n```\n\n", i, i, i, i);
		i++;
	}
	s[k] = '\0';
	return s;
}

static void test_200k_answer(void)
{
	char *md = answer(200000);
	struct result r = split(md, strlen(md), LIMIT);
	char *a = squeeze(md), *b = squeeze(r.joined);

	CHECK_EQ(r.err, 0);
	/* ~215 KB of body and ~335 KB of HTML as JSON: parts nearly full */
	CHECK_INT(r.parts, >=, 10);
	CHECK_INT(r.parts, <=, 11);
	CHECK_EQ(r.bad, 0);
	CHECK_EQ(r.fence_parts, 0);    /* every cut fell between blocks */
	CHECK_STR(b, a);               /* all of it, in order */
	free(a);
	free(b);
	free(r.joined);
	free(md);
}

static void test_huge_code_block(void)
{
	size_t size = 150000, k = 0;
	char *md = malloc(size + 256);

	k += (size_t)snprintf(md, 64, "Before.\n\n```c\n");
	for (int i = 0; k < size; i++)
		k += (size_t)snprintf(md + k, 128, "printf(\"%d <&> line\");\n",
		                      i);
	k += (size_t)snprintf(md + k, 64, "```\n\nAfter.\n");
	struct result r = split(md, k, LIMIT);

	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.bad, 0);
	CHECK_INT(r.fence_parts, >=, 3);
	/* each code part is a complete block with the language */
	CHECK(strstr(r.joined, "Before.\n\n```c\nprintf(\"0 <&> line\");\n")
	      == r.joined);
	CHECK(strstr(r.joined, "```\n\nAfter.") != NULL);
	/* no line of code was lost or cut: count them */
	size_t lines = 0;
	for (const char *p = r.joined; (p = strstr(p, "<&> line\");\n")); p++)
		lines++;
	size_t want = 0;
	for (const char *p = md; (p = strstr(p, "<&> line\");\n")); p++)
		want++;
	CHECK_EQ(lines, want);
	free(r.joined);
	free(md);
}

static void test_code_in_list_not_cut(void)
{
	/* blank lines inside an indented fence in a list item are no cuts */
	size_t k = 0;
	char *md = malloc(120000);

	k += (size_t)snprintf(md, 64, "- item\n\n  ```sh\n");
	for (int i = 0; i < 400; i++)
		k += (size_t)snprintf(md + k, 64, "  echo %d\n\n", i);
	k += (size_t)snprintf(md + k, 64, "  ```\n\n");
	for (int i = 0; k < 110000; i++)
		k += (size_t)snprintf(md + k, 128, "Paragraph %d of filler text "
		                      "that goes on.\n\n", i);
	struct result r = split(md, k, LIMIT);

	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.bad, 0);
	CHECK(strstr(r.joined, "  echo 399\n\n  ```") != NULL);
	/* the code block is whole in the first part */
	struct md_split sp;
	md_split_init(&sp, md, k, LIMIT, work, sizeof work);
	CHECK_EQ(md_split_next(&sp, body, sizeof body, NULL, html, sizeof html,
	                       NULL, NULL), 1);
	CHECK(strstr(body, "  echo 399\n\n  ```") != NULL);
	CHECK(strstr(html, "echo 399\n\n</code></pre>") != NULL);
	free(r.joined);
	free(md);
}

static void test_one_long_line(void)
{
	/* 100 KB of 2-byte characters, no space, no newline */
	size_t k = 0;
	char *md = malloc(100010);

	while (k < 100000) {
		md[k++] = '\xc3';
		md[k++] = '\xa9';
	}
	struct result r = split(md, k, LIMIT);

	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.bad, 0);
	CHECK_INT(r.parts, >=, 2);
	CHECK_EQ(r.jlen, k + 2 * (size_t)(r.parts - 1));
	free(r.joined);
	free(md);
}

static void test_escaping_heavy(void)
{
	/* '"' is 1 byte of Markdown, 2 in the body's JSON, 6 in the HTML */
	size_t k = 0;
	char *md = malloc(50100);

	while (k < 50000) {
		memcpy(md + k, "\"\"\"\"\"\"\"\"\"\n", 10);
		k += 10;
	}
	struct result r = split(md, k, LIMIT);

	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.bad, 0);
	CHECK_INT(r.parts, >=, 6);
	free(r.joined);
	free(md);
}

static void test_errors(void)
{
	struct md_split sp;
	char small[100];

	md_split_init(&sp, "x", 1, 100, work, sizeof work);
	CHECK_EQ(md_split_next(&sp, body, sizeof body, NULL, html, sizeof html,
	                       NULL, NULL), ERR_INVAL);
	md_split_init(&sp, "x", 1, LIMIT, work, sizeof work);
	CHECK_EQ(md_split_next(&sp, small, sizeof small, NULL, html,
	                       sizeof html, NULL, NULL), ERR_INVAL);
	/* sticky */
	CHECK_EQ(md_split_next(&sp, body, sizeof body, NULL, html, sizeof html,
	                       NULL, NULL), ERR_INVAL);
	/* no work area: still correct, just fewer known code ranges */
	md_split_init(&sp, "a\n\nb", 4, LIMIT, NULL, 0);
	CHECK_EQ(md_split_next(&sp, body, sizeof body, NULL, html, sizeof html,
	                       NULL, NULL), 1);
	CHECK_STR(body, "a\n\nb");
	CHECK_EQ(md_split_next(&sp, body, sizeof body, NULL, html, sizeof html,
	                       NULL, NULL), 0);
}

static void test_small_limit_many_parts(void)
{
	char *md = answer(30000);
	struct result r = split(md, strlen(md), 4096);
	char *a = squeeze(md), *b = squeeze(r.joined);

	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.bad, 0);
	CHECK_INT(r.parts, >=, 10);
	CHECK_STR(b, a);
	free(a);
	free(b);
	free(r.joined);
	free(md);
}

int main(void)
{
	RUN(test_short_answer_is_one_part);
	RUN(test_empty);
	RUN(test_200k_answer);
	RUN(test_huge_code_block);
	RUN(test_code_in_list_not_cut);
	RUN(test_one_long_line);
	RUN(test_escaping_heavy);
	RUN(test_errors);
	RUN(test_small_limit_many_parts);
	return harness_done("md_split");
}
