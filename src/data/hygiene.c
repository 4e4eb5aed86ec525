/* hygiene.c - split, empty-response and duplicate checks
 * (see hygiene.h). */
#include "data/hygiene.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int tn_data_split(size_t n_rows, double test_fraction, size_t test_cap, uint64_t seed, size_t **train,
                  size_t *n_train, size_t **test, size_t *n_test) {
    *train = *test = NULL;
    *n_train = *n_test = 0;
    if (!(test_fraction >= 0.0 && test_fraction < 1.0))
        return tn_fail("test fraction %g: expected a number in [0, 1)", test_fraction);
    size_t nt = (size_t)ceil((double)n_rows * test_fraction);
    if (test_cap && nt > test_cap) nt = test_cap;
    if (n_rows == 0 || nt >= n_rows)
        return tn_fail("cannot split %zu rows with test fraction %g: no training rows would be left", n_rows,
                       test_fraction);
    size_t *perm = tn_malloc(n_rows * sizeof *perm);
    for (size_t i = 0; i < n_rows; i++) perm[i] = i;
    tn_shuffle(perm, n_rows, seed);
    if (nt) {
        *test = tn_malloc(nt * sizeof **test);
        memcpy(*test, perm, nt * sizeof *perm);
    }
    *train = tn_malloc((n_rows - nt) * sizeof **train);
    memcpy(*train, perm + nt, (n_rows - nt) * sizeof *perm);
    *n_test = nt;
    *n_train = n_rows - nt;
    free(perm);
    return 0;
}

int tn_sample_has_response(const tn_sample *s) {
    for (size_t i = 0; i < s->n; i++) {
        if (!s->seg[i].trainable) continue;
        for (size_t k = 0; k < s->seg[i].len; k++)
            if (!strchr(" \t\r\n\v\f", s->seg[i].text[k])) return 1;
    }
    return 0;
}

uint64_t tn_sample_hash(const tn_sample *s) {
    uint64_t h = TN_FNV_OFFSET;
    unsigned char b = (unsigned char)(s->add_bos ? 1 : 0);
    h = tn_fnv1a(h, &b, 1);
    for (size_t i = 0; i < s->n; i++) {
        /* Flags and the length go in too, so segment boundaries count. */
        unsigned char f[9] = {(unsigned char)(s->seg[i].trainable | s->seg[i].bos << 1 | s->seg[i].eos << 2)};
        uint64_t len = s->seg[i].len;
        for (int k = 0; k < 8; k++) f[1 + k] = (unsigned char)(len >> (8 * k));
        h = tn_fnv1a(h, f, sizeof f);
        h = tn_fnv1a(h, s->seg[i].text, s->seg[i].len);
    }
    return h;
}

size_t tn_data_dedupe(const uint64_t *hashes, size_t n, unsigned char *keep) {
    /* Open addressing, table at most half full; a separate "used" byte
     * marks filled slots since any 64-bit value is a valid hash. */
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    uint64_t *tab = tn_calloc(cap, sizeof *tab);
    unsigned char *used = tn_calloc(cap, 1);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = (size_t)(hashes[i] ^ (hashes[i] >> 32)) & (cap - 1);
        while (used[j] && tab[j] != hashes[i]) j = (j + 1) & (cap - 1);
        if (used[j]) {
            keep[i] = 0;
        } else {
            used[j] = 1;
            tab[j] = hashes[i];
            keep[i] = 1;
            kept++;
        }
    }
    free(tab);
    free(used);
    return kept;
}
