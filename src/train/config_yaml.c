/* config_yaml.c - axolotl-style YAML configs -> tn_train_opts (see config_yaml.h).
 *
 * libyaml's document API loads the file into a node tree that keeps each
 * node's line, so every message can point at the key it is about. Top-level
 * keys are table-driven where a key is just a typed field; the rest
 * (datasets, adapter, schedules, templates) have their own small functions.
 */
#include "train/config_yaml.h"

#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/chat.h"
#include "data/rows.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

typedef struct {
    const char *path;     /* the YAML file, for messages */
    char *dir;            /* its directory, NULL when it has none (relative to cwd) */
    yaml_document_t *doc;
    tn_train_opts *o;
    int n_warn;
    char **warned;        /* keys already warned about: one warning per key */
    int n_warned;
    int lr_set;           /* learning_rate given */
    int adapter_set;      /* adapter given (else full fine-tuning, as axolotl) */
    const char *top_template; /* top-level chat_template (borrowed from doc), NULL = none */
    unsigned top_template_line;
} cfg;

/* --- nodes ---------------------------------------------------------------- */

static unsigned line_of(const yaml_node_t *n) { return (unsigned)n->start_mark.line + 1; }

static const char *sval(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* Null as PyYAML reads it: an empty value, ~, null. Empty quoted strings count
 * too: no key here means anything different for "" and "not given". */
static int is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE) return 0;
    const char *s = sval(n);
    if (!s[0]) return 1;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    return !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* "a list", "a mapping", or the scalar itself quoted (cut at 40 bytes). */
static const char *got(const yaml_node_t *n, char *buf, size_t cap) {
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type != YAML_SCALAR_NODE) return "nothing";
    const char *s = sval(n);
    snprintf(buf, cap, "\"%.40s%s\"", s, strlen(s) > 40 ? "..." : "");
    return buf;
}

static int type_err(cfg *c, unsigned line, const char *key, const char *expected, const yaml_node_t *v) {
    char b[64];
    return tn_fail("%s:%u: %s: expected %s, got %s", c->path, line, key, expected, got(v, b, sizeof b));
}

static void warn(cfg *c, unsigned line, const char *fmt, const char *a) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a);
    tn_warn("%s:%u: %s", c->path, line, msg);
    c->n_warn++;
}

static void warn_unknown(cfg *c, unsigned line, const char *key) {
    for (int i = 0; i < c->n_warned; i++)
        if (!strcmp(c->warned[i], key)) return;
    c->warned = tn_realloc(c->warned, (size_t)(c->n_warned + 1) * sizeof *c->warned);
    c->warned[c->n_warned++] = tn_strdup(key);
    warn(c, line, "unknown key '%s' ignored", key);
}

/* --- typed values ----------------------------------------------------------- */

/* A scalar as a finite double: 2e-4, 0.0002, "2e-4", 1_000 (YAML 1.1 digit
 * separators, plain scalars only). 0 on success. */
