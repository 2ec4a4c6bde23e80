#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/cfg.h"
#include "core/err.h"
#include "harness.h"
#include "core/log.h"

#define SECRET "s3cr3t-TEST-TOKEN"

static struct cfg c;
static char *no_env[] = { NULL };
static char err[LIM_CFG_ERR];

static const char *tmp(const char *name)
{
	static char p[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof p[i], "%s/%s", harness_tmpdir(), name);
	return p[i];
}

static const char *write_file(const char *name, const char *text, int mode)
{
	const char *p = tmp(name);
	int fd;

	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		harness_fail(__FILE__, __LINE__, "write %s", p);
	close(fd);
	chmod(p, (mode_t)mode);
	return p;
}

#define BASE "[matrix]\nhomeserver_url = https://matrix.example.org\n" \
             "[letta]\nbase_url = http://127.0.0.1:8283\n"

/* Loads text (plus env) and returns the result; err holds the message. */
static int load(const char *text, char *const *env)
{
	const char *p = write_file("lettamx.conf", text, 0600);

	err[0] = 0;
	return cfg_load(&c, p, env ? env : no_env, err, sizeof err);
}

/* Expects a failure whose message contains every needle. */
static void expect(int line, const char *text, char *const *env,
                   const char *n1, const char *n2)
{
	int r = load(text, env);

	if (r != ERR_CONFIG)
		harness_fail(__FILE__, line, "expected ERR_CONFIG, got %d", r);
	if (!strstr(err, n1) || (n2 && !strstr(err, n2)))
		harness_fail(__FILE__, line, "message '%s' lacks '%s' / '%s'",
		             err, n1, n2 ? n2 : "");
}

static void test_valid_and_defaults(void)
{
	CHECK_EQ(load("# comment\n ; another\n\n" BASE
	              "[store]\npath = \"/srv/lmx\"\n[log]\nlevel=debug\n",
	              NULL), 0);
	CHECK_STR(cfg_get(&c, "matrix", "homeserver_url"),
	          "https://matrix.example.org");
	CHECK_STR(cfg_get(&c, "matrix", "user_prefix"), "letta_");
	CHECK_STR(cfg_get(&c, "matrix", "space_name"), "Letta Agents");
	CHECK_STR(cfg_get(&c, "store", "snapshot_dir"), "/srv/lmx/snapshots");
	CHECK_STR(cfg_get(&c, "log", "level"), "debug");
	CHECK_EQ(cfg_num(&c, "matrix", "tls_verify"), 1);
	CHECK_EQ(cfg_num(&c, "letta", "discovery_interval"), 60000);
	CHECK_EQ(cfg_num(&c, "letta", "delete_grace"), 2 * 3600000);
	CHECK_EQ(cfg_num(&c, "store", "snapshot_keep"), 20);
	/* sizes: the pictures' defaults, 5MB and 32MiB */
	CHECK_EQ(cfg_num(&c, "bridge", "image_max_bytes"), 5000000);
	CHECK_EQ(cfg_num(&c, "bridge", "image_memory"), 32 * 1048576);
	CHECK(cfg_get(&c, "matrix", "ca_file") == NULL);
	CHECK(cfg_get(&c, "nope", "x") == NULL);
	CHECK_EQ(cfg_apply_log(&c), 0);
	CHECK_EQ(log_get_level(), LOG_LEVEL_DEBUG);
	log_set_level(LOG_LEVEL_INFO);
}

