/* synth_llm.c - new synthetic rows from an OpenAI-compatible endpoint (see synth_llm.h). */
#include "judge/synth_llm.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/rng.h"
#include "data/hygiene.h"
#include "net/http_client.h"
#include "net/sign.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char *SYSTEM_PROMPT =
    "You write rows for a dataset that evaluates fine-tuned language models. "
    "Reply with exactly one JSON object and nothing else.";

json_t *tn_synth_llm_parse_row(const char *content, const json_t *example) {
    const char *a = content ? strchr(content, '{') : NULL, *b = content ? strrchr(content, '}') : NULL;
    if (!a || !b || b < a) {
        tn_fail("the reply holds no JSON object");
        return NULL;
    }
    json_error_t e;
    json_t *row = json_loadb(a, (size_t)(b - a + 1), 0, &e);
    if (!row) {
        tn_fail("the reply's JSON object does not parse: %s", e.text);
        return NULL;
    }
    if (!json_is_object(row)) {
        json_decref(row);
        tn_fail("the reply's JSON is not an object");
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)example, k, v) {
        const json_t *got = json_object_get(row, k);
        if (!got || json_typeof(got) != json_typeof(v)) {
            tn_fail("the reply's row: key '%s': %s (the examples have %s)", k,
                    got ? tn_json_type_name(got) : "missing", tn_json_type_name(v));
            json_decref(row);
            return NULL;
        }
    }
    if (json_object_size(row) != json_object_size(example)) {
        json_object_foreach(row, k, v) if (!json_object_get(example, k)) break;
        tn_fail("the reply's row: key '%s' is not one of the examples' keys", k ? k : "?");
        json_decref(row);
        return NULL;
    }
    return row;
}

/* The rendered sample's hash (data/hygiene.h), or 0 when the row does not
 * format or has no response; `why` gets the reason then. */
static uint64_t row_hash(const json_t *row, const tn_data_spec *spec) {
    tn_sample s;
    tn_sample_init(&s);
    uint64_t h = 0;
    if (tn_format_row(spec, row, "the reply's row", &s) == 0) {
        if (tn_sample_has_response(&s)) h = tn_sample_hash(&s) | 1; /* never 0 */
        else tn_fail("the reply's row has an empty response");
    }
    tn_sample_free(&s);
    return h;
}

static int seen(const uint64_t *hs, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i++)
        if (hs[i] == h) return 1;
    return 0;
}

/* The request body: examples drawn with r, the prompt, the seed. */
static json_t *request_body(const json_t *src, const tn_synth_llm_opts *o, tn_rng *r, uint64_t seed) {
    size_t ns = json_array_size(src), k = (size_t)(o->examples > 0 ? o->examples : 3);
    if (k > ns) k = ns;
    size_t *idx = tn_malloc(sizeof *idx * ns);
    for (size_t i = 0; i < ns; i++) idx[i] = i;
    for (size_t i = 0; i < k; i++) { /* partial Fisher-Yates: k distinct examples */
        size_t j = i + (size_t)tn_rng_below(r, ns - i), t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    size_t cap = 256;
    char *text = tn_malloc(cap);
    size_t len = (size_t)snprintf(text, cap, "Here are %zu rows of a dataset, one JSON object per line:\n\n", k);
    for (size_t i = 0; i < k; i++) {
        char *line = json_dumps(json_array_get(src, idx[i]), JSON_COMPACT | JSON_ENSURE_ASCII | JSON_SORT_KEYS);
        size_t l = line ? strlen(line) : 0;
        if (len + l + 2 > cap) text = tn_realloc(text, cap = (len + l + 2) * 2);
        memcpy(text + len, line ? line : "", l);
        len += l;
        text[len++] = '\n';
        text[len] = 0;
        free(line);
    }
    char *keys = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(json_array_get(src, idx[0]), key, v) {
        char *next = keys ? tn_sprintf("%s, \"%s\"", keys, key) : tn_sprintf("\"%s\"", key);
        free(keys);
        keys = next;
    }
    char *ask = tn_sprintf("%s\nWrite one NEW row for this dataset: the same task, style, format and length as "
                           "the rows above, but on a different subject from every one of them (not a copy, "
                           "not a paraphrase). Its answer must be correct. Reply with the row only, as one JSON "
                           "object with exactly the keys %s.",
                           text, keys ? keys : "");
    json_t *body = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:f, s:i, s:I}", "model", o->model, "messages",
                             "role", "system", "content", SYSTEM_PROMPT, "role", "user", "content", ask,
                             "temperature", o->temperature < 0 ? 1.0 : o->temperature, "max_tokens",
                             o->max_tokens > 0 ? o->max_tokens : 512, "seed",
                             (json_int_t)(seed & ((UINT64_C(1) << 53) - 1)));
    free(ask);
    free(keys);
    free(text);
    free(idx);
    return body;
}

