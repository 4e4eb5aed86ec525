/* test_random_hf.c - tools/make_random_hf.py writes a directory tuna loads:
 * the SmolLM2-135M shape cut to one layer (its GPT-2 stand-in tokenizer comes
 * from ../shared/data), checked with `tuna info` and `tuna tokenize`. */
#include "harness.h"
#include "base/fs.h"

#include <stdio.h>
#include <string.h>

TEST(smollm2_shape_one_layer_loads) {
    const char *bin = getenv("TUNA_BIN") ? getenv("TUNA_BIN") : "build/tuna";
    if (!tn_file_exists(bin)) SKIP("%.200s not built", bin);
    if (!tn_file_exists("/usr/bin/python3")) SKIP("/usr/bin/python3 missing");
    if (!tn_t_shared_data()) SKIP("../shared/data missing (the GPT-2 tokenizer)");
    char cmd[1024], out[4096] = {0};
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tools/make_random_hf.py smollm2-135m %s/m --layers 1 --seed 3 && "
             "%s info --model %s/m && echo 'Hello world' | %s tokenize --tokenizer %s/m", tn_t_tmpdir(), bin,
             tn_t_tmpdir(), bin, tn_t_tmpdir());
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    if (!f) return;
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    CHECKF(pclose(f) == 0, "%s", out);
    /* 50257 x 576 tied embedding + one layer (4 attention + 3 MLP matrices, 2 norms) + final norm */
    long long want = 50257LL * 576 + (576LL * 576 * 2 + 576LL * 192 * 2 + 3LL * 576 * 1536 + 2 * 576) + 576;
    char line[64];
    snprintf(line, sizeof line, "params       %lld", want);
    CHECKF(strstr(out, line) != NULL, "want \"%s\" in:\n%s", line, out);
    CHECKF(strstr(out, "[15496,995]") != NULL, "GPT-2 ids of \"Hello world\" missing:\n%s", out);
}

int main(void) {
    RUN(smollm2_shape_one_layer_loads);
    return tn_test_summary("test_random_hf");
}
