/* tok_json.c - the tokenizer.json loader.
 *
 * Reads the model (BPE only), added tokens, normalizer, pre-tokenizer,
 * post-processor and decoder into the flat step arrays of tn_tokenizer.
 * Anything we do not implement fails here, at load time, with the field path
 * and the feature's name ("normalizer.normalizers[0]: type \"Precompiled\" is
 * not supported"), never silently at encode time.
 */
#include "tok/tok_internal.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>

/* GPT-2's pre-tokenization regex, as transformers.js' ByteLevel uses it. */
#define GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

typedef struct {
    tn_tokenizer *tok;
    const char *src; /* file name for messages */
} loader;

static const char *type_of(const json_t *j) {
    json_t *t = json_object_get(j, "type");
    return json_is_string(t) ? json_string_value(t) : NULL;
}

static int get_bool(const loader *L, const json_t *j, const char *key, const char *path, int def, int *out) {
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) return tn_fail("%s: %s.%s: expected a boolean, got %s", L->src, path, key, tn_json_type_name(v));
    *out = json_is_true(v);
    return 0;
}

static int get_str(const loader *L, const json_t *j, const char *key, const char *path, const char *def,
                   const char **out, size_t *n) {
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) {
        *out = def;
        if (n) *n = def ? strlen(def) : 0;
        return 0;
    }
    if (!json_is_string(v)) return tn_fail("%s: %s.%s: expected a string, got %s", L->src, path, key, tn_json_type_name(v));
    *out = json_string_value(v);
    if (n) *n = json_string_length(v);
    return 0;
}

static int unsupported(const loader *L, const char *path, const char *type, const char *supported) {
    if (!type) return tn_fail("%s: %s: missing \"type\"", L->src, path);
    return tn_fail("%s: %s: type \"%s\" is not supported (supported: %s)", L->src, path, type, supported);
}

static int parse_pattern(const loader *L, const json_t *j, const char *path, tn_pattern *p) {
    char what[512];
    snprintf(what, sizeof what, "%s: %s.pattern", L->src, path);
    return tn_pattern_parse(json_object_get(j, "pattern"), p, what);
}

/* ---- normalizer ------------------------------------------------------------ */

static int parse_norm(loader *L, const json_t *j, const char *path) {
    tn_tokenizer *tok = L->tok;
    if (!json_is_object(j)) return tn_fail("%s: %s: expected an object", L->src, path);
    const char *type = type_of(j);
    if (type && !strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(j, "normalizers");
        if (!json_is_array(arr)) return tn_fail("%s: %s.normalizers: expected an array", L->src, path);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.normalizers[%zu]", path, i);
            if (parse_norm(L, json_array_get(arr, i), sub)) return -1;
        }
        return 0;
    }
    tn_norm nm;
    memset(&nm, 0, sizeof nm);
    const char *s = NULL;
    size_t sn = 0;
    if (!type) return unsupported(L, path, NULL, "");
    if (!strcmp(type, "NFC")) nm.type = TN_NORM_NFC;
    else if (!strcmp(type, "NFD")) nm.type = TN_NORM_NFD;
    else if (!strcmp(type, "NFKC")) nm.type = TN_NORM_NFKC;
    else if (!strcmp(type, "NFKD")) nm.type = TN_NORM_NFKD;
    else if (!strcmp(type, "Lowercase")) nm.type = TN_NORM_LOWERCASE;
    else if (!strcmp(type, "Prepend")) {
        nm.type = TN_NORM_PREPEND;
        if (get_str(L, j, "prepend", path, "", &s, &sn)) return -1;
    } else if (!strcmp(type, "Replace")) {
        nm.type = TN_NORM_REPLACE;
        if (get_str(L, j, "content", path, "", &s, &sn) || parse_pattern(L, j, path, &nm.pat)) return -1;
    } else if (!strcmp(type, "Strip")) {
        nm.type = TN_NORM_STRIP;
        if (get_bool(L, j, "strip_left", path, 1, &nm.left) || get_bool(L, j, "strip_right", path, 1, &nm.right)) return -1;
    } else
        return unsupported(L, path, type, "Sequence, NFC, NFD, NFKC, NFKD, Prepend, Replace, Lowercase, Strip");
    if (s) {
        nm.s = tn_strndup(s, sn);
        nm.sn = sn;
    }
    tok->norms = tn_realloc(tok->norms, (tok->nnorms + 1) * sizeof *tok->norms);
    tok->norms[tok->nnorms++] = nm;
    return 0;
}

