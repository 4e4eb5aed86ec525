/* prepare.h - a task's dataset preparation: clean rows, secret split.
 *
 *   1. every row is formatted with the task's dataset type; a row that does
 *      not format (missing column, wrong type) fails the preparation with
 *      its file, row and field: the organiser registered a broken dataset;
 *   2. rows with an empty response are dropped (nothing to learn or score);
 *   3. duplicate rows (same rendered text) are dropped but the first, so a
 *      row cannot be in both the train and the test split;
 *   4. the rest is split with the task's secret seed: test = ceil(n * frac)
 *      rows, at most test_cap; what is left trains;
 *   5. fewer than min_rows usable rows fail the task.
 *   6. the train and test rows are put in the task's secret format
 *      (judge/transform.h: a marker and template around the prompt, the
 *      field order, the column order), drawn from the same secret seed; the
 *      synthetic source is written as given (the synthetic set made from it
 *      after training is put in that format then).
 * The splits are written as JSONL (rows, not rendered text), so a miner
 * trains on the dataset's columns with the mapping it is told.
 */
#ifndef TN_PREPARE_H
#define TN_PREPARE_H

#include "data/format.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double test_fraction; /* default 0.1 */
    size_t test_cap;      /* default 200 */
    size_t min_rows;      /* default 20 */
} tn_prepare_opts;

typedef struct {
    size_t rows, empty, duplicates, train, test, synth;
} tn_prepare_stats;

void tn_prepare_opts_default(tn_prepare_opts *o);
int tn_prepare_split(const char *dataset, const tn_data_spec *spec, uint64_t seed, const tn_prepare_opts *o,
                     const char *train_out, const char *test_out, const char *synth_src_out, tn_prepare_stats *st);

#endif
