#pragma once

/* The data transforms of Winograd F(4x4, 3x3) (points 0, ±√2, ±√2/2, ∞; see Tensors/Winograd.swift
   for the algorithm), eight tiles per vector. Tiles are numbered over all images, row by row:
   tile t is in image t / (tiles_y · tiles_x) at tile row (t / tiles_x) % tiles_y and column
   t % tiles_x, and its 4x4 output block starts at 4·row, 4·column. Compiled twice, for AVX2+FMA
   and for the baseline instruction set, and chosen at run time; floating-point contraction is off,
   so both give the same bits. */

/* V[p][c][j] = (Bᵀ d B)[p] for tiles first ..< first + count (j = t − first), where d is the 6x6
   input patch starting one row and one column before the tile's origin, zero outside the image.
   x is [images, channels, h, w]; V has `stride` floats per (p, c) row. */
void vqclip_winograd_input(const float *x, float *v, int channels, int h, int w, int tiles_y, int tiles_x,
                           long first, int count, int stride);

/* out[image][c] 4x4 block of each tile (clipped at the image's edge) = Aᵀ M A, written or, with
   `accumulate`, added. M is [36][channels][stride]; out is [images, channels, h, w]. */
void vqclip_winograd_output(const float *m, float *out, int channels, int h, int w, int tiles_y, int tiles_x,
                            long first, int count, int stride, int accumulate);

/* For tests: with a non-zero argument, the baseline variant runs even where AVX2 is available. */
void vqclip_winograd_force_baseline(int on);
