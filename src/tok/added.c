/* added.c - added tokens: found in the text before anything else runs.
 *
 * As transformers.js' DictionarySplitter: scan left to right, at each position
 * take the longest added token that starts there. A byte trie does the match.
 * lstrip / rstrip remove the white space (JavaScript's trim set) of the text
 * next to the token, as transformers.js does; single_word (which
 * transformers.js ignores) follows the Rust crate: the token only matches when
 * no letter or digit touches it on either side.
 */
#include "tok/tok_internal.h"
#include "base/mem.h"

#include <stdlib.h>
#include <utf8proc.h>

static int32_t node_new(tn_trie *t, unsigned char byte) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->nodes = tn_realloc(t->nodes, t->cap * sizeof *t->nodes);
    }
    tn_trie_node *nd = &t->nodes[t->n];
    nd->child = nd->sibling = nd->tok = -1;
    nd->byte = byte;
    return (int32_t)t->n++;
}

void tn_trie_add(tn_trie *t, const char *s, size_t n, int32_t tok) {
    if (!n) return;
    if (!t->n) node_new(t, 0); /* root */
    int32_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        int32_t c = t->nodes[cur].child;
        while (c >= 0 && t->nodes[c].byte != b) c = t->nodes[c].sibling;
        if (c < 0) {
            c = node_new(t, b);
            t->nodes[c].sibling = t->nodes[cur].child;
            t->nodes[cur].child = c;
        }
        cur = c;
    }
    t->nodes[cur].tok = tok;
}

int32_t tn_trie_match(const tn_trie *t, const char *s, size_t n, size_t i) {
    if (!t->n) return -1;
    int32_t cur = 0, best = -1;
    for (; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        int32_t c = t->nodes[cur].child;
        while (c >= 0 && t->nodes[c].byte != b) c = t->nodes[c].sibling;
        if (c < 0) break;
        cur = c;
        if (t->nodes[cur].tok >= 0) best = t->nodes[cur].tok;
    }
    return best;
}

void tn_trie_free(tn_trie *t) {
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

static int is_alnum_cp(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) || (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

/* Is the character ending at s[i) / starting at s[i] a letter or digit? */
static int alnum_before(const char *s, size_t i) {
    if (!i) return 0;
    size_t k = i - 1;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    uint32_t cp;
    return tn_utf8_decode((const unsigned char *)s + k, i - k, &cp) && is_alnum_cp(cp);
}
static int alnum_after(const char *s, size_t n, size_t i) {
    uint32_t cp;
    return i < n && tn_utf8_decode((const unsigned char *)s + i, n - i, &cp) && is_alnum_cp(cp);
}

static void push(tn_sections *o, size_t off, size_t len, int32_t added) {
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 32;
        o->v = tn_realloc(o->v, o->cap * sizeof *o->v);
    }
    o->v[o->n].off = (uint32_t)off;
    o->v[o->n].len = (uint32_t)len;
    o->v[o->n].added = added;
    o->n++;
}

static size_t space_len_fwd(const char *s, size_t n, size_t i) {
    size_t j = i;
    while (j < n) {
        uint32_t cp;
        int l = tn_utf8_decode((const unsigned char *)s + j, n - j, &cp);
        if (!l || !tn_is_js_space(cp)) break;
        j += (size_t)l;
    }
    return j - i;
}
static size_t space_len_back(const char *s, size_t lo, size_t i) {
    size_t j = i;
    while (j > lo) {
        size_t k = j - 1;
        while (k > lo && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
        uint32_t cp;
        int l = tn_utf8_decode((const unsigned char *)s + k, j - k, &cp);
        if (!l || !tn_is_js_space(cp)) break;
        j = k;
    }
    return i - j;
}

void tn_added_split(const tn_tokenizer *tok, const tn_trie *trie, const char *text, size_t n,
                    tn_sections *out) {
    size_t first = out->n, start = 0, i = 0;
    while (i < n) {
        int32_t k = trie->n ? tn_trie_match(trie, text, n, i) : -1;
        if (k >= 0) {
            const tn_added *a = &tok->added[k];
            if (a->single_word && (alnum_before(text, i) || alnum_after(text, n, i + a->n))) k = -1;
        }
        if (k < 0) {
            i++;
            continue;
        }
        if (i > start) push(out, start, i - start, -1);
        push(out, i, tok->added[k].n, k);
        i += tok->added[k].n;
        start = i;
    }
    if (start < n) push(out, start, n - start, -1);
    /* lstrip / rstrip trim the white space next to the token. As in
     * transformers.js, a neighbouring added token whose own white space is
     * trimmed that way stops being a token ("<a> x" with rstrip on <a> and
     * an added " x": the space goes to <a>, "x" is plain text). */
    for (size_t j = first; j < out->n; j++) {
        if (out->v[j].added < 0) continue;
        const tn_added *a = &tok->added[out->v[j].added];
        if (a->lstrip && j > first) {
            tn_section *p = &out->v[j - 1];
            size_t d = space_len_back(text, p->off, p->off + p->len);
            if (d) p->len -= (uint32_t)d, p->added = -1;
        }
        if (a->rstrip && j + 1 < out->n) {
            tn_section *q = &out->v[j + 1];
            size_t d = space_len_fwd(text, q->off + q->len, q->off);
            if (d) q->off += (uint32_t)d, q->len -= (uint32_t)d, q->added = -1;
        }
    }
}
