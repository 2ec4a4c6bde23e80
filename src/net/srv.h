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
 * is 404 without asking it. srv_open_conf() makes a server that takes
 * other methods too, with a body of bounded size (the application
 * service API: the homeserver PUTs its transactions).
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

/* A request, for a server that takes more than GETs (srv_open_conf). All
 * pointers are valid during the handler's call only. */
struct srv_req {
	const char *method;             /* "GET", "PUT", "POST", ... */
	const char *path;               /* without the query, still encoded */
	const char *query;              /* after '?', "" when none */
	const char *bearer;             /* Authorization: Bearer's token,
	                                 * NULL when none */
	const char *body;               /* NUL-terminated, "" when none */
	size_t body_len;
};

typedef int (*srv_req_handler)(void *arg, const struct srv_req *req,
                               struct proto_buf *body,
                               const char **content_type);

struct srv_conf {
	const char *listen;             /* ADDRESS:PORT */
	const char *key;                /* its setting, named in errors
	                                 * ("[appservice] listen") */
	const char *remote_key;         /* the setting that allows others */
	bool allow_remote;
	size_t body_max;                /* longest body taken (Content-Length
	                                 * only; longer: 413, none: 411) */
	int time_ms;                    /* accept to last byte; 0: default */
	/* NULL, or called with the head before a body is read (body ""):
	 * 0 reads on, else the status of the answer it wrote (a client
	 * without the right token never gets a body buffer) */
	srv_req_handler head;
	srv_req_handler fn;
	void *arg;
};

/* A server for c: any method, bodies up to c->body_max. Returns as
 * srv_open. */
int srv_open_conf(struct srv **out, struct loop *l, const struct srv_conf *c,
                  char *why, size_t cap);

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
