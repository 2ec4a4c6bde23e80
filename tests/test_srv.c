/*
 * srv and metrics: the health and metrics server on a real socket, its
 * bounds, and the exposition read by a strict Prometheus text-format
 * reader written here (not a pattern match: every line must parse).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "harness.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "net/proto.h"
#include "net/srv.h"
#include "prov/metrics_store.h"
#include "prov/provision.h"
#include "store/store.h"

/* ---- a strict reader of the text format (0.0.4) ---- */

#define PROM_MAX 256

struct prom_sample {
	char name[128];
	char labels[256];       /* as written, between the braces */
	char le[128];           /* the le label, "" if none */
	double v;
};

struct prom {
	struct prom_sample s[PROM_MAX];
	int n;
	char err[256];
};

static int name_ok(const char *p, size_t n, int colon)
{
	if (!n || (p[0] >= '0' && p[0] <= '9'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '_' ||
		      (colon && p[i] == ':')))
			return 0;
	return 1;
}

static int fail(struct prom *pr, int line, const char *what)
{
	snprintf(pr->err, sizeof pr->err, "line %d: %s", line, what);
	return -1;
}

/* label="value",... with only \\ \" \n escapes; picks out le. */
static int labels(struct prom *pr, int line, const char *p, size_t n,
                  struct prom_sample *s)
{
	size_t i = 0;

	while (i < n) {
		size_t st = i;
		char val[128];
		size_t vl = 0;
		int is_le;

		while (i < n && p[i] != '=')
			i++;
		if (i >= n || !name_ok(p + st, i - st, 0))
			return fail(pr, line, "bad label name");
		is_le = i - st == 2 && !strncmp(p + st, "le", 2);
		if (++i >= n || p[i++] != '"')
			return fail(pr, line, "label value not quoted");
		while (i < n && p[i] != '"') {
			if (p[i] == '\\') {
				if (++i >= n || !strchr("\\\"n", p[i]))
					return fail(pr, line, "bad escape");
			}
			if (vl < sizeof val - 1)
				val[vl++] = p[i];
			i++;
		}
		if (i >= n)
			return fail(pr, line, "unterminated label value");
		val[vl] = '\0';
		if (is_le)
			snprintf(s->le, sizeof s->le, "%s", val);
		i++;
		if (i < n && p[i++] != ',')
			return fail(pr, line, "expected ','");
	}
	return 0;
}

static int number(const char *p, double *v)
{
	char *end;

	if (!strcmp(p, "+Inf") || !strcmp(p, "-Inf") || !strcmp(p, "NaN")) {
		*v = p[0] == '-' ? -INFINITY : p[0] == '+' ? INFINITY : NAN;
		return 0;
	}
	errno = 0;
	*v = strtod(p, &end);
	return *p && !*end && !errno ? 0 : -1;
}

static int sample(struct prom *pr, int line, char *l, const char *family,
                  const char *type)
{
	struct prom_sample *s = &pr->s[pr->n];
	char *sp, *brace = strchr(l, '{');
	size_t nl, fl = strlen(family);

	if (pr->n >= PROM_MAX)
		return fail(pr, line, "too many samples");
	memset(s, 0, sizeof *s);
	sp = brace ? strchr(l, '}') : strchr(l, ' ');
	if (!sp || (brace && sp[1] != ' '))
		return fail(pr, line, "no value");
	nl = (size_t)((brace ? brace : sp) - l);
	if (!name_ok(l, nl, 1) || nl >= sizeof s->name)
		return fail(pr, line, "bad metric name");
	memcpy(s->name, l, nl);
	if (brace) {
		size_t ln = (size_t)(sp - brace - 1);

		if (ln >= sizeof s->labels ||
		    labels(pr, line, brace + 1, ln, s) < 0)
			return -1;
		memcpy(s->labels, brace + 1, ln);
		sp++;
	}
	if (number(sp + 1, &s->v))
		return fail(pr, line, "bad value");
	if (!family[0])
		return fail(pr, line, "sample before its TYPE");
	if (strcmp(s->name, family) &&
	    !(!strcmp(type, "histogram") && !strncmp(s->name, family, fl) &&
	      (!strcmp(s->name + fl, "_bucket") || !strcmp(s->name + fl, "_sum") ||
	       !strcmp(s->name + fl, "_count"))))
		return fail(pr, line, "sample outside its family");
	for (int i = 0; i < pr->n; i++)
		if (!strcmp(pr->s[i].name, s->name) &&
		    !strcmp(pr->s[i].labels, s->labels))
			return fail(pr, line, "duplicate series");
	pr->n++;
	return 0;
}

