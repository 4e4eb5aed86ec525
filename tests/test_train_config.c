/* test_train_config.c - axolotl-style YAML configs -> tn_train_opts
 * (src/train/config_yaml.c, src/train/train_opts.c).
 * Fixtures: tests/data/train_*.yml; bad configs are written to a temp dir. */
#include "harness.h"

#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "train/config_yaml.h"

#include <stdio.h>
#include <string.h>

#define FIX(name) "tests/data/" name

static int streq(const char *a, const char *b) { return a && b && !strcmp(a, b); }

/* Writes `content` to tmpdir/name; returns the path (heap). */
static char *tmp_yaml(const char *name, const char *content) {
    char *p = tn_path_join(tn_t_tmpdir(), name);
    if (tn_write_file_atomic(p, content, strlen(content)) != 0) fprintf(stderr, "  cannot write %s: %s\n", p, tn_errmsg());
    return p;
}

/* Parses `content` as a config; returns the rc, error left set. */
static int parse_str(const char *content) {
    char *p = tmp_yaml("cfg.yml", content);
    tn_train_opts o;
    tn_train_opts_defaults(&o);
    int rc = tn_train_opts_from_yaml(&o, p);
    tn_train_opts_free(&o);
    free(p);
    return rc;
}

TEST(defaults) {
    tn_train_opts o;
    tn_train_opts_defaults(&o);
    CHECK(o.seq_len == 512 && o.micro_batch == 1 && o.grad_accum == 1 && o.epochs == 1);
    CHECK(o.lora == 0 && o.lora_r == 8 && o.lora_alpha == 16 && o.lora_dropout == 0.05);
    CHECK(o.lr == 2e-5 && o.sched == TN_SCHED_COSINE && o.max_grad_norm == 1.0 && o.seed == 42);
    CHECK(o.adam_beta1 == 0.9 && o.adam_beta2 == 0.999 && o.adam_eps == 1e-8);
    CHECK(!o.base_model && !o.dataset && !o.output_dir && o.n_owned == 0);
    /* own() copies and keeps, however many */
    char s[16];
    for (int i = 0; i < 100; i++) {
        snprintf(s, sizeof s, "s%d", i);
        const char *c = tn_train_opts_own(&o, s);
        CHECK(c != s && streq(c, s));
    }
    CHECK(o.n_owned == 100 && streq(o.owned[57], "s57"));
    CHECK(tn_train_opts_own(&o, NULL) == NULL);
    tn_train_opts_free(&o);
    CHECK(o.n_owned == 0 && !o.owned);
    tn_train_opts_free(&o); /* twice is harmless */
}

