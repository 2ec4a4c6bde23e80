#include "net/tls.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "harness.h"
#include "core/loop.h"
#include "testsrv.h"

/* ---------------------------------------------------------------- driver */

static int fd_send(void *io, const unsigned char *buf, size_t len)
{
	ssize_t r = send(*(int *)io, buf, len, MSG_NOSIGNAL);

	if (r >= 0)
		return (int)r;
	return errno == EAGAIN ? ERR_AGAIN : ERR_IO;
}

static int fd_recv(void *io, unsigned char *buf, size_t len)
{
	ssize_t r = recv(*(int *)io, buf, len, 0);

	if (r >= 0)
		return (int)r;
	return errno == EAGAIN ? ERR_AGAIN : ERR_IO;
}

static int connect_port(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void wait_for(int fd, unsigned want)
{
	struct pollfd p = { .fd = fd,
	                    .events = want == LOOP_WRITE ? POLLOUT : POLLIN };

	poll(&p, 1, 2000);
}

/* Handshakes with `host` on 127.0.0.1:port, optionally resuming, sends a
 * GET and reads the answer into `out`. Returns 0 or the first error;
 * `reason` receives tls_reason(). */
struct result {
	int err;
	char reason[128];
	char page[8192];
	size_t len;
	struct tls_session *session;
};

static int drive(struct tls_conn *c, int fd, int (*step)(struct tls_conn *))
{
	int r;

	while ((r = step(c)) == ERR_AGAIN)
		wait_for(fd, tls_want(c));
	return r;
}

static int write_all(struct tls_conn *c, int fd, const char *s, size_t n)
{
	size_t off = 0;

	while (off < n) {
		/* A blocked write is retried with the same pointer/length. */
		int r = tls_write(c, s + off, n - off);

		if (r == ERR_AGAIN) {
			wait_for(fd, tls_want(c));
			continue;
		}
		if (r < 0)
			return r;
		off += (size_t)r;
	}
	return 0;
}

static int read_all(struct tls_conn *c, int fd, struct result *res)
{
	for (;;) {
		int r = tls_read(c, res->page + res->len,
		                 sizeof res->page - 1 - res->len);

		if (r == ERR_AGAIN) {
			wait_for(fd, tls_want(c));
			continue;
		}
		if (r <= 0)
			return r;
		res->len += (size_t)r;
		res->page[res->len] = '\0';
		/* s_server -www ends its page with </HTML> and closes. */
		if (strstr(res->page, "</HTML>") || strstr(res->page, "</BODY>"))
			return 0;
		if (res->len + 1 == sizeof res->page)
			return ERR_TOOBIG;
	}
}

static struct result fetch(struct tls_ctx *t, int port, const char *host,
                           struct tls_session *resume)
{
	struct result res = { 0 };
	int fd = connect_port(port);
	struct tls_conn *c;

	if (fd < 0) {
		res.err = ERR_REFUSED;
		return res;
	}
	c = tls_conn_new(t, host, resume, fd_send, fd_recv, &fd);
	res.err = c ? drive(c, fd, tls_handshake) : ERR_NOMEM;
	if (res.err == 0)
		res.err = write_all(c, fd, "GET / HTTP/1.0\r\n\r\n", 18);
	if (res.err == 0)
		res.err = read_all(c, fd, &res);
	if (c) {
		snprintf(res.reason, sizeof res.reason, "%s", tls_reason(c));
		tls_session_take(c, &res.session);
		tls_conn_free(c);
	}
	close(fd);
	return res;
}

/* ---------------------------------------------------------------- tests */

static const char *certs;
static int port_good, port_self, port_expired;

static struct tls_ctx *ctx_with_ca(void)
{
	char ca[512];
	struct tls_conf conf = { .ca_file = ca };
	struct tls_ctx *t = NULL;

	snprintf(ca, sizeof ca, "%s/ca.pem", certs);
	CHECK_EQ(tls_ctx_new(&t, &conf), 0);
	return t;
}

static void test_verified_round_trip(void)
{
	struct tls_ctx *t = ctx_with_ca();
	struct result r = fetch(t, port_good, "localhost", NULL);

	CHECK_EQ(r.err, 0);
	CHECK(strstr(r.page, "HTTP/1.0 200 ok") == r.page);
	CHECK_STR(r.reason, "");
	tls_session_free(r.session);
	tls_ctx_free(t);
}

static void test_ip_literal_checked_against_ip_san(void)
{
	struct tls_ctx *t = ctx_with_ca();
	struct result r = fetch(t, port_good, "127.0.0.1", NULL);

	CHECK_EQ(r.err, 0);
	tls_session_free(r.session);
	tls_ctx_free(t);
}

static void test_session_resumed(void)
{
	struct tls_ctx *t = ctx_with_ca();
	struct result a = fetch(t, port_good, "localhost", NULL);
	struct result b = { 0 };

	CHECK_EQ(a.err, 0);
	CHECK(a.session != NULL);
	if (a.session)
		b = fetch(t, port_good, "localhost", a.session);
	CHECK_EQ(b.err, 0);
	/* s_server -www reports "Reused, TLSv1.3, ..." for a resumption. */
	CHECK(strstr(b.page, "Reused") != NULL);
	CHECK(strstr(a.page, "Reused") == NULL);
	tls_session_free(a.session);
	tls_session_free(b.session);
	tls_ctx_free(t);
}

static void test_untrusted_refused(void)
{
	struct tls_ctx *t = ctx_with_ca();
	struct result r = fetch(t, port_self, "localhost", NULL);

	CHECK_EQ(r.err, ERR_TLS);
	CHECK(strstr(r.reason, "not trusted") != NULL);
	tls_ctx_free(t);
}

static void test_expired_refused(void)
{
	struct tls_ctx *t = ctx_with_ca();
	struct result r = fetch(t, port_expired, "localhost", NULL);

	CHECK_EQ(r.err, ERR_TLS);
	CHECK_STR(r.reason, "certificate expired");
	tls_ctx_free(t);
}

static void test_wrong_host_refused(void)
{
	struct tls_ctx *t = ctx_with_ca();
	struct result r = fetch(t, port_good, "matrix.example.org", NULL);

	CHECK_EQ(r.err, ERR_TLS);
	CHECK_STR(r.reason, "hostname mismatch");
	tls_ctx_free(t);
}

static void test_verify_off_accepts_anything(void)
{
	struct tls_conf conf = { .no_verify = 1 };
	struct tls_ctx *t = NULL;
	struct result r;

	CHECK_EQ(tls_ctx_new(&t, &conf), 0);
	r = fetch(t, port_self, "wrong.example", NULL);
	CHECK_EQ(r.err, 0);
	tls_session_free(r.session);
	tls_ctx_free(t);
}

static void test_bad_ca_file(void)
{
	char path[512];
	struct tls_conf conf = { .ca_file = path };
	struct tls_ctx *t = NULL;

	snprintf(path, sizeof path, "%s/none.pem", certs);
	CHECK_EQ(tls_ctx_new(&t, &conf), ERR_CONFIG);
	CHECK(t == NULL);
	/* A key is not a certificate. */
	snprintf(path, sizeof path, "%s/ca.key", certs);
	CHECK_EQ(tls_ctx_new(&t, &conf), ERR_CONFIG);
}

static void test_system_bundle_default(void)
{
	struct tls_ctx *t = NULL;
	int r = tls_ctx_new(&t, NULL);

	/* Either a system bundle loads, or none exists and we say so. */
	if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0)
		CHECK_EQ(r, 0);
	else
		CHECK(r == 0 || r == ERR_CONFIG);
	tls_ctx_free(t);
}

