/*
 * testsrv: test servers shared by the tls and http tests (header-only:
 * the Makefile links one test file with the harness).
 *
 *   testsrv_http()     forks a poll()-based HTTP/1.1 server whose
 *                      behaviour is chosen by the request path (see
 *                      srv_route) and returns its port;
 *   testsrv_openssl()  starts `openssl s_server -www` with a certificate
 *                      made by tests/tls_certs.sh;
 *   testsrv_certs()    runs tests/tls_certs.sh into the harness tmpdir.
 *
 * Children are killed with testsrv_stop(pid). Each server answers many
 * connections at once on one thread, so a test of 200 concurrent
 * requests measures the client, not the server.
 */
#ifndef LETTAMX_TESTSRV_H
#define LETTAMX_TESTSRV_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define SRV_MAXC 512

/* Each test uses some of these helpers. */
#define TESTSRV_FN static __attribute__((unused))

TESTSRV_FN uint64_t srv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A listening TCP socket on 127.0.0.1 (or ::1) with a kernel-chosen
 * port. */
TESTSRV_FN int testsrv_listen_on(int *port, int backlog, int v6)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	struct sockaddr *sa = v6 ? (struct sockaddr *)&a6 :
	                           (struct sockaddr *)&a;
	socklen_t al = v6 ? sizeof a6 : sizeof a;
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a6.sin6_addr = in6addr_loopback;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, sa, al) != 0 || listen(fd, backlog) != 0 ||
	    getsockname(fd, sa, &al) != 0) {
		perror("testsrv_listen");
		exit(2);
	}
	*port = ntohs(v6 ? a6.sin6_port : a.sin_port);
	return fd;
}

TESTSRV_FN int testsrv_listen(int *port, int backlog)
{
	return testsrv_listen_on(port, backlog, 0);
}

/* A port nobody listens on (bound then closed: refused connections). */
TESTSRV_FN int testsrv_dead_port(void)
{
	int port, fd = testsrv_listen(&port, 1);

	close(fd);
	return port;
}

/* Waits until something accepts on 127.0.0.1:port. Returns 0 or -1. */
TESTSRV_FN int testsrv_wait(int port, int ms)
{
	uint64_t end = srv_now() + (uint64_t)ms;
	struct sockaddr_in a = { .sin_family = AF_INET };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	while (srv_now() < end) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;

		close(fd);
		if (ok)
			return 0;
		usleep(20000);
	}
	return -1;
}

TESTSRV_FN void testsrv_stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* Makes the test certificates; returns the directory holding them. */
TESTSRV_FN const char *testsrv_certs(void)
{
	static char cmd[1024];
	const char *dir = harness_tmpdir();

	snprintf(cmd, sizeof cmd, "tests/tls_certs.sh '%s'", dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "testsrv: %s failed\n", cmd);
		exit(2);
	}
	return dir;
}

/* Starts `openssl s_server -www` with DIR/NAME.pem and DIR/NAME.key on a
 * free port; `*port` receives it. */
TESTSRV_FN pid_t testsrv_openssl(const char *dir, const char *name, int *port)
{
	char cert[512], key[512], acc[16];
	pid_t pid;
	int fd = testsrv_listen(port, 1);

	close(fd);
	snprintf(cert, sizeof cert, "%s/%s.pem", dir, name);
	snprintf(key, sizeof key, "%s/%s.key", dir, name);
	snprintf(acc, sizeof acc, "%d", *port);
	pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);

		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		execlp("openssl", "openssl", "s_server", "-accept", acc,
		       "-cert", cert, "-key", key, "-www", "-quiet",
		       (char *)NULL);
		_exit(127);
	}
	if (testsrv_wait(*port, 5000) != 0) {
		fprintf(stderr, "testsrv: openssl s_server did not start\n");
		exit(2);
	}
	return pid;
}

/* ---------------------------------------------------------------- HTTP */

struct srv_conn {
	int fd;
	int id;
	int nreq;               /* requests answered on this connection */
	char in[16384];
	size_t inlen;
	char *out;              /* response being written */
	size_t outlen, outpos;
	size_t cut;             /* close after this many bytes (0 = no) */
	int close_after;
	int hold;               /* never write more (a stalled server) */
	uint64_t send_at;       /* not before this time */
	int trickle_ms;         /* one byte per trickle_ms */
	uint64_t idle_since;
};

