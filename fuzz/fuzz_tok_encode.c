/* fuzz_tok_encode - text from a dataset row through the real tokenizers:
 * encode with and without special tokens, decode back (byte-level
 * tokenizers must give the text back exactly when it is valid UTF-8), and
 * the bytes decoded as ids. The tokenizers are loaded once from
 * $TN_FUZZ_TOKENIZERS (paths separated by ':'; default: the shared data's
 * Mistral tokenizer.json (SentencePiece-style BPE, byte fallback) and GPT-2
 * directory (byte-level BPE)); the first input byte picks one. */
#include "tok/tokenizer.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tn_tokenizer *g_tok[8];
static int g_n;

static void init(void) {
    fz_quiet();
    const char *env = getenv("TN_FUZZ_TOKENIZERS");
    char *list = strdup(env && *env ? env
                                    : "../shared/data/tokenizers/mistral/tokenizer.json:../shared/data/tokenizers/gpt2");
    for (char *save = NULL, *p = strtok_r(list, ":", &save); p && g_n < 8; p = strtok_r(NULL, ":", &save)) {
        tn_tokenizer *t = tn_tok_load(p);
        if (t) g_tok[g_n++] = t;
        else fprintf(stderr, "fuzz_tok_encode: %s not loaded, skipped\n", p);
    }
    free(list);
    if (!g_n) {
        fprintf(stderr, "fuzz_tok_encode: no tokenizer (set TN_FUZZ_TOKENIZERS)\n");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_n) init();
    fz_in in = {data, size};
    tn_tokenizer *tok = g_tok[fz_byte(&in) % (unsigned)g_n];
    const char *text = (const char *)in.p;
    size_t len = in.n;
    int32_t V = tn_tok_vocab_size(tok);
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (tn_tok_encode(tok, text, len, special, &ids, &n)) abort(); /* any bytes encode */
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= V) abort();
        free(tn_tok_decode(tok, ids, n, special, NULL));
        free(ids);
    }
    size_t nid = len / sizeof(int32_t);
    int32_t *raw = malloc((nid ? nid : 1) * sizeof *raw);
    if (!raw) abort();
    memcpy(raw, text, nid * sizeof *raw);
    for (size_t i = 0; i < nid; i++) raw[i] = (int32_t)((uint32_t)raw[i] % (uint32_t)(V + 2)) - 1;
    free(tn_tok_decode(tok, raw, nid, 1, NULL));
    free(raw);
    return 0;
}
