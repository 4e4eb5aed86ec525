/* gemm_amx.c - bf16 products on AMX tiles (Sapphire Rapids and later).
 *
 * NOT RUN on the machine this was written on (AMD EPYC without AMX): the
 * code is compiled into every x86-64 build and reached only when
 *   1. cpu.h found AMX-TILE + AMX-BF16 with the tile state in XCR0,
 *   2. bf16 mode is on (tn_gemm_set_bf16: --bf16),
 *   3. the OS granted this process the tile data (arch_prctl
 *      ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), and
 *   4. a self-check passed: on first use, odd-shaped products in all four
 *      transpose cases are compared with a double-precision product of the
 *      same bf16-rounded inputs; any element off by more than 1e-4 of its
 *      sum of |terms| disables AMX for the process with a warning, and
 *      bf16 products go to the AVX512_BF16 kernel instead.
 *
 * Semantics are bf16 mode's (gemm.h): op(A) and op(B) rounded to bf16
 * (nearest even), products accumulated in fp32, alpha / beta in fp32.
 *
 * Layout. TDPBF16PS multiplies a 16 x 32 bf16 tile of A (rows: 16 rows of
 * op(A), 32 consecutive k each) by a 16 x 16-pair tile of B (rows: 16
 * k-pairs, each 16 columns of (k, k+1) pairs) into 16 x 16 fp32. K is
 * padded with zeros to a multiple of 32. op(B) is packed once per NB-column
 * block into 32-column panels (kp/2 rows of 32 pairs, 128 bytes a row: the
 * two B tiles of a panel are 64 bytes apart); op(A) per 32-row block into
 * two 16-row halves, row-major (kp/2 pairs a row). Each 32 x 32 block of C
 * is four tiles (tmm0-3), A halves in tmm4-5, B halves in tmm6-7. Packing is
 * scalar (correct first; it is K*(M/32 + N) conversions against 2*M*N*K
 * multiply-adds). Threads split the column blocks.
 */
#include "nn/gemm_amx.h"

#include "base/half.h"
#include "base/log.h"
#include "base/mem.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <sys/syscall.h>
#include <unistd.h>

enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
enum { TM = 32, TN = 32, NB = 1024 }; /* C block, B columns packed at a time */

#if defined(__clang__) /* clang (the fuzz build) has no GCC target pragma */
#pragma clang attribute push(__attribute__((target("amx-tile,amx-bf16,avx512f"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("amx-tile,amx-bf16,avx512f")
#endif
#include <immintrin.h>

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_cfg;

static void tiles_on(void) {
    tile_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) { /* every tile 16 rows of 64 bytes */
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    _tile_loadconfig(&cfg);
}

static void tiles_off(void) { _tile_release(); }

/* One 32 x 32 block of C: pa = two 16-row halves (each 16 x kw words), pb =
 * one panel (kw rows of 32 words), kw a multiple of 16. */
static void block(const uint32_t *pa, const uint32_t *pb, int kw, float out[TM][TN]) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    const uint32_t *a1 = pa + (size_t)16 * kw;
    for (int w = 0; w < kw; w += 16) {
        _tile_loadd(4, pa + w, kw * 4);
        _tile_loadd(5, a1 + w, kw * 4);
        _tile_loadd(6, pb + (size_t)w * TN, TN * 4);
        _tile_loadd(7, pb + (size_t)w * TN + 16, TN * 4);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, &out[0][0], TN * 4);
    _tile_stored(1, &out[0][16], TN * 4);
    _tile_stored(2, &out[16][0], TN * 4);
    _tile_stored(3, &out[16][16], TN * 4);
}
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

static inline uint32_t pair(float lo, float hi) {
    return (uint32_t)tn_f32_to_bf16(lo) | (uint32_t)tn_f32_to_bf16(hi) << 16;
}

typedef struct {
    int ta, tb, M, N, K;
    const float *A, *B;
    ptrdiff_t lda, ldb;
} operands;

static inline float op_a(const operands *o, int i, int k) {
    return k >= o->K ? 0.0f : o->ta ? o->A[(ptrdiff_t)k * o->lda + i] : o->A[(ptrdiff_t)i * o->lda + k];
}
static inline float op_b(const operands *o, int k, int j) {
    return k >= o->K ? 0.0f : o->tb ? o->B[(ptrdiff_t)j * o->ldb + k] : o->B[(ptrdiff_t)k * o->ldb + j];
}

/* Rows [m0, m0 + 32) of op(A) (past M: zero) -> two halves of 16 x kw words. */
static void pack_a(const operands *o, int m0, int kw, uint32_t *pa) {
    for (int r = 0; r < TM; r++)
        for (int w = 0; w < kw; w++)
            pa[(size_t)r * kw + w] = m0 + r < o->M ? pair(op_a(o, m0 + r, 2 * w), op_a(o, m0 + r, 2 * w + 1)) : 0;
}

