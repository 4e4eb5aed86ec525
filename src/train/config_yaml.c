/* config_yaml.c - axolotl-style YAML configs -> tn_train_opts (see config_yaml.h).
 *
 * base/yaml_keys reads the file and walks the top level through a table:
 * a key that is just a typed field is a row; the rest (datasets, adapter,
 * schedules, templates) have their own small functions, which use the same
 * reader's typed getters and messages (file:line: key: ...).
 */
#include "train/config_yaml.h"

#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/yaml_keys.h"
#include "data/chat.h"
#include "data/rows.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

typedef struct {
    tn_yaml_file *f;      /* the YAML file: path, nodes, warnings */
    char *dir;            /* its directory, NULL when it has none (relative to cwd) */
    tn_train_opts *o;
    int lr_set;           /* learning_rate given */
    int adapter_set;      /* adapter given (else full fine-tuning, as axolotl) */
    const char *top_template; /* top-level chat_template (borrowed from doc), NULL = none */
    unsigned top_template_line;
    const yaml_node_t *datasets; /* read after the other keys */
    unsigned datasets_line;
} cfg;

/* --- paths ----------------------------------------------------------------- */

/* Relative paths are taken from the config's directory: a config and its
 * data travel together, wherever tuna is started from. */
static char *resolve(cfg *c, const char *p) {
    if (p[0] == '/' || !c->dir) return (char *)tn_train_opts_own(c->o, p);
    char *j = tn_path_join(c->dir, p);
    char *r = (char *)tn_train_opts_own(c->o, j);
    free(j);
    return r;
}

static int get_path(cfg *c, unsigned line, const char *key, const yaml_node_t *v, char **out) {
    const char *s = NULL;
    int rc = tn_yaml_get_str(c->f, line, key, v, &s);
    if (rc == 1) *out = resolve(c, s);
    return rc;
}

/* --- special keys ----------------------------------------------------------- */

static int set_adapter(cfg *c, unsigned line, const yaml_node_t *v) {
    const char *s = NULL;
    int rc = tn_yaml_get_str(c->f, line, "adapter", v, &s);
    if (rc < 0) return -1;
    c->adapter_set = 1;
    if (rc == 0) { /* `adapter:` empty: full fine-tuning */
        c->o->lora = 0;
        return 0;
    }
    if (!strcmp(s, "lora")) {
        c->o->lora = 1;
        return 0;
    }
    if (!strcmp(s, "qlora"))
        return tn_fail("%s:%u: adapter: qlora is not supported: tuna does not quantise the base model; "
                       "use adapter: lora (and drop load_in_4bit)",
                       c->f->path, line);
    return tn_fail("%s:%u: adapter: unknown adapter \"%s\" (supported: lora, or none for full fine-tuning)", c->f->path,
                   line, s);
}

static int set_sched(cfg *c, unsigned line, const yaml_node_t *v) {
    const char *s = NULL;
    int rc = tn_yaml_get_str(c->f, line, "lr_scheduler", v, &s);
    if (rc <= 0) return rc;
    static const char *const names[] = {"cosine", "linear", "constant"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, names[i])) {
            c->o->sched = (tn_sched_kind)i;
            return 0;
        }
    return tn_fail("%s:%u: lr_scheduler: unknown scheduler \"%s\" (supported: cosine, linear, constant)", c->f->path,
                   line, s);
}

static int set_targets(cfg *c, unsigned line, const yaml_node_t *v) {
    const char *key = "lora_target_modules";
    if (tn_yaml_is_null(v)) return 0;
    tn_train_opts *o = c->o;
    if (v->type == YAML_SCALAR_NODE) { /* a lone name: one target */
        o->n_lora_targets = 1;
        o->lora_targets[0] = (char *)tn_train_opts_own(o, tn_yaml_str(v));
        return 0;
    }
    if (v->type != YAML_SEQUENCE_NODE) return tn_yaml_type_err(c->f, line, key, "a list of module names", v);
    int n = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *e = tn_yaml_node(c->f, *it);
        if (e->type != YAML_SCALAR_NODE || tn_yaml_is_null(e))
            return tn_yaml_type_err(c->f, tn_yaml_line(e), "lora_target_modules item", "a module name", e);
        if (n == TN_LORA_MAX_TARGETS)
            return tn_fail("%s:%u: %s: more than %d modules", c->f->path, line, key, TN_LORA_MAX_TARGETS);
        o->lora_targets[n++] = (char *)tn_train_opts_own(o, tn_yaml_str(e));
    }
    o->n_lora_targets = n;
    return 0;
}

