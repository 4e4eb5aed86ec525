/* test_train.c - tuna train / tuna eval end to end, as real processes, on the
 * real stories260K model (converted with tuna convert) and the shared
 * datasets. Checks:
 *   - `tuna eval` (with and without a LoRA adapter) equals an independent
 *     PyTorch recomputation (tools/eval_ref.py: PEFT's W + alpha/r B A, HF's
 *     loss) on the exact ids and labels it dumped, to 1e-4;
 *   - validation loss falls below the base model's, full and LoRA, on alpaca
 *     and GSM8K, and loss.svg is written;
 *   - --time ends and has written its output within the budget;
 *   - SIGTERM writes a checkpoint and --resume continues from it;
 *   - bad inputs fail with errors naming the file, row and field;
 *   - --bf16 (bf16 matmul inputs, fp32 accumulation) ends within 2% of the
 *     fp32 run's validation loss (tools/bf16_parity.sh measures more). */
#include "harness.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/spawn.h"
#include "data/rows.h"
#include "model/model.h"
#include "nn/gemm.h"
#include "tok/tokenizer.h"
#include "train/examples.h"
#include "train/random_model.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_model[512], g_alpaca[512], g_gsm[512];

/* Runs a shell command with stderr captured into *err (may be NULL); returns
 * the exit status (or 128 + signal). */
