/*
 * ops_util: the helpers the operator tools share (see ops_int.h).
 */
#include "ops/ops_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "conf/cfg.h"
#include "core/err.h"
#include "core/loop.h"
#include "letta/letta.h"
#include "matrix/mx_cred.h"
#include "net/http.h"

#define OPS_MAX_ARGS 32
#define OPS_RETRIES  3
#define OPS_WAIT_MAX (30 * 1000)   /* a longer Retry-After: give up */

/* A flag "--x=" takes a value: the word after it is not positional. */
static int takes_value(const char *const *flags, const char *arg)
{
	for (int k = 0; flags[k]; k++) {
		size_t n = strlen(flags[k]);

		if (n && flags[k][n - 1] == '=' && strlen(arg) == n - 1 &&
		    !strncmp(arg, flags[k], n - 1))
			return 1;
	}
	return !strcmp(arg, "-c") || !strcmp(arg, "--config");
}

int ops_args(int argc, char **argv, const char *const *flags,
             const char **path, int *set, const char **vals,
             const char **pos)
{
	char *rest[OPS_MAX_ARGS + 1];
	int n = 0;

	*pos = NULL;
	if (argc > OPS_MAX_ARGS)
		return -1;
	for (int i = 0; i < argc; i++) {
		if (i > 0 && argv[i][0] != '-' && !*pos &&
		    !takes_value(flags, argv[i - 1])) {
			*pos = argv[i];
			continue;
		}
		rest[n++] = argv[i];
	}
	rest[n] = NULL;
	return app_args(n, rest, flags, path, set, vals);
}

/* ---- one request on the loop ---- */

struct call {
	struct app *a;
	const struct proto_req *req;
	int (*fn)(void *arg, const struct proto_resp *resp);
	void *arg;
	int result;
	int attempt;
	int64_t wait_ms;        /* >= 0: retry after this */
	struct http_req hreq;
	struct httpp_field hdr[4];
	char url[LIM_HTTP_URL + LIM_PROTO_PATH];
	char auth[LIM_MX_TOKEN + 16];
	struct loop_timer timer;
};

static int retry_wait(struct call *c, const struct proto_resp *r)
{
	int64_t w;

	/* no answer at all: the operator wants to hear it now, not after
	 * a backoff */
	if (c->attempt >= OPS_RETRIES ||
	    !(r->status == 429 || r->status >= 500))
		return -1;
	w = r->retry_after_ms >= 0 ? r->retry_after_ms
	                           : 500LL << c->attempt;
	return w > OPS_WAIT_MAX ? -1 : (int)w;
}

static void on_done(void *arg, struct http_resp *hr, int err)
{
	struct call *c = arg;
	struct proto_resp resp;

	memset(&resp, 0, sizeof resp);
	resp.retry_after_ms = -1;
	resp.body = "";

	if (err == 0 || err == ERR_HTTP) {
		resp.status = hr->status;
		resp.body = hr->body ? hr->body : "";
		resp.len = hr->body_len;
		resp.retry_after_ms = hr->retry_after_ms;
	}
	c->wait_ms = retry_wait(c, &resp);
	if (c->wait_ms < 0)
		c->result = c->fn(c->arg, &resp);
	loop_stop(c->a->net.loop);
}

static void on_timer(void *arg)
{
	loop_stop(((struct call *)arg)->a->net.loop);
}

static int send_one(struct call *c, int target)
{
	const char *base = cfg_get(&c->a->cfg, target == OPS_LETTA ? "letta"
	                           : "matrix", target == OPS_LETTA ?
	                           "base_url" : "homeserver_url");
	size_t n = 0, bl = strlen(base ? base : "");
	char tok[LIM_MX_TOKEN];
	const char *user = NULL;
	struct proto_buf u;

	while (bl && base[bl - 1] == '/')
		bl--;
	if (mx_cred_split(c->req->bearer, tok, sizeof tok, &user))
		return ERR_TOOBIG;
	proto_buf_init(&u, c->url, sizeof c->url);
	proto_buf_add(&u, base ? base : "", bl);
	proto_buf_str(&u, c->req->path);
	mx_cred_url(&u, user);
	if (u.err)
		return u.err;
	c->hdr[n++] = (struct httpp_field){ "User-Agent", letta_user_agent() };
	c->hdr[n++] = (struct httpp_field){ "Accept", "application/json" };
	if (tok[0]) {
		snprintf(c->auth, sizeof c->auth, "Bearer %s", tok);
		c->hdr[n++] = (struct httpp_field){ "Authorization", c->auth };
		memset(tok, 0, sizeof tok);
	}
	if (c->req->has_body)
		c->hdr[n++] = (struct httpp_field){ "Content-Type",
		                                    "application/json" };
	memset(&c->hreq, 0, sizeof c->hreq);
	c->hreq.method = proto_method_str(c->req->method);
	c->hreq.url = c->url;
	c->hreq.hdrs = c->hdr;
	c->hreq.nhdrs = n;
	c->hreq.body = c->req->has_body ? c->req->body : NULL;
	c->hreq.body_len = c->req->has_body ? c->req->body_len : 0;
	c->hreq.total_ms = 30000;
	c->hreq.on_done = on_done;
	c->hreq.arg = c;
	return http_request(c->a->net.http, &c->hreq);
}

int ops_call(struct app *a, int target, const struct proto_req *req,
             int (*fn)(void *arg, const struct proto_resp *resp), void *arg)
{
	/* one request at a time: the command's one call context */
	static struct call c;
	struct proto_resp none;

	memset(&none, 0, sizeof none);
	none.retry_after_ms = -1;
	none.body = "";

	memset(&c, 0, sizeof c);
	c.a = a;
	c.req = req;
	c.fn = fn;
	c.arg = arg;
	loop_timer_init(&c.timer, on_timer, &c);
	for (;;) {
		c.wait_ms = -1;
		if (send_one(&c, target) < 0)
			return fn(arg, &none);
		loop_run(a->net.loop);
		if (c.wait_ms < 0)
			return c.result;
		c.attempt++;
		loop_timer_arm(a->net.loop, &c.timer,
		               loop_now(a->net.loop) + (uint64_t)c.wait_ms);
		loop_run(a->net.loop);
	}
}

/* ---- the writer lock ---- */

int ops_lock_take(const char *dir, char *pid, size_t cap)
{
	char path[LIM_STORE_PATH + 16];
	ssize_t n;
	int fd;

	pid[0] = '\0';
	snprintf(path, sizeof path, "%s/lettamx.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	n = pread(fd, pid, cap - 1, 0);
	pid[n > 0 ? n : 0] = '\0';
	pid[strcspn(pid, "\n")] = '\0';
	close(fd);
	return -1;
}

void ops_lock_refused(const char *cmd, const char *dir, const char *pid)
{
	fprintf(stderr, "lettamx %s: refused: a running lettamx (pid %s) "
	        "holds the store %s; stop it first (e.g. systemctl stop "
	        "lettamx), then run this again. Nothing was changed.\n", cmd,
	        pid[0] ? pid : "unknown", dir);
}
