/* tokenizer.c - loading dispatch, tokenizer_config.json, accessors, free.
 *
 * Every format ends up as an HF tokenizer.json document: GPT-2 files and
 * llama2.c tokenizer.bin are turned into the equivalent JSON in memory
 * (gpt2_files.c, llama2c_tok.c) and go through the one loader in tok_json.c,
 * so there is a single code path to get right.
 */
#include "tok/tok_internal.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>

tn_tokenizer *tn_tok_alloc(const char *source) {
    tn_tokenizer *t = tn_calloc(1, sizeof *t);
    t->source = tn_strdup(source);
    t->model_unk = t->bos = t->eos = t->pad = t->unk = -1;
    t->add_bos_token = t->add_eos_token = -1;
    for (int i = 0; i < 256; i++) t->byte_ids[i] = -1;
    pthread_mutex_init(&t->cache.lock, NULL);
    return t;
}

size_t tn_tok_add_token(tn_tokenizer *tok, const char *s, size_t n, int32_t id, int special) {
    tok->added = tn_realloc(tok->added, (tok->nadded + 1) * sizeof *tok->added);
    tn_added *a = &tok->added[tok->nadded];
    memset(a, 0, sizeof *a);
    a->s = tn_strndup(s, n);
    a->n = n;
    a->id = id;
    a->special = (uint8_t)special;
    tn_vocab_set(&tok->vocab, s, n, id);
    return tok->nadded++;
}

void tn_tok_finish(tn_tokenizer *tok) {
    tok->special = tn_calloc((size_t)tok->vocab.nids + 1, 1);
    for (size_t i = 0; i < tok->nadded; i++) {
        tn_added *a = &tok->added[i];
        /* As the Rust crate: "normalized" tokens are looked for in the
         * normalized text, the others (and all special ones) in the raw text. */
        tn_trie_add(a->normalized && !a->special ? &tok->trie_norm : &tok->trie_raw, a->s, a->n, (int32_t)i);
        tok->special[a->id] |= TN_TOK_ADDED | (a->special ? TN_TOK_SPECIAL : 0);
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        tok->byte_ids[b] = tn_vocab_get(&tok->vocab, name, 6);
    }
    if (tok->unk < 0) tok->unk = tok->model_unk;
    if (tok->bos < 0 && tok->has_template && tok->npre > 0) tok->bos = tok->pre_ids[0];
    if (tok->has_pretok) /* only pre-tokenized words are short enough to cache */
        tok->cache.slots = tn_calloc(TN_CACHE_SLOTS, sizeof *tok->cache.slots);
}

/* "bos_token": "<s>" or {"content": "<s>", ...}; NULL when absent. */
static int config_token(const json_t *cfg, const char *key, const char *path, const char **out) {
    json_t *v = json_object_get(cfg, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v)) return tn_fail("%s: field %s: expected a string or {\"content\": ...}", path, key);
    *out = json_string_value(v);
    return 0;
}

