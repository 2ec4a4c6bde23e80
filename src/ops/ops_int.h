/*
 * ops_int: what the operator tools' files share (argument parsing, one
 * request at a time over the app's HTTP client, the writer-lock probe).
 */
#ifndef LETTAMX_OPS_INT_H
#define LETTAMX_OPS_INT_H

#include <stddef.h>

#include "app/app.h"
#include "net/proto.h"

/* app_args() plus at most one positional argument (*pos, NULL if none):
 * a word that does not start with '-' and is not a flag's value. Returns
 * 0 or -1 (usage). */
int ops_args(int argc, char **argv, const char *const *flags,
             const char **path, int *set, const char **vals,
             const char **pos);

/* Where a request goes. */
enum ops_target { OPS_MATRIX = 0, OPS_LETTA = 1 };

/* Sends req to the homeserver or Letta of a's configuration and runs the
 * loop until the answer, which is handed to fn (the body is only valid during the
 * call). A 429 or a 5xx is retried after the wait the server asks (at most
 * a few times); no response gives fn a status 0 at once. Returns fn's result. */
int ops_call(struct app *a, int target, const struct proto_req *req,
             int (*fn)(void *arg, const struct proto_resp *resp),
             void *arg);

/* Takes the writer lock file of the store in dir (flock, not blocking)
 * and returns its fd, or -1 when another process holds it (then pid gets
 * the holder's pid from the file, "" if unknown). */
int ops_lock_take(const char *dir, char *pid, size_t cap);

/* Prints the refusal of a mutating command beside a running writer. */
void ops_lock_refused(const char *cmd, const char *dir, const char *pid);

/* ---- the room graph (ops_graph.c) ---- */

struct ops_recs;
struct ops_graph;

/* Reads the bot's room graph (one request) into g (free with
 * ops_graph_free). Returns 0, or an err code with why set (ERR_NOTFOUND:
 * no graph read in this build). */
int ops_graph_read(struct app *a, const struct ops_recs *r,
                   struct ops_graph *g, char *why, size_t cap);
void ops_graph_free(struct ops_graph *g);

/* ---- import-json's adoption of legacy rooms (ops_adopt.c) ---- */

struct legacy_file;

/* Makes each imported agent's legacy room ours (marker, bot joined) and
 * stores its user's token. Returns 0, or 1 when some could not be (each
 * printed; running it again finishes). */
int ops_adopt(struct app *a, const struct legacy_file *f, int dry);

#endif
