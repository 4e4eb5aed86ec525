/* deltasketch.h - the delta sketch: a fixed-size summary of a fine-tune's
 * change to its base that keeps each matrix's spectrum, and the comparison
 * of two sketches the duplicate rules use (docs/anticheat.md, "The delta
 * sketch").
 *
 * For every 2-D tensor t (param index t; 1-D tensors are left out) with
 * delta D = W_sub - W_base of R rows and C columns (row-major, as stored),
 * a two-sided CountSketch into p x r buckets (r = TN_SKETCH_R = 8,
 * p = block / r):
 *     row i -> bucket (h >> 32) % p, sign -1 iff h & 1,
 *         h = tn_mix64(tn_mix64(seed) ^ 0x70 << 56 ^ (t << 32) ^ i)
 *     column j -> bucket (g >> 32) % r, sign -1 iff g & 1,
 *         g = tn_mix64(tn_mix64(seed) ^ 0xC0 << 56 ^ (t << 32) ^ j)
 *     S_t[k][q] = w_kq * sum over i in k, j in q of sign_i sign_j D[i][j]
 *     w_kq = sqrt(R C / (p' r')) / sqrt(n_k m_q)   (0 when n_k m_q = 0)
 * n_k rows and m_q columns fall in bucket k and q; p' and r' buckets are not
 * empty. Each weight costs one add (O(N) for the model); a matrix is summed
 * by one thread in row order in double, so the sketch does not depend on the
 * thread count. The sketch is the blocks S_t (p*r floats each, row-major) in
 * param order.
 *
 * Why this shape: each entry sums its own set of weights, and w_kq divides
 * out the set's size, so for iid noise of any distribution the entries of a
 * block are independent with one variance, whatever the matrix's shape and
 * however unevenly the hash filled the buckets; the sqrt(RC / p'r') keeps
 * ||S_t||^2 an estimate of ||D_t||^2, so <S_a, S_b> estimates <D_a, D_b>
 * (the global delta cosine is kept). A low-rank D gives a low-rank S_t
 * (S = (Psi u)(Phi v)^T for D = u v^T). A fine-tune's delta is low-rank-ish,
 * so its block is too; isotropic noise is flat. For a later submission a and
 * an earlier b, the residual a - c b (c the least-squares scale) is noise when
 * a is b plus noise (rescaled, noised), structured when a is an independent
 * run whose differences come from training.
 *
 * The structure statistic of a p x r block X is Q = ||X^T X||_F^2 / ||X||_F^4
 * (1/r for a perfectly flat block, 1 for rank 1: the inverse of the
 * effective rank). For X with iid N(0, s^2) entries, E||X^T X||_F^2 =
 * s^4 p r (p + r + 1) and E||X||_F^4 = s^4 p r (p r + 2), and Q is independent
 * of ||X||_F (the direction of a Gaussian vector is independent of its
 * length), so E[Q] = (p + r + 1) / (p r + 2) exactly: the noise reference,
 * with p and r the rows and columns the two sketches occupy. */
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

/* One matrix's block (p * TN_SKETCH_R floats into out): matrix t (its param
 * index) of rows x cols, seedh = tn_mix64(seed); summed in double, rows in
 * order, by the calling thread. tn_delta_sketch is this for every matrix. */
void tn_delta_sketch_matrix(const float *base, const float *sub, int64_t rows, int64_t cols, uint64_t seedh,
                            uint64_t t, int p, float *out);

/* What two sketches say about a (later) and b (earlier). */
typedef struct {
    double cosine;     /* <a, b> / |a||b|: the delta cosine (estimate) */
    double scale;      /* c = <a, b> / |b|^2 */
    double residual;   /* |a - c b| / |c b|: how much of a is not b (inf when c = 0) */
    double structure;  /* the residual's sum over blocks of ||R^T R||_F^2 / sum of ||R||_F^4: 1/r for
                          perfectly flat, 1 for rank 1 */
    double noise_structure; /* its expectation for iid Gaussian noise in the same blocks: the sum over
                               blocks of (p + r + 1) / (p r + 2) ||R||_F^4 / the sum of ||R||_F^4 */
    double significance; /* cosine * sqrt(number of sketch floats): how many standard deviations
                            the alignment is from that of unrelated deltas */
} tn_sketch_pair;

/* 0, or -1 (error set) when the sketches do not fit (length not a multiple of block). */
int tn_sketch_compare(const float *a, const float *b, size_t len, int block, tn_sketch_pair *out);

#endif