/* The realistic G.O.D config: every field, relative paths, 14 unknown keys. */
TEST(god_instruct) {
    tn_train_opts o;
    tn_train_opts_defaults(&o);
    int nw = -1;
    CHECKF(tn_train_opts_from_yaml_w(&o, FIX("train_god_instruct.yml"), &nw) == 0, "%s", tn_errmsg());
    CHECK(streq(o.base_model, "tests/data/models/tiny-llama"));
    CHECK(streq(o.dataset, "tests/data/data/train.json"));
    CHECK(o.dataset_format == NULL); /* ds_type json + .json: by extension */
    CHECK(streq(o.output_dir, "tests/data/./outputs/run1"));
    CHECK(o.spec.kind == TN_DS_INSTRUCT);
    const tn_dataset_type *t = &o.spec.instruct;
    CHECK(streq(t->field_system, "sys") && streq(t->field_instruction, "question"));
    CHECK(streq(t->field_input, "context") && streq(t->field_output, "answer"));
    CHECK(streq(t->format, "Q: {instruction}\nContext: {input}\nA: "));
    CHECK(streq(t->no_input_format, "Q: {instruction}\nA: "));
    CHECK(streq(t->system_format, "{system}"));
    CHECK(!t->system_prompt || !t->system_prompt[0]); /* "" and unset mean the same: no system text */
    CHECK(o.chat_template == NULL);
    CHECK(o.val_size == 0.05 && o.seq_len == 1024 && o.packing == 0);
    CHECK(o.lora == 1 && o.lora_r == 16 && o.lora_alpha == 32 && o.lora_dropout == 0.05);
    CHECK(o.lora_target_linear == 1 && o.n_lora_targets == 2);
    CHECK(streq(o.lora_targets[0], "q_proj") && streq(o.lora_targets[1], "v_proj"));
    CHECK(o.grad_accum == 4 && o.micro_batch == 2 && o.epochs == 3);
    CHECK(o.sched == TN_SCHED_LINEAR && o.lr == 2e-4);
    CHECK(o.train_on_inputs == 0 && o.early_stop_patience == 3 && o.warmup_steps == 10);
    CHECK(o.eval_every == 50 && o.save_every == 100 && o.weight_decay == 0.01 && o.max_grad_norm == 1.0);
    CHECK(o.adam_beta1 == 0.9 && o.adam_beta2 == 0.95 && o.adam_eps == 1e-8);
    CHECK(o.seed == 1234 && o.max_steps == 0);
    /* model_type tokenizer_type trust_remote_code pad_to_sequence_len
     * wandb_project optimizer group_by_length tf32
     * logging_steps flash_attention evals_per_epoch special_tokens; the
     * empty ones (fp16:, wandb_entity:) say nothing; bf16: auto is known
     * (fp32), gradient_checkpointing: true is read */
    CHECKF(nw == 12, "%d warnings", nw);
    CHECK(o.bf16 == 0 && o.checkpoint_blocks == 1);
    tn_train_opts_free(&o);
}

TEST(alpaca_full_finetune) {
    tn_train_opts o;
    tn_train_opts_defaults(&o);
    CHECKF(tn_train_opts_from_yaml(&o, FIX("train_alpaca_full.yml")) == 0, "%s", tn_errmsg());
    CHECK(streq(o.base_model, "/models/gpt2") && streq(o.dataset, "/data/alpaca.jsonl"));
    CHECK(streq(o.output_dir, "/tmp/out"));
    CHECK(o.lora == 0); /* no adapter: full fine-tuning, as axolotl */
    CHECK(o.lr == 0.0002); /* given, quoted */
    CHECK(o.warmup_ratio == 0.1 && o.sched == TN_SCHED_CONSTANT && o.epochs == 2 && o.micro_batch == 4);
    CHECK(o.train_on_inputs == 1 && o.packing == 1);
    CHECK(o.spec.kind == TN_DS_INSTRUCT);
    const tn_dataset_type *t = &o.spec.instruct;
    CHECK(streq(t->field_instruction, "instruction") && streq(t->field_input, "input") &&
          streq(t->field_output, "output"));
    CHECK(t->format && strstr(t->format, "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"));
    CHECK(t->format && !strncmp(t->format, "Below is an instruction that describes a task, paired with an input", 67));
    CHECK(streq(t->no_input_format, "Below is an instruction that describes a task. Write a response that "
                                    "appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n"
                                    "### Response:\n"));
    CHECK(tn_dataset_type_check(t, "alpaca") == 0);
    tn_train_opts_free(&o);

    /* without learning_rate the default follows the adapter */
    char *p = tmp_yaml("full.yml", "base_model: m\ndatasets:\n  - path: d.jsonl\n    type: completion\n");
    tn_train_opts_defaults(&o);
    CHECKF(tn_train_opts_from_yaml(&o, p) == 0, "%s", tn_errmsg());
    CHECK(o.lora == 0 && o.lr == 2e-5 && o.spec.kind == TN_DS_TEXT && o.spec.text_field == NULL);
    tn_train_opts_free(&o);
    free(p);
    p = tmp_yaml("lora.yml", "adapter: lora\n");
    tn_train_opts_defaults(&o);
    CHECKF(tn_train_opts_from_yaml(&o, p) == 0, "%s", tn_errmsg());
    CHECK(o.lora == 1 && o.lr == 2e-4 && !o.dataset);
    tn_train_opts_free(&o);
    free(p);
}

