/* format.c - rows to samples: instruct column mapping, plain text, chat
 * dispatch (see format.h). */
#include "data/format.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"
#include "data/sbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_FORMAT "{instruction} {input}"
#define DEFAULT_FORMAT_NO_INPUT_FIELD "{instruction}"
#define DEFAULT_NO_INPUT_FORMAT "{instruction}"
#define DEFAULT_SYSTEM_FORMAT "{system}"

typedef struct {
    const char *name;
    const char *val;
    size_t len;
} fmt_arg;

/* Python str.format restricted to {name} and {{ / }}. With out == NULL only
 * checks the format string. `key` names the setting in messages. */
static int pyformat(const char *fmt, const fmt_arg *args, size_t nargs, tn_sbuf *out, const char *key,
                    const char *what) {
    for (const char *p = fmt; *p; p++) {
        if (*p == '}') {
            if (p[1] != '}')
                return tn_fail("%s: %s \"%s\": single '}' (write '}}' for a literal brace)", what, key, fmt);
            if (out) tn_sbuf_putc(out, '}');
            p++;
            continue;
        }
        if (*p != '{') {
            if (out) tn_sbuf_putc(out, *p);
            continue;
        }
        if (p[1] == '{') {
            if (out) tn_sbuf_putc(out, '{');
            p++;
            continue;
        }
        const char *end = strchr(p + 1, '}');
        size_t n = end ? (size_t)(end - p - 1) : 0;
        if (!end || memchr(p + 1, '{', n))
            return tn_fail("%s: %s \"%s\": unmatched '{' (write '{{' for a literal brace)", what, key, fmt);
        const fmt_arg *a = NULL;
        for (size_t i = 0; i < nargs; i++)
            if (strlen(args[i].name) == n && memcmp(args[i].name, p + 1, n) == 0) a = &args[i];
        if (!a) {
            char names[96] = "";
            for (size_t i = 0; i < nargs; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s{%s}", i ? ", " : "",
                         args[i].name);
            return tn_fail("%s: %s \"%s\": unknown placeholder {%.*s} (available here: %s; "
                           "conversions and format specs are not supported)",
                           what, key, fmt, (int)n, p + 1, names);
        }
        if (out) tn_sbuf_put(out, a->val, a->len);
        p = end;
    }
    return 0;
}

static const char *fmt_or(const char *v, const char *def) { return v ? v : def; }

static const char *format_default(const tn_dataset_type *t) {
    return t->format ? t->format : t->field_input ? DEFAULT_FORMAT : DEFAULT_FORMAT_NO_INPUT_FIELD;
}

int tn_dataset_type_check(const tn_dataset_type *t, const char *what) {
    if (!t->field_instruction || !t->field_instruction[0])
        return tn_fail("%s: field_instruction: missing (the column holding the instruction)", what);
    const fmt_arg both[] = {{"instruction", "", 0}, {"input", "", 0}};
    const fmt_arg sys[] = {{"system", "", 0}};
    if (pyformat(format_default(t), both, 2, NULL, "format", what) != 0) return -1;
    if (pyformat(fmt_or(t->no_input_format, DEFAULT_NO_INPUT_FORMAT), both, 1, NULL, "no_input_format", what) != 0)
        return -1;
    return pyformat(fmt_or(t->system_format, DEFAULT_SYSTEM_FORMAT), sys, 1, NULL, "system_format", what);
}

int tn_dataset_type_from_json(const json_t *obj, const char *what, tn_dataset_type *out) {
    memset(out, 0, sizeof *out);
    if (!json_is_object(obj)) return tn_fail("%s: dataset type: expected an object", what);
    static const char *const keys[] = {"field_system",   "field_instruction", "field_input",   "field_output",
                                       "format",         "no_input_format",   "system_format", "system_prompt"};
    const char **dst[] = {&out->field_system, &out->field_instruction, &out->field_input,
                          &out->field_output, &out->format,            &out->no_input_format,
                          &out->system_format, &out->system_prompt};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (tn_json_str_opt(obj, keys[i], what, NULL, dst[i]) != 0) return -1;
    /* G.O.D sends "" for unset columns in places; "" is never a column. */
    if (out->field_system && !out->field_system[0]) out->field_system = NULL;
    if (out->field_input && !out->field_input[0]) out->field_input = NULL;
    if (out->field_output && !out->field_output[0]) out->field_output = NULL;
    return tn_dataset_type_check(out, what);
}

/* Shortest %g that reads back as the same double; ".0" added to whole
 * numbers so 72.0 stays visibly a real, as Python's str() writes it. */
static void real_text(double d, char *buf, size_t cap) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) break;
    }
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", cap - strlen(buf) - 1);
}

/* A column's value as text. 1 = present, 0 = absent or null, -1 = error.
 * Numbers are converted into `num` (which must outlive the use of *s). */
static int column_text(const json_t *row, const char *col, const char *role, const char *where, char *num,
                       size_t numcap, const char **s, size_t *len) {
    const json_t *v = json_object_get(row, col);
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) {
        *s = json_string_value(v);
        *len = json_string_length(v);
        return 1;
    }
    if (json_is_integer(v)) {
        snprintf(num, numcap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        real_text(json_real_value(v), num, numcap);
    } else {
        return tn_fail("%s: field '%s' (%s): expected a string, got %s", where, col, role, tn_json_type_name(v));
    }
    *s = num;
    *len = strlen(num);
    return 1;
}

static int require(int rc, const char *where, const char *col, const char *role) {
    if (rc == 0) return tn_fail("%s: field '%s' (%s): missing", where, col, role);
    return rc;
}

