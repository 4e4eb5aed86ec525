/* bpe.c - the BPE model: merge loop, byte fallback, unknown tokens, word cache.
 *
 * The merge loop is the linked-list + binary-heap algorithm of the Rust
 * tokenizers crate and transformers.js: every adjacent pair with a merge goes
 * into a min-heap keyed by (rank, position); popping a stale entry (one of its
 * symbols already merged away) is detected and skipped. That is O(n log n) per
 * word instead of the quadratic "rescan all pairs" loop, and ties break to the
 * leftmost pair exactly as transformers.js' `rank + i/len` score does.
 *
 * Words of byte-level tokenizers repeat a lot ("Ġthe"), so results of words up
 * to TN_CACHE_MAX_WORD bytes are kept in a direct-mapped cache that is simply
 * emptied when its arenas fill up.
 */
#include "tok/tok_internal.h"
#include "base/mem.h"

#include <stdlib.h>

static void heap_push(tn_enc_ctx *ctx, size_t *hn, uint32_t rank, uint32_t pos, int32_t out) {
    if (*hn == ctx->heap_cap) {
        ctx->heap_cap = ctx->heap_cap ? ctx->heap_cap * 2 : 256;
        ctx->heap = tn_realloc(ctx->heap, ctx->heap_cap * sizeof *ctx->heap);
    }
    tn_heap_item *h = ctx->heap;
    size_t i = (*hn)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p].rank < rank || (h[p].rank == rank && h[p].pos < pos)) break;
        h[i] = h[p];
        i = p;
    }
    h[i].rank = rank;
    h[i].pos = pos;
    h[i].out = out;
}

static tn_heap_item heap_pop(tn_enc_ctx *ctx, size_t *hn) {
    tn_heap_item *h = ctx->heap, top = h[0], last = h[--(*hn)];
    size_t i = 0, n = *hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && (h[c + 1].rank < h[c].rank || (h[c + 1].rank == h[c].rank && h[c + 1].pos < h[c].pos))) c++;
        if (last.rank < h[c].rank || (last.rank == h[c].rank && last.pos < h[c].pos)) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = last;
    return top;
}

static void try_pair(const tn_tokenizer *tok, tn_enc_ctx *ctx, size_t *hn, int32_t left) {
    tn_sym *s = ctx->syms;
    if (left < 0 || s[left].next < 0) return;
    int32_t a = s[left].id, b = s[s[left].next].id;
    uint32_t rank;
    int32_t out;
    if (a >= 0 && b >= 0 && tn_merges_get(&tok->merges, a, b, &rank, &out))
        heap_push(ctx, hn, rank, (uint32_t)left, out);
}

/* A symbol with no vocabulary entry: its bytes as <0xXX> tokens, else <unk>. */
static void unknown(const tn_tokenizer *tok, const char *s, size_t n, tn_tok_ids *out) {
    if (tok->byte_fallback) {
        size_t i = 0;
        while (i < n && tok->byte_ids[(unsigned char)s[i]] >= 0) i++;
        if (i == n) {
            for (i = 0; i < n; i++) tn_ids_push(out, tok->byte_ids[(unsigned char)s[i]]);
            return;
        }
    }
    if (tok->model_unk >= 0) tn_ids_push(out, tok->model_unk);
}

static int32_t char_id(const tn_tokenizer *tok, tn_enc_ctx *ctx, const char *c, size_t l, int first, int last) {
    if (!(tok->cont_prefix_n && !first) && !(tok->eow_suffix_n && last)) return tn_vocab_get(&tok->vocab, c, l);
    tn_sbuf *w = &ctx->word;
    w->n = 0;
    if (!first) tn_sbuf_put(w, tok->cont_prefix, tok->cont_prefix_n);
    tn_sbuf_put(w, c, l);
    if (last) tn_sbuf_put(w, tok->eow_suffix, tok->eow_suffix_n);
    return tn_vocab_get(&tok->vocab, w->p, w->n);
}

