/*
 * pcall: a proto_req over the HTTP client (see pcall.h).
 */
#include "prov/pcall.h"

#include <string.h>

#include "core/err.h"
#include "letta/letta.h"
#include "matrix/mx_cred.h"

static void on_done(void *arg, struct http_resp *hr, int err)
{
	struct pcall *c = arg;
	struct proto_resp resp = { 0, -1, "", 0, 0, NULL };

	c->in_flight = 0;
	if (err == 0 || err == ERR_HTTP) {
		resp.status = hr->status;
		resp.body = hr->body ? hr->body : "";
		resp.len = hr->body_len;
		resp.retry_after_ms = hr->retry_after_ms;
	} else {
		/* The first real cause, where, and what to do. */
		http_explain(err, hr ? hr->reason : "", hr ? hr->where : "",
		             "[matrix] ca_file", c->cause, sizeof c->cause);
		resp.neterr = err;
		resp.reason = c->cause;
	}
	c->cb(c->arg, &resp, err, hr && hr->reason ? hr->reason : "");
}

static size_t headers(struct pcall *c)
{
	char tok[LIM_MX_TOKEN];
	const char *user;
	struct proto_buf a;
	size_t n = 0;

	/* Letta needs a User-Agent (0.13 crashes without one). */
	c->hdr[n++] = (struct httpp_field){ "User-Agent", letta_user_agent() };
	c->hdr[n++] = (struct httpp_field){ "Accept", "application/json" };
	if (c->req.bearer[0] &&
	    !mx_cred_split(c->req.bearer, tok, sizeof tok, &user)) {
		proto_buf_init(&a, c->auth, sizeof c->auth);
		proto_buf_str(&a, "Bearer ");
		proto_buf_str(&a, tok);
		c->hdr[n++] = (struct httpp_field){ "Authorization", c->auth };
		memset(tok, 0, sizeof tok);
	}
	if (c->req.raw)
		c->hdr[n++] = (struct httpp_field){ "Content-Type",
		                                    c->req.raw_type };
	else if (c->req.has_body)
		c->hdr[n++] = (struct httpp_field){ "Content-Type",
		                                    "application/json" };
	return n;
}

int pcall_start(struct pcall *c, struct http_client *http, const char *base,
                const struct proto_req *req, int total_ms, pcall_cb cb,
                void *arg)
{
	char tok[LIM_MX_TOKEN];
	const char *user = NULL;
	struct proto_buf u;
	int r;

	if (c->in_flight)
		return ERR_INVAL;
	c->req = *req;
	proto_buf_init(&u, c->url, sizeof c->url);
	proto_buf_str(&u, base);
	proto_buf_str(&u, c->req.path);
	/* an application service acting as one of its users */
	if (!mx_cred_split(req->bearer, tok, sizeof tok, &user))
		mx_cred_url(&u, user);
	memset(tok, 0, sizeof tok);
	if (u.err)
		return u.err;
	memset(&c->hreq, 0, sizeof c->hreq);
	c->hreq.method = proto_method_str(c->req.method);
	c->hreq.url = c->url;
	c->hreq.hdrs = c->hdr;
	c->hreq.nhdrs = headers(c);
	c->hreq.body = c->req.raw ? (const char *)c->req.raw :
	               c->req.has_body ? c->req.body : NULL;
	c->hreq.body_len = c->req.raw ? c->req.raw_len :
	                   c->req.has_body ? c->req.body_len : 0;
	/* A slow answer (a Letta turn, a long-poll) sends nothing until it
	 * is done: its first byte may come as late as its deadline. */
	c->hreq.body_cap = c->body_cap;
	c->hreq.total_ms = total_ms;
	c->hreq.first_byte_ms = total_ms;
	c->hreq.idle_ms = total_ms;
	c->hreq.on_done = on_done;
	c->hreq.arg = c;
	c->cb = cb;
	c->arg = arg;
	c->http = http;
	r = http_request(http, &c->hreq);
	if (r == 0)
		c->in_flight = 1;
	return r;
}

void pcall_cancel(struct pcall *c)
{
	if (c->in_flight)
		http_cancel(c->http, &c->hreq);
	c->in_flight = 0;
}
