/* cmd_bench.c - `tuna bench`: training / evaluation throughput of the engine
 * on the benchmark models with random weights, and the machine's sgemm peak.
 *
 *   tuna bench train --config NAME --batch B --seq T --steps N [--lora R] [--eval-only] [--bf16] [--json]
 *   tuna bench sgemm [--shape M,N,K[,op] | --model-shapes] [--bf16] [--json]
 *
 * `bench train` times N steps after one untimed warm-up step. A step is what
 * the trainer does: zero the gradients, forward with labels, backward, clip
 * the global norm to 1, AdamW (full fine-tuning, or the LoRA adapter alone
 * with the base frozen). --eval-only times forward + loss only.
 * The JSON is {"tokens_per_s", "peak_rss_mb", "gflops"}; gflops is the model
 * FLOP rate: per token 6 N_mm + 6 L T D for training (N_mm = weights used in
 * matmuls, the head included, the embedding lookup not; 6 L T D is causal
 * attention: QK^T and PV over T/2 keys on average, forward + 2x backward),
 * 2 N_mm + 2 L T D for evaluation. LoRA counts like full training (the
 * PyTorch reference script reports the same formula).
 * `bench sgemm` times OpenBLAS's cblas_sgemm ("sgemm_gflops", the machine's
 * rate as the linked BLAS sees it) and our tn_sgemm ("tn_sgemm_gflops") on
 * the same products, alternating, best of 3 rounds each: by default the best
 * over a few square and transformer shapes, with --shape one product (op:
 * nn, nt, tn or tt, row-major as cblas), with --model-shapes each of the
 * training products of stories42M and smollm135M at batch 4 x seq 256.
 * --bf16 runs the matmuls in tn_sgemm's bf16 mode (gemm.h: bf16 inputs, fp32
 * accumulation): `bench train` for the whole run; `bench sgemm` times the
 * fp32 and the bf16 tn_sgemm alternating, "tn_sgemm_gflops" is then the bf16
 * one and "tn_sgemm_fp32_gflops" the fp32 one beside it. Every JSON object
 * ends with "bf16": true or false. Without AVX512_BF16 in the build, --bf16
 * is an error.
 * bench/run calls this next to bench/train_bench.py; see docs/performance.md. */
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/num.h"
#include "cli/commands.h"
#include "model/lora.h"
#include "model/model.h"
#include "nn/gemm.h"
#include "train/random_model.h"
#include "train/step.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct {
    const char *name;
    int dim, layers, heads, kv_heads, hidden, vocab, tied;
} bench_cfg;

static const bench_cfg CONFIGS[] = {
    {"stories15M", 288, 6, 6, 6, 768, 32000, 0},
    {"stories42M", 512, 8, 8, 8, 1376, 32000, 0},
    {"smollm135M", 576, 30, 9, 3, 1536, 49152, 1},
};

static void usage(FILE *f) {
    fprintf(f, "usage: tuna bench train --config NAME --batch B --seq T --steps N [--lora R] [--eval-only] [--bf16] [--json]\n"
               "       tuna bench sgemm [--shape M,N,K[,op] | --model-shapes] [--bf16] [--json]\n\n"
               "train: tokens/s of training steps (or forward + loss with --eval-only) on a\n"
               "       random-weight model; NAME is stories15M, stories42M or smollm135M.\n"
               "sgemm: fp32 matmul rate (GFLOP/s) of the linked BLAS and of tuna's own\n"
               "       kernel, on one product (op = nn, nt, tn, tt) or the model's.\n"
               "--bf16: matmuls with bf16 inputs and fp32 accumulation (AVX512_BF16);\n"
               "       sgemm then times tuna's fp32 and bf16 kernels side by side.\n");
}

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

typedef struct {
    int M, N, K, ta, tb;
} gemm_shape;

/* Training products at batch 4 x seq 256 = 1024 rows: forward y = x W^T
 * (nt), backward dx = dy W (nn) and dW = dy^T x (tn), for stories42M (dim
 * 512, hidden 1376, vocab 32000) and smollm135M (576, 1536, 49152), and the
 * rank-16 LoRA products. */
static const gemm_shape MODEL_SHAPES[] = {
    {1024, 512, 512, 0, 1},  {1024, 1376, 512, 0, 1}, {1024, 32000, 512, 0, 1}, {1024, 512, 1376, 0, 0},
    {1024, 512, 32000, 0, 0}, {512, 512, 1024, 1, 0},  {1376, 512, 1024, 1, 0},   {32000, 512, 1024, 1, 0},
    {1024, 576, 576, 0, 1},  {1024, 1536, 576, 0, 1}, {1024, 49152, 576, 0, 1}, {1024, 576, 1536, 0, 0},
    {1024, 576, 49152, 0, 0}, {576, 576, 1024, 1, 0},  {1536, 576, 1024, 1, 0},   {49152, 576, 1024, 1, 0},
    {1024, 16, 512, 0, 1},   {16, 512, 1024, 1, 0},   {1024, 512, 16, 0, 0},
};

