/* gemm.c - fp32 GEMM: a packed AVX-512 kernel, OpenBLAS for the rest.
 *
 * tn_sgemm has cblas_sgemm's row-major semantics (see gemm.h). It exists
 * because the OpenBLAS we link picks its kernel at run time from
 * OPENBLAS_CORETYPE, and the environment sets Haswell: AVX2 kernels. On our
 * 2 cores (AMD family 1Ah, two 512-bit FMAs a cycle) that is ~190 GFLOP/s on
 * a quiet machine (~82 on a busy one) against ~330 for its AVX-512 kernels;
 * this file gets ~340-370 whatever that variable says (`tuna bench sgemm
 * --model-shapes`: every training product of stories42M / smollm135M at
 * 1024 rows).
 *
 * Dispatch (at run time, nn/cpu.h; every x86-64 build compiles the kernels):
 *   - no AVX-512 on this CPU                 -> cblas_sgemm
 *   - 2*M*N*K < 4096 (smaller than 8 x 8 x 32) -> cblas_sgemm: call overhead
 *     only; from 16 x 16 x 16 up the packed kernel is already faster
 *     (35 vs 27 GFLOP/s there, 160 vs 95 at 64^3)
 *   - everything else, the skinny LoRA products (M, N or K = 16) included
 *     -> the packed kernel below (1024 x 16 x 512 nt: 205 vs 118; 16 x 512 x
 *     1024 tn: 195 vs 105; 1024 x 512 x 16 nn: 320 vs 60)
 *
 * The kernel is GotoBLAS/BLIS-shaped. For each NC-wide column block of C and
 * each KC-deep slice of K, B is packed into NR-wide panels (KC x NR, k-major)
 * and, per MC-tall row block, A into MR-tall panels (MR x KC, k-major). The
 * packing absorbs the transposes: a transposed operand is read 16 x 16 at a
 * time and transposed in registers, so all four cases run one micro-kernel.
 * Edge panels are zero-padded with masked loads (nothing past the matrix is
 * read); edge tiles of C are stored with masks. alpha and beta are applied
 * when a tile is stored: beta on the first K slice (never reading C when it
 * is 0), 1 on the following ones.
 *
 *   micro-kernel  MR x NR = 14 x 32: 28 zmm accumulators, 2 zmm of B, A
 *                 broadcast from memory into the FMA; per k 28 FMAs, 2 vector
 *                 loads, 14 broadcasts. ~190 GFLOP/s on one core, as
 *                 OpenBLAS's AVX-512 kernel. 12x32, 8x48 and 6x64 measured
 *                 the same or up to 10% slower. Edge tiles at most 16 wide
 *                 or 4 tall get their own instances (skinny products).
 *   KC = 576      the model's K = 512 and 576 in one slice: C is written
 *                 once. 256 and 384 measured 3-8% slower, 512 5-10% slower
 *                 on the K = 576 products, 768 no better. Slices of a larger
 *                 K are made even (K = 1376: 3 x 459).
 *   MC = 9 x 14   packed A block 126 x 576 x 4 B = 290 KB, in the 1 MB L2.
 *   NC = 2048     packed B block 576 x 2048 x 4 B = 4.5 MB per thread, in L3.
 *
 * Threads: outside a parallel region, products of 2 MFLOP and more (96^3
 * runs faster on one thread, 128^3 on two) are cut into
 * omp_get_max_threads() independent pieces, along M when M >= N (every
 * thread then packs all of B: the extra packing is K*N) and along N
 * otherwise (extra K*M), on MR / NR boundaries. One fork, one join. Sharing
 * one packed B between the threads (dynamic row blocks, two barriers per B
 * block) measured 5-15% slower. Inside a parallel region (the attention
 * code calls us from its own loop over heads) it runs in the calling
 * thread. Packing buffers are per thread, 64-byte aligned, grown as needed,
 * kept for the next call and freed when the thread exits.
 *
 * bf16 mode (tn_gemm_set_bf16, gemm.h; on CPUs with AVX512_BF16): the same
 * blocking, threading and alpha/beta/edge handling, but the panels hold bf16
 * pairs (the packers round op(A) and op(B) to nearest even) and the
 * micro-kernel is VDPBF16PS: per k-pair 14 x 2 instructions, each 16 x 2
 * multiply-adds, accumulated in fp32. Small products do not go to OpenBLAS
 * in this mode, so every product sees the same rounding. 14 x 32 and KC =
 * 576 as for fp32: 8 x 48, 6 x 64, KC = 1152 (the same panel bytes as fp32
 * at 576) and MC = 5 x 14 measured the same within the noise of a shared
 * machine. One thread, `OMP_NUM_THREADS=1 tuna bench sgemm --model-shapes
 * --bf16`: 280-370 GFLOP/s against 150-190 fp32 (x1.6-1.9).
 */
