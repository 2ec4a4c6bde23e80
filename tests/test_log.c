#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/err.h"
#include "harness.h"
#include "core/log.h"

#define SECRET "s3cr3t-TEST-TOKEN"

static char out[8192];
static int saved = -1, cap_fd = -1;

/* Sends stderr to a file until captured() reads it back into out. */
static void capture(void)
{
	char path[512];

	snprintf(path, sizeof path, "%s/stderr.txt", harness_tmpdir());
	fflush(stderr);
	saved = dup(2);
	cap_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	dup2(cap_fd, 2);
}

static const char *captured(void)
{
	ssize_t n;

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(cap_fd, out, sizeof out - 1, 0);
	out[n > 0 ? n : 0] = 0;
	close(cap_fd);
	return out;
}

static bool has(const char *needle) { return strstr(out, needle) != NULL; }

static void test_levels_and_format(void)
{
	log_set_level(LOG_LEVEL_WARN);
	capture();
	LOG_INFO("http", "event=hidden");
	LOG_WARN("http", "event=shown host=%s port=%u", "example.org", 443u);
	LOG_ERROR("store", "event=bad");
	captured();
	CHECK(!has("hidden"));
	CHECK(has(" warn http event=shown host=example.org port=443\n"));
	CHECK(has(" error store event=bad\n"));
	CHECK(out[4] == '-' && out[10] == 'T');
	log_set_level(LOG_LEVEL_INFO);
	enum log_level l;
	CHECK_EQ(log_parse_level("debug", &l), 0);
	CHECK_EQ(l, LOG_LEVEL_DEBUG);
	CHECK_EQ(log_parse_level("verbose", &l), ERR_INVAL);
}

static void test_registered_secret(void)
{
	CHECK_EQ(log_add_secret(SECRET), 0);
	CHECK_EQ(log_add_secret("abc"), 0);        /* too short: ignored */
	capture();
	LOG_INFO("matrix", "event=login reply=%s%s", SECRET, SECRET);
	LOG_INFO("matrix", "mid-" SECRET "-word and abc");
	captured();
	CHECK(!has(SECRET));
	CHECK(has("reply=******\n"));
	CHECK(has("mid-***-word and abc"));
	log_reset_secrets();
}

static void test_key_redaction(void)
{
	/* nothing registered: the key names alone cause the redaction */
	capture();
	LOG_INFO("http", "GET /sync?since=s1&access_token=" SECRET "&x=1");
	LOG_INFO("http", "body {\"user\":\"@a:x\",\"password\": \"" SECRET
	         "\\\"x\",\"type\":\"m.login.password\"}");
	LOG_INFO("http", "header Authorization: Bearer " SECRET);
	LOG_INFO("cfg", "token=" SECRET " shared_secret=" SECRET
	         " registration_token='" SECRET "' PASSWORD=" SECRET);
	LOG_INFO("letta", "tokens=5 max_tokens=9 event=ok");
	captured();
	CHECK(!has(SECRET));
	CHECK(has("access_token=***&x=1"));
	CHECK(has("\"password\": ***,\"type\":\"m.login.password\""));
	CHECK(has("Authorization: ***\n"));
	CHECK(has("token=*** shared_secret=*** registration_token=***"));
	CHECK(has("PASSWORD=***\n"));
	CHECK(has("tokens=5 max_tokens=9 event=ok"));
}

/* Matrix tokens are caught by their shape, registered or not, keyed or
 * not; words that only look alike are left. */
static void test_token_shapes(void)
{
	capture();
	LOG_INFO("bridge", "saw syt_bGV0dGFfYWdlbnQ_Xq3vJkLmNoPqRsTu_0a1b2c here");
	LOG_INFO("bridge", "(syr_ZXhhbXBsZQ_abcdefgh_123456) and mat_"
	         "0123456789abcdef,x");
	LOG_INFO("bridge", "keep syt_short and mysyt_bGV0dGFfYWdlbnQ_Xq3vJkLm "
	         "and system_prompt_file");
	captured();
	CHECK(!has("Xq3vJkLmNoPqRsTu"));
	CHECK(has("saw *** here"));
	CHECK(has("(***) and ***,x"));
	CHECK(has("keep syt_short and mysyt_bGV0dGFfYWdlbnQ_Xq3vJkLm and "
	          "system_prompt_file"));
}

