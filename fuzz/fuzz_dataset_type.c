/* fuzz_dataset_type - a dataset type as the validator stores it and sends it
 * to miners and evaluators ({"kind", G.O.D's column mapping, "text_field",
 * "messages_field", "chat_template"}), read by tn_data_spec_from_json; an
 * accepted one formats the row that follows "\n--\n" in the input (a JSON
 * object), or fixed instruct, text and chat rows. */
#include "data/format.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const g_rows[] = {
    "{\"instruction\": \"Add 2 and 3\", \"input\": \"2, 3\", \"output\": \"5\", \"system\": \"Be brief.\"}",
    "{\"text\": \"Once upon a time\"}",
    ("{\"messages\": [{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"user\", \"content\": \"hi\"},"
     " {\"role\": \"assistant\", \"content\": \" hello \"}]}"),
    "{\"conversations\": [{\"from\": \"human\", \"value\": \"q\"}, {\"from\": \"gpt\", \"value\": \"a\"}]}",
};

static void format(const tn_data_spec *spec, const json_t *row) {
    tn_sample s;
    tn_sample_init(&s);
    if (tn_format_row(spec, row, "fuzz: row 1", &s) == 0) {
        char *t = tn_sample_render(&s, "<s>", "</s>", NULL);
        if (!t) abort();
        free(t);
    }
    tn_sample_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) init = 1, fz_quiet();
    fz_in in = {data, size};
    size_t dl, rl;
    char *dts = fz_part(&in, &dl), *rows = fz_part(&in, &rl);
    json_t *dt = json_loadb(dts, dl, 0, NULL);
    tn_data_spec spec;
    if (dt && tn_data_spec_from_json(dt, "dataset_type", &spec) == 0) {
        json_t *row = rl ? json_loadb(rows, rl, 0, NULL) : NULL;
        if (row) {
            format(&spec, row);
        } else {
            for (size_t i = 0; i < sizeof g_rows / sizeof *g_rows; i++) {
                json_t *r = json_loads(g_rows[i], 0, NULL);
                format(&spec, r);
                json_decref(r);
            }
        }
        json_decref(row);
    }
    json_decref(dt);
    free(dts);
    free(rows);
    return 0;
}
