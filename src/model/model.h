/* model.h - a transformer's parameters, activations, forward and backward.
 *
 * Memory layout (llm.c style): all parameters live in one fp32 arena `w`, in
 * the order of the parameter table; the gradients, when training, in a second
 * arena `g` with the same layout, so "parameter i" is w + params[i].offset and
 * g + params[i].offset, and the optimizer and clipping run over flat arrays.
 * Parameters keep HF's names, shapes and layouts (GPT-2's Conv1D [in, out]
 * included), so loading and saving a checkpoint is a copy per tensor.
 * Activations for one (B, T) live in a third arena, sized on first use.
 */
#ifndef TN_MODEL_H
#define TN_MODEL_H

#include "model/config.h"
#include "nn/nn.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char name[96];   /* HF tensor name, e.g. "model.layers.3.mlp.up_proj.weight" */
    int ndim;        /* 1 or 2 */
    int64_t shape[2];
    size_t numel;
    size_t offset;   /* into the arenas, in floats */
} tn_param;

/* One transformer block's parameters, as views into the arenas. */
typedef struct {
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;      /* b: GPT-2 only */
    float *dln1_w, *dln1_b, *dln2_w, *dln2_b;
    /* llama family: q, k, v, o, gate, up, down.
     * GPT-2: qkv (c_attn), o (c_proj), up (c_fc), down (mlp.c_proj). */
    tn_linear q, k, v, qkv, o, gate, up, down;
} tn_block;

/* Activations saved by the forward for the backward, for B x T tokens. */
typedef struct {
    int B, T;
    float *buf;      /* one allocation; the pointers below are slices */
    size_t nfloats;  /* its capacity: kept across shapes, grown when needed */
    int keep;        /* sliced for training (every layer kept) or not (layers share) */
    /* per layer l (arrays of L pointers) */
    float **res;     /* [N, D] block input (residual stream) */
    float **ln1;     /* [N, D] */
    float **ln1_mean, **ln1_rstd; /* [N] (mean: GPT-2 only) */
    float **qkv;     /* [N, qd + 2*kvd]: q | k | v, after RoPE */
    float **att;     /* [N, qd] attention output before o */
    float **lse;     /* [B, H, T] */
    float **res2;    /* [N, D] after the attention residual */
    float **ln2;     /* [N, D] */
    float **ln2_mean, **ln2_rstd;
    float **gate;    /* [N, I] (GPT-2: c_fc output, pre-GELU) */
    float **up;      /* [N, I] (llama only) */
    float **mlp;     /* [N, I] activation output, input of down */
    /* final */
    float *res_final;          /* [N, D] */
    float *lnf, *lnf_mean, *lnf_rstd;
    float *logits;             /* [N, V] after a forward without labels (own allocation) */
    size_t logits_cap;         /* its capacity in floats */
    float *head_scratch;       /* classifier + loss chunk (tn_head_xent_scratch) */
    int head_chunk;            /* rows per classifier chunk */
    /* backward scratch */
    float *dres, *dln, *dqkv, *datt, *dbig1, *dbig2;
    tn_scratch scratch;        /* the kernels' per-thread room (attention tiles, norm partials) */
    /* inputs of the last forward (room for ids_cap tokens each) */
    int32_t *ids, *targets;    /* targets: labels shifted (tn_causal_targets) */
    size_t ids_cap;
    int train_ready;           /* a training forward awaits its backward */
    int64_t n_scored;
} tn_acts;

typedef struct tn_model {
    tn_config cfg;
    int nparams;
    tn_param *params;
    size_t numel;        /* total floats in the arena */
    float *w;            /* parameters */
    float *g;            /* gradients, NULL until tn_model_enable_grads */
    /* views */
    float *embed, *dembed;   /* [V, D] embed_tokens / wte */
    float *pos, *dpos;       /* [P, D] GPT-2 wpe */
    float *lnf_w, *lnf_b, *dlnf_w, *dlnf_b;
    tn_linear head;          /* lm_head (w == embed when tied) */
    tn_block *blocks;
    /* RoPE inverse frequencies [hd/2] and tables for the current T */
    float *inv_freq;
    float *rope_cos, *rope_sin;
    int rope_T;
    tn_acts acts;
    /* LoRA: with `frozen` the base weights get no gradients (g stays NULL)
     * and only the adapter trains. */
    int frozen;
    struct tn_lora *lora;
} tn_model;

/* Builds the parameter table for a config and allocates zeroed weights. */
int tn_model_create(tn_model *m, const tn_config *cfg);
/* Loads an HF model directory (config.json + model.safetensors or shards).
 * check_finite: refuse NaN/Inf weights. */
int tn_model_load(tn_model *m, const char *dir, int check_finite);
/* Writes config.json + model.safetensors (F32) into dir and copies the
 * tokenizer files of src_dir (if given) through untouched. */
int tn_model_save(const tn_model *m, const char *dir, const char *src_dir);
void tn_model_free(tn_model *m);

/* Initialises weights randomly (normal(0, 0.02), norms to 1, biases 0), as
 * HF's _init_weights does; deterministic for a seed. */
void tn_model_init_random(tn_model *m, uint64_t seed);

int tn_model_enable_grads(tn_model *m);
void tn_model_zero_grads(tn_model *m);
const tn_param *tn_model_find_param(const tn_model *m, const char *name);

/* Forward over ids [B, T]. Without labels the logits [B*T, V] are left in
 * m->acts.logits. With labels (HF convention, -100 = ignore) it computes the
 * mean loss into *loss (count in m->acts.n_scored) through the fused
 * classifier + cross-entropy, and no logits are kept.
 * Fails (-1) on ids or labels outside the vocabulary or T beyond the model. */
int tn_model_forward(tn_model *m, const int32_t *ids, const int32_t *labels, int B, int T, float *loss);
/* The training forward: tn_model_forward with labels, plus the classifier's
 * backward done chunk by chunk on the way (so [N, V] logits never exist): the
 * head's weight gradient is ACCUMULATED now. tn_model_backward continues. */
int tn_model_forward_train(tn_model *m, const int32_t *ids, const int32_t *labels, int B, int T, float *loss);
/* Backward of the last tn_model_forward_train; gradients are ACCUMULATED
 * into m->g (and the LoRA adapter's, when attached). */
int tn_model_backward(tn_model *m);

/* Every linear layer of the blocks (not the head) with its module name, the
 * weight's parameter name without ".weight" ("model.layers.0.mlp.up_proj").
 * Returns the count; *lins and *names are heap arrays the caller frees. */
int tn_model_linears(tn_model *m, tn_linear ***lins, char (**names)[96]);

/* per-family implementations (llama.c, gpt2.c) */
void tn_llama_forward(tn_model *m);
void tn_llama_backward(tn_model *m);
void tn_gpt2_forward(tn_model *m);
void tn_gpt2_backward(tn_model *m);

#endif
