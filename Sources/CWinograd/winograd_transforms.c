/* Winograd F(4x4, 3x3) data transforms, eight tiles per vector (see include/winograd_transforms.h).
   The body (winograd_body.h) is compiled for AVX2+FMA and for the baseline and chosen at run time,
   so the binary still runs on x86-64 machines without AVX2, and elsewhere. */

#include "winograd_transforms.h"

#include <string.h>

#pragma clang fp contract(off)

typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));

#define WT_INLINE static inline __attribute__((always_inline))

/* Macros rather than functions: a function returning an 8-float vector has another ABI with AVX
   than without, and both variants share these. */
#define load8(p) ({ v8 load8_v; memcpy(&load8_v, (p), sizeof load8_v); load8_v; })
#define store8(p, value) do { v8 store8_v = (value); memcpy((p), &store8_v, sizeof store8_v); } while (0)
#define splat8(f) ({ float splat8_f = (f); (v8){splat8_f, splat8_f, splat8_f, splat8_f, splat8_f, splat8_f, splat8_f, splat8_f}; })

static const float r2 = 1.41421356237309505f;   /* √2 */
static const float h2 = 0.70710678118654752f;   /* √2/2 */

/* Bᵀ d along one axis: d[0], d[step], ..., d[5·step] in place. */
WT_INLINE void input_1d(v8 *d, int step) {
    v8 d0 = d[0], d1 = d[step], d2 = d[2 * step], d3 = d[3 * step], d4 = d[4 * step], d5 = d[5 * step];
    v8 a = d4 - 0.5f * d2, b = r2 * d3 - h2 * d1;
    v8 c = d4 - 2.0f * d2, e = h2 * d3 - r2 * d1;
    d[0] = d0 - 2.5f * d2 + d4;
    d[step] = a + b;
    d[2 * step] = a - b;
    d[3 * step] = c + e;
    d[4 * step] = c - e;
    d[5 * step] = d1 - 2.5f * d3 + d5;
}

/* Aᵀ m along one axis: six samples m[0], ..., m[5·step] to four, m[0], ..., m[3·step]. */
WT_INLINE void output_1d(v8 *m, int step) {
    v8 m0 = m[0], m1 = m[step], m2 = m[2 * step], m3 = m[3 * step], m4 = m[4 * step], m5 = m[5 * step];
    v8 p = m1 + m2, q = m1 - m2, s = m3 + m4, t = m3 - m4;
    m[0] = m0 + p + s;
    m[step] = r2 * q + h2 * t;
    m[2 * step] = 2.0f * p + 0.5f * s;
    m[3 * step] = (2.0f * r2) * q + (0.5f * h2) * t + m5;
}

/* Image and 4x4 block origin of the tiles first ..< first + lanes (the last repeated up to 8). */
WT_INLINE void tile_origins(long first, int lanes, int tiles_y, int tiles_x, long image[8], int oy[8], int ox[8]) {
    const long per_image = (long)tiles_y * tiles_x;
    for (int k = 0; k < 8; k++) {
        long t = first + (k < lanes ? k : lanes - 1);
        image[k] = t / per_image;
        oy[k] = 4 * (int)((t % per_image) / tiles_x);
        ox[k] = 4 * (int)(t % tiles_x);
    }
}

#if defined(__x86_64__)
#define WT_TARGET __attribute__((target("avx2,fma")))
#define WT_NAME(f) f##_avx2
#include "winograd_body.h"
#undef WT_TARGET
#undef WT_NAME
#endif

#define WT_TARGET
#define WT_NAME(f) f##_baseline
#include "winograd_body.h"
#undef WT_TARGET
#undef WT_NAME

static int baseline_forced = 0;

void vqclip_winograd_force_baseline(int on) { baseline_forced = on; }

static int use_avx2(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (baseline_forced) return 0;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
#else
    return 0;
#endif
}

void vqclip_winograd_input(const float *x, float *v, int channels, int h, int w, int tiles_y, int tiles_x,
                           long first, int count, int stride) {
#if defined(__x86_64__)
    if (use_avx2()) { input_avx2(x, v, channels, h, w, tiles_y, tiles_x, first, count, stride); return; }
#endif
    input_baseline(x, v, channels, h, w, tiles_y, tiles_x, first, count, stride);
}

void vqclip_winograd_output(const float *m, float *out, int channels, int h, int w, int tiles_y, int tiles_x,
                            long first, int count, int stride, int accumulate) {
#if defined(__x86_64__)
    if (use_avx2()) { output_avx2(m, out, channels, h, w, tiles_y, tiles_x, first, count, stride, accumulate); return; }
#endif
    output_baseline(m, out, channels, h, w, tiles_y, tiles_x, first, count, stride, accumulate);
}
