/*
 * log: levelled one-line events to stderr or syslog, redacted.
 *
 * Redaction has two rules, applied to every line after formatting:
 *  1. registered secrets (log_add_secret) are replaced wherever they are;
 *  2. the value after a key that names a secret is replaced whatever it
 *     is: `access_token=...`, `password=...`, `"token":"..."`,
 *     `Authorization: Bearer ...`, any key ending in token, password,
 *     passwd or secret. This catches a secret that was never registered
 *     (a fresh token in a response being logged by mistake).
 *  3. a word shaped like a Matrix access or refresh token (syt_, syr_,
 *     mat_, mar_ and at least 8 more token characters) is replaced: it
 *     needs no key and no registration, so the agent users' tokens are
 *     covered however many there are (only LOG_SECRETS_MAX register).
 * Control characters are escaped so that one event stays one line.
 *
 * Syslog is written as datagrams to /dev/log ourselves (reconnecting when
 * syslogd restarts): musl's syslog()
 * would do the same, but <syslog.h>'s LOG_INFO etc. collide with ours.
 */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

#define LOG_LINE_MAX    1024
#define LOG_SECRETS_MAX 64
#define LOG_SECRET_LEN  256
#define LOG_FACILITY    (3 << 3)        /* LOG_DAEMON */

static const char *const level_name[] = { "error", "warn", "info", "debug" };
static const int level_sev[] = { 3, 4, 6, 7 };   /* syslog severities */

/* Set at start-up, read-only in the loop (see log.h). */
static struct {
	enum log_level level;
	enum log_target target;
	int fd;                         /* the syslog socket, -1 if none */
	char path[108];                 /* its address (sun_path) */
} lg = { .level = LOG_LEVEL_INFO, .target = LOG_TARGET_STDERR, .fd = -1 };

/* Apart from lg: zero-initialised, so its 16 KiB take no room in the
 * binary (an initialised struct is stored whole). */
static struct {
	int nsecrets;
	char secrets[LOG_SECRETS_MAX][LOG_SECRET_LEN];
} sec;

static bool syslog_connect(void);

void log_set_level(enum log_level level) { lg.level = level; }
enum log_level log_get_level(void) { return lg.level; }

int log_parse_level(const char *s, enum log_level *out)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, level_name[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	return ERR_INVAL;
}

/* Connects the syslog socket to lg.path; false if it cannot. */
static bool syslog_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (lg.fd >= 0)
		close(lg.fd);
	lg.fd = -1;
	memcpy(sa.sun_path, lg.path, sizeof lg.path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return false;
	}
	lg.fd = fd;
	return true;
}

int log_set_target(enum log_target target, const char *socket_path)
{
	const char *p = socket_path ? socket_path : "/dev/log";

	if (lg.fd >= 0)
		close(lg.fd);
	lg.fd = -1;
	lg.target = LOG_TARGET_STDERR;
	if (target != LOG_TARGET_SYSLOG)
		return 0;
	if (strlen(p) >= sizeof lg.path)
		return ERR_TOOBIG;
	memcpy(lg.path, p, strlen(p) + 1);
	lg.target = LOG_TARGET_SYSLOG;
	/* unreachable now: events go to stderr, and each event tries again
	 * (a syslogd started or restarted later is picked up) */
	return syslog_connect() ? 0 : ERR_IO;
}

int log_reopen(void)
{
	if (lg.target != LOG_TARGET_SYSLOG)
		return 0;
	return syslog_connect() ? 0 : ERR_IO;
}

int log_add_secret(const char *secret)
{
	size_t n = strlen(secret);

	if (n < 4)
		return 0;
	if (n >= LOG_SECRET_LEN || sec.nsecrets == LOG_SECRETS_MAX)
		return ERR_TOOBIG;
	for (int i = 0; i < sec.nsecrets; i++)
		if (!strcmp(sec.secrets[i], secret))
			return 0;
	memcpy(sec.secrets[sec.nsecrets++], secret, n + 1);
	return 0;
}

void log_reset_secrets(void)
{
	memset(sec.secrets, 0, sizeof sec.secrets);
	sec.nsecrets = 0;
}

/* Replaces every registered secret in `line` (in place) with "***". */
static void redact_registered(char *line)
{
	for (int i = 0; i < sec.nsecrets; i++) {
		size_t n = strlen(sec.secrets[i]);
		char *p = line;
		while ((p = strstr(p, sec.secrets[i]))) {
			memcpy(p, "***", 3);
			memmove(p + 3, p + n, strlen(p + n) + 1);
			p += 3;
		}
	}
}

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

static bool token_char(char c)
{
	return key_char(c) && c != '.';
}

/* Length of the token-shaped word at p (a known prefix, then at least
 * 8 token characters), or 0. */
