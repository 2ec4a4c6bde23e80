/*
 * md_int: what md.c (the renderer) shares with md_split.c (the splitter).
 */
#ifndef LETTAMX_MD_INT_H
#define LETTAMX_MD_INT_H

#include <stdbool.h>
#include <stddef.h>

/* Code ranges of a document as md4c parsed it: [start, end) byte offsets
 * such that no cut may fall strictly inside (start < cut < end). start is
 * the start of the line that opens the block, end the start of the line of
 * the next text after it (or the document's end), so both bounds are
 * conservative. More blocks than cap extend the last range. */
struct md_ranges {
	size_t (*r)[2];
	unsigned n, cap;
};

/* md_render, also collecting code ranges when rg is not NULL. */
int md_render_rg(const char *md, size_t n, char *out, size_t cap,
                 size_t *outlen, bool *rich, struct md_ranges *rg);

#endif
