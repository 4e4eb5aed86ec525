/* config.c - miner settings: defaults and miner.yml (see config.h). */
#include "miner/config.h"

#include "net/keys.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

static const char *const STRATS[TN_STRAT_N] = {"fair", "resubmit", "copy", "swap-base", "untouched", "late",
                                               "test-peek"};

const char *tn_strategy_name(tn_strategy s) { return s >= 0 && s < TN_STRAT_N ? STRATS[s] : "?"; }

int tn_strategy_parse(const char *name, tn_strategy *out) {
    for (int i = 0; i < TN_STRAT_N; i++)
        if (!strcmp(name, STRATS[i])) {
            *out = (tn_strategy)i;
            return 0;
        }
    return tn_fail("unknown strategy '%s' (fair, resubmit, copy, swap-base, untouched, late, test-peek)", name);
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
    free(c->tuna_bin);
    memset(c, 0, sizeof *c);
}

/* ---- miner.yml: one table row per key ------------------------------------ */

typedef enum { K_STR, K_INT, K_NUM, K_I64, K_STRATEGY } kind;

typedef struct {
    const char *key;
    kind k;
    size_t off;
    double lo, hi;
} key_def;

#define F(field) offsetof(tn_miner_config, field)
static const key_def KEYS[] = {
    {"listen", K_STR, F(listen), 0, 0},
    {"key", K_STR, F(key_path), 0, 0},
    {"validator_key", K_STR, F(validator_key), 0, 0},
    {"slots", K_INT, F(slots), 1, 64},
    {"threads_per_job", K_INT, F(threads_per_job), 1, 1024},
    {"work_dir", K_STR, F(work_dir), 0, 0},
    {"strategy", K_STRATEGY, F(strategy), 0, 0},
    {"copy_from", K_STR, F(copy_from), 0, 0},
    {"swap_model", K_STR, F(swap_model), 0, 0},
    {"test_rows", K_STR, F(test_rows), 0, 0},
    {"tuna_bin", K_STR, F(tuna_bin), 0, 0},
    {"flops", K_NUM, F(flops), 0, 1e18},
    {"max_params", K_I64, F(policy.max_params), 1, 1e15},
    {"memory_gb", K_NUM, F(policy.memory_bytes), 0.001, 1e6}, /* scaled to bytes below */
    {"tokens_per_row", K_NUM, F(policy.tokens_per_row), 1, 1e6},
    {"min_epochs", K_NUM, F(policy.min_epochs), 0, 1e3},
    {"startup_s", K_NUM, F(policy.startup_s), 0, 1e6},
    {"bandwidth_mbps", K_NUM, F(policy.bandwidth_bps), 0.001, 1e6}, /* MB/s, scaled below */
    {"min_train_s", K_NUM, F(policy.min_train_s), 0, 1e7},
    {"lora_above_params", K_I64, F(policy.lora_above_params), 0, 1e15},
    {"max_train_s", K_NUM, F(max_train_s), 0, 1e8},
    {"upload_margin_s", K_NUM, F(upload_margin_s), 0, 1e6},
    {"offer_hold_s", K_NUM, F(offer_hold_s), 0, 1e7},
    {"retry_base_s", K_NUM, F(retry_base_s), 0.01, 3600},
    {"retry_max_s", K_NUM, F(retry_max_s), 0.01, 86400},
    {"late_s", K_NUM, F(late_s), 0, 86400},
};
#undef F

static int set_key(tn_miner_config *c, const key_def *d, const char *v, const char *path, unsigned line) {
    char *base = (char *)c + d->off, *end;
    if (d->k == K_STR) {
        tn_miner_config_set((char **)base, v);
        return 0;
    }
    if (d->k == K_STRATEGY) {
        if (tn_strategy_parse(v, (tn_strategy *)base)) return tn_err_prefix("%s:%u: strategy", path, line);
        return 0;
    }
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !(x >= d->lo && x <= d->hi))
        return tn_fail("%s:%u: %s: expected a number in [%g, %g], got '%s'", path, line, d->key, d->lo, d->hi, v);
    if (!strcmp(d->key, "memory_gb")) x *= (double)(1u << 30);
    if (!strcmp(d->key, "bandwidth_mbps")) x *= 1e6;
    if (d->k == K_INT) {
        if (x != floor(x)) return tn_fail("%s:%u: %s: expected an integer, got '%s'", path, line, d->key, v);
        *(int *)base = (int)x;
    } else if (d->k == K_I64) {
        *(int64_t *)base = (int64_t)x;
    } else {
        *(double *)base = x;
    }
    return 0;
}

int tn_miner_config_load_yaml(tn_miner_config *c, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return tn_fail_errno("%s", path);
    yaml_parser_t p;
    yaml_document_t doc;
    int rc = -1;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &doc)) {
        tn_fail("%s:%zu: %s", path, p.problem_mark.line + 1, p.problem ? p.problem : "YAML error");
        goto out_parser;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) { /* an empty file: nothing to change */
        rc = 0;
        goto out_doc;
    }
    if (root->type != YAML_MAPPING_NODE) {
        tn_fail("%s:%zu: expected a mapping of settings", path, root->start_mark.line + 1);
        goto out_doc;
    }
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(&doc, pr->key), *v = yaml_document_get_node(&doc, pr->value);
        unsigned line = (unsigned)k->start_mark.line + 1;
        if (k->type != YAML_SCALAR_NODE) {
            tn_fail("%s:%u: expected a plain key", path, line);
            goto out_doc;
        }
        const char *key = (const char *)k->data.scalar.value;
        const key_def *d = NULL;
        for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++)
            if (!strcmp(KEYS[i].key, key)) d = &KEYS[i];
        if (!d) {
            tn_fail("%s:%u: unknown key '%s' (docs/miner.md lists the settings)", path, line, key);
            goto out_doc;
        }
        if (v->type != YAML_SCALAR_NODE) {
            tn_fail("%s:%u: %s: expected a single value", path, line, key);
            goto out_doc;
        }
        if (set_key(c, d, (const char *)v->data.scalar.value, path, line)) goto out_doc;
    }
    rc = 0;
out_doc:
    yaml_document_delete(&doc);
out_parser:
    yaml_parser_delete(&p);
    fclose(f);
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
    if (c->retry_max_s < c->retry_base_s) return tn_fail("retry_max_s must be >= retry_base_s");
    return 0;
}