#include "nn/gemm.h"

#include "base/log.h"
#include "nn/cpu.h"
#include "nn/gemm_amx.h"

#include <cblas.h>
#include <omp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

static void blas_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                       int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
                lda, B, ldb, beta, C, ldc);
}

/* C = beta * C, for K == 0 or alpha == 0 (cblas semantics: A, B unread). */
static void scale_c(int M, int N, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        for (int j = 0; j < N; j++) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
    }
}

/* The bf16 switch: process-wide, read once per product. */
static int bf16_on;

void tn_gemm_set_bf16(int on) { __atomic_store_n(&bf16_on, on != 0, __ATOMIC_RELAXED); }

/* The kernel a product gets now: the switch and this CPU (cpu.h). */
static tn_gemm_path current_path(void) {
    tn_gemm_path p = tn_gemm_pick(tn_cpu(), __atomic_load_n(&bf16_on, __ATOMIC_RELAXED));
    /* AMX only after its guard (OS permission + self-check, once) */
    return p == TN_GEMM_AMX_BF16 && !tn_amx_ready() ? TN_GEMM_AVX512_BF16 : p;
}

int tn_gemm_bf16(void) {
    tn_gemm_path p = current_path();
    return p == TN_GEMM_AVX512_BF16 || p == TN_GEMM_AMX_BF16;
}

const char *tn_gemm_describe(void) { return tn_gemm_path_name(current_path()); }

int tn_gemm_request_bf16(const char *who) {
    tn_gemm_set_bf16(1);
    int on = tn_gemm_bf16();
    if (on)
        tn_info("%s --bf16: products in %s, fp32 accumulation", who, tn_gemm_describe());
    else
        tn_info("%s --bf16: this CPU (%s) has no AVX512_BF16: products in %s on the weights as stored", who,
                tn_cpu_describe(), tn_gemm_describe());
    return on;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* Every x86-64 build compiles the AVX-512 kernels, with the target options
 * they need when the build's own -march lacks them; tn_sgemm runs them only
 * where cpu.h found the features (run-time dispatch), OpenBLAS elsewhere.
 * Under -march=native on an AVX-512 machine nothing here changes. */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__) ||     \
    !defined(__AVX512BF16__)
#define TN_GEMM_TARGETED 1
#if defined(__clang__) /* clang (the fuzz build) has no GCC target pragma */
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma")
#endif
#endif
#include <immintrin.h>
#include <pthread.h>

#ifndef TN_GEMM_MR
#define TN_GEMM_MR 14
#endif
#ifndef TN_GEMM_NV
#define TN_GEMM_NV 2
#endif
#ifndef TN_GEMM_KC
#define TN_GEMM_KC 576
#endif
#ifndef TN_GEMM_MCP
#define TN_GEMM_MCP 9
#endif
#ifndef TN_GEMM_MT_FLOP
#define TN_GEMM_MT_FLOP 2000000
#endif
#ifndef TN_GEMM_NC
#define TN_GEMM_NC 2048
#endif
enum {
    MR = TN_GEMM_MR,         /* rows of a C tile */
    NV = TN_GEMM_NV,         /* zmm vectors per row of a C tile */
    NR = 16 * NV,            /* columns of a C tile */
    KC = TN_GEMM_KC,         /* depth of a packed slice */
    MC = TN_GEMM_MCP * MR,   /* rows of a packed A block */
    NC = TN_GEMM_NC,         /* columns of a packed B block (multiple of NR) */
    SMALL_FLOP = 4096,       /* below this, OpenBLAS */
    MT_FLOP = TN_GEMM_MT_FLOP, /* below this, one thread */
};
_Static_assert(MR <= 16 && NC % NR == 0, "a panel row of A is one masked zmm; B blocks hold whole panels");

