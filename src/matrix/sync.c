/*
 * sync: /sync and /messages requests and the reader of their answers.
 */
#include "matrix/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ident.h"
#include "core/json.h"
#include "core/log.h"
#include "core/url.h"
#include "matrix/mx_media.h"

#define CS "/_matrix/client/v3"

struct sync_reader {
	struct json j;
	char *body;             /* LIM_SYNC_BODY: the event's body */
	char *html;             /* LIM_SYNC_BODY: its formatted_body */
	uint64_t skipped;
};

/* ---- requests ---- */

static void start(struct proto_req *r, int method, const char *token,
                  struct proto_buf *p)
{
	proto_req_init(r, method);
	proto_buf_init(p, r->path, sizeof r->path);
	if (proto_req_bearer(r, token))
		p->err = ERR_TOOBIG;
}

/* The filter's room part: messages and the room settings, members of
 * speakers only. */
static void filter_room(struct json_w *w, int limit)
{
	json_w_key(w, "room");
	json_w_obj(w);
	json_w_key(w, "timeline");
	json_w_obj(w);
	json_w_kint(w, "limit", limit);
	json_w_key(w, "types");
	json_w_arr(w);
	json_w_str(w, "m.room.message");
	json_w_str(w, SYNC_ROOM_SETTINGS);
	json_w_arr_end(w);
	json_w_obj_end(w);
	json_w_key(w, "state");
	json_w_obj(w);
	json_w_kbool(w, "lazy_load_members", true);
	json_w_key(w, "types");
	json_w_arr(w);
	json_w_str(w, "m.room.member");
	json_w_str(w, SYNC_ROOM_SETTINGS);
	json_w_arr_end(w);
	json_w_obj_end(w);
	json_w_key(w, "ephemeral");
	json_w_obj(w);
	json_w_key(w, "types");
	json_w_arr(w);
	json_w_arr_end(w);
	json_w_obj_end(w);
	json_w_obj_end(w);
}

static void filter_doc(struct json_w *w, int limit)
{
	json_w_obj(w);
	filter_room(w, limit);
	json_w_key(w, "presence");
	json_w_obj(w);
	json_w_key(w, "types");
	json_w_arr(w);
	json_w_arr_end(w);
	json_w_obj_end(w);
	json_w_key(w, "account_data");
	json_w_obj(w);
	json_w_key(w, "types");
	json_w_arr(w);
	json_w_arr_end(w);
	json_w_obj_end(w);
	json_w_obj_end(w);
}

int sync_req_filter(struct proto_req *r, const char *token, const char *me,
                    int limit)
{
	struct proto_buf p;
	struct json_w w;

	start(r, PROTO_POST, token, &p);
	if (!ident_matrix_id_valid(me, '@'))
		return ERR_INVAL;
	proto_buf_str(&p, CS "/user/");
	proto_buf_urlenc(&p, me);
	proto_buf_str(&p, "/filter");
	if (p.err)
		return p.err;
	json_w_init(&w, r->body, sizeof r->body);
	filter_doc(&w, limit);
	r->has_body = 1;
	return json_w_finish(&w, &r->body_len);
}

int sync_filter_parse(const struct proto_resp *resp, char *id, size_t cap,
                      struct mx_error *e)
{
	struct json j;
	int r;

	if (resp->status < 200 || resp->status > 299)
		return mx_error_parse(resp, e);
	json_init(&j);
	r = json_parse(&j, resp->body, resp->len);
	if (!r)
		r = json_get_str(&j, 0, "filter_id", id, cap);
	json_free(&j);
	return r || !*id ? ERR_PROTO : 0;
}

int sync_req(struct proto_req *r, const char *token, const char *filter_id,
             int inline_limit, const char *since, int timeout_ms)
{
	struct proto_buf p;

	start(r, PROTO_GET, token, &p);
	proto_buf_str(&p, CS "/sync?filter=");
	if (filter_id && *filter_id) {
		proto_buf_urlenc(&p, filter_id);
	} else {
		char f[512];
		struct json_w w;

		json_w_init(&w, f, sizeof f);
		filter_doc(&w, inline_limit);
		if (json_w_finish(&w, NULL))
			return ERR_TOOBIG;
		proto_buf_urlenc(&p, f);
	}
	proto_buf_fmt(&p, "&timeout=%d", since && *since ? timeout_ms : 0);
	if (since && *since) {
		proto_buf_str(&p, "&since=");
		proto_buf_urlenc(&p, since);
	}
	return p.err;
}

