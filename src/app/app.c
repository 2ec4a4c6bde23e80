/*
 * app: the command context shared by the front ends (see app.h).
 */
#include "app/app.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "net/dns.h"
#include "net/http.h"
#include "net/tls.h"

void app_usage(const char *cmd, const char *opts)
{
	fprintf(stderr, "usage: lettamx %s [-c FILE] %s\n", cmd, opts);
}

/* Matches argv word `arg` against flag `f` ("--x" or "--x=" for one with
 * a value). Returns 0 (no match), 1 (a plain flag), 2 (a value flag: the
 * value follows), 3 (a value flag with "=value" inside `arg`). */
static int flag_match(const char *f, const char *arg)
{
	size_t n = strlen(f);

	if (n && f[n - 1] == '=') {
		if (!strncmp(arg, f, n))
			return 3;
		return strlen(arg) == n - 1 && !strncmp(arg, f, n - 1) ? 2 : 0;
	}
	return !strcmp(arg, f);
}

int app_args(int argc, char **argv, const char *const *flags,
             const char **path, int *set, const char **vals)
{
	*path = NULL;
	for (int k = 0; flags[k]; k++) {
		set[k] = 0;
		if (vals)
			vals[k] = NULL;
	}
	for (int i = 1; i < argc; i++) {
		int k, m = 0;

		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) &&
		    i + 1 < argc) {
			*path = argv[++i];
			continue;
		}
		for (k = 0; flags[k] && !(m = flag_match(flags[k], argv[i]));
		     k++)
			;
		if (!flags[k] || (m >= 2 && !vals) || (m == 2 && i + 1 >= argc))
			return -1;
		set[k] = 1;
		if (m == 2)
			vals[k] = argv[++i];
		else if (m == 3)
			vals[k] = argv[i] + strlen(flags[k]);
	}
	return 0;
}

/* An optional secret file: "" when the key is unset. */
static int secret_of(struct app *a, const char *sec, const char *key,
                     char *out, size_t cap)
{
	char err[512];
	int r = cfg_secret(&a->cfg, sec, key, out, cap, err, sizeof err);

	if (r == ERR_NOTFOUND) {
		out[0] = '\0';
		return 0;
	}
	if (r)
		fprintf(stderr, "lettamx: %s\n", err);
	return r;
}

/* The server name: configured, else the bot's, else the homeserver's
 * host. */
static void server_name(struct app *a)
{
	const char *s = cfg_get(&a->cfg, "matrix", "server_name");
	const char *bot = cfg_get(&a->cfg, "matrix", "bot_user");
	const char *url = cfg_get(&a->cfg, "matrix", "homeserver_url");
	const char *colon = bot ? strchr(bot, ':') : NULL;

	if (s)
		snprintf(a->server, sizeof a->server, "%s", s);
	else if (bot && bot[0] == '@' && colon)
		snprintf(a->server, sizeof a->server, "%s", colon + 1);
	else if (url && strstr(url, "://"))
		snprintf(a->server, sizeof a->server, "%.*s",
		         (int)strcspn(strstr(url, "://") + 3, "/"),
		         strstr(url, "://") + 3);
	if (bot && bot[0] == '@')
		snprintf(a->bot_user, sizeof a->bot_user, "%s", bot);
	else
		snprintf(a->bot_user, sizeof a->bot_user, "@%s:%s",
		         bot ? bot : "lettamx", a->server);
}

static void load_invites(struct app *a)
{
	const char *list = cfg_get(&a->cfg, "matrix", "invite");
	int n = 0;

	while (list && n < APP_MAX_INVITES &&
	       !cfg_list_item(list, n, a->invite_buf[n],
	                      sizeof a->invite_buf[n])) {
		a->invite[n] = a->invite_buf[n];
		n++;
	}
	a->pc.invite = a->invite;
	a->pc.ninvite = (size_t)n;
}

static int open_store(struct app *a, enum app_mode mode)
{
	struct store_opts so = { .read_only = mode == APP_READ };
	const char *dir = cfg_get(&a->cfg, "store", "path");
	char why[512];
	int r;

	/* retention after each snapshot */
	so.snap_keep = (int)cfg_num(&a->cfg, "store", "snapshot_keep");
	so.snap_days = (int)cfg_num(&a->cfg, "store", "snapshot_days");
	if (mode == APP_READ && access(dir, F_OK) != 0) {
		fprintf(stderr, "lettamx: nothing provisioned yet: no store at "
		        "%s (run 'lettamx provision')\n", dir);
		return 1;
	}
	r = store_open(&a->store, dir, &so, why, sizeof why);
	if (r) {
		fprintf(stderr, "lettamx: store: %s\n", why);
		return 1;
	}
	return 0;
}

