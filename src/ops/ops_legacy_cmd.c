/*
 * ops_legacy_cmd: `lettamx import-json FILE [--dry-run | --verify]` and
 * `lettamx export-json [FILE] [--with-secrets]`.
 *
 * import-json validates the whole file first (nothing is opened for
 * writing before it passes), then snapshots the store and imports every
 * entry in one transaction, or nothing. Imported passwords are sealed at
 * rest like ours (the store seals every record it writes), so provisioning
 * logs the existing users in instead of making new ones.
 */
#include "ops/ops_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "core/err.h"
#include "core/json.h"
#include "ops/ops_int.h"
#include "ops/ops_legacy.h"
#include "prov/provision.h"
#include "store/store_snap.h"

static void on_report(void *arg, bool fatal, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s: %s\n", fatal ? "error" : "warning", msg);
}

static void on_diff(void *arg, bool fatal, const char *msg)
{
	(void)fatal;
	(*(int *)arg)++;
	printf("differs: %s\n", msg);
}

/* Reads a whole file (at most LIM_JSON_DOC bytes) into a heap buffer. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = f ? malloc(LIM_JSON_DOC + 1) : NULL;

	if (!buf) {
		fprintf(stderr, "lettamx: cannot read %s: %s\n", path,
		        f ? "out of memory" : strerror(errno));
		if (f)
			fclose(f);
		return NULL;
	}
	*len = fread(buf, 1, LIM_JSON_DOC + 1, f);
	if (ferror(f) || *len > LIM_JSON_DOC) {
		fprintf(stderr, "lettamx: cannot read %s: %s\n", path,
		        ferror(f) ? strerror(errno) : "bigger than 8 MiB");
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* ---- import ---- */

struct imp {
	struct legacy_file *f;
	size_t made, changed, same;
	int diffs;
};

/* The record entry e makes, merged with what the store has (kept: the
 * access token while the user is the same, the provisioning flags while
 * the room is the same). */
static void merge(const struct legacy_entry *e, const struct store_agent *old,
                  struct store_agent *out)
{
	*out = old ? *old : e->a;
	memcpy(out->name, e->a.name, sizeof out->name);
	memcpy(out->user_id, e->a.user_id, sizeof out->user_id);
	memcpy(out->room_id, e->a.room_id, sizeof out->room_id);
	if (e->has_password)
		memcpy(out->password, e->a.password, sizeof out->password);
	if (!old)
		return;
	if (strcmp(old->user_id, e->a.user_id))
		out->access_token[0] = '\0';
	if (strcmp(old->room_id, e->a.room_id))
		out->flags &= ~(uint32_t)(PROV_F_ROOM_INTENT | PROV_F_LINKED |
		                          PROV_F_BOT_JOINED);
	out->flags = (out->flags & ~STORE_AGENT_ROOM_CREATED) |
	             (e->a.flags & STORE_AGENT_ROOM_CREATED);
}

static int same(const struct store_agent *a, const struct store_agent *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->user_id, b->user_id) &&
	       !strcmp(a->room_id, b->room_id) &&
	       !strcmp(a->password, b->password) &&
	       !strcmp(a->access_token, b->access_token) &&
	       a->flags == b->flags;
}

/* Counts (plan) or writes (put) every entry. */
static int each_entry(struct store_txn *t, struct imp *im, int put)
{
	struct store_agent old, rec;
	int r;

	im->made = im->changed = im->same = 0;
	for (size_t i = 0; i < im->f->n; i++) {
		const struct legacy_entry *e = &im->f->e[i];

		r = store_agent_get(t, e->a.agent_id, &old);
		if (r < 0 && r != ERR_NOTFOUND)
			return r;
		merge(e, r ? NULL : &old, &rec);
		if (r)
			im->made++;
		else if (same(&old, &rec)) {
			im->same++;
			continue;
		} else
			im->changed++;
		if (put && (r = store_agent_put(t, &rec)) < 0)
			return r;
	}
	return 0;
}

