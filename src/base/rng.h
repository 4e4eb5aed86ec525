/* rng.h - the one source of reproducible randomness.
 *
 * xoshiro256** (Blackman & Vigna, 2018) seeded through splitmix64, both fully
 * specified by their reference C code and using only 64-bit integer
 * arithmetic, so a seed gives the same numbers on every machine and compiler.
 * Bounded draws use rejection (no modulo bias), so they are exact as well.
 *
 * tn_mix64 is splitmix64's output function on its own: a counter-based
 * generator (the value for index i is tn_mix64(seed ^ f(i)), no state), used
 * where random numbers must be recomputed in any order or in parallel (LoRA
 * dropout masks, sketch projections).
 */
#ifndef TN_BASE_RNG_H
#define TN_BASE_RNG_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64's increment (the golden ratio in 64 bits). */
#define TN_GOLDEN64 0x9e3779b97f4a7c15ULL

typedef struct {
    uint64_t s[4];
} tn_rng;

/* splitmix64's finaliser of z + TN_GOLDEN64: tn_mix64(x) is the output of a
 * splitmix64 generator whose state was x before the step. */
static inline uint64_t tn_mix64(uint64_t z) {
    z += TN_GOLDEN64;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The top 53 bits of x as a double in [0, 1). */
static inline double tn_unit_double(uint64_t x) { return (double)(x >> 11) * (1.0 / 9007199254740992.0); }

/* splitmix64 step: advances *state and returns the next output. */
static inline uint64_t tn_splitmix64(uint64_t *state) {
    uint64_t z = tn_mix64(*state);
    *state += TN_GOLDEN64;
    return z;
}

void tn_rng_seed(tn_rng *r, uint64_t seed);
uint64_t tn_rng_next(tn_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t tn_rng_below(tn_rng *r, uint64_t n);
/* Uniform in [0, 1) with 53 random bits. */
double tn_rng_uniform(tn_rng *r);
/* Fisher-Yates shuffle of idx[0..n): for i = n-1 down to 1, swap idx[i]
 * with idx[below(i+1)]. */
void tn_shuffle(size_t *idx, size_t n, uint64_t seed);

#endif
