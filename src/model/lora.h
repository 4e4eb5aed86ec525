/* lora.h - LoRA adapters (PEFT-compatible) on a model's linear layers.
 *
 * For a target layer y = x W^T (+ b), the adapter adds
 *     y += scale * dropout(x) A^T B^T,   A [r, in], B [out, r], scale = alpha / r
 * (alpha / sqrt(r) with use_rslora), exactly PEFT's LoraLayer. A starts
 * kaiming-uniform (bound 1/sqrt(in), PEFT's default), B at zero, so a fresh
 * adapter leaves the model unchanged. With the base model frozen only A and B
 * train. Saved as PEFT does: adapter_config.json + adapter_model.safetensors
 * with tensors "base_model.model.<module>.lora_A.weight" / "...lora_B.weight".
 *
 * Memory: A and B of all slots live in one arena (w) with gradients in a
 * second (g), like the model's. Each slot keeps x A^T [N, r] from the forward
 * for its backward; the dropout mask is not stored but regenerated from a
 * counter-based hash of (seed, step, slot, index), so dropout costs no memory.
 */
#ifndef TN_LORA_H
#define TN_LORA_H

#include "model/model.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tn_lora_slot {
    tn_linear_adapter hook; /* first member: what the linear layer calls (nn.h) */
    int r;
    float scale, dropout;
    float *A, *B, *dA, *dB; /* views into the adapter's arenas */
    float *xa;              /* [N, r] saved by the forward */
    float *scratch;         /* [N, in] shared scratch (dropout) */
    struct tn_lora *owner;
    int index;              /* slot number: part of the dropout hash */
} tn_lora_slot;

typedef struct tn_lora {
    int r;
    float alpha, dropout, scale;
    int rslora;
    int nslots;
    tn_lora_slot *slots;
    char (*modules)[96];    /* module name per slot, e.g. "model.layers.0.self_attn.q_proj" */
    tn_linear **linears;    /* the layer each slot is attached to */
    tn_param *params;       /* 2 per slot: lora_A, lora_B (PEFT names) */
    int nparams;
    size_t numel;
    float *w, *g;
    float *xa_buf, *scratch_buf;
    float *dxa; /* [N, r] backward scratch, a slice of xa_buf: slots run one at a time */
    size_t prepared_N;
    int training;           /* dropout on (train) or off (eval) */
    uint64_t seed, step;
} tn_lora;

/* Target module short names for "all linear layers" (lm_head excluded, as in
 * PEFT's "all-linear"): llama q/k/v/o/gate/up/down_proj, gpt2 c_attn/c_proj/c_fc. */
int tn_lora_default_targets(const tn_model *m, const char ***names);

/* Attaches a fresh adapter to every linear layer whose module name ends in
 * one of `targets` (".q_proj" matches "q_proj"); fails if none matches. */
int tn_lora_attach(tn_model *m, tn_lora *lo, int r, float alpha, float dropout, const char *const *targets,
                   int ntargets, uint64_t seed);
/* Loads a PEFT adapter directory onto m (attached, eval mode). Shapes must
 * fit m whatever base model the adapter names; errors name file and tensor. */
int tn_lora_load(tn_model *m, tn_lora *lo, const char *dir);
int tn_lora_save(const tn_lora *lo, const tn_model *m, const char *dir, const char *base_model_name);
/* W += scale * B A for every slot (transposed for Conv1D), then detaches. */
void tn_lora_merge(tn_model *m, tn_lora *lo);
void tn_lora_detach(tn_model *m, tn_lora *lo);
void tn_lora_free(tn_lora *lo);
int tn_lora_enable_grads(tn_lora *lo);
/* The dropout probability of every slot (a loaded adapter trains with this
 * run's dropout, not the one it was saved with). */
void tn_lora_set_dropout(tn_lora *lo, float p);
void tn_lora_zero_grads(tn_lora *lo);

/* Internal (lora.c, lora_io.c): slots for lins[chosen[0..n)], arenas, attach. */
int tn_lora_build(tn_model *m, tn_lora *lo, int r, float alpha, int rslora, tn_linear **lins, char (*names)[96],
                  const int *chosen, int n);

/* Called by the model before a forward over N rows. */
int tn_lora_prepare(tn_lora *lo, int N);
/* The slot's forward and backward (tn_linear_forward/backward reach them
 * through the slot's hook). */
void tn_lora_forward(tn_lora_slot *s, const float *x, float *y, int in, int out, int N);
void tn_lora_backward(tn_lora_slot *s, const float *x, const float *dy, float *dx, int in, int out, int N);

#endif
