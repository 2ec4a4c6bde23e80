/*
 * prov_drive: moves the provisioning engine's requests over the HTTP
 * client, one at a time, on the loop. Waits the engine asks for are loop
 * timers; nothing here blocks.
 */
#include "prov/prov_drive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "letta/letta_app_list.h"
#include "net/http.h"
#include "prov/pcall.h"

/* One lane's request in flight, or its wait. */
struct slot {
	struct prov_driver *d;
	int i;
	struct pcall call;              /* the request in flight */
	struct loop_timer wait;
	int limited;                    /* the wait is a rate limit's */
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
	void (*on_wait)(void *arg, int64_t wait_ms, const char *why);
	void *wait_arg;
	struct loop_timer deadline;
	int nlimited;                   /* slots waiting for a rate limit */
	uint64_t limited_since, limited_ms;
	struct letta_app_lister *lister;        /* the App Server's listing,
	                                         * before the engine runs */
	struct letta_list list;
	int listed;                             /* it is over */
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

static void on_done(void *arg, const struct proto_resp *resp, int err,
                    const char *reason)
{
	struct slot *sl = arg;
	struct prov_driver *d = sl->d;

	if (resp->status == 0)
		LOG_WARN("provision", "event=request_failed path=%.64s err=%s "
		         "reason=\"%s\"", sl->call.req.path, err_str(err),
		         reason);
	/* The body is only valid during this callback: feed it now. */
	prov_feed(d->p, sl->i, resp);
	loop_defer(d->loop, &d->pump, pump, d);
}

/* The union of rate-limit waits: time with at least one slot waiting. */
static void limited_add(struct prov_driver *d, struct slot *sl, int on)
{
	uint64_t now = loop_now(d->loop);

	if (on == sl->limited)
		return;
	sl->limited = on;
	if (on && d->nlimited++ == 0)
		d->limited_since = now;
	if (!on && --d->nlimited == 0)
		d->limited_ms += now - d->limited_since;
}

static void on_wake(void *arg)
{
	struct slot *sl = arg;

	limited_add(sl->d, sl, 0);
	prov_wake(sl->d->p, sl->i);
	loop_defer(sl->d->loop, &sl->d->pump, pump, sl->d);
}

static int send_req(struct prov_driver *d, struct slot *sl, int target)
{
	return pcall_start(&sl->call, d->http,
	                   target == PROV_LETTA ? d->letta : d->hs, &d->next, 0,
	                   on_done, sl);
}

/* Starts everything the engine has to start, then waits for events. */
static void pump(void *arg)
{
	struct prov_driver *d = arg;
	int target = 0, a, i = 0;
	int64_t wait_ms = 0;

	if (d->lister && d->listed) {
		letta_app_list_free(d->lister);
		d->lister = NULL;
	}
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
			char why[192];
			int rl = prov_wait_why(d->p, i, why, sizeof why);

			limited_add(d, &d->slot[i], rl);
			if (rl && d->on_wait)
				d->on_wait(d->wait_arg, wait_ms, why);
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

/* The App Server's listing is over: the engine takes it and runs. */
static void on_listed(void *arg, int err, const char *why)
{
	struct prov_driver *d = arg;

	d->listed = 1;
	prov_take_list(d->p, &d->list, err, why);
	letta_list_reset(&d->list);
	/* not freed inside its own callback: pump() frees it */
	loop_defer(d->loop, &d->pump, pump, d);
}

void prov_driver_app(struct prov_driver *d, const struct lapi_app_conf *app)
{
	char why[128];
	int r;

	letta_list_init(&d->list);
	r = letta_app_list_start(&d->lister, app, &d->list, on_listed, d);
	if (r == 0) {
		loop_defer_cancel(d->loop, &d->pump);   /* after the listing */
		return;
	}
	snprintf(why, sizeof why, "cannot connect to the App Server: %s",
	         err_str(r));
	prov_take_list(d->p, &d->list, r, why);
}

/* The run's deadline: stop the engine, cancel what is in flight, and
 * let pump() report the end. */
static void on_deadline(void *arg)
{
	struct prov_driver *d = arg;

	prov_cancel(d->p, ERR_TIMEOUT, "the run's deadline passed before it "
	          "was done (rate limits?); run it again to go on");
	letta_app_list_free(d->lister);
	d->lister = NULL;
	for (int i = 0; i < LIM_PROV_LANES; i++) {
		struct slot *sl = &d->slot[i];

		pcall_cancel(&sl->call);
		limited_add(d, sl, 0);
		loop_timer_cancel(d->loop, &sl->wait);
	}
	loop_defer(d->loop, &d->pump, pump, d);
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
	loop_timer_init(&d->deadline, on_deadline, d);
	d->started = loop_clock_ms();
	loop_defer(l, &d->pump, pump, d);
	return d;
}

void prov_driver_free(struct prov_driver *d)
{
	if (!d)
		return;
	for (int i = 0; i < LIM_PROV_LANES; i++) {
		pcall_cancel(&d->slot[i].call);
		loop_timer_cancel(d->loop, &d->slot[i].wait);
	}
	loop_timer_cancel(d->loop, &d->deadline);
	loop_defer_cancel(d->loop, &d->pump);
	letta_app_list_free(d->lister);
	letta_list_reset(&d->list);
	free(d);
}

uint64_t prov_driver_elapsed_ms(const struct prov_driver *d)
{
	return loop_clock_ms() - d->started;
}

void prov_driver_on_wait(struct prov_driver *d,
                         void (*fn)(void *arg, int64_t wait_ms,
                                    const char *why),
                         void *arg)
{
	d->on_wait = fn;
	d->wait_arg = arg;
}

void prov_driver_deadline(struct prov_driver *d, uint64_t ms)
{
	if (ms)
		loop_timer_arm(d->loop, &d->deadline, loop_now(d->loop) + ms);
	else
		loop_timer_cancel(d->loop, &d->deadline);
}

uint64_t prov_driver_limited_ms(const struct prov_driver *d)
{
	uint64_t ms = d->limited_ms;

	if (d->nlimited)
		ms += loop_now(d->loop) - d->limited_since;
	return ms;
}
