/*
 * matrix_int: the request and parser helpers matrix.c and matrix_admin.c
 * share. Not for other modules.
 */
#ifndef LETTAMX_MATRIX_INT_H
#define LETTAMX_MATRIX_INT_H

#include "core/json.h"
#include "matrix/matrix.h"

/* Starts a request: method, bearer and a path writer. */
void mx_i_start(struct proto_req *r, int method, const char *token,
                struct proto_buf *path);

/* Starts the JSON body of `r` and opens its object. */
void mx_i_body(struct proto_req *r, struct json_w *w);

/* Closes the body (if `w`) and returns the first error of either writer. */
int mx_i_finish(struct proto_req *r, const struct proto_buf *path,
                struct json_w *w);

/* Appends `pre` and the percent-encoded `id`, checked with `sigil`
 * first. Returns 0 or ERR_INVAL. */
int mx_i_path_id(struct proto_buf *p, const char *pre, const char *id,
                 char sigil);

/* An error status fills `e`; a 2xx object body is parsed into `j` (the
 * caller frees it when this returns 0). */
int mx_i_ok_obj(const struct proto_resp *resp, struct json *j,
                struct mx_error *e);

/* Writes the restricted m.room.join_rules event of an initial_state list:
 * members of `space_id` may join. */
void mx_i_restricted_rule(struct json_w *w, const char *space_id);

#endif