/* who: 0 OpenBLAS, 1 tn_sgemm fp32, 2 tn_sgemm in bf16 mode. */
static void run_gemm(int who, const gemm_shape *s, const float *a, const float *b, float *c) {
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    if (who) {
        tn_gemm_set_bf16(who == 2);
        tn_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, a, lda, b, ldb, 0.0f, c, s->N);
        tn_gemm_set_bf16(0);
    } else
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, s->M, s->N,
                    s->K, 1.0f, a, lda, b, ldb, 0.0f, c, s->N);
}

/* rate[0] = OpenBLAS, rate[1] = tn_sgemm, rate[2] (nw == 3) = tn_sgemm in
 * bf16 mode, GFLOP/s: 3 rounds of ~0.1 s each, the nw alternating (the
 * machine is shared: all see the same neighbours), best round of each. */
static int time_shape(const gemm_shape *s, int nw, double rate[3]) {
    size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N;
    float *a = malloc(sizeof(float) * na), *b = malloc(sizeof(float) * nb),
          *c = malloc(sizeof(float) * (size_t)s->M * s->N);
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return tn_fail("out of memory");
    }
    for (size_t i = 0; i < na; i++) a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < nb; i++) b[i] = (float)(i % 5) * 0.1f;
    double flop = 2.0 * s->M * s->N * s->K;
    int reps[3];
    for (int w = 0; w < nw; w++) { /* warm-up, and how many calls make 0.1 s */
        double t0 = tn_now();
        run_gemm(w, s, a, b, c);
        double t = tn_now() - t0;
        reps[w] = t >= 0.1 ? 1 : t <= 1e-6 ? 100000 : (int)(0.1 / t) + 1;
        rate[w] = 0.0;
    }
    for (int round = 0; round < 3; round++)
        for (int w = 0; w < nw; w++) {
            double t0 = tn_now();
            for (int r = 0; r < reps[w]; r++) run_gemm(w, s, a, b, c);
            double g = flop * reps[w] / (tn_now() - t0) / 1e9;
            if (g > rate[w]) rate[w] = g;
        }
    free(a);
    free(b);
    free(c);
    return 0;
}

static const char *op_name(const gemm_shape *s) { return s->ta ? (s->tb ? "tt" : "tn") : (s->tb ? "nt" : "nn"); }

/* one: a single --shape, or NULL; model: the MODEL_SHAPES table; bf16:
 * "tn_sgemm" is the bf16 mode, and the fp32 one is timed beside it. */
