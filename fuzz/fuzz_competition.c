/* fuzz_competition - an organiser's competition schedule file (YAML), as
 * `tuna admin competition load` sends it: parsed and checked by
 * v_comp_parse (catalog names are checked later, against the store). */
#include "validator/competition.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) init = 1, fz_quiet();
    /* the API receives the file's text as a JSON string: no NUL inside */
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    json_t *j = v_comp_parse("schedule.yml", text, fz_path("schedule.scratch"));
    json_decref(j);
    free(text);
    return 0;
}
