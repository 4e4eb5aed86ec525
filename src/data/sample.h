/* sample.h - one training example as text segments with loss masks.
 *
 * A dataset row is turned into a list of segments, each a piece of text and
 * whether the loss is computed on it (trainable: the response) or not (the
 * prompt: system text, instruction, chat headers). Tokenization comes later;
 * this layer deals in text only.
 *
 * Special tokens that depend on the tokenizer are flags, not text, so that
 * the tokenizer layer inserts its real ids instead of hoping "</s>" happens
 * to tokenize to the EOS id:
 *   sample.add_bos  the tokenizer should put its BOS (if it has one) first
 *   seg.bos         a BOS goes right before this segment (Llama-2 chat
 *                   starts every user turn with one)
 *   seg.eos         an EOS goes right after this segment; it belongs to the
 *                   segment, so it is trained on when the segment is (the
 *                   model must learn to stop)
 * Template markers that are plain text in the template ("<|im_end|>",
 * "<|eot_id|>") stay text: the tokenizer maps them to their special ids as
 * it does any added token.
 *
 * Segments are meant to be tokenized one by one and the ids concatenated,
 * as axolotl does for prompt and response; that keeps the mask boundary on a
 * token boundary.
 */
#ifndef TN_DATA_SAMPLE_H
#define TN_DATA_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *text;
    size_t len;
    unsigned char trainable, bos, eos;
} tn_seg;

typedef struct {
    tn_seg *seg;
    size_t n, cap;
    int add_bos;
} tn_sample;

void tn_sample_init(tn_sample *s);
void tn_sample_free(tn_sample *s);
/* Appends text. Joins the previous segment when the mask is the same and no
 * BOS/EOS flag sits between them, so a sample has as few segments as its
 * masking needs. Empty text with no flag adds nothing. */
void tn_sample_add(tn_sample *s, const char *text, size_t len, int trainable);
/* Like tn_sample_add but the new segment starts with a BOS (never joined). */
void tn_sample_add_bos(tn_sample *s, const char *text, size_t len, int trainable);
/* Puts an EOS after everything added so far, on the last segment when it
 * is trainable, else on a new empty trainable segment: the EOS closes a
 * response and is always trained. */
void tn_sample_mark_eos(tn_sample *s);

/* The whole example as one string, with `bos`/`eos` written where the flags
 * are (pass "" to leave them out). For tests, previews and hashing. */
char *tn_sample_render(const tn_sample *s, const char *bos, const char *eos, size_t *len);
/* Total bytes of text (flags not counted), and of trainable text. */
size_t tn_sample_text_len(const tn_sample *s);
size_t tn_sample_trainable_len(const tn_sample *s);

#endif
