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