/* Columns [n0, n0 + nb) of op(B) -> panels of kw x 32 words (past N: zero). */
static void pack_b(const operands *o, int n0, int nb, int kw, uint32_t *pb) {
    for (int q = 0; q < nb; q += TN)
        for (int w = 0; w < kw; w++)
            for (int c = 0; c < TN; c++) {
                int j = n0 + q + c;
                pb[(size_t)q * kw + (size_t)w * TN + c] =
                    j < n0 + nb && j < o->N ? pair(op_b(o, 2 * w, j), op_b(o, 2 * w + 1, j)) : 0;
            }
}

/* The product, no checks (amx_ready() said yes). */
static void amx_gemm(const operands *o, float alpha, float beta, float *C, int ldc) {
    int kw = (o->K + 31) / 32 * 16; /* pairs per row, a multiple of 16 */
    int nblocks = (o->N + NB - 1) / NB;
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (nt > nblocks) nt = nblocks;
#pragma omp parallel num_threads(nt)
    {
        uint32_t *pa = tn_malloc(sizeof(uint32_t) * TM * (size_t)kw);
        uint32_t *pb = tn_malloc(sizeof(uint32_t) * (size_t)kw * NB);
        float out[TM][TN];
        tiles_on();
#pragma omp for schedule(static)
        for (int b = 0; b < nblocks; b++) {
            int n0 = b * NB, nb = o->N - n0 < NB ? o->N - n0 : NB;
            pack_b(o, n0, nb, kw, pb);
            for (int m0 = 0; m0 < o->M; m0 += TM) {
                pack_a(o, m0, kw, pa);
                for (int q = 0; q < nb; q += TN) {
                    block(pa, pb + (size_t)q * kw, kw, out);
                    for (int i = 0; i < TM && m0 + i < o->M; i++)
                        for (int c = 0; c < TN && q + c < nb; c++) {
                            float *dst = C + (ptrdiff_t)(m0 + i) * ldc + n0 + q + c;
                            float x = alpha * out[i][c];
                            *dst = beta == 0.0f ? x : x + beta * *dst;
                        }
                }
            }
        }
        tiles_off();
        free(pa);
        free(pb);
    }
}

/* ---- the guard: OS permission and a self-check, once per process ---- */

static float bf16r(float x) { return tn_bf16_to_f32(tn_f32_to_bf16(x)); }

/* One odd-shaped product against double precision on the rounded inputs. */
static int self_check_case(int ta, int tb, int M, int N, int K) {
    float *A = tn_malloc(sizeof(float) * (size_t)M * K), *B = tn_malloc(sizeof(float) * (size_t)K * N);
    float *C = tn_malloc(sizeof(float) * (size_t)M * N);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((s = s * 6364136223846793005ull + 1) >> 40) / 16777216.0f - 0.5f;
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = (float)((s = s * 6364136223846793005ull + 1) >> 40) / 16777216.0f - 0.5f;
    for (size_t i = 0; i < (size_t)M * N; i++) C[i] = 1.0f;
    operands o = {ta, tb, M, N, K, A, B, ta ? M : K, tb ? K : N};
    amx_gemm(&o, 1.0f, 0.5f, C, N);
    int ok = 1;
    for (int i = 0; i < M && ok; i++)
        for (int j = 0; j < N && ok; j++) {
            double ref = 0.5, mag = 0.5;
            for (int k = 0; k < K; k++) {
                double t = (double)bf16r(op_a(&o, i, k)) * bf16r(op_b(&o, k, j));
                ref += t;
                mag += fabs(t);
            }
            if (!(fabs(C[(size_t)i * N + j] - ref) <= 1e-4 * mag)) {
                tn_warn("AMX self-check: %c%c %dx%dx%d C[%d,%d] = %g, expected %g: AMX disabled, bf16 products "
                        "use AVX512_BF16",
                        ta ? 't' : 'n', tb ? 't' : 'n', M, N, K, i, j, (double)C[(size_t)i * N + j], ref);
                ok = 0;
            }
        }
    free(A);
    free(B);
    free(C);
    return ok;
}

static int ready = -1; /* -1 not asked yet, 0 no, 1 yes */

static void decide(void) {
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) {
        tn_warn("AMX: the kernel refused the tile state (arch_prctl ARCH_REQ_XCOMP_PERM): bf16 products use "
                "AVX512_BF16");
        ready = 0;
        return;
    }
    ready = self_check_case(0, 0, 37, 45, 100) && self_check_case(1, 1, 33, 70, 65) &&
            self_check_case(0, 1, 5, 1100, 33) && self_check_case(1, 0, 64, 31, 1);
}

int tn_amx_ready(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, decide);
    return ready == 1;
}

void tn_amx_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc) {
    operands o = {trans_a, trans_b, M, N, K, A, B, lda, ldb};
    amx_gemm(&o, alpha, beta, C, ldc);
}

#else /* not x86-64: never ready */
int tn_amx_ready(void) { return 0; }
void tn_amx_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc) {
    (void)trans_a, (void)trans_b, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb,
        (void)beta, (void)C, (void)ldc;
    abort();
}
#endif
