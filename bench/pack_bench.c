/* pack_bench.c - how fast tn_sgemm's packers read operands that are in no cache.
 *
 * `make pack-bench` builds this twice, with the packers' software prefetch
 * (src/nn/gemm.c, TN_GEMM_PF_K / TN_GEMM_PF_ROWS) and without, and runs both.
 * Each case packs a whole 49152 x 576 operand (113 MB, the shape of
 * smollm135M's tied head weight, too big for any cache) once per repeat, the
 * way gemm_part walks it, and prints the best of 4 repeats in Gfloat/s:
 *
 *   b_t  op(B) = W^T, W [N, K]   forward y = x W^T (every nn.Linear)
 *   b_n  op(B) = W,   W [K, N]   backward dx = dy W
 *   a_n  op(A) = X,   X [M, K]   forward activations
 *   a_t  op(A) = Y^T, Y [K, M]   weight gradient dW = dy^T x
 *
 * It includes gemm.c to reach the static packers; it is a measurement, not a
 * test (tests/test_gemm.c checks the products).
 */
#include "nn/gemm.c"

#include <stdio.h>
#include <time.h>

#ifndef __AVX512F__
int main(void) {
    puts("pack_bench: needs AVX-512 (the packed kernel is not built)");
    return 0;
}
#else
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

enum { ROWS = 49152, COLS = 576 };

static void pack_all(int which, const float *X, float *out) {
    if (which == 0) { /* b_t: N = ROWS, K = COLS, NC-wide blocks */
        job j = {0, 1, COLS, NULL, X, NULL, 0, COLS, 0, 1, 0};
        for (int jc = 0; jc < ROWS; jc += NC) pack_b(&j, jc, imin(NC, ROWS - jc), 0, COLS, out);
    } else if (which == 1) { /* b_n: K = ROWS in KC slices, N = COLS */
        job j = {0, 0, ROWS, NULL, X, NULL, 0, COLS, 0, 1, 0};
        for (int pc = 0; pc < ROWS; pc += KC) pack_b(&j, 0, COLS, pc, imin(KC, ROWS - pc), out);
    } else if (which == 2) { /* a_n: M = ROWS in MC blocks, K = COLS */
        job j = {0, 0, COLS, X, NULL, NULL, COLS, 0, 0, 1, 0};
        for (int ic = 0; ic < ROWS; ic += MC) pack_a(&j, ic, imin(MC, ROWS - ic), 0, COLS, out);
    } else { /* a_t: K = ROWS in KC slices, M = COLS in MC blocks */
        job j = {1, 0, ROWS, X, NULL, NULL, COLS, 0, 0, 1, 0};
        for (int pc = 0; pc < ROWS; pc += KC)
            for (int ic = 0; ic < COLS; ic += MC) pack_a(&j, ic, imin(MC, COLS - ic), pc, imin(KC, ROWS - pc), out);
    }
}

int main(void) {
    static const char *names[] = {"b_t (W^T, N=49152 K=576)", "b_n (W, K=49152 N=576)", "a_n (X, M=49152 K=576)",
                                  "a_t (dy^T, K=49152 M=576)"};
    size_t n = (size_t)ROWS * COLS;
    float *X = aligned_alloc(64, n * sizeof(float));
    float *out = aligned_alloc(64, (size_t)64 << 20); /* > the largest block: NC x COLS, KC x COLS */
    if (!X || !out) {
        fputs("pack_bench: out of memory\n", stderr);
        return 1;
    }
    for (size_t i = 0; i < n; i++) X[i] = (float)(i % 7);
    printf("pack_bench: prefetch PF_K=%d PF_ROWS=%d\n", PF_K, PF_ROWS);
    for (int c = 0; c < 4; c++) {
        double best = 1e30;
        for (int r = 0; r < 4; r++) {
            double t = now();
            pack_all(c, X, out);
            t = now() - t;
            if (t < best) best = t;
        }
        printf("  %-28s %5.2f Gfloat/s\n", names[c], (double)n / best / 1e9);
    }
    free(X);
    free(out);
    return 0;
}
#endif