static int bench_sgemm(const gemm_shape *one, int model, int json, int bf16) {
    /* default: the best of a few square and transformer-shaped products */
    static const gemm_shape dflt[] = {
        {1024, 1024, 1024, 0, 0}, {2048, 2048, 2048, 0, 0}, {1024, 1376, 512, 0, 0}, {1024, 512, 1376, 0, 0}};
    const gemm_shape *list = one ? one : model ? MODEL_SHAPES : dflt;
    size_t n = one ? 1 : model ? sizeof MODEL_SHAPES / sizeof *MODEL_SHAPES : sizeof dflt / sizeof *dflt;
    double best[3] = {0.0, 0.0, 0.0};
    int per_shape = one || model, nw = bf16 ? 3 : 2, t = bf16 ? 2 : 1; /* t: the "tn_sgemm" column */
    char fp32_json[64] = "", bf16_json[32];
    snprintf(bf16_json, sizeof bf16_json, ", \"bf16\": %s", bf16 ? "true" : "false");
    if (json && model) printf("{\"shapes\": [");
    for (size_t i = 0; i < n; i++) {
        const gemm_shape *s = &list[i];
        double r[3];
        if (time_shape(s, nw, r)) return -1;
        for (int w = 0; w < nw; w++)
            if (r[w] > best[w]) best[w] = r[w];
        if (bf16) snprintf(fp32_json, sizeof fp32_json, ", \"tn_sgemm_fp32_gflops\": %.1f", r[1]);
        if (json && model)
            printf("%s\n {\"M\": %d, \"N\": %d, \"K\": %d, \"op\": \"%s\", \"sgemm_gflops\": %.1f, "
                   "\"tn_sgemm_gflops\": %.1f%s}",
                   i ? "," : "", s->M, s->N, s->K, op_name(s), r[0], r[t], fp32_json);
        else if (!json && per_shape && bf16)
            printf("%-2s M=%-5d N=%-5d K=%-5d  OpenBLAS %6.1f  tn_sgemm fp32 %6.1f  bf16 %6.1f GFLOP/s  (x%.2f)\n",
                   op_name(s), s->M, s->N, s->K, r[0], r[1], r[2], r[2] / r[1]);
        else if (!json && per_shape)
            printf("%-2s M=%-5d N=%-5d K=%-5d  OpenBLAS %6.1f  tn_sgemm %6.1f GFLOP/s  (x%.2f)\n", op_name(s), s->M,
                   s->N, s->K, r[0], r[1], r[1] / r[0]);
        fflush(stdout);
    }
    if (bf16) snprintf(fp32_json, sizeof fp32_json, ", \"tn_sgemm_fp32_gflops\": %.1f", best[1]);
    if (json && model)
        printf("],\n \"sgemm_gflops\": %.1f, \"tn_sgemm_gflops\": %.1f%s%s}\n", best[0], best[t], fp32_json,
               bf16_json);
    else if (json)
        printf("{\"sgemm_gflops\": %.1f, \"tn_sgemm_gflops\": %.1f%s%s}\n", best[0], best[t], fp32_json, bf16_json);
    else if (!per_shape && bf16)
        printf("sgemm: OpenBLAS %.1f GFLOP/s, tn_sgemm fp32 %.1f GFLOP/s, bf16 %.1f GFLOP/s\n", best[0], best[1],
               best[2]);
    else if (!per_shape)
        printf("sgemm: OpenBLAS %.1f GFLOP/s, tn_sgemm %.1f GFLOP/s\n", best[0], best[1]);
    return 0;
}

