/* cmd_bench.c - `tuna bench`: training / evaluation throughput of the engine
 * on the benchmark models with random weights, and the machine's sgemm peak.
 *
 *   tuna bench train --config NAME --batch B --seq T --steps N [--lora R] [--eval-only] [--json]
 *   tuna bench sgemm [--json]
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
 * bench/run calls this next to bench/train_bench.py; see docs/performance.md. */
#include "base/err.h"
#include "base/log.h"
#include "cli/commands.h"
#include "model/lora.h"
#include "model/model.h"
#include "train/optim.h"

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
    fprintf(f, "usage: tuna bench train --config NAME --batch B --seq T --steps N [--lora R] [--eval-only] [--json]\n"
               "       tuna bench sgemm [--json]\n\n"
               "train: tokens/s of training steps (or forward + loss with --eval-only) on a\n"
               "       random-weight model; NAME is stories15M, stories42M or smollm135M.\n"
               "sgemm: the machine's fp32 matmul rate through the linked BLAS (GFLOP/s).\n");
}

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static int bench_sgemm(int json) {
    /* The best of a few square and transformer-shaped products. */
    static const int shapes[][3] = {{1024, 1024, 1024}, {2048, 2048, 2048}, {1024, 1376, 512}, {1024, 512, 1376}};
    double best = 0.0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *a = malloc(sizeof(float) * (size_t)M * K), *b = malloc(sizeof(float) * (size_t)K * N),
              *c = malloc(sizeof(float) * (size_t)M * N);
        if (!a || !b || !c) return tn_fail("out of memory");
        for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 7) * 0.1f;
        for (size_t i = 0; i < (size_t)K * N; i++) b[i] = (float)(i % 5) * 0.1f;
        double flop = 2.0 * M * N * K;
        int reps = (int)(2e10 / flop) + 1;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
        for (int round = 0; round < 3; round++) {
            double t0 = tn_now();
            for (int r = 0; r < reps; r++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
            double g = flop * reps / (tn_now() - t0) / 1e9;
            if (g > best) best = g;
        }
        free(a);
        free(b);
        free(c);
    }
    if (json)
        printf("{\"sgemm_gflops\": %.1f}\n", best);
    else
        printf("sgemm: %.1f GFLOP/s\n", best);
    return 0;
}

static int bench_train(const bench_cfg *bc, int B, int T, int steps, int lora_r, int eval_only, int json) {
    json_t *j = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b}", "model_type", "llama", "vocab_size",
                          bc->vocab, "hidden_size", bc->dim, "intermediate_size", bc->hidden, "num_hidden_layers",
                          bc->layers, "num_attention_heads", bc->heads, "num_key_value_heads", bc->kv_heads,
                          "max_position_embeddings", T > 2048 ? T : 2048, "tie_word_embeddings", bc->tied);
    tn_config cfg;
    tn_model m;
    int rc = tn_config_from_json(&cfg, j, bc->name);
    json_decref(j);
    if (rc) return -1;
    rc = tn_model_create(&m, &cfg);
    tn_config_free(&cfg);
    if (rc) return -1;
    tn_model_init_random(&m, 1234);

    tn_lora lo;
    tn_adamw opt;
    int have_lora = 0, have_opt = 0;
    float *pw = m.w, *pg = NULL;
    size_t pn = m.numel;
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
    if (!eval_only) {
        if (have_lora) {
            if ((rc = tn_lora_enable_grads(&lo))) goto out;
            tn_model view = m;
            view.params = lo.params;
            view.nparams = lo.nparams;
            view.numel = lo.numel;
            rc = tn_adamw_init(&opt, &view, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f);
            pw = lo.w;
            pg = lo.g;
            pn = lo.numel;
        } else {
            if ((rc = tn_model_enable_grads(&m))) goto out;
            rc = tn_adamw_init(&opt, &m, 1e-5f, 0.9f, 0.999f, 1e-8f, 0.0f);
            pg = m.g;
        }
        if (rc) goto out;
        have_opt = 1;
    }
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
        if (have_lora)
            tn_lora_zero_grads(&lo);
        else
            tn_model_zero_grads(&m);
        rc = tn_model_forward_train(&m, ids, ids, B, T, &loss) || tn_model_backward(&m);
        if (rc) break;
        tn_clip_grad_norm(pg, pn, 1.0);
        tn_adamw_step(&opt, pw, pg, have_lora ? 1e-4f : 1e-5f);
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
            printf("{\"tokens_per_s\": %.1f, \"peak_rss_mb\": %.1f, \"gflops\": %.2f, \"loss\": %.4f}\n", tps,
                   peak_rss_mb(), per_tok * tps / 1e9, loss);
        else
            printf("%s B=%d T=%d %s: %.1f tokens/s, %.2f GFLOP/s, peak RSS %.1f MB, loss %.4f\n", bc->name, B, T,
                   eval_only ? "eval" : have_lora ? "lora" : "full", tps, per_tok * tps / 1e9, peak_rss_mb(), loss);
    }
out:
    if (have_opt) tn_adamw_free(&opt);
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
    int B = 4, T = 256, steps = 5, lora_r = 0, eval_only = 0, json = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int *dst = !strcmp(a, "--batch") ? &B : !strcmp(a, "--seq") ? &T : !strcmp(a, "--steps") ? &steps
                 : !strcmp(a, "--lora") ? &lora_r : NULL;
        if (dst && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v <= 0 || v > 1 << 20) {
                fprintf(stderr, "tuna bench: %s wants a positive integer\n", a);
                return 2;
            }
            *dst = (int)v;
        } else if (!strcmp(a, "--config") && i + 1 < argc) {
            name = argv[++i];
        } else if (!strcmp(a, "--eval-only")) {
            eval_only = 1;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!strcmp(what, "sgemm")) return bench_sgemm(json) ? cli_fail("bench") : 0;
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
