/* main.c - `tuna <subcommand> ...`: dispatch to src/cli/cmd_*.c. */
#include "base/omp_env.h"
#include "cli/commands.h"

#include <stdio.h>
#include <string.h>

/* The release this tree is; bumped with each wave of issues (docs, CHANGELOG
 * in git log). */
#define TUNA_VERSION "0.13.0-dev"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static const command COMMANDS[] = {
    {"admin", cmd_admin, "organiser's client for a validator (miners, models, datasets, tasks)"},
    {"bench", cmd_bench, "training and evaluation throughput on the benchmark models; sgemm peak"},
    {"arena", cmd_arena, "run a whole competition on this machine (validator, miners, cheats, rankings)"},
    {"check", cmd_check, "is a submission a fine-tune of the base? (provenance, duplicates)"},
    {"convert", cmd_convert, "import a checkpoint (llama2.c) into an HF model directory"},
    {"eval", cmd_eval, "mean loss of a model (or model + adapter) on a dataset"},
    {"eval-submission", cmd_eval_submission, "(validator internal) evaluate one submission in a sandbox"},
    {"generate", cmd_generate, "continue a prompt with a model (KV cache; greedy, top-k, top-p)"},
    {"serve", cmd_serve, "OpenAI-compatible chat completions server on a model directory"},
    {"info", cmd_info, "describe an HF model directory (config, parameter count)"},
    {"keygen", cmd_keygen, "create an Ed25519 key pair for signing arena requests"},
    {"miner", cmd_miner, "serve a validator's fine-tuning tasks (accept, train, upload); miner ledger"},
    {"pretrain", cmd_pretrain, "make the built-in base model and task datasets from WordNet"},
    {"selfcheck", cmd_selfcheck, "build a tiny model, train a few steps, check the loss falls"},
    {"tokenize", cmd_tokenize, "encode lines of text to token ids (or --decode ids to text)"},
    {"train", cmd_train, "fine-tune a model (full or LoRA) on a dataset, within a time budget"},
    {"validator", cmd_validator, "run the competition validator (API, scheduler, evaluation)"},
    {"worker", cmd_worker, "evaluate a validator's queued submissions on this host (leased jobs)"},
};
#define NCOMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *f) {
    fprintf(f, "usage: tuna <command> [options]   (tuna <command> --help for details)\n"
               "       tuna --version\n\n"
               "tuna is a fine-tuning engine and competition system in C.\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
}

int main(int argc, char **argv) {
    tn_omp_env_default(argv); /* passive OpenMP waits unless the user chose (base/omp_env.h) */
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("tuna %s\n", TUNA_VERSION);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "tuna: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