/* chat_template value -> o->chat_template (NULL = from the tokenizer) and the
 * parsed template into *t. */
static int parse_template(cfg *c, unsigned line, const char *key, const char *s, tn_chat_template *t) {
    if (!s || !strcmp(s, "tokenizer_default")) {
        c->o->chat_template = NULL;
        *t = TN_TMPL_NONE;
        return 0;
    }
    if (!strcmp(s, "jinja"))
        return tn_fail("%s:%u: %s: custom Jinja templates (chat_template_jinja) are not supported; name a "
                       "built-in template (chatml, llama2, llama3, mistral, alpaca) or tokenizer_default",
                       c->f->path, line, key);
    if (tn_chat_template_parse(s, t) != 0) return tn_err_prefix("%s:%u: %s", c->f->path, line, key);
    c->o->chat_template = (char *)tn_train_opts_own(c->o, s);
    return 0;
}

/* axolotl's Alpaca prompt (prompters.AlpacaPrompter): its two system texts
 * differ with and without input, so they are folded into the formats. */
#define ALPACA_SYS "Below is an instruction that describes a task, paired with an input that provides further " \
                   "context. Write a response that appropriately completes the request.\n\n"
#define ALPACA_SYS_NO_INPUT "Below is an instruction that describes a task. Write a response that " \
                            "appropriately completes the request.\n\n"

static int dataset_type_mapping(cfg *c, const char *where, const yaml_node_t *m) {
    static const char *const keys[] = {"field_system",    "field_instruction", "field_input",
                                       "field_output",    "format",            "no_input_format",
                                       "system_format",   "system_prompt"};
    /* tn_dataset_type_from_json owns the G.O.D semantics ("" = unset column,
     * format checks): hand it the mapping as JSON, then keep the strings. */
    json_t *obj = json_object();
    int rc = 0;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top && !rc; p++) {
        yaml_node_t *k = tn_yaml_node(c->f, p->key), *v = tn_yaml_node(c->f, p->value);
        if (k->type != YAML_SCALAR_NODE) {
            rc = tn_fail("%s:%u: %s: keys must be strings", c->f->path, tn_yaml_line(k), where);
            break;
        }
        char key[160];
        snprintf(key, sizeof key, "%s.%s", where, tn_yaml_str(k));
        size_t i = 0;
        while (i < 8 && strcmp(tn_yaml_str(k), keys[i])) i++;
        if (i == 8) {
            tn_yaml_warn_unknown(c->f, tn_yaml_line(k), key);
            continue;
        }
        const char *s = NULL;
        int got_it = tn_yaml_get_str(c->f, tn_yaml_line(k), key, v, &s);
        if (got_it < 0)
            rc = -1;
        else if (got_it == 1 && json_object_set_new(obj, keys[i], json_string(s)) != 0)
            rc = tn_fail("%s:%u: %s: not valid UTF-8", c->f->path, tn_yaml_line(k), key);
    }
    if (rc == 0) {
        char what[512];
        snprintf(what, sizeof what, "%s:%u: %s", c->f->path, tn_yaml_line(m), where);
        tn_dataset_type t;
        rc = tn_dataset_type_from_json(obj, what, &t);
        if (rc == 0) {
            tn_dataset_type *d = &c->o->spec.instruct;
            d->field_system = tn_train_opts_own(c->o, t.field_system);
            d->field_instruction = tn_train_opts_own(c->o, t.field_instruction);
            d->field_input = tn_train_opts_own(c->o, t.field_input);
            d->field_output = tn_train_opts_own(c->o, t.field_output);
            d->format = tn_train_opts_own(c->o, t.format);
            d->no_input_format = tn_train_opts_own(c->o, t.no_input_format);
            d->system_format = tn_train_opts_own(c->o, t.system_format);
            d->system_prompt = tn_train_opts_own(c->o, t.system_prompt);
            c->o->spec.kind = TN_DS_INSTRUCT;
        }
    }
    json_decref(obj);
    return rc;
}

