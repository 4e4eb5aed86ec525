/* encode.c - text -> ids: the encoding pipeline.
 *
 *   repair invalid UTF-8 -> split on added tokens -> per text section:
 *   normalize -> (split on "normalized" added tokens) -> pre-tokenize -> BPE
 *   -> post-processor ids around the whole.
 *
 * Sections are normalized one by one, as in transformers.js and the Rust crate
 * ("a<s>b" normalizes "a" and "b" separately, so a Prepend normalizer applies
 * to each).
 */
#include "tok/tok_internal.h"
#include "base/err.h"
#include "base/mem.h"

#include <stdlib.h>

static void ctx_free(tn_enc_ctx *c) {
    tn_sbuf_free(&c->fixed);
    for (int i = 0; i < 2; i++) {
        tn_sbuf_free(&c->norm[i]);
        tn_sbuf_free(&c->pt_text[i]);
        free(c->pt_spans[i].v);
    }
    free(c->sections.v);
    free(c->subsections.v);
    free(c->syms);
    free(c->heap);
    free(c->segs);
    tn_sbuf_free(&c->word);
    if (c->md) pcre2_match_data_free(c->md);
}

/* Model ids for one normalized text section. */
static void encode_text(const tn_tokenizer *tok, tn_enc_ctx *ctx, const char *s, size_t n, int first,
                        tn_tok_ids *out) {
    size_t from = out->n;
    if (tok->has_pretok) {
        int k;
        tn_pretokenize(tok, ctx, s, n, first, &k);
        const tn_sbuf *t = &ctx->pt_text[k];
        const tn_spans *sp = &ctx->pt_spans[k];
        for (size_t i = 0; i < sp->n; i++) tn_bpe_word(tok, ctx, t->p + sp->v[i].off, sp->v[i].len, out);
    } else {
        tn_bpe_word(tok, ctx, s, n, out);
    }
    if (tok->fuse_unk && tok->model_unk >= 0) { /* runs of <unk> become one */
        size_t w = from;
        for (size_t r = from; r < out->n; r++) {
            if (out->ids[r] == tok->model_unk && w > from && out->ids[w - 1] == tok->model_unk) continue;
            out->ids[w++] = out->ids[r];
        }
        out->n = w;
    }
}

int tn_tok_encode_into(const tn_tokenizer *tok, const char *text, size_t len, int add_special,
                       tn_tok_ids *out) {
    out->n = 0;
    if (!text && len) return tn_fail("tokenizer: encode: NULL text");
    tn_enc_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.md = pcre2_match_data_create(32, NULL);
    tn_word_cache *cache = (tn_word_cache *)&tok->cache;
    /* The cache is the only mutable state; a thread that finds it busy
     * simply encodes without it. */
    if (cache->slots && pthread_mutex_trylock(&cache->lock) == 0) ctx.cache = cache;

    if (!tn_utf8_valid(text, len)) {
        tn_utf8_lossy(text, len, &ctx.fixed);
        text = ctx.fixed.p;
        len = ctx.fixed.n;
    }
    if (add_special) {
        if (tok->has_template)
            for (size_t i = 0; i < tok->npre; i++) tn_ids_push(out, tok->pre_ids[i]);
        else if (tok->add_bos_token == 1 && tok->bos >= 0)
            tn_ids_push(out, tok->bos);
    }
    tn_added_split(tok, &tok->trie_raw, text, len, &ctx.sections);
    for (size_t si = 0; si < ctx.sections.n; si++) {
        const tn_section *sec = &ctx.sections.v[si];
        if (sec->added >= 0) {
            tn_ids_push(out, tok->added[sec->added].id);
            continue;
        }
        if (!sec->len) continue;
        size_t nn;
        const char *ns = tn_normalize(tok, &ctx, text + sec->off, sec->len, &nn);
        if (!nn) continue;
        if (!tok->trie_norm.n) {
            encode_text(tok, &ctx, ns, nn, si == 0, out);
            continue;
        }
        ctx.subsections.n = 0;
        tn_added_split(tok, &tok->trie_norm, ns, nn, &ctx.subsections);
        for (size_t j = 0; j < ctx.subsections.n; j++) {
            const tn_section *sub = &ctx.subsections.v[j];
            if (sub->added >= 0)
                tn_ids_push(out, tok->added[sub->added].id);
            else if (sub->len)
                encode_text(tok, &ctx, ns + sub->off, sub->len, si == 0 && j == 0, out);
        }
    }
    if (add_special) {
        if (tok->has_template)
            for (size_t i = 0; i < tok->npost; i++) tn_ids_push(out, tok->post_ids[i]);
        else if (tok->add_eos_token == 1 && tok->eos >= 0)
            tn_ids_push(out, tok->eos);
    }
    if (ctx.cache) pthread_mutex_unlock(&cache->lock);
    ctx_free(&ctx);
    return 0;
}

int tn_tok_encode(const tn_tokenizer *tok, const char *text, size_t len, int add_special,
                  int32_t **ids, size_t *n) {
    tn_tok_ids b = {0};
    if (tn_tok_encode_into(tok, text, len, add_special, &b)) {
        tn_tok_ids_free(&b);
        return -1;
    }
    *ids = b.ids;
    *n = b.n;
    return 0;
}