/* ---- pre-tokenizer ------------------------------------------------------------ */

static int parse_behavior(const loader *L, const json_t *j, const char *path, int *out) {
    const char *b;
    if (get_str(L, j, "behavior", path, "Isolated", &b, NULL)) return -1;
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(b, names[i])) {
            *out = i; /* same order as TN_SPLIT_* */
            return 0;
        }
    return tn_fail("%s: %s.behavior: \"%s\" is not a split behavior (Removed, Isolated, MergedWithPrevious, "
                   "MergedWithNext, Contiguous)", L->src, path, b);
}

static int parse_prepend_scheme(const loader *L, const json_t *j, const char *path, int *out) {
    const char *ps;
    int aps;
    if (get_str(L, j, "prepend_scheme", path, NULL, &ps, NULL) || get_bool(L, j, "add_prefix_space", path, 1, &aps)) return -1;
    if (!ps) *out = aps ? TN_PREPEND_ALWAYS : TN_PREPEND_NEVER;
    else if (!strcmp(ps, "always")) *out = TN_PREPEND_ALWAYS;
    else if (!strcmp(ps, "first")) *out = TN_PREPEND_FIRST;
    else if (!strcmp(ps, "never")) *out = TN_PREPEND_NEVER;
    else return tn_fail("%s: %s.prepend_scheme: \"%s\" is not always, first or never", L->src, path, ps);
    return 0;
}

static int parse_pretok(loader *L, const json_t *j, const char *path) {
    tn_tokenizer *tok = L->tok;
    if (!json_is_object(j)) return tn_fail("%s: %s: expected an object", L->src, path);
    const char *type = type_of(j);
    if (type && !strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(j, "pretokenizers");
        if (!json_is_array(arr)) return tn_fail("%s: %s.pretokenizers: expected an array", L->src, path);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", path, i);
            if (parse_pretok(L, json_array_get(arr, i), sub)) return -1;
        }
        return 0;
    }
    tn_pretok pt;
    memset(&pt, 0, sizeof pt);
    if (!type) return unsupported(L, path, NULL, "");
    if (!strcmp(type, "ByteLevel")) {
        pt.type = TN_PT_BYTELEVEL;
        if (get_bool(L, j, "add_prefix_space", path, 0, &pt.add_prefix_space) ||
            get_bool(L, j, "use_regex", path, 1, &pt.use_regex))
            return -1;
        if (pt.use_regex && !(pt.pat.re = tn_regex_new(GPT2_PATTERN, L->src))) return -1;
    } else if (!strcmp(type, "Split")) {
        pt.type = TN_PT_SPLIT;
        if (parse_behavior(L, j, path, &pt.behavior) || get_bool(L, j, "invert", path, 0, &pt.invert) ||
            parse_pattern(L, j, path, &pt.pat)) /* last: nothing to free when an earlier field fails */
            return -1;
    } else if (!strcmp(type, "Metaspace")) {
        pt.type = TN_PT_METASPACE;
        const char *r;
        size_t rn;
        if (get_str(L, j, "replacement", path, "\xE2\x96\x81", &r, &rn) || parse_prepend_scheme(L, j, path, &pt.prepend_scheme) ||
            get_bool(L, j, "split", path, 1, &pt.split))
            return -1;
        if (!rn) return tn_fail("%s: %s.replacement: must not be empty", L->src, path);
        pt.repl = tn_strndup(r, rn);
        pt.repln = rn;
    } else if (!strcmp(type, "Digits")) {
        pt.type = TN_PT_DIGITS;
        if (get_bool(L, j, "individual_digits", path, 0, &pt.individual_digits)) return -1;
    } else if (!strcmp(type, "Punctuation")) {
        pt.type = TN_PT_PUNCTUATION;
        if (parse_behavior(L, j, path, &pt.behavior)) return -1;
    } else if (!strcmp(type, "Whitespace")) {
        pt.type = TN_PT_WHITESPACE;
    } else if (!strcmp(type, "WhitespaceSplit")) {
        pt.type = TN_PT_WHITESPACE_SPLIT;
    } else
        return unsupported(L, path, type, "Sequence, ByteLevel, Split, Metaspace, Digits, Punctuation, Whitespace, WhitespaceSplit");
    tok->pts = tn_realloc(tok->pts, (tok->npts + 1) * sizeof *tok->pts);
    tok->pts[tok->npts++] = pt;
    tok->has_pretok = 1;
    return 0;
}

