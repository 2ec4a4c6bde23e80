/*
 * log: levelled, one line per event, key=value friendly.
 *
 *   log_msg(LOG_LEVEL_INFO, "http", "event=connect host=%s port=%u", h, p);
 *
 * prints (to stderr by default)
 *
 *   2026-11-24T00:23:48Z info http event=connect host=example.org port=443
 *
 * The sink and level are the one piece of process-wide state besides the
 * signal flag: set once at start-up, read-only while the loop runs (but
 * for log_reopen() on SIGHUP).
 * Secrets never reach the sink: see log_add_secret(); besides, the value
 * of any key naming a secret (access_token=, password=, "token":,
 * Authorization:) is replaced by "***" even if it was never registered.
 */
#ifndef LETTAMX_LOG_H
#define LETTAMX_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN  = 1,
	LOG_LEVEL_INFO  = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* Writes one event line if `level` is enabled. `mod` is the module name.
 * The formatted text is redacted before it is written. */
void log_msg(enum log_level level, const char *mod, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level level, const char *mod, const char *fmt,
              va_list ap);

enum log_target {
	LOG_TARGET_STDERR = 0,      /* "2026-11-24T00:23:48Z info mod text" */
	LOG_TARGET_SYSLOG,          /* datagrams to /dev/log, facility daemon */
};

/* Chooses where events go. For syslog, socket_path NULL means /dev/log.
 * Returns 0; ERR_IO when the syslog socket cannot be reached (events then
 * go to stderr), ERR_TOOBIG for a path too long. */
int log_set_target(enum log_target target, const char *socket_path);

/* Reopens the sink (on SIGHUP, after syslogd or a log rotation moved
 * things): reconnects the syslog socket; nothing to do for stderr. Call
 * it from the loop, never from a signal handler. Returns 0, or ERR_IO
 * when the syslog socket cannot be reached (events then go to stderr
 * and each one tries again). */
int log_reopen(void);

/* Parses "error", "warn", "info", "debug". Returns 0 or ERR_INVAL. */
int log_parse_level(const char *s, enum log_level *out);

/* Sets the most verbose level written (default LOG_LEVEL_INFO). */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Registers a secret (an access token, a password, a shared secret): every
 * occurrence in a later log line is replaced by "***". The text is copied;
 * secrets shorter than 4 bytes are ignored (they would redact ordinary
 * words). Returns 0, or ERR_TOOBIG when the table of secrets is full. */
int log_add_secret(const char *secret);

/* Forgets every registered secret (tests). */
void log_reset_secrets(void);

#define LOG_ERROR(mod, ...) log_msg(LOG_LEVEL_ERROR, mod, __VA_ARGS__)
#define LOG_WARN(mod, ...)  log_msg(LOG_LEVEL_WARN, mod, __VA_ARGS__)
#define LOG_INFO(mod, ...)  log_msg(LOG_LEVEL_INFO, mod, __VA_ARGS__)
#define LOG_DEBUG(mod, ...) log_msg(LOG_LEVEL_DEBUG, mod, __VA_ARGS__)

#endif
