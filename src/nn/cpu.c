/* cpu.c - feature detection and the kernel choice (cpu.h). */
#include "nn/cpu.h"

#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>

static unsigned long long xcr0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static tn_cpu_caps detect(void) {
    tn_cpu_caps c = {0};
    unsigned a, b, cx, d;
    if (!__get_cpuid(1, &a, &b, &cx, &d) || !(cx & bit_OSXSAVE)) return c;
    unsigned long long x = xcr0();
    int ymm = (x & 0x6) == 0x6, zmm = ymm && (x & 0xe0) == 0xe0, tiles = (x & 0x60000) == 0x60000;
    int fma = (cx & bit_FMA) != 0;
    unsigned max = __get_cpuid_max(0, NULL);
    if (max < 7) return c;
    __cpuid_count(7, 0, a, b, cx, d);
    c.avx2_fma = ymm && fma && (b & bit_AVX2);
    c.avx512 = zmm && (b & bit_AVX512F) && (b & bit_AVX512DQ) && (b & bit_AVX512BW) && (b & bit_AVX512VL);
    c.amx_bf16 = tiles && (d & (1u << 24)) && (d & (1u << 22)); /* AMX-TILE, AMX-BF16 */
    unsigned sub = a;                                            /* leaf 7's highest subleaf */
    if (sub >= 1) {
        __cpuid_count(7, 1, a, b, cx, d);
        c.avx512_bf16 = c.avx512 && (a & (1u << 5));
    }
    return c;
}
#else
static tn_cpu_caps detect(void) {
    tn_cpu_caps c = {0};
    return c;
}
#endif

const tn_cpu_caps *tn_cpu(void) {
    static tn_cpu_caps caps;
    static int done; /* detection is idempotent: a race only repeats it */
    if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        tn_cpu_caps c = detect();
        caps = c;
        __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    }
    return &caps;
}

tn_gemm_path tn_gemm_pick(const tn_cpu_caps *c, int bf16) {
    if (bf16 && c->avx512_bf16) return c->amx_bf16 ? TN_GEMM_AMX_BF16 : TN_GEMM_AVX512_BF16;
    return c->avx512 ? TN_GEMM_AVX512 : TN_GEMM_BLAS;
}

const char *tn_gemm_path_name(tn_gemm_path p) {
    switch (p) {
    case TN_GEMM_BLAS: return "fp32 (OpenBLAS)";
    case TN_GEMM_AVX512: return "fp32 (AVX-512)";
    case TN_GEMM_AVX512_BF16: return "bf16 (AVX512_BF16)";
    case TN_GEMM_AMX_BF16: return "bf16 (AMX)";
    }
    return "?";
}

const char *tn_cpu_describe(void) {
    static char buf[96];
    const tn_cpu_caps *c = tn_cpu();
    snprintf(buf, sizeof buf, "%s%s%s%s", c->avx2_fma ? "avx2+fma " : "", c->avx512 ? "avx512 " : "",
             c->avx512_bf16 ? "avx512_bf16 " : "", c->amx_bf16 ? "amx_bf16 " : "");
    size_t n = strlen(buf);
    if (n) buf[n - 1] = 0;
    else snprintf(buf, sizeof buf, "none");
    return buf;
}
