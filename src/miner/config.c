/* config.c - miner settings: defaults and miner.yml (see config.h). */
#include "miner/config.h"

#include "net/keys.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "base/yaml_keys.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const char *const STRATS[TN_STRAT_N] = {"fair", "resubmit", "copy", "swap-base", "untouched", "late",
                                               "test-peek", "public-peek"};

const char *tn_strategy_name(tn_strategy s) { return s >= 0 && s < TN_STRAT_N ? STRATS[s] : "?"; }

int tn_strategy_parse(const char *name, tn_strategy *out) {
    for (int i = 0; i < TN_STRAT_N; i++)
        if (!strcmp(name, STRATS[i])) {
            *out = (tn_strategy)i;
            return 0;
        }
    return tn_fail("unknown strategy '%s' (fair, resubmit, copy, swap-base, untouched, late, test-peek, public-peek)", name);
}

void tn_miner_config_defaults(tn_miner_config *c) {
    memset(c, 0, sizeof *c);
    c->slots = 1;
    c->threads_per_job = 0; /* decided at start from the core count */
    c->work_dir = tn_strdup("miner");
    c->strategy = TN_STRAT_FAIR;
    tn_policy_defaults(&c->policy);
    c->upload_margin_s = 60;
    c->offer_hold_s = 600;
    c->retry_base_s = 1;
    c->retry_max_s = 60;
    c->late_s = 5;
}

void tn_miner_config_set(char **field, const char *value) {
    free(*field);
    *field = value ? tn_strdup(value) : NULL;
}

void tn_miner_config_free(tn_miner_config *c) {
    free(c->listen);
    free(c->key_path);
    free(c->validator_key);
    free(c->work_dir);
    free(c->copy_from);
    free(c->swap_model);
    free(c->test_rows);
    free(c->public_data);
    free(c->tuna_bin);
    memset(c, 0, sizeof *c);
}

/* ---- miner.yml: one table row per key ------------------------------------ */

static int set_strategy(tn_yaml_file *f, const tn_yaml_key *k, const yaml_node_t *v, unsigned line, void *ctx) {
    tn_miner_config *c = ctx;
    if (v->type != YAML_SCALAR_NODE) return tn_yaml_type_err(f, line, k->name, "a strategy name", v);
    if (tn_strategy_parse(tn_yaml_str(v), &c->strategy)) return tn_err_prefix("%s:%u: strategy", f->path, line);
    return 0;
}

#define F(field) offsetof(tn_miner_config, field)
#define STR(key, field) {key, TN_YK_STR, F(field), 0, 0, 0, 0, 0, NULL}
#define NUM(key, field, lo, hi) {key, TN_YK_NUM, F(field), lo, hi, 0, 0, 0, NULL}
/* counts: numbers that must be whole */
#define COUNT(key, field, lo, hi, store) {key, TN_YK_NUM, F(field), lo, hi, 0, store, 0, NULL}
static const tn_yaml_key KEYS[] = {
    STR("listen", listen),
    STR("key", key_path),
    STR("validator_key", validator_key),
    COUNT("slots", slots, 1, 64, TN_YK_AS_INT),
    COUNT("threads_per_job", threads_per_job, 1, 1024, TN_YK_AS_INT),
    STR("work_dir", work_dir),
    {"strategy", TN_YK_FN, 0, 0, 0, 0, 0, 0, set_strategy},
    STR("copy_from", copy_from),
    STR("swap_model", swap_model),
    STR("test_rows", test_rows),
    STR("public_data", public_data),
    STR("tuna_bin", tuna_bin),
    NUM("flops", flops, 0, 1e18),
    COUNT("max_params", policy.max_params, 1, 1e15, TN_YK_AS_I64),
    {"memory_gb", TN_YK_NUM, F(policy.memory_bytes), 0.001, 1e6, 0, 0, (double)(1u << 30), NULL}, /* in bytes */
    NUM("tokens_per_row", policy.tokens_per_row, 1, 1e6),
    NUM("min_epochs", policy.min_epochs, 0, 1e3),
    NUM("startup_s", policy.startup_s, 0, 1e6),
    {"bandwidth_mbps", TN_YK_NUM, F(policy.bandwidth_bps), 0.001, 1e6, 0, 0, 1e6, NULL}, /* MB/s, in bytes/s */
    NUM("min_train_s", policy.min_train_s, 0, 1e7),
    COUNT("lora_above_params", policy.lora_above_params, 0, 1e15, TN_YK_AS_I64),
    NUM("max_train_s", max_train_s, 0, 1e8),
    NUM("upload_margin_s", upload_margin_s, 0, 1e6),
    NUM("offer_hold_s", offer_hold_s, 0, 1e7),
    NUM("retry_base_s", retry_base_s, 0.01, 3600),
    NUM("retry_max_s", retry_max_s, 0.01, 86400),
    NUM("late_s", late_s, 0, 86400),
};
#undef F
#undef STR
#undef NUM
#undef COUNT

int tn_miner_config_load_yaml(tn_miner_config *c, const char *path) {
    tn_yaml_file f;
    /* strict where a typo changes what the miner accepts: unknown keys are
     * errors, and an empty value is a value (not "leave the default") */
    const tn_yaml_table t = {.keys = KEYS,
                             .n_keys = sizeof KEYS / sizeof KEYS[0],
                             .target = c,
                             .ctx = c,
                             .what = "miner.yml",
                             .expected = "a mapping of settings",
                             .unknown_hint = " (docs/miner.md lists the settings)",
                             .empty_is_value = 1};
    /* an empty file (no root) changes nothing */
    int rc = tn_yaml_load(&f, path) ? -1 : tn_yaml_apply(&f, tn_yaml_root(&f), &t);
    tn_yaml_free(&f);
    return rc;
}

int tn_miner_config_check(const tn_miner_config *c) {
    unsigned char pub[TN_KEY_PUB_BYTES];
    if (!c->listen) return tn_fail("--listen ADDR:PORT is required");
    if (!c->key_path) return tn_fail("--key FILE is required (make one with tuna keygen)");
    if (!c->validator_key) return tn_fail("--validator-key HEX is required");
    if (tn_key_id_parse(c->validator_key, pub)) return tn_err_prefix("--validator-key");
    /* the copied directory may appear later (another miner's output): the
     * job waits for it while there is time */
    if (c->strategy == TN_STRAT_COPY && !c->copy_from)
        return tn_fail("strategy copy needs --copy-from DIR (another miner's output directory)");
    if (c->strategy == TN_STRAT_SWAP_BASE && (!c->swap_model || !tn_dir_exists(c->swap_model)))
        return tn_fail("strategy swap-base needs --swap-model DIR (an HF model directory)");
    if (c->strategy == TN_STRAT_TEST_PEEK && (!c->test_rows || !tn_file_exists(c->test_rows)))
        return tn_fail("strategy test-peek needs --test-rows FILE (an existing dataset file)");
    if (c->strategy == TN_STRAT_PUBLIC_PEEK &&
        (!c->public_data || (!tn_file_exists(c->public_data) && !tn_dir_exists(c->public_data))))
        return tn_fail("strategy public-peek needs --public-data PATH (a dataset file or a folder of them)");
    if (c->retry_max_s < c->retry_base_s) return tn_fail("retry_max_s must be >= retry_base_s");
    return 0;
}