/* The dataset entry's keys this file reads; the rest get a warning. */
typedef struct {
    const yaml_node_t *path, *type, *ds_type, *data_files, *field_messages, *field, *chat_template;
    unsigned path_line, type_line, ds_type_line, data_files_line, field_messages_line, field_line, tmpl_line;
} ds_keys;

static int dataset_entry(cfg *c, const yaml_node_t *e) {
    tn_train_opts *o = c->o;
    if (e->type != YAML_MAPPING_NODE)
        return tn_yaml_type_err(c->f, tn_yaml_line(e), "datasets[0]", "a mapping (path:, type:, ...)", e);
    ds_keys k = {0};
    struct {
        const char *name;
        const yaml_node_t **node;
        unsigned *line;
    } known[] = {{"path", &k.path, &k.path_line},
                 {"type", &k.type, &k.type_line},
                 {"ds_type", &k.ds_type, &k.ds_type_line},
                 {"data_files", &k.data_files, &k.data_files_line},
                 {"field_messages", &k.field_messages, &k.field_messages_line},
                 {"field", &k.field, &k.field_line},
                 {"chat_template", &k.chat_template, &k.tmpl_line}};
    const size_t n_known = sizeof known / sizeof known[0];
    for (yaml_node_pair_t *p = e->data.mapping.pairs.start; p < e->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = tn_yaml_node(c->f, p->key), *v = tn_yaml_node(c->f, p->value);
        if (kn->type != YAML_SCALAR_NODE)
            return tn_fail("%s:%u: datasets[0]: keys must be strings", c->f->path, tn_yaml_line(kn));
        size_t i = 0;
        while (i < n_known && strcmp(tn_yaml_str(kn), known[i].name)) i++;
        if (i < n_known) {
            *known[i].node = v;
            *known[i].line = tn_yaml_line(kn);
        } else if (!strcmp(tn_yaml_str(kn), "split") && v->type == YAML_SCALAR_NODE &&
                   !strcmp(tn_yaml_str(v), "train")) {
            /* split: train is what we read anyway */
        } else if (!tn_yaml_is_null(v)) {
            char key[160];
            snprintf(key, sizeof key, "datasets[0].%s", tn_yaml_str(kn));
            tn_yaml_warn_unknown(c->f, tn_yaml_line(kn), key);
        }
    }

    /* path (+ data_files when path is a directory) */
    if (!k.path || tn_yaml_is_null(k.path))
        return tn_fail("%s:%u: datasets[0]: missing path (the dataset file)", c->f->path, tn_yaml_line(e));
    char *path = NULL;
    if (get_path(c, k.path_line, "datasets[0].path", k.path, &path) < 0) return -1;
    if (k.data_files && !tn_yaml_is_null(k.data_files)) {
        const yaml_node_t *f = k.data_files;
        if (f->type == YAML_SEQUENCE_NODE) {
            size_t n = (size_t)(f->data.sequence.items.top - f->data.sequence.items.start);
            if (!n) return tn_fail("%s:%u: datasets[0].data_files: empty list", c->f->path, k.data_files_line);
            if (n > 1)
                tn_yaml_warn(c->f, k.data_files_line, "datasets[0].data_files: %s", "only the first file is used");
            f = tn_yaml_node(c->f, f->data.sequence.items.start[0]);
        }
        const char *file;
        if (f->type != YAML_SCALAR_NODE || tn_yaml_is_null(f))
            return tn_yaml_type_err(c->f, k.data_files_line, "datasets[0].data_files",
                                    "a file name or a list of them", f);
        file = tn_yaml_str(f);
        if (tn_dir_exists(path)) {
            char *j = file[0] == '/' ? tn_strdup(file) : tn_path_join(path, file);
            path = (char *)tn_train_opts_own(o, j);
            free(j);
        }
        /* else path names the file itself (G.O.D writes path: file,
         * data_files: [its basename]) */
    }
    o->dataset = path;

    /* ds_type: a format hint. HF's "json" loader reads JSON and JSON lines,
     * so the extension decides between those two when it can. */
    const char *dst = NULL;
    int rc = k.ds_type ? tn_yaml_get_str(c->f, k.ds_type_line, "datasets[0].ds_type", k.ds_type, &dst) : 0;
    if (rc < 0) return -1;
    if (rc == 1) {
        tn_rows_fmt by_ext;
        int ext_ok = tn_rows_fmt_for_path(path, &by_ext) == 0;
        tn_err_clear();
        if (!strcmp(dst, "json"))
            o->dataset_format = ext_ok && by_ext != TN_ROWS_CSV ? NULL : (char *)tn_train_opts_own(o, "json");
        else if (!strcmp(dst, "jsonl") || !strcmp(dst, "csv"))
            o->dataset_format = (char *)tn_train_opts_own(o, dst);
        else
            return tn_fail("%s:%u: datasets[0].ds_type: \"%s\" is not supported (json, jsonl or csv)", c->f->path,
                           k.ds_type_line, dst);
    }

    /* type */
    if (!k.type)
        return tn_fail("%s:%u: datasets[0]: missing type (alpaca, completion, chat_template, sharegpt, or a "
                       "mapping with field_instruction, field_output, ...)",
                       c->f->path, tn_yaml_line(e));
    if (tn_yaml_is_null(k.type))
        return tn_fail("%s:%u: datasets[0].type: empty (a pre-tokenized dataset) is not supported", c->f->path,
                       k.type_line);
    const char *fm = NULL, *fld = NULL, *tmpl = c->top_template;
    unsigned tmpl_line = c->top_template_line;
    if (k.field_messages &&
        tn_yaml_get_str(c->f, k.field_messages_line, "datasets[0].field_messages", k.field_messages, &fm) < 0)
        return -1;
    if (k.field && tn_yaml_get_str(c->f, k.field_line, "datasets[0].field", k.field, &fld) < 0) return -1;
    if (k.chat_template) {
        const char *t = NULL;
        if (tn_yaml_get_str(c->f, k.tmpl_line, "datasets[0].chat_template", k.chat_template, &t) < 0) return -1;
        if (t) tmpl = t, tmpl_line = k.tmpl_line;
    }
    tn_data_spec *spec = &o->spec;
    if (k.type->type == YAML_MAPPING_NODE) return dataset_type_mapping(c, "datasets[0].type", k.type);
    if (k.type->type != YAML_SCALAR_NODE)
        return tn_yaml_type_err(c->f, k.type_line, "datasets[0].type", "a type name or a mapping", k.type);
    const char *ty = tn_yaml_str(k.type);
    if (!strcmp(ty, "alpaca")) {
        spec->kind = TN_DS_INSTRUCT;
        memset(&spec->instruct, 0, sizeof spec->instruct);
        spec->instruct.field_instruction = "instruction";
        spec->instruct.field_input = "input";
        spec->instruct.field_output = "output";
        spec->instruct.format = ALPACA_SYS "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n";
        spec->instruct.no_input_format = ALPACA_SYS_NO_INPUT "### Instruction:\n{instruction}\n\n### Response:\n";
        return 0;
    }
    if (!strcmp(ty, "completion")) {
        spec->kind = TN_DS_TEXT;
        spec->text_field = fld ? tn_train_opts_own(o, fld) : NULL;
        return 0;
    }
    if (!strcmp(ty, "chat_template") || !strcmp(ty, "sharegpt")) {
        spec->kind = TN_DS_CHAT;
        spec->messages_field = fm ? tn_train_opts_own(o, fm) : !strcmp(ty, "sharegpt") ? "conversations" : NULL;
        return parse_template(c, tmpl_line, tmpl == c->top_template ? "chat_template" : "datasets[0].chat_template",
                              tmpl, &spec->chat_template);
    }
    return tn_fail("%s:%u: datasets[0].type: unknown type \"%s\" (supported: alpaca, completion, chat_template, "
                   "sharegpt, or a mapping with field_instruction, field_output, format, ...)",
                   c->f->path, k.type_line, ty);
}

