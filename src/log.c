/*
 * log: a first, stderr-only implementation of log.h. Syslog, reopening on
 * SIGHUP and key-based redaction come with the store/config issue; the
 * calling convention in log.h stays.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"

#define LOG_LINE_MAX    1024
#define LOG_SECRETS_MAX 64
#define LOG_SECRET_LEN  256

static const char *const level_name[] = { "error", "warn", "info", "debug" };

/* Set at start-up, read-only in the loop (see log.h). */
static struct {
	enum log_level level;
	int nsecrets;
	char secrets[LOG_SECRETS_MAX][LOG_SECRET_LEN];
} lg = { .level = LOG_LEVEL_INFO };

void log_set_level(enum log_level level) { lg.level = level; }
enum log_level log_get_level(void) { return lg.level; }

int log_add_secret(const char *secret)
{
	size_t n = strlen(secret);

	if (n < 4)
		return 0;
	if (n >= LOG_SECRET_LEN || lg.nsecrets == LOG_SECRETS_MAX)
		return ERR_TOOBIG;
	for (int i = 0; i < lg.nsecrets; i++)
		if (!strcmp(lg.secrets[i], secret))
			return 0;
	memcpy(lg.secrets[lg.nsecrets++], secret, n + 1);
	return 0;
}

/* Replaces every registered secret in `line` (in place) with "***". */
static void redact(char *line)
{
	for (int i = 0; i < lg.nsecrets; i++) {
		size_t n = strlen(lg.secrets[i]);
		char *p;
		while ((p = strstr(line, lg.secrets[i]))) {
			memcpy(p, "***", 3);
			memmove(p + 3, p + n, strlen(p + n) + 1);
		}
	}
}

void log_vmsg(enum log_level level, const char *mod, const char *fmt,
              va_list ap)
{
	char line[LOG_LINE_MAX], when[32];
	time_t now = time(NULL);
	struct tm tm;

	if (level > lg.level)
		return;
	vsnprintf(line, sizeof line, fmt, ap);
	redact(line);
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s %s %s %s\n", when, level_name[level], mod, line);
}

void log_msg(enum log_level level, const char *mod, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, mod, fmt, ap);
	va_end(ap);
}
