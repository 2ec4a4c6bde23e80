/*
 * bridge_quiet: at the side of steps 1 and 3 (bridge_int.h has the map):
 * an agent may stay quiet (issue 21). At sync in, a room of several
 * people under [bridge] respond = mention passes on only what mentions
 * the agent; with [bridge] listen the rest is read by the agent as
 * context, marked, its answer never posted. At the end of a turn, an
 * answer that is exactly <no-reply/>, or empty because the agent ended
 * its turn with nothing to say, posts nothing: the question gets a read
 * receipt and one log line. A failure is never quiet (DESIGN: no
 * silence on failure).
 *
 * What a room's choice rests on (its joined member count, the room
 * settings an admin may set) comes with /sync only when it changes, so
 * it is kept in the store ("quiet/<room>"), written in the transaction
 * of the sync token that brought it.
 */
#include "bridge/bridge_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "letta/letta_msg.h"

#define QUIET_KEY STORE_META_QUIET

/* ---- the answer's text ---- */

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* s[0..n) without the white space around it. */
static const char *trim(const char *s, size_t *n)
{
	while (*n && is_space(*s)) {
		s++;
		(*n)--;
	}
	while (*n && is_space(s[*n - 1]))
		(*n)--;
	return s;
}

int bridge_quiet_text(const char *s, size_t n)
{
	static const char nr[] = BRIDGE_NO_REPLY;

	s = trim(s, &n);
	if (!n)
		return BQ_EMPTY;
	return n == sizeof nr - 1 && !memcmp(s, nr, n) ? BQ_NO_REPLY : 0;
}

int bridge_quiet_prefix(const char *s, size_t n)
{
	static const char nr[] = BRIDGE_NO_REPLY;
	size_t k = sizeof nr - 1;

	while (n && is_space(*s)) {
		s++;
		n--;
	}
	if (n <= k)
		return !memcmp(s, nr, n);
	/* the whole marker: only white space may follow */
	if (memcmp(s, nr, k))
		return 0;
	for (size_t i = k; i < n; i++)
		if (!is_space(s[i]))
			return 0;
	return 1;
}

/* ---- who is addressed ---- */

static int id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c == ':' ||
	       c == '=' || c == '/' || c == '+';
}

/* 1 when an id ends where `after` (rest bytes left) starts. */
static int id_ends(const char *after, size_t rest)
{
	if (!rest)
		return 1;
	if (*after == '.')      /* a full stop, unless a domain goes on */
		return rest == 1 || !id_char(after[1]);
	if (*after == ':')      /* "name: text", unless a port goes on */
		return rest == 1 || !(after[1] >= '0' && after[1] <= '9');
	return !id_char(*after);
}

/* 1 when body[0..len) holds user as a word of its own ("@a:ex.org" is
 * not in "@a:ex.org2" nor in "x@a:ex.org"). */
static int in_text(const char *body, size_t len, const char *user)
{
	size_t n = strlen(user);

	for (size_t i = 0; n && i + n <= len; i++)
		if (!memcmp(body + i, user, n) &&
		    (!i || (!id_char(body[i - 1]) && body[i - 1] != '@')) &&
		    id_ends(body + i + n, len - i - n))
			return 1;
	return 0;
}

int bridge_quiet_mentioned(const char *user, const struct sync_ev *ev)
{
	if (bridge_in_list(ev->mentions, '\n', user))
		return 1;
	/* a client of intentional mentions says whom it means: its body
	 * naming someone is not a mention (the spec) */
	if (ev->has_mentions || !ev->has_body)
		return 0;
	return in_text(ev->body, ev->body_len, user);
}

static int respond_of(const struct bridge *b, const struct broom *r)
{
	if (r->q.respond)
		return r->q.respond;
	return b->respond_mention ? BQ_R_MENTION : BQ_R_ALWAYS;
}

int bridge_quiet_take(const struct bridge *b, const struct broom *r,
                      const char *agent_user, const struct sync_ev *ev)
{
	/* "several people": more than two members besides the agent; a
	 * count never seen counts as few (everything is answered) */
	if (respond_of(b, r) == BQ_R_ALWAYS || r->q.members <= BQ_SMALL_JOINED ||
	    bridge_quiet_mentioned(agent_user, ev))
		return BQ_ANSWER;
	return b->listen ? BQ_LISTEN : BQ_DROP;
}

int bridge_quiet_read(struct bridge *b, const struct sync_ev *ev, int listen)
{
	size_t k = listen ? strlen(BRIDGE_LISTEN_MARK) : 0;
	int len;

	memcpy(b->text, BRIDGE_LISTEN_MARK, k);
	len = bridge_text(&b->pol, ev, b->text + k, LIM_BRIDGE_TEXT - k);
	return len > 0 ? len + (int)k : len;
}

/* ---- the room's state, kept ---- */

static int quiet_key(const char *room, char *key, size_t cap)
{
	return (size_t)snprintf(key, cap, QUIET_KEY "%s", room) < cap
	       ? 0 : ERR_TOOBIG;
}

