/*
 * ws_q: see ws_q.h.
 */
#include "net/ws_q.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "core/err.h"
#include "core/mem.h"

int ws_q_init(struct ws_q *q, size_t cap)
{
	memset(q, 0, sizeof *q);
	q->cap = cap;
	q->buf = malloc(cap);
	return q->buf ? 0 : ERR_NOMEM;
}

void ws_q_free(struct ws_q *q, size_t secret_len)
{
	/* past WS_Q_KEEP only a queue that has not emptied since holds
	 * anything (mem_give_back zeroed the rest); wiping the whole of a
	 * queue sized for a picture would bring all its pages in */
	size_t n = q->ever < WS_Q_KEEP ? q->ever : WS_Q_KEEP;

	n = q->high > n ? q->high : n;
	n = secret_len > n ? secret_len : n;
	if (q->buf)
		mbedtls_platform_zeroize(q->buf, n < q->cap ? n : q->cap);
	free(q->buf);
	q->buf = NULL;
}

unsigned char *ws_q_room(struct ws_q *q, size_t need, size_t limit,
                         int pinned)
{
	size_t used = q->tail - q->head;

	if (need > limit || used > limit - need)
		return NULL;
	if (need > q->cap - q->tail) {
		if (pinned)
			return NULL;
		memmove(q->buf, q->buf + q->head, used);
		q->head = 0;
		q->tail = used;
	}
	return q->buf + q->tail;
}

void ws_q_put(struct ws_q *q, size_t n)
{
	q->tail += n;
	if (q->tail > q->high)
		q->high = q->tail;
	if (q->tail > q->ever)
		q->ever = q->tail;
}

void ws_q_took(struct ws_q *q, size_t n)
{
	q->head += n;
	if (q->head != q->tail)
		return;
	q->head = q->tail = 0;
	mem_give_back(q->buf, WS_Q_KEEP, q->high);
	q->high = 0;
}

size_t ws_q_len(const struct ws_q *q)
{
	return q->tail - q->head;
}
