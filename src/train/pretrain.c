/* basemodel.c - the built-in base model: a byte-level BPE learned from
 * WordNet's English, and a small Llama pretrained on it (see basemodel.h). */
#include "train/pretrain.h"

#include "data/wordnet.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "data/hygiene.h"
#include "model/model.h"
#include "tok/tokenizer.h"
#include "train/optim.h"

#include <ctype.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tn_base_opts_init(tn_base_opts *o) {
    memset(o, 0, sizeof *o);
    o->seconds = 90;
    o->seed = 1234;
    o->vocab_size = 1024;
    o->dim = 96;
    o->layers = 3;
    o->heads = 4;
    o->hidden = 256;
    o->seq_len = 128;
    o->batch = 8;
    o->lr = 2e-3f;
    o->corpus_bytes = 8u << 20;
    o->threads = 1; /* see basemodel.h */
}

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
    char *r = malloc(2 * n + 1), *p = r;
    if (!r) return NULL;
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
    piece *pc = malloc(cap * sizeof *pc);
    if (!pc) return tn_fail("out of memory");
    for (size_t i = 0; i < len;) {
        if (text[i] == '\n') {
            i++;
            continue;
        }
        size_t e = i;
        while (e < len && text[e] != '\n') e++;
        while (i < e) {
            size_t n = next_piece((const unsigned char *)text + i, e - i);
            if (npieces == cap) {
                piece *g = realloc(pc, (cap *= 2) * sizeof *g);
                if (!g) {
                    free(pc);
                    return tn_fail("out of memory");
                }
                pc = g;
            }
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
    int32_t *sym = malloc((nsym ? nsym : 1) * sizeof *sym);
    size_t *woff = malloc((nw ? nw : 1) * sizeof *woff), *wlen = malloc((nw ? nw : 1) * sizeof *wlen);
    int64_t *wcnt = calloc(nw ? nw : 1, sizeof *wcnt);
    int64_t *cnt = calloc((size_t)max_tok * max_tok, sizeof *cnt);
    b->str = calloc((size_t)max_tok, sizeof *b->str);
    b->len = calloc((size_t)max_tok, sizeof *b->len);
    b->merge = malloc((size_t)max_tok * sizeof *b->merge);
    int rc = 0;
    if (!sym || !woff || !wlen || !wcnt || !cnt || !b->str || !b->len || !b->merge) {
        rc = tn_fail("out of memory");
        goto done;
    }
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
        b->str[b->ntok] = malloc(1);
        if (!b->str[b->ntok]) {
            rc = tn_fail("out of memory");
            goto done;
        }
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
        unsigned char *ns = malloc(nl);
        if (!ns) {
            rc = tn_fail("out of memory");
            goto done;
        }
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
done:
    free(pc);
    free(sym);
    free(woff);
    free(wlen);
    free(wcnt);
    free(cnt);
    if (rc) bpe_free(b);
    return rc;
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
        if (!s) goto oom;
        json_object_set_new(vocab, s, json_integer(t + N_SPECIAL));
        free(s);
    }
    for (int m = 0; m < b->nmerge; m++) {
        char *l = bytelevel(b->str[b->merge[m][0]], b->len[b->merge[m][0]]);
        char *r = bytelevel(b->str[b->merge[m][1]], b->len[b->merge[m][1]]);
        char *s = l && r ? malloc(strlen(l) + strlen(r) + 2) : NULL;
        if (s) sprintf(s, "%s %s", l, r);
        free(l);
        free(r);
        if (!s) goto oom;
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
oom:
    json_decref(vocab);
    json_decref(merges);
    json_decref(added);
    tn_fail("out of memory");
    return NULL;
}

int tn_bpe_train_write(const char *text, size_t len, int vocab_size, int model_max_length, const char *dir) {
    if (vocab_size < N_SPECIAL + 256 || vocab_size > 65536)
        return tn_fail("vocab_size %d: expected 259..65536 (3 specials + 256 bytes + merges)", vocab_size);
    bpe b;
    if (bpe_learn(&b, text, len, vocab_size - N_SPECIAL)) return -1;
    int n = b.ntok + N_SPECIAL;
    json_t *tj = tokenizer_json(&b);
    bpe_free(&b);
    if (!tj) return -1;
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

/* ---- pretraining -------------------------------------------------------- */

/* The corpus as one token stream: <s> line </s> <s> line </s> ..., the shape
 * of an instruct row (BOS, text, EOS), so a fine-tune starts from familiar
 * boundaries. */
static int encode_stream(const tn_tokenizer *tok, const char *text, size_t len, int32_t **out, size_t *n_out) {
    size_t cap = len / 2 + 16, n = 0;
    int32_t *s = malloc(cap * sizeof *s);
    tn_tok_ids ids = {0};
    int32_t bos = tn_tok_bos_id(tok), eos = tn_tok_eos_id(tok);
    if (!s) return tn_fail("out of memory");
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && text[e] != '\n') e++;
        if (e > i) {
            if (tn_tok_encode_into(tok, text + i, e - i, 0, &ids)) {
                free(s);
                tn_tok_ids_free(&ids);
                return -1;
            }
            if (n + ids.n + 2 > cap) {
                while (n + ids.n + 2 > cap) cap *= 2;
                int32_t *g = realloc(s, cap * sizeof *g);
                if (!g) {
                    free(s);
                    tn_tok_ids_free(&ids);
                    return tn_fail("out of memory");
                }
                s = g;
            }
            s[n++] = bos;
            memcpy(s + n, ids.ids, ids.n * sizeof *s);
            n += ids.n;
            s[n++] = eos;
        }
        i = e + 1;
    }
    tn_tok_ids_free(&ids);
    *out = s;
    *n_out = n;
    return 0;
}

