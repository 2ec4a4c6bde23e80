/*
 * prov_avatar: each agent user and its room get an avatar, uploaded once
 * and kept: the operator's picture from [matrix] avatar_dir (<agent
 * name>.png, .jpg or .jpeg, else the same by agent id), otherwise one
 * lettamx draws from the agent id (a symmetric 5 x 5 pattern in a colour
 * of the id's hash: no image library, core/png.c writes it). The
 * picture's SHA-256 and where it went are kept in meta ("avatar <agent>":
 * "<hex> <mxc>"), so the same picture is never uploaded twice and a
 * changed file is uploaded at the next discovery. A store that lost the
 * record (rebuilt from the room graph) asks the profile first: a user
 * with an avatar keeps it, and costs no login.
 *
 * An avatar is a nicety: a homeserver that refuses one is logged, the
 * agent is not failed for it.
 */
#include "prov/prov_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "core/err.h"
#include "core/log.h"
#include "core/png.h"

#define AV_SIDE   64            /* pixels of a drawn avatar */
#define AV_CELL   12            /* 5 cells of 12 and a margin of 2 */
#define AV_META   "avatar "

/* ---- the picture ---- */

struct pattern {
	uint8_t h[32];
};

/* A 5 x 5 grid mirrored left to right: 15 bits of the hash. */
static int cell_on(void *arg, int x, int y)
{
	const struct pattern *pt = arg;
	int cx = (x - 2) / AV_CELL, cy = (y - 2) / AV_CELL, bit;

	if (x < 2 || y < 2 || cx > 4 || cy > 4)
		return 0;
	if (cx > 2)
		cx = 4 - cx;
	bit = cy * 3 + cx;
	return pt->h[bit / 8] >> (bit % 8) & 1;
}

static int draw(struct prov *p, const char *agent_id)
{
	static const uint8_t bg[3] = { 240, 240, 240 };
	struct pattern pt;
	uint8_t fg[3];
	size_t cap = png_size(AV_SIDE, AV_SIDE);
	int n;

	mbedtls_sha256((const unsigned char *)agent_id, strlen(agent_id),
	               pt.h, 0);
	/* a colour that stands out from the light background */
	for (int i = 0; i < 3; i++)
		fg[i] = (uint8_t)(30 + pt.h[16 + i] % 170);
	if (!(p->av = malloc(cap)))
		return ERR_NOMEM;
	n = png_two_colour(p->av, cap, AV_SIDE, AV_SIDE, bg, fg, cell_on, &pt);
	if (n < 0)
		return n;
	p->av_len = (size_t)n;
	p->av_type = "image/png";
	return 0;
}

/* The type a picture's bytes say it is (PNG or JPEG), or NULL. */
static const char *type_of(const uint8_t *b, size_t n)
{
	if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8))
		return "image/png";
	if (n >= 3 && !memcmp(b, "\xff\xd8\xff", 3))
		return "image/jpeg";
	return NULL;
}

/* A file name part that stays inside the directory. */
static int name_ok(const char *s)
{
	return s && *s && *s != '.' && !strchr(s, '/') && strlen(s) < 200;
}

/* Reads dir/base.ext for the first ext that exists into the lane.
 * Returns 1 read, 0 none, or an err code (too big, not a picture: the
 * log says which, and a drawn one is used). */