int sync_req_messages(struct proto_req *r, const char *token,
                      const char *room, const char *from, const char *to,
                      int limit)
{
	static const char filt[] = "{\"types\":[\"m.room.message\"],"
	                           "\"lazy_load_members\":true}";
	struct proto_buf p;

	start(r, PROTO_GET, token, &p);
	if (!ident_matrix_id_valid(room, '!'))
		return ERR_INVAL;
	proto_buf_str(&p, CS "/rooms/");
	proto_buf_urlenc(&p, room);
	proto_buf_fmt(&p, "/messages?dir=b&limit=%d&filter=", limit);
	proto_buf_urlenc(&p, filt);
	if (from && *from) {
		proto_buf_str(&p, "&from=");
		proto_buf_urlenc(&p, from);
	}
	if (to && *to) {
		proto_buf_str(&p, "&to=");
		proto_buf_urlenc(&p, to);
	}
	return p.err;
}

/* ---- the reader ---- */

int sync_event_id_valid(const char *id)
{
	size_t n = 0;

	if (!id || id[0] != '$')
		return 0;
	for (const char *p = id + 1; *p; p++, n++)
		if (*p <= ' ' || *p > '~' || n >= LIM_STORE_ID - 2)
			return 0;
	return n > 0;
}

struct sync_reader *sync_reader_new(void)
{
	struct sync_reader *sr = calloc(1, sizeof *sr);

	if (!sr)
		return NULL;
	sr->body = malloc(LIM_SYNC_BODY);
	sr->html = malloc(LIM_SYNC_BODY);
	if (!sr->body || !sr->html) {
		free(sr->body);
		free(sr->html);
		free(sr);
		return NULL;
	}
	json_init(&sr->j);
	return sr;
}

void sync_reader_free(struct sync_reader *sr)
{
	if (!sr)
		return;
	json_free(&sr->j);
	free(sr->body);
	free(sr->html);
	free(sr);
}

void sync_reader_trim(struct sync_reader *sr)
{
	json_free(&sr->j);
	json_init(&sr->j);
}

uint64_t sync_reader_skipped(const struct sync_reader *sr)
{
	return sr->skipped;
}

/* Reads m.relates_to of content c (a thread's root into root). */
static int read_rel(const struct json *j, int c, char root[LIM_STORE_ID])
{
	int rt = json_get(j, c, "m.relates_to");
	int t;

	root[0] = '\0';

	if (rt < 0 || json_type(j, rt) != JSON_OBJ)
		return SYNC_REL_NONE;
	t = json_get(j, rt, "rel_type");
	if (t >= 0) {
		if (json_str_eq(j, t, "m.replace"))
			return SYNC_REL_REPLACE;
		if (json_str_eq(j, t, "m.thread")) {
			if (json_str(j, json_get(j, rt, "event_id"), root,
			             LIM_STORE_ID) || !sync_event_id_valid(root))
				root[0] = '\0';
			return SYNC_REL_THREAD;
		}
		return SYNC_REL_OTHER;
	}
	return json_get(j, rt, "m.in_reply_to") >= 0 ? SYNC_REL_REPLY
	                                              : SYNC_REL_NONE;
}

/* Media details: file name (content.filename, else body), size, where
 * the bytes are (an mxc URI, or encrypted), and whether body is a
 * caption (Matrix 1.10: filename set and not the same as body). */
static void read_media(const struct json *j, int c, struct sync_ev *ev)
{
	int info = json_get(j, c, "info"), cut;
	int fn = json_get(j, c, "filename"), url = json_get(j, c, "url");
	struct mx_mxc m;
	size_t n;
	const char *u;

	ev->size = -1;
	if (info >= 0 && json_get_int(j, info, "size", 0, INT64_MAX,
	                              &ev->size))
		ev->size = -1;
	if (fn < 0 || proto_str_cut(j, fn, ev->filename, sizeof ev->filename,
	                            &cut) < 0)
		proto_str_cut(j, json_get(j, c, "body"), ev->filename,
		              sizeof ev->filename, &cut);
	else
		ev->caption = ev->has_body && (strlen(ev->filename) !=
		              ev->body_len || memcmp(ev->filename, ev->body,
		                                     ev->body_len));
	ev->encrypted = json_get(j, c, "file") >= 0;
	ev->mxc[0] = '\0';
	if (ev->encrypted || url < 0 || json_type(j, url) != JSON_STR)
		return;
	/* raw, as the JSON holds it: an mxc URI has nothing to escape, and
	 * one that needs unescaping is no URI we fetch */
	u = json_raw(j, url, &n);
	if (u && n < sizeof ev->mxc && !mx_mxc_parse(u, n, &m)) {
		memcpy(ev->mxc, u, n);
		ev->mxc[n] = '\0';
	}
}