int tn_tok_read_config(tn_tokenizer *tok, const char *path) {
    /* model_max_length is often 1e30 written as an integer, too big for
     * jansson's int64: read integers as reals (we need none of them). */
    json_error_t e;
    json_t *cfg = json_load_file(path, JSON_DECODE_INT_AS_REAL, &e);
    if (!cfg) {
        if (e.line < 0) return tn_fail("%s: %s", path, e.text);
        return tn_fail("%s:%d:%d: invalid JSON: %s", path, e.line, e.column, e.text);
    }
    const char *keys[4] = {"bos_token", "eos_token", "pad_token", "unk_token"};
    int32_t *dst[4] = {&tok->bos, &tok->eos, &tok->pad, &tok->unk};
    int rc = -1;
    if (!json_is_object(cfg)) {
        tn_fail("%s: expected a JSON object", path);
        goto done;
    }
    for (int i = 0; i < 4; i++) {
        const char *name;
        if (config_token(cfg, keys[i], path, &name)) goto done;
        if (!name) continue;
        int32_t id = tn_vocab_get(&tok->vocab, name, strlen(name));
        if (id < 0) {
            tn_fail("%s: field %s: token \"%s\" is not in the vocabulary", path, keys[i], name);
            goto done;
        }
        *dst[i] = id;
    }
    json_t *v = json_object_get(cfg, "add_bos_token");
    if (json_is_boolean(v)) tok->add_bos_token = json_is_true(v);
    v = json_object_get(cfg, "add_eos_token");
    if (json_is_boolean(v)) tok->add_eos_token = json_is_true(v);
    rc = 0;
done:
    json_decref(cfg);
    return rc;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static tn_tokenizer *load_json_with_config(const char *json_path, const char *dir) {
    char *cfg = tn_path_join(dir, "tokenizer_config.json");
    tn_tokenizer *t = tn_tok_load_hf_json(json_path, tn_file_exists(cfg) ? cfg : NULL);
    free(cfg);
    return t;
}

static tn_tokenizer *load_dir(const char *dir) {
    static const char *pairs[2][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    tn_tokenizer *t = NULL;
    char *p = tn_path_join(dir, "tokenizer.json");
    if (tn_file_exists(p)) {
        t = load_json_with_config(p, dir);
        free(p);
        return t;
    }
    free(p);
    for (int i = 0; i < 2; i++) {
        char *v = tn_path_join(dir, pairs[i][0]), *m = tn_path_join(dir, pairs[i][1]);
        int ok = tn_file_exists(v) && tn_file_exists(m);
        if (ok) t = tn_tok_load_gpt2_files(v, m);
        free(v);
        free(m);
        if (ok) return t;
    }
    p = tn_path_join(dir, "tokenizer.bin");
    if (tn_file_exists(p)) {
        t = tn_tok_load_llama2c(p);
        free(p);
        return t;
    }
    free(p);
    tn_fail("%s: no tokenizer found (looked for tokenizer.json, vocab.json + merges.txt, "
            "encoder.json + vocab.bpe, tokenizer.bin)", dir);
    return NULL;
}

tn_tokenizer *tn_tok_load(const char *path) {
    if (tn_dir_exists(path)) return load_dir(path);
    if (!tn_file_exists(path)) {
        tn_fail("%s: no such file or directory", path);
        return NULL;
    }
    if (ends_with(path, ".bin")) return tn_tok_load_llama2c(path);
    /* a JSON file: its directory may hold tokenizer_config.json */
    char *dir = tn_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        strcpy(dir, ".");
    tn_tokenizer *t = load_json_with_config(path, dir);
    free(dir);
    return t;
}

void tn_tok_free(tn_tokenizer *tok) {
    if (!tok) return;
    free(tok->source);
    tn_vocab_free(&tok->vocab);
    tn_merges_free(&tok->merges);
    free(tok->cont_prefix);
    free(tok->eow_suffix);
    for (size_t i = 0; i < tok->nnorms; i++) {
        free(tok->norms[i].s);
        tn_pattern_free(&tok->norms[i].pat);
    }
    free(tok->norms);
    for (size_t i = 0; i < tok->npts; i++) {
        tn_pattern_free(&tok->pts[i].pat);
        free(tok->pts[i].repl);
    }
    free(tok->pts);
    for (size_t i = 0; i < tok->ndecs; i++) {
        tn_pattern_free(&tok->decs[i].pat);
        free(tok->decs[i].s);
    }
    free(tok->decs);
    free(tok->pre_ids);
    free(tok->post_ids);
    for (size_t i = 0; i < tok->nadded; i++) free(tok->added[i].s);
    free(tok->added);
    tn_trie_free(&tok->trie_raw);
    tn_trie_free(&tok->trie_norm);
    free(tok->special);
    free(tok->cache.slots);
    tn_sbuf_free(&tok->cache.keys);
    tn_tok_ids_free(&tok->cache.ids);
    pthread_mutex_destroy(&tok->cache.lock);
    free(tok);
}

int32_t tn_tok_vocab_size(const tn_tokenizer *tok) { return tok->vocab.nids; }
int32_t tn_tok_bos_id(const tn_tokenizer *tok) { return tok->bos; }
int32_t tn_tok_eos_id(const tn_tokenizer *tok) { return tok->eos; }
int32_t tn_tok_pad_id(const tn_tokenizer *tok) { return tok->pad; }
int32_t tn_tok_unk_id(const tn_tokenizer *tok) { return tok->unk; }

int tn_tok_add_bos(const tn_tokenizer *tok) {
    if (tok->bos < 0) return 0;
    if (tok->has_template) return tok->npre > 0 && tok->pre_ids[0] == tok->bos;
    return tok->add_bos_token == 1;
}

int32_t tn_tok_token_to_id(const tn_tokenizer *tok, const char *token) {
    return tn_vocab_get(&tok->vocab, token, strlen(token));
}

const char *tn_tok_id_to_token(const tn_tokenizer *tok, int32_t id) {
    return tn_vocab_str(&tok->vocab, id, NULL);
}

int tn_tok_is_special(const tn_tokenizer *tok, int32_t id) {
    return id >= 0 && id < tok->vocab.nids && (tok->special[id] & TN_TOK_SPECIAL);
}
