/* gemm_amx.h - bf16 products on AMX tiles (gemm_amx.c; internal to nn).
 * tn_sgemm reaches them in bf16 mode on CPUs with AMX-BF16 (nn/cpu.h), and
 * only after tn_amx_ready() said yes. */
#ifndef TN_NN_GEMM_AMX_H
#define TN_NN_GEMM_AMX_H

/* 1 when AMX may be used: the OS granted the tile state and the self-check
 * against a double-precision product passed (asked once per process; a
 * failure is logged and answers 0 from then on). Call only where cpu.h
 * reports amx_bf16. */
int tn_amx_ready(void);

/* bf16 mode's product (gemm.h) on AMX; M, N, K > 0, after tn_amx_ready(). */
void tn_amx_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);

#endif
