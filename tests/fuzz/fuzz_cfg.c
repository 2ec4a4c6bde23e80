/*
 * fuzz_cfg: the configuration file on arbitrary bytes (it is a file an
 * operator edits, so untrusted as any input). Loading either succeeds
 * or fails with ERR_CONFIG and one message; the message is one line of
 * printable text (a byte of the file never reaches the terminal as a
 * control character or broken UTF-8), and every value accepted is
 * UTF-8 text without control characters.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/cfg.h"
#include "core/err.h"
#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

/* One line of UTF-8 text: no byte below 0x20, no DEL. */
static int text_ok(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap || !json_utf8_valid(s, n))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* The seeds name /tmp/fuzz_cfg.secret as their secret files, so that
 * a whole configuration can load. */
static void make_secret(void)
{
	FILE *f = fopen("/tmp/fuzz_cfg.secret", "wb");

	if (!f || fputs("s3cr3t-fuzz\n", f) < 0 || fclose(f) ||
	    chmod("/tmp/fuzz_cfg.secret", 0600))
		abort();
}

static void write_input(const uint8_t *data, size_t size)
{
	FILE *f;

	if (!path[0]) {
		snprintf(path, sizeof path, "/tmp/fuzz_cfg.%ld.conf",
		         (long)getpid());
		make_secret();
	}
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cfg c;
	static char *const noenv[] = { NULL };
	char err[LIM_CFG_ERR];
	int r;

	write_input(data, size);
	memset(err, 0x55, sizeof err);
	r = cfg_load(&c, path, noenv, err, sizeof err);
	unlink(path);
	if (r != 0 && r != ERR_CONFIG)
		abort();
	if (r == ERR_CONFIG && !text_ok(err, sizeof err)) {
		fprintf(stderr, "fuzz_cfg: unprintable message: %.*s\n",
		        (int)sizeof err, err);
		abort();
	}
	if (r == 0)
		for (int i = 0; i < LIM_CFG_KEYS; i++)
			if (c.val[i].src &&
			    !text_ok(c.val[i].text, sizeof c.val[i].text))
				abort();
	return 0;
}
