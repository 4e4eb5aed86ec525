/* fuzz_rows - a dataset file (the organiser's, or the one the validator
 * sends to miners) read row by row and every row formatted into a sample.
 * The first input byte picks the file format (json, jsonl, csv) and the
 * dataset type: instruct (G.O.D's column mapping; the axolotl alpaca
 * prompt; one with a system column and every format string; plain
 * completion without an output column), text, or chat with each built-in
 * template over "messages" or "conversations". The rest is the file. */
#include "data/format.h"
#include "data/rows.h"
#include "util.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ALPACA_SYS "Below is an instruction that describes a task.\n\n"

static void spec_for(unsigned k, tn_data_spec *s) {
    static const tn_chat_template tmpl[] = {TN_TMPL_CHATML, TN_TMPL_LLAMA2, TN_TMPL_LLAMA3, TN_TMPL_MISTRAL,
                                            TN_TMPL_ALPACA};
    *s = (tn_data_spec){0};
    tn_dataset_type *t = &s->instruct;
    switch (k % 14) {
    case 0: /* G.O.D's defaults */
        s->kind = TN_DS_INSTRUCT;
        t->field_instruction = "instruction", t->field_input = "input", t->field_output = "output";
        break;
    case 1: /* axolotl alpaca */
        s->kind = TN_DS_INSTRUCT;
        t->field_instruction = "instruction", t->field_input = "input", t->field_output = "output";
        t->format = ALPACA_SYS "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n";
        t->no_input_format = ALPACA_SYS "### Instruction:\n{instruction}\n\n### Response:\n";
        break;
    case 2: /* every field, every format string, {{ }} escapes */
        s->kind = TN_DS_INSTRUCT;
        t->field_system = "system", t->field_instruction = "question", t->field_input = "context";
        t->field_output = "answer", t->format = "{{Q}} {instruction}\n{input}", t->no_input_format = "Q: {instruction}";
        t->system_format = "<<{system}>>\n";
        break;
    case 3: /* a system prompt and no system column */
        s->kind = TN_DS_INSTRUCT;
        t->field_instruction = "instruction", t->field_output = "output", t->system_prompt = "You are helpful.";
        break;
    case 4: /* plain completion: no output column */
        s->kind = TN_DS_INSTRUCT;
        t->field_instruction = "text";
        break;
    case 5: s->kind = TN_DS_TEXT; break;
    case 6: s->kind = TN_DS_TEXT, s->text_field = "content"; break;
    default:
        s->kind = TN_DS_CHAT;
        s->chat_template = tmpl[(k % 14 - 7) % 5];
        s->messages_field = (k % 14 - 7) >= 5 ? "conversations" : NULL;
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) init = 1, fz_quiet();
    static const char *const names[3] = {"data.json", "data.jsonl", "data.csv"};
    static const tn_rows_fmt fmts[3] = {TN_ROWS_JSON, TN_ROWS_JSONL, TN_ROWS_CSV};
    fz_in in = {data, size};
    unsigned b = fz_byte(&in);
    tn_data_spec spec;
    spec_for(b / 3, &spec);
    if (spec.kind == TN_DS_INSTRUCT && tn_dataset_type_check(&spec.instruct, "fuzz")) abort();
    const char *path = fz_write(names[b % 3], in.p, in.n);
    tn_rows *r = tn_rows_open(path, (b & 0x80) ? fmts[b % 3] : TN_ROWS_AUTO);
    if (!r) return 0;
    json_t *row;
    int rc;
    for (int i = 0; i < 4096 && (rc = tn_rows_next(r, &row)) == 1; i++) {
        if (!json_is_object(row)) abort(); /* a row is an object or an error */
        (void)tn_data_guess_kind(row);
        char *where = tn_rows_where(r);
        tn_sample s;
        tn_sample_init(&s);
        if (tn_format_row(&spec, row, where, &s) == 0) {
            size_t len;
            char *txt = tn_sample_render(&s, "<s>", "</s>", &len);
            if (!txt || tn_sample_trainable_len(&s) > tn_sample_text_len(&s)) abort();
            free(txt);
        }
        tn_sample_free(&s);
        free(where);
        json_decref(row);
    }
    tn_rows_close(r);
    return 0;
}
