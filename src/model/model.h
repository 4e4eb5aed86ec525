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
    size_t offset;   /* into the arenas, in floats (not used when stored) */
    int storable;    /* the architecture can use it as stored (tn_walk_keep_stored) */
    const uint16_t *stored; /* kept as the checkpoint's bf16 (tn_model_load_frozen), or NULL */
} tn_param;

/* One transformer block's parameters, as views into the arenas. */
typedef struct {
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;      /* b: GPT-2 only */
    float *dln1_w, *dln1_b, *dln2_w, *dln2_b;
    /* llama family: q, k, v, o, gate, up, down.
     * GPT-2: qkv (c_attn), o (c_proj), up (c_fc), down (mlp.c_proj). */
    tn_linear q, k, v, qkv, o, gate, up, down;
} tn_block;

/* A KV cache for one sequence: per layer, K and V for every position seen so
 * far, each [max_T, kvd] row-major (kvd = KV*hd; one row per position, heads
 * side by side, K after RoPE), in one allocation [L][2][max_T][kvd]. */
typedef struct {
    int L, max_T, kvd; /* layers, positions held, KV*hd */
    float *buf;        /* [L][2][max_T][kvd]: K then V per layer */
} tn_kv_cache;

/* K and V rows of layer l (row t = position t). */
static inline float *tn_kv_k(const tn_kv_cache *c, int l) { return c->buf + (size_t)l * 2 * c->max_T * c->kvd; }
static inline float *tn_kv_v(const tn_kv_cache *c, int l) { return tn_kv_k(c, l) + (size_t)c->max_T * c->kvd; }

/* How the activation arena is sliced. Evaluation and generation: the layers
 * share one layer's buffers. Training: every layer's activations are kept for
 * the backward, or (gradient checkpointing) only each block's input, res[l],
 * while the rest is one shared layer that the backward refills by running
 * the block's forward again just before the block's backward. */
typedef enum { TN_ACTS_SHARED = 0, TN_ACTS_KEEP_ALL = 1, TN_ACTS_KEEP_INPUTS = 2 } tn_acts_keep;

/* Activations saved by the forward for the backward, for B x T tokens. */
typedef struct {
    int B, T;
    int kv_T;        /* > 0: sliced for a cached forward over a cache of kv_T positions */
    float *buf;      /* one allocation; the pointers below are slices */
    size_t nfloats;  /* its capacity: kept across shapes, grown when needed */
    int keep;        /* a tn_acts_keep: how it is sliced */
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
    size_t numel;        /* total floats in the arena (all parameters unless some are stored, below) */
    float *w;            /* parameters */
    float *g;            /* gradients, NULL until tn_model_enable_grads */
    /* views */
    float *embed, *dembed;   /* [V, D] embed_tokens / wte */
    const uint16_t *embed_h; /* or, with embed == NULL, as stored in bf16 */
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
    /* gradient checkpointing: training forwards keep only each block's
     * input (TN_ACTS_KEEP_INPUTS); the gradients are the same, bit for bit */
    int checkpoint_blocks;
    /* tn_model_load_frozen: the mapped checkpoint (a tn_st_set) that the
     * stored parameters point into, and how many parameters are stored */
    void *mapped;
    int nstored;
    size_t stored_numel; /* their elements: numel + stored_numel is the parameter count */
} tn_model;

/* Builds the parameter table for a config and allocates zeroed weights. */
int tn_model_create(tn_model *m, const tn_config *cfg);
/* Loads an HF model directory (config.json + model.safetensors or shards).
 * check_finite: refuse NaN/Inf weights. */
int tn_model_load(tn_model *m, const char *dir, int check_finite);
/* The same for a model that will not be trained (evaluation, generation, a
 * LoRA base): the matrices a checkpoint stores in bf16 stay bf16, pointing
 * into the memory-mapped file (m->w holds the rest: norms, biases, anything
 * stored in another dtype, in fp32). Products use the same fp32 values an
 * expansion would give (tn_sgemm_bf16w). Such a model's weights cannot get
 * gradients (tn_model_enable_grads fails) nor be merged into; saving
 * writes the stored ones back as BF16. */
int tn_model_load_frozen(tn_model *m, const char *dir, int check_finite);
/* A LoRA base: as tn_model_load_frozen, but the classifier's weight (lm_head,
 * or the tied embedding) is read into fp32. Training runs the classifier in
 * chunks of rows (the logits of a whole batch do not fit), and a stored head
 * would be expanded again for every chunk, forward and backward: Qwen2.5-0.5B
 * LoRA ran at half the speed. The price is the head in fp32 (0.54 GB there). */
int tn_model_load_lora_base(tn_model *m, const char *dir, int check_finite);
/* The parameter table of an HF model directory without its weights (m->w
 * is NULL, nothing is read): config.json, and the checkpoint's names and
 * shapes checked as tn_model_load checks them. *set is left open, mapped
 * (the caller closes it after tn_model_free); parameter i's tensor is
 * tn_model_param_tensor(m, set, i). For reading the weights tensor by
 * tensor (judge/wstream.h). */
struct tn_st_set;
struct tn_st_tensor;
int tn_model_plan_dir(tn_model *m, const char *dir, struct tn_st_set *set);
const struct tn_st_tensor *tn_model_param_tensor(const tn_model *m, const struct tn_st_set *set, int i);
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
/* The same, and pos_loss[B*T] gets each position's loss (the loss of
 * predicting its target; 0 where nothing is scored). */
