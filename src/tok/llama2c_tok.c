/* llama2c_tok.c - llama2.c tokenizer.bin, and its conversion to tokenizer.json.
 *
 * tokenizer.bin: int32 max_token_length, then per token: float score,
 * int32 len, len bytes. Ids 0, 1, 2 are <unk>, <s>, </s> (stored as "<unk>",
 * "\n<s>\n", "\n</s>\n"), 3..258 the byte tokens <0x00>..<0xFF>, and the
 * SentencePiece "▁" is stored as a plain space.
 *
 * The conversion builds what HF's LlamaConverter builds from a SentencePiece
 * BPE model: normalizer Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer,
 * BPE with byte_fallback and fuse_unk, TemplateProcessing "<s> $A", and the
 * Llama decoder. Merges come from SentencePieceExtractor: every split of a
 * piece into two pieces of the vocabulary, ordered by the piece's score
 * (highest first), then by piece id, then by the two halves' ids. With
 * distinct scores, lowest-rank-first BPE then performs exactly the merges of
 * llama2.c's "merge the best-scoring adjacent pair" loop.
 */
#include "tok/tok_internal.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    char **tok; /* HF spelling */
    float *score;
    int32_t n;
} l2c_vocab;

static void l2c_free(l2c_vocab *v) {
    for (int32_t i = 0; i < v->n; i++) free(v->tok[i]);
    free(v->tok);
    free(v->score);
}

static int l2c_read(const char *path, l2c_vocab *v) {
    memset(v, 0, sizeof *v);
    size_t n;
    char *buf = tn_read_file(path, &n);
    if (!buf) return -1;
    size_t o = 4, cap = 0;
    if (n < 4) goto bad;
    while (o < n) {
        float score;
        int32_t len;
        if (o + 8 > n) goto bad;
        memcpy(&score, buf + o, 4);
        memcpy(&len, buf + o + 4, 4);
        o += 8;
        if (len < 0 || (size_t)len > n - o) goto bad;
        if ((size_t)v->n == cap) {
            cap = cap ? cap * 2 : 512;
            v->tok = tn_realloc(v->tok, cap * sizeof *v->tok);
            v->score = tn_realloc(v->score, cap * sizeof *v->score);
        }
        tn_sbuf t = {0};
        static const char *fixed[3] = {"<unk>", "<s>", "</s>"};
        if (v->n < 3)
            tn_sbuf_put(&t, fixed[v->n], strlen(fixed[v->n]));
        else
            for (int32_t i = 0; i < len; i++) {
                if (buf[o + (size_t)i] == ' ')
                    tn_sbuf_put(&t, "\xE2\x96\x81", 3);
                else
                    tn_sbuf_putc(&t, buf[o + (size_t)i]);
            }
        if (!tn_utf8_valid(t.p ? t.p : "", t.n)) {
            tn_fail("%s: token %d is not valid UTF-8", path, (int)v->n);
            tn_sbuf_free(&t);
            free(buf);
            l2c_free(v);
            return -1;
        }
        tn_sbuf_putc(&t, 0);
        v->tok[v->n] = t.p;
        v->score[v->n] = score;
        v->n++;
        o += (size_t)len;
    }
    free(buf);
    if (v->n < 259) {
        tn_fail("%s: %d tokens; a llama2.c tokenizer has <unk>, <s>, </s> and 256 byte tokens first", path, (int)v->n);
        l2c_free(v);
        return -1;
    }
    return 0;
bad:
    free(buf);
    l2c_free(v);
    return tn_fail("%s: truncated or malformed llama2.c tokenizer (at byte %zu)", path, o);
}

typedef struct {
    float score;
    int32_t piece, l, r;
} cand;

static int cand_cmp(const void *x, const void *y) {
    const cand *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->piece != b->piece) return a->piece < b->piece ? -1 : 1;
    if (a->l != b->l) return a->l < b->l ? -1 : 1;
    return a->r < b->r ? -1 : a->r > b->r;
}

