/*
 * prov_limits: rate limits in a provisioning run (see enum bucket in
 * prov_int.h): which bucket a step takes, what to say while waiting, and
 * what a 429 does (wait what the server said, never a failure).
 */
#include "prov/prov_int.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"

int prov_bucket(struct prov *p)
{
	switch (p->step) {
	case S_JOIN:
		return BK_BOT_JOIN;
	case S_LINK: case D_UNLINK: case D_NOTICE: case SP_CREATE:
	case SP_MARK_FIX: case SP_JOINED: case SP_MARKER: case SP_MARK_GET:
		return BK_BOT_ACTION;
	case S_ADMIN_PUT: case S_OVERRIDE: case S_TOKEN: case B_OVERRIDE:
		return BK_BOT_ADMIN;
	case S_LOGIN: case B_LOGIN:
		return BK_LOGIN;
	case S_REGISTER: case S_SS_NONCE: case S_SS_REGISTER:
	case B_SS_NONCE: case B_SS_REGISTER:
		return BK_REGISTER;
	default:
		return BK_AGENT;
	}
}

/* What a bucket limits, in words, for progress lines and logs. */
static void bucket_why(const struct prov *p, const struct prov_lane *l,
                       int bk, char *out, size_t cap)
{
	const char *bot = p->c->bot_user;

	switch (bk) {
	case BK_BOT_JOIN:
		snprintf(out, cap, "the homeserver limits joins of %s", bot);
		break;
	case BK_BOT_ACTION:
		snprintf(out, cap, "the homeserver limits state events and "
		         "rooms of %s", bot);
		break;
	case BK_BOT_ADMIN:
		snprintf(out, cap, "the homeserver limits admin calls of %s",
		         bot);
		break;
	case BK_LOGIN:
		snprintf(out, cap, "the homeserver limits logins");
		break;
	case BK_REGISTER:
		snprintf(out, cap, "the homeserver limits registrations");
		break;
	default:
		snprintf(out, cap, "the homeserver limits requests of %s",
		         l->rec.user_id[0] ? l->rec.user_id : "an agent user");
		break;
	}
}

int prov_wait_why(const struct prov *p, int slot, char *why, size_t cap)
{
	const struct prov_lane *l;

	if (slot < 0 || slot >= LIM_PROV_LANES)
		return 0;
	l = slot == p->slot ? &p->cur : &p->lane[slot];
	if (l->rl_bk < BK_AGENT)
		return 0;
	bucket_why(p, l, l->rl_bk, why, cap);
	return 1;
}

/* A 429: wait what the server said (never less), then send the same
 * request again, as often as it takes. Not a failure: no attempt is
 * counted. The bucket stays closed to other lanes until this lane's
 * next answer. */
int prov_rate_limited(struct prov *p, const struct mx_error *e)
{
	int bk = prov_bucket(p);
	int64_t d = mx_retry_delay_ms(e, p->rl_n);
	char why[160];

	if (e->retry_after_ms < 0) {    /* nothing said: floor + jitter */
		p->rnd = p->rnd * 1103515245u + 12345u;
		d += (int64_t)((p->rnd >> 8) % (unsigned)(d / 2 + 1));
	}
	if (p->rl_n < 30)
		p->rl_n++;
	/* +1: a timer rounded down a millisecond would be early */
	p->wait_ms = d + 1;
	p->rl_bk = bk;
	if (bk != BK_AGENT && p->bk_owner[bk] < 0)
		p->bk_owner[bk] = p->slot;
	if (bk != BK_AGENT)
		p->bk_serial[bk] = 1;
	p->bk_hit = bk;
	p->sum.limited++;
	p->sum.limited_ms += d;
	bucket_why(p, &p->cur, bk, why, sizeof why);
	LOG_INFO("provision", "event=rate_limited agent=%s wait_ms=%lld "
	         "why=\"%s\"", p->a ? p->a->id : "-", (long long)d, why);
	return 0;
}

