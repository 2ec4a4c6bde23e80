/*
 * fuzz_proto: the Matrix and Letta response parsers on arbitrary bodies,
 * under every status class that changes their path. Whatever they accept
 * must hold what their contracts promise: valid ids, NUL-terminated
 * strings that fit, a listing that stays within its caps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ident.h"
#include "letta/letta.h"
#include "letta/letta_msg.h"
#include "matrix/matrix.h"

static int count_room(void *arg, const char *room)
{
	if (!ident_matrix_id_valid(room, '!'))
		abort();
	(*(int *)arg)++;
	return 0;
}

static void matrix_parsers(const struct proto_resp *r)
{
	struct mx_login l;
	struct mx_error e;
	struct mx_uia u;
	char id[IDENT_MXID_MAX + 1], agent[IDENT_AGENT_ID_MAX + 1];
	char nonce[LIM_MX_NONCE], msg[512];
	int n = 0;

	if (mx_login_parse(r, &l, &e) == 0 &&
	    !ident_matrix_id_valid(l.user_id, '@'))
		abort();
	if (mx_room_id_parse(r, id, &e) == 0 && !ident_matrix_id_valid(id, '!'))
		abort();
	if (mx_marker_parse(r, agent, &e) == 0 && !ident_agent_id_valid(agent))
		abort();
	mx_whoami_parse(r, id, &e);
	mx_nonce_parse(r, nonce, &e);
	mx_joined_rooms_parse(r, count_room, &n, &e);
	mx_error_parse(r, &e);
	/* a 429 waits as told up to its own cap, anything else backs off up
	 * to the backoff cap */
	if (mx_retry_delay_ms(&e, 3) > (e.status == 429 ? LIM_MX_RL_MAX_MS
	                                               : LIM_MX_BACKOFF_MAX_MS))
		abort();
	mx_error_msg(&e, msg, sizeof msg);
	if (mx_uia_parse(r, &u) == 0)
		mx_reg_diagnose(MX_REG_TOKEN, &e, &u, msg, sizeof msg);
}

static void letta_parsers(const struct proto_resp *r)
{
	struct letta_agent a;
	struct letta_error e;
	struct letta_list l;
	char msg[512];

	if (letta_get_parse(r, &a, &e) == 0 && !ident_agent_id_valid(a.id))
		abort();
	letta_error_msg(&e, msg, sizeof msg);
	if (r->body) {
		int g = letta_runs_going(r->body, r->len);

		if (g != 0 && g != 1 && g != ERR_PROTO)
			abort();
	}
	letta_list_init(&l);
	for (int page = 0; page < 3 && !l.done; page++)
		letta_list_feed(&l, r, &e);
	for (size_t i = 0; i < l.n; i++)
		if (!ident_agent_id_valid(l.agents[i].id) ||
		    strlen(l.agents[i].name) >= sizeof l.agents[i].name)
			abort();
	letta_list_reset(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int status[] = { 200, 401, 404, 429, 502, 0 };
	struct proto_resp r = { 0, -1, "", 0, 0, NULL };

	for (size_t k = 0; k < sizeof status / sizeof status[0]; k++) {
		r.status = status[k];
		r.retry_after_ms = k == 3 ? 2000 : -1;
		r.body = (const char *)data;
		r.len = size;
		matrix_parsers(&r);
		letta_parsers(&r);
	}
	return 0;
}