/* Appends user id s[0..n) as a line of ev->mentions when it is one and
 * fits. */
static void mention_add(struct sync_ev *ev, const char *s, size_t n)
{
	size_t used = strlen(ev->mentions);
	char id[LIM_STORE_ID];

	if (!n || n >= sizeof id || n + 2 > sizeof ev->mentions - used)
		return;
	memcpy(id, s, n);
	id[n] = '\0';
	if (!ident_matrix_id_valid(id, '@'))
		return;
	memcpy(ev->mentions + used, id, n);
	memcpy(ev->mentions + used + n, "\n", 2);
}

/* The user of a matrix.to link at p (after "#/"), percent-decoded, up
 * to the end of the URL: appended to ev->mentions. */
static void link_user(struct sync_ev *ev, const char *p, const char *end)
{
	char id[LIM_STORE_ID];
	size_t n = 0;

	for (; p < end && !strchr("\"'<> ?/", *p) && n < sizeof id; p++) {
		int hi, lo;

		if (*p == '%' && end - p > 2 && (hi = url_hex_digit(p[1])) >= 0 &&
		    (lo = url_hex_digit(p[2])) >= 0) {
			id[n++] = (char)(hi << 4 | lo);
			p += 2;
		} else {
			id[n++] = *p;
		}
	}
	if (n < sizeof id)
		mention_add(ev, id, n);
}

/* Who content c mentions: m.mentions.user_ids when there is m.mentions
 * (the spec's intentional mentions: nothing else counts then), else the
 * users formatted_body links to. */
static void read_mentions(struct sync_reader *sr, int c, struct sync_ev *ev)
{
	const struct json *j = &sr->j;
	int m = json_get(j, c, "m.mentions"), ids, fb;
	size_t n = 0;

	ev->mentions[0] = '\0';
	if (m >= 0 && json_type(j, m) == JSON_OBJ) {
		ev->has_mentions = 1;
		ids = json_get(j, m, "user_ids");
		if (ids < 0 || json_type(j, ids) != JSON_ARR)
			return;
		for (int e = json_arr_first(j, ids); e >= 0;
		     e = json_arr_next(j, ids, e)) {
			char id[LIM_STORE_ID];

			if (!json_str(j, e, id, sizeof id))
				mention_add(ev, id, strlen(id));
		}
		return;
	}
	fb = json_get(j, c, "formatted_body");
	if (fb < 0 || json_strn(j, fb, sr->html, LIM_SYNC_BODY, &n))
		return;
	for (const char *p = sr->html, *end = sr->html + n;
	     (p = memmem(p, (size_t)(end - p), "matrix.to/#/", 12)); ) {
		p += 12;
		link_user(ev, p, end);
	}
}

/* Reads content c: msgtype, body, relation, media. Returns NULL or why
 * the event is unreadable. */
static const char *read_content(struct sync_reader *sr, int c,
                                struct sync_ev *ev)
{
	const struct json *j = &sr->j;
	int b = json_get(j, c, "body"), mt = json_get(j, c, "msgtype");

	if (json_type(j, c) != JSON_OBJ)
		return "content is not an object";
	ev->redacted = json_count(j, c) == 0;
	if (mt >= 0 && json_str(j, mt, ev->msgtype, sizeof ev->msgtype))
		return "msgtype is not a short string";
	ev->rel = read_rel(j, c, ev->thread_root);
	ev->body = sr->body;
	ev->body[0] = '\0';
	if (b >= 0) {
		if (json_type(j, b) != JSON_STR)
			return "body is not a string";
		if (json_strn(j, b, ev->body, LIM_SYNC_BODY, &ev->body_len))
			return "body too long";
		if (memchr(ev->body, 0, ev->body_len))
			return "body holds a NUL";
		ev->has_body = 1;
	}
	if (!strcmp(ev->msgtype, "m.image") || !strcmp(ev->msgtype, "m.file") ||
	    !strcmp(ev->msgtype, "m.audio") || !strcmp(ev->msgtype, "m.video"))
		read_media(j, c, ev);
	if (ev->msgtype[0])
		read_mentions(sr, c, ev);
	return NULL;
}