struct srv {
	int lfd;
	int next_id;
	int idle_close_ms;      /* close idle keep-alive connections */
	struct srv_conn *c[SRV_MAXC];
};

TESTSRV_FN void srv_set(struct srv_conn *c, const char *s, size_t n)
{
	free(c->out);
	c->out = malloc(n + 1);
	memcpy(c->out, s, n);
	c->outlen = n;
	c->outpos = 0;
}

TESTSRV_FN void srv_ok(struct srv_conn *c, const char *extra)
{
	char body[64], resp[512];
	int bl = snprintf(body, sizeof body, "c=%d r=%d", c->id, c->nreq);
	int n = snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\n%s"
	                 "Content-Length: %d\r\n\r\n%s", extra, bl, body);

	srv_set(c, resp, (size_t)n);
}

TESTSRV_FN void srv_big(struct srv_conn *c, size_t n, int head)
{
	char *r = malloc(n + 128);
	int h;

	if (head) {     /* an oversized head: one huge header */
		h = snprintf(r, 128, "HTTP/1.1 200 OK\r\nX-Big: ");
		memset(r + h, 'h', n);
		memcpy(r + h + n, "\r\nContent-Length: 0\r\n\r\n", 23);
		srv_set(c, r, (size_t)h + n + 23);
	} else {
		h = snprintf(r, 128, "HTTP/1.1 200 OK\r\nContent-Length: "
		             "%zu\r\n\r\n", n);
		memset(r + h, 'x', n);
		srv_set(c, r, (size_t)h + n);
	}
	free(r);
}

#define SRV_CANNED(c, s) srv_set((c), (s), sizeof(s) - 1)

