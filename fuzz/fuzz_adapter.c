/* fuzz_adapter - a PEFT adapter submission (adapter_config.json, and after
 * "\n--\n" the bytes of adapter_model.safetensors, else a valid one) loaded
 * by tn_lora_load onto a small Llama-shaped model, as the evaluator applies
 * a miner's adapter to the base. A loaded adapter is detached and freed. */
#include "base/fs.h"
#include "model/lora.h"
#include "train/random_model.h"
#include "util.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tn_model g_m;
static char *g_dir, *g_cfg, *g_wts, *g_orig;
static size_t g_orig_len;

static void init(void) {
    fz_quiet();
    const tn_model_shape shape = {.model_type = "llama", .vocab = 64, .dim = 16, .layers = 1, .heads = 2,
                                  .kv_heads = 1, .hidden = 32, .positions = 32};
    g_dir = tn_path_join(fz_dir(), "adapter");
    g_cfg = tn_path_join(g_dir, "adapter_config.json");
    g_wts = tn_path_join(g_dir, "adapter_model.safetensors");
    if (tn_model_random(&g_m, &shape, "fuzz base", 1)) abort();
    const char **targets;
    int nt = tn_lora_default_targets(&g_m, &targets);
    tn_lora lo;
    if (tn_lora_attach(&g_m, &lo, 2, 4.0f, 0.0f, targets, nt, 3) || tn_lora_save(&lo, &g_m, g_dir, "fuzz-base"))
        abort();
    tn_lora_detach(&g_m, &lo);
    tn_lora_free(&lo);
    g_orig = tn_read_file(g_wts, &g_orig_len);
    if (!g_orig) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_dir) init();
    fz_in in = {data, size};
    size_t cl, wl;
    char *cfg = fz_part(&in, &cl);
    int has_w = cl < size;
    char *w = fz_part(&in, &wl);
    if (tn_write_file_atomic(g_cfg, cfg, cl) || tn_write_file_atomic(g_wts, has_w ? w : g_orig, has_w ? wl : g_orig_len))
        abort();
    tn_lora lo;
    if (tn_lora_load(&g_m, &lo, g_dir) == 0) {
        if (g_m.lora != &lo) abort(); /* attached */
        tn_lora_detach(&g_m, &lo);
        tn_lora_free(&lo);
    }
    free(cfg);
    free(w);
    return 0;
}
