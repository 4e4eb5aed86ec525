/* cpu.h - what this CPU can run, asked once (cpuid + xgetbv), and which
 * matrix-product kernel that picks.
 *
 * Every x86-64 build compiles the AVX-512 kernels (gemm.c, with GCC target
 * options), so one binary runs the fastest path each machine has: a feature
 * counts only when the CPU has it AND the OS saves its register state
 * (XCR0), and AMX also needs the OS's permission for the tile data
 * (arch_prctl ARCH_REQ_XCOMP_PERM), asked on first use. */
#ifndef TN_NN_CPU_H
#define TN_NN_CPU_H

typedef struct {
    int avx2_fma;    /* AVX2 + FMA */
    int avx512;      /* AVX-512 F, BW, DQ, VL with ZMM state enabled */
    int avx512_bf16; /* ... and AVX512_BF16 (VDPBF16PS) */
    int amx_bf16;    /* AMX-TILE + AMX-BF16 with tile state enabled in XCR0 */
} tn_cpu_caps;

/* This machine's, detected on the first call. */
const tn_cpu_caps *tn_cpu(void);

typedef enum {
    TN_GEMM_BLAS,        /* fp32, OpenBLAS (whatever kernel it picks) */
    TN_GEMM_AVX512,      /* fp32, the packed AVX-512 kernel */
    TN_GEMM_AVX512_BF16, /* bf16 inputs, VDPBF16PS, fp32 accumulation */
    TN_GEMM_AMX_BF16,    /* bf16 inputs, AMX tiles (TDPBF16PS), fp32 accumulation;
                          * used only after its self-check (gemm_amx.h) */
} tn_gemm_path;

/* The path for a product on a CPU with `c`: bf16 says whether bf16 inputs
 * were asked for (tn_gemm_set_bf16). bf16 without AVX512_BF16 is fp32; AMX
 * is picked only with AVX512_BF16 too (its fallback). */
tn_gemm_path tn_gemm_pick(const tn_cpu_caps *c, int bf16);
const char *tn_gemm_path_name(tn_gemm_path p);

/* A line naming the CPU's features that matter here ("avx2+fma avx512
 * avx512_bf16 amx_bf16", the ones present), for logs and benchmarks. */
const char *tn_cpu_describe(void);

#endif
