#include "allocator_shim.h"
/* A libc header first: it is what defines __GLIBC__ (via <features.h>). Testing the macro before
   any libc header compiled the body out, leaving the thresholds at their defaults. */
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void vqclip_keep_large_allocations(void) {
#if defined(__GLIBC__)
    /* One arena: a thread's own arena grows in 64 MB heaps, too small for a 128 MB activation, so
       tensors allocated off the main thread would be mapped and unmapped each time regardless of
       the thresholds below. */
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, -1);
#endif
}