static int parse_num(const yaml_node_t *v, double *out) {
    if (v->type != YAML_SCALAR_NODE) return -1;
    const char *s = sval(v);
    char buf[64];
    size_t k = 0;
    for (; *s && k + 1 < sizeof buf; s++)
        if (*s != '_' || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) buf[k++] = *s;
    if (*s) return -1; /* longer than any number */
    buf[k] = 0;
    if (!k || buf[0] == ' ' || buf[0] == '\t') return -1;
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (end == buf || *end || errno == ERANGE || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

/* Reads an integer-valued key into *out, within [lo, hi]. 1 = set, 0 = null. */
static int get_int(cfg *c, unsigned line, const char *key, const yaml_node_t *v, double lo, double hi,
                   int64_t *out) {
    if (is_null(v)) return 0;
    double d;
    /* 4.0 is accepted as 4 (pydantic does), 4.5 is not */
    if (parse_num(v, &d) != 0 || d != floor(d) || fabs(d) > 9e15) return type_err(c, line, key, "an integer", v);
    if (d < lo || d > hi)
        return tn_fail("%s:%u: %s: expected an integer in [%.0f, %.0f], got %s", c->path, line, key, lo, hi, sval(v));
    *out = (int64_t)d;
    return 1;
}

/* A real number in [lo, hi] (or [lo, hi) when hi_open). 1 = set, 0 = null. */
static int get_num(cfg *c, unsigned line, const char *key, const yaml_node_t *v, double lo, double hi, int hi_open,
                   double *out) {
    if (is_null(v)) return 0;
    double d;
    if (parse_num(v, &d) != 0) return type_err(c, line, key, "a number", v);
    if (d < lo || d > hi || (hi_open && d == hi))
        return tn_fail("%s:%u: %s: expected a number in [%g, %g%c, got %s", c->path, line, key, lo, hi,
                       hi_open ? ')' : ']', sval(v));
    *out = d;
    return 1;
}

/* YAML 1.1 booleans as PyYAML reads them, plus 0/1 (pydantic): 1 and *out
 * set when the scalar is one, else 0. */
static int parse_bool(const yaml_node_t *v, int *out) {
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; v->type == YAML_SCALAR_NODE && i < 4; i++) {
        if (!strcasecmp(sval(v), yes[i])) return *out = 1, 1;
        if (!strcasecmp(sval(v), no[i])) return *out = 0, 1;
    }
    return 0;
}

static int get_bool(cfg *c, unsigned line, const char *key, const yaml_node_t *v, int *out) {
    if (is_null(v)) return 0;
    if (parse_bool(v, out)) return 1;
    return type_err(c, line, key, "a boolean (true or false)", v);
}

/* A string value (any scalar: `base_model: 123` is the text "123"). */
static int get_str(cfg *c, unsigned line, const char *key, const yaml_node_t *v, const char **out) {
    if (is_null(v)) return 0;
    if (v->type != YAML_SCALAR_NODE) return type_err(c, line, key, "a string", v);
    *out = sval(v);
    return 1;
}

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
    int rc = get_str(c, line, key, v, &s);
    if (rc == 1) *out = resolve(c, s);
    return rc;
}

/* --- special keys ----------------------------------------------------------- */

static int set_adapter(cfg *c, unsigned line, const yaml_node_t *v) {
    const char *s = NULL;
    int rc = get_str(c, line, "adapter", v, &s);
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
                       c->path, line);
    return tn_fail("%s:%u: adapter: unknown adapter \"%s\" (supported: lora, or none for full fine-tuning)", c->path,
                   line, s);
}

static int set_sched(cfg *c, unsigned line, const yaml_node_t *v) {
    const char *s = NULL;
    int rc = get_str(c, line, "lr_scheduler", v, &s);
    if (rc <= 0) return rc;
    static const char *const names[] = {"cosine", "linear", "constant"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, names[i])) {
            c->o->sched = (tn_sched_kind)i;
            return 0;
        }
    return tn_fail("%s:%u: lr_scheduler: unknown scheduler \"%s\" (supported: cosine, linear, constant)", c->path,
                   line, s);
}

