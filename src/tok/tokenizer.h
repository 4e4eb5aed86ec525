/* tokenizer.h - HF-compatible BPE tokenizers (public API).
 *
 * Loads a Hugging Face tokenizer.json (byte-level BPE as GPT-2 / Llama 3 /
 * Qwen, SentencePiece-style BPE with byte fallback as Llama 2 / Mistral),
 * GPT-2 vocab.json + merges.txt, or a llama2.c tokenizer.bin, and encodes text
 * to ids with the same results as the JavaScript HF tokenizers
 * (transformers.js). See docs/tokenizer.md for what is supported, the
 * invalid-UTF-8 policy and how parity is tested.
 *
 * A loaded tokenizer is read-only, except for an internal word cache that is
 * taken with a try-lock: several threads may encode with one tokenizer.
 */
#ifndef TN_TOKENIZER_H
#define TN_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tn_tokenizer tn_tokenizer;

/* PATH is a tokenizer.json file, a directory holding tokenizer.json (and
 * optionally tokenizer_config.json), a directory holding vocab.json +
 * merges.txt or encoder.json + vocab.bpe (GPT-2), or a llama2.c tokenizer.bin.
 * Returns NULL and sets the error (naming the file, field or unsupported
 * feature) on failure. */
tn_tokenizer *tn_tok_load(const char *path);
void tn_tok_free(tn_tokenizer *tok);

/* A reusable id buffer: encode into it many times without reallocating. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} tn_tok_ids;
void tn_tok_ids_free(tn_tok_ids *b);

/* Encodes len bytes of text (need not be NUL-terminated; invalid UTF-8 is
 * replaced, see docs/tokenizer.md). add_special: apply the post-processor
 * (BOS/EOS as the tokenizer defines them); 0 gives the bare ids, as needed to
 * encode a prompt or a response segment on its own.
 * tn_tok_encode_into replaces out's contents (out->n = count). */
int tn_tok_encode_into(const tn_tokenizer *tok, const char *text, size_t len, int add_special,
                       tn_tok_ids *out);
/* Same, into a fresh heap array the caller frees (NULL when n == 0 is allowed). */
int tn_tok_encode(const tn_tokenizer *tok, const char *text, size_t len, int add_special,
                  int32_t **ids, size_t *n);

/* Decodes ids to a NUL-terminated, valid UTF-8 heap string (*len gets its
 * length when len is not NULL). skip_special drops special tokens. Returns
 * NULL and sets the error for an id out of range. No "clean up tokenization
 * spaces" step is applied: decode(encode(x)) == x for byte-level tokenizers. */
char *tn_tok_decode(const tn_tokenizer *tok, const int32_t *ids, size_t n, int skip_special,
                    size_t *len);

/* 1 + the largest id (model vocab and added tokens). */
int32_t tn_tok_vocab_size(const tn_tokenizer *tok);
/* Special ids from tokenizer_config.json (or the format's defaults); -1 if none. */
int32_t tn_tok_bos_id(const tn_tokenizer *tok);
int32_t tn_tok_eos_id(const tn_tokenizer *tok);
int32_t tn_tok_pad_id(const tn_tokenizer *tok);
int32_t tn_tok_unk_id(const tn_tokenizer *tok);
/* 1 when encode(add_special=1) starts with the BOS id. */
int tn_tok_add_bos(const tn_tokenizer *tok);
/* Token string <-> id (the vocabulary's spelling, e.g. "Ġthe", "▁the"). */
int32_t tn_tok_token_to_id(const tn_tokenizer *tok, const char *token);
const char *tn_tok_id_to_token(const tn_tokenizer *tok, int32_t id);
/* 1 when id is a special added token. */
int tn_tok_is_special(const tn_tokenizer *tok, int32_t id);

/* Converts a llama2.c tokenizer.bin into out_dir/tokenizer.json (SentencePiece
 * -style BPE: Prepend+Replace normalizer, byte fallback, merges ranked by the
 * merged token's score as HF's converter does) and out_dir/tokenizer_config.json
 * (bos "<s>", eos "</s>", add_bos_token true). Creates out_dir if needed. */
int tn_tok_llama2c_to_hf(const char *tokenizer_bin, const char *out_dir);

#endif
