/* bpe_learn.c - learns a byte-level BPE tokenizer from text (see bpe_learn.h).
 * Used by the built-in base model (train/pretrain.c). */
#include "tok/bpe_learn.h"

#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- byte-level BPE trainer -------------------------------------------- */

enum { N_SPECIAL = 3 }; /* <s>, </s>, <pad> take ids 0..2 */
static const char *SPECIALS[N_SPECIAL] = {"<s>", "</s>", "<pad>"};

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others
 * for code points 256.. in byte order. Writes the UTF-8 form of byte b's
 * symbol into out (at most 2 bytes: code points stay below 0x800). */
static int byte_symbol(unsigned b, char *out) {
    unsigned cp;
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
        cp = b;
    } else {
        unsigned n = 0;
        for (unsigned x = 0; x < b; x++)
            if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* Raw bytes -> their byte-level spelling (a heap string). */
static char *bytelevel(const unsigned char *s, size_t n) {
    char *r = tn_malloc(2 * n + 1), *p = r;
    for (size_t i = 0; i < n; i++) p += byte_symbol(s[i], p);
    *p = 0;
    return r;
}

typedef struct {
    const char *p;
    size_t n;
} piece;

static int piece_cmp(const void *a, const void *b) {
    const piece *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->p, y->p, n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

static int is_letter(unsigned char c) { return isalpha(c) || c >= 0x80; }

/* The length of the pre-tokenizer piece at s (ASCII reading of GPT-2's
 * regex: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+).
 * Merges only need to be plausible for the real pre-tokenizer: they are
 * applied by the loader's own ByteLevel split, whatever split trained them. */
static size_t next_piece(const unsigned char *s, size_t n) {
    if (s[0] == '\'' && n >= 2) {
        if (strchr("stmd", s[1])) return 2;
        if (n >= 3 && (!memcmp(s + 1, "re", 2) || !memcmp(s + 1, "ve", 2) || !memcmp(s + 1, "ll", 2))) return 3;
    }
    size_t i = 0;
    if (s[0] == ' ' && n >= 2 && s[1] != ' ') i = 1;
    if (isspace(s[i])) {
        while (i < n && isspace(s[i])) i++;
        return i;
    }
    int kind = is_letter(s[i]) ? 1 : isdigit(s[i]) ? 2 : 3;
    while (i < n && !isspace(s[i]) && (is_letter(s[i]) ? 1 : isdigit(s[i]) ? 2 : 3) == kind) i++;
    return i;
}

typedef struct {
    int ntok;                /* trainer tokens: 0..255 bytes, then merges */
    unsigned char **str;     /* raw bytes of each token */
    size_t *len;
    int nmerge;
    int (*merge)[2];
} bpe;

static void bpe_free(bpe *b) {
    for (int i = 0; i < b->ntok; i++) free(b->str[i]);
    free(b->str);
    free(b->len);
    free(b->merge);
}

/* Learns merges until max_tok trainer tokens exist or no pair occurs twice.
 * Pair counts live in a dense max_tok x max_tok table kept up to date word
 * by word, so each merge costs one pass over the (unique) words. */
static int bpe_learn(bpe *b, const char *text, size_t len, int max_tok) {
    memset(b, 0, sizeof *b);
    size_t npieces = 0, cap = 1 << 16;
    piece *pc = tn_malloc(cap * sizeof *pc);
    for (size_t i = 0; i < len;) {
        if (text[i] == '\n') {
            i++;
            continue;
        }
        size_t e = i;
        while (e < len && text[e] != '\n') e++;
        while (i < e) {
            size_t n = next_piece((const unsigned char *)text + i, e - i);
            if (npieces == cap) pc = tn_realloc(pc, (cap *= 2) * sizeof *pc);
            pc[npieces++] = (piece){text + i, n};
            i += n;
        }
    }
    qsort(pc, npieces, sizeof *pc, piece_cmp);
    /* unique words with counts, as symbol arrays in one buffer */
    size_t nw = 0, nsym = 0;
    for (size_t i = 0; i < npieces; i++)
        if (i == 0 || piece_cmp(&pc[i], &pc[i - 1])) {
            nw++;
            nsym += pc[i].n;
        }
    /* The pair table grows with the square of the vocabulary (32 GB at
     * 65536): the one allocation here that can fail for a legal request,
     * so it is reported rather than aborted on. */
    int64_t *cnt = calloc((size_t)max_tok * max_tok, sizeof *cnt);
    if (!cnt) {
        free(pc);
        return tn_fail("out of memory for the BPE pair counts of %d tokens (%zu MB)", max_tok,
                       (size_t)max_tok * max_tok * sizeof *cnt >> 20);
    }
    int32_t *sym = tn_malloc((nsym ? nsym : 1) * sizeof *sym);
    size_t *woff = tn_malloc((nw ? nw : 1) * sizeof *woff), *wlen = tn_malloc((nw ? nw : 1) * sizeof *wlen);
    int64_t *wcnt = tn_calloc(nw ? nw : 1, sizeof *wcnt);
    b->str = tn_calloc((size_t)max_tok, sizeof *b->str);
    b->len = tn_calloc((size_t)max_tok, sizeof *b->len);
    b->merge = tn_malloc((size_t)max_tok * sizeof *b->merge);
    size_t w = (size_t)-1, at = 0;
    for (size_t i = 0; i < npieces; i++) {
        if (i == 0 || piece_cmp(&pc[i], &pc[i - 1])) {
            w++;
            woff[w] = at;
            wlen[w] = pc[i].n;
            for (size_t k = 0; k < pc[i].n; k++) sym[at++] = (unsigned char)pc[i].p[k];
        }
        wcnt[w]++;
    }
    for (b->ntok = 0; b->ntok < 256; b->ntok++) {
        b->str[b->ntok] = tn_malloc(1);
        b->str[b->ntok][0] = (unsigned char)b->ntok;
        b->len[b->ntok] = 1;
    }
    const size_t V = (size_t)max_tok;
    for (size_t i = 0; i < nw; i++)
        for (size_t k = 0; k + 1 < wlen[i]; k++) cnt[(size_t)sym[woff[i] + k] * V + (size_t)sym[woff[i] + k + 1]] += wcnt[i];
    while (b->ntok < max_tok) {
        int64_t best = 1;
        size_t bi = 0;
        size_t lim = (size_t)b->ntok;
        for (size_t a = 0; a < lim; a++)
            for (size_t c = 0; c < lim; c++)
                if (cnt[a * V + c] > best) best = cnt[a * V + c], bi = a * V + c; /* ties: lowest ids */
        if (best < 2) break;
        int32_t x = (int32_t)(bi / V), y = (int32_t)(bi % V);
        /* The merged string may already exist ("a"+"bc" after "ab"+"c"); then
         * the merge maps onto that token, as HF's BPE looks results up by string. */
        size_t nl = b->len[x] + b->len[y];
        unsigned char *ns = tn_malloc(nl);
        memcpy(ns, b->str[x], b->len[x]);
        memcpy(ns + b->len[x], b->str[y], b->len[y]);
        int32_t z = -1;
        for (int t = 256; t < b->ntok && z < 0; t++)
            if (b->len[t] == nl && !memcmp(b->str[t], ns, nl)) z = t;
        if (z < 0) {
            z = b->ntok++;
            b->str[z] = ns;
            b->len[z] = nl;
        } else {
            free(ns);
        }
        b->merge[b->nmerge][0] = x;
        b->merge[b->nmerge][1] = y;
        b->nmerge++;
        for (size_t i = 0; i < nw; i++) {
            int32_t *s = sym + woff[i];
            size_t n = wlen[i], k = 0;
            while (k + 1 < n && !(s[k] == x && s[k + 1] == y)) k++;
            if (k + 1 >= n) continue;
            for (size_t j = 0; j + 1 < n; j++) cnt[(size_t)s[j] * V + (size_t)s[j + 1]] -= wcnt[i];
            size_t o = 0;
            for (size_t j = 0; j < n;) {
                if (j + 1 < n && s[j] == x && s[j + 1] == y) {
                    s[o++] = z;
                    j += 2;
                } else {
                    s[o++] = s[j++];
                }
            }
            wlen[i] = o;
            for (size_t j = 0; j + 1 < o; j++) cnt[(size_t)s[j] * V + (size_t)s[j + 1]] += wcnt[i];
        }
    }
    free(pc);
    free(sym);
    free(woff);
    free(wlen);
    free(wcnt);
    free(cnt);
    return 0;
}

static json_t *tokenizer_json(const bpe *b) {
    json_t *vocab = json_object(), *merges = json_array(), *added = json_array();
    for (int i = 0; i < N_SPECIAL; i++) {
        json_object_set_new(vocab, SPECIALS[i], json_integer(i));
        json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", i, "content", SPECIALS[i],
                                               "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0,
                                               "special", 1));
    }
    for (int t = 0; t < b->ntok; t++) {
        char *s = bytelevel(b->str[t], b->len[t]);
        json_object_set_new(vocab, s, json_integer(t + N_SPECIAL));
        free(s);
    }
    for (int m = 0; m < b->nmerge; m++) {
        char *l = bytelevel(b->str[b->merge[m][0]], b->len[b->merge[m][0]]);
        char *r = bytelevel(b->str[b->merge[m][1]], b->len[b->merge[m][1]]);
        char *s = tn_sprintf("%s %s", l, r);
        free(l);
        free(r);
        json_array_append_new(merges, json_string(s));
        free(s);
    }
    /* "<s> $A": BOS in front, as Llama's tokenizer.json does, so HF's
     * PreTrainedTokenizerFast adds it too (not only tuna's add_bos_token). */
    json_t *post = json_pack(
        "{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}], s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}],"
        " s:{s:{s:s, s:[i], s:[s]}}}",
        "type", "TemplateProcessing", "single", "SpecialToken", "id", "<s>", "type_id", 0, "Sequence", "id", "A",
        "type_id", 0, "pair", "SpecialToken", "id", "<s>", "type_id", 0, "Sequence", "id", "A", "type_id", 0,
        "SpecialToken", "id", "<s>", "type_id", 1, "Sequence", "id", "B", "type_id", 1, "special_tokens", "<s>", "id",
        "<s>", "ids", 0, "tokens", "<s>");
    return json_pack("{s:s, s:n, s:n, s:o, s:n, s:{s:s, s:b, s:b, s:b}, s:o, s:{s:s, s:b, s:b, s:b},"
                     " s:{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}}",
                     "version", "1.0", "truncation", "padding", "added_tokens", added, "normalizer", "pre_tokenizer",
                     "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 1, "post_processor",
                     post, "decoder", "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets", 1, "use_regex", 1,
                     "model", "type", "BPE", "dropout", "unk_token", "continuing_subword_prefix",
                     "end_of_word_suffix", "fuse_unk", 0, "byte_fallback", 0, "ignore_merges", 0, "vocab", vocab,
                     "merges", merges);
}

