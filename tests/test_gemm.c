/* test_gemm.c - tn_sgemm against a double-precision triple loop and against
 * cblas_sgemm.
 *
 * Every element is checked with |c - ref| <= 1e-5 * |alpha| * sum_k |a||b|
 * + 1e-6 * |beta * c0| + 1e-30: the error bound of a float dot product of
 * these lengths, whatever order the kernel adds in. The small cases go
 * through tn_sgemm_packed, so that the packed kernel (not the OpenBLAS
 * fallback for tiny products) meets the 1-wide edge tiles; the big ones
 * through tn_sgemm. Columns past N in C (ldc > N) must come back untouched,
 * and beta = 0 starts from a C full of NaN, which must not leak through.
 *
 * bf16 mode (tn_gemm_set_bf16): the same checks, the double reference
 * computed from the inputs rounded to bf16 here (bf16r, a scalar
 * round-to-nearest-even): products of two bf16 are exact in fp32, so the
 * same 1e-5 bound holds; against cblas on the unrounded inputs the bound is
 * 2^-7 sum_k |a||b| (each input within 2^-9 of itself). Skipped when the
 * build has no AVX512_BF16. */
#include "harness.h"
#include "nn/gemm.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* x rounded to bf16 (nearest, ties to even), as a float. */
static float bf16r(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return x; /* NaN */
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

typedef void (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);

static void fill(float *x, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)(seed >> 40) / (float)(1 << 23) - 1.0f;
    }
}

/* One product; pad = extra row stride on A, B and C. rows_every: check
 * every n-th row against the double reference (all rows against cblas).
 * bf16: run fn in bf16 mode, the reference from bf16-rounded inputs.
 * Returns the number of bad elements. */
static int check_mode(gemm_fn fn, int bf16, int ta, int tb, int M, int N, int K, float alpha, float beta, int pad,
                      int rows_every) {
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    int lda = ac + pad, ldb = bc + pad, ldc = N + pad;
    /* +1: malloc(0) may return NULL; ASan catches any read past the end */
    float *A = malloc(sizeof(float) * ((size_t)ar * lda + 1)), *B = malloc(sizeof(float) * ((size_t)br * ldb + 1));
    float *C = malloc(sizeof(float) * ((size_t)M * ldc + 1)), *C0 = malloc(sizeof(float) * ((size_t)M * ldc + 1));
    float *Cb = malloc(sizeof(float) * ((size_t)M * ldc + 1));
    fill(A, (size_t)ar * lda, 1 + M * 3 + K);
    fill(B, (size_t)br * ldb, 7 + N * 5 + K);
    fill(C0, (size_t)M * ldc, 11 + M + N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            float *c0 = &C0[(size_t)i * ldc + j];
            if (j >= N) *c0 = 12345.0f; /* must stay */
            else if (beta == 0.0f) *c0 = NAN; /* must not be read */
        }
    memcpy(C, C0, sizeof(float) * (size_t)M * ldc);
    memcpy(Cb, C0, sizeof(float) * (size_t)M * ldc);
    tn_gemm_set_bf16(bf16);
    fn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    tn_gemm_set_bf16(0);
    float (*rnd)(float) = bf16 ? bf16r : NULL;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
                lda, B, ldb, beta, Cb, ldc);
    double grow = bf16 ? 1.01 : 1.0; /* rounding to bf16 grows |x| by up to 2^-9 */
    double *asum = calloc((size_t)M + 1, sizeof(double)), *bmax = calloc((size_t)N + 1, sizeof(double));
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) asum[i] += fabs(A[ta ? (size_t)k * lda + i : (size_t)i * lda + k]) * grow;
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++)
            bmax[j] = fmax(bmax[j], fabs(B[tb ? (size_t)j * ldb + k : (size_t)k * ldb + j]) * grow);
    int bad = 0;
    for (int i = 0; i < M; i++) {
        int full = i % rows_every == 0 || i == M - 1;
        for (int j = 0; j < ldc; j++) {
            size_t o = (size_t)i * ldc + j;
            float c = C[o];
            if (j >= N) {
                if (c != 12345.0f) bad++;
                continue;
            }
            double bound = 0.0, ref = 0.0;
            if (full) {
                for (int k = 0; k < K; k++) {
                    float af = A[ta ? (size_t)k * lda + i : (size_t)i * lda + k];
                    float bf = B[tb ? (size_t)j * ldb + k : (size_t)k * ldb + j];
                    double a = rnd ? rnd(af) : af, b = rnd ? rnd(bf) : bf;
                    ref += a * b;
                    bound += fabs(a * b);
                }
            } else {
                bound = asum[i] * bmax[j]; /* >= sum_k |a||b|, within ~2x */
            }
            double c0 = beta == 0.0f ? 0.0 : (double)beta * C0[o];
            double tol = 1e-5 * fabs(alpha) * bound + 1e-6 * fabs(c0) + 1e-30;
            double tol_cblas = bf16 ? tol + fabs(alpha) * bound / 128 : 2 * tol;
            int ok = isfinite(c) && fabs(c - Cb[o]) <= tol_cblas;
            if (full) ok = ok && fabs(c - (alpha * ref + c0)) <= tol;
            if (!ok && bad++ < 3)
                fprintf(stderr,
                        "  %s%c%c M=%d N=%d K=%d alpha=%g beta=%g pad=%d: C[%d,%d] = %.9g, ref %.9g, cblas %.9g\n",
                        bf16 ? "bf16 " : "", ta ? 't' : 'n', tb ? 't' : 'n', M, N, K, alpha, beta, pad, i, j, c,
                        full ? alpha * ref + c0 : NAN, Cb[o]);
        }
    }
    free(asum);
    free(bmax);
    free(A);
    free(B);
    free(C);
    free(C0);
    free(Cb);
    return bad;
}