static int read_file(struct prov *p, const char *dir, const char *base)
{
	static const char *const ext[] = { "png", "jpg", "jpeg" };
	char path[4096];
	ssize_t n;
	int fd = -1;

	for (size_t i = 0; i < sizeof ext / sizeof ext[0] && fd < 0; i++) {
		snprintf(path, sizeof path, "%s/%s.%s", dir, base, ext[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0)
		return 0;
	if (!(p->av = malloc(LIM_AVATAR_BYTES + 1))) {
		close(fd);
		return ERR_NOMEM;
	}
	n = read(fd, p->av, LIM_AVATAR_BYTES + 1);
	close(fd);
	if (n <= 0 || n > LIM_AVATAR_BYTES ||
	    !(p->av_type = type_of(p->av, (size_t)n))) {
		LOG_WARN("provision", "event=avatar_file_refused path=%s why=\"%s\"",
		         path, n > LIM_AVATAR_BYTES ? "larger than 1 MiB" :
		         "not a PNG or JPEG picture");
		prov_avatar_free(p);
		return ERR_INVAL;
	}
	p->av_len = (size_t)n;
	return 1;
}

static int make(struct prov *p)
{
	const char *dir = p->c->avatar_dir;
	int r = 0;

	if (dir && *dir && name_ok(p->a->name))
		r = read_file(p, dir, p->a->name);
	if (dir && *dir && r <= 0 && r != ERR_NOMEM && name_ok(p->a->id))
		r = read_file(p, dir, p->a->id);
	if (r == ERR_NOMEM)
		return r;
	return r == 1 ? 0 : draw(p, p->a->id);
}

static void hash_hex(struct prov *p)
{
	uint8_t h[32];

	mbedtls_sha256(p->av, p->av_len, h, 0);
	secret_hex(h, sizeof h, p->av_hash);
}

/* ---- what was made last ---- */

struct av_meta {
	char key[LIM_STORE_ID];
	char val[LIM_STORE_ID + 80];
	int e;
};

static int meta_view(struct store_txn *t, void *arg)
{
	struct av_meta *m = arg;

	m->e = store_meta_get(t, m->key, m->val, sizeof m->val);
	return 0;
}

static int meta_txn(struct store_txn *t, void *arg)
{
	struct av_meta *m = arg;

	return store_meta_put(t, m->key, m->val);
}

#define AV_ADOPTED "?"            /* the hash of a picture not known */

int prov_avatar_adopt(struct store_txn *t, const char *agent_id,
                      const char *mxc)
{
	char key[LIM_STORE_ID], val[LIM_STORE_ID + 80];
	int e;

	snprintf(key, sizeof key, AV_META "%s", agent_id);
	e = store_meta_get(t, key, val, sizeof val);
	if (e != ERR_NOTFOUND)
		return e == ERR_TOOBIG ? 0 : e;
	if ((size_t)snprintf(val, sizeof val, AV_ADOPTED " %s", mxc) >=
	    sizeof val)
		return 0;
	return store_meta_put(t, key, val);
}

static int adopt_txn(struct store_txn *t, void *arg)
{
	return store_meta_put(t, ((struct av_meta *)arg)->key,
	                      ((struct av_meta *)arg)->val);
}

int prov_avatar_want(struct prov *p)
{
	struct av_meta m;
	int r;

	prov_avatar_free(p);
	if (p->c->avatars == PROV_AVATAR_NONE || p->c->dry_run)
		return S_FINISH;
	if ((r = make(p)) < 0) {
		LOG_WARN("provision", "event=avatar_not_made agent=%s err=%s",
		         p->a->id, err_str(r));
		prov_avatar_free(p);
		return S_FINISH;
	}
	hash_hex(p);
	snprintf(m.key, sizeof m.key, AV_META "%s", p->a->id);
	if (store_view(p->c->store, meta_view, &m) < 0)
		return S_AVATAR_UP;
	if (m.e == ERR_NOTFOUND)
		return S_AVATAR_GET;
	if (!m.e && !strncmp(m.val, AV_ADOPTED " ", 2)) {
		char mxc[LIM_STORE_ID];

		/* found in the room graph: this picture, from now on */
		snprintf(mxc, sizeof mxc, "%.*s", (int)sizeof mxc - 1, m.val + 2);
		snprintf(m.val, sizeof m.val, "%s %s", p->av_hash, mxc);
		store_update(p->c->store, adopt_txn, &m);
		prov_avatar_free(p);
		return S_FINISH;
	}
	if (m.e || strncmp(m.val, p->av_hash, 64) || m.val[64] != ' ')
		return S_AVATAR_UP;
	prov_avatar_free(p);    /* the same picture is there */
	return S_FINISH;
}

void prov_avatar_free(struct prov *p)
{
	free(p->av);
	p->av = NULL;
	p->av_len = 0;
}

/* ---- the requests ---- */

int prov_avatar_build(struct prov *p, struct proto_req *req,
                      const char *token)
{
	char content[LIM_STORE_ID + 32];

	switch (p->step) {
	case S_AVATAR_GET:
		return mx_req_get_avatar(req, token, p->rec.user_id);
	case S_AVATAR_UP:
		return mx_req_upload(req, token, strcmp(p->av_type, "image/png")
		                     ? "avatar.jpg" : "avatar.png", p->av,
		                     p->av_len, p->av_type);
	case S_AVATAR_USER:
		return mx_req_avatar(req, token, p->rec.user_id, p->av_mxc);
	default:
		snprintf(content, sizeof content, "{\"url\":\"%s\"}", p->av_mxc);
		return mx_req_state_put(req, token, p->rec.room_id,
		                        "m.room.avatar", "", content);
	}
}

/* The avatar is done (or given up): recorded when done. */
static int finish(struct prov *p, int done)
{
	struct av_meta m;

	if (done) {
		snprintf(m.key, sizeof m.key, AV_META "%s", p->a->id);
		snprintf(m.val, sizeof m.val, "%s %s", p->av_hash, p->av_mxc);
		if (store_update(p->c->store, meta_txn, &m) < 0)
			LOG_WARN("provision", "event=avatar_not_kept agent=%s "
			         "why=\"%s\"", p->a->id, store_why(p->c->store));
		else
			LOG_INFO("provision", "event=avatar agent=%s mxc=%s",
			         p->a->id, p->av_mxc);
	}
	prov_avatar_free(p);
	prov_go(p, S_FINISH);
	return 0;
}

/* The profile's answer: an avatar the user has is taken as the one
 * made last (the store lost the record, the picture was ours), else
 * one is made now. */
static int had(struct prov *p, const struct proto_resp *resp)
{
	struct mx_error e;
	int r = mx_avatar_parse(resp, p->av_mxc, sizeof p->av_mxc, &e);

	if (r == 0 && p->av_mxc[0])
		return finish(p, 1);
	if (r < 0 && r != ERR_NOTFOUND && r != ERR_PROTO &&
	    mx_retry_delay_ms(&e, p->attempt) >= 0 &&
	    p->attempt < LIM_PROV_ATTEMPTS)
		return prov_on_mx_error(p, &e, 0);
	prov_go(p, S_AVATAR_UP);
	return 0;
}

int prov_avatar_feed(struct prov *p, const struct proto_resp *resp)
{
	struct mx_error e;
	int r = 0;

	if (p->step == S_AVATAR_GET)
		return had(p, resp);
	if (p->step == S_AVATAR_UP)
		r = mx_upload_parse(resp, p->av_mxc, sizeof p->av_mxc, &e);
	else if (!mx_ok(resp))
		r = mx_error_parse(resp, &e);
	if (r == ERR_PROTO) {
		LOG_WARN("provision", "event=avatar_failed agent=%s why=\"the "
		         "upload's answer is malformed\"", p->a->id);
		return finish(p, 0);
	}
	if (r) {
		/* waits and tries again where that helps; else given up */
		if (mx_retry_delay_ms(&e, p->attempt) >= 0 &&
		    p->attempt < LIM_PROV_ATTEMPTS)
			return prov_on_mx_error(p, &e, 1);
		LOG_WARN("provision", "event=avatar_failed agent=%s status=%d "
		         "errcode=%s", p->a->id, e.status, e.errcode);
		return finish(p, 0);
	}
	if (p->step == S_AVATAR_UP)
		prov_go(p, S_AVATAR_USER);
	else if (p->step == S_AVATAR_USER && p->rec.room_id[0])
		prov_go(p, S_AVATAR_ROOM);
	else
		return finish(p, 1);
	return 0;
}