static int run(const char *cmd, char **err) {
    char *errf = tn_sprintf("%s/stderr.txt", tn_t_tmpdir());
    char *full = tn_sprintf("%s 2> %s", cmd, errf);
    int st = system(full);
    if (err) *err = tn_read_file(errf, NULL);
    free(errf);
    free(full);
    if (st == -1) return -1;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

static int have_torch(void) {
    return access("/usr/bin/python3", X_OK) == 0 && system("/usr/bin/python3 -c 'import torch' 2>/dev/null") == 0;
}

/* Writes the first n rows of a dataset as JSONL. */
static void head_rows(const char *src, const char *dst, size_t n) {
    json_t *all;
    if (tn_rows_load_all(src, TN_ROWS_AUTO, &all)) {
        fprintf(stderr, "  %s\n", tn_errmsg());
        exit(2);
    }
    FILE *f = fopen(dst, "w");
    for (size_t i = 0; i < n && i < json_array_size(all); i++) {
        char *s = json_dumps(json_array_get(all, i), JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
    }
    fclose(f);
    json_decref(all);
}

static int setup(void) {
    const char *data = tn_t_shared_data();
    if (!data) return 0;
    if (g_model[0]) return 1;
    snprintf(g_model, sizeof g_model, "%s/stories260K", tn_t_tmpdir());
    snprintf(g_alpaca, sizeof g_alpaca, "%s/alpaca80.jsonl", tn_t_tmpdir());
    snprintf(g_gsm, sizeof g_gsm, "%s/gsm80.jsonl", tn_t_tmpdir());
    if (tn_t_stories260k(g_model)) return -1;
    char *a = tn_sprintf("%s/datasets/alpaca_en_demo.json", data), *g = tn_sprintf("%s/datasets/gsm8k_train.jsonl", data);
    head_rows(a, g_alpaca, 80);
    head_rows(g, g_gsm, 80);
    free(a);
    free(g);
    return 1;
}

#define NEED_SETUP()                                                                            \
    do {                                                                                        \
        int s_ = setup();                                                                       \
        if (s_ == 0) SKIP("../shared/data is missing (set TUNA_SHARED_DATA)");                 \
        CHECKF(s_ == 1, "tuna convert of stories260K failed");                                  \
        if (s_ != 1) return;                                                                    \
    } while (0)

static json_t *read_json(const char *dir, const char *name) {
    char *p = tn_path_join(dir, name);
    json_t *j = tn_json_load_file(p);
    free(p);
    return j;
}

static double json_num(const json_t *j, const char *key) {
    json_t *v = json_object_get(j, key);
    return v && json_is_number(v) ? json_number_value(v) : NAN;
}

/* tuna eval --json --dump, then tools/eval_ref.py on the dump. */
static void eval_vs_pytorch(const char *what, const char *adapter, const char *model) {
    char *dump = tn_sprintf("%s/%s.dump.jsonl", tn_t_tmpdir(), what);
    char *out = tn_sprintf("%s/%s.eval.json", tn_t_tmpdir(), what);
    char *cmd = tn_sprintf("%s eval --model %s %s%s --data %s --seq-len 256 --json --per-row --dump %s > %s", tn_t_tuna(), model,
                           adapter ? "--adapter " : "", adapter ? adapter : "", g_alpaca, dump, out);
    char *err = NULL;
    CHECKF(run(cmd, &err) == 0, "%s: %s", cmd, err ? err : "");
    free(err);
    json_t *ours = tn_json_load_file(out);
    CHECK(ours != NULL);
    char *ref_out = tn_sprintf("%s/%s.ref.json", tn_t_tmpdir(), what);
    char *ref = tn_sprintf("/usr/bin/python3 tools/eval_ref.py --model %s %s%s --dump %s > %s", model,
                           adapter ? "--adapter " : "", adapter ? adapter : "", dump, ref_out);
    CHECKF(run(ref, &err) == 0, "%s: %s", ref, err ? err : "");
    free(err);
    json_t *theirs = tn_json_load_file(ref_out);
    CHECK(theirs != NULL);
    if (ours && theirs) {
        CHECK_NEAR(json_num(ours, "loss"), json_num(theirs, "loss"), 1e-4, 0);
        CHECK(json_num(ours, "tokens") == json_num(theirs, "tokens") && json_num(ours, "tokens") > 100);
        CHECK(json_num(ours, "rows") == json_num(theirs, "rows"));
        /* each row's own loss (what the validator compares row by row) */
        json_t *ol = json_object_get(ours, "row_loss"), *tl = json_object_get(theirs, "row_loss");
        json_t *ot = json_object_get(ours, "row_tokens"), *tt = json_object_get(theirs, "row_tokens");
        size_t nr = json_array_size(ol);
        CHECK(nr == json_num(ours, "rows") && nr == json_array_size(tl) && nr == json_array_size(ot) &&
              nr == json_array_size(tt));
        double weighted = 0.0, tokens = 0.0;
        for (size_t i = 0; i < nr && i < json_array_size(tl) && i < json_array_size(tt); i++) {
            double a = json_number_value(json_array_get(ol, i)), b = json_number_value(json_array_get(tl, i));
            CHECKF(fabs(a - b) <= 1e-4 * (1 + fabs(b)), "%s row %zu: %.6f vs PyTorch %.6f", what, i, a, b);
            CHECK(json_integer_value(json_array_get(ot, i)) == json_integer_value(json_array_get(tt, i)));
            weighted += a * (double)json_integer_value(json_array_get(ot, i));
            tokens += (double)json_integer_value(json_array_get(ot, i));
        }
        CHECK(tokens == json_num(ours, "tokens"));
        CHECK_NEAR(weighted / tokens, json_num(ours, "loss"), 1e-6, 0);
    }
    json_decref(ours);
    json_decref(theirs);
    free(dump);
    free(out);
    free(cmd);
    free(ref_out);
    free(ref);
}

TEST(eval_matches_pytorch_lora_and_full) {
    NEED_SETUP();
    if (!have_torch()) SKIP("/usr/bin/python3 with torch is missing");
    char *lora = tn_sprintf("%s/evl_lora", tn_t_tmpdir()), *full = tn_sprintf("%s/evl_full", tn_t_tmpdir());
    char *cmd = tn_sprintf("%s train --model %s --data %s --out %s --lora --lora-r 4 --lr 1e-2 --max-steps 6 "
                           "--batch 4 --seq-len 256 --quiet",
                           tn_t_tuna(), g_model, g_alpaca, lora);
    char *err = NULL;
    CHECKF(run(cmd, &err) == 0, "%s", err ? err : "");
    free(err);
    free(cmd);
    cmd = tn_sprintf("%s train --model %s --data %s --out %s --lr 1e-3 --max-steps 6 --batch 4 --seq-len 256 --quiet",
                     tn_t_tuna(), g_model, g_alpaca, full);
    CHECKF(run(cmd, &err) == 0, "%s", err ? err : "");
    free(err);
    free(cmd);
    eval_vs_pytorch("lora", lora, g_model);
    eval_vs_pytorch("full", NULL, full);
    eval_vs_pytorch("base", NULL, g_model);
    free(lora);
    free(full);
}

static void val_loss_falls(const char *what, const char *data, const char *extra) {
    NEED_SETUP();
    char *out = tn_sprintf("%s/vf_%s", tn_t_tmpdir(), what);
    char *cmd = tn_sprintf("%s train --model %s --data %s --out %s %s --val-size 0.2 --epochs 0 --max-steps 24 --eval-every 8 "
                           "--batch 4 --seq-len 256 --quiet",
                           tn_t_tuna(), g_model, data, out, extra);
    char *err = NULL;
    CHECKF(run(cmd, &err) == 0, "%s: %s", cmd, err ? err : "");
    free(err);
    json_t *sum = read_json(out, "train_summary.json");
    CHECK(sum != NULL);
    if (sum) {
        double base = json_num(sum, "base_val_loss"), best = json_num(sum, "best_val_loss");
        CHECKF(best < base - 0.05, "%s: validation loss %.4f -> best %.4f did not fall", what, base, best);
        CHECK(json_num(sum, "steps") == 24);
        printf("  %s: validation loss %.4f -> %.4f\n", what, base, best);
    }
    json_decref(sum);
    char *svg = tn_path_join(out, "loss.svg");
    char *text = tn_read_file(svg, NULL);
    CHECK(text && strstr(text, "<svg") && strstr(text, "val"));
    free(text);
    free(svg);
    free(out);
    free(cmd);
}

/* Under the sanitizers one of the four runs (the same code paths) is enough:
 * the others would add minutes of instrumented training. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_SKIP() SKIP("sanitizer build: val_loss_falls_alpaca_lora covers this code path")
#else
#define SANITIZER_SKIP() ((void)0)
#endif

TEST(val_loss_falls_alpaca_full) {
    SANITIZER_SKIP();
    val_loss_falls("alpaca_full", g_alpaca, "--lr 2e-3");
}
TEST(val_loss_falls_alpaca_lora) { val_loss_falls("alpaca_lora", g_alpaca, "--lora --lr 1e-2"); }
TEST(val_loss_falls_gsm8k_full) {
    SANITIZER_SKIP();
    val_loss_falls("gsm8k_full", g_gsm, "--lr 2e-3 --field-instruction question --field-output answer");
}
TEST(val_loss_falls_gsm8k_lora) {
    SANITIZER_SKIP();
    val_loss_falls("gsm8k_lora", g_gsm, "--lora --lr 1e-2 --field-instruction question --field-output answer");
}

/* The same short full fine-tune twice, fp32 and --bf16: the final validation
 * losses within 2% (measured: 0.01-0.1%; tools/bf16_parity.sh). */
static double parity_run(const char *what, const char *extra, int *bf16_out) {
    char *out = tn_sprintf("%s/bf16p_%s", tn_t_tmpdir(), what);
    char *cmd = tn_sprintf("%s train --model %s --data %s --out %s %s --val-size 0.2 --epochs 0 --max-steps 24 "
                           "--eval-every 24 --batch 4 --seq-len 256 --lr 2e-3 --quiet",
                           tn_t_tuna(), g_model, g_alpaca, out, extra);
    char *err = NULL;
    double best = NAN;
    CHECKF(run(cmd, &err) == 0, "%s: %s", cmd, err ? err : "");
    free(err);
    json_t *sum = read_json(out, "train_summary.json");
    CHECK(sum != NULL);
    if (sum) {
        best = json_num(sum, "best_val_loss");
        *bf16_out = json_is_true(json_object_get(sum, "bf16"));
    }
    json_decref(sum);
    free(out);
    free(cmd);
    return best;
}

TEST(bf16_loss_parity) {
#if defined(__SANITIZE_ADDRESS__)
    SKIP("sanitizer build: test_gemm's bf16 cases cover the bf16 kernel");
#endif
    tn_gemm_set_bf16(1);
    int avail = tn_gemm_bf16();
    tn_gemm_set_bf16(0);
    if (!avail) SKIP("this build has no AVX512_BF16: --bf16 trains in fp32");
    NEED_SETUP();
    int b32 = -1, b16 = -1;
    double l32 = parity_run("fp32", "", &b32), l16 = parity_run("bf16", "--bf16", &b16);
    CHECK(b32 == 0 && b16 == 1);
    CHECKF(isfinite(l32) && isfinite(l16) && fabs(l16 - l32) <= 0.02 * l32,
           "validation loss fp32 %.4f, bf16 %.4f", l32, l16);
    printf("  validation loss after 24 steps: fp32 %.5f, bf16 %.5f (%+.3f%%)\n", l32, l16, 100 * (l16 - l32) / l32);
}

TEST(time_budget_is_kept) {
    NEED_SETUP();
    char *out = tn_sprintf("%s/budget", tn_t_tmpdir());
    char *cmd = tn_sprintf("%s train --model %s --data %s --out %s --time 6s --val-size 0.1 --batch 4 --seq-len 256 "
                           "--lr 1e-3 --quiet",
                           tn_t_tuna(), g_model, g_alpaca, out);
    double t0 = tn_now();
    char *err = NULL;
    CHECKF(run(cmd, &err) == 0, "%s", err ? err : "");
    double wall = tn_now() - t0;
    free(err);
    CHECKF(wall <= 6.0 + 0.5, "took %.2fs for a 6s budget", wall);
    json_t *sum = read_json(out, "train_summary.json");
    CHECK(sum && !strcmp(json_string_value(json_object_get(sum, "reason")), "time budget"));
    CHECK(sum && json_num(sum, "steps") > 0);
    json_decref(sum);
    char *w = tn_path_join(out, "model.safetensors");
    CHECK(tn_file_exists(w));
    free(w);
    free(out);
    free(cmd);
}

/* Steps logged in metrics.jsonl (lines with "loss"). */
static int count_steps(const char *path, int64_t *first, int64_t *last) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        if (j && json_object_get(j, "loss") && json_object_get(j, "step")) {
            int64_t s = json_integer_value(json_object_get(j, "step"));
            if (n == 0 && first) *first = s;
            if (last) *last = s;
            n++;
        }
        json_decref(j);
    }
    fclose(f);
    return n;
}