static int check(gemm_fn fn, int ta, int tb, int M, int N, int K, float alpha, float beta, int pad, int rows_every) {
    return check_mode(fn, 0, ta, tb, M, N, K, alpha, beta, pad, rows_every);
}

static const float ALPHAS[] = {1.0f, 0.5f}, BETAS[] = {0.0f, 1.0f, -0.7f};

/* All transposes x alpha x beta, on sizes around the tile edges (MR = 14,
 * NR = 32, 16-wide transposes) and the block edges (KC = 576, MC = 126). */
TEST(odd_sizes_all_cases) {
    static const int shapes[][3] = {
        {1, 1, 1},     {1, 7, 13},    {7, 1, 31},   {13, 33, 1},   {31, 13, 7},  {33, 31, 33},
        {14, 32, 16},  {15, 33, 17},  {97, 7, 97},  {7, 97, 255},  {255, 33, 13}, {13, 257, 31},
        {29, 65, 257}, {257, 31, 33}, {97, 97, 97}, {1, 1000, 7},  {1000, 1, 13}, {28, 64, 600},
    };
    int bad = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 4; t++)
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 3; b++)
                    bad += check(tn_sgemm_packed, t >> 1, t & 1, shapes[s][0], shapes[s][1], shapes[s][2], ALPHAS[a],
                                 BETAS[b], (int)(s % 3) * 5, 1);
    CHECKF(bad == 0, "%d bad elements", bad);
}

/* Strides larger than the rows, through the public entry point too. */
TEST(padded_strides) {
    int bad = 0;
    for (int t = 0; t < 4; t++) {
        bad += check(tn_sgemm, t >> 1, t & 1, 61, 75, 300, 0.5f, -0.7f, 17, 1);
        bad += check(tn_sgemm_packed, t >> 1, t & 1, 3, 5, 2, 1.0f, 1.0f, 64, 1);
    }
    CHECKF(bad == 0, "%d bad elements", bad);
}

/* K = 0: C = beta * C, A and B never read (NULL here). M or N = 0: no-op. */
TEST(degenerate) {
    float C[6] = {1, 2, 3, NAN, 5, 6};
    tn_sgemm(0, 0, 2, 2, 0, 1.0f, NULL, 1, NULL, 2, 0.5f, C, 3);
    CHECK(C[0] == 0.5f && C[1] == 1.0f && C[2] == 3.0f && isnan(C[3]) && C[4] == 2.5f && C[5] == 6.0f);
    float D[4] = {NAN, NAN, NAN, NAN};
    tn_sgemm(1, 1, 2, 2, 0, 1.0f, NULL, 2, NULL, 1, 0.0f, D, 2);
    CHECK(D[0] == 0.0f && D[1] == 0.0f && D[2] == 0.0f && D[3] == 0.0f);
    float E[2] = {7, 8};
    tn_sgemm(0, 0, 0, 2, 5, 1.0f, NULL, 5, NULL, 2, 0.0f, E, 2);
    tn_sgemm(0, 0, 2, 0, 5, 1.0f, NULL, 5, NULL, 1, 0.0f, E, 1);
    CHECK(E[0] == 7.0f && E[1] == 8.0f);
    /* and the packed path on its own */
    float F[2] = {NAN, 4};
    tn_sgemm_packed(0, 0, 1, 2, 0, 1.0f, NULL, 1, NULL, 2, 0.0f, F, 2);
    CHECK(F[0] == 0.0f && F[1] == 0.0f);
}