typedef struct {
    int ta, tb, K;
    const float *A, *B;
    float *C;
    ptrdiff_t lda, ldb, ldc;
    float alpha, beta;
} job;

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline __mmask16 lanes(int n) { return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* Software prefetch for the packers. Packing reads operands that are often
 * in no cache (a forward streams every weight from memory once; the head's
 * weight is 113 MB for smollm135M), 14-16 rows side by side or down a column
 * of rows, and the hardware prefetchers leave that at ~2.3-3 Gfloat/s.
 * Fetching PF_K floats ahead along each row, or PF_ROWS rows ahead down a
 * column, makes it 4.8-5.2 Gfloat/s (`make pack-bench`: 49152 x 576
 * operands, with and without); the transposed-A copy (dy^T of the weight
 * gradients) stays at ~3.2. Cache-resident packing is unchanged. 0 turns one
 * off. */
#ifndef TN_GEMM_PF_K
#define TN_GEMM_PF_K 64
#endif
#ifndef TN_GEMM_PF_ROWS
#define TN_GEMM_PF_ROWS 16
#endif
enum { PF_K = TN_GEMM_PF_K, PF_ROWS = TN_GEMM_PF_ROWS };
static inline void prefetch(const float *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }
/* the cache lines of p[0..n) for n <= 32 */
static inline void prefetch_run(const float *p, int n) {
    prefetch(p);
    prefetch(p + n - 1);
}
/* element `at` of each of `rows` rows src + i * ld */
static inline void prefetch_rows(const float *src, ptrdiff_t ld, int rows, int at) {
    for (int i = 0; i < rows; i++) prefetch(src + i * ld + at);
}

/* Loads rows [0, rows) x columns [0, cols) of src (row stride ld; missing
 * rows and columns read as 0), transposes the 16 x 16 tile in registers and
 * writes its first `cols` rows to dst, dst + dld, ..., the lanes in wmask. */
static inline void tr16(const float *src, ptrdiff_t ld, int rows, int cols, float *dst, ptrdiff_t dld,
                        __mmask16 wmask) {
    __m512 r[16], t[16];
    __mmask16 lm = lanes(cols);
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_maskz_loadu_ps(lm, src + i * ld) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* r[4g + j], 128-bit lane L: rows 4g..4g+3 of column 4L + j */
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        r[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    /* 4 x 4 transpose of 128-bit lanes across r[j], r[4+j], r[8+j], r[12+j] */
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        __m512 u0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88), u1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xDD);
        __m512 u2 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88),
               u3 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xDD);
        t[j] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        t[8 + j] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
        t[4 + j] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
    }
    for (int c = 0; c < cols; c++) _mm512_mask_storeu_ps(dst + c * dld, wmask, t[c]);
}

/* `rows` (<= 16) runs of kc floats, src + i * ld, contiguous in k -> dst +
 * k * dld, lane i, the lanes in wmask, the rows past `rows` zero: a panel of
 * A (M x K) or of B^T (N x K), transposed 16 x 16 at a time. */
static void pack_runs(const float *src, ptrdiff_t ld, int rows, int kc, float *dst, ptrdiff_t dld, __mmask16 wmask) {
    for (int k = 0; k < kc; k += 16) {
        if (PF_K > 0 && k + PF_K < kc) prefetch_rows(src, ld, rows, k + PF_K);
        tr16(src + k, ld, rows, imin(16, kc - k), dst + (size_t)k * dld, dld, wmask);
    }
}

/* Rows [m0, m0 + mc) x k in [k0, k0 + kc) of op(A) -> MR-row panels, each
 * kc x MR floats (k-major), the rows past mc zero. */