static int bench_train(const bench_cfg *bc, int B, int T, int steps, int lora_r, int eval_only, int json) {
    const tn_model_shape shape = {.model_type = "llama", .vocab = bc->vocab, .dim = bc->dim, .layers = bc->layers,
                                  .heads = bc->heads, .kv_heads = bc->kv_heads, .hidden = bc->hidden,
                                  .positions = T > 2048 ? T : 2048, .tied = bc->tied};
    tn_model m;
    int rc = 0;
    if (tn_model_random(&m, &shape, bc->name, 1234)) return -1;

    tn_lora lo;
    tn_stepper trainer_step = {0};
    int have_lora = 0;
    if (lora_r > 0) {
        const char **names;
        int nt = tn_lora_default_targets(&m, &names);
        rc = tn_lora_attach(&m, &lo, lora_r, 2.0f * (float)lora_r, 0.0f, names, nt, 7);
        if (rc) goto out;
        have_lora = 1;
        m.frozen = 1;
        lo.training = !eval_only;
        /* B = 0 would make the adapter a no-op; give it small values */
        for (size_t i = 0; i < lo.numel; i++) lo.w[i] = lo.w[i] != 0.0f ? lo.w[i] : 1e-3f;
    }
    const float lr = have_lora ? 1e-4f : 1e-5f;
    if (!eval_only &&
        (rc = tn_stepper_init(&trainer_step, &m, have_lora ? &lo : NULL, lr, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0)))
        goto out;
    size_t N = (size_t)B * T;
    int32_t *ids = malloc(sizeof(int32_t) * N);
    uint64_t st = 99;
    for (size_t i = 0; i < N; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((st >> 33) % (uint64_t)bc->vocab);
    }
    double t0 = 0.0;
    float loss = 0.0f;
    for (int s = 0; s <= steps && rc == 0; s++) {
        if (s == 1) t0 = tn_now(); /* step 0 warms up (allocations, page faults) */
        if (eval_only) {
            rc = tn_model_forward(&m, ids, ids, B, T, &loss);
            continue;
        }
        rc = tn_stepper_step(&trainer_step, ids, ids, B, T, lr, &loss); /* the trainer's step, clipping at 1 */
    }
    double dt = tn_now() - t0;
    free(ids);
    if (rc == 0) {
        const tn_config *c = &m.cfg;
        double D = c->hidden_size, L = c->n_layers, qd = (double)c->n_heads * c->head_dim,
               kvd = (double)c->n_kv_heads * c->head_dim, Im = c->intermediate_size;
        double n_mm = L * (D * qd * 2 + D * kvd * 2 + 3 * D * Im) + D * (double)c->vocab_size;
        double per_tok = eval_only ? 2 * n_mm + 2 * L * T * qd : 6 * n_mm + 6 * L * T * qd;
        double tps = (double)N * steps / dt;
        if (json)
            printf("{\"tokens_per_s\": %.1f, \"peak_rss_mb\": %.1f, \"gflops\": %.2f, \"loss\": %.4f, \"bf16\": %s}\n",
                   tps, peak_rss_mb(), per_tok * tps / 1e9, loss, tn_gemm_bf16() ? "true" : "false");
        else
            printf("%s B=%d T=%d %s%s: %.1f tokens/s, %.2f GFLOP/s, peak RSS %.1f MB, loss %.4f\n", bc->name, B, T,
                   eval_only ? "eval" : have_lora ? "lora" : "full", tn_gemm_bf16() ? " bf16" : "", tps,
                   per_tok * tps / 1e9, peak_rss_mb(), loss);
    }
out:
    tn_stepper_free(&trainer_step);
    if (have_lora) {
        tn_lora_detach(&m, &lo);
        tn_lora_free(&lo);
    }
    tn_model_free(&m);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || cli_wants_help(argc, argv)) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *what = argv[1], *name = NULL;
    int B = 4, T = 256, steps = 5, lora_r = 0, eval_only = 0, json = 0, model_shapes = 0, have_shape = 0, bf16 = 0;
    gemm_shape shape = {0, 0, 0, 0, 0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int *dst = !strcmp(a, "--batch") ? &B : !strcmp(a, "--seq") ? &T : !strcmp(a, "--steps") ? &steps
                 : !strcmp(a, "--lora") ? &lora_r : NULL;
        if (dst && i + 1 < argc) {
            if (tn_parse_int(a, argv[++i], 1, 1 << 20, dst)) return cli_usage_fail("bench");
        } else if (!strcmp(a, "--config") && i + 1 < argc) {
            name = argv[++i];
        } else if (!strcmp(a, "--shape") && i + 1 < argc) {
            /* M,N,K or M,N,K,op: split at the commas, then each dimension through the checked parser
             * (sscanf's %d is undefined on overflow) */
            const char *p = argv[++i];
            char f[4][32];
            int nf = 0, ok = 1;
            for (;;) {
                size_t len = strcspn(p, ",");
                if (nf == 4 || len >= sizeof f[0]) {
                    ok = 0;
                    break;
                }
                memcpy(f[nf], p, len);
                f[nf++][len] = 0;
                if (!p[len]) break;
                p += len + 1;
            }
            if (!ok || (nf != 3 && !(nf == 4 && strlen(f[3]) == 2 && strchr("nt", f[3][0]) && strchr("nt", f[3][1])))) {
                fprintf(stderr, "tuna bench: --shape: \"%s\" is not M,N,K or M,N,K,op with op nn, nt, tn or tt\n",
                        argv[i]);
                return 2;
            }
            if (tn_parse_int("--shape M", f[0], 1, 1 << 20, &shape.M) || tn_parse_int("--shape N", f[1], 1, 1 << 20, &shape.N) ||
                tn_parse_int("--shape K", f[2], 1, 1 << 20, &shape.K))
                return cli_usage_fail("bench");
            shape.ta = nf == 4 && f[3][0] == 't';
            shape.tb = nf == 4 && f[3][1] == 't';
            have_shape = 1;
        } else if (!strcmp(a, "--model-shapes")) {
            model_shapes = 1;
        } else if (!strcmp(a, "--eval-only")) {
            eval_only = 1;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--bf16")) {
            bf16 = 1;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (bf16 && (tn_gemm_set_bf16(1), !tn_gemm_bf16())) {
        fprintf(stderr, "tuna bench: --bf16: this build has no AVX512_BF16 (see docs/performance.md)\n");
        return 2;
    }
    if (!strcmp(what, "sgemm")) {
        tn_gemm_set_bf16(0); /* run_gemm sets it per call */
        return bench_sgemm(have_shape ? &shape : NULL, model_shapes, json, bf16) ? cli_fail("bench") : 0;
    }
    if (strcmp(what, "train") != 0) {
        usage(stderr);
        return 2;
    }
    const bench_cfg *bc = NULL;
    for (size_t i = 0; name && i < sizeof CONFIGS / sizeof *CONFIGS; i++)
        if (!strcmp(CONFIGS[i].name, name)) bc = &CONFIGS[i];
    if (!bc) {
        fprintf(stderr, "tuna bench: --config must be stories15M, stories42M or smollm135M\n");
        return 2;
    }
    return bench_train(bc, B, T, steps, lora_r, eval_only, json) ? cli_fail("bench") : 0;
}
