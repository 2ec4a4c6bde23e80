/*
 * http: requests, the per-origin pool and the public API (the connection
 * state machine is in http_conn.c).
 *
 * Ownership: the client owns origins and connections; callers own their
 * requests. A connection is never freed inside one of its callbacks: a
 * closed connection is unlinked from its origin at once (it stops counting
 * against the cap) and freed by a deferred call at the end of the pass.
 * A response's head slices point into the connection's receive buffer,
 * which stays untouched until the completion callback has returned.
 */
#include "net/http_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"
#include "net/tls.h"

/* ---------------------------------------------------------------- requests */

/* The queue is doubly linked and each request knows whether it is in
 * it: a request that completes on its connection leaves nothing to walk
 * (the homeserver's queue holds thousands in a burst). */
static void queue_unlink(struct http_req *r)
{
	struct http_origin *o = r->p.origin;

	if (!r->p.queued)
		return;
	if (r->p.prev)
		r->p.prev->p.next = r->p.next;
	else
		o->qhead = r->p.next;
	if (r->p.next)
		r->p.next->p.prev = r->p.prev;
	else
		o->qtail = r->p.prev;
	r->p.next = r->p.prev = NULL;
	r->p.queued = 0;
}

void http_queue_push(struct http_origin *o, struct http_req *r, int front)
{
	if (r->p.queued)
		return;
	r->p.queued = 1;
	if (front) {
		r->p.prev = NULL;
		r->p.next = o->qhead;
		if (o->qhead)
			o->qhead->p.prev = r;
		else
			o->qtail = r;
		o->qhead = r;
	} else {
		r->p.next = NULL;
		r->p.prev = o->qtail;
		if (o->qtail)
			o->qtail->p.next = r;
		else
			o->qhead = r;
		o->qtail = r;
	}
}

/* Detaches the request from its queue or connection and drops its state;
 * a connection it was using is closed unless `keep` is it. */
static void req_detach(struct http_req *r, struct http_conn *keep)
{
	struct http_conn *c = r->p.conn;

	loop_timer_cancel(r->p.cl->l, &r->p.total);
	if (c) {
		c->req = NULL;
		r->p.conn = NULL;
		if (c != keep)
			http_conn_close(c);
	} else {
		queue_unlink(r);
	}
	r->p.active = 0;
	free(r->p.wbuf);
	r->p.wbuf = NULL;
}

static void fill_resp(struct http_resp *resp, struct http_req *r,
                      struct http_conn *c)
{
	const struct httpp_header *ra;

	memset(resp, 0, sizeof *resp);
	resp->retry_after_ms = -1;
	resp->body = r->p.body ? r->p.body : "";
	resp->body_len = r->p.body_len;
	resp->reason = r->p.reason;
	resp->where = r->p.where;
	if (!c || c->head_len == 0)
		return;
	resp->status = c->head.status;
	resp->head = &c->head;
	ra = httpp_head_find(&c->head, "retry-after");
	if (ra)
		resp->retry_after_ms = httpp_retry_after_ms(
			ra->value, ra->value_len, (int64_t)time(NULL));
	if (resp->retry_after_ms < 0)
		resp->retry_after_ms = -1;
}

static void log_done(const struct http_req *r, const struct http_resp *resp,
                     int err)
{
	uint64_t ms = http_now(r->p.cl) - r->p.started;

	if (err && err != ERR_HTTP)
		LOG_INFO("http", "event=failed method=%s host=%s err=\"%s\" "
		         "reason=\"%s\" ms=%llu", r->method, r->p.url.host,
		         err_str(err), r->p.reason, (unsigned long long)ms);
	else
		LOG_DEBUG("http", "event=done method=%s host=%s status=%d "
		          "bytes=%zu ms=%llu", r->method, r->p.url.host,
		          resp->status, resp->body_len, (unsigned long long)ms);
}

/* "host:port" of r's URL ("[v6]:port"), for causes a user can act on. */
static void set_where(struct http_req *r)
{
	const char *h = r->p.url.host;
	int v6 = strchr(h, ':') != NULL;

	snprintf(r->p.where, sizeof r->p.where, "%s%s%s:%u", v6 ? "[" : "",
	         h, v6 ? "]" : "", (unsigned)r->p.url.port);
}