static int set_datasets(cfg *c, unsigned line, const yaml_node_t *v) {
    if (v->type != YAML_SEQUENCE_NODE)
        return tn_yaml_type_err(c->f, line, "datasets", "a list of datasets (- path: ...)", v);
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (!n) return tn_fail("%s:%u: datasets: empty list", c->f->path, line);
    if (n > 1) tn_yaml_warn(c->f, line, "datasets: %s", "only the first dataset is used");
    return dataset_entry(c, tn_yaml_node(c->f, v->data.sequence.items.start[0]));
}

/* --- top level -------------------------------------------------------------- */

/* The table's key functions (ctx: the cfg). */
#define KEY_FN(name) \
    static int name(tn_yaml_file *f, const tn_yaml_key *k, const yaml_node_t *v, unsigned line, void *ctx)

/* base_model, output_dir: paths relative to the config's directory */
KEY_FN(key_path) {
    (void)f;
    cfg *c = ctx;
    return get_path(c, line, k->name, v, (char **)((char *)c->o + k->off)) < 0 ? -1 : 0;
}

KEY_FN(key_max_steps) {
    cfg *c = ctx;
    int64_t i = 0;
    int rc = tn_yaml_get_int(f, line, k->name, v, -1, 1e15, &i);
    if (rc == 1) c->o->max_steps = i < 0 ? 0 : i; /* -1: HF's "none" */
    return rc < 0 ? -1 : 0;
}

