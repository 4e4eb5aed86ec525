/* hygiene.h - row checks and reproducible splits.
 *
 * Splits shuffle with base/rng.h (xoshiro256** seeded by splitmix64), so a
 * seed gives the same split on every machine and compiler.
 */
#ifndef TN_DATA_HYGIENE_H
#define TN_DATA_HYGIENE_H

#include "base/rng.h"
#include "data/sample.h"

#include <stddef.h>
#include <stdint.h>

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
