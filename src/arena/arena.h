/* arena.h - a whole competition on one machine (tuna arena).
 *
 * Real processes on loopback: one validator, N miners (each `tuna miner`),
 * the organiser's calls through the signed API. The default line-up is three
 * fair miners with different recipes owned by two participants, and four
 * red-team miners (copy, swap-base, test-peek, public-peek). With no model
 * given, a small base model is pretrained first on WordNet (tuna pretrain)
 * and the tasks' datasets are built from WordNet too. A first task runs alone, then the
 * rest at once. The work directory keeps everything: the validator's data,
 * each miner's work, logs.
 */
#ifndef TN_ARENA_H
#define TN_ARENA_H

typedef struct {
    const char *work_dir;      /* default "arena-work" */
    const char *model;         /* base model dir; NULL = pretrain the built-in one */
    const char *dataset;       /* with --model: the dataset (JSON/JSONL/CSV) */
    const char *dataset_type;  /* JSON {kind, field_*...}; NULL = instruction/output */
    const char *synth_pool;    /* with --dataset: rows outside it for the synthetic sets; NULL = none */
    const char *miners;        /* "name:owner:strategy[:recipe],..."; NULL = default line-up */
    int tasks;                 /* default 3: one alone, then the rest at once */
    double minutes;            /* per task, default 1.5 */
    double pretrain_seconds;   /* default 90 */
    int keep_running;          /* serve the dashboard after the run */
    int json;                  /* print the machine-readable summary */
    unsigned long long seed;
    const char *tuna_bin;      /* default /proc/self/exe */
} tn_arena_opts;

void tn_arena_opts_default(tn_arena_opts *o);
int tn_arena_run(const tn_arena_opts *o);

#endif
