/* config.h - the miner's settings: defaults, then miner.yml, then flags.
 *
 * miner.yml is a flat YAML mapping whose keys are the long flags with '_'
 * for '-' (listen, key, validator_key, slots, threads_per_job, work_dir,
 * strategy, copy_from, swap_model, test_rows, public_data, tuna_bin) plus the tuning keys
 * of the policy, the recipe and the uploader (docs/miner.md lists them all).
 * Unknown keys are errors naming the file and line: a typo in a key that
 * decides what the miner accepts should not pass silently. An empty value is
 * a value (an empty string; not a number). A key given twice: the last one
 * wins, with a warning. Read by base/yaml_keys (its rules: yaml_keys.h).
 */
#ifndef TN_MINER_CONFIG_H
#define TN_MINER_CONFIG_H

#include "miner/policy.h"

typedef enum {
    TN_STRAT_FAIR = 0,   /* fine-tune the asked base on the given data */
    TN_STRAT_RESUBMIT,   /* reuse an earlier job's output of the same shape */
    TN_STRAT_COPY,       /* upload the files of copy_from (another miner's output) */
    TN_STRAT_SWAP_BASE,  /* fine-tune swap_model instead of the asked base */
    TN_STRAT_UNTOUCHED,  /* upload the base model as it came */
    TN_STRAT_LATE,       /* train fairly, upload after the deadline */
    TN_STRAT_TEST_PEEK,  /* mix the leaked test_rows into the training data */
    TN_STRAT_PUBLIC_PEEK, /* find the task's public source in public_data, train on its held-out rows */
    TN_STRAT_N
} tn_strategy;

const char *tn_strategy_name(tn_strategy s);
int tn_strategy_parse(const char *name, tn_strategy *out);

typedef struct {
    char *listen;          /* ADDR:PORT */
    char *key_path;        /* the miner's key file */
    char *validator_key;   /* hex key id whose requests are accepted */
    int slots;             /* concurrent jobs (default 1) */
    int threads_per_job;   /* OMP/BLAS threads of each training child (default: cores / slots) */
    char *work_dir;        /* default "miner" */
    tn_strategy strategy;
    char *copy_from, *swap_model, *test_rows;
    char *public_data;     /* public-peek: a dataset file, or a folder of them (the public library) */
    char *tuna_bin;        /* the engine to run (default: /proc/self/exe) */
    tn_policy policy;
    /* recipe and job timing */
    double max_train_s;    /* cap on one training run (0 = up to the deadline) */
    double upload_margin_s; /* kept before the deadline for uploading (plus transfer time) */
    double offer_hold_s;   /* an accepted offer holds a slot this long without /start_training */
    double retry_base_s, retry_max_s; /* upload backoff: base * 2^k, at most max */
    double late_s;         /* strategy late: seconds after the deadline to upload */
    double flops;          /* > 0: skip calibration and use this */
} tn_miner_config;

void tn_miner_config_defaults(tn_miner_config *c);
/* Applies a miner.yml over c. Strings are heap copies owned by c. */
int tn_miner_config_load_yaml(tn_miner_config *c, const char *path);
/* Replaces a string field (heap copy). */
void tn_miner_config_set(char **field, const char *value);
/* Checks what must be there before serving (key, validator key, paths the
 * strategy needs). */
int tn_miner_config_check(const tn_miner_config *c);
void tn_miner_config_free(tn_miner_config *c);

#endif