static json_t *model_config(const tn_base_opts *o, int vocab) {
    return json_pack("{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:s, s:i, s:i, s:i, s:s, s:b}",
                     "architectures", "LlamaForCausalLM", "model_type", "llama", "vocab_size", vocab, "hidden_size",
                     o->dim, "intermediate_size", o->hidden, "num_hidden_layers", o->layers, "num_attention_heads",
                     o->heads, "num_key_value_heads", o->heads, "max_position_embeddings", o->seq_len, "rms_norm_eps",
                     1e-5, "rope_theta", 10000.0, "tie_word_embeddings", 0, "hidden_act", "silu", "bos_token_id", 0,
                     "eos_token_id", 1, "pad_token_id", 2, "torch_dtype", "float32", "attention_bias", 0);
}

/* Fills B windows of T tokens starting at random offsets in [0, span). */
static void fill_batch(int32_t *ids, const int32_t *stream, size_t span, int B, int T, tn_rng *r) {
    for (int b = 0; b < B; b++) {
        size_t at = (size_t)tn_rng_below(r, span);
        memcpy(ids + (size_t)b * T, stream + at, (size_t)T * sizeof *ids);
    }
}

/* Warmup over the first steps, then cosine from lr to lr/10 over `progress`
 * in [0, 1] (steps done / steps, or seconds used / seconds). */
static float lr_at(float peak, int step, int warmup, double progress) {
    if (step < warmup) return peak * (float)(step + 1) / (float)warmup;
    if (progress > 1) progress = 1;
    return peak * (float)(0.1 + 0.9 * 0.5 * (1 + cos(M_PI * progress)));
}

#define MAX_CURVE 100
#define VAL_WINDOWS 16

/* Mean loss over the held-out windows, in chunks of the training batch
 * (every window has T-1 scored tokens, so the mean of chunk means is the
 * token mean). */
static int val_loss(tn_model *m, const int32_t *val, int nval, int B, int T, float *out) {
    double s = 0;
    for (int c = 0; c < nval / B; c++) {
        float l;
        if (tn_model_forward(m, val + (size_t)c * B * T, val + (size_t)c * B * T, B, T, &l)) return -1;
        s += l;
    }
    *out = (float)(s / (nval / B));
    return 0;
}

