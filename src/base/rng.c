/* rng.c - xoshiro256** seeded by splitmix64, bounded draws, shuffles (see rng.h). */
#include "base/rng.h"

void tn_rng_seed(tn_rng *r, uint64_t seed) {
    uint64_t st = seed;
    for (int i = 0; i < 4; i++) r->s[i] = tn_splitmix64(&st);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tn_rng_next(tn_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double tn_rng_uniform(tn_rng *r) { return tn_unit_double(tn_rng_next(r)); }

uint64_t tn_rng_below(tn_rng *r, uint64_t n) {
    /* Reject the top partial block of 2^64 so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = tn_rng_next(r);
    while (x >= limit);
    return x % n;
}

void tn_shuffle(size_t *idx, size_t n, uint64_t seed) {
    tn_rng r;
    tn_rng_seed(&r, seed);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)tn_rng_below(&r, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
