/* cmd_train.c - `tuna train`: fine-tune a model (full or LoRA) on a dataset. */
#include "base/err.h"
#include "base/log.h"
#include "base/num.h"
#include "cli/cli_data.h"
#include "cli/commands.h"
#include "train/config_yaml.h"
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: tuna train [CONFIG.yml] [--model DIR] [--data FILE] [--out DIR] [options]\n\n"
            "Fine-tunes an HF model directory on a dataset, fully or with LoRA, and writes an HF\n"
            "model directory (or, with --lora, a PEFT adapter) to --out, with metrics.jsonl,\n"
            "loss.svg and train_summary.json beside it. CONFIG.yml is an axolotl-style config;\n"
            "flags given after it override its keys.\n\n"
            "what:\n"
            "  --model DIR          base model (axolotl: base_model)\n"
            "  --data FILE          dataset (datasets[0].path)\n"
            "  --out DIR            output directory (output_dir)\n"
            "how long:\n"
            "  --time D             time budget, e.g. 90s, 15m, 1.5h: the schedule ends with it and the\n"
            "                       output is written before it runs out (implies --epochs 0 unless given)\n"
            "  --epochs N           passes over the data (default 1; 0 = until --time / --max-steps)\n"
            "  --max-steps N        optimizer steps at most\n"
            "batching and optimizer:\n"
            "  --seq-len N          tokens per row at most; longer rows keep their start (default 512)\n"
            "  --batch N            rows per micro-batch (default 1)\n"
            "  --grad-accum N       micro-batches per optimizer step (default 1)\n"
            "  --lr X               peak learning rate (default 2e-4 with --lora, 2e-5 full)\n"
            "  --scheduler S        cosine | linear | constant (default cosine)\n"
            "  --warmup N           warmup steps (default 0)\n"
            "  --weight-decay X     AdamW decoupled decay on matrices (default 0)\n"
            "  --clip X             clip the gradient's global norm (default 1; 0 = off)\n"
            "  --seed N             data order, split, LoRA init and dropout (default 42)\n"
            "  --train-on-inputs    score the prompt tokens too\n"
            "  --bf16[=false|auto]  matmuls with bf16 inputs, accumulated in fp32 (weights, gradients\n"
            "                       and AdamW stay fp32; needs AVX512_BF16); axolotl: bf16. Default\n"
            "                       and auto: fp32 (see docs/training.md)\n"
            "  --gradient-checkpointing  keep only each block's input and recompute the rest in the\n"
            "                       backward: far less memory for long rows, ~1/3 more compute\n"
            "LoRA:\n"
            "  --lora               train a LoRA adapter (base frozen) and write a PEFT adapter\n"
            "  --lora-r N           rank (default 8)     --lora-alpha X  (default 16)\n"
            "  --lora-dropout X     (default 0.05)       --lora-targets a,b  (default: all linear)\n"
            "validation and checkpoints:\n"
            "  --val-size X         hold out a fraction (< 1) or a number of rows (default 0)\n"
            "  --eval-every N       steps between evaluations (default: 10 per run)\n"
            "  --early-stop N       stop after N evaluations without improvement\n"
            "  --save-every N       write a resumable checkpoint every N steps (also on SIGINT/SIGTERM)\n"
            "  --resume DIR         continue from OUT/checkpoint\n"
            "  --quiet              no progress line\n\n" CLI_DATA_HELP);
}

