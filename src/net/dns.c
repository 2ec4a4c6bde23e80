/*
 * dns: the resolver state machine around dns_wire.c.
 *
 * A dns_query is a waiter; the network work for a name is a dns_lookup
 * that any number of waiters share (a burst of connections to one host
 * asks the network once). A lookup sends the A and AAAA questions in
 * parallel from a fresh connected UDP socket bound to a kernel-chosen
 * random port, with random ids, and waits one per-attempt timeout; then it
 * tries the next nameserver, attempts x nameservers times in all. Results
 * always reach the caller through loop_defer(), never from inside
 * dns_resolve() or from under another caller's callback, so callbacks may
 * cancel or start queries freely.
 *
 * Errors: NXDOMAIN, or no address of either family (NODATA), is ERR_DNS;
 * no usable answer from any server (silence, SERVFAIL, REFUSED, ICMP
 * unreachable) is ERR_TIMEOUT; a truncated answer (TC) on the last try
 * is ERR_PROTO. If one family answered and the other did not within an
 * attempt, the answered addresses are used.
 */
#include "net/dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"

#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_ATTEMPTS   2
#define MAX_TIMEOUT_MS     30000     /* resolv.conf caps, as glibc */
#define MAX_ATTEMPTS       5

static const int qtypes[2] = { DNS_TYPE_A, DNS_TYPE_AAAA };

struct server {
	struct sockaddr_storage sa;
	socklen_t len;
};

struct cache_ent {
	char name[DNS_NAME_MAX + 1];
	struct dns_addr addrs[DNS_ADDRS_MAX];
	size_t naddrs;
	uint64_t born, expires;         /* monotonic ms */
};

struct dns_lookup {
	struct dns_lookup *next;
	struct dns *d;
	char name[DNS_NAME_MAX + 1];
	struct dns_query *waiters;
	int fd;
	unsigned server;                /* of the current try */
	unsigned tries, first;
	uint16_t id[2];
	unsigned pending;               /* types asked in this try (bits) */
	unsigned answered;              /* types answered in any try */
	int fail;                       /* result if the tries run out */
	struct loop_timer timer;
	struct dns_answer ans[2];
};

struct dns {
	struct loop *l;
	char *hosts_path;
	struct server servers[LIM_DNS_SERVERS];
	unsigned nservers, next_server;
	int timeout_ms, attempts, rotate;
	struct dns_lookup *lookups;
	unsigned nlookups;
	struct dns_query *ready;        /* result here, delivery deferred */
	struct cache_ent cache[LIM_DNS_CACHE];
	struct dns_stats stats;
	uint8_t rnd[64];
	size_t rnd_left;
	uint32_t weak;                  /* fallback when getrandom fails */
};

/* ---------------------------------------------------------------- conf */