static size_t token_len(const char *p)
{
	static const char *const prefixes[] = { "syt_", "syr_", "mat_",
	                                        "mar_" };
	size_t n;

	for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++) {
		if (strncmp(p, prefixes[k], 4))
			continue;
		for (n = 4; token_char(p[n]); n++)
			;
		return n >= 12 ? n : 0;
	}
	return 0;
}

/* Rule 3, in place: token-shaped words at a word's start become "***". */
static void redact_shapes(char *line)
{
	for (char *p = line; *p; p++) {
		size_t n;

		if ((p > line && token_char(p[-1])) || !(n = token_len(p)))
			continue;
		memcpy(p, "***", 3);
		memmove(p + 3, p + n, strlen(p + n) + 1);
		p += 2;
	}
}

static bool ends_with_ci(const char *s, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);

	if (n < m)
		return false;
	for (size_t i = 0; i < m; i++) {
		char c = s[n - m + i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != suffix[i])
			return false;
	}
	return true;
}

/* True when the key ending just before line[i] names a secret; sets
 * *whole when the value runs to the end of the line (a header). */
static bool secret_key(const char *line, size_t i, bool *whole)
{
	static const char *const names[] = { "token", "password", "passwd",
	                                     "secret" };
	size_t end = i, start;

	if (end > 0 && line[end - 1] == '"')
		end--;
	for (start = end; start > 0 && key_char(line[start - 1]); start--)
		;
	*whole = ends_with_ci(line + start, end - start, "authorization");
	if (*whole)
		return true;
	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
		if (ends_with_ci(line + start, end - start, names[k]))
			return true;
	return false;
}

/* Length of the value starting at v. */
static size_t value_len(const char *v, bool whole)
{
	size_t n = 0;

	if (whole)
		return strlen(v);
	if (v[0] == '"' || v[0] == '\'') {
		for (n = 1; v[n] && v[n] != v[0]; n++)
			if (v[n] == '\\' && v[n + 1])
				n++;
		return v[n] ? n + 1 : n;
	}
	while (v[n] && !strchr(" \t,&;}\"'", v[n]))
		n++;
	return n;
}

/* Rule 2: copies `in` to out[0..cap) replacing values of secret keys. */
static void redact_keys(const char *in, char *out, size_t cap)
{
	size_t o = 0, i = 0;
	bool whole;

	while (in[i] && o + 1 < cap) {
		char c = in[i];
		out[o++] = c;
		i++;
		if ((c != '=' && c != ':') || !secret_key(in, i - 1, &whole))
			continue;
		while (in[i] == ' ' && o + 1 < cap)
			out[o++] = in[i++];
		size_t n = value_len(in + i, whole);
		if (n == 0)
			continue;
		for (const char *m = "***"; *m && o + 1 < cap; m++)
			out[o++] = *m;
		i += n;
	}
	out[o] = 0;
}

/* Escapes control characters in place-to-out so the event is one line. */
static void one_line(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	for (; *in && o + 2 < cap; in++) {
		unsigned char c = (unsigned char)*in;
		if (c == '\n' || c == '\r' || c == '\t') {
			out[o++] = '\\';
			out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else {
			out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
	}
	out[o] = 0;
}

static void emit(enum log_level level, const char *mod, const char *line)
{
	char msg[LOG_LINE_MAX + 128], when[32];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	if (lg.target == LOG_TARGET_SYSLOG) {
		n = snprintf(msg, sizeof msg, "<%d>lettamx[%ld]: %s %s %s",
		             LOG_FACILITY | level_sev[level], (long)getpid(),
		             level_name[level], mod, line);
		size_t len = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
		/* syslogd restarted: reconnect once; full: drop to stderr */
		errno = 0;
		if ((lg.fd >= 0 && send(lg.fd, msg, len, 0) >= 0) ||
		    (errno != EAGAIN && syslog_connect() &&
		     send(lg.fd, msg, len, 0) >= 0))
			return;
	}
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s %s %s %s\n", when, level_name[level], mod, line);
}

void log_vmsg(enum log_level level, const char *mod, const char *fmt,
              va_list ap)
{
	/* formatted wider than written, so a secret cut at the end of the
	 * line is still whole when the redaction looks for it */
	char raw[4 * LOG_LINE_MAX], red[LOG_LINE_MAX], line[LOG_LINE_MAX];

	if (level > lg.level || (unsigned)level > LOG_LEVEL_DEBUG)
		return;
	vsnprintf(raw, sizeof raw, fmt, ap);
	redact_registered(raw);
	redact_shapes(raw);
	redact_keys(raw, red, sizeof red);
	one_line(red, line, sizeof line);
	emit(level, mod, line);
}

void log_msg(enum log_level level, const char *mod, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, mod, fmt, ap);
	va_end(ap);
}