static int plan_fn(struct store_txn *t, void *arg)
{
	return each_entry(t, arg, 0);
}

static int put_fn(struct store_txn *t, void *arg)
{
	return each_entry(t, arg, 1);
}

static int in_file(const struct legacy_file *f, const char *id)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->e[i].a.agent_id, id))
			return 1;
	return 0;
}

static int extra_row(const struct store_agent *a, void *arg)
{
	struct imp *im = arg;

	if (!in_file(im->f, a->agent_id)) {
		printf("differs: %s: in the store (%s), not in the file\n",
		       a->agent_id, a->user_id);
		im->diffs++;
	}
	return 0;
}

static int verify_fn(struct store_txn *t, void *arg)
{
	struct imp *im = arg;
	struct store_agent s;
	int r;

	for (size_t i = 0; i < im->f->n; i++) {
		r = store_agent_get(t, im->f->e[i].a.agent_id, &s);
		if (r < 0 && r != ERR_NOTFOUND)
			return r;
		legacy_diff(&im->f->e[i], r ? NULL : &s, on_diff, &im->diffs);
	}
	return store_agent_each(t, extra_row, im);
}

static int do_verify(struct app *a, struct imp *im, const char *file)
{
	int r = store_view(a->store, verify_fn, im);

	if (r < 0) {
		fprintf(stderr, "lettamx import-json: %s\n", store_why(a->store));
		return 2;
	}
	if (im->diffs) {
		printf("%d differences between %s and the store\n", im->diffs,
		       file);
		return 1;
	}
	printf("%s and the store agree (%zu agents)\n", file, im->f->n);
	return 0;
}

static int do_import(struct app *a, struct imp *im, int dry)
{
	const char *snapdir = cfg_get(&a->cfg, "store", "snapshot_dir");
	struct store_snap snap;
	int r = store_view(a->store, plan_fn, im);

	if (r >= 0 && dry) {
		printf("would import %zu agents: %zu new, %zu changed, %zu "
		       "unchanged (after a snapshot); nothing was written\n",
		       im->f->n, im->made, im->changed, im->same);
		ops_adopt(a, im->f, 1);
		return 0;
	}
	if (r >= 0 && !im->made && !im->changed) {
		printf("nothing to import: the store already holds all %zu "
		       "agents\n", im->f->n);
		ops_adopt(a, im->f, 0);         /* what is left of it */
		return 0;
	}
	if (r >= 0)
		r = store_update_snap(a->store, snapdir, "import-json", put_fn,
		                      im, &snap);
	if (r < 0) {
		fprintf(stderr, "lettamx import-json: %s; nothing was "
		        "written\n", store_why(a->store));
		return 1;
	}
	printf("imported %zu agents in one transaction: %zu new, %zu "
	       "changed, %zu unchanged\nthe state before is in snapshot %s\n",
	       im->f->n, im->made, im->changed, im->same, snap.name);
	fflush(stdout);
	/* the import stands either way; what adoption could not do it said */
	ops_adopt(a, im->f, 0);
	return 0;
}

/* 1 when the configured store does not exist yet (a dry run then opens
 * nothing: it would create the store and the master secret). */
static int no_store(const char *path)
{
	static struct cfg cfg;
	char why[512];

	return !cfg_load(&cfg, path, NULL, why, sizeof why) &&
	       access(cfg_get(&cfg, "store", "path"), F_OK) != 0;
}

