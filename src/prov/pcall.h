/*
 * pcall: one struct proto_req (a request as data, built by the matrix and
 * letta builders) sent over the HTTP client to a base URL, its answer
 * handed back as a struct proto_resp. The glue every driver of a sans-I/O
 * engine needs (the daemon's start-up gate, reconciliation, the bridge):
 * URL = base + path, User-Agent, Accept, the bearer token, JSON body.
 *
 * A pcall is embedded in its owner's object and holds copies of
 * everything the request needs, so the owner may reuse the proto_req it
 * was started from at once.
 */
#ifndef LETTAMX_PCALL_H
#define LETTAMX_PCALL_H

#include "net/http.h"
#include "core/limits.h"
#include "net/proto.h"

/* The answer: `resp` (status 0 when none came; its body valid only
 * during the call), `err` as http_done_cb's (0, ERR_HTTP, or why no
 * answer came), `reason` a text for logs ("" if none). */
typedef void (*pcall_cb)(void *arg, const struct proto_resp *resp, int err,
                         const char *reason);

struct pcall {
	size_t body_cap;                /* the caller's, set before a start:
	                                 * the answer's size cap (0: the
	                                 * client's default) */
	struct proto_req req;
	struct http_req hreq;
	char url[LIM_HTTP_URL + LIM_PROTO_PATH];
	char auth[LIM_MX_TOKEN + 16];
	struct httpp_field hdr[4];
	pcall_cb cb;
	void *arg;
	struct http_client *http;
	int in_flight;
	char cause[LIM_HTTP_REASON];    /* no answer: http_explain's text */
};

/* Sends a copy of `req` to `base` (no trailing slash) over `http`;
 * `total_ms` is the request's whole deadline (0: the client's default).
 * `cb(arg, ...)` runs exactly once from the loop, never inside this call.
 * Returns 0, or the client's refusal (ERR_INVAL, ERR_TOOBIG, ERR_TLS,
 * ERR_NOMEM: no callback then). */
int pcall_start(struct pcall *c, struct http_client *http, const char *base,
                const struct proto_req *req, int total_ms, pcall_cb cb,
                void *arg);

/* Cancels a call in flight (no callback follows). Harmless otherwise. */
void pcall_cancel(struct pcall *c);

#endif
