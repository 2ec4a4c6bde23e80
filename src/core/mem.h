/*
 * mem: giving memory back. A buffer sized for the biggest message a
 * connection may carry (a picture's base64) is touched only as far as a
 * message goes; once a big one is done, its pages are returned to the
 * system, so the daemon's memory after a picture is what it was before.
 */
#ifndef LETTAMX_MEM_H
#define LETTAMX_MEM_H

#include <stddef.h>

/* Returns the whole pages of buf[keep..used) to the system (Linux:
 * madvise MADV_DONTNEED on private anonymous memory, which reads as
 * zeros when touched again). Nothing when used <= keep. buf must be
 * memory from malloc of at least `used` bytes. */
void mem_give_back(void *buf, size_t keep, size_t used);

#endif
