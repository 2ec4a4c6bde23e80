/*
 * ops_appservice: `lettamx appservice registration [-o FILE] [--rotate]`,
 * the registration a homeserver needs before [matrix] mode = appservice
 * can work.
 *
 * The two tokens are made once from the DRBG and kept sealed in the
 * store, so running the command again writes the same file (a homeserver
 * that loaded it goes on working); --rotate makes new ones, and says
 * that the homeserver must load the file again. The file holds both
 * secrets: it is written with mode 0600, through a temporary file and a
 * rename, so a crash never leaves half of it.
 */
#include "ops/ops_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "core/err.h"
#include "matrix/mx_as_reg.h"
#include "ops/ops_int.h"
#include "store/secret.h"

#define REG_MAX 4096

struct tokens {
	char as[LIM_STORE_SECRET], hs[LIM_STORE_SECRET];
	int made;
};

static int tokens_txn(struct store_txn *t, void *arg)
{
	struct tokens *k = arg;
	int e = store_meta_put_sealed(t, APP_META_AS_TOKEN, k->as);

	return e ? e : store_meta_put_sealed(t, APP_META_HS_TOKEN, k->hs);
}

/* The tokens of the store, or new ones (none yet, or rotate). */
static int tokens(struct app *a, int rotate, struct tokens *k)
{
	int e;

	if (!rotate && a->as.as_token[0] && a->as.hs_token[0]) {
		snprintf(k->as, sizeof k->as, "%s", a->as.as_token);
		snprintf(k->hs, sizeof k->hs, "%s", a->as.hs_token);
		return 0;
	}
	if (secret_token(k->as, sizeof k->as) ||
	    secret_token(k->hs, sizeof k->hs)) {
		fprintf(stderr, "lettamx appservice: no random numbers for "
		        "the tokens\n");
		return 1;
	}
	if ((e = store_update(a->store, tokens_txn, k)) < 0) {
		fprintf(stderr, "lettamx appservice: the tokens cannot be "
		        "kept: %s\n", store_why(a->store));
		return 1;
	}
	k->made = 1;
	return 0;
}

/* The bot's localpart: what follows '@' up to ':'. */
static void localpart(const char *user, char *out, size_t cap)
{
	const char *s = user[0] == '@' ? user + 1 : user;

	snprintf(out, cap, "%.*s", (int)strcspn(s, ":"), s);
}

/* Writes text to file (mode 0600) through file.tmp and a rename. */
static int write_file(const char *file, const char *text, size_t n)
{
	char tmp[4096];
	int fd, ok;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", file) >= sizeof tmp)
		return ERR_TOOBIG;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return ERR_IO;
	ok = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, file) != 0) {
		unlink(tmp);
		return ERR_IO;
	}
	return 0;
}

/* The registration of a's configuration with tokens k into out. */
static int render(struct app *a, const struct tokens *k, char *out,
                  size_t cap)
{
	const char *listen = cfg_get(&a->cfg, "appservice", "listen");
	const char *url = cfg_get(&a->cfg, "appservice", "url");
	char bot[256], def[300], why[256];
	struct mx_as_reg r = {
		.id = cfg_get(&a->cfg, "appservice", "id"),
		.as_token = k->as, .hs_token = k->hs,
		.user_prefix = cfg_get(&a->cfg, "matrix", "user_prefix"),
		.server_name = a->server,
	};
	int n;

	localpart(a->bot_user, bot, sizeof bot);
	snprintf(def, sizeof def, "http://%s", listen ? listen : "");
	r.url = url ? url : def;
	r.sender_localpart = bot;
	n = mx_as_reg_yaml(&r, out, cap, why, sizeof why);
	if (n < 0)
		fprintf(stderr, "lettamx appservice: %s\n", n == ERR_INVAL ? why
		        : "the registration is too long");
	return n;
}

static int registration(struct app *a, const char *file, int rotate)
{
	struct tokens k = { .made = 0 };
	char yaml[REG_MAX];
	int n, r = tokens(a, rotate, &k);

	if (r)
		return r;
	if ((n = render(a, &k, yaml, sizeof yaml)) < 0)
		return 2;
	if (!file) {
		fwrite(yaml, 1, (size_t)n, stdout);
	} else if (write_file(file, yaml, (size_t)n)) {
		fprintf(stderr, "lettamx appservice: cannot write %s: %s\n",
		        file, strerror(errno));
		return 1;
	}
	fprintf(stderr, "%s the registration of application service '%s' "
	        "(%s tokens)%s%s.\n", file ? "wrote" : "printed",
	        cfg_get(&a->cfg, "appservice", "id"), k.made ? rotate ?
	        "new" : "newly made" : "the same", file ? " to " : "",
	        file ? file : "");
	fprintf(stderr, "%s\n", rotate ? "The tokens changed: the homeserver "
	        "must load this file again (restart it), or it refuses lettamx "
	        "until then." : "Add the file to the homeserver's "
	        "app_service_config_files (Synapse), restart it, and set "
	        "[matrix] mode = appservice.");
	memset(&k, 0, sizeof k);
	memset(yaml, 0, sizeof yaml);
	return 0;
}

int ops_cmd_appservice(int argc, char **argv)
{
	static const char *const flags[] = { "-o=", "--rotate", NULL };
	static struct app a;    /* large; main runs one command */
	const char *path, *vals[2], *what;
	int set[2], r;

	if (ops_args(argc, argv, flags, &path, set, vals, &what) ||
	    !what || strcmp(what, "registration")) {
		app_usage("appservice", "registration [-o FILE] [--rotate]");
		return 2;
	}
	r = app_open(&a, path, APP_WRITE);
	if (r)
		return r;
	r = registration(&a, set[0] ? vals[0] : NULL, set[1]);
	app_close(&a);
	return r;
}
