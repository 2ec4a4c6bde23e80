/*
 * srv: the health and metrics server (see srv.h).
 *
 * Each connection is a small state machine: READ (collect the head until
 * the blank line), WRITE (the whole response), then closed. One timer per
 * connection guards the total time, so a client that sends nothing or
 * reads nothing holds a slot for at most SRV_TIME_MS.
 */
#include "net/srv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/proto_buf.h"

enum conn_state { C_FREE = 0, C_READ, C_WRITE };

struct conn {
	struct srv *s;
	enum conn_state st;
	int fd;
	char req[SRV_REQ_MAX];
	size_t rlen;
	char *out;              /* the response, heap */
	size_t olen, off;
	struct loop_timer deadline;
};

struct srv {
	struct loop *loop;
	int fd;
	int port;
	srv_handler fn;
	void *arg;
	int time_ms;
	char *body;             /* SRV_RESP_MAX: one response built at a
	                         * time, then copied into its connection */
	struct conn conn[SRV_CONNS];
};

/* ---- the address ---- */

static int parse_listen(const char *s, struct sockaddr_storage *ss,
                        socklen_t *len, bool *loopback)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;
	size_t hl;

	if (!colon || colon == s)
		return ERR_CONFIG;
	port = strtol(colon + 1, &end, 10);
	if (*end || colon[1] == '\0' || port < 0 || port > 65535)
		return ERR_CONFIG;
	hl = (size_t)(colon - s);
	if (s[0] == '[' && hl > 2 && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= sizeof host)
		return ERR_CONFIG;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof host, "127.0.0.1");
	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr)) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof *a;
		*loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr)) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof *a;
		*loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
		return 0;
	}
	return ERR_CONFIG;      /* only literal addresses: no resolver here */
}

/* ---- connections ---- */

static void conn_close(struct conn *c)
{
	if (c->st == C_FREE)
		return;
	loop_fd_del(c->s->loop, c->fd);
	loop_timer_cancel(c->s->loop, &c->deadline);
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->st = C_FREE;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default:  return "Error";
	}
}

/* Builds the whole response into c->out. */
static int respond(struct conn *c, int status, const char *ctype,
                   const char *body, size_t n)
{
	size_t cap = n + 256;

	c->out = malloc(cap);
	if (!c->out)
		return ERR_NOMEM;
	c->olen = (size_t)snprintf(c->out, cap, "HTTP/1.1 %d %s\r\n"
	                           "Content-Type: %s\r\nContent-Length: %zu\r\n"
	                           "Connection: close\r\n\r\n", status,
	                           reason(status), ctype, n);
	memcpy(c->out + c->olen, body, n);
	c->olen += n;
	c->off = 0;
	c->st = C_WRITE;
	return loop_fd_set(c->s->loop, c->fd, LOOP_WRITE);
}

/* "GET /path?query HTTP/1.1": the path of a GET, or NULL. */
static const char *get_path(char *line)
{
	char *sp, *q;

	if (strncmp(line, "GET /", 5))
		return NULL;
	sp = strchr(line + 4, ' ');
	if (!sp || strncmp(sp + 1, "HTTP/1.", 7))
		return NULL;
	*sp = '\0';
	q = strchr(line + 4, '?');
	if (q)
		*q = '\0';
	return line + 4;
}

static void handle(struct conn *c)
{
	char *body = c->s->body;
	const char *ctype = "text/plain; charset=utf-8";
	struct proto_buf b;
	const char *path;
	int status = 404;

	c->req[strcspn(c->req, "\r\n")] = '\0';
	path = get_path(c->req);
	proto_buf_init(&b, body, SRV_RESP_MAX);
	if (path)
		status = c->s->fn(c->s->arg, path, &b, &ctype);
	if (status == 404) {
		proto_buf_init(&b, body, SRV_RESP_MAX);
		proto_buf_str(&b, "not found\n");
		ctype = "text/plain; charset=utf-8";
	}
	if (b.err) {
		status = 503;
		proto_buf_init(&b, body, SRV_RESP_MAX);
		proto_buf_str(&b, "response too big\n");
	}
	if (respond(c, status, ctype, b.p, b.len) < 0)
		conn_close(c);
}

static void on_read(struct conn *c)
{
	ssize_t n = read(c->fd, c->req + c->rlen, sizeof c->req - 1 - c->rlen);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->rlen += (size_t)n;
	c->req[c->rlen] = '\0';
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
		handle(c);
		return;
	}
	if (c->rlen >= sizeof c->req - 1 &&
	    respond(c, 431, "text/plain", "request too big\n", 16) < 0)
		conn_close(c);
}

static void on_write(struct conn *c)
{
	ssize_t n = write(c->fd, c->out + c->off, c->olen - c->off);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->off += (size_t)n;
	if (c->off == c->olen) {
		shutdown(c->fd, SHUT_WR);
		conn_close(c);
	}
}