TEST(sigterm_checkpoint_and_resume) {
    NEED_SETUP();
    char *out = tn_sprintf("%s/resume", tn_t_tmpdir());
    char *metrics = tn_path_join(out, "metrics.jsonl");
    char *args[] = {(char *)tn_t_tuna(), "train", "--model", g_model, "--data", g_alpaca, "--out", out, "--max-steps",
                    "400", "--batch", "2", "--seq-len", "128", "--lr", "1e-3", "--quiet", NULL};
    tn_spawn_opts so = {.err_path = "/dev/null"};
    pid_t pid;
    CHECK(tn_spawn(args, &so, &pid) == 0);
    /* wait for a few steps, then ask it to stop */
    double t0 = tn_now();
    while (count_steps(metrics, NULL, NULL) < 3 && tn_now() - t0 < 60) usleep(50000);
    kill(pid, SIGTERM);
    tn_spawn_end end = {.code = -1};
    tn_spawn_wait(pid, &end);
    CHECKF(end.code == 130, "exit status %d", end.code);
    int64_t last_before = 0;
    count_steps(metrics, NULL, &last_before);
    CHECK(last_before >= 3 && last_before < 400);
    char *ckpt = tn_path_join(out, "checkpoint");
    json_t *state = read_json(ckpt, "state.json");
    CHECK(state && json_integer_value(json_object_get(state, "step")) == last_before);
    json_decref(state);
    /* resume to 10 steps past the interruption */
    char *cmd = tn_sprintf("%s train --model %s --data %s --out %s --max-steps %lld --batch 2 --seq-len 128 --lr 1e-3 "
                           "--quiet --resume %s",
                           tn_t_tuna(), g_model, g_alpaca, out, (long long)last_before + 10, ckpt);
    char *err = NULL;
    CHECKF(run(cmd, &err) == 0, "%s", err ? err : "");
    CHECKF(err && strstr(err, "resumed from"), "%s", err ? err : "");
    free(err);
    int64_t last_after = 0;
    int n = count_steps(metrics, NULL, &last_after);
    CHECKF(last_after == last_before + 10 && n == (int)last_after, "steps: %lld before, %lld after, %d lines",
           (long long)last_before, (long long)last_after, n);
    free(cmd);
    free(ckpt);
    free(metrics);
    free(out);
}