KEY_FN(key_lr) {
    cfg *c = ctx;
    double x = 0;
    int rc = tn_yaml_get_num(f, line, k->name, v, 0, 10, 0, &x);
    if (rc < 0) return -1;
    if (rc == 1) {
        c->o->lr = x;
        if (x <= 0) return tn_fail("%s:%u: learning_rate: must be positive, got %s", f->path, line, tn_yaml_str(v));
        c->lr_set = 1;
    }
    return 0;
}

KEY_FN(key_adapter) {
    (void)f, (void)k;
    return set_adapter(ctx, line, v);
}

KEY_FN(key_sched) {
    (void)f, (void)k;
    return set_sched(ctx, line, v);
}

KEY_FN(key_targets) {
    (void)f, (void)k;
    return set_targets(ctx, line, v);
}

/* Keys that axolotl reads and that do not change what tuna does, or that
 * only name a quantisation tuna does not do: a note, not "unknown". */
KEY_FN(key_quant) {
    (void)ctx;
    int b = 0;
    int rc = tn_yaml_get_bool(f, line, k->name, v, &b);
    if (rc < 0) return -1;
    if (b)
        tn_yaml_warn(f, line, "%s: ignored: tuna does not quantise; the base model is kept in full precision", k->name);
    return 0;
}

/* bf16: true / false (any YAML boolean) or "auto". auto means fp32: bf16
 * matmuls are a choice, never a default (docs/training.md). */
KEY_FN(key_bf16) {
    (void)k;
    cfg *c = ctx;
    if (tn_yaml_is_null(v)) return 0;
    if (v->type == YAML_SCALAR_NODE && !strcasecmp(tn_yaml_str(v), "auto")) {
        c->o->bf16 = 0;
        return 0;
    }
    if (tn_yaml_parse_bool(v, &c->o->bf16)) return 0;
    return tn_yaml_type_err(f, line, "bf16", "true, false or auto", v);
}

/* checked here, applied with the dataset (which may override it) */
KEY_FN(key_chat_template) {
    cfg *c = ctx;
    const char *s = NULL;
    int rc = tn_yaml_get_str(f, line, k->name, v, &s) < 0 ? -1 : 0;
    tn_chat_template t;
    if (!rc) rc = parse_template(c, line, k->name, s, &t);
    c->top_template = s;
    c->top_template_line = line;
    return rc;
}

/* read after the other keys: the dataset's template overrides the top one */
KEY_FN(key_datasets) {
    (void)f, (void)k;
    cfg *c = ctx;
    c->datasets = v;
    c->datasets_line = line;
    return 0;
}