static void pack_a(const job *j, int m0, int mc, int k0, int kc, void *out) {
    float *pa = out;
    for (int p = 0; p < mc; p += MR) {
        int mr = imin(MR, mc - p);
        float *dst = pa + (size_t)p * kc;
        if (!j->ta) { /* A is M x K: rows of op(A) are contiguous in k */
            pack_runs(j->A + (ptrdiff_t)(m0 + p) * j->lda + k0, j->lda, mr, kc, dst, MR, lanes(MR));
        } else { /* A is K x M: a panel's column k is contiguous */
            const float *src = j->A + (ptrdiff_t)k0 * j->lda + m0 + p;
            __mmask16 lm = lanes(mr);
            for (int k = 0; k < kc; k++) {
                if (PF_ROWS > 0 && k + PF_ROWS < kc) prefetch_run(src + (k + PF_ROWS) * j->lda, mr);
                _mm512_mask_storeu_ps(dst + (size_t)k * MR, lanes(MR), _mm512_maskz_loadu_ps(lm, src + k * j->lda));
            }
        }
    }
}

/* Columns [n0, n0 + nc) x k in [k0, k0 + kc) of op(B) -> NR-column panels,
 * each kc x NR floats (k-major), the columns past nc zero. */
static void pack_b(const job *j, int n0, int nc, int k0, int kc, void *out) {
    float *pb = out;
    for (int q = 0; q < nc; q += NR) {
        int nr = imin(NR, nc - q);
        float *dst = pb + (size_t)q * kc;
        if (!j->tb) { /* B is K x N: a panel row is contiguous */
            const float *src = j->B + (ptrdiff_t)k0 * j->ldb + n0 + q;
            for (int k = 0; k < kc; k++) {
                if (PF_ROWS > 0 && k + PF_ROWS < kc) prefetch_run(src + (k + PF_ROWS) * j->ldb, nr);
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++)
                    _mm512_store_ps(dst + (size_t)k * NR + 16 * v,
                                    _mm512_maskz_loadu_ps(lanes(nr - 16 * v), src + k * j->ldb + 16 * v));
            }
        } else { /* B is N x K: columns of op(B) are contiguous in k */
            for (int v = 0; v < NV; v++) {
                int rows = imin(16, nr - 16 * v);
                if (rows <= 0) {
                    for (int k = 0; k < kc; k++) _mm512_store_ps(dst + (size_t)k * NR + 16 * v, _mm512_setzero_ps());
                    continue;
                }
                pack_runs(j->B + (ptrdiff_t)(n0 + q + 16 * v) * j->ldb + k0, j->ldb, rows, kc, dst + 16 * v, NR,
                          0xffff);
            }
        }
    }
}

/* The end of every micro-kernel, fp32 and bf16 alike: the first mr x nr of
 * the accumulator tile, times alpha (plus beta * C unless beta is 0, when C
 * is not read), stored with masks. Inlined into each kernel instance so the
 * accumulators stay in registers (no stack traffic: checked with objdump). */
static inline __attribute__((always_inline)) void store_tile(int rows, int nv, __m512 acc[][NV], float *c,
                                                             ptrdiff_t ldc, int mr, int nr, float alpha,
                                                             float beta) {
    __mmask16 m[NV];
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) m[v] = lanes(nr - 16 * v);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int i = 0; i < rows; i++) {
        if (i >= mr) break;
        float *row = c + i * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            __m512 x = _mm512_mul_ps(va, acc[i][v]);
            if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m[v], row + 16 * v), x);
            _mm512_mask_storeu_ps(row + 16 * v, m[v], x);
        }
    }
}

/* C tile (mr x nr of rows x 16 nv) = alpha * pa @ pb + beta * C. Packed
 * rows are MR and NR floats apart; the kernel reads the first `rows` of A's
 * and `nv` vectors of B's. */
static inline __attribute__((always_inline)) void kernel_nv(int rows, int nv, int kc, const float *restrict pa,
                                                            const float *restrict pb, float *c, ptrdiff_t ldc,
                                                            int mr, int nr, float alpha, float beta) {
    __m512 acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < rows; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) acc[i][v] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b[NV];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) b[v] = _mm512_load_ps(pb + 16 * v);
#pragma GCC unroll 16
        for (int i = 0; i < rows; i++) {
            __m512 a = _mm512_set1_ps(pa[i]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);
        }
        pa += MR;
        pb += NR;
    }
    store_tile(rows, nv, acc, c, ldc, mr, nr, alpha, beta);
}