int cmd_train(int argc, char **argv) {
    enum { O_MODEL = 1, O_DATA, O_OUT, O_TIME, O_EPOCHS, O_STEPS, O_SEQ, O_BATCH, O_ACC, O_LR, O_SCHED, O_WARM,
           O_WD, O_CLIP, O_SEED, O_INPUTS, O_LORA, O_R, O_ALPHA, O_DROP, O_TARGETS, O_VAL, O_EVAL, O_EARLY,
           O_SAVE, O_RESUME, O_QUIET, O_BF16, O_CKPT, O_HELP };
    static const struct option opts[] = {
        {"model", 1, 0, O_MODEL},       {"data", 1, 0, O_DATA},         {"out", 1, 0, O_OUT},
        {"time", 1, 0, O_TIME},         {"epochs", 1, 0, O_EPOCHS},     {"max-steps", 1, 0, O_STEPS},
        {"seq-len", 1, 0, O_SEQ},       {"batch", 1, 0, O_BATCH},       {"grad-accum", 1, 0, O_ACC},
        {"lr", 1, 0, O_LR},             {"scheduler", 1, 0, O_SCHED},   {"warmup", 1, 0, O_WARM},
        {"weight-decay", 1, 0, O_WD},   {"clip", 1, 0, O_CLIP},         {"seed", 1, 0, O_SEED},
        {"train-on-inputs", 0, 0, O_INPUTS}, {"lora", 0, 0, O_LORA},    {"lora-r", 1, 0, O_R},
        {"lora-alpha", 1, 0, O_ALPHA},  {"lora-dropout", 1, 0, O_DROP}, {"lora-targets", 1, 0, O_TARGETS},
        {"val-size", 1, 0, O_VAL},      {"eval-every", 1, 0, O_EVAL},   {"early-stop", 1, 0, O_EARLY},
        {"save-every", 1, 0, O_SAVE},   {"resume", 1, 0, O_RESUME},     {"quiet", 0, 0, O_QUIET},
        {"bf16", 2, 0, O_BF16},         {"help", 0, 0, O_HELP},         {"gradient-checkpointing", 0, 0, O_CKPT},
        CLI_DATA_OPTIONS,
        {0, 0, 0, 0}};
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    tn_train_opts o;
    tn_train_opts_defaults(&o);
    o.lora = 0; /* as in axolotl: full fine-tuning unless an adapter is asked for */
    int rc = 2, epochs_given = 0, lr_given = 0, c;
    /* a config file first (the first non-flag argument), flags override it */
    if (argc > 1 && argv[1][0] != '-') {
        if (tn_train_opts_from_yaml(&o, argv[1])) {
            rc = cli_fail("train");
            goto out;
        }
        epochs_given = lr_given = 1; /* the config's values (or axolotl's defaults) stand */
        argv++;
        argc--;
    }
    cli_data d;
    cli_data_init(&d);
    int data_flags = 0;
    int64_t seed;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = cli_data_option(&d, c, optarg);
        if (r < 0) goto bad;
        if (r > 0) {
            data_flags = 1;
            continue;
        }
        switch (c) {
        case O_MODEL: o.base_model = optarg; break;
        case O_DATA: o.dataset = optarg; break;
        case O_OUT: o.output_dir = optarg; break;
        case O_TIME: if (tn_parse_duration("--time", optarg, 1e9, &o.time_budget_s)) goto bad; break;
        case O_EPOCHS: if (tn_parse_int("--epochs", optarg, 0, 1000000, &o.epochs)) goto bad; epochs_given = 1; break;
        case O_STEPS: if (tn_parse_i64("--max-steps", optarg, 0, INT64_C(1000000000000), &o.max_steps)) goto bad; break;
        case O_SEQ: if (tn_parse_int("--seq-len", optarg, 2, 1 << 20, &o.seq_len)) goto bad; break;
        case O_BATCH: if (tn_parse_int("--batch", optarg, 1, 1024, &o.micro_batch)) goto bad; break;
        case O_ACC: if (tn_parse_int("--grad-accum", optarg, 1, 1 << 16, &o.grad_accum)) goto bad; break;
        case O_LR: if (tn_parse_double("--lr", optarg, 1e-12, 10, &o.lr)) goto bad; lr_given = 1; break;
        case O_SCHED:
            if (!strcmp(optarg, "cosine")) o.sched = TN_SCHED_COSINE;
            else if (!strcmp(optarg, "linear")) o.sched = TN_SCHED_LINEAR;
            else if (!strcmp(optarg, "constant")) o.sched = TN_SCHED_CONSTANT;
            else { tn_fail("--scheduler %s: expected cosine, linear or constant", optarg); goto bad; }
            break;
        case O_WARM: if (tn_parse_int("--warmup", optarg, 0, 1000000000, &o.warmup_steps)) goto bad; break;
        case O_WD: if (tn_parse_double("--weight-decay", optarg, 0, 10, &o.weight_decay)) goto bad; break;
        case O_CLIP: if (tn_parse_double("--clip", optarg, 0, 1e9, &o.max_grad_norm)) goto bad; break;
        case O_SEED: if (tn_parse_i64("--seed", optarg, 0, INT64_C(9000000000000000), &seed)) goto bad; o.seed = (uint64_t)seed; break;
        case O_INPUTS: o.train_on_inputs = 1; break;
        case O_LORA: o.lora = 1; break;
        case O_R: if (tn_parse_int("--lora-r", optarg, 1, 4096, &o.lora_r)) goto bad; o.lora = 1; break;
        case O_ALPHA: if (tn_parse_double("--lora-alpha", optarg, 1e-6, 1e6, &o.lora_alpha)) goto bad; o.lora = 1; break;
        case O_DROP: if (tn_parse_double("--lora-dropout", optarg, 0, 0.99, &o.lora_dropout)) goto bad; o.lora = 1; break;
        case O_TARGETS: {
            o.n_lora_targets = 0;
            o.lora_target_linear = 0;
            char *copy = (char *)tn_train_opts_own(&o, optarg), *save = NULL;
            for (char *tk = strtok_r(copy, ",", &save); tk; tk = strtok_r(NULL, ",", &save)) {
                if (o.n_lora_targets == TN_LORA_MAX_TARGETS) { tn_fail("--lora-targets: at most %d", TN_LORA_MAX_TARGETS); goto bad; }
                o.lora_targets[o.n_lora_targets++] = tk;
            }
            o.lora = 1;
            break;
        }
        case O_VAL: if (tn_parse_double("--val-size", optarg, 0, 1e9, &o.val_size)) goto bad; break;
        case O_EVAL: if (tn_parse_int("--eval-every", optarg, 1, 1000000000, &o.eval_every)) goto bad; break;
        case O_EARLY: if (tn_parse_int("--early-stop", optarg, 0, 1000000, &o.early_stop_patience)) goto bad; break;
        case O_SAVE: if (tn_parse_int("--save-every", optarg, 0, 1000000000, &o.save_every)) goto bad; break;
        case O_RESUME: o.resume = optarg; break;
        case O_QUIET: o.quiet = 1; break;
        case O_CKPT: o.checkpoint_blocks = 1; break;
        case O_BF16:
            if (!optarg || !strcmp(optarg, "true") || !strcmp(optarg, "on") || !strcmp(optarg, "1")) o.bf16 = 1;
            else if (!strcmp(optarg, "false") || !strcmp(optarg, "off") || !strcmp(optarg, "0") ||
                     !strcmp(optarg, "auto")) o.bf16 = 0;
            else { tn_fail("--bf16=%s: expected true, false or auto", optarg); goto bad; }
            break;
        default: usage(stderr); goto out;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "tuna train: unexpected argument '%s' (a config file must come first)\n", argv[optind]);
        goto out;
    }
    if (!o.base_model || !o.dataset || !o.output_dir) {
        fprintf(stderr, "tuna train: need --model, --data and --out (or a config with base_model, datasets, output_dir)\n");
        goto out;
    }
    if (o.time_budget_s > 0 && !epochs_given) o.epochs = 0; /* fill the time */
    if (!lr_given) o.lr = o.lora ? 2e-4 : 2e-5;
    if (data_flags || o.spec.kind == TN_DS_INSTRUCT) {
        /* flags (or no mapping in the config): the CLI's data rules, guessing from the first row */
        if (!data_flags) {
            d.spec = o.spec;
            d.kind = o.spec.instruct.field_instruction ? TN_DS_INSTRUCT : -1;
        }
        if (cli_data_finish(&d, o.dataset)) goto bad;
        o.spec = d.spec;
    }
    if (!o.lora && (o.lora_dropout != 0.05 || o.n_lora_targets)) tn_debug("LoRA options ignored: full fine-tuning");
    rc = tn_train_run(&o) ? cli_fail("train") : (o.interrupted ? 130 : 0);
    goto out;
bad:
    rc = cli_fail("train");
out:
    tn_train_opts_free(&o);
    return rc;
}
