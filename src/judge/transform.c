/* transform.c - a task's secret format (see transform.h). */
#include "judge/transform.h"

#include "base/err.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "%1$s" = marker, "%2$s" = the prompt text */
static const char *const TEMPLATES[TN_TRANSFORM_TEMPLATES] = {
    "%1$s %2$s", "%2$s %1$s", "[%1$s] %2$s", "%1$s\n%2$s", "%2$s\n(%1$s)", "<%1$s> %2$s </%1$s>", "Query %1$s: %2$s",
    "%2$s\n-- %1$s",
};

void tn_transform_draw(uint64_t task_seed, tn_transform *t) {
    static const char ALNUM[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    tn_rng r;
    /* a stream of its own: the split uses the same secret seed */
    tn_rng_seed(&r, task_seed ^ 0x7a5f0c3e9b1d2468ULL);
    memset(t, 0, sizeof *t);
    /* a letter first: a marker that is a number could read as part of the prompt */
    t->marker[0] = ALNUM[tn_rng_below(&r, 26)];
    for (int i = 1; i < 6; i++) t->marker[i] = ALNUM[tn_rng_below(&r, sizeof ALNUM - 1)];
    t->template_id = (int)tn_rng_below(&r, TN_TRANSFORM_TEMPLATES);
    t->input_first = (int)tn_rng_below(&r, 2);
    t->col_key = tn_rng_next(&r);
}

char *tn_transform_wrap(const tn_transform *t, const char *x) {
    int id = t->template_id >= 0 && t->template_id < TN_TRANSFORM_TEMPLATES ? t->template_id : 0;
    return tn_sprintf(TEMPLATES[id], t->marker, x);
}

/* A prompt column's value as text: the dataset formatter accepts numbers
 * too (integers exactly; reals here to 15 significant digits, which reads
 * back the same for any value a dataset writes in decimal). 1 present, 0
 * absent/null, -1 error. */
static int value_text(const json_t *v, const char *where, const char *col, char **out) {
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) *out = tn_strdup(json_string_value(v));
    else if (json_is_integer(v)) *out = tn_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v)) *out = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    else return tn_fail("%s: field '%s': expected a string, got %s", where, col, tn_json_type_name(v));
    return 1;
}

/* row[col] = wrap(row[col]); the column must be there. */
static int wrap_column(const tn_transform *t, json_t *row, const char *col, const char *role, const char *where) {
    char *x;
    int rc = value_text(json_object_get(row, col), where, col, &x);
    if (rc == 0) return tn_fail("%s: field '%s' (%s): missing", where, col, role);
    if (rc < 0) return -1;
    char *w = tn_transform_wrap(t, x);
    json_object_set_new(row, col, json_string(w));
    free(w);
    free(x);
    return 0;
}

static int transform_instruct(const tn_transform *t, const tn_dataset_type *d, json_t *row, const char *where) {
    const char *ins = d->field_instruction, *inp = d->field_input;
    if (!ins) return tn_fail("%s: the dataset type has no field_instruction", where);
    if (t->input_first && inp && strcmp(ins, inp)) {
        json_t *a = json_object_get(row, ins), *b = json_object_get(row, inp);
        /* only a row with a non-empty input has two fields to reorder */
        int has_input = b && !json_is_null(b) && !(json_is_string(b) && json_string_length(b) == 0);
        if (a && has_input) {
            json_incref(a);
            json_incref(b);
            json_object_set_new(row, ins, b);
            json_object_set_new(row, inp, a);
        }
    }
    return wrap_column(t, row, ins, "field_instruction", where);
}

static int transform_chat(const tn_transform *t, const char *field, json_t *row, const char *where) {
    /* the chat reader's own default (data/chat.h) */
    if (!field) field = json_object_get(row, "messages") ? "messages" : "conversations";
    json_t *msgs = json_object_get(row, field);
    if (!json_is_array(msgs)) return tn_fail("%s: field '%s': expected a list of messages", where, field);
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        /* ShareGPT from/value or OpenAI role/content, per message as the chat reader decides */
        int sharegpt = json_object_get(m, "from") != NULL;
        const char *role = json_string_value(json_object_get(m, sharegpt ? "from" : "role"));
        if (!role || (strcmp(role, "user") && strcmp(role, "human"))) continue;
        const char *key = sharegpt ? "value" : "content";
        char w[96];
        snprintf(w, sizeof w, "%s: message %zu", where, i + 1);
        return wrap_column(t, m, key, "user turn", w);
    }
    return tn_fail("%s: field '%s': no user turn", where, field);
}

typedef struct {
    const char *name;
    uint64_t h;
} col_rank;

static int cmp_col(const void *a, const void *b) {
    const col_rank *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The row's columns in the task's order (a new object sharing the values). */
static json_t *reorder(const tn_transform *t, const json_t *row) {
    size_t n = json_object_size(row), k = 0;
    col_rank *c = tn_malloc(sizeof *c * (n ? n : 1));
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)row, name, v) {
        c[k].name = name;
        c[k++].h = tn_mix64(t->col_key ^ tn_fnv1a_str(name));
    }
    qsort(c, n, sizeof *c, cmp_col);
    json_t *out = json_object();
    for (size_t i = 0; i < n; i++) json_object_set(out, c[i].name, json_object_get(row, c[i].name));
    free(c);
    return out;
}

json_t *tn_transform_row(const tn_transform *t, const tn_data_spec *spec, const json_t *row, const char *where) {
    if (!json_is_object(row)) {
        tn_fail("%s: expected a JSON object, got %s", where, tn_json_type_name(row));
        return NULL;
    }
    json_t *r = json_deep_copy(row);
    int rc;
    switch (spec->kind) {
    case TN_DS_TEXT: rc = wrap_column(t, r, spec->text_field ? spec->text_field : "text", "text field", where); break;
    case TN_DS_CHAT: rc = transform_chat(t, spec->messages_field, r, where); break;
    default: rc = transform_instruct(t, &spec->instruct, r, where); break;
    }
    json_t *out = rc ? NULL : reorder(t, r);
    json_decref(r);
    return out;
}

json_t *tn_transform_rows(const tn_transform *t, const tn_data_spec *spec, const json_t *rows, const char *what) {
    if (!json_is_array(rows)) {
        tn_fail("%s: expected a list of rows", what);
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row) {
        char where[512];
        snprintf(where, sizeof where, "%s: row %zu", what, i + 1);
        json_t *r = tn_transform_row(t, spec, row, where);
        if (!r) {
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, r);
    }
    return out;
}

json_t *tn_transform_task_rows(uint64_t task_seed, const tn_data_spec *spec, const json_t *rows, const char *what) {
    tn_transform t;
    tn_transform_draw(task_seed, &t);
    return tn_transform_rows(&t, spec, rows, what);
}
