/* fuzz_train_yaml - an axolotl-style training config (the ones miners and
 * G.O.D write), applied over the defaults by tn_train_opts_from_yaml_w as
 * `tuna train config.yml` does. */
#include "train/config_yaml.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) init = 1, fz_quiet();
    tn_train_opts o;
    tn_train_opts_defaults(&o);
    int warnings = 0;
    (void)tn_train_opts_from_yaml_w(&o, fz_write("train.yml", data, size), &warnings);
    tn_train_opts_free(&o);
    return 0;
}