static int format_instruct(const tn_dataset_type *t, const json_t *row, const char *where, tn_sample *out) {
    char nb[4][40];
    const char *ins = NULL, *inp = "", *outp = NULL, *sys = "";
    size_t ins_n = 0, inp_n = 0, out_n = 0, sys_n = 0;
    if (require(column_text(row, t->field_instruction, "field_instruction", where, nb[0], sizeof nb[0], &ins, &ins_n),
                where, t->field_instruction, "field_instruction") < 0)
        return -1;
    out->add_bos = 1;
    if (!t->field_output) {
        /* G.O.D's completion form: the instruction column is the text. */
        tn_sample_add(out, ins, ins_n, 1);
        tn_sample_mark_eos(out);
        return 0;
    }
    if (require(column_text(row, t->field_output, "field_output", where, nb[1], sizeof nb[1], &outp, &out_n), where,
                t->field_output, "field_output") < 0)
        return -1;
    if (t->field_input &&
        column_text(row, t->field_input, "field_input", where, nb[2], sizeof nb[2], &inp, &inp_n) < 0)
        return -1;
    if (t->field_system) {
        if (column_text(row, t->field_system, "field_system", where, nb[3], sizeof nb[3], &sys, &sys_n) < 0)
            return -1;
    } else if (t->system_prompt) {
        sys = t->system_prompt;
        sys_n = strlen(sys);
    }
    tn_sbuf p = {0};
    int rc = 0;
    if (sys_n) {
        const fmt_arg a[] = {{"system", sys, sys_n}};
        rc = pyformat(fmt_or(t->system_format, DEFAULT_SYSTEM_FORMAT), a, 1, &p, "system_format", where);
    }
    const fmt_arg a[] = {{"instruction", ins, ins_n}, {"input", inp, inp_n}};
    if (rc == 0 && inp_n) rc = pyformat(format_default(t), a, 2, &p, "format", where);
    else if (rc == 0) rc = pyformat(fmt_or(t->no_input_format, DEFAULT_NO_INPUT_FORMAT), a, 1, &p, "no_input_format", where);
    if (rc == 0) {
        tn_sample_add(out, p.p ? p.p : "", p.n, 0);
        tn_sample_add(out, outp, out_n, 1);
        tn_sample_mark_eos(out);
    }
    free(p.p);
    return rc;
}

static int format_text(const char *field, const json_t *row, const char *where, tn_sample *out) {
    char nb[40];
    const char *s;
    size_t n;
    if (!field) field = "text";
    if (require(column_text(row, field, "text field", where, nb, sizeof nb, &s, &n), where, field, "text field") < 0)
        return -1;
    out->add_bos = 1;
    tn_sample_add(out, s, n, 1);
    tn_sample_mark_eos(out);
    return 0;
}

tn_ds_kind tn_data_guess_kind(const json_t *row) {
    if (json_is_array(json_object_get(row, "messages")) || json_is_array(json_object_get(row, "conversations")))
        return TN_DS_CHAT;
    if (json_object_get(row, "text") && json_object_size(row) == 1) return TN_DS_TEXT;
    return TN_DS_INSTRUCT;
}

int tn_format_row(const tn_data_spec *spec, const json_t *row, const char *where, tn_sample *out) {
    switch (spec->kind) {
    case TN_DS_INSTRUCT: return format_instruct(&spec->instruct, row, where, out);
    case TN_DS_TEXT: return format_text(spec->text_field, row, where, out);
    case TN_DS_CHAT: {
        tn_chat_msg *m;
        size_t n;
        if (tn_chat_parse(row, spec->messages_field, where, &m, &n) != 0) return -1;
        int rc = tn_chat_render(spec->chat_template, m, n, where, out);
        free(m);
        return rc;
    }
    }
    return tn_fail("%s: unknown dataset kind", where);
}

char *tn_rows_where(const tn_rows *r) {
    if (tn_rows_line(r)) return tn_sprintf("%s: row %zu (line %zu)", tn_rows_path(r), tn_rows_index(r), tn_rows_line(r));
    return tn_sprintf("%s: row %zu", tn_rows_path(r), tn_rows_index(r));
}

int tn_data_next(tn_rows *r, const tn_data_spec *spec, tn_sample *out) {
    tn_sample_free(out);
    json_t *row;
    int rc = tn_rows_next(r, &row);
    if (rc <= 0) return rc;
    char *where = tn_rows_where(r);
    rc = tn_format_row(spec, row, where, out) == 0 ? 1 : -1;
    free(where);
    json_decref(row);
    if (rc < 0) tn_sample_free(out);
    return rc;
}

int tn_data_spec_from_json(const json_t *j, const char *what, tn_data_spec *spec) {
    memset(spec, 0, sizeof *spec);
    if (!json_is_object(j)) return tn_fail("%s: expected an object", what);
    const char *kind = json_string_value(json_object_get(j, "kind"));
    if (!kind || !strcmp(kind, "instruct")) {
        spec->kind = TN_DS_INSTRUCT;
        return tn_dataset_type_from_json(j, what, &spec->instruct);
    }
    if (!strcmp(kind, "text")) {
        spec->kind = TN_DS_TEXT;
        spec->text_field = json_string_value(json_object_get(j, "text_field"));
        return 0;
    }
    if (!strcmp(kind, "chat")) {
        spec->kind = TN_DS_CHAT;
        spec->messages_field = json_string_value(json_object_get(j, "messages_field"));
        const char *t = json_string_value(json_object_get(j, "chat_template"));
        if (!t) return tn_fail("%s: a chat dataset needs chat_template", what);
        return tn_chat_template_parse(t, &spec->chat_template);
    }
    return tn_fail("%s: kind \"%s\" is not instruct, text or chat", what, kind);
}
