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

#include "core/loop.h"

#define DNS_NAME_MAX  253   /* longest textual host name */
#define DNS_ADDRS_MAX 8     /* addresses kept per answer */

struct dns;

struct dns_addr {
	int family;             /* AF_INET or AF_INET6 */
	uint8_t addr[16];       /* network byte order; 4 bytes used for v4 */
};

/* err is 0 or ERR_DNS (no such name, or no address of either family),
 * ERR_TIMEOUT (no usable answer: silence, SERVFAIL/REFUSED, unreachable
 * servers), ERR_PROTO (truncated answer; there is no TCP fallback),
 * ERR_CANCELLED never (a cancelled query gets no callback). `addrs` is
 * valid only during the call; IPv4 addresses come before IPv6 ones. */
typedef void (*dns_cb)(void *arg, int err, const struct dns_addr *addrs,
                       size_t naddrs);

/* Where to read the system configuration; tests point these at files of
 * their own. NULL means the default path.
 *
 * From resolv.conf we read `nameserver` (IPv4 or IPv6, at most
 * LIM_DNS_SERVERS; none means 127.0.0.1) and `options timeout:N
 * attempts:N rotate`. `search`, `domain` and `ndots` are ignored: names
 * are always asked as given (absolute). A non-zero timeout_ms/attempts
 * here overrides resolv.conf. The hosts file is read on each lookup that
 * is not an IP literal; without an entry there, "localhost" and
 * "*.localhost" are 127.0.0.1 and ::1 (RFC 6761). */
struct dns_conf {
	const char *resolv_conf;   /* default /etc/resolv.conf */
	const char *hosts;         /* default /etc/hosts */
	int timeout_ms;            /* per attempt; 0 = default (2000) */
	int attempts;              /* per nameserver; 0 = default (2) */
	int port;                  /* nameserver UDP port; 0 = 53 (tests
	                            * run a fake server on another port) */
};

struct dns_lookup;

/* A query in flight, embedded in the caller's object. Private fields. */
struct dns_query {
	struct dns_query *next;
	struct dns *owner;
	dns_cb cb;
	void *arg;
	int active;
	char name[DNS_NAME_MAX + 1];
	/* private: the network lookup this query waits on, or NULL when its
	 * result is already here and delivery is deferred */
	struct dns_lookup *lk;
	struct loop_defer done;
	int err;
	size_t naddrs;
	struct dns_addr addrs[DNS_ADDRS_MAX];
};

/* Counters for tests and operators. */
struct dns_stats {
	uint64_t packets_sent;     /* UDP queries sent (A and AAAA count 2) */
	uint64_t answers_used;     /* answers that matched their query */
	uint64_t answers_ignored;  /* wrong id/question/source, malformed */
	uint64_t cache_hits;
	uint64_t timeouts;         /* attempts that got no usable answer */
};

/* Creates a resolver on `l` with `conf` (copied; NULL = defaults).
 * Returns NULL on allocation failure. */
struct dns *dns_new(struct loop *l, const struct dns_conf *conf);

/* Frees the resolver; queries still in flight get no callback. */
void dns_free(struct dns *d);

/* Starts resolving `name` (host name or IP literal). `q` must be zeroed
 * before its first use (like a loop_timer) and stay valid until the
 * callback or dns_cancel(); it may be reused from its own callback.
 * Returns 0, ERR_INVAL for a name that cannot be a host name or when `q`
 * is still active, ERR_TOOBIG when LIM_DNS_INFLIGHT distinct names are
 * already being asked, ERR_NOMEM. */
int dns_resolve(struct dns *d, struct dns_query *q, const char *name,
                dns_cb cb, void *arg);

/* Cancels a query; no callback follows. Harmless if not active. */
void dns_cancel(struct dns *d, struct dns_query *q);

const struct dns_stats *dns_stats(const struct dns *d);

/* ---- wire format, sans I/O (dns_wire.c; the resolver, tests and the
 * fuzzer drive these with bytes) ---- */

enum {
	DNS_TYPE_A     = 1,
	DNS_TYPE_CNAME = 5,
	DNS_TYPE_AAAA  = 28,
};

/* Addresses for one question, and the smallest TTL (seconds) of the
 * records that led to them (CNAMEs included). */
struct dns_answer {
	struct dns_addr addrs[DNS_ADDRS_MAX];
	size_t naddrs;
	uint32_t ttl;
};

/* Writes a recursive query for (`name`, `qtype`) with `id` into `buf`.
 * Returns the length, ERR_INVAL for a name that is not a host name, or
 * ERR_TOOBIG if `cap` is too small (512 always suffices). */
int dns_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name,
                    int qtype);

/* Parses `pkt` as the answer to (`id`, `name`, `qtype`). Returns 0 with
 * `out` filled (naddrs 0: the name exists without such records), ERR_DNS
 * for NXDOMAIN, ERR_REFUSED for another error rcode (SERVFAIL, REFUSED:
 * ask another server), ERR_TOOBIG when truncated (TC; no TCP fallback),
 * ERR_PROTO when malformed or not an answer to this question (wrong id,
 * wrong question, compression loop or forward pointer, oversized name,
 * counts beyond the packet, RDLENGTH mismatch, CNAME chain too long).
 * Only address records on the CNAME chain from `name` are used. */
int dns_parse_answer(const uint8_t *pkt, size_t len, uint16_t id,
                     const char *name, int qtype, struct dns_answer *out);

/* Parses an IP literal: dotted IPv4, IPv6 with or without brackets.
 * Returns 0 or ERR_INVAL. */
int dns_parse_literal(const char *s, struct dns_addr *out);

/* Canonical form of a host name: lower case, trailing dot removed,
 * labels 1-63 bytes of letters, digits, '-' and '_', at most
 * DNS_NAME_MAX. Writes it to `out` (DNS_NAME_MAX + 1 bytes). Returns its
 * length or ERR_INVAL. */
int dns_name_normalize(const char *name, char *out);

#endif
