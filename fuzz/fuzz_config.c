/* fuzz_config - a submission's config.json: parsed with jansson as
 * tn_json_load_file does (duplicate keys refused), then validated by
 * tn_config_from_json; an accepted config has its parameter count taken
 * (what `tuna info` and the validator's catalog report). */
#include "model/config.h"
#include "util.h"

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) init = 1, fz_quiet();
    json_error_t e;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &e);
    if (!j) return 0;
    tn_config c;
    if (tn_config_from_json(&c, j, "config.json") == 0) {
        (void)tn_config_param_count(&c);
        tn_config_free(&c);
    }
    json_decref(j);
    return 0;
}