static void test_environment(void)
{
	char *env[] = { "LETTAMX_LETTA_DISCOVERY_INTERVAL=15m",
	                "LETTAMX_STORE_PATH=/data", "LETTAMX_BIN=/x/lettamx",
	                "PATH=/bin", NULL };
	char out[4096] = "";
	FILE *f;

	CHECK_EQ(load(BASE "[letta]\n", env), 0);   /* a section may reopen */
	CHECK_EQ(load(BASE, env), 0);
	CHECK_EQ(cfg_num(&c, "letta", "discovery_interval"), 15 * 60000);
	CHECK_STR(cfg_get(&c, "store", "snapshot_dir"), "/data/snapshots");
	f = fmemopen(out, sizeof out - 1, "w");
	cfg_print(&c, f);
	fclose(f);
	CHECK(strstr(out, "discovery_interval = 15m  # environment "
	                  "LETTAMX_LETTA_DISCOVERY_INTERVAL") != NULL);
	CHECK(strstr(out, "homeserver_url = https://matrix.example.org  # ")
	      != NULL);
	CHECK(strstr(out, "lettamx.conf:2\n") != NULL);
	CHECK(strstr(out, "user_prefix = letta_  # default") != NULL);
	char *typo[] = { "LETTAMX_MATRIX_HOMSERVER_URL=https://x", NULL };
	expect(__LINE__, BASE, typo, "environment LETTAMX_MATRIX_HOMSERVER_URL",
	       "unknown key in [matrix]");
	char *badv[] = { "LETTAMX_MATRIX_TLS_VERIFY=perhaps", NULL };
	expect(__LINE__, BASE, badv, "environment LETTAMX_MATRIX_TLS_VERIFY: "
	       "[matrix] tls_verify: 'perhaps' is not true or false", NULL);
}

static void test_file_errors(void)
{
	char big[LIM_CFG_LINE + 64];
	const char *p = tmp("missing.conf");

	CHECK_EQ(cfg_load(&c, p, no_env, err, sizeof err), ERR_CONFIG);
	CHECK(strstr(err, "cannot read") && strstr(err, "missing.conf"));
	expect(__LINE__, BASE "[matirx]\n", NULL, "lettamx.conf:5: unknown "
	       "section [matirx]", NULL);
	expect(__LINE__, BASE "[log\n", NULL, "lettamx.conf:5: a section "
	       "header is '[name]'", NULL);
	expect(__LINE__, "level = info\n", NULL, "lettamx.conf:1: key "
	       "'level' before any [section]", NULL);
	expect(__LINE__, BASE "just words\n", NULL, "lettamx.conf:5: expected "
	       "'key = value'", NULL);
	expect(__LINE__, BASE "[log]\nlevle = info\n", NULL, "lettamx.conf:6: "
	       "unknown key 'levle' in [log]", NULL);
	expect(__LINE__, BASE "[matrix]\nhomeserver_url = https://b\n", NULL,
	       "lettamx.conf:6: [matrix] homeserver_url is set twice (first "
	       "on line 2)", NULL);
	memset(big, 'a', sizeof big);
	memcpy(big, "[log]\nlevel = ", 14);
	big[LIM_CFG_VALUE + 20] = '\n';
	big[LIM_CFG_VALUE + 21] = 0;
	expect(__LINE__, big, NULL, "lettamx.conf:2: [log] level: value "
	       "longer than", NULL);
	big[LIM_CFG_VALUE + 20] = 'a';
	big[LIM_CFG_VALUE + 21] = 'a';
	big[sizeof big - 1] = 0;
	expect(__LINE__, big, NULL, "lettamx.conf:2: line longer than", NULL);
}