static char *next_token(char **p)
{
	char *s = *p, *t;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	if (*s == '\0' || *s == '#' || *s == ';')
		return NULL;
	t = s;
	while (*s && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
		s++;
	if (*s)
		*s++ = '\0';
	*p = s;
	return t;
}

/* Reads one line; a line longer than the buffer is skipped whole. */
static int read_line(FILE *f, char *buf, size_t cap)
{
	while (fgets(buf, (int)cap, f)) {
		size_t n = strlen(buf);
		int c;

		if (n > 0 && buf[n - 1] == '\n')
			return 1;
		if (feof(f))
			return 1;
		while ((c = fgetc(f)) != EOF && c != '\n')
			;
	}
	return 0;
}

static void add_server(struct dns *d, const char *text, int port)
{
	char host[INET6_ADDRSTRLEN];
	struct server *s = &d->servers[d->nservers];
	size_t n = strcspn(text, "%");   /* a v6 scope id is not supported */
	struct dns_addr a;

	if (d->nservers == LIM_DNS_SERVERS || n >= sizeof host)
		return;
	memcpy(host, text, n);
	host[n] = '\0';
	if (dns_parse_literal(host, &a) != 0 || host[0] == '[')
		return;
	memset(s, 0, sizeof *s);
	if (a.family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&s->sa;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		memcpy(&in->sin_addr, a.addr, 4);
		s->len = sizeof *in;
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&s->sa;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		memcpy(&in6->sin6_addr, a.addr, 16);
		s->len = sizeof *in6;
	}
	d->nservers++;
}

static int option_value(const char *tok, const char *key, int max)
{
	size_t k = strlen(key);
	char *end;
	long v;

	if (strncmp(tok, key, k) != 0)
		return -1;
	v = strtol(tok + k, &end, 10);
	if (end == tok + k || *end != '\0' || v < 1)
		return -1;
	return v > max ? max : (int)v;
}

static void read_resolv_conf(struct dns *d, const char *path, int port,
                             int *timeout_s, int *attempts)
{
	char line[LIM_DNS_CONF_LINE];
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	while (read_line(f, line, sizeof line)) {
		char *p = line, *key = next_token(&p), *tok;

		if (!key)
			continue;
		if (strcmp(key, "nameserver") == 0) {
			if ((tok = next_token(&p)))
				add_server(d, tok, port);
			continue;
		}
		if (strcmp(key, "options") != 0)
			continue;       /* search, domain, sortlist: unused */
		while ((tok = next_token(&p))) {
			int v;

			if ((v = option_value(tok, "timeout:", 30)) > 0)
				*timeout_s = v;
			else if ((v = option_value(tok, "attempts:", MAX_ATTEMPTS)) > 0)
				*attempts = v;
			else if (strcmp(tok, "rotate") == 0)
				d->rotate = 1;
		}
	}
	fclose(f);
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

static void configure(struct dns *d, const struct dns_conf *c)
{
	int port = c && c->port > 0 && c->port < 65536 ? c->port : 53;
	int timeout_s = 0, attempts = 0;

	read_resolv_conf(d, c && c->resolv_conf ? c->resolv_conf
	                 : "/etc/resolv.conf", port, &timeout_s, &attempts);
	if (d->nservers == 0)
		add_server(d, "127.0.0.1", port);
	d->timeout_ms = timeout_s ? timeout_s * 1000 : DEFAULT_TIMEOUT_MS;
	if (c && c->timeout_ms > 0)
		d->timeout_ms = c->timeout_ms < MAX_TIMEOUT_MS ? c->timeout_ms
		                : MAX_TIMEOUT_MS;
	d->attempts = attempts ? attempts : DEFAULT_ATTEMPTS;
	if (c && c->attempts > 0)
		d->attempts = c->attempts < MAX_ATTEMPTS ? c->attempts
		              : MAX_ATTEMPTS;
}

struct dns *dns_new(struct loop *l, const struct dns_conf *conf)
{
	struct dns *d = calloc(1, sizeof *d);

	if (!d)
		return NULL;
	d->l = l;
	d->hosts_path = dup_str(conf && conf->hosts ? conf->hosts
	                        : "/etc/hosts");
	if (!d->hosts_path) {
		free(d);
		return NULL;
	}
	configure(d, conf);
	d->weak = (uint32_t)loop_clock_ms() | 1u;
	return d;
}

const struct dns_stats *dns_stats(const struct dns *d)
{
	return &d->stats;
}

/* ---------------------------------------------------------------- sources */

/* Query ids are the main defence against off-path spoofing (with the
 * random port), so they come from the kernel's CSPRNG. */
static uint16_t random16(struct dns *d)
{
	if (d->rnd_left < 2) {
		ssize_t n = getrandom(d->rnd, sizeof d->rnd, GRND_NONBLOCK);

		d->rnd_left = n > 0 ? (size_t)n : 0;
		if (d->rnd_left < 2) {
			LOG_WARN("dns", "event=weak_random errno=%d", errno);
			d->weak ^= d->weak << 13;
			d->weak ^= d->weak >> 17;
			d->weak ^= d->weak << 5;
			return (uint16_t)(d->weak ^ loop_clock_ms());
		}
	}
	d->rnd_left -= 2;
	return (uint16_t)(d->rnd[d->rnd_left] << 8 | d->rnd[d->rnd_left + 1]);
}

static int hosts_line_matches(char *p, const char *name, struct dns_addr *a)
{
	char norm[DNS_NAME_MAX + 1];
	char *tok = next_token(&p);

	if (!tok || dns_parse_literal(tok, a) != 0)
		return 0;
	while ((tok = next_token(&p)))
		if (dns_name_normalize(tok, norm) > 0 && strcmp(norm, name) == 0)
			return 1;
	return 0;
}

/* Every address the hosts file gives `name` (normalized), in file order. */
static size_t hosts_lookup(const struct dns *d, const char *name,
                           struct dns_addr *out)
{
	char line[LIM_DNS_CONF_LINE];
	FILE *f = fopen(d->hosts_path, "re");
	size_t n = 0;

	if (!f)
		return 0;
	while (n < DNS_ADDRS_MAX && read_line(f, line, sizeof line))
		if (hosts_line_matches(line, name, &out[n]))
			n++;
	fclose(f);
	return n;
}

static struct cache_ent *cache_find(struct dns *d, const char *name)
{
	for (size_t i = 0; i < LIM_DNS_CACHE; i++)
		if (strcmp(d->cache[i].name, name) == 0)
			return &d->cache[i];
	return NULL;
}

static void cache_put(struct dns *d, const char *name,
                      const struct dns_addr *addrs, size_t n, uint32_t ttl)
{
	uint64_t now = loop_clock_ms();
	struct cache_ent *e = cache_find(d, name);

	if (ttl == 0 || n == 0)
		return;
	if (ttl > LIM_DNS_TTL_MAX)
		ttl = LIM_DNS_TTL_MAX;
	for (size_t i = 0; !e && i < LIM_DNS_CACHE; i++)
		if (d->cache[i].expires <= now)
			e = &d->cache[i];
	if (!e) {                       /* full: evict the oldest */
		e = &d->cache[0];
		for (size_t i = 1; i < LIM_DNS_CACHE; i++)
			if (d->cache[i].born < e->born)
				e = &d->cache[i];
	}
	memcpy(e->name, name, strlen(name) + 1);
	memcpy(e->addrs, addrs, n * sizeof *addrs);
	e->naddrs = n;
	e->born = now;
	e->expires = now + (uint64_t)ttl * 1000u;
}

static size_t cache_get(struct dns *d, const char *name, struct dns_addr *out)
{
	struct cache_ent *e = cache_find(d, name);

	if (!e || e->expires <= loop_clock_ms())
		return 0;
	memcpy(out, e->addrs, e->naddrs * sizeof *out);
	return e->naddrs;
}

/* ---------------------------------------------------------------- delivery */

static void unlink_query(struct dns_query **head, struct dns_query *q)
{
	for (; *head; head = &(*head)->next)
		if (*head == q) {
			*head = q->next;
			q->next = NULL;
			return;
		}
}

static void deliver(void *arg)
{
	struct dns_query *q = arg;

	unlink_query(&q->owner->ready, q);
	q->active = 0;
	/* q may be reused or freed by the callback: nothing after it */
	q->cb(q->arg, q->err, q->err ? NULL : q->addrs, q->err ? 0 : q->naddrs);
}

static void make_ready(struct dns *d, struct dns_query *q, int err,
                       const struct dns_addr *addrs, size_t n)
{
	q->lk = NULL;
	q->err = err;
	q->naddrs = n;
	if (n)
		memcpy(q->addrs, addrs, n * sizeof *addrs);
	q->next = d->ready;
	d->ready = q;
	loop_defer(d->l, &q->done, deliver, q);
}

/* ---------------------------------------------------------------- network */

static void lookup_free(struct dns_lookup *lk)
{
	struct dns *d = lk->d;

	for (struct dns_lookup **p = &d->lookups; *p; p = &(*p)->next)
		if (*p == lk) {
			*p = lk->next;
			break;
		}
	d->nlookups--;
	loop_timer_cancel(d->l, &lk->timer);
	if (lk->fd >= 0) {
		loop_fd_del(d->l, lk->fd);
		close(lk->fd);
	}
	free(lk);
}

/* Hands the result to every waiter and frees the lookup. */
static void lookup_finish(struct dns_lookup *lk, int err)
{
	struct dns *d = lk->d;
	struct dns_addr addrs[DNS_ADDRS_MAX];
	uint32_t ttl = UINT32_MAX;
	size_t n = 0;

	for (int t = 0; t < 2 && err == 0; t++) {
		const struct dns_answer *a = &lk->ans[t];

		for (size_t i = 0; i < a->naddrs && n < DNS_ADDRS_MAX; i++)
			addrs[n++] = a->addrs[i];
		if (a->naddrs && a->ttl < ttl)
			ttl = a->ttl;
	}
	if (err == 0 && n == 0)
		err = ERR_DNS;
	if (err == 0)
		cache_put(d, lk->name, addrs, n, ttl);
	LOG_DEBUG("dns", "event=resolved name=%s addrs=%zu err=%s", lk->name,
	          n, err_str(err));
	while (lk->waiters) {
		struct dns_query *q = lk->waiters;

		lk->waiters = q->next;
		make_ready(d, q, err, addrs, err ? 0 : n);
	}
	lookup_free(lk);
}

static int open_socket(const struct server *s)
{
	struct sockaddr_storage any;
	int fd = socket(s->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
	                SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	/* port 0: the kernel picks a random ephemeral port, so an off-path
	 * spoofer must guess it as well as the id */
	memset(&any, 0, sizeof any);
	any.ss_family = s->sa.ss_family;
	if (bind(fd, (struct sockaddr *)&any, s->len) != 0 ||
	    connect(fd, (const struct sockaddr *)&s->sa, s->len) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void lookup_readable(void *arg, int fd, unsigned revents);
static void lookup_timeout(void *arg);

/* Sends the unanswered questions to the next server. Returns 0 when the
 * try is under way, or < 0 when it could not start (the caller cleans up
 * and moves on to the next try). */
static int try_send(struct dns_lookup *lk)
{
	struct dns *d = lk->d;
	uint8_t pkt[512];

	lk->server = (lk->first + lk->tries) % d->nservers;
	lk->tries++;
	lk->fd = open_socket(&d->servers[lk->server]);
	if (lk->fd < 0)
		return -1;
	lk->pending = 3u & ~lk->answered;
	for (int t = 0; t < 2; t++) {
		int n;

		if (!(lk->pending & (1u << t)))
			continue;
		lk->id[t] = random16(d);
		n = dns_build_query(pkt, sizeof pkt, lk->id[t], lk->name,
		                    qtypes[t]);
		if (n < 0 || send(lk->fd, pkt, (size_t)n, 0) != n)
			return -1;
		d->stats.packets_sent++;
	}
	if (loop_fd_add(d->l, lk->fd, LOOP_READ, lookup_readable, lk) != 0)
		return -1;
	return loop_timer_arm(d->l, &lk->timer,
	                      loop_clock_ms() + (uint64_t)d->timeout_ms);
}

static void lookup_next(struct dns_lookup *lk)
{
	struct dns *d = lk->d;

	for (;;) {
		loop_timer_cancel(d->l, &lk->timer);
		if (lk->fd >= 0) {
			loop_fd_del(d->l, lk->fd);
			close(lk->fd);
			lk->fd = -1;
		}
		if (lk->tries >= (unsigned)d->attempts * d->nservers) {
			lookup_finish(lk, lk->fail);
			return;
		}
		if (try_send(lk) == 0)
			return;
		LOG_DEBUG("dns", "event=send_failed name=%s errno=%d",
		          lk->name, errno);
	}
}

static void lookup_timeout(void *arg)
{
	struct dns_lookup *lk = arg;

	lk->d->stats.timeouts++;
	if (lk->ans[0].naddrs || lk->ans[1].naddrs)
		lookup_finish(lk, 0);   /* one family is enough */
	else
		lookup_next(lk);
}

/* The socket is connected, so the kernel already drops datagrams from
 * elsewhere; checking again costs nothing and does not rely on it. */
static int from_server(const struct server *s,
                       const struct sockaddr_storage *from, socklen_t len)
{
	if (from->ss_family != s->sa.ss_family || len < s->len)
		return 0;
	if (from->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)from;
		const struct sockaddr_in *b = (const struct sockaddr_in *)&s->sa;

		return a->sin_port == b->sin_port &&
		       a->sin_addr.s_addr == b->sin_addr.s_addr;
	} else {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)from;
		const struct sockaddr_in6 *b =
			(const struct sockaddr_in6 *)&s->sa;

		return a->sin6_port == b->sin6_port &&
		       memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0;
	}
}

/* Handles one datagram. Returns 1 when the lookup moved on (finished or
 * next try), 0 to keep reading. */
static int handle_answer(struct dns_lookup *lk, const uint8_t *pkt, size_t n)
{
	struct dns *d = lk->d;
	struct dns_answer ans;
	int t, rc;

	for (t = 0; t < 2; t++)
		if ((lk->pending & (1u << t)) && n >= 2 &&
		    (uint16_t)(pkt[0] << 8 | pkt[1]) == lk->id[t])
			break;
	rc = t < 2 ? dns_parse_answer(pkt, n, lk->id[t], lk->name, qtypes[t],
	                              &ans) : ERR_PROTO;
	if (rc == ERR_PROTO || rc == ERR_INVAL) {
		d->stats.answers_ignored++;
		return 0;
	}
	d->stats.answers_used++;
	if (rc == ERR_DNS) {
		lookup_finish(lk, ERR_DNS);
		return 1;
	}
	if (rc < 0) {                   /* TC, SERVFAIL, REFUSED */
		LOG_DEBUG("dns", "event=server_failed name=%s server=%u err=%s",
		          lk->name, lk->server, err_str(rc));
		if (rc == ERR_TOOBIG)
			lk->fail = ERR_PROTO;
		if (lk->ans[!t].naddrs)
			lookup_finish(lk, 0);   /* the other family will do */
		else
			lookup_next(lk);
		return 1;
	}
	lk->ans[t] = ans;
	lk->answered |= 1u << t;
	lk->pending &= ~(1u << t);
	if (lk->pending)
		return 0;
	lookup_finish(lk, 0);
	return 1;
}

static void lookup_readable(void *arg, int fd, unsigned revents)
{
	struct dns_lookup *lk = arg;
	uint8_t pkt[LIM_DNS_PACKET];

	(void)revents;
	for (;;) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof from;
		ssize_t n = recvfrom(fd, pkt, sizeof pkt, MSG_TRUNC,
		                     (struct sockaddr *)&from, &flen);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		              errno == EINTR))
			return;
		if (n < 0) {            /* ICMP unreachable and the like */
			lookup_next(lk);
			return;
		}
		if ((size_t)n > sizeof pkt ||
		    !from_server(&lk->d->servers[lk->server], &from, flen)) {
			lk->d->stats.answers_ignored++;
			continue;
		}
		if (handle_answer(lk, pkt, (size_t)n))
			return;
	}
}

