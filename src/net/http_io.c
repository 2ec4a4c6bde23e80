/*
 * http_io: the real sockets behind struct http_io.
 *
 * Non-blocking TCP with TCP_NODELAY (requests are written in one piece
 * and latency matters more than segments). Errno values are converted
 * to err codes here, at the boundary.
 */
#include "net/http.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"

static int err_of(int e)
{
	switch (e) {
	case EAGAIN:
	case EINTR:
		return ERR_AGAIN;
	case ECONNREFUSED:
		return ERR_REFUSED;
	case ETIMEDOUT:
		return ERR_TIMEOUT;
	case ECONNRESET:
	case EPIPE:
		return ERR_CLOSED;
	default:
		return ERR_IO;
	}
}

static socklen_t to_sockaddr(const struct dns_addr *a, uint16_t port,
                             struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a->addr, 16);
		return sizeof *s6;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	memcpy(&s4->sin_addr, a->addr, 4);
	return sizeof *s4;
}

static int sock_connect(void *ctx, const struct dns_addr *a, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(a, port, &ss);
	int fd, one = 1, e;

	(void)ctx;
	fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ERR_IO;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&ss, len) == 0 ||
	    errno == EINPROGRESS)
		return fd;
	e = errno;
	close(fd);
	return err_of(e) == ERR_AGAIN ? ERR_IO : err_of(e);
}

static int sock_connected(void *ctx, int fd)
{
	int e = 0;
	socklen_t len = sizeof e;

	(void)ctx;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
		return ERR_IO;
	if (e == 0)
		return 0;
	return err_of(e) == ERR_AGAIN ? ERR_IO : err_of(e);
}

static int sock_read(void *ctx, int fd, void *buf, size_t len)
{
	ssize_t r;

	(void)ctx;
	if (len > INT32_MAX)
		len = INT32_MAX;
	r = recv(fd, buf, len, 0);
	return r >= 0 ? (int)r : err_of(errno);
}

static int sock_write(void *ctx, int fd, const void *buf, size_t len)
{
	ssize_t r;

	(void)ctx;
	if (len > INT32_MAX)
		len = INT32_MAX;
	r = send(fd, buf, len, MSG_NOSIGNAL);
	return r >= 0 ? (int)r : err_of(errno);
}

static void sock_close(void *ctx, int fd)
{
	(void)ctx;
	close(fd);
}

const struct http_io http_io_sockets = {
	.connect = sock_connect,
	.connected = sock_connected,
	.read = sock_read,
	.write = sock_write,
	.close = sock_close,
};
