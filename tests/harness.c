#include "harness.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The harness is a test program's only global state: one test runs at a
 * time, in one thread. */
static struct {
	const char *current;
	int failed_checks;
	int passed, failed;
	char tmpdir[256];
} h;

int harness_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: %s: ", file, line, h.current ? h.current : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	h.failed_checks++;
	return 0;
}

void harness_run(const char *name, void (*fn)(void))
{
	h.current = name;
	h.failed_checks = 0;
	fn();
	if (h.failed_checks == 0) {
		h.passed++;
		if (getenv("HARNESS_VERBOSE"))
			printf("  ok   %s\n", name);
	} else {
		h.failed++;
		printf("  FAIL %s\n", name);
	}
	fflush(stdout);
	h.current = NULL;
}

int harness_str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

int harness_mem_eq(const void *p, size_t n, const char *s)
{
	return p && s && strlen(s) == n && memcmp(p, s, n) == 0;
}

const char *harness_tmpdir(void)
{
	if (h.tmpdir[0])
		return h.tmpdir;
	const char *base = getenv("TMPDIR");
	snprintf(h.tmpdir, sizeof h.tmpdir, "%s/lettamx-test-XXXXXX",
	         base && *base ? base : "/tmp");
	if (!mkdtemp(h.tmpdir)) {
		perror("mkdtemp");
		exit(2);
	}
	return h.tmpdir;
}

/* Removes a directory tree (test scratch only; no symlinks are followed
 * because entries are unlinked, not opened). */
static void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[512];
	struct stat st;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(sub);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

int harness_done(const char *suite)
{
	if (h.tmpdir[0] && !getenv("HARNESS_KEEP_TMP"))
		rm_tree(h.tmpdir);
	printf("%s: %d passed, %d failed\n", suite, h.passed, h.failed);
	return h.failed ? 1 : 0;
}
