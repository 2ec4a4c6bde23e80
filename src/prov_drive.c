/*
 * prov_drive: moves the provisioning engine's requests over the HTTP
 * client, one at a time, on the loop. Waits the engine asks for are loop
 * timers; nothing here blocks.
 */
#include "prov_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "http.h"
#include "log.h"
#include "loop.h"

/* One lane's request in flight, or its wait. */
struct slot {
	struct prov_driver *d;
	int i;
	int in_flight;
	struct proto_req req;
	struct http_req hreq;
	char url[LIM_HTTP_URL + LIM_PROTO_PATH];
	char auth[LIM_MX_TOKEN + 16];
	struct httpp_field hdr[4];
	struct loop_timer wait;
	char cause[LIM_HTTP_REASON];      /* a failure's first cause */
};

struct prov_driver {
	struct loop *loop;
	struct http_client *http;
	struct prov *p;
	void (*done)(void *arg, struct prov_driver *d);
	void *arg;
	char hs[LIM_HTTP_URL];
	char letta[LIM_HTTP_URL];
	struct slot slot[LIM_PROV_LANES];
	struct proto_req next;          /* filled by prov_next() */
	struct loop_defer pump;
	uint64_t started;
	int finished;
};

static void pump(void *arg);

static void copy_base(char *dst, size_t cap, const char *src)
{
	size_t n;

	snprintf(dst, cap, "%s", src ? src : "");
	n = strlen(dst);
	while (n && dst[n - 1] == '/')
		dst[--n] = '\0';
}

static void on_done(void *arg, struct http_resp *hr, int err)
{
	struct slot *sl = arg;
	struct prov_driver *d = sl->d;
	struct proto_resp resp = { 0, -1, "", 0, 0, NULL };

	sl->in_flight = 0;
	if (err == 0 || err == ERR_HTTP) {
		resp.status = hr->status;
		resp.body = hr->body ? hr->body : "";
		resp.len = hr->body_len;
		resp.retry_after_ms = hr->retry_after_ms;
	} else {
		LOG_WARN("provision", "event=request_failed path=%.64s err=%s "
		         "reason=\"%s\"", sl->req.path, err_str(err),
		         hr && hr->reason ? hr->reason : "");
		/* The cause goes to the engine, so its last word names it. */
		http_explain(err, hr ? hr->reason : "", hr ? hr->where : "",
		             "[matrix] ca_file",
		             sl->cause, sizeof sl->cause);
		resp.neterr = err;
		resp.reason = sl->cause;
	}
	/* The body is only valid during this callback: feed it now. */
	prov_feed(d->p, sl->i, &resp);
	loop_defer(d->loop, &d->pump, pump, d);
}

static void on_wake(void *arg)
{
	struct slot *sl = arg;

	prov_wake(sl->d->p, sl->i);
	loop_defer(sl->d->loop, &sl->d->pump, pump, sl->d);
}

static int send_req(struct prov_driver *d, struct slot *sl, int target)
{
	const char *base = target == PROV_LETTA ? d->letta : d->hs;
	struct proto_buf u;
	size_t n = 0;
	int r;

	sl->req = d->next;
	proto_buf_init(&u, sl->url, sizeof sl->url);
	proto_buf_str(&u, base);
	proto_buf_str(&u, sl->req.path);
	if (u.err)
		return u.err;
	sl->hdr[n++] = (struct httpp_field){ "User-Agent", letta_user_agent() };
	sl->hdr[n++] = (struct httpp_field){ "Accept", "application/json" };
	if (sl->req.bearer[0]) {
		proto_buf_init(&u, sl->auth, sizeof sl->auth);
		proto_buf_str(&u, "Bearer ");
		proto_buf_str(&u, sl->req.bearer);
		sl->hdr[n++] = (struct httpp_field){ "Authorization", sl->auth };
	}
	if (sl->req.has_body)
		sl->hdr[n++] = (struct httpp_field){ "Content-Type",
		                                     "application/json" };
	memset(&sl->hreq, 0, sizeof sl->hreq);
	sl->hreq.method = proto_method_str(sl->req.method);
	sl->hreq.url = sl->url;
	sl->hreq.hdrs = sl->hdr;
	sl->hreq.nhdrs = n;
	sl->hreq.body = sl->req.has_body ? sl->req.body : NULL;
	sl->hreq.body_len = sl->req.has_body ? sl->req.body_len : 0;
	sl->hreq.on_done = on_done;
	sl->hreq.arg = sl;
	r = http_request(d->http, &sl->hreq);
	if (r == 0)
		sl->in_flight = 1;
	return r;
}

/* Starts everything the engine has to start, then waits for events. */
static void pump(void *arg)
{
	struct prov_driver *d = arg;
	int target = 0, a, i = 0;
	int64_t wait_ms = 0;

	while (!d->finished) {
		a = prov_next(d->p, &d->next, &target, &wait_ms, &i);
		if (a == PROV_IDLE)
			return;
		if (a == PROV_DONE) {
			d->finished = 1;
			if (d->done)
				d->done(d->arg, d);
			return;
		}
		if (a == PROV_WAIT) {
			loop_timer_arm(d->loop, &d->slot[i].wait,
			               loop_now(d->loop) + (uint64_t)wait_ms);
			continue;
		}
		if (send_req(d, &d->slot[i], target) < 0) {
			/* A request the client refuses (a bad URL) is answered
			 * as "no response": the engine retries, then gives up. */
			struct proto_resp none = { 0, -1, "", 0, 0, NULL };

			prov_feed(d->p, i, &none);
		}
	}
}

struct prov_driver *prov_driver_start(struct loop *l, struct http_client *http,
                                      struct prov *p,
                                      const struct prov_urls *urls,
                                      void (*done)(void *arg,
                                                   struct prov_driver *d),
                                      void *arg)
{
	struct prov_driver *d = calloc(1, sizeof *d);

	if (!d)
		return NULL;
	d->loop = l;
	d->http = http;
	d->p = p;
	d->done = done;
	d->arg = arg;
	copy_base(d->hs, sizeof d->hs, urls->homeserver);
	copy_base(d->letta, sizeof d->letta, urls->letta);
	for (int i = 0; i < LIM_PROV_LANES; i++) {
		d->slot[i].d = d;
		d->slot[i].i = i;
		loop_timer_init(&d->slot[i].wait, on_wake, &d->slot[i]);
	}
	d->started = loop_clock_ms();
	loop_defer(l, &d->pump, pump, d);
	return d;
}

void prov_driver_free(struct prov_driver *d)
{
	if (!d)
		return;
	for (int i = 0; i < LIM_PROV_LANES; i++) {
		if (d->slot[i].in_flight)
			http_cancel(d->http, &d->slot[i].hreq);
		loop_timer_cancel(d->loop, &d->slot[i].wait);
	}
	loop_defer_cancel(d->loop, &d->pump);
	free(d);
}

uint64_t prov_driver_elapsed_ms(const struct prov_driver *d)
{
	return loop_clock_ms() - d->started;
}