/* The display name of `sender` from the m.room.member events of array
 * `a` (state or timeline), if there is one. */
static void member_name(const struct json *j, int a, const char *sender,
                        char *out, size_t cap)
{
	int cut;

	for (int e = json_arr_first(j, a); e >= 0; e = json_arr_next(j, a, e)) {
		int sk = json_get(j, e, "state_key"), c;

		if (sk < 0 || !json_str_eq(j, sk, sender) ||
		    !json_str_eq(j, json_get(j, e, "type"), "m.room.member"))
			continue;
		c = json_get(j, e, "content");
		if (c >= 0 && proto_str_cut(j, json_get(j, c, "displayname"),
		                            out, cap, &cut) > 0)
			return;
	}
}

static void skip_log(struct sync_reader *sr, const char *room,
                     const struct sync_ev *ev, const char *why)
{
	sr->skipped++;
	LOG_WARN("sync", "event=event_skipped room=%s event_id=%s reason=\"%s\"",
	         room, ev->event_id[0] ? ev->event_id : "?", why);
}

/* Reads event e of room; `names` (or < 0) holds member events. Returns
 * NULL or why it is unreadable. */
static const char *read_event(struct sync_reader *sr, int e, int names,
                              struct sync_ev *ev)
{
	const struct json *j = &sr->j;
	int c;

	if (json_type(j, e) != JSON_OBJ)
		return "not an object";
	if (json_get_str(j, e, "event_id", ev->event_id, sizeof ev->event_id) ||
	    !sync_event_id_valid(ev->event_id))
		return "no valid event_id";
	if (json_get_str(j, e, "sender", ev->sender, sizeof ev->sender) ||
	    !ident_matrix_id_valid(ev->sender, '@'))
		return "no valid sender";
	if (json_get_str(j, e, "type", ev->type, sizeof ev->type))
		return "no valid type";
	ev->is_state = json_get(j, e, "state_key") >= 0;
	if (json_get_int(j, e, "origin_server_ts", 0, INT64_MAX, &ev->ts))
		ev->ts = 0;
	c = json_get(j, e, "content");
	if (c < 0)
		return "no content";
	if (names >= 0)
		member_name(j, names, ev->sender, ev->sender_name,
		            sizeof ev->sender_name);
	return read_content(sr, c, ev);
}

/* Event e, when it is a state event, to on_state. */
static int state_event(const struct json *j, const char *room, int e,
                       const struct sync_sink *s)
{
	char type[LIM_SYNC_TYPE], key[LIM_STORE_ID], sender[LIM_STORE_ID];
	struct sync_state st = { room, type, key, sender, j, -1 };

	if (!s->on_state || json_type(j, e) != JSON_OBJ ||
	    json_get_str(j, e, "type", type, sizeof type) ||
	    json_get_str(j, e, "state_key", key, sizeof key) ||
	    json_get_str(j, e, "sender", sender, sizeof sender) ||
	    !ident_matrix_id_valid(sender, '@'))
		return 0;
	st.content = json_get(j, e, "content");
	return s->on_state(s->arg, &st);
}

/* The state events of array a to on_state. */
static int walk_state(const struct json *j, const char *room, int a,
                      const struct sync_sink *s)
{
	int r;

	if (a < 0 || !s->on_state || json_type(j, a) != JSON_ARR)
		return 0;
	for (int e = json_arr_first(j, a); e >= 0; e = json_arr_next(j, a, e))
		if ((r = state_event(j, room, e, s)))
			return r;
	return 0;
}

/* The summary's joined member count to on_members, when it is there. */
static int summary(const struct json *j, const char *room, int v,
                   const struct sync_sink *s)
{
	int sm = json_get(j, v, "summary");
	int64_t n;

	if (sm < 0 || !s->on_members ||
	    json_get_int(j, sm, "m.joined_member_count", 0, INT32_MAX, &n))
		return 0;
	return s->on_members(s->arg, room, n);
}