/* Checks a histogram family: le ascending, counts cumulative, +Inf last
 * and equal to _count. */
static int histogram_ok(struct prom *pr, const char *family)
{
	double last_le = -INFINITY, last = 0, inf = -1, count = -1;
	char b[140], c[140];

	snprintf(b, sizeof b, "%s_bucket", family);
	snprintf(c, sizeof c, "%s_count", family);
	for (int i = 0; i < pr->n; i++) {
		double le;

		if (!strcmp(pr->s[i].name, c))
			count = pr->s[i].v;
		if (strcmp(pr->s[i].name, b))
			continue;
		if (number(pr->s[i].le, &le) || le <= last_le ||
		    pr->s[i].v < last)
			return fail(pr, 0, "histogram buckets out of order");
		last_le = le;
		last = pr->s[i].v;
		if (isinf(le))
			inf = pr->s[i].v;
	}
	if (inf < 0 || inf != count)
		return fail(pr, 0, "no +Inf bucket equal to _count");
	return 0;
}

static int prom_parse(struct prom *pr, char *text)
{
	char family[128] = "", type[16] = "", seen[4096] = " ";
	int line = 0;

	pr->n = 0;
	pr->err[0] = '\0';
	if (!*text || text[strlen(text) - 1] != '\n')
		return fail(pr, 0, "does not end with a newline");
	for (char *l = text, *nl; *l; l = nl + 1) {
		nl = strchr(l, '\n');
		*nl = '\0';
		line++;
		if (!strncmp(l, "# HELP ", 7))
			continue;
		if (!strncmp(l, "# TYPE ", 7)) {
			char key[140];

			if (sscanf(l + 7, "%127s %15s", family, type) != 2 ||
			    (strcmp(type, "counter") && strcmp(type, "gauge") &&
			     strcmp(type, "histogram")))
				return fail(pr, line, "bad TYPE");
			snprintf(key, sizeof key, " %s ", family);
			if (strstr(seen, key))
				return fail(pr, line, "family declared twice");
			snprintf(seen + strlen(seen), sizeof seen - strlen(seen),
			         "%s", key + 1);
			continue;
		}
		if (l[0] == '#' || !l[0])
			return fail(pr, line, "stray comment or empty line");
		if (sample(pr, line, l, family, type) < 0)
			return -1;
	}
	return 0;
}

static double prom_get(const struct prom *pr, const char *name,
                       const char *labels)
{
	for (int i = 0; i < pr->n; i++)
		if (!strcmp(pr->s[i].name, name) &&
		    !strcmp(pr->s[i].labels, labels ? labels : ""))
			return pr->s[i].v;
	return NAN;
}

/* ---- a client on the same loop ---- */

static struct loop *lp;
static struct srv *sv;
static struct metrics m;
static struct srv_metrics sm;