static int set_targets(cfg *c, unsigned line, const yaml_node_t *v) {
    const char *key = "lora_target_modules";
    if (is_null(v)) return 0;
    tn_train_opts *o = c->o;
    if (v->type == YAML_SCALAR_NODE) { /* a lone name: one target */
        o->n_lora_targets = 1;
        o->lora_targets[0] = (char *)tn_train_opts_own(o, sval(v));
        return 0;
    }
    if (v->type != YAML_SEQUENCE_NODE) return type_err(c, line, key, "a list of module names", v);
    int n = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(c->doc, *it);
        if (e->type != YAML_SCALAR_NODE || is_null(e))
            return type_err(c, line_of(e), "lora_target_modules item", "a module name", e);
        if (n == TN_LORA_MAX_TARGETS)
            return tn_fail("%s:%u: %s: more than %d modules", c->path, line, key, TN_LORA_MAX_TARGETS);
        o->lora_targets[n++] = (char *)tn_train_opts_own(o, sval(e));
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
                       c->path, line, key);
    if (tn_chat_template_parse(s, t) != 0) return tn_err_prefix("%s:%u: %s", c->path, line, key);
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
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key), *v = yaml_document_get_node(c->doc, p->value);
        if (k->type != YAML_SCALAR_NODE) {
            rc = tn_fail("%s:%u: %s: keys must be strings", c->path, line_of(k), where);
            break;
        }
        char key[160];
        snprintf(key, sizeof key, "%s.%s", where, sval(k));
        size_t i = 0;
        while (i < 8 && strcmp(sval(k), keys[i])) i++;
        if (i == 8) {
            warn_unknown(c, line_of(k), key);
            continue;
        }
        const char *s = NULL;
        int got_it = get_str(c, line_of(k), key, v, &s);
        if (got_it < 0)
            rc = -1;
        else if (got_it == 1 && json_object_set_new(obj, keys[i], json_string(s)) != 0)
            rc = tn_fail("%s:%u: %s: not valid UTF-8", c->path, line_of(k), key);
    }
    if (rc == 0) {
        char what[512];
        snprintf(what, sizeof what, "%s:%u: %s", c->path, line_of(m), where);
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
    if (e->type != YAML_MAPPING_NODE) return type_err(c, line_of(e), "datasets[0]", "a mapping (path:, type:, ...)", e);
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
        yaml_node_t *kn = yaml_document_get_node(c->doc, p->key), *v = yaml_document_get_node(c->doc, p->value);
        if (kn->type != YAML_SCALAR_NODE)
            return tn_fail("%s:%u: datasets[0]: keys must be strings", c->path, line_of(kn));
        size_t i = 0;
        while (i < n_known && strcmp(sval(kn), known[i].name)) i++;
        if (i < n_known) {
            *known[i].node = v;
            *known[i].line = line_of(kn);
        } else if (!strcmp(sval(kn), "split") && v->type == YAML_SCALAR_NODE && !strcmp(sval(v), "train")) {
            /* split: train is what we read anyway */
        } else if (!is_null(v)) {
            char key[160];
            snprintf(key, sizeof key, "datasets[0].%s", sval(kn));
            warn_unknown(c, line_of(kn), key);
        }
    }

    /* path (+ data_files when path is a directory) */
    if (!k.path || is_null(k.path))
        return tn_fail("%s:%u: datasets[0]: missing path (the dataset file)", c->path, line_of(e));
    char *path;
    if (get_path(c, k.path_line, "datasets[0].path", k.path, &path) < 0) return -1;
    if (k.data_files && !is_null(k.data_files)) {
        const yaml_node_t *f = k.data_files;
        if (f->type == YAML_SEQUENCE_NODE) {
            size_t n = (size_t)(f->data.sequence.items.top - f->data.sequence.items.start);
            if (!n) return tn_fail("%s:%u: datasets[0].data_files: empty list", c->path, k.data_files_line);
            if (n > 1) warn(c, k.data_files_line, "datasets[0].data_files: %s", "only the first file is used");
            f = yaml_document_get_node(c->doc, f->data.sequence.items.start[0]);
        }
        const char *file;
        if (f->type != YAML_SCALAR_NODE || is_null(f))
            return type_err(c, k.data_files_line, "datasets[0].data_files", "a file name or a list of them", f);
        file = sval(f);
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
    int rc = k.ds_type ? get_str(c, k.ds_type_line, "datasets[0].ds_type", k.ds_type, &dst) : 0;
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
            return tn_fail("%s:%u: datasets[0].ds_type: \"%s\" is not supported (json, jsonl or csv)", c->path,
                           k.ds_type_line, dst);
    }

    /* type */
    if (!k.type)
        return tn_fail("%s:%u: datasets[0]: missing type (alpaca, completion, chat_template, sharegpt, or a "
                       "mapping with field_instruction, field_output, ...)",
                       c->path, line_of(e));
    if (is_null(k.type))
        return tn_fail("%s:%u: datasets[0].type: empty (a pre-tokenized dataset) is not supported", c->path,
                       k.type_line);
    const char *fm = NULL, *fld = NULL, *tmpl = c->top_template;
    unsigned tmpl_line = c->top_template_line;
    if (k.field_messages && get_str(c, k.field_messages_line, "datasets[0].field_messages", k.field_messages, &fm) < 0)
        return -1;
    if (k.field && get_str(c, k.field_line, "datasets[0].field", k.field, &fld) < 0) return -1;
    if (k.chat_template) {
        const char *t = NULL;
        if (get_str(c, k.tmpl_line, "datasets[0].chat_template", k.chat_template, &t) < 0) return -1;
        if (t) tmpl = t, tmpl_line = k.tmpl_line;
    }
    tn_data_spec *spec = &o->spec;
    if (k.type->type == YAML_MAPPING_NODE) return dataset_type_mapping(c, "datasets[0].type", k.type);
    if (k.type->type != YAML_SCALAR_NODE)
        return type_err(c, k.type_line, "datasets[0].type", "a type name or a mapping", k.type);
    const char *ty = sval(k.type);
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
                   c->path, k.type_line, ty);
}