static void test_plain_http_server_is_not_tls(void)
{
	int port, lfd = testsrv_listen(&port, 4), fd, afd;
	struct tls_ctx *t = ctx_with_ca();
	struct tls_conn *c;
	static const char answer[] = "HTTP/1.1 400 Bad Request\r\n\r\n";

	fd = connect_port(port);
	afd = accept(lfd, NULL, NULL);
	CHECK_EQ(write(afd, answer, sizeof answer - 1), sizeof answer - 1);
	c = tls_conn_new(t, "localhost", NULL, fd_send, fd_recv, &fd);
	CHECK_EQ(drive(c, fd, tls_handshake), ERR_TLS);
	CHECK(tls_reason(c)[0] != '\0');
	tls_conn_free(c);
	close(afd);
	close(fd);
	close(lfd);
	tls_ctx_free(t);
}

static void test_server_closes_during_handshake(void)
{
	int port, lfd = testsrv_listen(&port, 4), fd, afd;
	struct tls_ctx *t = ctx_with_ca();
	struct tls_conn *c;
	int r;

	fd = connect_port(port);
	afd = accept(lfd, NULL, NULL);
	c = tls_conn_new(t, "localhost", NULL, fd_send, fd_recv, &fd);
	r = tls_handshake(c);
	CHECK_EQ(r, ERR_AGAIN);
	CHECK_EQ(tls_want(c), LOOP_READ);
	close(afd);             /* the server hangs up on our ClientHello */
	r = drive(c, fd, tls_handshake);
	CHECK(r == ERR_TLS || r == ERR_IO || r == ERR_CLOSED);
	CHECK(tls_reason(c)[0] != '\0');
	tls_conn_free(c);
	close(fd);
	close(lfd);
	tls_ctx_free(t);
}

int main(void)
{
	pid_t good, self, expired;

	certs = testsrv_certs();
	good = testsrv_openssl(certs, "good", &port_good);
	self = testsrv_openssl(certs, "self", &port_self);
	expired = testsrv_openssl(certs, "expired", &port_expired);
	RUN(test_verified_round_trip);
	RUN(test_ip_literal_checked_against_ip_san);
	RUN(test_session_resumed);
	RUN(test_untrusted_refused);
	RUN(test_expired_refused);
	RUN(test_wrong_host_refused);
	RUN(test_verify_off_accepts_anything);
	RUN(test_bad_ca_file);
	RUN(test_system_bundle_default);
	RUN(test_plain_http_server_is_not_tls);
	RUN(test_server_closes_during_handshake);
	testsrv_stop(good);
	testsrv_stop(self);
	testsrv_stop(expired);
	return harness_done("tls");
}
