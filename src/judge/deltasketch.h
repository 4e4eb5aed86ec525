/* deltasketch.h - the delta sketch: a fixed-size summary of a fine-tune's
 * change to its base that keeps each matrix's spectrum, and the comparison
 * of two sketches the duplicate rules use (docs/anticheat.md, "The delta
 * sketch").
 *
 * For every 2-D tensor t (param index t; 1-D tensors are left out) with
 * delta D = W_sub - W_base of R rows and C columns (row-major, as stored):
 *     S_t = Psi_t D Omega_t                       (p x r, r = TN_SKETCH_R = 8)
 * Omega_t (C x r) has +-1 entries: Omega[j][q] = -1 iff bit q of
 *     tn_mix64(tn_mix64(seed) ^ 0xC0 << 56 ^ (t << 32) ^ j)
 * Psi_t (p x R) is a CountSketch: row i goes to bucket (h >> 32) % p with
 * sign -1 iff h & 1, h = tn_mix64(tn_mix64(seed) ^ 0x70 << 56 ^ (t << 32) ^ i).
 * Each weight costs r multiply-adds (O(N) for the model); a matrix is summed
 * by one thread in row order in double, so the sketch does not depend on the
 * thread count. The sketch is the blocks S_t (p*r floats each, row-major) in
 * param order.
 *
 * Why this shape: <S_a, S_b> estimates r <D_a, D_b> (so the global delta
 * cosine is kept), and S_t's r columns span (a random image of) D_t's range.
 * A fine-tune's delta is low-rank-ish, so its columns line up; isotropic
 * noise is flat, so they do not. For a later submission a and an earlier b,
 * the residual a - c b (c the least-squares scale) is isotropic when a is b
 * plus noise (rescaled, re-saved in bf16, noised), structured when a is an
 * independent run whose differences come from training. */
#ifndef TN_DELTASKETCH_H
#define TN_DELTASKETCH_H

#include "model/model.h"

#include <stddef.h>
#include <stdint.h>

#define TN_SKETCH_R 8

/* Number of floats of the sketch of a model (n 2-D tensors x block). */
size_t tn_delta_sketch_len(const tn_model *m, int block);

/* Fills out[tn_delta_sketch_len] with the sketch of sub - base; block = p * r
 * floats per matrix (a positive multiple of TN_SKETCH_R). */
int tn_delta_sketch(const tn_model *base, const tn_model *sub, int block, uint64_t seed, float *out);

/* What two sketches say about a (later) and b (earlier). */
typedef struct {
    double cosine;     /* <a, b> / |a||b|: the delta cosine (estimate) */
    double scale;      /* c = <a, b> / |b|^2 */
    double residual;   /* |a - c b| / |c b|: how much of a is not b (inf when c = 0) */
    double structure;  /* residual's sum over blocks of lambda_max(R^T R) / sum of trace: 1/r for
                          perfectly flat, ~(1 + sqrt(r/p))^2 / r for Gaussian noise, up to 1 for rank 1 */
    double noise_structure; /* what `structure` is for isotropic noise of these block sizes (simulated
                               with a fixed seed: the reference the rule compares with) */
    double significance; /* cosine * sqrt(number of sketch floats): how many standard deviations
                            the alignment is from that of unrelated deltas */
} tn_sketch_pair;

/* 0, or -1 (error set) when the sketches do not fit (length not a multiple of block). */
int tn_sketch_compare(const float *a, const float *b, size_t len, int block, tn_sketch_pair *out);

#endif