/* Completes `r` (0 / ERR_HTTP by status when err is 0). `c` is the
 * connection holding its head, or NULL. The callback runs last: it may
 * free `r`. */
void http_req_finish(struct http_req *r, int err, const char *why,
                       struct http_conn *c)
{
	struct http_resp resp;
	char *body = r->p.body;

	if (why && !r->p.reason[0])
		snprintf(r->p.reason, sizeof r->p.reason, "%s", why);
	set_where(r);
	req_detach(r, c);
	fill_resp(&resp, r, c);
	if (!err && (resp.status < 200 || resp.status > 299))
		err = ERR_HTTP;
	r->p.cl->stats.requests_done++;
	log_done(r, &resp, err);
	r->p.body = NULL;
	r->on_done(r->arg, &resp, err);
	free(body);
}

static void total_expired(void *arg)
{
	struct http_req *r = arg;
	struct http_origin *o = r->p.origin;

	http_req_finish(r, ERR_TIMEOUT, "total deadline passed", NULL);
	http_origin_pump(o);    /* its connection, if any, was closed */
}

/* Gives waiting requests a connection while the cap allows. */
void http_origin_pump(struct http_origin *o)
{
	struct http_req *r;
	struct http_conn *c;

	while ((r = o->qhead) && !r->p.cl->closing) {
		c = r->p.retried ? NULL : http_origin_idle(o);
		if (!c && o->nconns >= (o->cap > 0 ? o->cap
		                                    : r->p.cl->per_origin))
			return;
		queue_unlink(r);
		if (c) {
			r->p.cl->stats.conns_reused++;
			http_conn_attach(c, r);
			continue;
		}
		c = http_conn_new(o, r->p.cl);
		if (!c) {
			/* Waits for a later pump or its total deadline: no
			 * callback from in here. */
			http_queue_push(o, r, 1);
			return;
		}
		http_conn_attach(c, r);
		http_conn_start(c);
	}
}

static struct http_origin *origin_get(struct http_client *cl,
                                      const struct url *u)
{
	struct http_origin *o;

	for (size_t i = 0; i < cl->norigins; i++) {
		o = cl->origins[i];
		if (o->tls == u->tls && o->port == u->port &&
		    !strcmp(o->host, u->host))
			return o;
	}
	if (cl->norigins == LIM_HTTP_ORIGINS)
		return NULL;
	o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	o->tls = u->tls;
	o->port = u->port;
	memcpy(o->host, u->host, sizeof o->host);
	cl->origins[cl->norigins++] = o;
	return o;
}

/* ---------------------------------------------------------------- API */

int http_client_origin_cap(struct http_client *cl, const char *url, int cap)
{
	struct url u;
	struct http_origin *o;
	int e = url_parse(&u, url);

	if (e)
		return e;
	if (cap <= 0)
		return ERR_INVAL;
	if (!(o = origin_get(cl, &u)))
		return cl->norigins == LIM_HTTP_ORIGINS ? ERR_TOOBIG : ERR_NOMEM;
	o->cap = cap;
	return 0;
}

struct http_client *http_client_new(struct loop *l, struct dns *d,
                                    struct tls_ctx *t,
                                    const struct http_conf *conf)
{
	struct http_client *cl = calloc(1, sizeof *cl);
	static const struct http_conf defaults;

	if (!cl)
		return NULL;
	conf = conf ? conf : &defaults;
	cl->l = l;
	cl->dns = d;
	cl->tls = t;
	cl->io = conf->io ? conf->io : &http_io_sockets;
	cl->per_origin = conf->per_origin > 0 ? conf->per_origin :
	                 LIM_HTTP_PER_ORIGIN;
	cl->keepalive_ms = conf->keepalive_ms > 0 ? conf->keepalive_ms :
	                   HTTP_KEEPALIVE_MS;
	return cl;
}

void http_client_free(struct http_client *cl)
{
	if (!cl)
		return;
	cl->closing = 1;
	for (size_t i = 0; i < cl->norigins; i++) {
		struct http_origin *o = cl->origins[i];

		while (o->qhead)
			http_cancel(cl, o->qhead);
		while (o->conns) {
			struct http_conn *c = o->conns;

			if (c->req)
				http_cancel(cl, c->req);
			else
				http_conn_close(c);
		}
		tls_session_free(o->session);
		free(o);
	}
	loop_defer_cancel(cl->l, &cl->reap);
	http_conn_reap(cl);
	free(cl);
}