int ops_cmd_import(int argc, char **argv)
{
	static const char *const flags[] = { "--dry-run", "--verify", NULL };
	static struct app a;    /* the process's one context */
	struct legacy_file f;
	struct imp im = { &f, 0, 0, 0, 0 };
	const char *path, *file;
	char *text;
	size_t len;
	int set[2], r;

	if (ops_args(argc, argv, flags, &path, set, NULL, &file) || !file ||
	    (set[0] && set[1])) {
		app_usage("import-json", "FILE [--dry-run | --verify]");
		return 2;
	}
	text = slurp(file, &len);
	if (!text)
		return 1;
	r = legacy_parse(text, len, &f, on_report, NULL);
	free(text);
	if (r) {
		fprintf(stderr, "lettamx import-json: %s refused (%d errors); "
		        "nothing was written\n", file, f.errors);
		legacy_free(&f);
		return 1;
	}
	if (set[0] && no_store(path)) {
		printf("would import %zu agents: %zu new (the store would be "
		       "created); nothing was written\n", f.n, f.n);
		legacy_free(&f);
		return 0;
	}
	/* a dry run or --verify only reads: beside a daemon too */
	r = app_open(&a, path, set[0] || set[1] ? APP_READ : APP_WRITE);
	if (!r)
		r = set[1] ? do_verify(&a, &im, file) : do_import(&a, &im, set[0]);
	app_close(&a);
	legacy_free(&f);
	return r;
}

/* ---- export ---- */

struct exp {
	FILE *out;
	int with_secrets;
	size_t n;
	char buf[8192];
};

static int export_row(const struct store_agent *ag, void *arg)
{
	struct exp *x = arg;
	struct json_w w;
	size_t len;

	json_w_init(&w, x->buf, sizeof x->buf);
	json_w_obj(&w);
	legacy_write(&w, ag, x->with_secrets);
	json_w_obj_end(&w);
	if (json_w_finish(&w, &len) < 0)
		return ERR_TOOBIG;
	/* one member per line, without the braces around it */
	fprintf(x->out, "%s  %.*s", x->n++ ? ",\n" : "", (int)(len - 2),
	        x->buf + 1);
	return 0;
}

static int export_fn(struct store_txn *t, void *arg)
{
	return store_agent_each(t, export_row, arg);
}

static FILE *create(const char *file, int secret)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	              secret ? 0600 : 0644);
	FILE *f;

	if (fd < 0) {
		fprintf(stderr, "lettamx export-json: cannot create %s: %s%s\n",
		        file, strerror(errno), errno == EEXIST ?
		        " (it is never overwritten: remove it or choose "
		        "another name)" : "");
		return NULL;
	}
	f = fdopen(fd, "w");
	if (!f)
		close(fd);
	return f;
}

int ops_cmd_export(int argc, char **argv)
{
	static const char *const flags[] = { "--with-secrets", NULL };
	static struct app a;
	static struct exp x;
	const char *path, *file;
	int set[1], r;

	if (ops_args(argc, argv, flags, &path, set, NULL, &file)) {
		app_usage("export-json", "[FILE] [--with-secrets]");
		return 2;
	}
	if (set[0] && !file) {
		fprintf(stderr, "lettamx export-json: --with-secrets writes "
		        "passwords: give a FILE (it is created 0600)\n");
		return 2;
	}
	r = app_open(&a, path, APP_READ);
	if (r)
		return r;
	x.with_secrets = set[0];
	x.out = file ? create(file, set[0]) : stdout;
	if (!x.out) {
		app_close(&a);
		return 1;
	}
	fputs("{\n", x.out);
	r = store_view(a.store, export_fn, &x);
	fputs(x.n ? "\n}\n" : "}\n", x.out);
	if (r < 0)
		fprintf(stderr, "lettamx export-json: %s\n", store_why(a.store));
	if (file && (fclose(x.out) != 0) && r >= 0) {
		fprintf(stderr, "lettamx export-json: writing %s failed\n", file);
		r = ERR_IO;
	} else if (file && r >= 0) {
		fprintf(stderr, "wrote %zu agents to %s%s\n", x.n, file,
		        set[0] ? " (with passwords, mode 0600)" : "");
	}
	memset(x.buf, 0, sizeof x.buf);
	app_close(&a);
	return r < 0 ? 1 : 0;
}