/* The model's shapes (batch 4 x seq 256 = 1024 rows, stories42M): forward
 * y = x W^T (NT), backward dx = dy W (NN), dW = dy^T x (TN); shapes that
 * cross KC, MC and NC, and the skinny LoRA ones. Every 61st row against the
 * double reference, all of C against cblas. */
TEST(model_shapes) {
    static const struct { int ta, tb, M, N, K; float beta; } c[] = {
        {0, 1, 1024, 1376, 512, 0.0f}, {0, 0, 1024, 1376, 512, 1.0f}, {1, 0, 1024, 1376, 512, 0.0f},
        {0, 0, 1024, 512, 1376, 1.0f}, {1, 0, 1376, 512, 1024, 1.0f}, {0, 1, 64, 4100, 300, -0.7f},
        {0, 1, 1024, 16, 512, 0.0f},   {1, 0, 16, 512, 1024, 1.0f},   {0, 0, 1024, 512, 16, 0.0f},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof c / sizeof *c; i++)
        bad += check(tn_sgemm, c[i].ta, c[i].tb, c[i].M, c[i].N, c[i].K, 1.0f, c[i].beta, i % 2 ? 3 : 0, 61);
    CHECKF(bad == 0, "%d bad elements", bad);
}

/* Called from inside a parallel region, each thread on its own problem (as
 * the attention code does per head): runs in the calling thread. */
TEST(inside_parallel_region) {
    enum { P = 8, M = 97, N = 130, K = 77 };
    float *A = malloc(sizeof(float) * P * M * K), *B = malloc(sizeof(float) * P * N * K);
    float *C = malloc(sizeof(float) * P * M * N), *R = malloc(sizeof(float) * P * M * N);
    fill(A, (size_t)P * M * K, 3);
    fill(B, (size_t)P * N * K, 4);
    int threads = 0;
#pragma omp parallel for schedule(static, 1) num_threads(2) reduction(max : threads)
    for (int p = 0; p < P; p++) {
        threads = omp_get_num_threads();
        tn_sgemm(0, 1, M, N, K, 1.0f, A + (size_t)p * M * K, K, B + (size_t)p * N * K, K, 0.0f,
                 C + (size_t)p * M * N, N);
    }
    for (int p = 0; p < P; p++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A + (size_t)p * M * K, K,
                    B + (size_t)p * N * K, K, 0.0f, R + (size_t)p * M * N, N);
    double worst = 0.0;
    for (size_t i = 0; i < (size_t)P * M * N; i++) worst = fmax(worst, fabs(C[i] - R[i]));
    CHECKF(worst <= 1e-4, "max |C - cblas| = %g (%d threads)", worst, threads);
    free(A);
    free(B);
    free(C);
    free(R);
}

/* bf16 mode: every case of odd_sizes_all_cases and padded_strides, odd K
 * across the k slices, the model's shapes on two threads. */
TEST(bf16_all_cases) {
    tn_gemm_set_bf16(1);
    int on = tn_gemm_bf16();
    tn_gemm_set_bf16(0);
    if (!on) SKIP("this build has no AVX512_BF16: bf16 mode is off");
    CHECK(!tn_gemm_bf16());
    static const int shapes[][3] = {
        {1, 1, 1},     {1, 7, 13},    {7, 1, 31},    {13, 33, 1},   {31, 13, 7},   {33, 31, 33},
        {14, 32, 16},  {15, 33, 17},  {97, 7, 97},   {7, 97, 255},  {255, 33, 13}, {13, 257, 31},
        {29, 65, 257}, {257, 31, 33}, {97, 97, 97},  {1, 1000, 7},  {1000, 1, 13}, {28, 64, 600},
        {15, 47, 577}, {30, 33, 1153}, {3, 17, 2},   {17, 3, 63},
    };
    int bad = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 4; t++)
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 3; b++)
                    bad += check_mode(s % 2 ? tn_sgemm : tn_sgemm_packed, 1, t >> 1, t & 1, shapes[s][0],
                                      shapes[s][1], shapes[s][2], ALPHAS[a], BETAS[b], (int)(s % 3) * 5, 1);
    for (int t = 0; t < 4; t++) bad += check_mode(tn_sgemm, 1, t >> 1, t & 1, 61, 75, 301, 0.5f, -0.7f, 17, 1);
    static const struct { int ta, tb, M, N, K; float beta; } c[] = {
        {0, 1, 1024, 1376, 512, 0.0f}, {0, 0, 1024, 512, 1377, 1.0f}, {1, 0, 1376, 512, 1024, 0.0f},
        {1, 1, 300, 700, 255, -0.7f},  {0, 1, 1024, 16, 512, 0.0f},   {1, 0, 16, 512, 1024, 1.0f},
        {0, 0, 1024, 512, 16, 0.0f},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++)
        bad += check_mode(tn_sgemm, 1, c[i].ta, c[i].tb, c[i].M, c[i].N, c[i].K, 1.0f, c[i].beta, i % 2 ? 3 : 0, 61);
    CHECKF(bad == 0, "%d bad elements", bad);
    CHECK(!tn_gemm_bf16());
}

