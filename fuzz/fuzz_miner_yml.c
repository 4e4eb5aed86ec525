/* fuzz_miner_yml - a miner.yml, applied over the defaults by
 * tn_miner_config_load_yaml, then checked as before serving. */
#include "miner/config.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) init = 1, fz_quiet();
    tn_miner_config c;
    tn_miner_config_defaults(&c);
    if (tn_miner_config_load_yaml(&c, fz_write("miner.yml", data, size)) == 0) (void)tn_miner_config_check(&c);
    tn_miner_config_free(&c);
    return 0;
}