static struct dns_lookup *lookup_start(struct dns *d, const char *name)
{
	struct dns_lookup *lk;

	if (d->nlookups >= LIM_DNS_INFLIGHT)
		return NULL;
	lk = calloc(1, sizeof *lk);
	if (!lk)
		return NULL;
	lk->d = d;
	lk->fd = -1;
	lk->fail = ERR_TIMEOUT;
	memcpy(lk->name, name, strlen(name) + 1);
	loop_timer_init(&lk->timer, lookup_timeout, lk);
	if (d->rotate)
		lk->first = d->next_server++ % d->nservers;
	lk->next = d->lookups;
	d->lookups = lk;
	d->nlookups++;
	return lk;
}

/* ---------------------------------------------------------------- api */

/* RFC 6761 6.3: localhost and *.localhost are the loopback, even in an
 * empty root without /etc/hosts (Letta often runs on localhost). */
static size_t localhost(const char *name, struct dns_addr *out)
{
	size_t n = strlen(name);

	if (strcmp(name, "localhost") != 0 &&
	    (n < 10 || strcmp(name + n - 10, ".localhost") != 0))
		return 0;
	dns_parse_literal("127.0.0.1", &out[0]);
	dns_parse_literal("::1", &out[1]);
	return 2;
}

static int resolve_locally(struct dns *d, struct dns_query *q,
                           const char *name)
{
	struct dns_addr addrs[DNS_ADDRS_MAX];
	size_t n;

	if (dns_parse_literal(name, &addrs[0]) == 0) {
		make_ready(d, q, 0, addrs, 1);
		return 1;
	}
	if ((n = hosts_lookup(d, q->name, addrs)) > 0 ||
	    (n = localhost(q->name, addrs)) > 0) {
		make_ready(d, q, 0, addrs, n);
		return 1;
	}
	if ((n = cache_get(d, q->name, addrs)) > 0) {
		d->stats.cache_hits++;
		make_ready(d, q, 0, addrs, n);
		return 1;
	}
	return 0;
}