int tn_make_base_model_r(const char *out_dir, const tn_base_opts *opts, tn_base_result *res) {
    tn_base_opts o;
    tn_base_opts_init(&o);
    if (opts) {
        o.seconds = opts->seconds > 0 ? opts->seconds : o.seconds;
        o.steps = opts->steps;
        o.seed = opts->seed;
        o.wordnet_dir = opts->wordnet_dir;
        o.quiet = opts->quiet;
        o.threads = opts->threads; /* 0 is meaningful: OpenMP's default */
#define TAKE(f) if (opts->f) o.f = opts->f
        TAKE(vocab_size);
        TAKE(dim);
        TAKE(layers);
        TAKE(heads);
        TAKE(hidden);
        TAKE(seq_len);
        TAKE(batch);
        TAKE(lr);
        TAKE(corpus_bytes);
#undef TAKE
    }
    if (o.steps < 0 || o.batch < 1 || o.seq_len < 8 || o.dim % o.heads || (o.dim / o.heads) % 2)
        return tn_fail("base model options: need steps >= 0, batch >= 1, seq_len >= 8, dim divisible by heads into "
                       "even head sizes");
    double t_start = tn_now();
    /* Thread count is per calling thread in OpenMP (and the OpenMP build of
     * OpenBLAS follows it); restored at the end so a caller such as
     * `tuna arena` keeps its own setting. */
    int saved_threads = omp_get_max_threads();
    if (o.threads > 0) omp_set_num_threads(o.threads);
    tn_base_result r = {0};
    tn_wordnet wn;
    tn_tokenizer *tok = NULL;
    tn_model m = {0};
    tn_adamw opt = {0};
    int32_t *stream = NULL, *ids = NULL;
    float *losses = NULL;
    char *text = NULL;
    json_t *curve = NULL;
    int have_model = 0, have_opt = 0, rc = -1;
    size_t len = 0, ntok = 0;

    if (tn_wordnet_load(&wn, o.wordnet_dir)) return -1;
    text = tn_wordnet_corpus(&wn, o.seed, o.corpus_bytes, &len);
    tn_wordnet_free(&wn);
    if (!text) goto done;
    int vocab = tn_bpe_train_write(text, len, o.vocab_size, o.seq_len, out_dir);
    if (vocab < 0 || !(tok = tn_tok_load(out_dir)) || encode_stream(tok, text, len, &stream, &ntok)) goto done;
    r.vocab_size = vocab;
    r.bytes_per_token = ntok ? (double)len / (double)ntok : 0;
    const int B = o.batch, T = o.seq_len;
    /* The last 2% of the stream (at least the validation windows) is held out
     * for the before/after validation loss; training windows never reach into
     * it. VAL_WINDOWS windows, rounded up to whole batches. */
    const int nval = (VAL_WINDOWS + B - 1) / B * B;
    size_t hold = ntok / 50 > (size_t)nval * T ? ntok / 50 : (size_t)nval * T;
    if (ntok < hold + 2 * (size_t)T) {
        tn_fail("the corpus is too small: %zu tokens for windows of %d (need %zu)", ntok, T, hold + 2 * (size_t)T);
        goto done;
    }
    size_t train_span = ntok - hold - (size_t)T;
    if (!o.quiet)
        fprintf(stderr, "pretrain: corpus %zu bytes, %zu tokens (%.2f bytes/token), vocab %d\n", len, ntok,
                r.bytes_per_token, vocab);

    tn_config cfg;
    json_t *cj = model_config(&o, vocab);
    int crc = tn_config_from_json(&cfg, cj, "base model config");
    json_decref(cj);
    if (crc) goto done;
    crc = tn_model_create(&m, &cfg);
    tn_config_free(&cfg);
    if (crc) goto done;
    have_model = 1;
    tn_model_init_random(&m, o.seed);
    r.n_params = m.numel;
    if (tn_model_enable_grads(&m) || tn_adamw_init(&opt, &m, o.lr, 0.9f, 0.95f, 1e-8f, 0.01f)) goto done;
    have_opt = 1;

    ids = malloc((size_t)B * T * sizeof *ids);
    int32_t *val = malloc((size_t)nval * T * sizeof *val);
    int cap_steps = o.steps > 0 ? o.steps : 1 << 20;
    losses = malloc((size_t)(o.steps > 0 ? o.steps : 4096) * sizeof *losses);
    if (!ids || !val || !losses) {
        free(val);
        tn_fail("out of memory");
        goto done;
    }
    for (int b = 0; b < nval; b++) /* evenly spaced held-out windows */
        memcpy(val + (size_t)b * T, stream + ntok - hold + (size_t)b * ((hold - T) / nval), (size_t)T * sizeof *val);
    if (val_loss(&m, val, nval, B, T, &r.val_before)) {
        free(val);
        goto done;
    }
    tn_rng rng;
    tn_rng_seed(&rng, o.seed ^ 0x9e3779b97f4a7c15ull);
    int warmup = o.steps > 0 && o.steps < 100 ? (o.steps / 10 > 0 ? o.steps / 10 : 1) : 10;
    size_t loss_cap = o.steps > 0 ? (size_t)o.steps : 4096;
    double t0 = tn_now(), step_time = 0, last_log = t0;
    int step = 0;
    for (; step < cap_steps; step++) {
        double el = tn_now() - t0;
        /* Time mode: stop when one more step would overrun the budget. */
        if (o.steps == 0 && el + step_time > o.seconds) break;
        double progress = o.steps > 0 ? (double)step / o.steps : el / o.seconds;
        float lr = lr_at(o.lr, step, warmup, progress), loss;
        fill_batch(ids, stream, train_span, B, T, &rng);
        tn_model_zero_grads(&m);
        if (tn_model_forward_train(&m, ids, ids, B, T, &loss) || tn_model_backward(&m)) {
            free(val);
            goto done;
        }
        tn_clip_grad_norm(m.g, m.numel, 1.0);
        tn_adamw_step(&opt, m.w, m.g, lr);
        if ((size_t)step == loss_cap) {
            float *g = realloc(losses, (loss_cap *= 2) * sizeof *g);
            if (!g) {
                free(val);
                tn_fail("out of memory");
                goto done;
            }
            losses = g;
        }
        losses[step] = loss;
        double now = tn_now();
        step_time = (now - t0) / (step + 1);
        if (!o.quiet && (now - last_log > 10 || step == 0)) {
            fprintf(stderr, "pretrain: step %d loss %.4f lr %.2e  %.0f tokens/s  %.0fs\n", step + 1, loss, lr,
                    (double)(step + 1) * B * T / (now - t0), now - t0);
            last_log = now;
        }
    }
    r.steps = step;
    r.train_seconds = tn_now() - t0;
    r.tokens_per_s = r.train_seconds > 0 ? (double)step * B * T / r.train_seconds : 0;
    if (step == 0) {
        free(val);
        tn_fail("no training step fitted in %.1f s", o.seconds);
        goto done;
    }
    r.first_loss = losses[0];
    int tail = step / 10 > 0 ? step / 10 : 1;
    double sum = 0;
    for (int i = step - tail; i < step; i++) sum += losses[i];
    r.last_loss = (float)(sum / tail);
    int vrc = val_loss(&m, val, nval, B, T, &r.val_after);
    free(val);
    if (vrc || tn_model_save(&m, out_dir, NULL) || tn_wordnet_write_license(out_dir)) goto done;

    /* The curve, averaged over at most MAX_CURVE buckets of steps. */
    curve = json_array();
    int per = (step + MAX_CURVE - 1) / MAX_CURVE;
    for (int i = 0; i < step; i += per) {
        int e = i + per < step ? i + per : step;
        double s = 0;
        for (int k = i; k < e; k++) s += losses[k];
        json_array_append_new(curve, json_pack("[i, f]", e, round(s / (e - i) * 1e4) / 1e4));
    }
    r.total_seconds = tn_now() - t_start;
    json_t *sum_j = json_pack(
        "{s:s, s:I, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:I},"
        " s:{s:i, s:i, s:f}, s:{s:s, s:I, s:I, s:f}, s:s, s:o}",
        "source", "WordNet 3.0 glosses and examples (Debian wordnet-base)", "seed", (json_int_t)o.seed, "steps", step,
        "seconds_budget", o.steps > 0 ? 0.0 : o.seconds, "train_seconds", r.train_seconds, "total_seconds",
        r.total_seconds, "tokens_per_s", r.tokens_per_s, "first_loss", r.first_loss, "last_loss", r.last_loss,
        "val_loss_before", r.val_before, "val_loss_after", r.val_after, "model", "vocab_size", vocab, "hidden_size",
        o.dim, "num_hidden_layers", o.layers, "num_attention_heads", o.heads, "intermediate_size", o.hidden,
        "seq_len", T, "params", (json_int_t)r.n_params, "batch", "windows", B, "tokens", B * T, "peak_lr", o.lr,
        "corpus", "text", "one line per definition or example, <s> line </s>", "bytes", (json_int_t)len, "tokens",
        (json_int_t)ntok, "bytes_per_token", r.bytes_per_token, "reproducible",
        o.steps > 0 ? "yes for this seed, steps, options, machine and thread count"
                    : "no: --seconds trains as many steps as fit; use --steps N",
        "curve", curve);
    curve = NULL;
    char *sp = tn_path_join(out_dir, "pretrain_summary.json");
    int src = sum_j && sp ? tn_json_save_file(sum_j, sp) : tn_fail("out of memory");
    free(sp);
    json_decref(sum_j);
    if (src) goto done;
    if (!o.quiet)
        fprintf(stderr,
                "pretrain: %d steps in %.1fs (%.0f tokens/s): loss %.3f -> %.3f, held-out %.3f -> %.3f; %s\n", step,
                r.train_seconds, r.tokens_per_s, r.first_loss, r.last_loss, r.val_before, r.val_after, out_dir);
    if (res) *res = r;
    rc = 0;
done:
    if (o.threads > 0) omp_set_num_threads(saved_threads);
    json_decref(curve);
    if (have_opt) tn_adamw_free(&opt);
    if (have_model) tn_model_free(&m);
    tn_tok_free(tok);
    free(stream);
    free(ids);
    free(losses);
    free(text);
    return rc;
}

int tn_make_base_model(const char *out_dir, const tn_base_opts *o) { return tn_make_base_model_r(out_dir, o, NULL); }
