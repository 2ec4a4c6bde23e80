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

struct prov_driver {
	struct loop *loop;
	struct http_client *http;
	struct prov *p;
	void (*done)(void *arg, struct prov_driver *d);
	void *arg;
	char hs[LIM_HTTP_URL];
	char letta[LIM_HTTP_URL];
	struct proto_req req;
	struct http_req hreq;
	char url[LIM_HTTP_URL + LIM_PROTO_PATH];
	char auth[LIM_MX_TOKEN + 16];
	struct httpp_field hdr[4];
	struct loop_timer wait;
	struct loop_defer step;
	uint64_t started;
	int in_flight;
};

static void step(void *arg);

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
	struct prov_driver *d = arg;
	struct proto_resp resp = { 0, -1, "", 0 };

	d->in_flight = 0;
	if (err == 0 || err == ERR_HTTP) {
		resp.status = hr->status;
		resp.body = hr->body ? hr->body : "";
		resp.len = hr->body_len;
		resp.retry_after_ms = hr->retry_after_ms;
	} else {
		LOG_WARN("provision", "event=request_failed path=%.64s err=%s "
		         "reason=\"%s\"", d->req.path, err_str(err),
		         hr && hr->reason ? hr->reason : "");
	}
	/* The body is only valid during this callback: feed it now. */
	prov_feed(d->p, &resp);
	loop_defer(d->loop, &d->step, step, d);
}

static int send_req(struct prov_driver *d, int target)
{
	const char *base = target == PROV_LETTA ? d->letta : d->hs;
	size_t n = 0;
	int r;

	snprintf(d->url, sizeof d->url, "%s%s", base, d->req.path);
	d->hdr[n++] = (struct httpp_field){ "User-Agent", letta_user_agent() };
	d->hdr[n++] = (struct httpp_field){ "Accept", "application/json" };
	if (d->req.bearer) {
		snprintf(d->auth, sizeof d->auth, "Bearer %s", d->req.bearer);
		d->hdr[n++] = (struct httpp_field){ "Authorization", d->auth };
	}
	if (d->req.has_body)
		d->hdr[n++] = (struct httpp_field){ "Content-Type",
		                                    "application/json" };
	memset(&d->hreq, 0, sizeof d->hreq);
	d->hreq.method = proto_method_str(d->req.method);
	d->hreq.url = d->url;
	d->hreq.hdrs = d->hdr;
	d->hreq.nhdrs = n;
	d->hreq.body = d->req.has_body ? d->req.body : NULL;
	d->hreq.body_len = d->req.has_body ? d->req.body_len : 0;
	d->hreq.on_done = on_done;
	d->hreq.arg = d;
	r = http_request(d->http, &d->hreq);
	if (r == 0)
		d->in_flight = 1;
	return r;
}

static void finish(struct prov_driver *d)
{
	if (d->done)
		d->done(d->arg, d);
}

static void step(void *arg)
{
	struct prov_driver *d = arg;
	int target = 0, a;
	int64_t wait_ms = 0;

	a = prov_next(d->p, &d->req, &target, &wait_ms);
	if (a == PROV_WAIT) {
		loop_timer_arm(d->loop, &d->wait,
		               loop_now(d->loop) + (uint64_t)wait_ms);
		return;
	}
	if (a == PROV_DONE) {
		finish(d);
		return;
	}
	if (send_req(d, target) < 0) {
		/* A request the client refuses (a bad URL) is answered as
		 * "no response"; the engine retries, then gives up. */
		struct proto_resp none = { 0, -1, "", 0 };

		prov_feed(d->p, &none);
		loop_defer(d->loop, &d->step, step, d);
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
	loop_timer_init(&d->wait, step, d);
	d->started = loop_clock_ms();
	loop_defer(l, &d->step, step, d);
	return d;
}

void prov_driver_free(struct prov_driver *d)
{
	if (!d)
		return;
	if (d->in_flight)
		http_cancel(d->http, &d->hreq);
	loop_timer_cancel(d->loop, &d->wait);
	loop_defer_cancel(d->loop, &d->step);
	free(d);
}

uint64_t prov_driver_elapsed_ms(const struct prov_driver *d)
{
	return loop_clock_ms() - d->started;
}