TEST(chat_and_completion) {
    tn_train_opts o;
    tn_train_opts_defaults(&o);
    int nw = -1;
    CHECKF(tn_train_opts_from_yaml_w(&o, FIX("train_chat.yml"), &nw) == 0, "%s", tn_errmsg());
    CHECK(streq(o.base_model, "tests/data/../models/llama") && streq(o.dataset, "tests/data/chats.jsonl"));
    CHECK(o.spec.kind == TN_DS_CHAT && streq(o.spec.messages_field, "conversations"));
    CHECK(o.spec.chat_template == TN_TMPL_LLAMA3 && streq(o.chat_template, "llama3"));
    CHECK(o.n_lora_targets == 4 && streq(o.lora_targets[3], "o_proj"));
    CHECK(o.lr == 2e-4 && o.val_size == 200 && o.max_steps == 500);
    CHECKF(nw == 2, "%d warnings", nw); /* roles_to_train, second dataset */
    tn_train_opts_free(&o);

    tn_train_opts_defaults(&o);
    CHECKF(tn_train_opts_from_yaml(&o, FIX("train_completion.yml")) == 0, "%s", tn_errmsg());
    CHECK(o.spec.kind == TN_DS_TEXT && streq(o.spec.text_field, "content"));
    CHECK(streq(o.dataset_format, "csv") && streq(o.dataset, "tests/data/corpus.csv"));
    CHECK(o.lora == 0 && o.seq_len == 2048 && o.lr == 0.00003);
    tn_train_opts_free(&o);

    /* a dataset-level chat_template wins over the top-level one; sharegpt
     * reads "conversations"; tokenizer_default leaves it to the tokenizer */
    char *p = tmp_yaml("c.yml", "chat_template: chatml\ndatasets:\n  - path: x.jsonl\n    type: sharegpt\n"
                                "    chat_template: mistral\n");
    tn_train_opts_defaults(&o);
    CHECKF(tn_train_opts_from_yaml(&o, p) == 0, "%s", tn_errmsg());
    CHECK(o.spec.chat_template == TN_TMPL_MISTRAL && streq(o.chat_template, "mistral"));
    CHECK(streq(o.spec.messages_field, "conversations"));
    tn_train_opts_free(&o);
    free(p);
    p = tmp_yaml("c.yml", "chat_template: tokenizer_default\ndatasets:\n  - path: x.jsonl\n    type: chat_template\n");
    tn_train_opts_defaults(&o);
    CHECKF(tn_train_opts_from_yaml(&o, p) == 0, "%s", tn_errmsg());
    CHECK(o.spec.kind == TN_DS_CHAT && o.spec.chat_template == TN_TMPL_NONE && !o.chat_template);
    CHECK(o.spec.messages_field == NULL);
    tn_train_opts_free(&o);
    free(p);
}

/* Number spellings: plain, exponent, quoted; ints as 4.0; booleans. */
TEST(number_spellings) {
    const char *lrs[] = {"2e-4", "0.0002", "\"2e-4\"", "'2.0e-4'", "2.0E-04", "+2e-4"};
    for (size_t i = 0; i < sizeof lrs / sizeof lrs[0]; i++) {
        char y[128];
        snprintf(y, sizeof y, "learning_rate: %s\nlora_r: 8.0\nmax_steps: 1_000\nsample_packing: ON\n", lrs[i]);
        char *p = tmp_yaml("n.yml", y);
        tn_train_opts o;
        tn_train_opts_defaults(&o);
        CHECKF(tn_train_opts_from_yaml(&o, p) == 0, "%s: %s", lrs[i], tn_errmsg());
        CHECK_NEAR(o.lr, 2e-4, 1e-15, 0);
        CHECK(o.lora_r == 8 && o.max_steps == 1000 && o.packing == 1);
        tn_train_opts_free(&o);
        free(p);
    }
    /* null / empty values leave the defaults */
    char *p = tmp_yaml("n.yml", "learning_rate:\nlora_r: ~\nseed: null\nsequence_len: ''\nadapter: lora\n");
    tn_train_opts o;
    tn_train_opts_defaults(&o);
    CHECKF(tn_train_opts_from_yaml(&o, p) == 0, "%s", tn_errmsg());
    CHECK(o.lr == 2e-4 && o.lora_r == 8 && o.seed == 42 && o.seq_len == 512);
    tn_train_opts_free(&o);
    free(p);
}

