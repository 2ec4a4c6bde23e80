/*
 * mem: see mem.h.
 */
#include "core/mem.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

void mem_give_back(void *buf, size_t keep, size_t used)
{
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t from, to, mask;

	if (used <= keep || pg <= 0)
		return;
	mask = (uintptr_t)pg - 1;
	/* whole pages only: the bytes around them may be in use (the
	 * buffer's first `keep`, malloc's own header) */
	from = ((uintptr_t)buf + keep + mask) & ~mask;
	to = ((uintptr_t)buf + used) & ~mask;
	if (to > from)
		(void)madvise((void *)from, to - from, MADV_DONTNEED);
}