static int set_datasets(cfg *c, unsigned line, const yaml_node_t *v) {
    if (v->type != YAML_SEQUENCE_NODE) return type_err(c, line, "datasets", "a list of datasets (- path: ...)", v);
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (!n) return tn_fail("%s:%u: datasets: empty list", c->path, line);
    if (n > 1) warn(c, line, "datasets: %s", "only the first dataset is used");
    return dataset_entry(c, yaml_document_get_node(c->doc, v->data.sequence.items.start[0]));
}

/* --- top level -------------------------------------------------------------- */

typedef enum { K_PATH, K_INT, K_I64, K_NUM, K_BOOL } key_kind;

typedef struct {
    const char *name;
    key_kind kind;
    size_t off;
    double lo, hi;
    int hi_open;
} key_def;

#define F(field) offsetof(tn_train_opts, field)
static const key_def g_keys[] = {
    {"base_model", K_PATH, F(base_model), 0, 0, 0},
    {"output_dir", K_PATH, F(output_dir), 0, 0, 0},
    {"sequence_len", K_INT, F(seq_len), 1, 1 << 20, 0},
    {"micro_batch_size", K_INT, F(micro_batch), 1, 1 << 16, 0},
    {"gradient_accumulation_steps", K_INT, F(grad_accum), 1, 1 << 20, 0},
    {"num_epochs", K_INT, F(epochs), 0, 1e6, 0},
    {"max_steps", K_I64, F(max_steps), -1, 1e15, 0}, /* -1: HF's "none" */
    {"train_on_inputs", K_BOOL, F(train_on_inputs), 0, 0, 0},
    {"sample_packing", K_BOOL, F(packing), 0, 0, 0},
    {"learning_rate", K_NUM, F(lr), 0, 10, 0},
    {"warmup_steps", K_INT, F(warmup_steps), 0, 1e9, 0},
    {"warmup_ratio", K_NUM, F(warmup_ratio), 0, 1, 0},
    {"weight_decay", K_NUM, F(weight_decay), 0, 1e3, 0},
    {"adam_beta1", K_NUM, F(adam_beta1), 0, 1, 1},
    {"adam_beta2", K_NUM, F(adam_beta2), 0, 1, 1},
    {"adam_epsilon", K_NUM, F(adam_eps), 0, 1, 0},
    {"max_grad_norm", K_NUM, F(max_grad_norm), 0, 1e9, 0},
    {"seed", K_I64, F(seed), 0, 9e15, 0},
    {"lora_r", K_INT, F(lora_r), 1, 1 << 16, 0},
    {"lora_alpha", K_NUM, F(lora_alpha), 0, 1e6, 0},
    {"lora_dropout", K_NUM, F(lora_dropout), 0, 1, 1},
    {"lora_target_linear", K_BOOL, F(lora_target_linear), 0, 0, 0},
    {"val_set_size", K_NUM, F(val_size), 0, 1e12, 0},
    {"eval_steps", K_INT, F(eval_every), 0, 1e9, 0},
    {"early_stopping_patience", K_INT, F(early_stop_patience), 0, 1e9, 0},
    {"save_steps", K_INT, F(save_every), 0, 1e9, 0},
};
#undef F