/* Hands the events of array `a` to the sink. `names`: member events. */
static int walk_events(struct sync_reader *sr, const char *room, int a,
                       int names, int names2, const struct sync_sink *s)
{
	const struct json *j = &sr->j;
	struct sync_ev ev;
	const char *why;
	int r;

	if (a < 0)
		return 0;
	if (json_type(j, a) != JSON_ARR) {
		LOG_WARN("sync", "event=events_skipped room=%s reason=\"events "
		         "is not an array\"", room);
		return 0;
	}
	for (int e = json_arr_first(j, a); e >= 0; e = json_arr_next(j, a, e)) {
		memset(&ev, 0, sizeof ev);
		ev.room_id = room;
		why = read_event(sr, e, names, &ev);
		if (!why && !ev.sender_name[0] && names2 >= 0)
			member_name(j, names2, ev.sender, ev.sender_name,
			            sizeof ev.sender_name);
		if (why) {
			skip_log(sr, room, &ev, why);
			continue;
		}
		if (ev.is_state && (r = state_event(j, room, e, s)))
			return r;
		if (s->on_event && (r = s->on_event(s->arg, &ev)))
			return r;
	}
	return 0;
}

static int events_of(const struct json *j, int o, const char *key)
{
	int x = o >= 0 ? json_get(j, o, key) : -1;

	return x >= 0 ? json_get(j, x, "events") : -1;
}

static int joined_room(struct sync_reader *sr, int k,
                       const struct sync_sink *s)
{
	const struct json *j = &sr->j;
	char room[LIM_STORE_ID], prev[LIM_STORE_META];
	int v = k + 1, tl, evs, r;
	bool limited = false;

	if (json_str(j, k, room, sizeof room) ||
	    !ident_matrix_id_valid(room, '!') || json_type(j, v) != JSON_OBJ) {
		LOG_WARN("sync", "event=room_skipped reason=\"bad room entry\"");
		return 0;
	}
	tl = json_get(j, v, "timeline");
	prev[0] = '\0';
	if (tl >= 0) {
		json_get_bool(j, tl, "limited", &limited);
		if (json_get_str(j, tl, "prev_batch", prev, sizeof prev))
			prev[0] = '\0';
	}
	if (s->on_room && (r = s->on_room(s->arg, room, limited, prev)))
		return r;
	if ((r = summary(j, room, v, s)) ||
	    (r = walk_state(j, room, events_of(j, v, "state"), s)))
		return r;
	evs = tl >= 0 ? json_get(j, tl, "events") : -1;
	return walk_events(sr, room, evs, events_of(j, v, "state"), evs, s);
}

/* The inviter: the sender of our own member event in the stripped
 * state. */
static int invited_room(struct sync_reader *sr, int k,
                        const struct sync_sink *s)
{
	const struct json *j = &sr->j;
	char room[LIM_STORE_ID], inviter[LIM_STORE_ID] = "";
	int a = events_of(j, k + 1, "invite_state");

	if (json_str(j, k, room, sizeof room) ||
	    !ident_matrix_id_valid(room, '!'))
		return 0;
	for (int e = json_arr_first(j, a); e >= 0; e = json_arr_next(j, a, e)) {
		int sk = json_get(j, e, "state_key");

		if (sk >= 0 && s->me && json_str_eq(j, sk, s->me) &&
		    json_str_eq(j, json_get(j, e, "type"), "m.room.member") &&
		    (json_get_str(j, e, "sender", inviter, sizeof inviter) ||
		     !ident_matrix_id_valid(inviter, '@')))
			inviter[0] = '\0';
	}
	return s->on_invite ? s->on_invite(s->arg, room, inviter) : 0;
}

static int walk_rooms(struct sync_reader *sr, int rooms, const char *key,
                      int (*fn)(struct sync_reader *, int,
                                const struct sync_sink *),
                      const struct sync_sink *s)
{
	const struct json *j = &sr->j;
	int o = json_get(j, rooms, key), r;

	if (o < 0 || json_type(j, o) != JSON_OBJ)
		return 0;
	for (int k = json_obj_first(j, o); k >= 0; k = json_obj_next(j, o, k))
		if ((r = fn(sr, k, s)))
			return r;
	return 0;
}

int sync_parse(struct sync_reader *sr, const char *body, size_t len,
               const struct sync_sink *sink, char *next, size_t cap)
{
	struct json *j = &sr->j;
	int r, rooms;

	next[0] = '\0';
	r = json_parse(j, body, len);
	if (r)
		return r;
	if (json_type(j, 0) != JSON_OBJ ||
	    json_get_str(j, 0, "next_batch", next, cap) || !*next) {
		next[0] = '\0';
		return ERR_PROTO;
	}
	rooms = json_get(j, 0, "rooms");
	if (rooms < 0 || json_type(j, rooms) != JSON_OBJ)
		return 0;
	r = walk_rooms(sr, rooms, "join", joined_room, sink);
	if (!r)
		r = walk_rooms(sr, rooms, "invite", invited_room, sink);
	return r;
}

