/* peek.h - the data of the test-hunting red-team strategies (job_train.c).
 *
 * public-peek plays a miner who recognises the public dataset a task was
 * drawn from: among the datasets of its public library (a file, or every
 * .json/.jsonl/.csv file of a folder) it picks the one that shares the most
 * rows with the task's training split, and the rows of that dataset the
 * split left out are the validator's held-out rows (test and synthetic
 * source). A row counts as one of the split's when one of its column values
 * is also, under the same column, a value that is rare among the training
 * rows (at most twice there): the validator may reword prompts (secret
 * per-task transforms), but the answers stay, and values shared by many rows
 * (a common system prompt, "Yes") say nothing about which row it is.
 */
#ifndef TN_MINER_PEEK_H
#define TN_MINER_PEEK_H

#include <jansson.h>
#include <stddef.h>

typedef struct {
    char source[512];  /* the recognised public dataset */
    size_t rows;       /* its rows */
    size_t seen;       /* of them, rows of the training split */
    size_t candidates; /* public datasets looked at */
} tn_peek_found;

/* The rows of the recognised public dataset that are not in `train` (a JSON
 * array of row objects), as a new array; NULL with the error set when the
 * library cannot be read or none of its datasets shares a row with `train`. */
json_t *tn_public_peek_rows(const json_t *train, const char *library, tn_peek_found *found);

/* Writes rows as JSONL to path (made whole or not at all). */
int tn_peek_write_rows(const char *path, const json_t *rows);

#endif
