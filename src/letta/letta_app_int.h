/*
 * letta_app_int: what the App Server's command writers share
 * (letta_app.c, letta_app_conv.c). Not for other modules.
 */
#ifndef LETTAMX_LETTA_APP_INT_H
#define LETTAMX_LETTA_APP_INT_H

#include <stddef.h>

struct json_w;

/* An id as we send or keep one: whole (1 .. LIM_LETTA_APP_ID - 1 bytes),
 * printable ASCII, no spaces. */
int letta_app_id_valid(const char *s, size_t n);

/* {"type":…,"request_id":… : how every command starts. Returns 0 or
 * ERR_INVAL (no buffer, a bad request id). */
int letta_app_cmd_open(struct json_w *w, char *buf, size_t cap,
                       const char *type, const char *request_id);

/* } : the length written, or the writer's error. */
int letta_app_cmd_close(struct json_w *w);

#endif