static json_t *l2c_json(const l2c_vocab *v) {
    tn_vocab map;
    tn_vocab_init(&map, (size_t)v->n);
    json_t *vocab = json_object();
    for (int32_t i = v->n - 1; i >= 0; i--) /* the first id of a duplicate wins */
        tn_vocab_set(&map, v->tok[i], strlen(v->tok[i]), i);
    for (int32_t i = 0; i < v->n; i++)
        if (tn_vocab_get(&map, v->tok[i], strlen(v->tok[i])) == i) json_object_set_new(vocab, v->tok[i], json_integer(i));

    cand *c = NULL;
    size_t nc = 0, capc = 0;
    for (int32_t i = 259; i < v->n; i++) { /* control and byte tokens are never merge results */
        const char *s = v->tok[i];
        size_t n = strlen(s);
        for (size_t k = (size_t)tn_utf8_clen((unsigned char)s[0]); k < n; k += (size_t)tn_utf8_clen((unsigned char)s[k])) {
            int32_t l = tn_vocab_get(&map, s, k), r = tn_vocab_get(&map, s + k, n - k);
            if (l < 0 || r < 0) continue;
            if (nc == capc) {
                capc = capc ? capc * 2 : 1024;
                c = tn_realloc(c, capc * sizeof *c);
            }
            c[nc++] = (cand){v->score[i], i, l, r};
        }
    }
    qsort(c, nc, sizeof *c, cand_cmp);
    json_t *merges = json_array();
    for (size_t i = 0; i < nc; i++)
        json_array_append_new(merges, json_pack("[s,s]", v->tok[c[i].l], v->tok[c[i].r]));
    free(c);
    tn_vocab_free(&map);

    json_t *added = json_array();
    for (int i = 0; i < 3; i++)
        json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", i, "content", v->tok[i],
                                               "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1));
    const char *sp = "\xE2\x96\x81";
    return json_pack(
        "{s:s, s:n, s:n, s:o,"
        " s:{s:s, s:[{s:s, s:s}, {s:s, s:{s:s}, s:s}]},"
        " s:n,"
        " s:{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}],"
        "      s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}],"
        "      s:{s:{s:s, s:[i], s:[s]}}},"
        " s:{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s}, {s:s}, {s:s, s:s, s:i, s:i}]},"
        " s:{s:s, s:n, s:s, s:n, s:n, s:b, s:b, s:b, s:o, s:o}}",
        "version", "1.0", "truncation", "padding", "added_tokens", added,
        "normalizer", "type", "Sequence", "normalizers", "type", "Prepend", "prepend", sp, "type", "Replace",
        "pattern", "String", " ", "content", sp,
        "pre_tokenizer",
        "post_processor", "type", "TemplateProcessing",
        "single", "SpecialToken", "id", "<s>", "type_id", 0, "Sequence", "id", "A", "type_id", 0,
        "pair", "SpecialToken", "id", "<s>", "type_id", 0, "Sequence", "id", "A", "type_id", 0,
        "SpecialToken", "id", "<s>", "type_id", 1, "Sequence", "id", "B", "type_id", 1,
        "special_tokens", "<s>", "id", "<s>", "ids", 1, "tokens", "<s>",
        "decoder", "type", "Sequence", "decoders", "type", "Replace", "pattern", "String", sp, "content", " ",
        "type", "ByteFallback", "type", "Fuse", "type", "Strip", "content", " ", "start", 1, "stop", 0,
        "model", "type", "BPE", "dropout", "unk_token", "<unk>", "continuing_subword_prefix", "end_of_word_suffix",
        "fuse_unk", 1, "byte_fallback", 1, "ignore_merges", 0, "vocab", vocab, "merges", merges);
}

tn_tokenizer *tn_tok_load_llama2c(const char *bin_path) {
    l2c_vocab v;
    if (l2c_read(bin_path, &v)) return NULL;
    json_t *root = l2c_json(&v);
    l2c_free(&v);
    if (!root) {
        tn_fail("%s: cannot build tokenizer.json", bin_path);
        return NULL;
    }
    tn_tokenizer *t = tn_tok_from_json(root, bin_path, NULL);
    json_decref(root);
    if (t) {
        t->unk = 0;
        t->bos = 1;
        t->eos = 2;
        t->add_bos_token = 1;
    }
    return t;
}

int tn_tok_llama2c_to_hf(const char *tokenizer_bin, const char *out_dir) {
    l2c_vocab v;
    if (l2c_read(tokenizer_bin, &v)) return -1;
    json_t *root = l2c_json(&v);
    l2c_free(&v);
    if (!root) return tn_fail("%s: cannot build tokenizer.json", tokenizer_bin);
    int rc = tn_mkdir_p(out_dir);
    char *p = tn_path_join(out_dir, "tokenizer.json");
    if (!rc) rc = tn_json_save_file(root, p);
    free(p);
    json_decref(root);
    if (rc) return -1;
    json_t *cfg = json_pack("{s:b, s:b, s:s, s:s, s:s, s:n, s:b, s:b, s:s}", "add_bos_token", 1, "add_eos_token", 0,
                            "bos_token", "<s>", "eos_token", "</s>", "unk_token", "<unk>", "pad_token",
                            "clean_up_tokenization_spaces", 0, "legacy", 1, "tokenizer_class", "LlamaTokenizer");
    p = tn_path_join(out_dir, "tokenizer_config.json");
    rc = tn_json_save_file(cfg, p);
    free(p);
    json_decref(cfg);
    return rc;
}
