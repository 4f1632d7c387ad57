#pragma once

/* Raises glibc's mmap and trim thresholds so that large tensors (tens of MB, allocated and freed
   every optimisation step) are recycled from the heap instead of being mapped and unmapped each
   time; the page faults otherwise cost as much as the kernels. No-op where glibc is absent. */
void vqclip_keep_large_allocations(void);