/* bf16 inside a parallel region: each thread's product in its thread. */
TEST(bf16_inside_parallel_region) {
    tn_gemm_set_bf16(1);
    if (!tn_gemm_bf16()) SKIP("this build has no AVX512_BF16: bf16 mode is off");
    enum { P = 6, M = 97, N = 130, K = 77 };
    float *A = malloc(sizeof(float) * P * M * K), *B = malloc(sizeof(float) * P * N * K);
    float *C = malloc(sizeof(float) * P * M * N);
    fill(A, (size_t)P * M * K, 5);
    fill(B, (size_t)P * N * K, 6);
#pragma omp parallel for schedule(static, 1) num_threads(2)
    for (int p = 0; p < P; p++)
        tn_sgemm(1, 0, M, N, K, 1.0f, A + (size_t)p * M * K, M, B + (size_t)p * N * K, N, 0.0f,
                 C + (size_t)p * M * N, N);
    tn_gemm_set_bf16(0);
    double worst = 0.0; /* relative to sum_k |a||b| */
    for (int p = 0; p < P; p++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double ref = 0.0, bound = 1e-30;
                for (int k = 0; k < K; k++) {
                    double a = bf16r(A[(size_t)p * M * K + (size_t)k * M + i]);
                    double b = bf16r(B[(size_t)p * N * K + (size_t)k * N + j]);
                    ref += a * b;
                    bound += fabs(a * b);
                }
                worst = fmax(worst, fabs(C[(size_t)p * M * N + (size_t)i * N + j] - ref) / bound);
            }
    CHECKF(worst <= 1e-5, "max |C - ref| / sum|ab| = %g", worst);
    free(A);
    free(B);
    free(C);
}

/* The switch: bf16 results differ from fp32 ones (but boundedly), and
 * turning it off gives the fp32 results back bit for bit. */
TEST(bf16_switch) {
    enum { M = 200, N = 300, K = 257 };
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * N * K);
    float *C0 = malloc(sizeof(float) * M * N), *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
    fill(A, (size_t)M * K, 8);
    fill(B, (size_t)N * K, 9);
    CHECK(!tn_gemm_bf16()); /* the default */
    tn_sgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C0, N);
    tn_gemm_set_bf16(1);
    int on = tn_gemm_bf16();
    tn_sgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C1, N);
    tn_gemm_set_bf16(0);
    CHECK(!tn_gemm_bf16());
    tn_sgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C2, N);
    CHECK(memcmp(C0, C2, sizeof(float) * M * N) == 0);
    double worst = 0.0, diff = 0.0;
    for (size_t i = 0; i < (size_t)M * N; i++) {
        diff = fmax(diff, fabs(C1[i] - C0[i]));
        worst = fmax(worst, fabs(C1[i] - C0[i]) / K); /* |a|, |b| <= 1 */
    }
    if (on) {
        CHECKF(diff > 0.0, "bf16 mode gave the fp32 result");
        CHECKF(worst <= 1.0 / 128, "max |bf16 - fp32| / K = %g", worst);
    } else {
        CHECK(memcmp(C0, C1, sizeof(float) * M * N) == 0);
    }
    free(A);
    free(B);
    free(C0);
    free(C1);
    free(C2);
}

int main(void) {
    RUN(odd_sizes_all_cases);
    RUN(padded_strides);
    RUN(degenerate);
    RUN(model_shapes);
    RUN(inside_parallel_region);
    RUN(bf16_all_cases);
    RUN(bf16_inside_parallel_region);
    RUN(bf16_switch);
    return tn_test_summary("gemm");
}