/* Chooses the answer by path. `body` is the request body (echoed). */
TESTSRV_FN void srv_route(struct srv_conn *c, const char *path, const char *req,
                      size_t reqlen)
{
	long v = 0;
	const char *num = strrchr(path, '/');

	if (num)
		v = strtol(num + 1, NULL, 10);
	c->close_after = 0;
	c->cut = 0;
	c->send_at = srv_now();
	if (!strncmp(path, "/delay/", 7)) {
		c->send_at += (uint64_t)v;
		srv_ok(c, "");
	} else if (!strcmp(path, "/close")) {
		srv_ok(c, "Connection: close\r\n");
		c->close_after = 1;
	} else if (!strcmp(path, "/chunked")) {
		SRV_CANNED(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
		           "\r\n\r\n6\r\nhello \r\n5;x=1\r\nworld\r\n0\r\n"
		           "X-Trailer: t\r\n\r\n");
	} else if (!strcmp(path, "/te-and-cl")) {
		SRV_CANNED(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
		           "Transfer-Encoding: chunked\r\n\r\n"
		           "2\r\nab\r\n0\r\n\r\n");
	} else if (!strcmp(path, "/eof-body")) {
		SRV_CANNED(c, "HTTP/1.1 200 OK\r\n\r\nuntil close");
		c->close_after = 1;
	} else if (!strcmp(path, "/cut-head")) {
		SRV_CANNED(c, "HTTP/1.1 200 OK\r\nContent-Le");
		c->close_after = 1;
	} else if (!strcmp(path, "/cut-chunk")) {
		SRV_CANNED(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
		           "\r\n\r\n5\r\nhel");
		c->close_after = 1;
	} else if (!strcmp(path, "/cut-size")) {
		SRV_CANNED(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
		           "\r\n\r\n5");
		c->close_after = 1;
	} else if (!strcmp(path, "/cut-body")) {
		SRV_CANNED(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
		c->close_after = 1;
	} else if (!strncmp(path, "/big-head/", 10)) {
		srv_big(c, (size_t)v, 1);
	} else if (!strncmp(path, "/big/", 5)) {
		srv_big(c, (size_t)v, 0);
	} else if (!strcmp(path, "/never")) {
		c->hold = 1;
		srv_set(c, "", 0);
	} else if (!strncmp(path, "/stall-body", 11)) {
		SRV_CANNED(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
		c->cut = c->outlen;
		c->hold = 1;
	} else if (!strncmp(path, "/trickle/", 9)) {
		SRV_CANNED(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nslow!");
		c->trickle_ms = (int)v;
	} else if (!strcmp(path, "/1xx")) {
		SRV_CANNED(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early"
		           "\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\n"
		           "Content-Length: 2\r\n\r\nok");
	} else if (!strcmp(path, "/retry-after")) {
		SRV_CANNED(c, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3"
		           "\r\nContent-Length: 0\r\n\r\n");
	} else if (!strcmp(path, "/drop-if-reused")) {
		if (c->nreq > 0) {
			srv_set(c, "", 0);
			c->close_after = 1;
		} else {
			srv_ok(c, "");
		}
	} else if (!strcmp(path, "/echo")) {
		char *r = malloc(reqlen + 128);
		int h = snprintf(r, 128, "HTTP/1.1 200 OK\r\nContent-Length: "
		                 "%zu\r\n\r\n", reqlen);

		memcpy(r + h, req, reqlen);
		srv_set(c, r, (size_t)h + reqlen);
		free(r);
	} else {
		srv_ok(c, "");
	}
}

/* Handles one complete request at the start of c->in, if there is one. */
TESTSRV_FN void srv_request(struct srv_conn *c)
{
	char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4), path[256] = "";
	const char *cl;
	size_t head, body = 0;

	if (!end || c->out)
		return;
	char h[sizeof c->in];

	head = (size_t)(end - c->in) + 4;
	memcpy(h, c->in, head);
	h[head - 1] = '\0';
	cl = strcasestr(h, "\r\nContent-Length:");
	if (cl)
		body = (size_t)strtoul(cl + 17, NULL, 10);
	if (body > sizeof c->in / 2)
		body = 0;       /* the tests send small bodies */
	if (c->inlen < head + body)
		return;
	sscanf(h, "%*s %255s", path);
	srv_route(c, path, c->in, head + body);
	memmove(c->in, c->in + head + body, c->inlen - head - body);
	c->inlen -= head + body;
}

TESTSRV_FN void srv_drop(struct srv *s, int i)
{
	close(s->c[i]->fd);
	free(s->c[i]->out);
	free(s->c[i]);
	s->c[i] = NULL;
}

/* Writes what is due; returns -1 when the connection is to be closed. */
TESTSRV_FN int srv_write(struct srv_conn *c, uint64_t now)
{
	size_t end, n;
	ssize_t w;

	if (!c->out || now < c->send_at)
		return 0;
	end = c->cut ? c->cut : c->outlen;
	n = end - c->outpos;
	if (c->trickle_ms && n > 1)
		n = 1;
	w = n ? write(c->fd, c->out + c->outpos, n) : 0;
	if (w < 0)
		return errno == EAGAIN ? 0 : -1;
	c->outpos += (size_t)w;
	if (c->trickle_ms)
		c->send_at = now + (uint64_t)c->trickle_ms;
	if (c->outpos < end || c->hold)
		return 0;
	free(c->out);
	c->out = NULL;
	c->nreq++;
	c->idle_since = now;
	c->trickle_ms = 0;
	if (c->close_after)
		return -1;
	srv_request(c);         /* a request may already be waiting */
	return 0;
}

TESTSRV_FN int srv_read(struct srv_conn *c)
{
	ssize_t r = read(c->fd, c->in + c->inlen, sizeof c->in - 1 - c->inlen);

	if (r <= 0)
		return r < 0 && errno == EAGAIN ? 0 : -1;
	c->inlen += (size_t)r;
	srv_request(c);
	return 0;
}

TESTSRV_FN void srv_accept(struct srv *s, uint64_t now)
{
	int fd = accept(s->lfd, NULL, NULL);

	if (fd < 0)
		return;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < SRV_MAXC; i++) {
		if (!s->c[i]) {
			s->c[i] = calloc(1, sizeof *s->c[i]);
			s->c[i]->fd = fd;
			s->c[i]->id = ++s->next_id;
			s->c[i]->idle_since = now;
			return;
		}
	}
	close(fd);
}

/* Earliest pending send or idle close, as a poll timeout. */
TESTSRV_FN int srv_timeout(const struct srv *s, uint64_t now)
{
	uint64_t t = now + 1000;

	for (int i = 0; i < SRV_MAXC; i++) {
		const struct srv_conn *c = s->c[i];

		if (!c)
			continue;
		if (c->out && !c->hold && c->send_at < t)
			t = c->send_at;
		if (!c->out && s->idle_close_ms &&
		    c->idle_since + (uint64_t)s->idle_close_ms < t)
			t = c->idle_since + (uint64_t)s->idle_close_ms;
	}
	return t > now ? (int)(t - now) : 0;
}

TESTSRV_FN void srv_pass(struct srv *s)
{
	struct pollfd p[SRV_MAXC + 1];
	int idx[SRV_MAXC + 1], n = 1;
	uint64_t now = srv_now();

	p[0] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
	for (int i = 0; i < SRV_MAXC; i++) {
		struct srv_conn *c = s->c[i];

		if (!c)
			continue;
		p[n] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
		if (c->out && !c->hold && c->send_at <= now)
			p[n].events |= POLLOUT;
		idx[n++] = i;
	}
	poll(p, (nfds_t)n, srv_timeout(s, now));
	now = srv_now();
	if (p[0].revents & POLLIN)
		srv_accept(s, now);
	for (int k = 1; k < n; k++) {
		struct srv_conn *c = s->c[idx[k]];
		int bad = 0;

		if (p[k].revents & (POLLIN | POLLHUP | POLLERR))
			bad = srv_read(c);
		if (!bad)
			bad = srv_write(c, now);
		if (!bad && !c->out && s->idle_close_ms &&
		    now >= c->idle_since + (uint64_t)s->idle_close_ms)
			bad = -1;
		if (bad)
			srv_drop(s, idx[k]);
	}
}

/* Forks the HTTP test server; returns its pid, `*port` its port.
 * `idle_close_ms` > 0 makes it close keep-alive connections idle that
 * long (as Letta does after ~5 s). */
TESTSRV_FN pid_t testsrv_http_on(int *port, int idle_close_ms, int v6)
{
	int lfd = testsrv_listen_on(port, 512, v6);
	pid_t pid = fork();

	if (pid == 0) {
		static struct srv s;

		s.lfd = lfd;
		s.idle_close_ms = idle_close_ms;
		fcntl(lfd, F_SETFL, O_NONBLOCK);
		signal(SIGPIPE, SIG_IGN);
		for (;;)
			srv_pass(&s);
	}
	close(lfd);
	return pid;
}

TESTSRV_FN pid_t testsrv_http(int *port, int idle_close_ms)
{
	return testsrv_http_on(port, idle_close_ms, 0);
}

/* Starts tests/tls_server.py (keep-alive HTTPS) with DIR/NAME.pem. */
TESTSRV_FN pid_t testsrv_https_py(const char *dir, const char *name,
                                  int *port)
{
	char cert[512], key[512], pf[512];
	pid_t pid;
	FILE *f = NULL;
	uint64_t end = srv_now() + 10000;

	snprintf(cert, sizeof cert, "%s/%s.pem", dir, name);
	snprintf(key, sizeof key, "%s/%s.key", dir, name);
	snprintf(pf, sizeof pf, "%s/%s.port", dir, name);
	unlink(pf);
	pid = fork();
	if (pid == 0) {
		execlp("python3", "python3", "tests/tls_server.py", cert, key,
		       pf, (char *)NULL);
		_exit(127);
	}
	while (!f && srv_now() < end) {
		usleep(20000);
		f = fopen(pf, "r");
	}
	if (!f || fscanf(f, "%d", port) != 1) {
		fprintf(stderr, "testsrv: tls_server.py did not start\n");
		exit(2);
	}
	fclose(f);
	return pid;
}

#endif

/* ---------------------------------------------------------------- DNS */

/* Forks a UDP DNS server on 127.0.0.1 that answers every question with
 * NXDOMAIN (`nx`) or never answers at all (!nx). Returns its pid. */
TESTSRV_FN pid_t testsrv_dns(int *port, int nx)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof a;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	pid_t pid;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0)
		exit(2);
	*port = ntohs(a.sin_port);
	pid = fork();
	if (pid == 0) {
		for (;;) {
			unsigned char p[512];
			struct sockaddr_storage from;
			socklen_t fl = sizeof from;
			ssize_t n = recvfrom(fd, p, sizeof p, 0,
			                     (struct sockaddr *)&from, &fl);

			if (n < 12 || !nx)
				continue;
			p[2] = 0x81;    /* QR, RD */
			p[3] = 0x83;    /* RA, rcode 3 (NXDOMAIN) */
			memset(p + 6, 0, 6);
			sendto(fd, p, (size_t)n, 0, (struct sockaddr *)&from, fl);
		}
	}
	close(fd);
	return pid;
}
