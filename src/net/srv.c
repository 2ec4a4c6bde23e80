/*
 * srv: the health and metrics server (see srv.h).
 *
 * Each connection is a small state machine: READ (collect the head until
 * the blank line), BODY (a server that takes bodies: Content-Length
 * bytes, into a buffer of that size), WRITE (the whole response, after
 * the next poll: whatever the handler stored is committed before the
 * client hears of it), then closed. One timer per
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
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/proto_buf.h"

enum conn_state { C_FREE = 0, C_READ, C_BODY, C_WRITE };

/* A request head, taken apart in place. */
struct head {
	struct srv_req rq;
	long long length;       /* Content-Length; -1: none */
	int chunked;            /* Transfer-Encoding given */
};


struct conn {
	struct srv *s;
	enum conn_state st;
	int fd;
	char req[SRV_REQ_MAX];
	size_t rlen;
	struct head h;          /* the request, pointing into req */
	char *body;             /* C_BODY: Content-Length + 1 bytes, heap */
	size_t blen, bneed;
	char *out;              /* the response, heap */
	size_t olen, off;
	struct loop_timer deadline;
};

struct srv {
	struct loop *loop;
	int fd;
	int port;
	srv_req_handler head;   /* NULL: none */
	srv_handler path_fn;    /* srv_open's: GETs by path */
	void *path_arg;
	srv_req_handler fn;
	void *arg;
	size_t body_max;        /* 0: GET only */
	int time_ms;
	char *resp;             /* SRV_RESP_MAX: one response built at a
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
	free(c->body);
	c->out = c->body = NULL;
	c->st = C_FREE;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
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

/* "METHOD /path?query HTTP/1.x": 0, or -1 when malformed. */
static int read_line(char *line, struct srv_req *rq)
{
	char *sp = strchr(line, ' '), *sp2, *q;

	if (!sp || sp == line || sp[1] != '/')
		return -1;
	*sp = '\0';
	sp2 = strchr(sp + 1, ' ');
	if (!sp2 || strncmp(sp2 + 1, "HTTP/1.", 7))
		return -1;
	*sp2 = '\0';
	rq->method = line;
	rq->path = sp + 1;
	rq->query = "";
	if ((q = strchr(sp + 1, '?'))) {
		*q = '\0';
		rq->query = q + 1;
	}
	return 0;
}

/* One header line "Name: value" into h (the ones the server needs). */
static void read_field(char *line, struct head *h)
{
	char *colon = strchr(line, ':'), *v, *end;

	if (!colon)
		return;
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (!strcasecmp(line, "Content-Length")) {
		h->length = strtoll(v, &end, 10);
		if (end == v || *end || h->length < 0)
			h->length = -2;         /* malformed */
	} else if (!strcasecmp(line, "Transfer-Encoding")) {
		h->chunked = 1;
	} else if (!strcasecmp(line, "Authorization") &&
	           !strncasecmp(v, "Bearer ", 7)) {
		h->rq.bearer = v + 7;
	}
}

/* Takes the head in c->req (ended by a blank line at `end`) apart.
 * Returns 0, or the status to answer at once. */
static int read_head(struct conn *c, char *end, struct head *h)
{
	char *line = c->req, *nl;

	memset(h, 0, sizeof *h);
	h->length = -1;
	*end = '\0';
	nl = strpbrk(line, "\r\n");
	if (nl)
		*nl++ = '\0';
	if (read_line(line, &h->rq))
		return 400;
	while (nl && *nl) {
		line = nl + strspn(nl, "\r\n");
		if (!*line)
			break;
		nl = strpbrk(line, "\r\n");
		if (nl)
			*nl++ = '\0';
		read_field(line, h);
	}
	return 0;
}

/* Calls the handler (fn: the head's, or the request's) and writes its
 * answer into c. Returns 0 when the head's let the request on. */
static int answer_by(struct conn *c, srv_req_handler fn,
                     const struct srv_req *rq)
{
	char *body = c->s->resp;
	const char *ctype = "text/plain; charset=utf-8";
	struct proto_buf b;
	int status;

	proto_buf_init(&b, body, SRV_RESP_MAX);
	status = fn(c->s->arg, rq, &b, &ctype);
	if (fn == c->s->head && status == 0)
		return 0;
	if (status == 404 && !b.len) {
		proto_buf_str(&b, "not found\n");
		ctype = "text/plain; charset=utf-8";
	}
	if (b.err) {
		status = 503;
		proto_buf_init(&b, body, SRV_RESP_MAX);
		proto_buf_str(&b, "response too big\n");
		ctype = "text/plain; charset=utf-8";
	}
	if (respond(c, status, ctype, b.p, b.len) < 0)
		conn_close(c);
	return 1;
}

static void answer(struct conn *c, const struct srv_req *rq)
{
	answer_by(c, c->s->fn, rq);
}

/* An answer without the handler: the status's reason as the text. */
static void refuse(struct conn *c, int status)
{
	char text[64];
	int n = snprintf(text, sizeof text, "%s\n", reason(status));

	if (respond(c, status, "text/plain; charset=utf-8", text,
	            (size_t)n) < 0)
		conn_close(c);
}

/* The head (ending at `end`) is in: answer, or read the body first
 * (C_BODY; the head stays in c->req for the handler). */
static void handle(struct conn *c, char *end)
{
	int st = read_head(c, end, &c->h);
	struct head *h = &c->h;

	if (!st && !c->s->body_max && strcmp(h->rq.method, "GET"))
		st = 404;
	else if (!st && (h->chunked || h->length == -2))
		st = 411;       /* no chunked bodies: a homeserver sends a
		                 * Content-Length */
	else if (!st && h->length > (long long)c->s->body_max)
		st = 413;
	if (st) {
		refuse(c, st);
		return;
	}
	h->rq.body = "";
	if (c->s->head && answer_by(c, c->s->head, &h->rq))
		return;
	if (h->length <= 0) {
		answer(c, &h->rq);
		return;
	}
	if (!(c->body = malloc((size_t)h->length + 1))) {
		conn_close(c);
		return;
	}
	c->bneed = (size_t)h->length;
	c->blen = 0;
	c->st = C_BODY;
}

/* n more bytes of the body; the whole body answers. */
static void body_take(struct conn *c, const char *p, size_t n)
{
	if (n > c->bneed - c->blen)
		n = c->bneed - c->blen;         /* a pipelined request: ours
		                                 * closes after one */
	memcpy(c->body + c->blen, p, n);
	c->blen += n;
	if (c->blen < c->bneed)
		return;
	c->body[c->blen] = '\0';
	c->h.rq.body = c->body;
	c->h.rq.body_len = c->blen;
	answer(c, &c->h.rq);
}

static void on_body(struct conn *c)
{
	char buf[16384];
	size_t want = c->bneed - c->blen;
	ssize_t n = read(c->fd, buf, want < sizeof buf ? want : sizeof buf);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	body_take(c, buf, (size_t)n);
}

/* The end of the head (just past its blank line), or NULL. */
static char *head_end(char *req)
{
	char *a = strstr(req, "\r\n\r\n"), *b = strstr(req, "\n\n");

	if (a && (!b || a < b))
		return a + 4;
	return b ? b + 2 : NULL;
}

static void on_read(struct conn *c)
{
	ssize_t n = read(c->fd, c->req + c->rlen, sizeof c->req - 1 - c->rlen);
	char *end;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->rlen += (size_t)n;
	c->req[c->rlen] = '\0';
	if (memchr(c->req, '\0', c->rlen)) {
		refuse(c, 400);
		return;
	}
	if ((end = head_end(c->req))) {
		size_t extra = c->rlen - (size_t)(end - c->req);
		char tail[SRV_REQ_MAX];

		/* bytes of the body that came with the head */
		memcpy(tail, end, extra);
		handle(c, end);
		if (c->st == C_BODY)
			body_take(c, tail, extra);
		return;
	}
	if (c->rlen >= sizeof c->req - 1)
		refuse(c, 431);
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
	else if (c->st == C_BODY && (ev & (LOOP_READ | LOOP_ERROR)))
		on_body(c);
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

/* srv_open's requests: GETs, by path. */
static int by_path(void *arg, const struct srv_req *rq,
                   struct proto_buf *body, const char **content_type)
{
	struct srv *s = arg;

	if (strcmp(rq->method, "GET"))
		return 404;
	return s->path_fn(s->path_arg, rq->path, body, content_type);
}

int srv_open_conf(struct srv **out, struct loop *l, const struct srv_conf *c,
                  char *why, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	bool lo = false;
	struct srv *s;
	int r;

	*out = NULL;
	if (parse_listen(c->listen, &ss, &len, &lo)) {
		snprintf(why, cap, "%s '%s' is not ADDRESS:PORT (an IP address "
		         "and a port, e.g. 127.0.0.1:9464)", c->key, c->listen);
		return ERR_CONFIG;
	}
	if (!lo && !c->allow_remote) {
		snprintf(why, cap, "%s '%s' is not a loopback address: set %s = "
		         "true to take requests from other hosts", c->key,
		         c->listen, c->remote_key);
		return ERR_CONFIG;
	}
	s = calloc(1, sizeof *s);
	if (s)
		s->resp = malloc(SRV_RESP_MAX);
	if (!s || !s->resp) {
		free(s);
		return ERR_NOMEM;
	}
	s->loop = l;
	s->time_ms = c->time_ms > 0 ? c->time_ms : SRV_TIME_MS;
	s->body_max = c->body_max;
	s->fn = c->fn;
	s->head = c->head;
	s->arg = c->arg;
	r = bind_listen(s, &ss, len, why, cap);
	if (r) {
		if (s->fd >= 0)
			close(s->fd);
		free(s->resp);
		free(s);
		return r < 0 ? r : ERR_IO;
	}
	LOG_INFO("srv", "event=listening addr=%s port=%d", c->listen, s->port);
	*out = s;
	return 0;
}

int srv_open(struct srv **out, struct loop *l, const char *listen,
             bool allow_remote, srv_handler fn, void *arg, char *why,
             size_t cap)
{
	struct srv_conf c = {
		.listen = listen, .key = "[http] listen",
		.remote_key = "[http] allow_remote",
		.allow_remote = allow_remote, .fn = by_path,
	};
	int r = srv_open_conf(out, l, &c, why, cap);

	if (!r) {
		(*out)->arg = *out;
		(*out)->path_fn = fn;
		(*out)->path_arg = arg;
	}
	return r;
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
	free(s->resp);
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