static int secret_header(const char *name)
{
	return !strcasecmp(name, "authorization") ||
	       !strcasecmp(name, "proxy-authorization") ||
	       !strcasecmp(name, "cookie") || !strcasecmp(name, "x-api-key");
}

/* Debug log of a request. Secret headers show as "***"; the query string
 * is left out (it may carry an access_token). */
static void log_request(const struct http_req *r)
{
	const char *path = r->p.url.path;
	char name[32];

	if (log_get_level() < LOG_LEVEL_DEBUG)
		return;
	LOG_DEBUG("http", "event=request method=%s host=%s port=%u path=%.*s",
	          r->method, r->p.url.host, r->p.url.port,
	          (int)strcspn(path, "?"), path);
	for (size_t i = 0; i < r->nhdrs; i++) {
		size_t k = 0;

		for (; r->hdrs[i].name[k] && k < sizeof name - 1; k++)
			name[k] = (char)tolower((unsigned char)r->hdrs[i].name[k]);
		name[k] = '\0';
		LOG_DEBUG("http", "event=request_header %s=%s", name,
		          secret_header(name) ? "***" : r->hdrs[i].value);
	}
}

/* Registers the bearer token of an Authorization header with the log, so
 * no log line can ever show it. */
static void hide_secrets(const struct http_req *r)
{
	for (size_t i = 0; i < r->nhdrs; i++) {
		const char *v = r->hdrs[i].value;

		if (strcasecmp(r->hdrs[i].name, "authorization") != 0)
			continue;
		if (!strncasecmp(v, "Bearer ", 7))
			v += 7;
		log_add_secret(v);
	}
}

/* A body up to this size is copied after the head, so that a request
 * usually leaves in one segment or TLS record; a bigger one is sent from
 * the caller's buffer (it stays valid until completion), not held
 * twice. */
#define HTTP_COPY_BODY (16u << 10)

/* Checks the request and serialises it (the head, and a small body). */
static int req_prepare(struct http_client *cl, struct http_req *r)
{
	char tmp[LIM_HTTP_REQ_HEAD];
	size_t copy;
	int n;

	if (!r->method || !r->url || !r->on_done || (r->body_len && !r->body))
		return ERR_INVAL;
	n = url_parse(&r->p.url, r->url);
	if (n)
		return n;
	if (r->p.url.tls && !cl->tls)
		return ERR_TLS;
	n = httpp_req_write(tmp, sizeof tmp, r->method, &r->p.url, r->hdrs,
	                    r->nhdrs, r->body_len);
	if (n < 0)
		return n;
	copy = r->body_len <= HTTP_COPY_BODY ? r->body_len : 0;
	r->p.wbuf = malloc((size_t)n + copy);
	if (!r->p.wbuf)
		return ERR_NOMEM;
	memcpy(r->p.wbuf, tmp, (size_t)n);
	if (copy)
		memcpy(r->p.wbuf + n, r->body, copy);
	r->p.wlen = (size_t)n + copy;
	r->p.wdirect = r->body_len - copy;
	return 0;
}

int http_request(struct http_client *cl, struct http_req *r)
{
	struct http_origin *o;
	int err;

	memset(&r->p, 0, sizeof r->p);
	err = req_prepare(cl, r);
	o = err ? NULL : origin_get(cl, &r->p.url);
	if (!o) {
		free(r->p.wbuf);
		r->p.wbuf = NULL;
		return err ? err : ERR_TOOBIG;
	}
	hide_secrets(r);
	log_request(r);
	r->p.cl = cl;
	r->p.origin = o;
	r->p.active = 1;
	r->p.started = http_now(cl);
	loop_timer_init(&r->p.total, total_expired, r);
	loop_timer_arm(cl->l, &r->p.total, r->p.started +
	               (uint64_t)http_deadline_ms(r->total_ms, HTTP_TOTAL_MS));
	http_queue_push(o, r, 0);
	http_origin_pump(o);
	return 0;
}

void http_cancel(struct http_client *cl, struct http_req *r)
{
	(void)cl;
	if (!r->p.active)
		return;
	req_detach(r, NULL);
	free(r->p.body);
	r->p.body = NULL;
	/* A closed connection frees a slot for a queued request. Pumping
	 * never runs callbacks synchronously, so this is safe anywhere. */
	http_origin_pump(r->p.origin);
}

