/* test_tok_parity.c - token ids identical to the JavaScript HF tokenizers.
 *
 * Reads $FIXTURES/tok/<name>.jsonl written by tools/js/tok_ref.mjs
 * (tools/fixtures.d/tok): a header {"tokenizer": PATH, "lossless": bool} and
 * then {"text", "ids"} per line. Every text must encode to exactly the
 * reference ids; for byte-level ("lossless") tokenizers decode(encode(x))
 * must give x back. The first mismatches are printed with both id lists.
 */
#include "harness.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "tok/tokenizer.h"

#include <jansson.h>
#include <time.h>
#include <utf8proc.h>

/* Sanitizer builds are ~20x slower: check every 16th text there. */
#if defined(__SANITIZE_ADDRESS__)
#define STRIDE 16
#else
#define STRIDE 1
#endif

static void print_ids(const char *label, const int32_t *v, size_t n, size_t from) {
    size_t a = from > 8 ? from - 8 : 0, b = from + 24 < n ? from + 24 : n;
    fprintf(stderr, "    %s (%zu ids, from #%zu):%s", label, n, a, a ? " ..." : "");
    for (size_t i = a; i < b; i++) fprintf(stderr, " %d", (int)v[i]);
    fprintf(stderr, "%s\n", b < n ? " ..." : "");
}

static void parity(const char *name) {
    const char *fx = getenv("FIXTURES") ? getenv("FIXTURES") : "build/fixtures";
    char path[400];
    snprintf(path, sizeof path, "%.300s/tok/%.40s.jsonl", fx, name);
    if (!tn_file_exists(path))
        SKIP("%s missing: run `make fixtures` (needs node + npm; tools/fixtures.d/tok)", path);
    size_t len;
    char *buf = tn_read_file(path, &len);
    CHECK(buf != NULL);
    if (!buf) return;
    char *line = buf, *end = buf + len;
    char *nl = memchr(line, '\n', (size_t)(end - line));
    json_t *meta = json_loadb(line, nl ? (size_t)(nl - line) : (size_t)(end - line), 0, NULL);
    const char *tpath = json_string_value(json_object_get(meta, "tokenizer"));
    int lossless = json_is_true(json_object_get(meta, "lossless"));
    /* a tokenizer with an NFC normalizer gives back NFC(x) */
    int nfc = json_is_string(json_object_get(meta, "normalize")) &&
              !strcmp(json_string_value(json_object_get(meta, "normalize")), "NFC");
    CHECK(tpath != NULL);
    tn_tokenizer *tok = tpath ? tn_tok_load(tpath) : NULL;
    CHECKF(tok != NULL, "loading %s: %s", tpath ? tpath : "?", tn_errmsg());
    if (!tok) {
        json_decref(meta);
        free(buf);
        return;
    }
    size_t ntexts = 0, nbytes = 0, bad = 0, bad_rt = 0;
    tn_tok_ids ids = {0};
    double secs = 0;
    size_t lineno = 0;
    for (line = nl ? nl + 1 : end; line < end; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl) nl = end;
        if (nl == line || lineno++ % STRIDE) continue;
        json_t *row = json_loadb(line, (size_t)(nl - line), 0, NULL);
        json_t *jt = json_object_get(row, "text"), *ji = json_object_get(row, "ids");
        if (!json_is_string(jt) || !json_is_array(ji)) {
            CHECKF(0, "%s: malformed fixture line", path);
            json_decref(row);
            break;
        }
        const char *text = json_string_value(jt);
        size_t tl = json_string_length(jt), nref = json_array_size(ji);
        double t0 = tn_now();
        int rc = tn_tok_encode_into(tok, text, tl, 1, &ids);
        secs += tn_now() - t0;
        ntexts++;
        nbytes += tl;
        size_t first = 0;
        while (first < ids.n && first < nref && ids.ids[first] == (int32_t)json_integer_value(json_array_get(ji, first)))
            first++;
        if (rc || first != ids.n || first != nref) {
            if (bad++ < 3) {
                int32_t *ref = malloc((nref ? nref : 1) * sizeof *ref);
                for (size_t i = 0; i < nref; i++) ref[i] = (int32_t)json_integer_value(json_array_get(ji, i));
                fprintf(stderr, "  %s: mismatch at id #%zu for text %.*s\n", name, first, (int)(nl - line), line);
                print_ids("tuna", ids.ids, ids.n, first);
                print_ids("js  ", ref, nref, first);
                free(ref);
            }
        } else if (lossless) {
            size_t dl;
            char *back = tn_tok_decode(tok, ids.ids, ids.n, 0, &dl);
            char *want = nfc ? (char *)utf8proc_NFC((const utf8proc_uint8_t *)text) : NULL;
            const char *w = want ? want : text;
            size_t wl = want ? strlen(want) : tl;
            if (!back || dl != wl || memcmp(back, w, wl)) {
                if (bad_rt++ < 3)
                    fprintf(stderr, "  %s: decode(encode(x)) != x for %.*s\n      got %s\n", name, (int)(nl - line), line,
                            back ? back : tn_errmsg());
            }
            free(back);
            free(want);
        }
        json_decref(row);
    }
    printf("  %s: %zu texts, %.2f MB, %zu id mismatches, %zu round-trip failures, %.1f MB/s\n", name, ntexts,
           (double)nbytes / 1e6, bad, bad_rt, secs > 0 ? (double)nbytes / 1e6 / secs : 0.0);
    CHECKF(bad == 0, "%s: %zu of %zu texts differ from the JavaScript reference", name, bad, ntexts);
    CHECKF(bad_rt == 0, "%s: %zu texts do not survive decode(encode(x))", name, bad_rt);
    CHECK(ntexts > 0);
    tn_tok_ids_free(&ids);
    tn_tok_free(tok);
    json_decref(meta);
    free(buf);
}

TEST(gpt2) { parity("gpt2"); }
TEST(gpt2_vs_gpt3_encoder) { parity("gpt2_gpt3enc"); }
TEST(gpt2_added_tokens_lstrip_rstrip) { parity("gpt2_added"); }
TEST(mistral) { parity("mistral"); }
TEST(llama3) { parity("llama3"); }
TEST(qwen3) { parity("qwen3"); }

int main(void) {
    RUN(gpt2);
    RUN(gpt2_vs_gpt3_encoder);
    RUN(gpt2_added_tokens_lstrip_rstrip);
    RUN(mistral);
    RUN(llama3);
    RUN(qwen3);
    return tn_test_summary("test_tok_parity");
}