static void on_conn(void *arg, int fd, unsigned ev)
{
	struct conn *c = arg;

	(void)fd;
	if (c->st == C_READ && (ev & (LOOP_READ | LOOP_ERROR)))
		on_read(c);
	else if (c->st == C_WRITE && (ev & (LOOP_WRITE | LOOP_ERROR)))
		on_write(c);
}

static void on_deadline(void *arg)
{
	conn_close(arg);
}

static void on_accept(void *arg, int fd, unsigned ev)
{
	struct srv *s = arg;
	struct conn *c = NULL;
	int cfd;

	(void)ev;
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	for (int i = 0; i < SRV_CONNS && !c; i++)
		if (s->conn[i].st == C_FREE)
			c = &s->conn[i];
	if (!c || loop_fd_add(s->loop, cfd, LOOP_READ, on_conn, c) < 0) {
		close(cfd);     /* full: the client retries later */
		return;
	}
	c->s = s;
	c->fd = cfd;
	c->rlen = 0;
	c->st = C_READ;
	loop_timer_init(&c->deadline, on_deadline, c);
	loop_timer_arm(s->loop, &c->deadline, loop_now(s->loop) + (uint64_t)s->time_ms);
}

/* ---- the server ---- */

static int bind_listen(struct srv *s, const struct sockaddr_storage *ss,
                       socklen_t len, char *why, size_t cap)
{
	int one = 1;
	struct sockaddr_storage got;
	socklen_t gl = sizeof got;

	s->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	               SOCK_CLOEXEC, 0);
	if (s->fd < 0 ||
	    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    bind(s->fd, (const struct sockaddr *)ss, len) ||
	    listen(s->fd, SRV_CONNS) ||
	    getsockname(s->fd, (struct sockaddr *)&got, &gl)) {
		snprintf(why, cap, "cannot listen: %s", strerror(errno));
		return ERR_IO;
	}
	s->port = ntohs(got.ss_family == AF_INET ?
	                ((struct sockaddr_in *)&got)->sin_port :
	                ((struct sockaddr_in6 *)&got)->sin6_port);
	return loop_fd_add(s->loop, s->fd, LOOP_READ, on_accept, s);
}

int srv_open(struct srv **out, struct loop *l, const char *listen,
             bool allow_remote, srv_handler fn, void *arg, char *why,
             size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	bool lo = false;
	struct srv *s;
	int r;

	*out = NULL;
	if (parse_listen(listen, &ss, &len, &lo)) {
		snprintf(why, cap, "[http] listen '%s' is not ADDRESS:PORT (an "
		         "IP address, e.g. 127.0.0.1:9464)", listen);
		return ERR_CONFIG;
	}
	if (!lo && !allow_remote) {
		snprintf(why, cap, "[http] listen '%s' is not a loopback "
		         "address: set [http] allow_remote = true to serve "
		         "health and metrics to other hosts", listen);
		return ERR_CONFIG;
	}
	s = calloc(1, sizeof *s);
	if (s)
		s->body = malloc(SRV_RESP_MAX);
	if (!s || !s->body) {
		free(s);
		return ERR_NOMEM;
	}
	s->loop = l;
	s->time_ms = SRV_TIME_MS;
	s->fn = fn;
	s->arg = arg;
	r = bind_listen(s, &ss, len, why, cap);
	if (r) {
		if (s->fd >= 0)
			close(s->fd);
		free(s->body);
		free(s);
		return r < 0 ? r : ERR_IO;
	}
	LOG_INFO("srv", "event=listening addr=%s port=%d", listen, s->port);
	*out = s;
	return 0;
}

int srv_port(const struct srv *s)
{
	return s->port;
}

void srv_close(struct srv *s)
{
	if (!s)
		return;
	for (int i = 0; i < SRV_CONNS; i++)
		conn_close(&s->conn[i]);
	loop_fd_del(s->loop, s->fd);
	close(s->fd);
	free(s->body);
	free(s);
}

void srv_set_time_ms(struct srv *s, int ms)
{
	s->time_ms = ms;
}

/* ---- /healthz and /metrics ---- */

int srv_metrics_handler(void *arg, const char *path, struct proto_buf *body,
                        const char **content_type)
{
	struct srv_metrics *sm = arg;
	uint64_t now = loop_clock_ms();
	char why[METRICS_WHY + 96];
	struct timespec ts;
	size_t len;

	if (!strcmp(path, "/healthz")) {
		int sick = metrics_health(sm->m, now, why, sizeof why);

		proto_buf_str(body, why);
		return sick ? 503 : 200;
	}
	if (strcmp(path, "/metrics"))
		return 404;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (metrics_render(sm->m, now, (int64_t)ts.tv_sec * 1000 +
	                   ts.tv_nsec / 1000000, body->p, body->cap, &len) < 0)
		body->err = ERR_TOOBIG;
	body->len = len;
	*content_type = "text/plain; version=0.0.4; charset=utf-8";
	return 200;
}