static int dial(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_port = htons((uint16_t)srv_port(sv));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
		harness_fail(__FILE__, __LINE__, "connect: %s", strerror(errno));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Reads fd to EOF while running the loop; returns the bytes read. */
static size_t drain(int fd, char *out, size_t cap)
{
	size_t n = 0;

	for (int pass = 0; pass < 2000; pass++) {
		ssize_t k = read(fd, out + n, cap - 1 - n);

		if (k == 0)
			break;
		if (k > 0) {
			n += (size_t)k;
			continue;
		}
		if (errno != EAGAIN) {
			n = 0;
			break;
		}
		loop_run_once(lp, 5);
	}
	out[n] = '\0';
	close(fd);
	return n;
}

static char resp[SRV_RESP_MAX + 1024];

static int request(const char *req)
{
	int fd = dial(), status = 0;

	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		harness_fail(__FILE__, __LINE__, "write");
	drain(fd, resp, sizeof resp);
	sscanf(resp, "HTTP/1.1 %d", &status);
	return status;
}

static char *body(void)
{
	static char none[1];
	char *b = strstr(resp, "\r\n\r\n");

	return b ? b + 4 : none;
}

static void setup(void)
{
	char why[256];

	lp = loop_new();
	metrics_init(&m, 30000);
	sm.m = &m;
	sm.loop = lp;
	CHECK_EQ(srv_open(&sv, lp, "127.0.0.1:0", false, srv_metrics_handler,
	                  &sm, why, sizeof why), 0);
}

static void teardown(void)
{
	srv_close(sv);
	loop_free(lp);
}

/* ---- tests ---- */

static void test_metrics_parse_strictly_and_move(void)
{
	static struct prom pr;

	setup();
	CHECK_EQ(request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
	CHECK(strstr(resp, "Content-Type: text/plain; version=0.0.4"));
	CHECK_EQ(prom_parse(&pr, body()), 0);
	CHECK_STR(pr.err, "");
	CHECK_EQ(prom_get(&pr, "lettamx_messages_received_total", NULL), 0);
	CHECK_EQ(prom_get(&pr, "lettamx_healthy", NULL), 0);
	metrics_add(&m, METRICS_MSG_RECEIVED, NULL, 1);
	metrics_add(&m, METRICS_MSG_RECEIVED, NULL, 1);
	metrics_add(&m, METRICS_MSG_ANSWERED, NULL, 1);
	metrics_add(&m, METRICS_MSG_FAILED, "letta", 1);
	metrics_add(&m, METRICS_RATE_LIMITED, "send", 2);
	metrics_add(&m, METRICS_RATE_WAIT_MS, "send", 1500);
	metrics_set(&m, METRICS_QUEUE_DEPTH, "inbox", 3);
	metrics_set(&m, METRICS_AGENTS, "ok", 67);
	metrics_letta_ms(&m, 80);
	metrics_letta_ms(&m, 1200);
	metrics_letta_ms(&m, 500000);
	metrics_sync_ok(&m, loop_clock_ms());
	CHECK_EQ(request("GET /metrics HTTP/1.1\r\n\r\n"), 200);
	CHECK_EQ(prom_parse(&pr, body()), 0);
	CHECK_STR(pr.err, "");
	CHECK_EQ(histogram_ok(&pr, "lettamx_letta_turn_seconds"), 0);
	CHECK_EQ(prom_get(&pr, "lettamx_messages_received_total", NULL), 2);
	CHECK_EQ(prom_get(&pr, "lettamx_messages_answered_total", NULL), 1);
	CHECK_EQ(prom_get(&pr, "lettamx_messages_failed_total",
	                  "reason=\"letta\""), 1);
	CHECK_EQ(prom_get(&pr, "lettamx_rate_limit_wait_seconds_total",
	                  "kind=\"send\""), 1.5);
	CHECK_EQ(prom_get(&pr, "lettamx_queue_depth", "queue=\"inbox\""), 3);
	CHECK_EQ(prom_get(&pr, "lettamx_agents", "state=\"ok\""), 67);
	CHECK_EQ(prom_get(&pr, "lettamx_letta_turn_seconds_bucket",
	                  "le=\"0.1\""), 1);
	CHECK_EQ(prom_get(&pr, "lettamx_letta_turn_seconds_bucket",
	                  "le=\"2.5\""), 2);
	CHECK_EQ(prom_get(&pr, "lettamx_letta_turn_seconds_bucket",
	                  "le=\"+Inf\""), 3);
	CHECK_EQ(prom_get(&pr, "lettamx_letta_turn_seconds_count", NULL), 3);
	CHECK_EQ(prom_get(&pr, "lettamx_healthy", NULL), 1);
	teardown();
}

static void test_reader_is_strict(void)
{
	static struct prom pr;
	static const char *bad[] = {
		"x 1\n",                                  /* no TYPE */
		"# TYPE x counter\nx 1",                  /* no newline */
		"# TYPE x counter\nx{a=b} 1\n",           /* unquoted */
		"# TYPE x counter\nx one\n",              /* not a number */
		"# TYPE x counter\ny 1\n",                /* other family */
		"# TYPE x counter\nx 1\nx 2\n",           /* duplicate */
		"# TYPE x counter\n# TYPE x counter\n",   /* twice */
		"# TYPE x counter\n\nx 1\n",              /* empty line */
		"# TYPE x counter\nx{a=\"\\t\"} 1\n",     /* bad escape */
	};
	char buf[128];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(buf, sizeof buf, "%s", bad[i]);
		CHECK_EQ(prom_parse(&pr, buf), -1);
	}
	snprintf(buf, sizeof buf, "# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
	         "h_bucket{le=\"+Inf\"} 1\nh_count 1\n");
	CHECK_EQ(prom_parse(&pr, buf), 0);
	CHECK_EQ(histogram_ok(&pr, "h"), -1);
}

static void test_healthz(void)
{
	setup();
	CHECK_EQ(request("GET /healthz HTTP/1.1\r\n\r\n"), 503);
	CHECK(strstr(body(), "no sync with the homeserver has succeeded yet"));
	metrics_sync_ok(&m, loop_clock_ms());
	CHECK_EQ(request("GET /healthz HTTP/1.0\r\n\r\n"), 200);
	CHECK_STR(body(), "ok\n");
	/* the last good sync is older than two long-poll periods */
	metrics_sync_ok(&m, loop_clock_ms() - 61000);
	metrics_sync_failed(&m, loop_clock_ms(), "connection refused");
	CHECK_EQ(request("GET /healthz HTTP/1.1\r\n\r\n"), 503);
	CHECK(strstr(body(), "the last successful sync was 61 s ago"));
	CHECK(strstr(body(), "connection refused"));
	metrics_sync_ok(&m, loop_clock_ms());
	metrics_store_ok(&m, false, "MDB_MAP_FULL");
	CHECK_EQ(request("GET /healthz HTTP/1.1\r\n\r\n"), 503);
	CHECK(strstr(body(), "the store is not writable: MDB_MAP_FULL"));
	teardown();
}

static void test_everything_else_is_404(void)
{
	setup();
	CHECK_EQ(request("GET / HTTP/1.1\r\n\r\n"), 404);
	CHECK_EQ(request("GET /metricsx HTTP/1.1\r\n\r\n"), 404);
	CHECK_EQ(request("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
	         404);
	CHECK_EQ(request("HEAD /healthz HTTP/1.1\r\n\r\n"), 404);
	CHECK_EQ(request("GET /metrics\r\n\r\n"), 400);     /* HTTP/0.9 */
	CHECK_EQ(request("GET /metrics?x=1 HTTP/1.1\r\n\r\n"), 200);
	teardown();
}

static void test_bounds(void)
{
	static char big[SRV_REQ_MAX + 100];
	int held[SRV_CONNS], extra;
	char buf[64];

	setup();
	memset(big, 'a', sizeof big - 1);
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	CHECK_EQ(request(big), 431);
	/* SRV_CONNS idle connections fill it; one more is closed at once */
	for (int i = 0; i < SRV_CONNS; i++) {
		held[i] = dial();
		loop_run_once(lp, 5);
	}
	extra = dial();
	for (int i = 0; i < 5; i++)
		loop_run_once(lp, 5);
	CHECK_EQ(drain(extra, buf, sizeof buf), 0);
	/* the held ones hang up: their slots are free again */
	srv_set_time_ms(sv, 50);
	for (int i = 0; i < SRV_CONNS; i++)
		close(held[i]);
	for (int i = 0; i < 20; i++)
		loop_run_once(lp, 5);
	CHECK_EQ(request("GET /healthz HTTP/1.1\r\n\r\n"), 503);
	/* a client that never finishes its request is cut off */
	extra = dial();
	CHECK_EQ(write(extra, "GET /metr", 9), 9);
	CHECK_EQ(drain(extra, buf, sizeof buf), 0);
	teardown();
}

static void test_listen_addresses(void)
{
	struct loop *l = loop_new();
	struct srv *s;
	char why[256];

	CHECK_EQ(srv_open(&s, l, "0.0.0.0:0", false, srv_metrics_handler, &sm,
	                  why, sizeof why), ERR_CONFIG);
	CHECK(strstr(why, "not a loopback address"));
	CHECK(strstr(why, "allow_remote"));
	CHECK_EQ(srv_open(&s, l, "0.0.0.0:0", true, srv_metrics_handler, &sm,
	                  why, sizeof why), 0);
	srv_close(s);
	CHECK_EQ(srv_open(&s, l, "[::1]:0", false, srv_metrics_handler, &sm,
	                  why, sizeof why), 0);
	srv_close(s);
	CHECK_EQ(srv_open(&s, l, "localhost:0", false, srv_metrics_handler,
	                  &sm, why, sizeof why), 0);
	srv_close(s);
	CHECK_EQ(srv_open(&s, l, "example.org:9464", true, srv_metrics_handler,
	                  &sm, why, sizeof why), ERR_CONFIG);
	CHECK_EQ(srv_open(&s, l, "127.0.0.1", false, srv_metrics_handler, &sm,
	                  why, sizeof why), ERR_CONFIG);
	CHECK_EQ(srv_open(&s, l, "127.0.0.1:99999", false, srv_metrics_handler,
	                  &sm, why, sizeof why), ERR_CONFIG);
	loop_free(l);
}

static void test_labels_bounded(void)
{
	char name[16];

	metrics_init(&m, 30000);
	for (int i = 0; i < METRICS_SERIES + 4; i++) {
		snprintf(name, sizeof name, "k%d", i);
		metrics_add(&m, METRICS_RECONNECTS, name, 1);
	}
	metrics_add(&m, METRICS_RECONNECTS, "Bad Label", 1);
	metrics_add(&m, METRICS_RECONNECTS, NULL, 1);   /* needs a label */
	CHECK_EQ(m.dropped, 6);
	CHECK_EQ(metrics_get(&m, METRICS_RECONNECTS, "k0"), 1);
	CHECK_EQ(metrics_get(&m, METRICS_RECONNECTS, "k19"), 0);
}

static int put_fn(struct store_txn *t, void *arg)
{
	struct store_agent a;
	int i = *(int *)arg;

	memset(&a, 0, sizeof a);
	snprintf(a.agent_id, sizeof a.agent_id, "agent-%d", i);
	snprintf(a.user_id, sizeof a.user_id, "@u%d:x", i);
	if (i > 0) {
		snprintf(a.access_token, sizeof a.access_token, "t");
		snprintf(a.room_id, sizeof a.room_id, "!r%d:x", i);
		a.flags = STORE_AGENT_ROOM_CREATED | PROV_F_LINKED |
		          PROV_F_BOT_JOINED;
	}
	return store_agent_put(t, &a) < 0 ? -1 :
	       store_q_push(t, STORE_Q_INBOX, "!r1:x", "m", 1, NULL);
}

static void test_store_gauges(void)
{
	char dir[512], why[256];
	struct store *s = NULL;

	snprintf(dir, sizeof dir, "%s/gauges", harness_tmpdir());
	CHECK_EQ(store_open(&s, dir, NULL, why, sizeof why), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(store_update(s, put_fn, &i), 0);
	metrics_init(&m, 30000);
	CHECK_EQ(metrics_store_read(&m, s), 0);
	CHECK_EQ(metrics_get(&m, METRICS_AGENTS, "ok"), 2);
	CHECK_EQ(metrics_get(&m, METRICS_AGENTS, "no_user"), 1);
	CHECK_EQ(metrics_get(&m, METRICS_AGENTS, "partial"), 0);
	CHECK_EQ(metrics_get(&m, METRICS_QUEUE_DEPTH, "inbox"), 3);
	CHECK(metrics_get(&m, METRICS_STORE_BYTES, NULL) > 0);
	store_close(s);
}

/* ---- a server that takes bodies (the application service API) ---- */

struct seen {
	char method[8], path[64], query[64], bearer[64], body[256];
	size_t body_len;
	int calls;
};

static int echo_handler(void *arg, const struct srv_req *rq,
                        struct proto_buf *out, const char **ctype)
{
	struct seen *s = arg;

	s->calls++;
	snprintf(s->method, sizeof s->method, "%s", rq->method);
	snprintf(s->path, sizeof s->path, "%s", rq->path);
	snprintf(s->query, sizeof s->query, "%s", rq->query);
	snprintf(s->bearer, sizeof s->bearer, "%s", rq->bearer ? rq->bearer
	         : "(none)");
	snprintf(s->body, sizeof s->body, "%s", rq->body);
	s->body_len = rq->body_len;
	*ctype = "application/json";
	proto_buf_str(out, "{}");
	return 200;
}

static void body_setup(struct seen *seen)
{
	struct srv_conf c = {
		.listen = "127.0.0.1:0", .key = "[appservice] listen",
		.remote_key = "[appservice] allow_remote", .body_max = 100,
		.fn = echo_handler, .arg = seen,
	};
	char why[256];

	memset(seen, 0, sizeof *seen);
	lp = loop_new();
	CHECK_EQ(srv_open_conf(&sv, lp, &c, why, sizeof why), 0);
}

/* Lets the server run for about ms. */
static void pump(int ms)
{
	for (int i = 0; i < ms / 5; i++)
		loop_run_once(lp, 5);
}

/* A PUT whose body comes in two writes, after the head. */
static int put_split(const char *head, const char *b1, const char *b2)
{
	int fd = dial(), status = 0;

	if (write(fd, head, strlen(head)) < 0 ||
	    (pump(20), write(fd, b1, strlen(b1))) < 0 ||
	    (pump(20), write(fd, b2, strlen(b2))) < 0)
		harness_fail(__FILE__, __LINE__, "write");
	drain(fd, resp, sizeof resp);
	sscanf(resp, "HTTP/1.1 %d", &status);
	return status;
}

static void test_bodies(void)
{
	struct seen seen;

	body_setup(&seen);
	/* head and body in one write, the token in the header */
	CHECK_EQ(request("PUT /_matrix/app/v1/transactions/7?x=1 HTTP/1.1\r\n"
	                 "Authorization: Bearer hs_tok\r\nContent-Length: 13"
	                 "\r\n\r\n{\"events\":[]}"), 200);
	CHECK_STR(seen.method, "PUT");
	CHECK_STR(seen.path, "/_matrix/app/v1/transactions/7");
	CHECK_STR(seen.query, "x=1");
	CHECK_STR(seen.bearer, "hs_tok");
	CHECK_STR(seen.body, "{\"events\":[]}");
	CHECK_EQ(seen.body_len, 13);
	CHECK(strstr(body(), "{}"));
	/* the body over several reads */
	CHECK_EQ(put_split("PUT /t/8 HTTP/1.1\r\ncontent-length: 10\r\n\r\n",
	                   "01234", "56789"), 200);
	CHECK_STR(seen.body, "0123456789");
	CHECK_STR(seen.bearer, "(none)");
	/* what is refused before the handler sees it */
	seen.calls = 0;
	CHECK_EQ(request("PUT /t/9 HTTP/1.1\r\nContent-Length: 101\r\n\r\n"),
	         413);
	CHECK_EQ(request("PUT /t/9 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	                 "\r\n"), 411);
	CHECK_EQ(request("PUT /t/9 HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
	         411);
	CHECK_EQ(request("PUT t/9 HTTP/1.1\r\n\r\n"), 400);
	CHECK_EQ(seen.calls, 0);
	/* a GET without a body reaches the handler too */
	CHECK_EQ(request("GET /_matrix/app/v1/users/%40a%3Ahs HTTP/1.1\r\n"
	                 "\r\n"), 200);
	CHECK_STR(seen.method, "GET");
	CHECK_STR(seen.body, "");
	teardown();
}

int main(void)
{
	RUN(test_store_gauges);
	RUN(test_reader_is_strict);
	RUN(test_metrics_parse_strictly_and_move);
	RUN(test_healthz);
	RUN(test_everything_else_is_404);
	RUN(test_bounds);
	RUN(test_listen_addresses);
	RUN(test_labels_bounded);
	RUN(test_bodies);
	return harness_done("srv");
}
