/* vocab.c - the token string <-> id map and the merge-rank map.
 *
 * Both are open-addressing hash tables with linear probing, sized to at most
 * half full, so a lookup is one hash and (nearly always) one probe. They are
 * built once at load time; 150k tokens and merges take a few milliseconds.
 */
#include "tok/tok_internal.h"
#include "base/mem.h"

#include <stdlib.h>

/* A small, fast 64-bit hash (wyhash-style multiply-mix over 8-byte words). */
static inline uint64_t mix(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t tn_hash_bytes(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = mix(h ^ w, 0xA0761D6478BD642Full);
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) w |= (uint64_t)s[i] << (8 * i);
    h = mix(h ^ w, 0xE7037ED1A0B428DBull);
    return mix(h, 0x8EBC6AF09C88C6E3ull);
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

void tn_vocab_init(tn_vocab *v, size_t expected) {
    memset(v, 0, sizeof *v);
    v->nslots = pow2_at_least(expected * 2 + 16);
    v->slots = tn_calloc(v->nslots, sizeof *v->slots);
}

/* A slot holds the entry index + 1 (0: empty) and, above it, the top 32 bits
 * of the key's hash: a probe that meets another key rarely touches its entry
 * and string, which are cache misses in a 150k-token table. */
static inline uint64_t slot_of(uint64_t h, uint32_t ei) {
    return (h & 0xFFFFFFFF00000000ull) | (ei + 1);
}

static void vocab_rehash(tn_vocab *v) {
    free(v->slots);
    v->nslots *= 2;
    v->slots = tn_calloc(v->nslots, sizeof *v->slots);
    for (size_t i = 0; i < v->ne; i++) {
        uint64_t h = tn_hash_bytes(v->strs.p + v->e[i].off, v->e[i].len);
        size_t j = h & (v->nslots - 1);
        while (v->slots[j]) j = (j + 1) & (v->nslots - 1);
        v->slots[j] = slot_of(h, (uint32_t)i);
    }
}

static size_t vocab_find_h(const tn_vocab *v, const char *s, size_t n, uint64_t h, int *found) {
    size_t j = h & (v->nslots - 1);
    for (;;) {
        uint64_t k = v->slots[j];
        if (!k) {
            *found = 0;
            return j;
        }
        const tn_ventry *e = &v->e[(uint32_t)k - 1];
        if ((k >> 32) == (h >> 32) && e->len == n && !memcmp(v->strs.p + e->off, s, n)) {
            *found = 1;
            return j;
        }
        j = (j + 1) & (v->nslots - 1);
    }
}

static size_t vocab_find(const tn_vocab *v, const char *s, size_t n, uint64_t *h, int *found) {
    *h = tn_hash_bytes(s, n);
    return vocab_find_h(v, s, n, *h, found);
}

int tn_vocab_set(tn_vocab *v, const char *s, size_t n, int32_t id) {
    int found;
    uint64_t h;
    size_t j = vocab_find(v, s, n, &h, &found);
    uint32_t ei;
    if (found) {
        ei = v->slots[j] - 1;
        v->e[ei].id = id;
    } else {
        if (v->ne == v->cape) {
            v->cape = v->cape ? v->cape * 2 : 1024;
            v->e = tn_realloc(v->e, v->cape * sizeof *v->e);
        }
        ei = (uint32_t)v->ne++;
        v->e[ei].off = (uint32_t)v->strs.n;
        v->e[ei].len = (uint32_t)n;
        v->e[ei].id = id;
        tn_sbuf_put(&v->strs, s, n);
        tn_sbuf_putc(&v->strs, 0); /* so tn_vocab_str can hand out C strings */
        v->slots[j] = slot_of(h, ei);
        if (v->ne * 2 > v->nslots) vocab_rehash(v);
    }
    if (id >= v->nids) {
        /* ids arrive in any order (JSON object order): grow geometrically */
        if ((size_t)id >= v->ids_cap) {
            size_t cap = v->ids_cap ? v->ids_cap : 1024;
            while (cap <= (size_t)id) cap *= 2;
            v->id_entry = tn_realloc(v->id_entry, cap * sizeof *v->id_entry);
            v->ids_cap = cap;
        }
        for (int32_t i = v->nids; i <= id; i++) v->id_entry[i] = -1;
        v->nids = id + 1;
    }
    v->id_entry[id] = (int32_t)ei;
    return found;
}

int32_t tn_vocab_get(const tn_vocab *v, const char *s, size_t n) {
    int found;
    uint64_t h;
    size_t j = vocab_find(v, s, n, &h, &found);
    return found ? v->e[(uint32_t)v->slots[j] - 1].id : -1;
}

uint64_t tn_vocab_hash_prefetch(const tn_vocab *v, const char *s, size_t n) {
    uint64_t h = tn_hash_bytes(s, n);
    __builtin_prefetch(&v->slots[h & (v->nslots - 1)]);
    return h;
}

int32_t tn_vocab_get_hashed(const tn_vocab *v, const char *s, size_t n, uint64_t h) {
    int found;
    size_t j = vocab_find_h(v, s, n, h, &found);
    return found ? v->e[(uint32_t)v->slots[j] - 1].id : -1;
}

const char *tn_vocab_str(const tn_vocab *v, int32_t id, size_t *len) {
    if (id < 0 || id >= v->nids || v->id_entry[id] < 0) return NULL;
    const tn_ventry *e = &v->e[v->id_entry[id]];
    if (len) *len = e->len;
    return v->strs.p + e->off;
}

void tn_vocab_free(tn_vocab *v) {
    tn_sbuf_free(&v->strs);
    free(v->e);
    free(v->slots);
    free(v->id_entry);
    memset(v, 0, sizeof *v);
}

/* ---- merges --------------------------------------------------------------- */

void tn_merges_init(tn_merges *m, size_t expected) {
    memset(m, 0, sizeof *m);
    m->cap = pow2_at_least(expected * 2 + 16);
    m->keys = tn_malloc(m->cap * sizeof *m->keys);
    memset(m->keys, 0xFF, m->cap * sizeof *m->keys);
    m->rank = tn_malloc(m->cap * sizeof *m->rank);
    m->out = tn_malloc(m->cap * sizeof *m->out);
}

static inline size_t merge_slot(uint64_t key, size_t cap) {
    return (size_t)(mix(key, 0x9E3779B97F4A7C15ull) & (cap - 1));
}

static void merges_rehash(tn_merges *m) {
    tn_merges n;
    tn_merges_init(&n, m->cap); /* doubles: init sizes for 2x expected */
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] != UINT64_MAX) {
            size_t j = merge_slot(m->keys[i], n.cap);
            while (n.keys[j] != UINT64_MAX) j = (j + 1) & (n.cap - 1);
            n.keys[j] = m->keys[i];
            n.rank[j] = m->rank[i];
            n.out[j] = m->out[i];
        }
    n.n = m->n;
    tn_merges_free(m);
    *m = n;
}

void tn_merges_add(tn_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t out) {
    uint64_t key = tn_merge_key(a, b);
    size_t j = merge_slot(key, m->cap);
    while (m->keys[j] != UINT64_MAX) {
        if (m->keys[j] == key) return;
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = key;
    m->rank[j] = rank;
    m->out[j] = out;
    if (++m->n * 2 > m->cap) merges_rehash(m);
}

int tn_merges_get(const tn_merges *m, int32_t a, int32_t b, uint32_t *rank, int32_t *out) {
    if (!m->cap) return 0;
    uint64_t key = tn_merge_key(a, b);
    size_t j = merge_slot(key, m->cap);
    for (;;) {
        uint64_t k = m->keys[j];
        if (k == key) {
            *rank = m->rank[j];
            *out = m->out[j];
            return 1;
        }
        if (k == UINT64_MAX) return 0;
        j = (j + 1) & (m->cap - 1);
    }
}

void tn_merges_free(tn_merges *m) {
    free(m->keys);
    free(m->rank);
    free(m->out);
    memset(m, 0, sizeof *m);
}
