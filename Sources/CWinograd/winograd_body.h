/* Body of the Winograd transforms, included twice by winograd_transforms.c with WT_TARGET (a
   function attribute) and WT_NAME (a suffix) set: once for AVX2+FMA, once for the baseline. */

WT_TARGET static void WT_NAME(input)(const float *x, float *v, int channels, int h, int w, int tiles_y,
                                     int tiles_x, long first, int count, int stride) {
    const long point_stride = (long)channels * stride;
    const long plane = (long)h * w;
    for (int j0 = 0; j0 < count; j0 += 8) {
        const int lanes = count - j0 < 8 ? count - j0 : 8;
        long image[8]; int oy[8], ox[8];
        tile_origins(first + j0, lanes, tiles_y, tiles_x, image, oy, ox);
        /* Eight tiles side by side in one tile row, every patch inside the image: rows of 34
           consecutive samples, deinterleaved by shuffles. */
        const int fast = lanes == 8 && image[0] == image[7] && oy[0] == oy[7] && oy[0] >= 1 && oy[0] + 5 <= h
                         && ox[0] >= 1 && ox[7] + 5 <= w;
        for (int c = 0; c < channels; c++) {
            v8 d[36];
            if (fast) {
                const float *base = x + (image[0] * channels + c) * plane + (long)(oy[0] - 1) * w + ox[0] - 1;
                for (int r = 0; r < 6; r++) {
                    const float *row = base + (long)r * w;
                    v8 a = load8(row), b = load8(row + 8), cc = load8(row + 16), e = load8(row + 24);
                    v8 *dr = d + r * 6;
#define WT_DEINTERLEAVE(k)                                                                           \
    do {                                                                                             \
        v4 lo = __builtin_shufflevector(a, b, k, k + 4, k + 8, k + 12);                              \
        v4 hi = __builtin_shufflevector(cc, e, k, k + 4, k + 8, k + 12);                             \
        dr[k] = __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7);                             \
    } while (0)
                    WT_DEINTERLEAVE(0); WT_DEINTERLEAVE(1); WT_DEINTERLEAVE(2); WT_DEINTERLEAVE(3);
#undef WT_DEINTERLEAVE
                    /* Columns 4 and 5 are columns 0 and 1 one tile on. */
                    v8 last4 = splat8(row[32]), last5 = splat8(row[33]);
                    dr[4] = __builtin_shufflevector(dr[0], last4, 1, 2, 3, 4, 5, 6, 7, 8);
                    dr[5] = __builtin_shufflevector(dr[1], last5, 1, 2, 3, 4, 5, 6, 7, 8);
                }
            } else {
                float g[36][8];
                for (int q = 0; q < 36; q++) for (int k = 0; k < 8; k++) g[q][k] = 0;
                for (int k = 0; k < lanes; k++) {
                    const float *p = x + (image[k] * channels + c) * plane;
                    for (int r = 0; r < 6; r++) {
                        int y = oy[k] - 1 + r;
                        if (y < 0 || y >= h) continue;
                        for (int s = 0; s < 6; s++) {
                            int xx = ox[k] - 1 + s;
                            if (xx >= 0 && xx < w) g[r * 6 + s][k] = p[(long)y * w + xx];
                        }
                    }
                }
                for (int q = 0; q < 36; q++) d[q] = load8(g[q]);
            }
            /* Columns (Bᵀ d), then rows (· B), in place. */
            for (int s = 0; s < 6; s++) input_1d(d + s, 6);
            for (int r = 0; r < 6; r++) input_1d(d + r * 6, 1);
            float *dst = v + (long)c * stride + j0;
            if (lanes == 8) {
                for (int q = 0; q < 36; q++) store8(dst + q * point_stride, d[q]);
            } else {
                for (int q = 0; q < 36; q++) {
                    float tmp[8];
                    store8(tmp, d[q]);
                    for (int k = 0; k < lanes; k++) dst[q * point_stride + k] = tmp[k];
                }
            }
        }
    }
}

