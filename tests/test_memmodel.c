/* test_memmodel.c - the memory model (model/memmodel.h) against what the
 * engine really uses: `tuna eval` of random-weight bf16 models of two shapes
 * (tools/make_random_hf.py: SmolLM2-135M with 2 layers, Qwen2.5-0.5B with 1
 * layer and its 151936-token vocabulary), peak RSS from wait4's rusage, and
 * `tuna check` of the second against a fine-tuned copy (tools/finetune_hf.py).
 *
 * Stated margin: the estimate is at least the measured peak less 10% (it
 * must not let a job run out of memory it was promised) and at most 40% + 32
 * MiB above it (it must not refuse what fits). Needs python3 with numpy, the
 * GPT-2 tokenizer in ../shared/data and the npm tokenizers in tools/js;
 * skips without them. Also: the parts a job adds are ordered as they must
 * be (full > LoRA > eval), and bad requests are refused by name. */
#include "model/memmodel.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "base/spawn.h"
#include "harness.h"
#include "model/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* Peak RSS in MiB of argv run to completion (stdout to a file), -1 on failure. */
static double peak_rss_mib(char *const argv[]) {
    char *out = tn_sprintf("%s/memmodel.out", tn_t_tmpdir());
    tn_spawn_opts o = {.out_path = out, .err_path = out, .truncate = 1};
    pid_t pid;
    double mib = -1;
    if (tn_spawn(argv, &o, &pid) == 0) {
        int st;
        struct rusage ru;
        if (wait4(pid, &st, 0, &ru) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0) mib = ru.ru_maxrss / 1024.0;
    }
    if (mib < 0) {
        char *log = tn_read_file(out, NULL);
        fprintf(stderr, "  %s failed: %s\n", argv[1], log ? log : "");
        free(log);
    }
    free(out);
    return mib;
}

static int make_model(const char *shape, int layers, const char *dir) {
    char *cmd = tn_sprintf("/usr/bin/python3 tools/make_random_hf.py %s %s --layers %d >/dev/null 2>&1", shape, dir,
                           layers);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

static void within(const char *what, double est_mib, double rss_mib) {
    fprintf(stderr, "  %s: estimate %.1f MiB, measured peak %.1f MiB (%+.1f%%)\n", what, est_mib, rss_mib,
            100.0 * (est_mib - rss_mib) / rss_mib);
    CHECKF(est_mib >= 0.9 * rss_mib && est_mib <= 1.4 * rss_mib + 32, "%s: estimate %.1f MiB vs peak %.1f MiB", what,
           est_mib, rss_mib);
}

TEST(eval_and_check_peak_rss) {
#if defined(__SANITIZE_ADDRESS__)
    SKIP("a sanitizer build's memory is not the engine's (shadow memory, quarantine)");
#endif
    const char *data = tn_t_shared_data();
    if (!data) SKIP("../shared/data missing");
    char *gsm = tn_sprintf("%s/datasets/gsm8k_train.jsonl", data);
    if (!tn_file_exists(gsm)) {
        free(gsm);
        SKIP("gsm8k_train.jsonl missing");
    }
    /* 8 rows of it */
    char *rows = tn_sprintf("%s/rows.jsonl", tn_t_tmpdir());
    char *cmd = tn_sprintf("head -8 %s > %s", gsm, rows);
    CHECK(system(cmd) == 0);
    free(cmd);
    static const struct {
        const char *shape;
        int layers;
    } S[] = {{"smollm2-135m", 2}, {"qwen2.5-0.5b", 1}};
    int ran = 0;
    for (size_t i = 0; i < sizeof S / sizeof *S; i++) {
        char *dir = tn_sprintf("%s/%s", tn_t_tmpdir(), S[i].shape);
        if (make_model(S[i].shape, S[i].layers, dir)) {
            fprintf(stderr, "  %s: tools/make_random_hf.py failed (numpy, tokenizers?): skipped\n", S[i].shape);
            free(dir);
            continue;
        }
        ran++;
        tn_config c;
        CHECKF(tn_config_load(&c, dir) == 0, "%s", tn_errmsg());
        /* tuna eval's defaults here: batch 4 as given, seq 256, all threads */
        tn_mem_req r = {.job = TN_MEM_EVAL, .weight_bytes = 2, .batch = 4, .seq_len = 256, .threads = 2};
        tn_mem_estimate e;
        CHECK(tn_mem_estimate_config(&c, &r, &e) == 0);
        char *argv[] = {(char *)tn_t_tuna(), "eval", "--model", dir, "--data", rows, "--field-instruction",
                        "question", "--field-output", "answer", "--seq-len", "256", "--batch", "4", "--json", NULL};
        double rss = peak_rss_mib(argv);
        CHECKF(rss > 0, "%s: tuna eval failed", S[i].shape);
        char *what = tn_sprintf("eval %s (%d layers, bf16)", S[i].shape, S[i].layers);
        if (rss > 0) within(what, e.total / 1048576, rss);
        free(what);
        if (i == 1) { /* the streamed check of the larger one against a fine-tuned copy */
            char *ft = tn_sprintf("%s/ft", tn_t_tmpdir());
            cmd = tn_sprintf("/usr/bin/python3 tools/finetune_hf.py %s %s >/dev/null", dir, ft);
            CHECK(system(cmd) == 0);
            free(cmd);
            r.job = TN_MEM_CHECK;
            CHECK(tn_mem_estimate_config(&c, &r, &e) == 0);
            char *cargv[] = {(char *)tn_t_tuna(), "check", "--base", dir, "--submission", ft, "--json", NULL};
            rss = peak_rss_mib(cargv);
            CHECKF(rss > 0, "tuna check failed");
            if (rss > 0) within("check qwen2.5-0.5b (1 layer, bf16 pair)", e.total / 1048576, rss);
            free(ft);
        }
        tn_config_free(&c);
        free(dir);
    }
    free(rows);
    free(gsm);
    if (!ran) SKIP("no model directory could be made");
}

TEST(jobs_ordered_and_requests_checked) {
    tn_mem_req r = {.weight_bytes = 4, .batch = 1, .seq_len = 2048, .threads = 1};
    tn_mem_estimate ev, lo, fu, ck;
    r.job = TN_MEM_EVAL;
    CHECK(tn_mem_estimate_params(3200000000LL, &r, &ev) == 0);
    r.job = TN_MEM_LORA;
    CHECK(tn_mem_estimate_params(3200000000LL, &r, &lo) == 0);
    r.job = TN_MEM_FULL;
    CHECK(tn_mem_estimate_params(3200000000LL, &r, &fu) == 0);
    r.job = TN_MEM_CHECK;
    r.weight_bytes = 2;
    CHECK(tn_mem_estimate_params(3200000000LL, &r, &ck) == 0);
    CHECK(fu.total > lo.total && lo.total > ev.total && ev.total > ck.total);
    /* full: 16 bytes per parameter before activations */
    CHECK(fu.weights + fu.train > 16.0 * 3.0e9 && fu.weights + fu.train < 16.0 * 3.4e9);
    r.weight_bytes = 3;
    CHECK_ERR(tn_mem_estimate_params(1000000, &r, &ev), "3 bytes per weight");
    r.weight_bytes = 2;
    r.job = TN_MEM_EVAL;
    r.batch = 0;
    CHECK_ERR(tn_mem_estimate_params(1000000, &r, &ev), "batch 0");
    CHECK_ERR(tn_mem_estimate_params(0, &r, &ev), "0 parameters");
}

int main(void) {
    RUN(jobs_ordered_and_requests_checked);
    RUN(eval_and_check_peak_rss);
    return tn_test_summary("memmodel");
}
