/* fuzz_st_index - a sharded model directory: the input is
 * model.safetensors.index.json, optionally followed by "\n--\n" and the
 * bytes of the shard b.safetensors (else a valid one is written). a.safetensors
 * is a fixed valid shard. tn_st_set_open_dir checks the index against the
 * shards both ways, as the evaluator does for a full submission. */
#include "base/fs.h"
#include "io/safetensors.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *g_dir, *g_b;
static size_t g_blen;

static void init(void) {
    fz_quiet();
    g_dir = tn_path_join(fz_dir(), "model");
    if (tn_mkdir_p(g_dir)) abort();
    static const float x[6] = {1, 2, 3, 4, 5, 6}, y[2] = {7, 8}, z[3] = {9, 10, 11};
    tn_st_entry a[2] = {{"a.x", TN_DT_F32, 2, {2, 3}, x}, {"a.y", TN_DT_F32, 1, {2}, y}};
    tn_st_entry b[1] = {{"b.z", TN_DT_F32, 1, {3}, z}};
    char *pa = tn_path_join(g_dir, "a.safetensors"), *pb = tn_path_join(g_dir, "b.safetensors");
    if (tn_st_write(pa, a, 2, NULL) || tn_st_write(pb, b, 1, NULL)) abort();
    g_b = tn_read_file(pb, &g_blen);
    if (!g_b) abort();
    free(pa);
    free(pb);
}

static void put(const char *name, const void *p, size_t n) {
    char *path = tn_path_join(g_dir, name);
    if (tn_write_file_atomic(path, p, n)) abort();
    free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_dir) init();
    fz_in in = {data, size};
    size_t ilen, blen;
    char *index = fz_part(&in, &ilen);
    int has_b = ilen < size; /* a separator follows the index */
    char *shard = fz_part(&in, &blen);
    put("model.safetensors.index.json", index, ilen);
    if (has_b) put("b.safetensors", shard, blen);
    else put("b.safetensors", g_b, g_blen);
    tn_st_set s;
    if (tn_st_set_open_dir(&s, g_dir) == 0) {
        for (int i = 0; i < s.n; i++)
            if (tn_st_set_find(&s, s.tensors[i]->name) == NULL) abort();
        tn_st_set_close(&s);
    }
    free(index);
    free(shard);
    return 0;
}
