/*
 * ws_q: the send queue of a WebSocket connection (ws_conn): bytes of
 * masked frames, written from its head, added at its tail, in one buffer
 * of a fixed capacity that never grows (a send that does not fit waits:
 * backpressure). The buffer is sized for the biggest frame the
 * connection may send (a picture's base64), but only the pages a frame
 * touched are in memory, and those past the first WS_Q_KEEP bytes are
 * given back each time the queue empties.
 */
#ifndef LETTAMX_WS_Q_H
#define LETTAMX_WS_Q_H

#include <stddef.h>

/* Bytes of the queue always kept in memory. */
#define WS_Q_KEEP (1u << 20)

struct ws_q {
	unsigned char *buf;
	size_t cap, head, tail;         /* queued: buf[head..tail) */
	size_t high;                    /* the furthest tail since the queue
	                                 * was last empty */
	size_t ever;                    /* ... and ever */
};

/* The buffer of cap bytes. Returns 0 or ERR_NOMEM. */
int ws_q_init(struct ws_q *q, size_t cap);

/* Wipes every byte that may still hold something queued (secret: the
 * first secret_len bytes too, whatever happened since) and frees. */
void ws_q_free(struct ws_q *q, size_t secret_len);

/* Room for need bytes at the tail, with at most limit bytes queued
 * then; NULL when there is none now. pinned: a write is pending with
 * the head's pointer (a blocked TLS write is retried with the same
 * one), so the queue is not compacted. */
unsigned char *ws_q_room(struct ws_q *q, size_t need, size_t limit,
                         int pinned);

/* n bytes were written at the room's pointer. */
void ws_q_put(struct ws_q *q, size_t n);

/* n bytes left from the head. An empty queue starts again at the front
 * and gives back the pages past WS_Q_KEEP. */
void ws_q_took(struct ws_q *q, size_t n);

/* Bytes queued. */
size_t ws_q_len(const struct ws_q *q);

#endif
