/*
 * limits: every compile-time cap of lettamx, in one place.
 *
 * Each cap bounds memory an untrusted peer, file or user could make us
 * allocate. Hitting one is an error (ERR_TOOBIG) for that one request or
 * input, never a crash or a silent truncation. Sizes are chosen for a
 * Raspberry Pi with 1,000 agents; the reason is next to each.
 */
#ifndef LETTAMX_LIMITS_H
#define LETTAMX_LIMITS_H

/* ---- command line ---- */
#define LIM_ARG_LEN            4096   /* one command-line argument */

/*
 * Each section below belongs to one module. Add a module's caps in its own
 * section, keeping the blank comment line between sections.
 */

/* ---- loop ---- */
/* Watched fds: HTTP connections (a few per origin), resolver sockets and
 * the signal pipe. 1,024 is also the usual RLIMIT_NOFILE soft limit. */
#define LIM_LOOP_FDS           1024
/* Armed timers: a few per connection, request and agent (1,000 agents with
 * retries and deadlines each stay far below this); 24 bytes each. */
#define LIM_LOOP_TIMERS        65536

/*  */

/* ---- dns ---- */

/*  */

/* ---- tls / http ---- */

/*  */

/* ---- json ---- */

/*  */

/* ---- store ---- */

/*  */

/* ---- cfg / log ---- */

/*  */

#endif