/* Relative paths follow the YAML file, absolute ones stay; a directory path
 * is joined with data_files[0]. */
TEST(relative_paths) {
    char *sub = tn_path_join(tn_t_tmpdir(), "proj");
    char *data = tn_path_join(sub, "data");
    CHECK(tn_mkdir_p(data) == 0);
    char *y = tn_path_join(sub, "cfg.yml");
    const char *txt = "base_model: ../models/m\noutput_dir: /abs/out\ndatasets:\n  - path: data\n"
                      "    ds_type: json\n    data_files: [rows.data, more.data]\n    type: {field_instruction: q}\n";
    CHECK(tn_write_file_atomic(y, txt, strlen(txt)) == 0);
    tn_train_opts o;
    tn_train_opts_defaults(&o);
    int nw = -1;
    CHECKF(tn_train_opts_from_yaml_w(&o, y, &nw) == 0, "%s", tn_errmsg());
    char *want_model = tn_path_join(sub, "../models/m");
    char *want_data = tn_path_join(data, "rows.data");
    CHECKF(streq(o.base_model, want_model), "%s", o.base_model);
    CHECKF(streq(o.dataset, want_data), "%s", o.dataset);
    CHECK(streq(o.output_dir, "/abs/out"));
    CHECK(streq(o.dataset_format, "json")); /* unknown extension: the hint decides */
    CHECK(nw == 1);                         /* only the first data file */
    CHECK(streq(o.spec.instruct.field_instruction, "q") && !o.spec.instruct.field_output);
    tn_train_opts_free(&o);
    free(want_model), free(want_data), free(y), free(data), free(sub);

    /* a config named without a directory: paths stay relative to cwd */
    tn_train_opts_defaults(&o);
    CHECK(tn_train_opts_from_yaml(&o, "no-such-config.yml") == -1);
    CHECK(strstr(tn_errmsg(), "no-such-config.yml") != NULL);
    tn_train_opts_free(&o);
}

TEST(malformed_yaml) {
    tn_train_opts o;
    tn_train_opts_defaults(&o);
    CHECK_ERR(tn_train_opts_from_yaml(&o, FIX("train_bad_syntax.yml")), "tests/data/train_bad_syntax.yml:5:");
    CHECK(strstr(tn_errmsg(), "invalid YAML") != NULL);
    tn_train_opts_free(&o);
    CHECK_ERR(parse_str("lora_target_modules: [q_proj, v_proj\nlora_r: 8\n"), "cfg.yml:");
    CHECK(strstr(tn_errmsg(), "invalid YAML") != NULL);
    CHECK_ERR(parse_str("a: 1\n\tb: 2\n"), "cfg.yml:2:");
    CHECK_ERR(parse_str("base_model: \"unterminated\nlr: 1\n"), "invalid YAML");
    CHECK_ERR(parse_str("x: *nope\n"), "invalid YAML");
    CHECK_ERR(parse_str(""), "empty config");
    CHECK_ERR(parse_str("# only a comment\n"), "empty config");
    CHECK_ERR(parse_str("- a\n- b\n"), "cfg.yml:1: config: expected a mapping");
    CHECK_ERR(parse_str("just text\n"), "expected a mapping");
}

