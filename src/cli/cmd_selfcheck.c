/* cmd_selfcheck.c - `tuna selfcheck`: a one-minute proof that this build
 * trains. Builds a small Llama and a small GPT-2 from random weights, trains
 * each with AdamW on a fixed batch of a repeating token pattern, and checks
 * that the loss falls by at least half (a model that can memorise a batch has
 * working forward, backward and optimizer). */
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/num.h"
#include "cli/commands.h"
#include "model/model.h"
#include "train/random_model.h"
#include "train/step.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: tuna selfcheck [--steps N]\n\n"
               "Trains a tiny Llama and a tiny GPT-2 from scratch on a fixed batch and checks\n"
               "that the loss falls by at least half. Exit status 0 when both do.\n");
}

static int run_one(const tn_model_shape *shape, int steps) {
    const char *name = shape->model_type;
    tn_model m;
    tn_stepper st;
    int rc = 0;
    if (tn_model_random(&m, shape, name, 42)) return -1;
    enum { B = 4, T = 32 };
    int32_t ids[B * T];
    for (int i = 0; i < B * T; i++) ids[i] = (int32_t)((i * 7 + (i / T) * 3) % 31 + 1);
    if (tn_stepper_init(&st, &m, NULL, 3e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0)) {
        tn_model_free(&m);
        return -1;
    }
    float first = 0, loss = 0;
    double t0 = tn_now();
    for (int s = 0; s < steps && rc == 0; s++) {
        rc = tn_stepper_step(&st, ids, ids, B, T, 3e-3f, &loss);
        if (s == 0) first = loss;
    }
    if (rc == 0) {
        float last;
        rc = tn_model_forward(&m, ids, ids, B, T, &last);
        int ok = rc == 0 && last < 0.5f * first;
        printf("selfcheck: %-6s %zu params, %d steps: loss %.4f -> %.4f  (%.2fs)  %s\n", name, m.numel, steps, first,
               last, tn_now() - t0, ok ? "ok" : "FAILED");
        if (!ok && rc == 0) rc = tn_fail("%s: the loss did not fall by half", name);
    }
    tn_stepper_free(&st);
    tn_model_free(&m);
    return rc;
}

int cmd_selfcheck(int argc, char **argv) {
    int steps = 60;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
            if (tn_parse_int("--steps", argv[++i], 1, 1000000, &steps)) return cli_usage_fail("selfcheck");
            continue;
        }
        usage(stderr);
        return 2;
    }
    const tn_model_shape llama = {.model_type = "llama", .vocab = 32, .dim = 64, .layers = 2, .heads = 4,
                                  .kv_heads = 2, .hidden = 128, .positions = 64};
    const tn_model_shape gpt2 = {.model_type = "gpt2", .vocab = 32, .dim = 64, .layers = 2, .heads = 4, .positions = 64};
    if (run_one(&llama, steps) || run_one(&gpt2, steps)) return cli_fail("selfcheck");
    printf("selfcheck: ok\n");
    return 0;
}