static int open_master(struct app *a, enum app_mode mode)
{
	const char *master = cfg_get(&a->cfg, "store", "master_secret_file");
	uint8_t key[32];
	char why[512];
	int created, r;

	/* A reader never creates a master secret, and without one there is
	 * nothing sealed to open. */
	if (mode == APP_READ && access(master, F_OK) != 0)
		return 0;
	r = secret_master_load(&a->master, master, &created, why, sizeof why);
	if (r) {
		fprintf(stderr, "lettamx: master secret: %s\n", why);
		return r == ERR_CONFIG ? 2 : 1;
	}
	/* Agent passwords and tokens are sealed at rest with a key derived
	 * from the master secret. */
	if (store_key_derive(a->master.key, a->master.len, key)) {
		fprintf(stderr, "lettamx: cannot derive the store key\n");
		return 1;
	}
	store_set_key(a->store, key);
	memset(key, 0, sizeof key);
	return 0;
}

static int read_secrets(struct app *a)
{
	if (secret_of(a, "matrix", "bot_token_file", a->bot_token,
	              sizeof a->bot_token) ||
	    secret_of(a, "matrix", "bot_password_file", a->bot_password,
	              sizeof a->bot_password) ||
	    secret_of(a, "matrix", "registration_token_file", a->reg_token,
	              sizeof a->reg_token) ||
	    secret_of(a, "matrix", "shared_secret_file", a->shared_secret,
	              sizeof a->shared_secret) ||
	    secret_of(a, "letta", "token_file", a->letta_token,
	              sizeof a->letta_token))
		return 2;
	return 0;
}

static int as_view(struct store_txn *t, void *arg)
{
	struct app_as *as = arg;
	bool clear;
	int e = store_meta_get_sealed(t, APP_META_AS_TOKEN, as->as_token,
	                              sizeof as->as_token, &clear);

	if (!e)
		e = store_meta_get_sealed(t, APP_META_HS_TOKEN, as->hs_token,
		                          sizeof as->hs_token, &clear);
	if (e) {
		as->as_token[0] = as->hs_token[0] = '\0';
		return e == ERR_NOTFOUND ? 0 : e;
	}
	return 0;
}

int app_as_load(struct app *a)
{
	int e = a->store ? store_view(a->store, as_view, &a->as) : 0;

	if (a->as.as_token[0])
		log_add_secret(a->as.as_token);
	if (a->as.hs_token[0])
		log_add_secret(a->as.hs_token);
	return e;
}

/* Application-service mode: the bot and the agent users act with the
 * service's token; the homeserver's limits do not apply to them. */
static int as_conf(struct app *a)
{
	struct prov_conf *pc = &a->pc;
	int e = app_as_load(a);

	if (e < 0) {
		fprintf(stderr, "lettamx: the application service's tokens "
		        "cannot be read: %s\n", store_why(a->store));
		return 1;
	}
	pc->as_token = a->as.as_token;
	pc->bot_token = a->as.as_token[0] ? a->as.as_token : NULL;
	pc->bot_password = NULL;
	pc->rl_override = 0;
	return 0;
}

