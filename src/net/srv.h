/*
 * srv: a small non-blocking HTTP/1.1 server on the loop, for /healthz and
 * /metrics ([http] listen). One request per connection (Connection:
 * close), GET only; bounded: at most SRV_CONNS connections (more are
 * closed at once), a request head of at most SRV_REQ_MAX bytes, SRV_TIME_MS
 * from accept to the last byte written, a response of at most
 * SRV_RESP_MAX bytes. It listens on a loopback address unless the caller
 * allows others.
 *
 * The handler gets the path of each GET (without the query) and writes
 * the body; it returns the status (200, 503, 404, ...). Anything but a GET
 * is 404 without asking it.
 */
#ifndef LETTAMX_SRV_H
#define LETTAMX_SRV_H

#include <stdbool.h>
#include <stddef.h>

struct loop;
struct proto_buf;
struct srv;

#define SRV_CONNS     8
#define SRV_REQ_MAX   4096
#define SRV_TIME_MS   5000
#define SRV_RESP_MAX  (256u << 10)

typedef int (*srv_handler)(void *arg, const char *path, struct proto_buf *body,
                           const char **content_type);

/* Parses "HOST:PORT" ("127.0.0.1:9464", "[::1]:9464", "localhost:9464";
 * port 0 picks one) and listens there. Refuses a non-loopback address
 * unless allow_remote. Returns 0 and *out, or ERR_CONFIG (a bad or
 * refused address: why says which), ERR_IO (bind/listen failed),
 * ERR_NOMEM. */
int srv_open(struct srv **out, struct loop *l, const char *listen,
             bool allow_remote, srv_handler fn, void *arg, char *why,
             size_t cap);

/* The port bound (useful with port 0). */
int srv_port(const struct srv *s);

/* Changes the time a connection may take (tests shorten it). */
void srv_set_time_ms(struct srv *s, int ms);

/* Closes the listener and every connection. NULL is fine. */
void srv_close(struct srv *s);

/* The handler of /healthz and /metrics over a struct metrics (arg), with
 * the loop's clock (struct srv_metrics). */
struct metrics;
struct srv_metrics {
	struct metrics *m;
	struct loop *loop;
};
int srv_metrics_handler(void *arg, const char *path, struct proto_buf *body,
                        const char **content_type);

#endif
