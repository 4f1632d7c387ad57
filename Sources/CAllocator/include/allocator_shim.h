#pragma once

/* Makes glibc keep freed large tensors (tens of MB, allocated and freed every optimisation step)
   in the heap for reuse instead of mapping and unmapping them each time: the page faults otherwise
   cost as much as the kernels. One arena, mmap threshold 1 GB, no trimming, so the process keeps
   its peak heap (about 1.5 GB for a 256x256 decoder step) until exit. No-op where glibc is absent. */
void vqclip_keep_large_allocations(void);
