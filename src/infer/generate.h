/* generate.h - autoregressive inference with a KV cache, and sampling.
 *
 * Inference runs a loaded tn_model's own forward (tn_model_forward_cached)
 * in activations of its own, never the training ones (m->acts), so a model
 * can be evaluated with tn_model_forward and sampled from in the same process.
 *
 * A LoRA adapter attached to the model (m->lora) is applied as in the
 * training forward (dropout only if the adapter is in training mode); merging
 * it first (tn_lora_merge) makes each token cheaper. Inference between a
 * training forward and its backward would overwrite the adapter's saved rows.
 *
 * KV cache (tn_kv_cache, model.h): per layer, K and V for every position seen
 * so far. A new token's query attends over rows 0..pos (or its last
 * `sliding_window` rows), with query head h reading KV head h / (H/KV)
 * exactly as the training kernel does. See docs/generate.md.
 *
 * Sampling order: temperature -> top-k -> top-p -> draw, with a documented,
 * seeded RNG (xoshiro256** seeded through splitmix64), so a seed reproduces
 * the same tokens on every machine for the same logits.
 */
#ifndef TN_GENERATE_H
#define TN_GENERATE_H

#include "model/model.h"

#include <stddef.h>
#include <stdint.h>

/* ---- KV cache and incremental forward ---------------------------------- */

/* The cache (tn_kv_cache) and the forward over it (tn_model_forward_cached)
 * are the model's (model.h): generation runs the architecture's own forward. */
typedef struct {
    tn_model *m;          /* borrowed: weights (and its RoPE tables) */
    tn_kv_cache cache;
    int pos;              /* positions filled (= tokens fed so far) */
    int max_T;            /* capacity: min(requested, model max positions) */
    tn_acts acts;         /* activations for one chunk of new tokens */
} tn_infer;

/* Prepares inference on m for sequences of up to max_T positions (max_T <= 0
 * or beyond the model's max positions: the model's max positions). The cache
 * is max_T * L * 2 * KV*hd floats; ask only for what a generation needs. */
int tn_infer_init(tn_infer *s, tn_model *m, int max_T);
void tn_infer_free(tn_infer *s);
/* Forgets the cached sequence (capacity and buffers are kept). */
void tn_infer_reset(tn_infer *s);

/* Feeds n tokens after the cached ones (n >= 1; positions pos..pos+n-1 must
 * fit in max_T). With logits_last != NULL, writes the next-token logits [V]
 * after the last of them. Works in chunks, so a long prompt needs no more
 * activation memory than a short one. Fails (-1) on an empty input, an id outside the
 * vocabulary or a sequence longer than the capacity; the cache is then left
 * as it was. */
int tn_infer_prefill(tn_infer *s, const int32_t *ids, int n, float *logits_last);
/* One token: tn_infer_prefill(s, &id, 1, logits). */
int tn_infer_step(tn_infer *s, int32_t id, float *logits);

/* ---- RNG ---------------------------------------------------------------- */

/* Sampling draws from the project's generator (src/data/hygiene.h):
 * xoshiro256** (Blackman & Vigna) with its 256-bit state filled from the
 * 64-bit seed by splitmix64, pure 64-bit integer arithmetic, so a seed gives
 * the same stream everywhere. A uniform double takes the top 53 bits of one
 * output: (next >> 11) * 2^-53, in [0, 1). */
#include "data/hygiene.h"

/* ---- sampling ----------------------------------------------------------- */

typedef struct {
    float temperature; /* <= 0: greedy (argmax) */
    int top_k;         /* <= 0 or >= V: off */
    float top_p;       /* >= 1: off; must be > 0 */
} tn_sampler_cfg;

typedef struct {
    tn_sampler_cfg cfg;
    tn_rng rng;
    int V;
    float *prob;   /* [V] scratch */
    int32_t *idx;  /* [V] candidate ids */
} tn_sampler;

/* Validates cfg (temperature finite and >= 0, top_p in (0, 1]). */
int tn_sampler_init(tn_sampler *sp, int V, const tn_sampler_cfg *cfg, uint64_t seed);
void tn_sampler_free(tn_sampler *sp);
/* The id of the largest logit (the lowest such id on ties). */
int32_t tn_argmax(const float *logits, int V);
/* Draws one id from logits [V] (not modified):
 *   1. temperature <= 0: argmax, no random number consumed;
 *   2. p_i = softmax(logits / temperature);
 *   3. top-k: keep the k most likely (ties: lower id first);
 *   4. top-p: of those, sorted by probability, keep the shortest prefix whose
 *      renormalised mass reaches top_p (at least one token), as HF's
 *      TopPLogitsWarper does after TopKLogitsWarper;
 *   5. draw u ~ U[0,1) and invert the kept tokens' renormalised CDF.
 * Exactly one uniform is consumed per sampled token. */
int32_t tn_sampler_draw(tn_sampler *sp, const float *logits);

/* ---- generation loop ---------------------------------------------------- */

/* Called with each new token; return nonzero to stop early (e.g. a write error). */
typedef int (*tn_gen_cb)(int32_t id, void *user);

/* Resets s, prefills the prompt, then samples up to max_new tokens into out
 * (which holds max_new ids), feeding each back. Stops after eos_id (included
 * in out; eos_id < 0: none), after max_new tokens, or when the next token's
 * position would reach s->max_T (the model's max positions), whichever comes
 * first. *n_out gets the count. Fails on an empty prompt or one that leaves no
 * room for a token. */
int tn_generate(tn_infer *s, tn_sampler *sp, const int32_t *prompt, int n_prompt, int max_new, int32_t eos_id,
                int32_t *out, int *n_out, tn_gen_cb cb, void *user);

#endif