/* ---- post-processor --------------------------------------------------------- */

static void ids_append(int32_t **v, size_t *n, int32_t id) {
    *v = tn_realloc(*v, (*n + 1) * sizeof **v);
    (*v)[(*n)++] = id;
}

static int special_ids(loader *L, const json_t *specials, const char *name, const char *path, int32_t **v, size_t *n) {
    json_t *sp = json_object_get(specials, name);
    json_t *ids = sp ? json_object_get(sp, "ids") : NULL;
    if (json_is_array(ids)) {
        for (size_t i = 0; i < json_array_size(ids); i++) {
            json_t *x = json_array_get(ids, i);
            if (!json_is_integer(x)) return tn_fail("%s: %s.special_tokens.%s.ids: expected integers", L->src, path, name);
            /* encode emits these ids as they are: one the vocabulary lacks
             * would index past the model's embedding, or be a hole that
             * decode refuses (the vocabulary and added tokens are read by now) */
            json_int_t id = json_integer_value(x);
            if (id < 0 || id > INT32_MAX || !tn_vocab_str(&L->tok->vocab, (int32_t)id, NULL))
                return tn_fail("%s: %s.special_tokens.%s.ids: id %" JSON_INTEGER_FORMAT " is not in the vocabulary",
                               L->src, path, name, id);
            ids_append(v, n, (int32_t)id);
        }
        return 0;
    }
    int32_t id = tn_vocab_get(&L->tok->vocab, name, strlen(name));
    if (id < 0) return tn_fail("%s: %s: special token \"%s\" is not in the vocabulary", L->src, path, name);
    ids_append(v, n, id);
    return 0;
}