static void write_text(const char *path, const char *text) { tn_write_file_atomic(path, text, strlen(text)); }

TEST(bad_inputs_name_file_row_field) {
    NEED_SETUP();
    const char *tmp = tn_t_tmpdir();
    char *bad = tn_sprintf("%s/bad.jsonl", tmp), *empty = tn_sprintf("%s/empty.jsonl", tmp),
         *noresp = tn_sprintf("%s/noresp.jsonl", tmp), *out = tn_sprintf("%s/bad_out", tmp);
    write_text(bad, "{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"c\", \"output\": }\n");
    write_text(empty, "");
    /* an empty response still trains its EOS (the model must learn to stop),
     * so "nothing to train on" is a prompt that fills the whole --seq-len */
    write_text(noresp, "{\"instruction\": \"a long instruction that does not fit\", \"output\": \"x\"}\n");
    struct {
        const char *data, *extra, *needle;
    } cases[] = {
        {bad, "", "bad.jsonl"},
        {bad, "", "row 2"},
        {g_alpaca, "--field-instruction instruction --field-output answer_text", "answer_text"},
        {empty, "--field-instruction instruction --field-output output", "empty.jsonl"},
        {noresp, "--seq-len 8", "no row has a token to train on"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *cmd = tn_sprintf("%s train --model %s --data %s --out %s --max-steps 1 --quiet %s", tn_t_tuna(), g_model,
                               cases[i].data, out, cases[i].extra);
        char *err = NULL;
        int rc = run(cmd, &err);
        CHECKF(rc == 1 && err && strstr(err, cases[i].needle), "case %zu: rc %d, stderr: %s", i, rc, err ? err : "");
        free(err);
        free(cmd);
    }
    /* an adapter trained for another model's shapes, applied through tuna eval */
    char *other = tn_sprintf("%s/other_model", tmp), *adapter = tn_sprintf("%s/other_adapter", tmp);
    tn_mkdir_p(other);
    const tn_model_shape shape = {.model_type = "llama", .vocab = 512, .dim = 32, .layers = 2, .heads = 4,
                                  .hidden = 64, .positions = 256};
    tn_model om;
    CHECKF(tn_model_random(&om, &shape, "other model", 5) == 0, "%s", tn_errmsg());
    if (tn_t_failed_checks) return;
    CHECKF(tn_model_save(&om, other, g_model) == 0, "%s", tn_errmsg()); /* tokenizer files from stories260K */
    tn_model_free(&om);
    char *cmd = tn_sprintf("%s train --model %s --data %s --out %s --lora --max-steps 1 --seq-len 64 --quiet", tn_t_tuna(),
                           other, g_alpaca, adapter);
    char *err = NULL;
    CHECKF(run(cmd, &err) == 0, "%s", err ? err : "");
    free(err);
    free(cmd);
    cmd = tn_sprintf("%s eval --model %s --adapter %s --data %s --json", tn_t_tuna(), g_model, adapter, g_alpaca);
    int rc = run(cmd, &err);
    CHECKF(rc == 1 && err && strstr(err, "an adapter for another model's shapes") && strstr(err, "adapter_model.safetensors"),
           "rc %d, stderr: %s", rc, err ? err : "");
    free(err);
    free(cmd);
    free(other);
    free(adapter);
    free(bad);
    free(empty);
    free(noresp);
    free(out);
}

TEST(yaml_config_runs) {
    NEED_SETUP();
    char *dir = tn_sprintf("%s/yaml", tn_t_tmpdir());
    tn_mkdir_p(dir);
    char *cfg = tn_path_join(dir, "config.yml");
    char *text = tn_sprintf("base_model: %s\n"
                            "datasets:\n"
                            "  - path: %s\n"
                            "    type:\n"
                            "      field_instruction: question\n"
                            "      field_output: answer\n"
                            "sequence_len: 128\n"
                            "micro_batch_size: 2\n"
                            "max_steps: 3\n"
                            "learning_rate: 0.001\n"
                            "adapter: lora\n"
                            "lora_r: 4\n"
                            "lora_alpha: 8\n"
                            "lora_target_linear: true\n"
                            "bf16: auto\n"
                            "output_dir: ./out\n",
                            g_model, g_gsm);
    write_text(cfg, text);
    char *cmd = tn_sprintf("%s train %s --quiet", tn_t_tuna(), cfg);
    char *err = NULL;
    CHECKF(run(cmd, &err) == 0, "%s", err ? err : "");
    CHECKF(!err || !strstr(err, "unknown key 'bf16'"), "bf16: auto is a known key: %s", err ? err : "");
    free(err);
    char *adapter = tn_sprintf("%s/out/adapter_config.json", dir);
    CHECK(tn_file_exists(adapter));
    free(adapter);
    free(cmd);
    free(text);
    free(cfg);
    free(dir);
}

/* Training and scoring pad with one id: stories260K's tokenizer has no pad
 * token, so its EOS (test_basemodel checks a tokenizer with one). */
TEST(pad_id_falls_back_to_eos) {
    NEED_SETUP();
    tn_tokenizer *tok = tn_tok_load(g_model);
    CHECKF(tok != NULL, "%s", tn_errmsg());
    if (!tok) return;
    CHECK(tn_tok_pad_id(tok) < 0 && tn_tok_eos_id(tok) >= 0);
    CHECK(tn_batch_pad_id(tok) == tn_tok_eos_id(tok));
    tn_tok_free(tok);
}

int main(void) {
    RUN(pad_id_falls_back_to_eos);
    RUN(eval_matches_pytorch_lora_and_full);
    RUN(val_loss_falls_alpaca_full);
    RUN(val_loss_falls_alpaca_lora);
    RUN(val_loss_falls_gsm8k_full);
    RUN(val_loss_falls_gsm8k_lora);
    RUN(bf16_loss_parity);
    RUN(time_budget_is_kept);
    RUN(sigterm_checkpoint_and_resume);
    RUN(bad_inputs_name_file_row_field);
    RUN(yaml_config_runs);
    return tn_test_summary("test_train");
}