#define F(field) offsetof(tn_train_opts, field)
#define FN(key, fn) {key, TN_YK_FN, 0, 0, 0, 0, 0, 0, fn}
#define INT(key, field, lo, hi) {key, TN_YK_INT, F(field), lo, hi, 0, 0, 0, NULL}
#define NUM(key, field, lo, hi, hi_open) {key, TN_YK_NUM, F(field), lo, hi, hi_open, 0, 0, NULL}
#define BOOL(key, field) {key, TN_YK_BOOL, F(field), 0, 0, 0, 0, 0, NULL}
static const tn_yaml_key g_keys[] = {
    {"base_model", TN_YK_FN, F(base_model), 0, 0, 0, 0, 0, key_path},
    {"output_dir", TN_YK_FN, F(output_dir), 0, 0, 0, 0, 0, key_path},
    INT("sequence_len", seq_len, 1, 1 << 20),
    INT("micro_batch_size", micro_batch, 1, 1 << 16),
    INT("gradient_accumulation_steps", grad_accum, 1, 1 << 20),
    INT("num_epochs", epochs, 0, 1e6),
    FN("max_steps", key_max_steps),
    BOOL("train_on_inputs", train_on_inputs),
    BOOL("sample_packing", packing),
    BOOL("gradient_checkpointing", checkpoint_blocks),
    FN("learning_rate", key_lr),
    INT("warmup_steps", warmup_steps, 0, 1e9),
    NUM("warmup_ratio", warmup_ratio, 0, 1, 0),
    NUM("weight_decay", weight_decay, 0, 1e3, 0),
    NUM("adam_beta1", adam_beta1, 0, 1, 1),
    NUM("adam_beta2", adam_beta2, 0, 1, 1),
    NUM("adam_epsilon", adam_eps, 0, 1, 0),
    NUM("max_grad_norm", max_grad_norm, 0, 1e9, 0),
    {"seed", TN_YK_INT, F(seed), 0, 9e15, 0, TN_YK_AS_U64, 0, NULL},
    INT("lora_r", lora_r, 1, 1 << 16),
    NUM("lora_alpha", lora_alpha, 0, 1e6, 0),
    NUM("lora_dropout", lora_dropout, 0, 1, 1),
    BOOL("lora_target_linear", lora_target_linear),
    NUM("val_set_size", val_size, 0, 1e12, 0),
    INT("eval_steps", eval_every, 0, 1e9),
    INT("early_stopping_patience", early_stop_patience, 0, 1e9),
    INT("save_steps", save_every, 0, 1e9),
    FN("datasets", key_datasets),
    FN("adapter", key_adapter),
    FN("lr_scheduler", key_sched),
    FN("bf16", key_bf16),
    FN("lora_target_modules", key_targets),
    FN("chat_template", key_chat_template),
    FN("load_in_4bit", key_quant),
    FN("load_in_8bit", key_quant),
};
#undef F
#undef FN
#undef INT
#undef NUM
#undef BOOL

static int top_level(cfg *c, const yaml_node_t *root) {
    const tn_yaml_table t = {.keys = g_keys,
                             .n_keys = sizeof g_keys / sizeof g_keys[0],
                             .target = c->o,
                             .ctx = c,
                             .what = "config",
                             .expected = "a mapping of keys (base_model: ..., datasets: ...)",
                             .unknown_warns = 1};
    if (tn_yaml_apply(c->f, root, &t)) return -1;
    if (c->datasets && set_datasets(c, c->datasets_line, c->datasets) != 0) return -1;
    if (!c->adapter_set) c->o->lora = 0; /* axolotl: no adapter = full fine-tuning */
    if (!c->lr_set) c->o->lr = c->o->lora ? 2e-4 : 2e-5;
    return 0;
}

/* --- loading -------------------------------------------------------------- */

int tn_train_opts_from_yaml_w(tn_train_opts *o, const char *path, int *n_warnings) {
    if (n_warnings) *n_warnings = 0;
    tn_yaml_file f;
    if (tn_yaml_load(&f, path)) {
        tn_yaml_free(&f);
        return -1;
    }
    cfg c = {.f = &f, .o = o};
    const char *slash = strrchr(path, '/');
    if (slash) c.dir = slash == path ? tn_strdup("/") : tn_strndup(path, (size_t)(slash - path));
    yaml_node_t *root = tn_yaml_root(&f);
    int rc;
    if (!root || tn_yaml_is_null(root))
        rc = tn_fail("%s: empty config (expected keys such as base_model and datasets)", path);
    else
        rc = top_level(&c, root);
    if (n_warnings) *n_warnings = f.n_warn;
    free(c.dir);
    tn_yaml_free(&f);
    return rc;
}

int tn_train_opts_from_yaml(tn_train_opts *o, const char *path) { return tn_train_opts_from_yaml_w(o, path, NULL); }