static void test_value_errors(void)
{
	expect(__LINE__, "[letta]\nbase_url = http://l\n", NULL,
	       "[matrix] homeserver_url is required", "LETTAMX_MATRIX_"
	       "HOMESERVER_URL");
	expect(__LINE__, BASE "[store]\nsnapshot_keep = 0\n", NULL,
	       "lettamx.conf:6: [store] snapshot_keep: 0 is outside 1..1000",
	       NULL);
	expect(__LINE__, BASE "[store]\nsnapshot_keep = 12x\n", NULL,
	       "snapshot_keep: '12x' is not a whole number", NULL);
	expect(__LINE__, BASE "[matrix]\ntls_verify = maybe\n", NULL,
	       "lettamx.conf:6: [matrix] tls_verify: 'maybe' is not true or "
	       "false", NULL);
	expect(__LINE__, BASE "[letta]\ndiscovery_interval = 5s\n", NULL,
	       "discovery_interval: 5s is outside 10s..1d", NULL);
	expect(__LINE__, BASE "[letta]\ndelete_grace = soon\n", NULL,
	       "delete_grace: 'soon' is not a duration", NULL);
	expect(__LINE__, BASE "[bridge]\nimage_max_bytes = 5 MB\n", NULL,
	       "image_max_bytes: '5 MB' is not a size (like 5MB, 512KB, "
	       "32MiB)", NULL);
	expect(__LINE__, BASE "[bridge]\nimage_max_bytes = 17MiB\n", NULL,
	       "image_max_bytes: 17MiB is outside 0..16777216 bytes", NULL);
	expect(__LINE__, BASE "[bridge]\nimage_memory = 512KiB\n", NULL,
	       "image_memory: 512KiB is outside 1048576..1073741824 bytes",
	       NULL);
	expect(__LINE__, BASE "[store]\npath = var/lib\n", NULL,
	       "[store] path: 'var/lib' is not an absolute path", NULL);
	expect(__LINE__, "[matrix]\nhomeserver_url = matrix.example.org\n"
	       "[letta]\nbase_url = http://l\n", NULL, "lettamx.conf:2: "
	       "[matrix] homeserver_url: 'matrix.example.org' is not an "
	       "http:// or https:// URL", NULL);
	expect(__LINE__, BASE "[matrix]\nregistration = open\n", NULL,
	       "registration: 'open' is not one of token|shared-secret|"
	       "admin-api|dummy", NULL);
	expect(__LINE__, BASE "[matrix]\ninvite = @a:x, bob\n", NULL,
	       "[matrix] invite: 'bob' is not a Matrix user id", NULL);
	expect(__LINE__, BASE "[matrix]\nbot_user = @bot\n", NULL,
	       "bot_user: '@bot' is neither a localpart", NULL);
	expect(__LINE__, BASE "[matrix]\nregistration = token\n", NULL,
	       "[matrix] registration: 'token' needs [matrix] "
	       "registration_token_file", NULL);
	expect(__LINE__, BASE "[log]\ntarget = file\n", NULL,
	       "[log] target: 'file' is not one of stderr|syslog", NULL);
}

/* [letta]: either API, by URL or by name; the App Server's tool mode. */
#define HS "[matrix]\nhomeserver_url = https://m.example\n[letta]\n"