/* Full tiles, and edge tiles at most 16 wide (N % 32 <= 16, and all of
 * the N = 16 LoRA products) or at most 4 tall (M % 14 <= 4, M = 16): the
 * edges of skinny products are most of them. */
typedef void (*kernel_fn)(int, const void *, const void *, float *, ptrdiff_t, int, int, float, float);
#define KERNEL(name, rows, nv)                                                                                \
    static void name(int kc, const void *pa, const void *pb, float *c, ptrdiff_t ldc, int mr, int nr,        \
                     float alpha, float beta) {                                                               \
        kernel_nv(rows, nv, kc, pa, pb, c, ldc, mr, nr, alpha, beta);                                         \
    }
KERNEL(kernel_full, MR, NV)
KERNEL(kernel_n16, MR, 1)
KERNEL(kernel_m4, 4, NV)
KERNEL(kernel_m4n16, 4, 1)

/* A packing format: blocking, packers and micro-kernels. Packed panels are
 * 32-bit words, each holding kpack consecutive k of one row of op(A) or
 * column of op(B): one float here, a pair of bf16 in bf16 mode. A kc-deep
 * slice is kw = kc / kpack (rounded up) words deep. */
typedef void (*pack_fn)(const job *j, int start, int len, int k0, int kc, void *panels);
typedef struct {
    int mr, nr, kc, mc, nc, kpack; /* tile, slice depth, A / B block sizes */
    pack_fn pack_a, pack_b;
    kernel_fn kernel[2][2]; /* [mr <= 4][nr <= 16] */
} panel_fmt;
static const panel_fmt FP32 = {MR, NR, KC, MC, NC, 1, pack_a, pack_b,
                               {{kernel_full, kernel_n16}, {kernel_m4, kernel_m4n16}}};

/* Per-thread packing scratch: grown as needed, freed at thread exit. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local float *scratch_buf;
static _Thread_local size_t scratch_cap;
static void scratch_key_init(void) { pthread_key_create(&scratch_key, free); }
static float *scratch(size_t n) {
    if (n <= scratch_cap) return scratch_buf;
    pthread_once(&scratch_once, scratch_key_init);
    free(scratch_buf);
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    scratch_buf = aligned_alloc(64, bytes);
    scratch_cap = scratch_buf ? n : 0;
    pthread_setspecific(scratch_key, scratch_buf);
    return scratch_buf;
}

/* Splits n into pieces of about `want` (at least 1), returns the piece size
 * (pieces as even as possible, rounded up to a multiple of `unit`). */
static int even_block(int n, int want, int unit) {
    int pieces = (n + want - 1) / want;
    int b = (n + pieces - 1) / pieces;
    return (b + unit - 1) / unit * unit;
}

/* Words deep of the deepest K slice. */
static size_t slice_words(const panel_fmt *f, int K) { return (size_t)(even_block(K, f->kc, f->kpack) / f->kpack); }

/* Words of a packed A block, rounded up to keep the B block after it
 * 64-byte aligned. */
static size_t a_words(const panel_fmt *f, int K, int m) {
    return (slice_words(f, K) * even_block(m, f->mc, f->mr) + 15) & ~(size_t)15;
}

/* Packing words gemm_part needs for an m x n part. */
static size_t part_words(const panel_fmt *f, const job *j, int m, int n) {
    return a_words(f, j->K, m) + slice_words(f, j->K) * even_block(n, f->nc, f->nr);
}

/* The part rows [m0, m1) x columns [n0, n1) of C, in the calling thread,
 * with scr = scratch(part_words(...)). */