static int fill_conf(struct app *a)
{
	struct prov_conf *pc = &a->pc;
	const char *reg = cfg_get(&a->cfg, "matrix", "registration");

	server_name(a);
	if (!ident_matrix_id_valid(a->bot_user, '@')) {
		fprintf(stderr, "lettamx: [matrix] bot_user: '%s' is not a "
		        "Matrix user id (set server_name?)\n", a->bot_user);
		return 2;
	}
	a->as.on = !strcmp(cfg_get(&a->cfg, "matrix", "mode"), "appservice");
	pc->reg = a->as.on ? MX_REG_APPSERVICE : mx_reg_parse(reg);
	if (pc->reg < 0) {
		fprintf(stderr, "lettamx: set [matrix] registration (token, "
		        "shared-secret, admin-api or dummy): how agent users "
		        "are created\n");
		return 2;
	}
	if (read_secrets(a))
		return 2;
	pc->server_name = a->server;
	pc->user_prefix = cfg_get(&a->cfg, "matrix", "user_prefix");
	pc->reg_token = a->reg_token;
	pc->shared_secret = a->shared_secret;
	pc->bot_user = a->bot_user;
	pc->bot_token = a->bot_token[0] ? a->bot_token : NULL;
	pc->bot_password = a->bot_password[0] ? a->bot_password : NULL;
	pc->space_name = cfg_get(&a->cfg, "matrix", "space_name");
	pc->include_tags = cfg_get(&a->cfg, "letta", "tags_include");
	pc->exclude_tags = cfg_get(&a->cfg, "letta", "tags_exclude");
	pc->letta_token = a->letta_token[0] ? a->letta_token : NULL;
	pc->grace_ms = cfg_num(&a->cfg, "letta", "delete_grace");
	pc->snapdir = cfg_get(&a->cfg, "store", "snapshot_dir");
	pc->master = &a->master;
	pc->store = a->store;
	pc->rl_override = strcmp(cfg_get(&a->cfg, "matrix",
	                                 "rate_limit_override"), "off") != 0;
	pc->access = !strcmp(cfg_get(&a->cfg, "matrix", "access"), "space")
	             ? PROV_ACCESS_SPACE : PROV_ACCESS_INVITE;
	pc->avatars = !strcmp(cfg_get(&a->cfg, "matrix", "avatars"), "none")
	              ? PROV_AVATAR_NONE : PROV_AVATAR_MAKE;
	pc->avatar_dir = cfg_get(&a->cfg, "matrix", "avatar_dir");
	load_invites(a);
	return a->as.on ? as_conf(a) : 0;
}

int app_open(struct app *a, const char *path, enum app_mode mode)
{
	char why[512];
	int r;

	memset(a, 0, sizeof *a);
	if (cfg_load(&a->cfg, path, NULL, why, sizeof why)) {
		fprintf(stderr, "lettamx: %s\n", why);
		return 2;
	}
	r = open_store(a, mode);
	if (!r)
		r = open_master(a, mode);
	if (!r)
		r = fill_conf(a);
	if (r)
		app_close(a);
	return r;
}

int app_net_open(struct app *a)
{
	struct app_net *n = &a->net;
	struct tls_conf tc = {
		.ca_file = cfg_get(&a->cfg, "matrix", "ca_file"),
		.no_verify = !cfg_num(&a->cfg, "matrix", "tls_verify"),
	};

	n->loop = loop_new();
	n->dns = n->loop ? dns_new(n->loop, NULL) : NULL;
	if (!n->dns)
		return ERR_NOMEM;
	/* Plain http needs no TLS: a missing CA bundle only matters to an
	 * https URL, which then fails with ERR_TLS and says so. */
	if (tls_ctx_new(&n->tls, &tc))
		n->tls = NULL;
	/* Every Letta turn in flight holds a connection to Letta for its
	 * whole length: Letta's pool must hold [bridge] max_turns of them and
	 * room to spare, or a slow agent would delay another room's turn.
	 * The homeserver's requests are short: it keeps the small default,
	 * since a burst over a thousand rooms on a thousand connections made
	 * a thread-per-connection homeserver spend 40 times the CPU. */
	int64_t turns = cfg_num(&a->cfg, "bridge", "max_turns");
	const char *letta = cfg_get(&a->cfg, "letta", "base_url");

	n->http = http_client_new(n->loop, n->dns, n->tls, NULL);
	if (!n->http)
		return ERR_NOMEM;
	if (letta && *letta && turns + 8 > LIM_HTTP_PER_ORIGIN)
		http_client_origin_cap(n->http, letta, (int)turns + 8);
	return 0;
}

void app_close(struct app *a)
{
	struct app_net *n = &a->net;

	http_client_free(n->http);
	tls_ctx_free(n->tls);
	dns_free(n->dns);
	loop_free(n->loop);
	memset(n, 0, sizeof *n);
	secret_master_reset(&a->master);
	store_close(a->store);
	a->store = NULL;
	memset(a->bot_token, 0, sizeof a->bot_token);
	memset(a->bot_password, 0, sizeof a->bot_password);
	memset(&a->as, 0, sizeof a->as);
	memset(a->reg_token, 0, sizeof a->reg_token);
	memset(a->shared_secret, 0, sizeof a->shared_secret);
	memset(a->letta_token, 0, sizeof a->letta_token);
}