static void test_letta_api(void)
{
	static const struct { const char *text, *n1, *n2; } bad[] = {
		{ HS "base_url = ws://127.0.0.1:4500/ws\napi = rest\n",
		  "lettamx.conf:4: [letta] base_url: 'ws://127.0.0.1:4500/ws' "
		  "is a WebSocket URL", "api = rest" },
		{ "[matrix]\nhomeserver_url = ws://m.example\n[letta]\n"
		  "base_url = http://l\n", "[matrix] homeserver_url: "
		  "'ws://m.example' is not an http:// or https:// URL", NULL },
		{ HS "base_url = ftp://l\n", "'ftp://l' is not an http(s):// "
		  "or ws(s):// URL", NULL },
		{ BASE "api = websocket\n", "api: 'websocket' is not one of "
		  "auto|rest|app-server", NULL },
		{ BASE "tool_mode = yolo\n", "tool_mode: 'yolo' is not one of "
		  "strict|standard|acceptEdits|unrestricted", NULL },
	};

	CHECK_EQ(load(BASE, NULL), 0);
	CHECK_STR(cfg_get(&c, "letta", "api"), "auto");
	CHECK_STR(cfg_get(&c, "letta", "tool_mode"), "strict");
	CHECK(cfg_get(&c, "bridge", "approvers") == NULL);
	CHECK_EQ(load(HS "base_url = wss://letta.example/ws\napi = app-server"
	              "\ntool_mode = acceptEdits\n[bridge]\napprovers = "
	              "@ops:example.org\n", NULL), 0);
	CHECK_STR(cfg_get(&c, "letta", "base_url"), "wss://letta.example/ws");
	CHECK_STR(cfg_get(&c, "letta", "tool_mode"), "acceptEdits");
	CHECK_STR(cfg_get(&c, "bridge", "approvers"), "@ops:example.org");
	CHECK_EQ(load(HS "base_url = ws://127.0.0.1:4500\n", NULL), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect(__LINE__, bad[i].text, NULL, bad[i].n1, bad[i].n2);
}

static void test_secret_files(void)
{
	char text[1024], buf[128], sf[512];

	snprintf(sf, sizeof sf, "%s", write_file("token", SECRET "\n", 0600));

	snprintf(text, sizeof text, BASE "[letta]\ntoken_file = %s\n", sf);
	CHECK_EQ(load(text, NULL), 0);
	CHECK_EQ(cfg_secret(&c, "letta", "token_file", buf, sizeof buf, err,
	                    sizeof err), 0);
	CHECK(strcmp(buf, SECRET) == 0);
	CHECK_EQ(cfg_secret(&c, "matrix", "bot_token_file", buf, sizeof buf,
	                    err, sizeof err), ERR_NOTFOUND);
	/* the secret is registered with the log's redaction */
	char path[512];
	snprintf(path, sizeof path, "%s/log.txt", harness_tmpdir());
	fflush(stderr);
	int saved = dup(2), fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	LOG_INFO("test", "value %s", buf);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	char got[512] = "";
	ssize_t n = pread(fd, got, sizeof got - 1, 0);
	got[n > 0 ? n : 0] = 0;
	close(fd);
	CHECK(strstr(got, "value ***") != NULL);
	memset(buf, 0, sizeof buf);
	log_reset_secrets();

	chmod(sf, 0644);
	expect(__LINE__, text, NULL, "[letta] token_file: secret file",
	       "readable by its owner only (mode 0644; chmod 600)");
	write_file("token", "", 0600);
	expect(__LINE__, text, NULL, "[letta] token_file: secret file",
	       "must hold one line");
	unlink(sf);
	expect(__LINE__, text, NULL, "[letta] token_file: cannot read secret "
	       "file", "No such file");
	/* the master secret may not exist yet: it is made at first start */
	snprintf(text, sizeof text, BASE "[store]\nmaster_secret_file = "
	         "%s/none\n", harness_tmpdir());
	CHECK_EQ(load(text, NULL), 0);
}

/* NULL means the process's own environment. */
static void test_process_environment(void)
{
	setenv("LETTAMX_STORE_SNAPSHOT_KEEP", "7", 1);
	CHECK_EQ(cfg_load(&c, write_file("env.conf", BASE, 0600), NULL, err,
	                  sizeof err), 0);
	CHECK_EQ(cfg_num(&c, "store", "snapshot_keep"), 7);
	unsetenv("LETTAMX_STORE_SNAPSHOT_KEEP");
}

static void test_list_items(void)
{
	char item[16];

	CHECK_EQ(cfg_list_item(" a , bb,c ", 0, item, sizeof item), 0);
	CHECK_STR(item, "a");
	CHECK_EQ(cfg_list_item(" a , bb,c ", 1, item, sizeof item), 0);
	CHECK_STR(item, "bb");
	CHECK_EQ(cfg_list_item(" a , bb,c ", 2, item, sizeof item), 0);
	CHECK_STR(item, "c");
	CHECK_EQ(cfg_list_item(" a , bb,c ", 3, item, sizeof item),
	         ERR_NOTFOUND);
	CHECK_EQ(cfg_list_item("0123456789abcdefg", 0, item, sizeof item),
	         ERR_TOOBIG);
}

static void test_command(void)
{
	char p[512];

	snprintf(p, sizeof p, "%s", write_file("cmd.conf", BASE, 0600));
	char *ok[] = { "config", "check", "-c", p, NULL };
	char *bad[] = { "config", "-c", p, NULL };
	char *bad2[] = { "config", "check", "--frobnicate", NULL };

	fflush(stdout);
	int saved = dup(1), null = open("/dev/null", O_WRONLY);
	dup2(null, 1);
	int r1 = cfg_cmd(4, ok);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	close(null);
	CHECK_EQ(r1, 0);
	saved = dup(2);
	null = open("/dev/null", O_WRONLY);
	dup2(null, 2);
	int r2 = cfg_cmd(3, bad), r3 = cfg_cmd(3, bad2);
	write_file("cmd.conf", "[log]\nlevel = x\n", 0600);
	int r4 = cfg_cmd(4, ok);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(null);
	CHECK_EQ(r2, 2);
	CHECK_EQ(r3, 2);
	CHECK_EQ(r4, 2);
}

int main(void)
{
	RUN(test_valid_and_defaults);
	RUN(test_environment);
	RUN(test_file_errors);
	RUN(test_value_errors);
	RUN(test_letta_api);
	RUN(test_secret_files);
	RUN(test_process_environment);
	RUN(test_list_items);
	RUN(test_command);
	return harness_done("cfg");
}