static void gemm_part(const panel_fmt *f, const job *j, int m0, int m1, int n0, int n1, float *scr) {
    int M = m1 - m0, N = n1 - n0, K = j->K;
    int kcb = even_block(K, f->kc, f->kpack), mcb = even_block(M, f->mc, f->mr), ncb = even_block(N, f->nc, f->nr);
    float *pa = scr, *pb = scr + a_words(f, K, M); /* 32-bit words, whatever they hold */
    for (int jc = n0; jc < n1; jc += ncb) {
        int nc = imin(ncb, n1 - jc);
        for (int pc = 0; pc < K; pc += kcb) {
            int kc = imin(kcb, K - pc), kw = (kc + f->kpack - 1) / f->kpack;
            float beta = pc == 0 ? j->beta : 1.0f;
            f->pack_b(j, jc, nc, pc, kc, pb);
            for (int ic = m0; ic < m1; ic += mcb) {
                int mc = imin(mcb, m1 - ic);
                f->pack_a(j, ic, mc, pc, kc, pa);
                for (int q = 0; q < nc; q += f->nr) /* B panel in L1, A panels from L2 */
                    for (int p = 0; p < mc; p += f->mr) {
                        int mr = imin(f->mr, mc - p), nr = imin(f->nr, nc - q);
                        float *c = j->C + (ptrdiff_t)(ic + p) * j->ldc + jc + q;
                        f->kernel[mr <= 4][nr <= 16](kw, pa + (size_t)p * kw, pb + (size_t)q * kw, c, j->ldc, mr, nr,
                                                     j->alpha, beta);
                    }
            }
        }
    }
}

/* ---- bf16 mode (tn_gemm_set_bf16): the same blocking, bf16 panels ----
 *
 * A k-pair (k, k+1) of a panel row or column is one 32-bit word, two bf16
 * with k in the low half, as VDPBF16PS wants: A panels are kc2 x BMR words,
 * B panels kc2 x BNR words (kc2 = kc / 2 rounded up; an odd k slice ends
 * with a zero). fp32 -> bf16 is VCVTNE2PS2BF16 (round to nearest even).
 * Rows of op(A) (A not transposed) and columns of op(B) (B transposed) are
 * contiguous in k, so 32 floats convert to 16 pairs in order and a 16 x 16
 * word transpose (tr16) makes them k-major; the other two cases convert
 * rows k and k + 1 and interleave them with one VPERMW. */
#ifndef TN_GEMM_BF16_MR
#define TN_GEMM_BF16_MR 14
#endif
#ifndef TN_GEMM_BF16_NV
#define TN_GEMM_BF16_NV 2
#endif
#ifndef TN_GEMM_BF16_KC
#define TN_GEMM_BF16_KC 576
#endif
#ifndef TN_GEMM_BF16_MCP
#define TN_GEMM_BF16_MCP 9
#endif
enum {
    BMR = TN_GEMM_BF16_MR,
    BNV = TN_GEMM_BF16_NV,
    BNR = 16 * BNV,
    BKC = TN_GEMM_BF16_KC,          /* k (not pairs) per slice, even */
    BMC = TN_GEMM_BF16_MCP * BMR,
    BNC = NC / BNR * BNR,     /* columns of a packed B block */
};
_Static_assert(BMR <= 16 && BKC % 2 == 0 && BNC % BNR == 0, "bf16 blocking");
_Static_assert((int)BNV == (int)NV, "the bf16 kernels share store_tile");

/* n (0..32) floats at src -> 16 words of bf16 pairs (src[2w], src[2w+1]);
 * past n, zeros. */