TEST(type_errors) {
    CHECK_ERR(parse_str("adapter: lora\nlora_r: abc\n"), "cfg.yml:2: lora_r: expected an integer, got \"abc\"");
    CHECK_ERR(parse_str("lora_r: 8.5\n"), "lora_r: expected an integer");
    CHECK_ERR(parse_str("\n\nlearning_rate: [1]\n"), "cfg.yml:3: learning_rate: expected a number, got a list");
    CHECK_ERR(parse_str("learning_rate: {a: 1}\n"), "learning_rate: expected a number, got a mapping");
    CHECK_ERR(parse_str("learning_rate: 2e-4x\n"), "learning_rate: expected a number");
    CHECK_ERR(parse_str("learning_rate: .nan\n"), "learning_rate: expected a number");
    CHECK_ERR(parse_str("learning_rate: 0\n"), "learning_rate: must be positive");
    CHECK_ERR(parse_str("learning_rate: -1e-3\n"), "learning_rate: expected a number in [0, 10]");
    CHECK_ERR(parse_str("sample_packing: maybe\n"), "cfg.yml:1: sample_packing: expected a boolean");
    CHECK_ERR(parse_str("base_model: [a, b]\n"), "base_model: expected a string, got a list");
    CHECK_ERR(parse_str("micro_batch_size: 0\n"), "micro_batch_size: expected an integer in [1,");
    CHECK_ERR(parse_str("adam_beta2: 1\n"), "adam_beta2: expected a number in [0, 1)");
    CHECK_ERR(parse_str("lora_dropout: 1.5\n"), "lora_dropout");
    CHECK_ERR(parse_str("seed: -3\n"), "seed: expected an integer in [0,");
    CHECK_ERR(parse_str("lora_target_modules: {q: 1}\n"), "lora_target_modules: expected a list");
    CHECK_ERR(parse_str("lora_target_modules: [q, [k]]\n"), "lora_target_modules item: expected a module name");
    CHECK_ERR(parse_str("lora_target_modules: [a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q]\n"), "more than 16");
    CHECK_ERR(parse_str("[a]: 1\n"), "keys must be strings");
}