static int parse_post(loader *L, const json_t *j, const char *path) {
    tn_tokenizer *tok = L->tok;
    if (!json_is_object(j)) return tn_fail("%s: %s: expected an object", L->src, path);
    const char *type = type_of(j);
    if (!type) return unsupported(L, path, NULL, "");
    if (!strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(j, "processors");
        if (!json_is_array(arr)) return tn_fail("%s: %s.processors: expected an array", L->src, path);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.processors[%zu]", path, i);
            if (parse_post(L, json_array_get(arr, i), sub)) return -1;
        }
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) return 0; /* offsets only: no effect on ids */
    if (!strcmp(type, "TemplateProcessing")) {
        json_t *single = json_object_get(j, "single"), *specials = json_object_get(j, "special_tokens");
        if (!json_is_array(single)) return tn_fail("%s: %s.single: expected an array", L->src, path);
        free(tok->pre_ids);
        free(tok->post_ids);
        tok->pre_ids = tok->post_ids = NULL;
        tok->npre = tok->npost = 0;
        int seen_a = 0;
        for (size_t i = 0; i < json_array_size(single); i++) {
            json_t *it = json_array_get(single, i);
            json_t *st = json_object_get(it, "SpecialToken"), *sq = json_object_get(it, "Sequence");
            if (st) {
                const char *name;
                if (get_str(L, st, "id", path, NULL, &name, NULL)) return -1;
                if (!name) return tn_fail("%s: %s.single[%zu]: SpecialToken without id", L->src, path, i);
                if (seen_a ? special_ids(L, specials, name, path, &tok->post_ids, &tok->npost)
                           : special_ids(L, specials, name, path, &tok->pre_ids, &tok->npre))
                    return -1;
            } else if (sq) {
                seen_a = 1;
            } else
                return tn_fail("%s: %s.single[%zu]: expected SpecialToken or Sequence", L->src, path, i);
        }
        tok->has_template = 1;
        return 0;
    }
    if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        json_t *cls = json_object_get(j, "cls"), *sep = json_object_get(j, "sep");
        if (!json_is_array(cls) || !json_is_array(sep) || !json_is_integer(json_array_get(cls, 1)) ||
            !json_is_integer(json_array_get(sep, 1)))
            return tn_fail("%s: %s: cls and sep must be [token, id]", L->src, path);
        free(tok->pre_ids);
        free(tok->post_ids);
        tok->pre_ids = tok->post_ids = NULL;
        tok->npre = tok->npost = 0;
        ids_append(&tok->pre_ids, &tok->npre, (int32_t)json_integer_value(json_array_get(cls, 1)));
        ids_append(&tok->post_ids, &tok->npost, (int32_t)json_integer_value(json_array_get(sep, 1)));
        tok->has_template = 1;
        return 0;
    }
    return unsupported(L, path, type, "TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, Sequence");
}

/* ---- decoder ------------------------------------------------------------------ */

static int parse_dec(loader *L, const json_t *j, const char *path) {
    tn_tokenizer *tok = L->tok;
    if (!json_is_object(j)) return tn_fail("%s: %s: expected an object", L->src, path);
    const char *type = type_of(j);
    if (type && !strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(j, "decoders");
        if (!json_is_array(arr)) return tn_fail("%s: %s.decoders: expected an array", L->src, path);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.decoders[%zu]", path, i);
            if (parse_dec(L, json_array_get(arr, i), sub)) return -1;
        }
        return 0;
    }
    tn_dec d;
    memset(&d, 0, sizeof d);
    const char *s = NULL;
    size_t sn = 0;
    if (!type) return unsupported(L, path, NULL, "");
    if (!strcmp(type, "ByteLevel")) d.type = TN_DEC_BYTELEVEL;
    else if (!strcmp(type, "ByteFallback")) d.type = TN_DEC_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse")) d.type = TN_DEC_FUSE;
    else if (!strcmp(type, "Strip")) {
        d.type = TN_DEC_STRIP;
        int64_t a, b;
        if (get_str(L, j, "content", path, " ", &s, &sn) || tn_json_int_opt(j, "start", L->src, 0, &a) ||
            tn_json_int_opt(j, "stop", L->src, 0, &b))
            return -1;
        d.start = (int)a;
        d.stop = (int)b;
    } else if (!strcmp(type, "Replace")) {
        d.type = TN_DEC_REPLACE;
        if (get_str(L, j, "content", path, "", &s, &sn) || parse_pattern(L, j, path, &d.pat)) return -1;
    } else if (!strcmp(type, "Metaspace")) {
        d.type = TN_DEC_METASPACE;
        int scheme;
        if (get_str(L, j, "replacement", path, "\xE2\x96\x81", &s, &sn) || parse_prepend_scheme(L, j, path, &scheme)) return -1;
        d.strip_prefix = scheme != TN_PREPEND_NEVER;
    } else
        return unsupported(L, path, type, "Sequence, ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace");
    if (s) {
        d.s = tn_strndup(s, sn);
        d.sn = sn;
    }
    tok->decs = tn_realloc(tok->decs, (tok->ndecs + 1) * sizeof *tok->decs);
    tok->decs[tok->ndecs++] = d;
    return 0;
}