static inline __m512i cvt_pairs(const float *src, int n) {
    __m512 lo = _mm512_maskz_loadu_ps(lanes(n), src), hi = _mm512_maskz_loadu_ps(lanes(n - 16), src + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* n (0..16) floats of r0 and of r1 (NULL: zeros) -> 16 words (r0[w], r1[w]). */
static inline __m512i zip_pairs(const float *r0, const float *r1, int n) {
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                          21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    __m512 a = _mm512_maskz_loadu_ps(lanes(n), r0), b = r1 ? _mm512_maskz_loadu_ps(lanes(n), r1) : _mm512_setzero_ps();
    return _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(b, a));
}

/* `rows` (<= 16) runs of kc floats, src + i * ld, contiguous in k -> words
 * dst + w * dld, lane i, for the kc2 pairs; lanes in wmask, the rows past
 * `rows` zero. */
static void pack_runs_bf16(const float *src, ptrdiff_t ld, int rows, int kc, uint32_t *dst, ptrdiff_t dld,
                           __mmask16 wmask) {
    float tmp[16 * 16] __attribute__((aligned(64)));
    for (int k = 0; k < kc; k += 32) {
        int n = imin(32, kc - k);
        if (PF_K > 0 && k + PF_K < kc) { /* 32 floats a row per step: two lines */
            prefetch_rows(src, ld, rows, k + PF_K);
            prefetch_rows(src, ld, rows, k + PF_K + 16);
        }
        for (int i = 0; i < rows; i++) _mm512_store_si512(tmp + 16 * i, cvt_pairs(src + i * ld + k, n));
        tr16(tmp, 16, rows, (n + 1) / 2, (float *)(dst + (size_t)(k / 2) * dld), dld, wmask);
    }
}

static void pack_a_bf16(const job *j, int m0, int mc, int k0, int kc, void *out) {
    uint32_t *pa = out;
    int kc2 = (kc + 1) / 2;
    for (int p = 0; p < mc; p += BMR) {
        int mr = imin(BMR, mc - p);
        uint32_t *dst = pa + (size_t)p * kc2;
        if (!j->ta) {
            pack_runs_bf16(j->A + (ptrdiff_t)(m0 + p) * j->lda + k0, j->lda, mr, kc, dst, BMR, lanes(BMR));
        } else {
            const float *src = j->A + (ptrdiff_t)k0 * j->lda + m0 + p;
            for (int w = 0; w < kc2; w++) {
                const float *r0 = src + 2 * w * j->lda, *r1 = 2 * w + 1 < kc ? r0 + j->lda : NULL;
                if (PF_ROWS > 0 && 2 * w + PF_ROWS + 1 < kc) {
                    prefetch_run(r0 + PF_ROWS * j->lda, mr);
                    prefetch_run(r0 + (PF_ROWS + 1) * j->lda, mr);
                }
                _mm512_mask_storeu_epi32(dst + (size_t)w * BMR, lanes(BMR), zip_pairs(r0, r1, mr));
            }
        }
    }
}

static void pack_b_bf16(const job *j, int n0, int nc, int k0, int kc, void *out) {
    uint32_t *pb = out;
    int kc2 = (kc + 1) / 2;
    for (int q = 0; q < nc; q += BNR) {
        int nr = imin(BNR, nc - q);
        uint32_t *dst = pb + (size_t)q * kc2;
        if (!j->tb) {
            const float *src = j->B + (ptrdiff_t)k0 * j->ldb + n0 + q;
            for (int w = 0; w < kc2; w++) {
                const float *r0 = src + 2 * w * j->ldb, *r1 = 2 * w + 1 < kc ? r0 + j->ldb : NULL;
                if (PF_ROWS > 0 && 2 * w + PF_ROWS + 1 < kc) {
                    prefetch_run(r0 + PF_ROWS * j->ldb, nr);
                    prefetch_run(r0 + (PF_ROWS + 1) * j->ldb, nr);
                }
#pragma GCC unroll 4
                for (int v = 0; v < BNV; v++)
                    _mm512_store_si512(dst + (size_t)w * BNR + 16 * v,
                                       zip_pairs(r0 + 16 * v, r1 ? r1 + 16 * v : NULL, nr - 16 * v));
            }
        } else {
            for (int v = 0; v < BNV; v++) {
                int rows = imin(16, nr - 16 * v);
                if (rows <= 0) {
                    for (int w = 0; w < kc2; w++) _mm512_store_si512(dst + (size_t)w * BNR + 16 * v, _mm512_setzero_si512());
                    continue;
                }
                pack_runs_bf16(j->B + (ptrdiff_t)(n0 + q + 16 * v) * j->ldb + k0, j->ldb, rows, kc,
                               dst + 16 * v, BNR, 0xffff);
            }
        }
    }
}

/* kernel_nv with bf16 pairs: one VDPBF16PS per row and vector per k-pair. */
static inline __attribute__((always_inline)) void kernel_bf16_nv(int rows, int nv, int kc2,
                                                                 const uint32_t *restrict pa,
                                                                 const uint32_t *restrict pb, float *c,
                                                                 ptrdiff_t ldc, int mr, int nr, float alpha,
                                                                 float beta) {
    __m512 acc[BMR][BNV];
#pragma GCC unroll 16
    for (int i = 0; i < rows; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) acc[i][v] = _mm512_setzero_ps();
    for (int w = 0; w < kc2; w++) {
        __m512bh b[BNV];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) b[v] = (__m512bh)_mm512_load_si512(pb + 16 * v);
#pragma GCC unroll 16
        for (int i = 0; i < rows; i++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)pa[i]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], a, b[v]);
        }
        pa += BMR;
        pb += BNR;
    }
    store_tile(rows, nv, acc, c, ldc, mr, nr, alpha, beta);
}

