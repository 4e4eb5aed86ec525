/* llama2c.h - import of llama2.c "legacy" checkpoints into HF Llama directories.
 *
 * Format (karpathy/llama2.c, export "legacy"/version 0): 7 int32 header
 * (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a
 * negative vocab_size means the classifier is not shared), then fp32 arrays:
 * token_embedding [V,D], rms_att [L,D], wq [L,D,D], wk [L,KVD,D], wv [L,KVD,D],
 * wo [L,D,D], rms_ffn [L,D], w1 [L,F,D], w2 [L,D,F], w3 [L,F,D], rms_final [D],
 * freq_cis_real and freq_cis_imag [seq_len, hd/2] (unused), then wcls [V,D]
 * when unshared.
 */
#ifndef TN_LLAMA2C_H
#define TN_LLAMA2C_H

#include "model/model.h"

/* Reads a checkpoint into a freshly created model (HF layout: q/k rows
 * permuted from llama2.c's interleaved RoPE pairs to HF's rotate-half halves).
 * The file's size must match its header exactly. */
int tn_llama2c_read(tn_model *m, const char *ckpt_path);

/* tn_llama2c_read, then save as an HF directory (config.json +
 * model.safetensors). tokenizer_bin, if given, is converted to tokenizer.json
 * + tokenizer_config.json and also copied as tokenizer.bin. */
int tn_llama2c_import(const char *ckpt_path, const char *tokenizer_bin, const char *out_dir);

#endif
