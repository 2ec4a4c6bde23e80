/*
 * dns: an asynchronous stub resolver driven by the loop.
 *
 * The libc resolver (getaddrinfo) blocks and needs NSS, which a static
 * binary in an empty root does not have. This resolver reads /etc/hosts
 * first, then asks the nameservers of /etc/resolv.conf over UDP (A and
 * AAAA), retries, times out, and caches answers for their TTL. IP
 * literals never leave the process. Hostile answers (wrong id,
 * truncation, compression loops, oversized names) are rejected.
 *
 * Callbacks are never run from inside dns_resolve(): even a literal or a
 * cache hit is delivered from the loop, so callers need not guard against
 * re-entrance.
 */
#ifndef LETTAMX_DNS_H
#define LETTAMX_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

#define DNS_NAME_MAX  253   /* longest textual host name */
#define DNS_ADDRS_MAX 8     /* addresses kept per answer */

struct dns;

struct dns_addr {
	int family;             /* AF_INET or AF_INET6 */
	uint8_t addr[16];       /* network byte order; 4 bytes used for v4 */
};

/* err is 0 or ERR_DNS (no such name), ERR_TIMEOUT, ERR_PROTO,
 * ERR_CANCELLED never (a cancelled query gets no callback). `addrs` is
 * valid only during the call. */
typedef void (*dns_cb)(void *arg, int err, const struct dns_addr *addrs,
                       size_t naddrs);

/* Where to read the system configuration; tests point these at files of
 * their own. NULL means the default path. */
struct dns_conf {
	const char *resolv_conf;   /* default /etc/resolv.conf */
	const char *hosts;         /* default /etc/hosts */
	int timeout_ms;            /* per attempt; 0 = default (2000) */
	int attempts;              /* per nameserver; 0 = default (2) */
};

/* A query in flight, embedded in the caller's object. Private fields. */
struct dns_query {
	struct dns_query *next;
	struct dns *owner;
	dns_cb cb;
	void *arg;
	int active;
	char name[DNS_NAME_MAX + 1];
};

/* Creates a resolver on `l` with `conf` (copied; NULL = defaults).
 * Returns NULL on allocation failure. */
struct dns *dns_new(struct loop *l, const struct dns_conf *conf);

/* Frees the resolver; queries still in flight get no callback. */
void dns_free(struct dns *d);

/* Starts resolving `name` (host name or IP literal). `q` must stay valid
 * until the callback or dns_cancel(). Returns 0, ERR_INVAL for a name that
 * cannot be a host name, ERR_NOMEM. */
int dns_resolve(struct dns *d, struct dns_query *q, const char *name,
                dns_cb cb, void *arg);

/* Cancels a query; no callback follows. Harmless if not active. */
void dns_cancel(struct dns *d, struct dns_query *q);

#endif