/* The assistant's content for body: from the cache, else from the
 * endpoint (then cached). Heap string, or NULL with the error set. */
static char *ask_endpoint(const json_t *body, const tn_synth_llm_opts *o, tn_synth_llm_stats *st) {
    char *wire = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char h[TN_SHA256_BYTES];
    char hex[2 * TN_SHA256_BYTES + 1];
    tn_sha256(wire, strlen(wire), h);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    char *path = o->cache_dir ? tn_sprintf("%s/%s.txt", o->cache_dir, hex) : NULL;
    char *content = NULL;
    size_t len;
    if (path && tn_file_exists(path) && (content = tn_read_file(path, &len))) {
        st->cache_hits++;
    } else {
        char *url = tn_sprintf("%s/chat/completions", o->base_url);
        tn_http_opts ho = {.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 120000, .bearer = o->api_key};
        tn_http_resp resp = {0};
        st->requests++;
        if (tn_http_request(&ho, "POST", url, "application/json", wire, strlen(wire), &resp) == 0) {
            const char *c = json_string_value(
                json_object_get(json_object_get(json_array_get(json_object_get(resp.json, "choices"), 0), "message"),
                                "content"));
            if (resp.status != 200) {
                /* OpenAI errors are {"error": {"message"}}; others {"error": "..."} */
                const char *m = json_string_value(json_object_get(json_object_get(resp.json, "error"), "message"));
                tn_fail("HTTP %ld: %.300s", resp.status, m ? m : tn_http_resp_error(&resp));
            } else if (!c) {
                tn_fail("HTTP 200 without choices[0].message.content");
            } else {
                content = tn_strdup(c);
                if (path && (tn_mkdir_p(o->cache_dir) || tn_write_file_atomic(path, c, strlen(c)))) {
                    free(content); /* a cache that cannot be written would make a restart pay again: say so */
                    content = NULL;
                    tn_err_prefix("the reply cache");
                }
            }
        }
        tn_http_resp_free(&resp);
        free(url);
    }
    free(path);
    free(wire);
    return content;
}

json_t *tn_synth_llm_rows(const json_t *src, const tn_data_spec *spec, size_t n, uint64_t seed,
                          const tn_synth_llm_opts *o, tn_synth_llm_stats *st) {
    tn_synth_llm_stats dummy = {0};
    if (!st) st = &dummy;
    size_t ns = json_array_size(src);
    if (!o->base_url || !*o->base_url || !o->model || !*o->model) {
        tn_fail("synthetic rows from an endpoint: the URL and the model must be set");
        return NULL;
    }
    if (!json_is_array(src) || ns == 0 || !json_is_object(json_array_get(src, 0))) {
        tn_fail("synthetic rows from %s: no example rows", o->base_url);
        return NULL;
    }
    /* what counts as not new: every source row, then every row made */
    uint64_t *known = tn_malloc(sizeof *known * (ns + n + 1));
    size_t nk = 0;
    for (size_t i = 0; i < ns; i++) {
        uint64_t h = row_hash(json_array_get(src, i), spec);
        if (h) known[nk++] = h;
    }
    int tries = o->max_tries > 0 ? o->max_tries : 4;
    json_t *out = json_array();
    tn_rng r;
    for (size_t i = 0; i < n && out; i++) {
        int made = 0;
        for (int t = 0; t < tries && !made; t++) {
            if (o->stop && atomic_load(o->stop)) {
                tn_fail("stopped (the replies so far are cached)");
                break;
            }
            uint64_t s = tn_mix64(seed ^ tn_mix64((uint64_t)i * 1000003u + (uint64_t)t + 1));
            tn_rng_seed(&r, s);
            json_t *body = request_body(src, o, &r, s);
            char *content = ask_endpoint(body, o, st);
            json_t *row = content ? tn_synth_llm_parse_row(content, json_array_get(src, 0)) : NULL;
            uint64_t h = row ? row_hash(row, spec) : 0;
            if (h && seen(known, nk, h)) {
                tn_fail("the reply's row repeats a source row or an earlier new row");
                h = 0;
            }
            if (h) {
                known[nk++] = h;
                json_array_append_new(out, row);
                made = 1;
            } else {
                st->rejected++;
                json_decref(row);
            }
            free(content);
            json_decref(body);
        }
        if (!made) {
            char what[64];
            if (o->stop && atomic_load(o->stop)) snprintf(what, sizeof what, "not made");
            else snprintf(what, sizeof what, "%d %s failed, last", tries, tries == 1 ? "try" : "tries");
            tn_err_prefix("synthetic rows from %s (model %s): row %zu of %zu: %s", o->base_url, o->model, i + 1, n,
                          what);
            json_decref(out);
            out = NULL;
        }
    }
    free(known);
    return out;
}
