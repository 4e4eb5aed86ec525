/* test_cpu_dispatch.c - which matrix-product kernel runs where (nn/cpu.h).
 *
 * The AVX-512 and AVX512_BF16 kernels are compiled into every x86-64 build
 * and chosen at run time. Checked here: the choice for every combination of
 * features; this machine's detection against the kernel's own view
 * (/proc/cpuinfo flags, an independent reader of cpuid and XCR0); and that
 * asking for bf16 on a CPU without AVX512_BF16 gives the fp32 products bit
 * for bit. On a machine without AVX-512 the kernels themselves cannot run:
 * test_gemm covers them where they can. */
#include "harness.h"
#include "base/mem.h"
#include "base/rng.h"
#include "nn/cpu.h"
#include "nn/gemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TEST(pick_for_every_feature_set) {
    for (int bits = 0; bits < 16; bits++) {
        tn_cpu_caps c = {bits & 1, (bits >> 1) & 1, (bits >> 2) & 1, (bits >> 3) & 1};
        if (c.avx512_bf16 && !c.avx512) continue; /* detection never reports this */
        tn_gemm_path fp = tn_gemm_pick(&c, 0), bf = tn_gemm_pick(&c, 1);
        tn_gemm_path want_fp = c.avx512 ? TN_GEMM_AVX512 : TN_GEMM_BLAS;
        CHECKF(fp == want_fp, "caps %x fp32: %s", bits, tn_gemm_path_name(fp));
        /* bf16 only where VDPBF16PS exists (AMX too: it is AMX's fallback);
         * anything else keeps fp32 */
        tn_gemm_path want_bf = !c.avx512_bf16 ? want_fp : c.amx_bf16 ? TN_GEMM_AMX_BF16 : TN_GEMM_AVX512_BF16;
        CHECKF(bf == want_bf, "caps %x bf16: %s", bits, tn_gemm_path_name(bf));
    }
}

/* 1 when /proc/cpuinfo's first "flags" line has the word. */
static int has_flag(const char *flags, const char *word) {
    size_t n = strlen(word);
    for (const char *p = flags; (p = strstr(p, word)) != NULL; p += n)
        if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == 0)) return 1;
    return 0;
}

TEST(detection_agrees_with_the_kernel) {
    /* /proc files report size 0: read until EOF */
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) SKIP("/proc/cpuinfo unreadable");
    size_t cap = 1 << 16, len = 0, got;
    char *info = tn_malloc(cap);
    while ((got = fread(info + len, 1, cap - 1 - len, f)) > 0 && (len += got) < cap - 1) {
    }
    fclose(f);
    info[len] = 0;
    char *flags = strstr(info, "\nflags");
    if (!flags) {
        free(info);
        SKIP("/proc/cpuinfo has no flags line (not x86)");
    }
    char *eol = strchr(flags + 1, '\n');
    if (eol) *eol = 0;
    const tn_cpu_caps *c = tn_cpu();
    int avx512 = has_flag(flags, "avx512f") && has_flag(flags, "avx512bw") && has_flag(flags, "avx512dq") &&
                 has_flag(flags, "avx512vl");
    CHECK(c->avx2_fma == (has_flag(flags, "avx2") && has_flag(flags, "fma")));
    CHECK(c->avx512 == avx512);
    CHECK(c->avx512_bf16 == (avx512 && has_flag(flags, "avx512_bf16")));
    CHECK(c->amx_bf16 == (has_flag(flags, "amx_bf16") && has_flag(flags, "amx_tile")));
    printf("  this CPU: %s; fp32 products: %s\n", tn_cpu_describe(), tn_gemm_path_name(tn_gemm_pick(c, 0)));
    free(info);
}

TEST(bf16_request_without_the_instructions_is_fp32) {
    tn_gemm_set_bf16(1);
    int on = tn_gemm_bf16();
    const char *path = tn_gemm_describe();
    tn_gemm_set_bf16(0);
    CHECK(on == tn_cpu()->avx512_bf16);
    if (on) SKIP("this CPU has AVX512_BF16 (test_gemm checks the bf16 kernel)");
    CHECKF(strncmp(path, "fp32", 4) == 0, "%s", path);
    enum { M = 70, N = 50, K = 300 };
    float *A = tn_malloc(sizeof(float) * M * K), *B = tn_malloc(sizeof(float) * K * N);
    float *C0 = tn_calloc(M * N, sizeof(float)), *C1 = tn_calloc(M * N, sizeof(float));
    uint64_t s = 1;
    for (int i = 0; i < M * K; i++) A[i] = (float)tn_unit_double(tn_splitmix64(&s)) - 0.5f;
    for (int i = 0; i < K * N; i++) B[i] = (float)tn_unit_double(tn_splitmix64(&s)) - 0.5f;
    tn_sgemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C0, N);
    tn_gemm_set_bf16(1);
    tn_sgemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C1, N);
    tn_gemm_set_bf16(0);
    CHECK(memcmp(C0, C1, sizeof(float) * M * N) == 0);
    free(A);
    free(B);
    free(C0);
    free(C1);
}

int main(void) {
    RUN(pick_for_every_feature_set);
    RUN(detection_agrees_with_the_kernel);
    RUN(bf16_request_without_the_instructions_is_fp32);
    return tn_test_summary("test_cpu_dispatch");
}