int tn_bpe_train_write(const char *text, size_t len, int vocab_size, int model_max_length, const char *dir) {
    if (vocab_size < N_SPECIAL + 256 || vocab_size > 65536)
        return tn_fail("vocab_size %d: expected 259..65536 (3 specials + 256 bytes + merges)", vocab_size);
    bpe b;
    if (bpe_learn(&b, text, len, vocab_size - N_SPECIAL)) return -1;
    int n = b.ntok + N_SPECIAL;
    json_t *tj = tokenizer_json(&b);
    bpe_free(&b);
    if (!tj) return tn_fail("out of memory");
    json_t *cfg = json_pack("{s:b, s:b, s:s, s:s, s:s, s:n, s:i, s:s, s:b}", "add_bos_token", 1, "add_eos_token", 0,
                            "bos_token", "<s>", "eos_token", "</s>", "pad_token", "<pad>", "unk_token",
                            "model_max_length", model_max_length, "tokenizer_class", "PreTrainedTokenizerFast",
                            "clean_up_tokenization_spaces", 0);
    char *p1 = tn_path_join(dir, "tokenizer.json"), *p2 = tn_path_join(dir, "tokenizer_config.json");
    int rc = tn_mkdir_p(dir) || tn_json_save_file(tj, p1) || tn_json_save_file(cfg, p2) ? -1 : 0;
    free(p1);
    free(p2);
    json_decref(tj);
    json_decref(cfg);
    return rc ? -1 : n;
}