const char *http_resp_header(const struct http_resp *r, const char *name,
                             size_t *len)
{
	const struct httpp_header *h;

	if (!r->head)
		return NULL;
	h = httpp_head_find(r->head, name);
	if (!h)
		return NULL;
	*len = h->value_len;
	return h->value;
}

const struct http_stats *http_stats(const struct http_client *cl)
{
	return &cl->stats;
}

static int conns_check(const struct http_origin *o, int *open, int *idle)
{
	const struct http_conn *c, *prev = NULL;
	int n = 0, free_ = 0, k = 0;

	for (c = o->conns; c; prev = c, c = c->next, n++) {
		if (c->prev != prev || !c->linked || c->state == C_CLOSED)
			return ERR_CORRUPT;
		if (c->in_idle != (c->state == C_IDLE && !c->delivering))
			return ERR_CORRUPT;
		free_ += c->in_idle;
	}
	prev = NULL;
	for (c = o->idle; c; prev = c, c = c->idle_next, k++)
		if (c->idle_prev != prev || !c->in_idle || c->o != o || k > n)
			return ERR_CORRUPT;
	if (n != o->nconns || k != free_ || k != o->nidle)
		return ERR_CORRUPT;
	*open = n;
	*idle = k;
	return 0;
}

static int queue_check(const struct http_origin *o)
{
	const struct http_req *r, *prev = NULL;

	for (r = o->qhead; r; prev = r, r = r->p.next)
		if (r->p.prev != prev || !r->p.queued || r->p.conn)
			return ERR_CORRUPT;
	return o->qtail == prev ? 0 : ERR_CORRUPT;
}

int http_pool_check(const struct http_client *cl, const char *url,
                    int *open, int *idle)
{
	struct url u;
	const struct http_origin *o;
	int e = url_parse(&u, url);

	if (e)
		return ERR_INVAL;
	for (size_t i = 0; i < cl->norigins; i++) {
		o = cl->origins[i];
		if (o->tls != u.tls || o->port != u.port ||
		    strcmp(o->host, u.host))
			continue;
		e = conns_check(o, open, idle);
		return e ? e : queue_check(o);
	}
	return ERR_NOTFOUND;
}

/* ---------------------------------------------------------------- causes */

void http_explain(int err, const char *reason, const char *where,
                  const char *ca_key, char *out, size_t cap)
{
	int wlen, rlen;

	if (!reason)
		reason = "";
	if (!where || !where[0])
		where = "the server";
	wlen = (int)strlen(where);
	rlen = (int)strlen(reason);
	if (err == ERR_TLS && strstr(reason, "not trusted"))
		snprintf(out, cap, "the TLS certificate of %.*s is not trusted "
		         "(self-signed or unknown CA): set %s to the CA that "
		         "signed it, or fix the certificate", wlen, where,
		         ca_key);
	else if (err == ERR_TLS && strstr(reason, "expired"))
		snprintf(out, cap, "the TLS certificate of %.*s has expired: "
		         "renew it", wlen, where);
	else if (err == ERR_TLS && strstr(reason, "hostname mismatch"))
		snprintf(out, cap, "the TLS certificate of %.*s is for another "
		         "name: use the name it was issued for in the URL, or "
		         "fix the certificate", wlen, where);
	else if (err == ERR_TLS)
		snprintf(out, cap, "TLS with %.*s failed: %.*s", wlen, where,
		         rlen, reason);
	else if (err == ERR_REFUSED)
		snprintf(out, cap, "connection refused at %.*s: is the server "
		         "running, and is the URL right?", wlen, where);
	else if (err == ERR_DNS)
		snprintf(out, cap, "name not found: %.*s (%.*s): check the "
		         "host name in the URL", wlen, where, rlen, reason);
	else if (err == ERR_TIMEOUT)
		snprintf(out, cap, "no answer from %.*s in time (%.*s): is it "
		         "reachable?", wlen, where, rlen, reason);
	else if (err == ERR_CLOSED)
		snprintf(out, cap, "%.*s closed the connection without an "
		         "answer", wlen, where);
	else
		snprintf(out, cap, "the request to %.*s failed: %s%s%.*s",
		         wlen, where, err_str(err), rlen ? ": " : "", rlen,
		         reason);
}