static void test_one_line(void)
{
	capture();
	LOG_INFO("bridge", "body=%s", "line1\nfake 2026 error x\r\x01");
	captured();
	CHECK(has("body=line1\\nfake 2026 error x\\r?\n"));
	CHECK_EQ(strchr(out, '\n') - out, (long)strlen(out) - 1);
}

static void test_long_line_secret_at_the_cut(void)
{
	char pad[1200];

	CHECK_EQ(log_add_secret(SECRET), 0);
	memset(pad, 'a', sizeof pad);
	for (int cut = 990; cut < 1030; cut++) {
		pad[cut] = 0;
		capture();
		LOG_INFO("x", "%s%s", pad, SECRET);
		captured();
		CHECK(!has(SECRET));
		CHECK(!has("s3cr3t-TEST"));
		pad[cut] = 'a';
	}
	log_reset_secrets();
}

static void test_syslog(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[2048];
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	ssize_t n;

	snprintf(sa.sun_path, sizeof sa.sun_path, "%s/log.sock",
	         harness_tmpdir());
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	CHECK_EQ(log_set_target(LOG_TARGET_SYSLOG, sa.sun_path), 0);
	LOG_WARN("store", "event=wide_mode password=" SECRET);
	n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
	CHECK_INT(n, >, 0);
	buf[n > 0 ? n : 0] = 0;
	CHECK(strncmp(buf, "<28>lettamx[", 12) == 0);
	CHECK(strstr(buf, "]: warn store event=wide_mode password=***") != NULL);
	CHECK(strstr(buf, SECRET) == NULL);
	close(fd);
	/* the socket is gone: events fall back to stderr */
	unlink(sa.sun_path);
	capture();
	LOG_ERROR("store", "event=after");
	captured();
	CHECK(has("error store event=after"));
	/* syslogd comes back: the next event reconnects */
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	LOG_ERROR("store", "event=back");
	n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = 0;
	CHECK(strstr(buf, "error store event=back") != NULL);
	close(fd);
	unlink(sa.sun_path);
	CHECK_EQ(log_set_target(LOG_TARGET_SYSLOG, "/nonexistent/log"), ERR_IO);
	capture();
	LOG_ERROR("store", "event=stderr_again");
	captured();
	CHECK(has("event=stderr_again"));
	log_set_target(LOG_TARGET_STDERR, NULL);
}

/* log_reopen: nothing for stderr; reconnects a syslog socket moved by a
 * restarted syslogd; ERR_IO (stderr meanwhile) when there is none. */
static void test_reopen(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[2048];
	int fd;
	ssize_t n;

	CHECK_EQ(log_reopen(), 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s/reopen.sock",
	         harness_tmpdir());
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	CHECK_EQ(log_set_target(LOG_TARGET_SYSLOG, sa.sun_path), 0);
	close(fd);
	unlink(sa.sun_path);
	CHECK_EQ(log_reopen(), ERR_IO);
	capture();
	LOG_INFO("log", "event=meanwhile");
	captured();
	CHECK(has("info log event=meanwhile"));
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	CHECK_EQ(log_reopen(), 0);
	LOG_INFO("log", "event=log_reopened");
	n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = 0;
	CHECK(strstr(buf, "info log event=log_reopened") != NULL);
	close(fd);
	unlink(sa.sun_path);
	log_set_target(LOG_TARGET_STDERR, NULL);
	CHECK_EQ(log_reopen(), 0);
}

int main(void)
{
	RUN(test_levels_and_format);
	RUN(test_registered_secret);
	RUN(test_key_redaction);
	RUN(test_token_shapes);
	RUN(test_one_line);
	RUN(test_long_line_secret_at_the_cut);
	RUN(test_syslog);
	RUN(test_reopen);
	return harness_done("log");
}
