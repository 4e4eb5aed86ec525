/* cli_data.c - dataset flags shared by train and eval (see cli_data.h). */
#include "cli/cli_data.h"
#include "base/err.h"
#include "data/rows.h"

#include <stdlib.h>
#include <string.h>

void cli_data_init(cli_data *d) {
    memset(d, 0, sizeof *d);
    d->kind = -1;
}

int cli_data_option(cli_data *d, int opt, const char *arg) {
    tn_dataset_type *t = &d->spec.instruct;
    switch (opt - CLI_DATA_OPT_BASE) {
    case 0: d->format = arg; return 1;
    case 1:
        if (!strcmp(arg, "instruct")) d->kind = TN_DS_INSTRUCT;
        else if (!strcmp(arg, "text")) d->kind = TN_DS_TEXT;
        else if (!strcmp(arg, "chat")) d->kind = TN_DS_CHAT;
        else return tn_fail("--type %s: expected instruct, text or chat", arg);
        return 1;
    case 2: t->field_system = arg; return 1;
    case 3: t->field_instruction = arg; return 1;
    case 4: t->field_input = arg; return 1;
    case 5: t->field_output = arg; return 1;
    case 6: t->format = arg; return 1;
    case 7: t->no_input_format = arg; return 1;
    case 8: t->system_format = arg; return 1;
    case 9: t->system_prompt = arg; return 1;
    case 10: d->spec.text_field = arg; d->kind = d->kind < 0 ? TN_DS_TEXT : d->kind; return 1;
    case 11:
        if (strcmp(arg, "messages") && strcmp(arg, "conversations"))
            return tn_fail("--messages-field %s: expected messages or conversations", arg);
        d->spec.messages_field = strcmp(arg, "messages") ? arg : NULL;
        d->kind = d->kind < 0 ? TN_DS_CHAT : d->kind;
        return 1;
    case 12:
        if (tn_chat_template_parse(arg, &d->spec.chat_template)) return -1;
        return 1;
    }
    return 0;
}

int cli_data_finish(cli_data *d, const char *path) {
    tn_dataset_type *t = &d->spec.instruct;
    if (d->format) {
        tn_rows_fmt f;
        if (tn_rows_fmt_parse(d->format, &f)) return -1;
    }
    int mapped = t->field_instruction || t->field_output;
    if (d->kind < 0 && mapped) d->kind = TN_DS_INSTRUCT;
    if (d->kind < 0 || (d->kind == TN_DS_INSTRUCT && !mapped)) {
        /* look at the first row */
        tn_rows_fmt f = TN_ROWS_AUTO;
        if (d->format) tn_rows_fmt_parse(d->format, &f);
        tn_rows *r = tn_rows_open(path, f);
        if (!r) return -1;
        json_t *row = NULL;
        int got = tn_rows_next(r, &row);
        if (got != 1) {
            tn_rows_close(r);
            return got < 0 ? -1 : tn_fail("%s: no rows", path);
        }
        if (d->kind < 0) d->kind = (int)tn_data_guess_kind(row);
        if (d->kind == TN_DS_INSTRUCT && !mapped) {
            if (json_object_get(row, "instruction") && json_object_get(row, "output")) {
                t->field_instruction = "instruction";
                t->field_output = "output";
                if (json_object_get(row, "input")) t->field_input = "input";
            } else {
                json_decref(row);
                tn_rows_close(r);
                return tn_fail("%s: cannot tell which columns to use: give --field-instruction and --field-output "
                               "(or --type text / --type chat)", path);
            }
        }
        json_decref(row);
        tn_rows_close(r);
    }
    d->spec.kind = (tn_ds_kind)d->kind;
    if (d->spec.kind == TN_DS_INSTRUCT) return tn_dataset_type_check(t, "dataset options");
    return 0;
}