#define KERNEL_BF16(name, rows, nv)                                                                           \
    static void name(int kc2, const void *pa, const void *pb, float *c, ptrdiff_t ldc, int mr, int nr,       \
                     float alpha, float beta) {                                                               \
        kernel_bf16_nv(rows, nv, kc2, pa, pb, c, ldc, mr, nr, alpha, beta);                                   \
    }
KERNEL_BF16(kernel_bf16_full, BMR, BNV)
KERNEL_BF16(kernel_bf16_n16, BMR, 1)
KERNEL_BF16(kernel_bf16_m4, 4, BNV)
KERNEL_BF16(kernel_bf16_m4n16, 4, 1)
static const panel_fmt BF16 = {BMR, BNR, BKC, BMC, BNC, 2, pack_a_bf16, pack_b_bf16,
                               {{kernel_bf16_full, kernel_bf16_n16}, {kernel_bf16_m4, kernel_bf16_m4n16}}};

/* The packed product (M, N > 0, K > 0, alpha != 0) in `fmt`, on a CPU that
 * has its instructions (the caller checked). */
static void packed_gemm(const panel_fmt *fmt, int trans_a, int trans_b, int M, int N, int K, float alpha,
                        const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    double flop = 2.0 * M * N * K;
    job j = {trans_a, trans_b, K, A, B, C, lda, ldb, ldc, alpha, beta};
    int mr_u = fmt->mr, nr_u = fmt->nr;
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    /* M >= N: split rows (each thread packs all of B), else columns */
    int split_m = M >= N, units = split_m ? (M + mr_u - 1) / mr_u : (N + nr_u - 1) / nr_u;
    if (nt > units) nt = units;
    if (nt > 1 && flop < MT_FLOP) nt = 1; /* a parallel region costs a few us */
    /* Every thread gets its packing buffers before any writes to C, so that
     * out of memory (a few MB) can still hand the whole product to OpenBLAS. */
    int failed = 0;
    if (nt <= 1) {
        float *pa = scratch(part_words(fmt, &j, M, N));
        if (pa) gemm_part(fmt, &j, 0, M, 0, N, pa);
        failed = !pa;
    } else {
#pragma omp parallel num_threads(nt) shared(failed)
        {
            int t = omp_get_thread_num(), n = omp_get_num_threads();
            int u0 = (int)((long)units * t / n), u1 = (int)((long)units * (t + 1) / n);
            int m0 = split_m ? u0 * mr_u : 0, m1 = split_m ? imin(M, u1 * mr_u) : M;
            int n0 = split_m ? 0 : u0 * nr_u, n1 = split_m ? N : imin(N, u1 * nr_u);
            float *pa = scratch(part_words(fmt, &j, m1 - m0, n1 - n0));
            if (!pa) {
#pragma omp atomic write
                failed = 1;
            }
#pragma omp barrier
            int f;
#pragma omp atomic read
            f = failed;
            if (!f) gemm_part(fmt, &j, m0, m1, n0, n1, pa);
        }
    }
    if (failed) blas_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#ifdef TN_GEMM_TARGETED
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

/* small: a product below SMALL_FLOP goes to OpenBLAS in fp32 mode */
static void dispatch(int small, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                     int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    /* read once: every thread of this call takes the same path */
    tn_gemm_path p = current_path();
    if (p == TN_GEMM_AMX_BF16)
        tn_amx_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else if (p == TN_GEMM_AVX512_BF16)
        packed_gemm(&BF16, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else if (p == TN_GEMM_AVX512 && !(small && 2.0 * M * N * K < SMALL_FLOP))
        packed_gemm(&FP32, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        blas_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#else /* not x86-64: OpenBLAS */

static void dispatch(int small, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                     int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    (void)small;
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    blas_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#endif

void tn_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc) {
    dispatch(1, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void tn_sgemm_packed(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    dispatch(0, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