/* ---- model ------------------------------------------------------------------------ */

static int parse_merge(loader *L, const json_t *m, size_t i, const char **a, size_t *an, const char **b, size_t *bn) {
    if (json_is_string(m)) { /* "a b": the first space separates (tokens never hold one here) */
        const char *s = json_string_value(m);
        size_t n = json_string_length(m);
        const char *sp = memchr(s, ' ', n);
        if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s)))
            return tn_fail("%s: model.merges[%zu]: \"%s\" is not two tokens separated by one space", L->src, i, s);
        *a = s;
        *an = (size_t)(sp - s);
        *b = sp + 1;
        *bn = n - *an - 1;
        return 0;
    }
    if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
        json_is_string(json_array_get(m, 1))) {
        *a = json_string_value(json_array_get(m, 0));
        *an = json_string_length(json_array_get(m, 0));
        *b = json_string_value(json_array_get(m, 1));
        *bn = json_string_length(json_array_get(m, 1));
        return 0;
    }
    return tn_fail("%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", L->src, i);
}

typedef struct {
    loader *L;
    tn_sbuf cat;
} merge_ctx;

/* Adds merge i (a, b): both sides and their concatenation must be tokens. */
static int add_merge(void *ctx, size_t i, const char *a, size_t an, const char *b, size_t bn) {
    merge_ctx *mc = ctx;
    loader *L = mc->L;
    tn_tokenizer *tok = L->tok;
    /* the merged token drops the right side's continuing-subword prefix */
    size_t skip = tok->cont_prefix_n && bn >= tok->cont_prefix_n && !memcmp(b, tok->cont_prefix, tok->cont_prefix_n)
                      ? tok->cont_prefix_n : 0;
    mc->cat.n = 0;
    tn_sbuf_put(&mc->cat, a, an);
    tn_sbuf_put(&mc->cat, b + skip, bn - skip);
    const tn_vocab *v = &tok->vocab;
    uint64_t ha = tn_vocab_hash_prefetch(v, a, an), hb = tn_vocab_hash_prefetch(v, b, bn),
             ho = tn_vocab_hash_prefetch(v, mc->cat.p, mc->cat.n);
    int32_t ia = tn_vocab_get_hashed(v, a, an, ha), ib = tn_vocab_get_hashed(v, b, bn, hb),
            io = tn_vocab_get_hashed(v, mc->cat.p, mc->cat.n, ho);
    if (ia < 0 || ib < 0 || io < 0)
        return tn_fail("%s: model.merges[%zu]: token \"%.*s\" is not in the vocabulary", L->src, i,
                       ia < 0 ? (int)an : ib < 0 ? (int)bn : (int)mc->cat.n, ia < 0 ? a : ib < 0 ? b : mc->cat.p);
    tn_merges_add(&tok->merges, ia, ib, (uint32_t)i, io);
    return 0;
}

/* sp: model.vocab and model.merges were cut out of the text (they are {} and
 * [] in m) and are read from sp; NULL: they are in m. */