/* bf16: any YAML boolean, or auto (= fp32); anything else names file, line, key. */
TEST(bf16_key) {
    static const struct { const char *text; int want; } ok[] = {
        {"bf16: true\n", 1}, {"bf16: True\n", 1}, {"bf16: yes\n", 1}, {"bf16: 1\n", 1},   {"bf16: false\n", 0},
        {"bf16: off\n", 0},  {"bf16: auto\n", 0}, {"bf16: AUTO\n", 0}, {"bf16:\n", 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        char *p = tmp_yaml("b.yml", ok[i].text);
        tn_train_opts o;
        tn_train_opts_defaults(&o);
        CHECK(o.bf16 == 0);
        int nw = -1;
        CHECKF(tn_train_opts_from_yaml_w(&o, p, &nw) == 0, "%s: %s", ok[i].text, tn_errmsg());
        CHECKF(o.bf16 == ok[i].want && nw == 0, "%s: bf16 = %d, %d warnings", ok[i].text, o.bf16, nw);
        tn_train_opts_free(&o);
        free(p);
    }
    CHECK_ERR(parse_str("seed: 1\nbf16: maybe\n"), "cfg.yml:2: bf16: expected true, false or auto, got \"maybe\"");
    CHECK_ERR(parse_str("bf16: [true]\n"), "cfg.yml:1: bf16: expected true, false or auto, got a list");
}

TEST(refused_values) {
    CHECK_ERR(parse_str("base_model: m\nadapter: qlora\nload_in_4bit: true\n"), "cfg.yml:2: adapter: qlora is not supported");
    CHECK(strstr(tn_errmsg(), "quantis") != NULL);
    CHECK_ERR(parse_str("adapter: ia3\n"), "adapter: unknown adapter \"ia3\"");
    CHECK_ERR(parse_str("lr_scheduler: cosine_with_restarts\n"),
              "cfg.yml:1: lr_scheduler: unknown scheduler \"cosine_with_restarts\" (supported: cosine, linear, constant)");
    CHECK_ERR(parse_str("chat_template: vicuna\n"), "cfg.yml:1: chat_template: unknown chat template 'vicuna'");
    CHECK_ERR(parse_str("chat_template: jinja\n"), "Jinja templates");
}

TEST(dataset_errors) {
    CHECK_ERR(parse_str("datasets:\n  path: a.json\n  type: alpaca\n"),
              "cfg.yml:1: datasets: expected a list of datasets");
    CHECK_ERR(parse_str("datasets: a.json\n"), "datasets: expected a list of datasets (- path: ...), got \"a.json\"");
    CHECK_ERR(parse_str("datasets: []\n"), "datasets: empty list");
    CHECK_ERR(parse_str("datasets:\n  - a.json\n"), "cfg.yml:2: datasets[0]: expected a mapping");
    CHECK_ERR(parse_str("datasets:\n  - type: alpaca\n"), "datasets[0]: missing path");
    CHECK_ERR(parse_str("datasets:\n  - path: a.json\n"), "datasets[0]: missing type");
    CHECK_ERR(parse_str("datasets:\n  - path: a.json\n    type:\n"), "pre-tokenized");
    CHECK_ERR(parse_str("datasets:\n  - path: a.json\n    type: alpaca_chat.load_qa\n"),
              "cfg.yml:3: datasets[0].type: unknown type \"alpaca_chat.load_qa\"");
    CHECK_ERR(parse_str("datasets:\n  - path: a.json\n    type: [a]\n"), "datasets[0].type: expected a type name");
    CHECK_ERR(parse_str("datasets:\n  - path: a.parquet\n    ds_type: parquet\n    type: alpaca\n"),
              "cfg.yml:3: datasets[0].ds_type: \"parquet\" is not supported");
    /* the custom mapping is checked by the data layer, with our location */
    CHECK_ERR(parse_str("datasets:\n  - path: a.json\n    type:\n      field_output: a\n"), "cfg.yml:4: datasets[0].type");
    CHECK_ERR(parse_str("datasets:\n  - path: a.json\n    type:\n      field_instruction: q\n      format: \"{nope}\"\n"),
              "cfg.yml:4: datasets[0].type");
    CHECK_ERR(parse_str("datasets:\n  - path: a.json\n    type:\n      field_instruction: [q]\n"),
              "cfg.yml:4: datasets[0].type.field_instruction: expected a string, got a list");
    CHECK_ERR(parse_str("datasets:\n  - path: a.json\n    type: chat_template\n    chat_template: nope\n"),
              "cfg.yml:4: datasets[0].chat_template: unknown chat template");
}

/* Duplicate keys: the last wins (PyYAML); a bad value in the ignored first
 * one is not an error. Unknown keys warn once each. */
TEST(duplicates_and_warnings) {
    char *p = tmp_yaml("d.yml", "lora_r: abc\nlora_r: 32\nbf16: true\nbf16: false\nwandb_project: x\n"
                                "load_in_8bit: true\nfoo: {a: 1}\n");
    tn_train_opts o;
    tn_train_opts_defaults(&o);
    int nw = -1;
    CHECKF(tn_train_opts_from_yaml_w(&o, p, &nw) == 0, "%s", tn_errmsg());
    CHECK(o.lora_r == 32);
    CHECK(o.bf16 == 0); /* the last bf16 */
    /* lora_r dup, bf16 dup, wandb_project, load_in_8bit, foo */
    CHECKF(nw == 5, "%d warnings", nw);
    tn_train_opts_free(&o);
    free(p);
}

int main(void) {
    RUN(defaults);
    RUN(god_instruct);
    RUN(alpaca_full_finetune);
    RUN(chat_and_completion);
    RUN(number_spellings);
    RUN(relative_paths);
    RUN(malformed_yaml);
    RUN(type_errors);
    RUN(bf16_key);
    RUN(refused_values);
    RUN(dataset_errors);
    RUN(duplicates_and_warnings);
    return tn_test_summary("test_train_config");
}