int dns_resolve(struct dns *d, struct dns_query *q, const char *name,
                dns_cb cb, void *arg)
{
	struct dns_lookup *lk;
	struct dns_addr lit;

	if (q->active)
		return ERR_INVAL;
	memset(q, 0, sizeof *q);
	if (dns_parse_literal(name, &lit) == 0) {
		size_t n = strlen(name);    /* kept for the caller's logs */

		memcpy(q->name, name, n < DNS_NAME_MAX ? n : DNS_NAME_MAX);
	} else if (dns_name_normalize(name, q->name) < 0) {
		return ERR_INVAL;
	}
	q->owner = d;
	q->cb = cb;
	q->arg = arg;
	q->active = 1;
	if (resolve_locally(d, q, name))
		return 0;
	for (lk = d->lookups; lk; lk = lk->next)
		if (strcmp(lk->name, q->name) == 0)
			break;
	if (!lk && !(lk = lookup_start(d, q->name))) {
		q->active = 0;
		return d->nlookups >= LIM_DNS_INFLIGHT ? ERR_TOOBIG : ERR_NOMEM;
	}
	q->lk = lk;
	q->next = lk->waiters;
	lk->waiters = q;
	if (lk->fd < 0 && !loop_timer_armed(&lk->timer))
		lookup_next(lk);        /* new: may finish (deferred) at once */
	return 0;
}

void dns_cancel(struct dns *d, struct dns_query *q)
{
	struct dns_lookup *lk = q->lk;

	if (!q->active)
		return;
	q->active = 0;
	q->lk = NULL;
	if (lk) {
		unlink_query(&lk->waiters, q);
		if (!lk->waiters)
			lookup_free(lk);
		return;
	}
	unlink_query(&d->ready, q);
	loop_defer_cancel(d->l, &q->done);
}

void dns_free(struct dns *d)
{
	if (!d)
		return;
	while (d->ready)
		dns_cancel(d, d->ready);
	while (d->lookups) {
		struct dns_lookup *lk = d->lookups;

		for (struct dns_query *q = lk->waiters; q; q = q->next) {
			q->active = 0;
			q->lk = NULL;
		}
		lookup_free(lk);
	}
	free(d->hosts_path);
	free(d);
}