static int set_simple(cfg *c, const key_def *d, unsigned line, const yaml_node_t *v) {
    char *base = (char *)c->o + d->off;
    int64_t i = 0;
    double x = 0;
    int b = 0, rc;
    switch (d->kind) {
    case K_PATH: return get_path(c, line, d->name, v, (char **)base) < 0 ? -1 : 0;
    case K_INT:
        if ((rc = get_int(c, line, d->name, v, d->lo, d->hi, &i)) == 1) *(int *)base = (int)i;
        return rc < 0 ? -1 : 0;
    case K_I64:
        if ((rc = get_int(c, line, d->name, v, d->lo, d->hi, &i)) == 1) {
            if (d->off == offsetof(tn_train_opts, seed))
                c->o->seed = (uint64_t)i;
            else
                *(int64_t *)base = i < 0 ? 0 : i;
        }
        return rc < 0 ? -1 : 0;
    case K_NUM:
        if ((rc = get_num(c, line, d->name, v, d->lo, d->hi, d->hi_open, &x)) == 1) {
            *(double *)base = x;
            if (d->off == offsetof(tn_train_opts, lr)) {
                if (x <= 0) return tn_fail("%s:%u: learning_rate: must be positive, got %s", c->path, line, sval(v));
                c->lr_set = 1;
            }
        }
        return rc < 0 ? -1 : 0;
    case K_BOOL:
        if ((rc = get_bool(c, line, d->name, v, &b)) == 1) *(int *)base = b;
        return rc < 0 ? -1 : 0;
    }
    return 0;
}

/* Keys that axolotl reads and that do not change what tuna does, or that
 * only name a quantisation tuna does not do: a note, not "unknown". */
static int set_quant(cfg *c, unsigned line, const char *key, const yaml_node_t *v) {
    int b = 0;
    int rc = get_bool(c, line, key, v, &b);
    if (rc < 0) return -1;
    if (b) warn(c, line, "%s: ignored: tuna does not quantise; the base model is kept in full precision", key);
    return 0;
}

/* bf16: true / false (any YAML boolean) or "auto". auto means fp32: bf16
 * matmuls are a choice, never a default (docs/training.md). */
static int set_bf16(cfg *c, unsigned line, const yaml_node_t *v) {
    if (is_null(v)) return 0;
    if (v->type == YAML_SCALAR_NODE && !strcasecmp(sval(v), "auto")) {
        c->o->bf16 = 0;
        return 0;
    }
    if (parse_bool(v, &c->o->bf16)) return 0;
    return type_err(c, line, "bf16", "true, false or auto", v);
}

