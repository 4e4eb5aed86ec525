/* gemm.h - fp32 matrix product with cblas_sgemm's row-major semantics.
 *
 *   C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C
 *
 * op(X) is X^T when its flag is nonzero. lda, ldb, ldc are the row strides of
 * the matrices as stored (A is M x K, or K x M when transposed; likewise B).
 * beta == 0 does not read C. K == 0 (or alpha == 0) gives beta * C; M or
 * N == 0 does nothing. Called outside an OpenMP parallel region it uses
 * omp_get_max_threads() threads; inside one it runs in the calling thread.
 * See gemm.c for the kernel and when it hands a product to OpenBLAS. */
#ifndef TN_NN_GEMM_H
#define TN_NN_GEMM_H

#include <stddef.h>
#include <stdint.h>

void tn_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc);

/* tn_sgemm that never hands small products to OpenBLAS, so that tests reach
 * the packed kernel's edge tiles with tiny matrices. Same as tn_sgemm
 * without AVX-512. */
void tn_sgemm_packed(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc);

/* bf16 mode (mixed precision), process-wide, off by default. When on, every
 * tn_sgemm / tn_sgemm_packed product (small ones included: none goes to
 * OpenBLAS) rounds its INPUTS op(A) and op(B) to bf16 (round to nearest
 * even) and multiplies them with VDPBF16PS (or AMX tiles where the CPU has
 * them and gemm_amx.c's self-check passed), accumulating in fp32; alpha,
 * beta and C stay fp32, as do the callers' weights, gradients and optimizer.
 * Needs a CPU with AVX512_BF16 (Zen 4/5, Sapphire Rapids and later),
 * found at run time (nn/cpu.h: every x86-64 build carries the kernel):
 * elsewhere the switch is accepted and ignored (fp32 products), and
 * tn_gemm_bf16() returns 0. Set it between products, not during one
 * (each product reads it once). Turning it off gives the fp32 path back
 * bit for bit. */
void tn_gemm_set_bf16(int on);
/* 1 when products run in bf16 (switch on and the CPU supports it). */
int tn_gemm_bf16(void);
/* The kernel products get now, in words ("fp32 (OpenBLAS)", "bf16
 * (AVX512_BF16)", ...: cpu.h's tn_gemm_path_name). */
const char *tn_gemm_describe(void);
/* A command's --bf16: turns bf16 mode on and logs (info, naming `who`)
 * what products will run: bf16 where the CPU has AVX512_BF16, else fp32
 * (a frozen model's bf16 weights are still read as stored). Returns
 * tn_gemm_bf16(). */
int tn_gemm_request_bf16(const char *who);

/* C[M,N] = alpha * A[M,K] @ op(B)[K,N] + beta * C with B a bf16 matrix
 * (N x K when trans_b, else K x N; row stride ldb, 2-byte aligned): a frozen
 * weight kept as stored. The same values and K order as tn_sgemm on B
 * expanded to fp32 (gemm_bf16w.c); bf16 mode applies as to tn_sgemm. */
void tn_sgemm_bf16w(int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const uint16_t *B,
                    int ldb, float beta, float *C, int ldc);
/* dst[i] = the fp32 value of bf16 src[i] (exact), i < n. */
void tn_bf16_expand(float *dst, const uint16_t *src, size_t n);

#endif