int sync_messages_parse(struct sync_reader *sr, const char *body,
                        size_t len, const char *room,
                        const struct sync_sink *sink, char *end, size_t cap)
{
	struct json *j = &sr->j;
	int r, chunk;

	end[0] = '\0';
	r = json_parse(j, body, len);
	if (r)
		return r;
	chunk = json_type(j, 0) == JSON_OBJ ? json_get(j, 0, "chunk") : -1;
	if (chunk < 0 || json_type(j, chunk) != JSON_ARR)
		return ERR_PROTO;
	if (json_get_str(j, 0, "end", end, cap))
		end[0] = '\0';
	return walk_events(sr, room, chunk, json_get(j, 0, "state"), chunk,
	                   sink);
}

/* An invite in a transaction: who, by whom, direct or not. */
struct txn_inv {
	char invitee[LIM_STORE_ID], inviter[LIM_STORE_ID];
	int direct;
};

/* 1 when event e invites someone (an m.room.member event with
 * membership "invite" and a valid user as state_key), read into v. */
static int txn_invite(const struct json *j, int e, struct txn_inv *v)
{
	int c = json_get(j, e, "content");
	bool direct = false;

	if (!json_str_eq(j, json_get(j, e, "type"), "m.room.member") ||
	    c < 0 || !json_str_eq(j, json_get(j, c, "membership"), "invite") ||
	    json_get_str(j, e, "state_key", v->invitee, LIM_STORE_ID) ||
	    !ident_matrix_id_valid(v->invitee, '@'))
		return 0;
	if (json_get_str(j, e, "sender", v->inviter, LIM_STORE_ID) ||
	    !ident_matrix_id_valid(v->inviter, '@'))
		v->inviter[0] = '\0';
	json_get_bool(j, c, "is_direct", &direct);
	v->direct = direct;
	return 1;
}

static int txn_invited(const struct sync_sink *s, const char *room,
                       const struct txn_inv *v)
{
	if (s->me && !strcmp(v->invitee, s->me))
		return s->on_invite ? s->on_invite(s->arg, room, v->inviter) : 0;
	return s->on_user_invite ? s->on_user_invite(s->arg, room, v->invitee,
	                                             v->inviter, v->direct)
	                         : 0;
}

/* Event e of a transaction: its room (on_room when it changes), then an
 * invite of `me` or an ordinary event. */
static int txn_event(struct sync_reader *sr, int e, char *room,
                     const struct sync_sink *s)
{
	const struct json *j = &sr->j;
	char here[LIM_STORE_ID];
	struct txn_inv inv;
	struct sync_ev ev;
	const char *why;
	int r;

	if (json_type(j, e) != JSON_OBJ ||
	    json_get_str(j, e, "room_id", here, sizeof here) ||
	    !ident_matrix_id_valid(here, '!')) {
		LOG_WARN("sync", "event=event_skipped reason=\"no valid room_id "
		         "in a transaction\"");
		sr->skipped++;
		return 0;
	}
	if (strcmp(here, room)) {
		snprintf(room, LIM_STORE_ID, "%s", here);
		if (s->on_room && (r = s->on_room(s->arg, room, 0, "")))
			return r;
	}
	if (txn_invite(j, e, &inv))
		return txn_invited(s, room, &inv);
	memset(&ev, 0, sizeof ev);
	ev.room_id = room;
	if ((why = read_event(sr, e, -1, &ev))) {
		skip_log(sr, room, &ev, why);
		return 0;
	}
	if (ev.is_state && (r = state_event(j, room, e, s)))
		return r;
	return s->on_event ? s->on_event(s->arg, &ev) : 0;
}

int sync_txn_parse(struct sync_reader *sr, const char *body, size_t len,
                   const struct sync_sink *sink)
{
	struct json *j = &sr->j;
	char room[LIM_STORE_ID] = "";
	int r, a;

	r = json_parse(j, body, len);
	if (r)
		return r;
	a = json_type(j, 0) == JSON_OBJ ? json_get(j, 0, "events") : -1;
	if (a < 0 || json_type(j, a) != JSON_ARR)
		return ERR_PROTO;
	for (int e = json_arr_first(j, a); e >= 0; e = json_arr_next(j, a, e))
		if ((r = txn_event(sr, e, room, sink)))
			return r;
	return 0;
}
