/* fuzz_safetensors - a model.safetensors file as a miner uploads it:
 * tn_st_open validates the header and every tensor's range, then every
 * floating-point tensor is converted to fp32 (with and without the
 * finiteness check), as tn_model_load and the evaluator do. */
#include "io/safetensors.h"
#include "util.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) init = 1, fz_quiet();
    tn_st_file f;
    if (tn_st_open(&f, fz_write("model.safetensors", data, size))) return 0;
    for (int i = 0; i < f.n; i++) {
        const tn_st_tensor *t = &f.tensors[i];
        if (tn_st_find(&f, t->name) == NULL) abort(); /* every listed tensor is found by name */
        if (t->dtype != TN_DT_F32 && t->dtype != TN_DT_F16 && t->dtype != TN_DT_BF16 && t->dtype != TN_DT_F64)
            continue;
        if (t->numel > (1u << 20)) continue;
        float *dst = malloc((t->numel ? t->numel : 1) * sizeof *dst);
        if (!dst) abort();
        tn_st_read_f32(t, dst, t->numel, 1);
        tn_st_read_f32(t, dst, t->numel, 0);
        free(dst);
    }
    tn_st_close(&f);
    return 0;
}
