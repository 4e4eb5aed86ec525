/* fuzz_tokenizer - a tokenizer.json as a base model's directory carries it
 * (and, after "\n--\n", its tokenizer_config.json), then text after a second
 * "\n--\n" encoded with and without special tokens and decoded back, and the
 * text's bytes decoded as ids (ids out of range must be refused, not read). */
#include "base/err.h"
#include "base/fs.h"
#include "tok/tokenizer.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *g_dir;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_dir) {
        fz_quiet();
        g_dir = tn_path_join(fz_dir(), "tok");
        if (tn_mkdir_p(g_dir)) abort();
    }
    fz_in in = {data, size};
    size_t tl, cl, xl;
    char *tj = fz_part(&in, &tl), *cj = fz_part(&in, &cl), *text = fz_part(&in, &xl);
    char *tpath = tn_path_join(g_dir, "tokenizer.json"), *cpath = tn_path_join(g_dir, "tokenizer_config.json");
    if (tn_write_file_atomic(tpath, tj, tl)) abort();
    if (cl ? tn_write_file_atomic(cpath, cj, cl) : (remove(cpath), 0)) abort();
    tn_tokenizer *tok = tn_tok_load(g_dir);
    if (tok) {
        if (!xl) {
            static const char dflt[] = "Hello world! <s> 12 \xc3\xa9t\xc3\xa9\n\t \xf0\x9f\x98\x80 \xff";
            free(text);
            text = strdup(dflt);
            xl = sizeof dflt - 1;
        }
        for (int special = 0; special < 2; special++) {
            int32_t *ids = NULL;
            size_t n = 0;
            if (tn_tok_encode(tok, text, xl, special, &ids, &n) == 0) {
                int32_t V = tn_tok_vocab_size(tok);
                for (size_t i = 0; i < n; i++)
                    if (ids[i] < 0 || ids[i] >= V) abort(); /* an id the model has no row for */
                size_t dl;
                char *back = tn_tok_decode(tok, ids, n, special, &dl);
                if (!back && n) { /* decoding the tokenizer's own ids cannot fail */
                    fprintf(stderr, "fuzz_tokenizer: decode of encode's ids failed: %s\n", tn_errmsg());
                    abort();
                }
                free(back);
            }
            free(ids);
        }
        size_t nid = xl / sizeof(int32_t);
        int32_t *raw = malloc((nid ? nid : 1) * sizeof *raw);
        if (!raw) abort();
        memcpy(raw, text, nid * sizeof *raw);
        free(tn_tok_decode(tok, raw, nid, 0, NULL));
        free(raw);
        for (int32_t id = -1; id < 4; id++) (void)tn_tok_id_to_token(tok, id);
        (void)tn_tok_token_to_id(tok, text);
        tn_tok_free(tok);
    }
    free(tpath);
    free(cpath);
    free(tj);
    free(cj);
    free(text);
    return 0;
}
