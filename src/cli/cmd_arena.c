/* cmd_arena.c - `tuna arena`: a whole competition on this machine. */
#include "arena/arena.h"
#include "base/err.h"
#include "base/num.h"
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f) {
    fprintf(f, "usage: tuna arena [options]\n\n"
               "Runs a competition on this machine with real processes on loopback: a validator,\n"
               "fair miners with different recipes (owners alice and bob) and red-team miners\n"
               "(copy, swap-base, test-peek, public-peek), a first task alone and then the rest at\n"
               "once; prints the results, the rankings and the flags. With no --model, a small base\n"
               "model is pretrained first on WordNet and the tasks are built from WordNet (word ->\n"
               "definition, word -> synonyms). Everything stays in the work folder.\n\n"
               "options:\n"
               "  --work DIR           work folder (default arena-work; a rerun reuses its base model)\n"
               "  --model DIR          use this base model instead (needs --dataset)\n"
               "  --dataset FILE       the tasks' dataset (columns instruction, output; or --dataset-type)\n"
               "  --dataset-type JSON  e.g. '{\"kind\":\"instruct\",\"field_instruction\":\"question\",\n"
               "                       \"field_output\":\"answer\"}'\n"
               "  --synth-pool FILE    with --dataset: rows of its kind that are not in it, from which\n"
               "                       the validator draws the synthetic sets (synth.source pool)\n"
               "  --miners SPEC        name:owner:strategy[:recipe],... (strategies: fair, copy,\n"
               "                       swap-base, test-peek, public-peek, untouched, late, resubmit;\n"
               "                       recipes: full, lora, quick)\n"
               "  --tasks N            tasks (default 3: one alone, then the rest at once)\n"
               "  --minutes M          training time per task (default 1.5)\n"
               "  --pretrain-seconds S pretraining time of the built-in base (default 90)\n"
               "  --seed N             (default 42)\n"
               "  --keep-running       serve the dashboard after the run, until Ctrl-C\n"
               "  --json               print the machine-readable summary instead of tables\n");
}

int cmd_arena(int argc, char **argv) {
    static const struct option opts[] = {
        {"work", 1, 0, 'w'},   {"model", 1, 0, 'm'},    {"dataset", 1, 0, 'd'},        {"dataset-type", 1, 0, 'D'},
        {"miners", 1, 0, 'M'}, {"tasks", 1, 0, 't'},    {"minutes", 1, 0, 'n'},        {"pretrain-seconds", 1, 0, 'p'},
        {"seed", 1, 0, 's'},   {"keep-running", 0, 0, 'k'}, {"json", 0, 0, 'j'},      {"help", 0, 0, 'h'},
        {"synth-pool", 1, 0, 'P'}, {0, 0, 0, 0}};
    tn_arena_opts o;
    tn_arena_opts_default(&o);
    int c, bad = 0;
    uint64_t seed;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'w': o.work_dir = optarg; break;
        case 'm': o.model = optarg; break;
        case 'd': o.dataset = optarg; break;
        case 'D': o.dataset_type = optarg; break;
        case 'P': o.synth_pool = optarg; break;
        case 'M': o.miners = optarg; break;
        case 't': bad = tn_parse_int("--tasks", optarg, 1, 1000000, &o.tasks); break;
        case 'n': bad = tn_parse_double("--minutes", optarg, 0, 1e6, &o.minutes); break;
        case 'p': bad = tn_parse_double("--pretrain-seconds", optarg, 0, 86400, &o.pretrain_seconds); break;
        case 's': if (!(bad = tn_parse_u64("--seed", optarg, 0, UINT64_MAX, &seed))) o.seed = seed; break;
        case 'k': o.keep_running = 1; break;
        case 'j': o.json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) return cli_usage_fail("arena");
    }
    if (optind != argc || o.tasks < 1 || !(o.minutes > 0) || !(o.pretrain_seconds > 0)) {
        usage(stderr);
        return 2;
    }
    return tn_arena_run(&o) ? cli_fail("arena") : 0;
}