static int parse_model(loader *L, const json_t *m, const tn_model_spans *sp) {
    tn_tokenizer *tok = L->tok;
    if (!json_is_object(m)) return tn_fail("%s: model: expected an object", L->src);
    const char *type = type_of(m);
    json_t *vocab = json_object_get(m, "vocab"), *merges = json_object_get(m, "merges");
    if (!type && json_is_object(vocab) && json_is_array(merges)) type = "BPE";
    if (!type || strcmp(type, "BPE"))
        return tn_fail("%s: model: type \"%s\" is not supported (supported: BPE)", L->src,
                       type ? type : json_is_array(vocab) ? "Unigram" : "?");
    double dropout;
    if (tn_json_num_opt(m, "dropout", L->src, 0, &dropout)) return -1;
    if (dropout != 0) return tn_fail("%s: model.dropout: BPE dropout (random merges) is not supported", L->src);
    if (!json_is_object(vocab)) return tn_fail("%s: model.vocab: expected an object", L->src);
    if (!json_is_array(merges)) return tn_fail("%s: model.merges: expected an array", L->src);

    if (sp) {
        /* ~20 bytes of text per entry ("\"token\": 12345, "); an underestimate only costs a rehash */
        tn_vocab_init(&tok->vocab, (size_t)(sp->vocab_end - sp->vocab) / 20 + 1024);
        if (tn_tok_scan_vocab(sp, &tok->vocab)) return -1;
    } else {
        tn_vocab_init(&tok->vocab, json_object_size(vocab) + 1024);
        void *iter = json_object_iter((json_t *)vocab);
        while (iter) {
            const char *key = json_object_iter_key(iter);
            json_t *val = json_object_iter_value(iter);
            size_t kn = json_object_iter_key_len(iter);
            if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) > INT32_MAX - 1)
                return tn_fail("%s: model.vocab[\"%s\"]: expected a non-negative integer id", L->src, key);
            tn_vocab_set(&tok->vocab, key, kn, (int32_t)json_integer_value(val));
            iter = json_object_iter_next((json_t *)vocab, iter);
        }
    }

    const char *s;
    size_t sn;
    int fu, bf, im;
    if (get_bool(L, m, "fuse_unk", "model", 0, &fu) || get_bool(L, m, "byte_fallback", "model", 0, &bf) ||
        get_bool(L, m, "ignore_merges", "model", 0, &im))
        return -1;
    tok->fuse_unk = fu;
    tok->byte_fallback = bf;
    tok->ignore_merges = im;
    if (get_str(L, m, "unk_token", "model", NULL, &s, &sn)) return -1;
    if (s) tok->model_unk = tn_vocab_get(&tok->vocab, s, sn);
    if (get_str(L, m, "continuing_subword_prefix", "model", NULL, &s, &sn)) return -1;
    if (s && sn) tok->cont_prefix = tn_strndup(s, sn), tok->cont_prefix_n = sn;
    if (get_str(L, m, "end_of_word_suffix", "model", NULL, &s, &sn)) return -1;
    if (s && sn) tok->eow_suffix = tn_strndup(s, sn), tok->eow_suffix_n = sn;

    merge_ctx mc = {L, {0}};
    int rc = 0;
    if (sp) {
        tn_merges_init(&tok->merges, (size_t)(sp->merges_end - sp->merges) / 16 + 1024);
        rc = tn_tok_scan_merges(sp, add_merge, &mc);
    } else {
        size_t nm = json_array_size(merges);
        tn_merges_init(&tok->merges, nm);
        for (size_t i = 0; i < nm && !rc; i++) {
            const char *a = NULL, *b = NULL;
            size_t an = 0, bn = 0;
            rc = parse_merge(L, json_array_get(merges, i), i, &a, &an, &b, &bn) || add_merge(&mc, i, a, an, b, bn) ? -1 : 0;
        }
    }
    tn_sbuf_free(&mc.cat);
    return rc;
}

static int parse_added(loader *L, const json_t *arr) {
    if (!arr || json_is_null(arr)) return 0;
    if (!json_is_array(arr)) return tn_fail("%s: added_tokens: expected an array", L->src);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *t = json_array_get(arr, i);
        json_t *id = json_object_get(t, "id"), *c = json_object_get(t, "content");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX - 1 || !json_is_string(c))
            return tn_fail("%s: added_tokens[%zu]: needs an integer id and a string content", L->src, i);
        char path[64];
        snprintf(path, sizeof path, "added_tokens[%zu]", i);
        int sp, ls, rs, sw, nz;
        if (get_bool(L, t, "special", path, 0, &sp) || get_bool(L, t, "lstrip", path, 0, &ls) ||
            get_bool(L, t, "rstrip", path, 0, &rs) || get_bool(L, t, "single_word", path, 0, &sw) ||
            get_bool(L, t, "normalized", path, !sp, &nz))
            return -1;
        size_t k = tn_tok_add_token(L->tok, json_string_value(c), json_string_length(c), (int32_t)json_integer_value(id), sp);
        tn_added *a = &L->tok->added[k];
        a->lstrip = (uint8_t)ls;
        a->rstrip = (uint8_t)rs;
        a->single_word = (uint8_t)sw;
        a->normalized = (uint8_t)nz;
    }
    return 0;
}

