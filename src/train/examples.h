/* examples.h - a dataset as token ids and labels, ready for batches.
 *
 * Each sample's segments are tokenized one by one without special tokens and
 * concatenated (as axolotl does for prompt and response), so the boundary
 * between masked and trained text is a token boundary:
 *   BOS        first, when the sample asks for it and the tokenizer's own
 *              post-processor adds one (Llama, Mistral; not GPT-2, Qwen);
 *              a segment's bos flag inserts one wherever the tokenizer has it
 *   labels     the token id on trainable segments (all segments with
 *              train_on_inputs), -100 elsewhere; labels are aligned with ids
 *              (HF convention: position t is scored against labels[t+1])
 *   EOS        after a segment flagged eos, with that segment's label rule
 *   truncation a row longer than seq_len keeps its first seq_len tokens (the
 *              prompt and the start of the answer) and is counted
 *   dropping   a row with no scored label after truncation is dropped and
 *              counted (it would contribute nothing but a division by zero)
 * All examples live in two flat arrays with offsets (one allocation each).
 */
#ifndef TN_EXAMPLES_H
#define TN_EXAMPLES_H

#include "data/format.h"
#include "data/rows.h"
#include "tok/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t n;            /* examples kept */
    size_t *off;         /* n + 1 offsets into ids/labels */
    int32_t *ids, *labels;
    size_t cap_tok, cap_ex;
    /* what happened to the rows */
    size_t rows_read, dropped_no_target, truncated;
    size_t tokens, scored; /* total tokens, and scored targets */
} tn_examples;

void tn_examples_init(tn_examples *ex);
void tn_examples_free(tn_examples *ex);
/* Tokenizes one sample and appends it. Returns 1 when added, 0 when dropped
 * (no scored target), -1 on error. */
int tn_examples_add(tn_examples *ex, const tn_tokenizer *tok, const tn_sample *s, int seq_len,
                    int train_on_inputs);
/* Reads, formats and tokenizes every row of a dataset file. */
int tn_examples_load(tn_examples *ex, const char *path, tn_rows_fmt fmt, const tn_data_spec *spec,
                     const tn_tokenizer *tok, int seq_len, int train_on_inputs);
static inline size_t tn_example_len(const tn_examples *ex, size_t i) { return ex->off[i + 1] - ex->off[i]; }

/* A padded micro-batch [B, T]: the listed examples (count <= B; missing rows
 * are all padding), T = the longest of them rounded up to a multiple of 8 and
 * capped at max_T. Padding has id pad_id and label -100; pads come last, so
 * with causal attention no real token attends to one. */
typedef struct {
    int B, T;
    int32_t *ids, *labels;
    size_t cap;
} tn_batch;

/* The id padding takes: the tokenizer's pad token, else its EOS, else 0.
 * Training (trainer.c) and scoring (validator/evaljob.c, tuna eval) call
 * this one definition so that they build the same batches. */
int32_t tn_batch_pad_id(const tn_tokenizer *tok);
void tn_batch_make(tn_batch *b, const tn_examples *ex, const size_t *idx, int count, int B, int max_T,
                   int32_t pad_id);
void tn_batch_free(tn_batch *b);

#endif