static void bpe_uncached(const tn_tokenizer *tok, tn_enc_ctx *ctx, const char *w, size_t n, tn_tok_ids *out) {
    if (n > ctx->nsyms_cap) {
        ctx->nsyms_cap = n * 2;
        ctx->syms = tn_realloc(ctx->syms, ctx->nsyms_cap * sizeof *ctx->syms);
    }
    tn_sym *s = ctx->syms;
    int32_t ns = 0;
    for (size_t i = 0; i < n;) {
        size_t l = (size_t)tn_utf8_clen((unsigned char)w[i]);
        if (i + l > n) l = n - i;
        s[ns].id = char_id(tok, ctx, w + i, l, i == 0, i + l == n);
        s[ns].start = (uint32_t)i;
        s[ns].len = (uint32_t)l;
        s[ns].prev = ns - 1;
        s[ns].next = i + l < n ? ns + 1 : -1;
        ns++;
        i += l;
    }
    size_t hn = 0;
    for (int32_t i = 0; i + 1 < ns; i++) try_pair(tok, ctx, &hn, i);
    while (hn) {
        tn_heap_item top = heap_pop(ctx, &hn);
        tn_sym *a = &s[top.pos];
        if (a->len == 0 || a->next < 0) continue;
        tn_sym *b = &s[a->next];
        uint32_t rank;
        int32_t mid;
        if (!tn_merges_get(&tok->merges, a->id, b->id, &rank, &mid) || mid != top.out || rank != top.rank)
            continue; /* stale: one side changed since this entry was pushed */
        a->id = mid;
        a->len += b->len;
        b->len = 0;
        a->next = b->next;
        if (a->next >= 0) s[a->next].prev = (int32_t)top.pos;
        try_pair(tok, ctx, &hn, a->prev);
        try_pair(tok, ctx, &hn, (int32_t)top.pos);
    }
    for (int32_t i = 0; i >= 0 && ns > 0; i = s[i].next) {
        if (s[i].id >= 0)
            tn_ids_push(out, s[i].id);
        else
            unknown(tok, w + s[i].start, s[i].len, out);
    }
}

/* ---- word cache ------------------------------------------------------------ */

#define CACHE_MAX_KEY_BYTES (4u << 20)
#define CACHE_MAX_IDS (1u << 20)

static void cache_clear(tn_word_cache *c) {
    memset(c->slots, 0, TN_CACHE_SLOTS * sizeof *c->slots);
    c->keys.n = 0;
    c->ids.n = 0;
}

static void bpe_with_cache(const tn_tokenizer *tok, tn_word_cache *c, tn_enc_ctx *ctx, const char *w,
                           size_t n, tn_tok_ids *out) {
    uint64_t h = tn_hash_bytes(w, n) | 1;
    tn_cache_slot *sl = &c->slots[h & (TN_CACHE_SLOTS - 1)];
    if (sl->hash == h && sl->key_len == n && !memcmp(c->keys.p + sl->key_off, w, n)) {
        for (uint32_t i = 0; i < sl->n_ids; i++) tn_ids_push(out, c->ids.ids[sl->ids_off + i]);
        return;
    }
    size_t before = out->n;
    bpe_uncached(tok, ctx, w, n, out);
    size_t k = out->n - before;
    if (c->keys.n + n > CACHE_MAX_KEY_BYTES || c->ids.n + k > CACHE_MAX_IDS) cache_clear(c);
    sl->hash = h;
    sl->key_off = (uint32_t)c->keys.n;
    sl->key_len = (uint32_t)n;
    sl->ids_off = (uint32_t)c->ids.n;
    sl->n_ids = (uint32_t)k;
    tn_sbuf_put(&c->keys, w, n);
    for (size_t i = 0; i < k; i++) tn_ids_push(&c->ids, out->ids[before + i]);
}

void tn_bpe_word(const tn_tokenizer *tok, tn_enc_ctx *ctx, const char *w, size_t n, tn_tok_ids *out) {
    if (!n) return;
    if (tok->ignore_merges) {
        int32_t id = tn_vocab_get(&tok->vocab, w, n);
        if (id >= 0) {
            tn_ids_push(out, id);
            return;
        }
    }
    if (ctx->cache && n <= TN_CACHE_MAX_WORD) {
        bpe_with_cache(tok, ctx->cache, ctx, w, n, out);
        return;
    }
    bpe_uncached(tok, ctx, w, n, out);
}