static tn_tokenizer *from_json(const json_t *root, const char *source, const char *config_path,
                               const tn_model_spans *sp) {
    loader L = {tn_tok_alloc(source), source};
    json_t *v;
    if (!json_is_object(root)) {
        tn_fail("%s: expected a JSON object", source);
        goto fail;
    }
    if (parse_model(&L, json_object_get(root, "model"), sp)) goto fail;
    if (parse_added(&L, json_object_get(root, "added_tokens"))) goto fail;
    if ((v = json_object_get(root, "normalizer")) && !json_is_null(v) && parse_norm(&L, v, "normalizer")) goto fail;
    if ((v = json_object_get(root, "pre_tokenizer")) && !json_is_null(v) && parse_pretok(&L, v, "pre_tokenizer")) goto fail;
    if ((v = json_object_get(root, "post_processor")) && !json_is_null(v) && parse_post(&L, v, "post_processor")) goto fail;
    if ((v = json_object_get(root, "decoder")) && !json_is_null(v)) {
        if (parse_dec(&L, v, "decoder")) goto fail;
        L.tok->has_decoder = 1;
    }
    if (config_path && tn_tok_read_config(L.tok, config_path)) goto fail;
    tn_tok_finish(L.tok);
    return L.tok;
fail:
    tn_tok_free(L.tok);
    return NULL;
}

tn_tokenizer *tn_tok_from_json(const json_t *root, const char *source, const char *config_path) {
    return from_json(root, source, config_path, NULL);
}

/* The fast path: model.vocab and model.merges read from the text (tok_scan.c),
 * jansson for the rest, which is buf with those two values replaced by {} and
 * []. NULL whenever anything is unexpected, valid or not. */
static tn_tokenizer *load_scanned(const char *buf, size_t n, const char *json_path, const char *config_path) {
    tn_model_spans sp;
    if (tn_tok_scan_model(buf, n, &sp)) return NULL;
    const char *first = sp.vocab < sp.merges ? sp.vocab : sp.merges, *first_end = first == sp.vocab ? sp.vocab_end : sp.merges_end;
    const char *second = first == sp.vocab ? sp.merges : sp.vocab, *second_end = first == sp.vocab ? sp.merges_end : sp.vocab_end;
    tn_sbuf rest = {0};
    tn_sbuf_put(&rest, buf, (size_t)(first - buf));
    tn_sbuf_put(&rest, first == sp.vocab ? "{}" : "[]", 2);
    tn_sbuf_put(&rest, first_end, (size_t)(second - first_end));
    tn_sbuf_put(&rest, second == sp.vocab ? "{}" : "[]", 2);
    tn_sbuf_put(&rest, second_end, (size_t)(buf + n - second_end));
    json_error_t e;
    json_t *root = json_loadb(rest.p, rest.n, 0, &e);
    tn_sbuf_free(&rest);
    if (!root) return NULL;
    tn_tokenizer *t = from_json(root, json_path, config_path, &sp);
    json_decref(root);
    return t;
}

tn_tokenizer *tn_tok_load_hf_json(const char *json_path, const char *config_path) {
    size_t n;
    char *buf = tn_read_file(json_path, &n);
    if (!buf) return NULL;
    tn_tokenizer *t = load_scanned(buf, n, json_path, config_path);
    if (!t) { /* unexpected input: jansson judges all of it and names the error */
        json_t *root = tn_json_loadb(buf, n, json_path);
        if (root) t = tn_tok_from_json(root, json_path, config_path);
        json_decref(root);
    }
    free(buf);
    return t;
}
