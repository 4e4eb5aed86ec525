/* hygiene.h - row checks and reproducible shuffles/splits.
 *
 * Randomness is xoshiro256** (Blackman & Vigna, 2018) seeded through
 * splitmix64, both fully specified by their reference C code and using only
 * 64-bit integer arithmetic, so a seed gives the same shuffle and the same
 * split on every machine and compiler. Bounded draws use rejection (no
 * modulo bias), so they are exact as well.
 */
#ifndef TN_DATA_HYGIENE_H
#define TN_DATA_HYGIENE_H

#include "data/sample.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} tn_rng;

/* splitmix64 step: advances *state and returns the next output. */
uint64_t tn_splitmix64(uint64_t *state);
void tn_rng_seed(tn_rng *r, uint64_t seed);
uint64_t tn_rng_next(tn_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t tn_rng_below(tn_rng *r, uint64_t n);
/* Fisher-Yates shuffle of idx[0..n): for i = n-1 down to 1, swap idx[i]
 * with idx[below(i+1)]. */
void tn_shuffle(size_t *idx, size_t n, uint64_t seed);

/* Shuffles 0..n_rows-1 with `seed`, then takes the first n_test as the test
 * split and the rest, in shuffled order, as training rows:
 *   n_test = ceil(n_rows * test_fraction), at most `test_cap` (0 = no cap).
 * test_fraction in [0, 1). Fails when the split would leave no training
 * row. *train and *test are heap arrays (freed by the caller; NULL when
 * empty). */
int tn_data_split(size_t n_rows, double test_fraction, size_t test_cap, uint64_t seed, size_t **train,
                  size_t *n_train, size_t **test, size_t *n_test);

/* 1 when the sample has trainable text other than whitespace. Rows without
 * are dropped: they teach nothing but to emit EOS. */
int tn_sample_has_response(const tn_sample *s);
/* 64-bit FNV-1a over the rendered sample: each segment's text with its
 * mask and BOS/EOS flags, so the same text masked differently differs. */
uint64_t tn_sample_hash(const tn_sample *s);
/* Marks duplicates: keep[i] = 0 when hashes[i] equals an earlier hash, else
 * 1. Returns the number kept. First occurrence wins, so the result does not
 * depend on anything but the order of the rows. */
size_t tn_data_dedupe(const uint64_t *hashes, size_t n, unsigned char *keep);

#endif
