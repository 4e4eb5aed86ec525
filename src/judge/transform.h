/* transform.h - a task's secret format: what miners receive and what the
 * validator scores, made so that a public copy of the dataset does not match.
 *
 * A miner who recognises the public dataset a task was drawn from could
 * train on its held-out rows; G.O.D's answer ("honeypot" transforms) is to
 * change the task's rows in a way that is secret to the validator, so rows
 * from the public copy are not the rows that are scored. Each task draws,
 * from its secret seed:
 *   - a marker: six letters and digits, e.g. "k7qzx2";
 *   - a prompt template that puts the marker around the prompt text, one of
 *     "{m} {x}", "{x} {m}", "[{m}] {x}", "{m}\n{x}", "{x}\n({m})",
 *     "<{m}> {x} </{m}>", "Query {m}: {x}", "{x}\n-- {m}";
 *   - a field order: whether a row's input comes before its instruction
 *     (the values of the two columns are swapped, so the dataset type's own
 *     format renders them the other way round);
 *   - a column order for the JSON objects written.
 * What the template wraps: INSTRUCT rows, the instruction column (after the
 * field order; the whole text in G.O.D's completion form, which has no
 * output column); TEXT rows, the text column; CHAT rows, the content of the
 * first user turn. The answer (output column, assistant turns) is never
 * changed, nor is the system column. The same transform applies to every
 * split of a task (train rows sent to miners, test, synthetic), so honest
 * training and scoring see one format; only rows from elsewhere do not.
 */
#ifndef TN_JUDGE_TRANSFORM_H
#define TN_JUDGE_TRANSFORM_H

#include "data/format.h"

#include <jansson.h>
#include <stdint.h>

typedef struct {
    char marker[8];   /* NUL-terminated */
    int template_id;  /* 0 .. TN_TRANSFORM_TEMPLATES-1 */
    int input_first;  /* field order: input before instruction */
    uint64_t col_key; /* column order: columns sorted by hash(col_key, name) */
} tn_transform;

#define TN_TRANSFORM_TEMPLATES 8

/* The transform of the task whose secret seed is task_seed. */
void tn_transform_draw(uint64_t task_seed, tn_transform *t);

/* The prompt text x wrapped by the template (heap string). */
char *tn_transform_wrap(const tn_transform *t, const char *x);

/* One row (a new object); NULL with an error starting with `where` when the
 * row does not have what the spec names (a missing or non-text prompt
 * column, no user turn). */
json_t *tn_transform_row(const tn_transform *t, const tn_data_spec *spec, const json_t *row, const char *where);

/* Every row of a JSON array (a new array); errors name `what` and the row. */
json_t *tn_transform_rows(const tn_transform *t, const tn_data_spec *spec, const json_t *rows, const char *what);

/* tn_transform_rows with the transform of the task whose secret seed is
 * task_seed: the one call the validator makes for each split. */
json_t *tn_transform_task_rows(uint64_t task_seed, const tn_data_spec *spec, const json_t *rows, const char *what);

#endif