int tn_model_forward_losses(tn_model *m, const int32_t *ids, const int32_t *labels, int B, int T, float *loss,
                            double *pos_loss);
/* The training forward: tn_model_forward with labels, plus the classifier's
 * backward done chunk by chunk on the way (so [N, V] logits never exist): the
 * head's weight gradient is ACCUMULATED now. tn_model_backward continues. */
int tn_model_forward_train(tn_model *m, const int32_t *ids, const int32_t *labels, int B, int T, float *loss);
/* Backward of the last tn_model_forward_train; gradients are ACCUMULATED
 * into m->g (and the LoRA adapter's, when attached). */
int tn_model_backward(tn_model *m);

/* The forward of n new tokens of one sequence at positions p0..p0+n-1 whose
 * earlier keys and values are in kv (rows 0..p0-1): the architecture's own
 * forward, with the new K/V rows written to kv and attention over rows
 * 0..p0+n-1. With logits != NULL the last token's next-token logits [V] are
 * written. It works in `a` (the caller's; tn_acts_free), not in m->acts, so a
 * model can be evaluated and sampled from in one process. Fails (-1) on ids
 * outside the vocabulary or positions beyond kv->max_T. */
int tn_model_forward_cached(tn_model *m, tn_acts *a, tn_kv_cache *kv, int p0, const int32_t *ids, int n,
                            float *logits);
void tn_acts_free(tn_acts *a);
/* Floats of the activation arena a forward of B x T tokens allocates (keep:
 * every layer kept, for training) with nt threads' kernel scratch: what the
 * memory model (model/memmodel.h) counts. */
size_t tn_acts_floats(const tn_config *c, int B, int T, int keep, int nt);

/* Every linear layer of the blocks (not the head) with its module name, the
 * weight's parameter name without ".weight" ("model.layers.0.mlp.up_proj").
 * Returns the count; *lins and *names are heap arrays the caller frees. */
int tn_model_linears(tn_model *m, tn_linear ***lins, char (**names)[96]);

/* ---- architectures --------------------------------------------------------
 * Everything an architecture is lives in one tn_arch_ops (src/model/<arch>.c),
 * found through cfg.arch in model.c's table; training, evaluation and
 * generation all run its forward, so there is no second copy of the network
 * to forget. */

/* The parameter walk (model.c): an architecture's layout() calls these in
 * checkpoint order. The first pass appends each tensor to the table and
 * returns NULL; the second hands out views of the arenas (and *grad, the
 * gradient's view or NULL). One walk for both keeps the table and the views
 * in agreement. */
typedef struct tn_walker tn_walker;
tn_model *tn_walker_model(tn_walker *wk);
float *tn_walk_param(tn_walker *wk, float **grad, int64_t d0, int64_t d1, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* A linear layer's weight (W [out, in], or [in, out] with in_out) "<name>.weight"
 * and, with bias, "<name>.bias". */
void tn_walk_linear(tn_walker *wk, tn_linear *L, int in, int out, int bias, int in_out, const char *name);
/* The parameter just walked may be kept as stored (bf16) by
 * tn_model_load_frozen: its forward reads the returned pointer when the
 * walk's view is NULL. Returns the stored data (pass 1) or NULL. */
const uint16_t *tn_walk_keep_stored(tn_walker *wk);

typedef struct {
    const char *name;
    /* the parameter table (and views), in checkpoint order */
    void (*layout)(tn_walker *wk);
    /* The forward over a->B x a->T tokens (a->ids) at positions p0.., from the
     * embedding to a->lnf. kv == NULL: training/evaluation, p0 = 0. Otherwise
     * B = 1 and attention goes through tn_model_attention (new K/V rows into
     * the cache). Attention must always go through tn_model_attention. */
    void (*forward)(tn_model *m, tn_acts *a, tn_kv_cache *kv, int p0);
    /* the backward of the last training forward (m->acts), from acts.dln.
     * With acts.keep == TN_ACTS_KEEP_INPUTS it runs block l's forward again
     * (from res[l], no cache) before block l's backward. */
    void (*backward)(tn_model *m);
    int rope;                         /* rotary positions: model.c keeps inv_freq and the tables */
    int learned_positions;            /* a position table: T is limited to max_positions */
    const char *prefix;               /* a prefix that checkpoints may leave off every name, or NULL */
    const char *const *ignored;       /* checkpoint buffers to skip, by name suffix; NULL-terminated */
    const char **lora_targets;        /* PEFT "all-linear" module names; NULL-terminated */
    int conv1d;                       /* linear weights are [in, out] (PEFT fan_in_fan_out) */
} tn_arch_ops;

extern const tn_arch_ops tn_arch_llama, tn_arch_gpt2;
const tn_arch_ops *tn_model_arch(const tn_model *m);
/* The architecture a config names (NULL when the table has none). */
const tn_arch_ops *tn_config_arch(const tn_config *c);

/* For the architectures' forward: where block l writes its output (the next
 * block's input, or after the last block res_final). */
static inline float *tn_block_out(const tn_model *m, tn_acts *a, int l) {
    return l + 1 < m->cfg.n_layers ? a->res[l + 1] : a->res_final;
}

/* For the architectures' forward: attention of layer l over q, k, v (shape s)
 * into a->att[l] (and a->lse[l]) -- the tiled kernel, or with a cache the new
 * K/V rows copied to kv rows p0.. and the cached kernel over rows 0..p0+T-1. */
void tn_model_attention(tn_acts *a, tn_kv_cache *kv, int p0, int l, const float *q, const float *k,
                        const float *v, const tn_attn_shape *s);

#endif
