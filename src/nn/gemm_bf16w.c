/* gemm_bf16w.c - products with a frozen weight kept in bf16, as stored.
 *
 * A model loaded with tn_model_load_frozen keeps its matrices as the bf16
 * its checkpoint holds (memory-mapped): half the bytes of fp32, and no
 * expansion of the whole model up front. The products still run in fp32 on
 * exactly the values an up-front expansion would give (bf16 -> fp32 is
 * exact: the 16 bits become the top half of the float): the weight operand
 * is expanded one block of columns of op(B) at a time into a per-call
 * buffer and handed to tn_sgemm, so that every fp32 path (the packed kernel,
 * OpenBLAS, bf16 mode) serves these products unchanged. One block is about
 * 4 MB of fp32 (EXPAND_FLOATS): it stays in L2/L3 between its expansion and
 * the kernel's packing of it, and at M = 512 rows the expansion is ~1/512
 * of the product's work. Threads take whole blocks (see below).
 *
 * The blocking is along N only, so each output element sums the same K
 * terms in the same order as tn_sgemm on the expanded matrix; OpenBLAS's
 * edge kernels still round some columns' partial sums differently (~1e-8 of
 * the sum of |terms| measured), and losses agree within 1e-6 relative
 * (tests/test_bf16w.c states and checks both).
 */
#include "nn/gemm.h"

#include "base/half.h"
#include "base/mem.h"

#include <omp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef __AVX2__
#include <immintrin.h>
#endif

enum { EXPAND_FLOATS = 1 << 20 /* 4 MB of fp32 per block */ };

/* n bf16 (any 2-byte alignment, read through memcpy-safe loads) -> fp32. */
static void expand_run(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
#ifdef __AVX2__
    for (; i + 8 <= n; i += 8) { /* zero-extend 8 u16 to u32, shift into the top half */
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)));
    }
#endif
    for (; i < n; i++) dst[i] = tn_bf16_to_f32(src[i]);
}

void tn_bf16_expand(float *dst, const uint16_t *src, size_t n) {
    long long blocks = (long long)((n + 4095) / 4096);
#pragma omp parallel for schedule(static) if (n >= (1u << 18) && !omp_in_parallel())
    for (long long b = 0; b < blocks; b++) {
        size_t i0 = (size_t)b * 4096, len = n - i0 < 4096 ? n - i0 : 4096;
        expand_run(dst + i0, src + i0, len);
    }
}

/* Columns [n0, n0 + nb) of op(B) for all K, expanded into `buf` with the
 * layout tn_sgemm reads: B^T rows (trans_b: nb x K, ld K) or B rows
 * (K x nb, ld nb). */
static void expand_block(float *buf, int trans_b, int K, const uint16_t *B, int ldb, int n0, int nb) {
    if (trans_b && ldb == K) {
        tn_bf16_expand(buf, B + (size_t)n0 * ldb, (size_t)nb * K);
        return;
    }
    int rows = trans_b ? nb : K, cols = trans_b ? K : nb;
#pragma omp parallel for schedule(static) if ((size_t)rows * cols >= (1u << 18) && !omp_in_parallel())
    for (int r = 0; r < rows; r++) {
        const uint16_t *src = trans_b ? B + (size_t)(n0 + r) * ldb : B + (size_t)r * ldb + n0;
        expand_run(buf + (size_t)r * cols, src, (size_t)cols);
    }
}

void tn_sgemm_bf16w(int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const uint16_t *B,
                    int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) { /* tn_sgemm's beta * C, B unread */
        tn_sgemm(0, trans_b, M, N, 0, alpha, A, lda, NULL, 1, beta, C, ldc);
        return;
    }
    /* Blocks of ~EXPAND_FLOATS, as many as a multiple of the threads: each
     * thread expands its blocks and multiplies them in one thread (one fork
     * and join per product, not one per block: on a shared machine every
     * join waits for a descheduled thread). Widths are multiples of 16. */
    int nt = omp_in_parallel() || 2.0 * M * N * K < 2e6 ? 1 : omp_get_max_threads();
    long long want = ((long long)N * K + EXPAND_FLOATS - 1) / EXPAND_FLOATS;
    want = (want + nt - 1) / nt * nt;
    int nb = (int)((N + want - 1) / want);
    nb = (nb + 15) / 16 * 16;
    if (nb > N) nb = N;
    int nblocks = (N + nb - 1) / nb;
    if (nt > nblocks) nt = nblocks;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *buf = tn_malloc(sizeof(float) * (size_t)nb * K); /* a few MB */
#pragma omp for schedule(static)
        for (int b = 0; b < nblocks; b++) {
            int n0 = b * nb, w = N - n0 < nb ? N - n0 : nb;
            expand_block(buf, trans_b, K, B, ldb, n0, w);
            tn_sgemm(0, trans_b, M, w, K, alpha, A, lda, buf, trans_b ? K : w, beta, C + n0, ldc);
        }
        free(buf);
    }
}