static int top_level(cfg *c, const yaml_node_t *root) {
    if (root->type != YAML_MAPPING_NODE)
        return type_err(c, line_of(root), "config", "a mapping of keys (base_model: ..., datasets: ...)", root);
    const yaml_node_t *datasets = NULL;
    unsigned datasets_line = 0;
    yaml_node_pair_t *start = root->data.mapping.pairs.start, *top = root->data.mapping.pairs.top;
    for (yaml_node_pair_t *p = start; p < top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key), *v = yaml_document_get_node(c->doc, p->value);
        if (k->type != YAML_SCALAR_NODE) return tn_fail("%s:%u: keys must be strings", c->path, line_of(k));
        const char *key = sval(k);
        unsigned line = line_of(k);
        /* PyYAML keeps the last of duplicate keys: so do we, after a word */
        int dup = 0;
        for (yaml_node_pair_t *q = p + 1; q < top && !dup; q++) {
            yaml_node_t *k2 = yaml_document_get_node(c->doc, q->key);
            dup = k2->type == YAML_SCALAR_NODE && !strcmp(sval(k2), key);
        }
        if (dup) {
            warn(c, line, "key '%s' given again further down; this one is ignored", key);
            continue;
        }
        size_t i = 0, n = sizeof g_keys / sizeof g_keys[0];
        while (i < n && strcmp(key, g_keys[i].name)) i++;
        int rc = 0;
        if (i < n)
            rc = set_simple(c, &g_keys[i], line, v);
        else if (!strcmp(key, "datasets"))
            datasets = v, datasets_line = line;
        else if (!strcmp(key, "adapter"))
            rc = set_adapter(c, line, v);
        else if (!strcmp(key, "lr_scheduler"))
            rc = set_sched(c, line, v);
        else if (!strcmp(key, "bf16"))
            rc = set_bf16(c, line, v);
        else if (!strcmp(key, "lora_target_modules"))
            rc = set_targets(c, line, v);
        else if (!strcmp(key, "chat_template")) {
            const char *s = NULL;
            rc = get_str(c, line, key, v, &s) < 0 ? -1 : 0;
            tn_chat_template t;
            /* checked here, applied with the dataset (which may override it) */
            if (!rc) rc = parse_template(c, line, key, s, &t);
            c->top_template = s;
            c->top_template_line = line;
        } else if (!strcmp(key, "load_in_4bit") || !strcmp(key, "load_in_8bit"))
            rc = set_quant(c, line, key, v);
        else if (!is_null(v)) /* `fp16:` left empty asks for nothing: no noise */
            warn_unknown(c, line, key);
        if (rc) return -1;
    }
    if (datasets && set_datasets(c, datasets_line, datasets) != 0) return -1;
    if (!c->adapter_set) c->o->lora = 0; /* axolotl: no adapter = full fine-tuning */
    if (!c->lr_set) c->o->lr = c->o->lora ? 2e-4 : 2e-5;
    return 0;
}

/* --- loading -------------------------------------------------------------- */

static int yaml_error(const char *path, const yaml_parser_t *p) {
    if (p->error == YAML_MEMORY_ERROR) return tn_fail("%s: out of memory reading YAML", path);
    if (p->error == YAML_READER_ERROR)
        return tn_fail("%s: invalid YAML: %s at byte %zu", path, p->problem ? p->problem : "read error",
                       p->problem_offset);
    const char *prob = p->problem ? p->problem : "syntax error";
    if (p->context)
        return tn_fail("%s:%zu:%zu: invalid YAML: %s (%s at line %zu)", path, p->problem_mark.line + 1,
                       p->problem_mark.column + 1, prob, p->context, p->context_mark.line + 1);
    return tn_fail("%s:%zu:%zu: invalid YAML: %s", path, p->problem_mark.line + 1, p->problem_mark.column + 1, prob);
}

int tn_train_opts_from_yaml_w(tn_train_opts *o, const char *path, int *n_warnings) {
    if (n_warnings) *n_warnings = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return tn_fail_errno("%s", path);
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return tn_fail("%s: cannot initialise the YAML parser", path);
    }
    yaml_parser_set_input_file(&parser, f);
    int loaded = yaml_parser_load(&parser, &doc);
    int rc;
    if (!loaded) {
        rc = yaml_error(path, &parser);
        yaml_parser_delete(&parser);
        fclose(f);
        return rc;
    }
    yaml_parser_delete(&parser);
    fclose(f);

    cfg c = {.path = path, .doc = &doc, .o = o};
    const char *slash = strrchr(path, '/');
    if (slash) c.dir = slash == path ? tn_strdup("/") : tn_strndup(path, (size_t)(slash - path));
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || is_null(root))
        rc = tn_fail("%s: empty config (expected keys such as base_model and datasets)", path);
    else
        rc = top_level(&c, root);
    if (n_warnings) *n_warnings = c.n_warn;
    for (int i = 0; i < c.n_warned; i++) free(c.warned[i]);
    free(c.warned);
    free(c.dir);
    yaml_document_delete(&doc);
    return rc;
}

int tn_train_opts_from_yaml(tn_train_opts *o, const char *path) { return tn_train_opts_from_yaml_w(o, path, NULL); }