void bridge_quiet_load(struct store_txn *t, struct broom *r)
{
	char key[LIM_STORE_ID + 8], val[64], *end;
	long n;

	if (r->q.loaded)
		return;
	r->q.loaded = 1;
	if (quiet_key(r->id, key, sizeof key) ||
	    store_meta_get(t, key, val, sizeof val))
		return;
	n = strtol(val, &end, 10);
	if (end == val || n < 0 || n > LIM_QUIET_MEMBERS || *end != ' ')
		return;         /* not ours: as if none */
	r->q.members = (int)n;
	r->q.respond = end[1] == 'm' ? BQ_R_MENTION
	               : end[1] == 'a' ? BQ_R_ALWAYS : 0;
}

int bridge_quiet_stored(struct store_txn *t, const char *room)
{
	char key[LIM_STORE_ID + 8], val[64];

	return !quiet_key(room, key, sizeof key) &&
	       !store_meta_get(t, key, val, sizeof val);
}

/* Marks r to be written with the next sync token. */
static void dirty(struct broom *r, struct broom **list)
{
	if (r->q.dirty)
		return;
	r->q.dirty = 1;
	r->q.next = *list;
	*list = r;
}

void bridge_quiet_members(struct broom *r, int64_t joined,
                          struct broom **list)
{
	if (joined > LIM_QUIET_MEMBERS)
		joined = LIM_QUIET_MEMBERS;
	if (joined != r->q.members)
		LOG_DEBUG("bridge", "event=room_members room=%s joined=%lld",
		          r->id, (long long)joined);
	r->q.members = (int)joined;
	dirty(r, list);
}

void bridge_quiet_setting(struct broom *r, const struct sync_state *st,
                          struct broom **list)
{
	char v[16] = "";
	int c = st->content, k;

	if (strcmp(st->type, SYNC_ROOM_SETTINGS) || st->state_key[0])
		return;
	/* no respond key (a redacted event, say): the bridge's default */
	k = c >= 0 && json_type(st->j, c) == JSON_OBJ
	    ? json_get(st->j, c, "respond") : -1;
	if (k >= 0 && json_str(st->j, k, v, sizeof v))
		snprintf(v, sizeof v, "?");
	if (v[0] && strcmp(v, "always") && strcmp(v, "mention")) {
		LOG_WARN("bridge", "event=room_settings_ignored room=%s "
		         "sender=%s reason=\"respond is not always or mention\"",
		         r->id, st->sender);
		return;
	}
	r->q.respond = !v[0] ? 0 : v[0] == 'a' ? BQ_R_ALWAYS : BQ_R_MENTION;
	LOG_INFO("bridge", "event=room_settings room=%s sender=%s respond=%s",
	         r->id, st->sender, v[0] ? v : "default");
	dirty(r, list);
}

int bridge_quiet_save(struct store_txn *t, struct broom *list)
{
	char key[LIM_STORE_ID + 8], val[64];
	int e;

	for (struct broom *r = list; r; r = r->q.next) {
		if (quiet_key(r->id, key, sizeof key))
			continue;
		snprintf(val, sizeof val, "%d %c", r->q.members,
		         r->q.respond == BQ_R_MENTION ? 'm'
		         : r->q.respond == BQ_R_ALWAYS ? 'a' : '-');
		if ((e = store_meta_put(t, key, val)))
			return e;
	}
	return 0;
}

void bridge_quiet_saved(struct broom **list)
{
	while (*list) {
		struct broom *r = *list;

		*list = r->q.next;
		r->q.next = NULL;
		r->q.dirty = 0;
	}
}

/* ---- the end of a turn ---- */

int bridge_quiet_is(const struct bturn_head *h, int kind, const char *text,
                    size_t len, const struct letta_reply *rep)
{
	if (h->m.flags & BRIDGE_IN_F_LISTEN)
		return BQ_LISTENED;
	if (bridge_turn_waits_approval(rep))
		return 0;
	if (kind == BRIDGE_OUT_TEXT)
		return bridge_quiet_text(text, len);
	/* no assistant message, and the turn ended as it should: the agent
	 * chose to say nothing (any other stop reason is a failure) */
	if (rep && rep->n == 0 && !rep->approval &&
	    !strcmp(rep->stop, "end_turn"))
		return BQ_EMPTY;
	return 0;
}

void bridge_quiet_done(struct broom *r, const struct bturn_head *h, int why)
{
	static const char *const words[] = {
		[BQ_NO_REPLY] = "no_reply", [BQ_EMPTY] = "empty",
		[BQ_LISTENED] = "not_addressed",
	};
	char tok[LIM_STORE_SECRET];

	LOG_INFO("bridge", "event=answer_withheld room=%s event_id=%s why=%s",
	         r->id, h->m.event_id, words[why]);
	if (r->receipt_for == h->seq)
		return;
	/* best effort, as when a question is taken up: a login under way
	 * leaves it without one */
	if (!bridge_agent_token(r, h->ag.user_id, tok, sizeof tok)) {
		r->receipt_for = h->seq;
		bridge_receipt(r, tok, h->m.event_id);
	}
}
