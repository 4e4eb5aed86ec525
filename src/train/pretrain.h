/* pretrain.h - tuna's built-in base model: a small Llama pretrained here.
 *
 * `tuna arena` without --model needs a base model that anyone can rebuild
 * without a download. tn_make_base_model reads WordNet's glosses and example
 * sentences (data/wordnet.h), learns a byte-level BPE tokenizer from them,
 * pretrains a small Llama from random weights for a wall-clock budget or an
 * exact number of steps, and writes an HF model directory that `tuna train`,
 * `tuna eval` and `tuna generate` load:
 *   config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
 *   pretrain_summary.json (the loss curve, speed, sizes, seed),
 *   LICENSE.wordnet (WordNet's license, which asks to travel with the data).
 * With `steps` the result is a function of (seed, steps, options) on one
 * machine and thread count; with `seconds` it is "about this long" (the
 * number of steps depends on the machine's speed). See docs/arena-data.md.
 */
#ifndef TN_TRAIN_PRETRAIN_H
#define TN_TRAIN_PRETRAIN_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double seconds;       /* training budget (wall clock) when steps == 0; default 90 */
    int steps;            /* > 0: exactly this many optimizer steps (reproducible) */
    uint64_t seed;        /* weights, data order and corpus shuffle; default 1234 */
    const char *wordnet_dir; /* NULL: tn_wordnet_dir() */
    /* architecture and batch; 0 takes the default in brackets */
    int vocab_size;       /* target tokenizer size, specials included [1024] */
    int dim;              /* hidden size [96] */
    int layers;           /* [3] */
    int heads;            /* [4] */
    int hidden;           /* MLP intermediate size [256] */
    int seq_len;          /* training window and max_position_embeddings [128] */
    int batch;            /* windows per step [8] */
    float lr;             /* peak learning rate [2e-3]; 10 warmup steps, then cosine to 10% */
    size_t corpus_bytes;  /* corpus text cap [8 MB] */
    int threads;          /* OpenMP threads while pretraining [1]; 0: leave the caller's setting.
                           * One, because on a machine shared with other work two threads
                           * measured 5x slower (each parallel region waits for the thread
                           * the scheduler put aside); on an idle machine 2 is faster. */
    int quiet;            /* no progress lines on stderr */
} tn_base_opts;

/* What a run measured (also in pretrain_summary.json). */
typedef struct {
    int steps;
    double train_seconds;    /* the training loop only */
    double total_seconds;    /* corpus, tokenizer, training, saving */
    double tokens_per_s;
    float first_loss;        /* training loss of step 1 */
    float last_loss;         /* mean training loss of the last 10% of steps (at least 1) */
    float val_before, val_after; /* loss on held-out windows before and after */
    int vocab_size;
    size_t n_params;
    double bytes_per_token;  /* corpus bytes / corpus tokens */
} tn_base_result;

/* Fills o with the defaults (all fields as documented above). */
void tn_base_opts_init(tn_base_opts *o);

/* Builds the base model into out_dir (created; existing model files in it
 * are replaced). Fails with a message naming what went wrong (WordNet
 * missing: "WordNet not found at ...: run scripts/setup"). res may be NULL. */
int tn_make_base_model_r(const char *out_dir, const tn_base_opts *o, tn_base_result *res);
int tn_make_base_model(const char *out_dir, const tn_base_opts *o);

#endif
