#include "allocator_shim.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void vqclip_keep_large_allocations(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}