WT_TARGET static void WT_NAME(output)(const float *m, float *out, int channels, int h, int w, int tiles_y,
                                      int tiles_x, long first, int count, int stride, int accumulate) {
    const long point_stride = (long)channels * stride;
    const long plane = (long)h * w;
    for (int j0 = 0; j0 < count; j0 += 8) {
        const int lanes = count - j0 < 8 ? count - j0 : 8;
        long image[8]; int oy[8], ox[8];
        tile_origins(first + j0, lanes, tiles_y, tiles_x, image, oy, ox);
        /* Eight whole 4x4 blocks side by side: each output row is 32 consecutive samples. */
        const int fast = lanes == 8 && image[0] == image[7] && oy[0] == oy[7] && oy[0] + 4 <= h && ox[7] + 4 <= w;
        for (int c = 0; c < channels; c++) {
            const float *src = m + (long)c * stride + j0;
            v8 t[36];
            if (lanes == 8) {
                for (int q = 0; q < 36; q++) t[q] = load8(src + q * point_stride);
            } else {
                for (int q = 0; q < 36; q++) {
                    float tmp[8] = {0};
                    for (int k = 0; k < lanes; k++) tmp[k] = src[q * point_stride + k];
                    t[q] = load8(tmp);
                }
            }
            /* Columns (Aᵀ M) into rows 0..3, then rows (· A) into columns 0..3. */
            for (int s = 0; s < 6; s++) output_1d(t + s, 6);
            for (int r = 0; r < 4; r++) output_1d(t + r * 6, 1);
            if (fast) {
                float *base = out + (image[0] * channels + c) * plane + (long)oy[0] * w + ox[0];
                for (int r = 0; r < 4; r++) {
                    const v8 *y = t + r * 6;
                    /* 4x8 → 8x4: sample 4k + s of the row is column s of tile k. */
                    v8 p0 = __builtin_shufflevector(y[0], y[1], 0, 8, 1, 9, 2, 10, 3, 11);
                    v8 p1 = __builtin_shufflevector(y[2], y[3], 0, 8, 1, 9, 2, 10, 3, 11);
                    v8 p2 = __builtin_shufflevector(y[0], y[1], 4, 12, 5, 13, 6, 14, 7, 15);
                    v8 p3 = __builtin_shufflevector(y[2], y[3], 4, 12, 5, 13, 6, 14, 7, 15);
                    v8 row[4] = {
                        __builtin_shufflevector(p0, p1, 0, 1, 8, 9, 2, 3, 10, 11),
                        __builtin_shufflevector(p0, p1, 4, 5, 12, 13, 6, 7, 14, 15),
                        __builtin_shufflevector(p2, p3, 0, 1, 8, 9, 2, 3, 10, 11),
                        __builtin_shufflevector(p2, p3, 4, 5, 12, 13, 6, 7, 14, 15),
                    };
                    float *dst = base + (long)r * w;
                    for (int q = 0; q < 4; q++) {
                        store8(dst + 8 * q, accumulate ? load8(dst + 8 * q) + row[q] : row[q]);
                    }
                }
            } else {
                float y[16][8];
                for (int r = 0; r < 4; r++) for (int s = 0; s < 4; s++) store8(y[r * 4 + s], t[r * 6 + s]);
                for (int k = 0; k < lanes; k++) {
                    float *p = out + (image[k] * channels + c) * plane;
                    for (int r = 0; r < 4 && oy[k] + r < h; r++) {
                        for (int s = 0; s < 4 && ox[k] + s < w; s++) {
                            float *o = p + (long)(oy[k] + r) * w + ox[k] + s;
                            *o = accumulate ? *o + y[r * 4 + s][k] : y[r * 4 + s][k];
                        }
                    }
                }
            }
        }
    }
}
