/*
 * fuzz_recon_graph: reconcile's /sync graph reader on arbitrary bytes (a
 * homeserver's answer is untrusted). Whatever it accepts must be a sane
 * graph: rooms sorted by id without repeats, every id a valid Matrix id,
 * every kept string valid UTF-8 inside the arena, each room found again
 * by rg_find, each Space link found again by rg_linked; and a second
 * read of the same bytes gives the same graph.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ident.h"
#include "core/json.h"
#include "reconcile/reconcile_graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BOT "@bot_a7cd2f:localhost"

static void check_str(const struct rg_graph *g, const char *s)
{
	if (!s)
		abort();
	if (s[0] && (s < g->arena || s >= g->arena + g->alen))
		abort();            /* kept strings live in the arena */
	if (!json_utf8_valid(s, strlen(s)))
		abort();
}

static void check_room(const struct rg_graph *g, const struct rg_room *rm)
{
	const char *strs[] = { rm->bot_by, rm->creator, rm->agent_id,
	                       rm->mark_by, rm->space_install, rm->space_bot,
	                       rm->space_by, rm->tomb_to, rm->name };

	if (!ident_matrix_id_valid(rm->id, '!') || rg_find(g, rm->id) != rm)
		abort();
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
		check_str(g, strs[i]);
	if (rm->mark == RG_MARK_OK && !ident_agent_id_valid(rm->agent_id))
		abort();
	if (rm->bot < RG_JOIN || rm->bot > RG_INVITE)
		abort();
	if (rm->child0 + rm->nchild > g->nchild)
		abort();
	for (size_t k = 0; k < rm->nchild; k++)
		if (!rg_linked(g, rm, g->child[rm->child0 + k]))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_graph g, h;
	const char *text = (const char *)data;

	rg_init(&g);
	rg_init(&h);
	if (rg_parse(&g, text, size, BOT) == 0) {
		for (size_t i = 0; i < g.n; i++) {
			if (i && strcmp(g.room[i - 1].id, g.room[i].id) >= 0)
				abort();
			check_room(&g, &g.room[i]);
		}
		if (rg_parse(&h, text, size, BOT) != 0 || h.n != g.n ||
		    h.nchild != g.nchild)
			abort();
		for (size_t i = 0; i < g.n; i++)
			if (strcmp(g.room[i].id, h.room[i].id) ||
			    g.room[i].mark != h.room[i].mark ||
			    g.room[i].bot != h.room[i].bot ||
			    g.room[i].create_ts != h.room[i].create_ts)
				abort();
	}
	rg_free(&g);
	rg_free(&h);
	return 0;
}
