/* bpe_learn.h - a byte-level BPE learner (the built-in base model's tokenizer). */
#ifndef TN_BPE_LEARN_H
#define TN_BPE_LEARN_H

#include <stddef.h>

/* Learns a byte-level BPE tokenizer from text (GPT-2 pre-split rules, one
 * line at a time) and writes dir/tokenizer.json and dir/tokenizer_config.json:
 * ids 0..2 are <s>, </s>, <pad>; 3..258 the 256 byte symbols; then one token
 * per merge, until vocab_size tokens or no pair occurs twice. BOS <s> is
 * added by a TemplateProcessing post-processor and add_bos_token. Returns the
 * vocabulary size written, or -1. */
int tn_bpe_train_write(const char *text, size_t len, int vocab_size, int model_max_length, const char *dir);

#endif
