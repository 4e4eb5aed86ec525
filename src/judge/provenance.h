/* provenance.h - is a submission a fine-tune of the requested base? (docs/anticheat.md)
 *
 * Rules, in the order tn_check applies them:
 *   1. architecture: the config fields that define the parameter shapes (and,
 *      with rules.strict_config, those that change the function: norm eps,
 *      RoPE, sliding window) equal the base's         -> "not-a-fine-tune"
 *   2. untouched: every tensor within untouched_rel_eps of the base (bit-identical
 *      included)                                       -> "untouched-base"
 *   3. provenance: per tensor, cos(W_sub, W_base) >= min_cosine and
 *      ||W_sub - W_base|| / ||W_base|| <= max_rel_distance; another network of
 *      the same shape (pretrained or random) has cosine ~0 -> "not-a-fine-tune"
 *   4. duplicates, against earlier submissions: equal SHA-256 of the fp32
 *      weights or of the weights rounded to bf16 or f16 (a re-save), or delta
 *      sketches that say "the same delta, rescaled or plus isotropic noise"
 *      (tn_dup_pair_is_copy)                          -> "duplicate"
 *   otherwise                                         -> "fine-tune"
 * A submission directory holds full weights (config.json + safetensors) or a
 * PEFT adapter (adapter_config.json + adapter_model.safetensors); an adapter
 * is merged into the REQUESTED base, whatever base_model_name_or_path it names.
 *
 * Delta sketch: judge/deltasketch.h (O(N), keeps each matrix's range).
 */
#ifndef TN_ANTICHEAT_H
#define TN_ANTICHEAT_H

#include "judge/deltasketch.h"
#include "model/model.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double min_cosine;        /* per-tensor cosine to the base at least this (default 0.5) */
    double max_rel_distance;  /* per-tensor ||d|| / ||W_base|| at most this (default 1.0) */
    double untouched_rel_eps; /* every tensor's rel distance <= this: untouched (default 1e-7) */
    /* near duplicates (judge/duplicates.h tn_dup_pair_is_copy, calibrated in docs/anticheat.md) */
    double dup_max_residual;  /* the delta is c x an earlier one up to this relative residual */
    double dup_max_structure; /* or the residual is isotropic noise: structure / noise_structure <= this */
    double dup_min_significance; /* ... and the deltas are aligned by at least this many sigmas */
    int sketch_k;             /* sketch floats per matrix (p x 8), a multiple of 64 (default 256) */
    uint64_t sketch_seed;     /* same for every submission compared (default 0x74756e61) */
    int strict_config;        /* also compare eps / RoPE / sliding window (default 1) */
} tn_check_rules;

void tn_check_rules_default(tn_check_rules *r);
int tn_check_rules_valid(const tn_check_rules *r);

typedef enum {
    TN_VERDICT_FINE_TUNE = 0,
    TN_VERDICT_NOT_A_FINE_TUNE = 1,
    TN_VERDICT_UNTOUCHED_BASE = 2,
    TN_VERDICT_DUPLICATE = 3,
} tn_verdict;

const char *tn_verdict_name(tn_verdict v); /* "fine-tune", "not-a-fine-tune", ... */

/* What a validator keeps per submission to find duplicates later. */
enum { TN_FP_BF16 = 1, TN_FP_F16 = 2 };

typedef struct {
    unsigned char sha256[32]; /* of the fp32 weights as loaded (and merged) */
    unsigned char sha256_bf16[32]; /* of those weights rounded to bf16: equal for a bf16 re-save */
    unsigned char sha256_f16[32];  /* ... rounded to IEEE half: equal for an f16 re-save */
    int rounded;                   /* TN_FP_BF16 | TN_FP_F16: which of those two tell something (not
                                      when the rounding gives the base's: the fine-tune vanished in it) */
    int k;                    /* floats in sketch: n matrices x block */
    int block;                /* floats per matrix (rules.sketch_k) */
    float *sketch;            /* [k] (judge/deltasketch.h), NULL when k == 0 */
} tn_fingerprint;

void tn_fingerprint_free(tn_fingerprint *fp);
void tn_sha256_hex(const unsigned char sha[32], char hex[65]);

/* Per-tensor provenance against the base. */
typedef struct {
    int n_tensors;
    int n_changed;             /* tensors not bit-identical to the base */
    int n_skipped;             /* tensors whose base norm is 0 (no cosine / rel distance) */
    int n_skipped_changed;     /* of those, changed ones (they make it "touched") */
    double min_cosine;         /* over tensors */
    double max_rel_distance;
    double median_rel_distance;
    double global_cosine;      /* over the whole flat arena */
    double global_rel_distance;
    char min_cosine_tensor[96], max_rel_tensor[96];
} tn_provenance;

/* Architecture: 0 when base and sub have the same shapes (and, when strict,
 * the same function); 1 with the first difference in why ("hidden_size 64 vs 128"). */
int tn_arch_differs(const tn_config *base, const tn_config *sub, int strict, char *why, size_t cap);

/* Needs equal configs (tn_arch_differs == 0); fails otherwise. */
int tn_provenance_compute(const tn_model *base, const tn_model *sub, tn_provenance *out);

/* SHA-256 of sub's weights and the delta sketch of sub - base, block floats per matrix. */
int tn_fingerprint_compute(const tn_model *base, const tn_model *sub, int block, uint64_t seed, tn_fingerprint *fp);
/* Cosine of two sketches: the delta cosine's estimate (0 when either is zero or they do not fit). */
double tn_sketch_similarity(const tn_fingerprint *a, const tn_fingerprint *b);
/* Cosine of the exact deltas (sub_a - base) and (sub_b - base): what the sketch
 * estimates; used by the calibration, too costly to keep per submission. */
double tn_delta_cosine(const tn_model *base, const tn_model *a, const tn_model *b);

typedef struct {
    tn_verdict verdict;
    char reason[512];
    int is_adapter;
    char arch_diff[160];          /* set when the architecture check failed */
    tn_provenance prov;           /* valid when the architecture matched */
    tn_fingerprint fp;            /* of the submission (caller frees with tn_check_result_free) */
    double max_sketch_similarity; /* highest delta-cosine estimate over the earlier submissions; 0 when none */
    int most_similar;             /* index of that submission, -1 when none */
    tn_sketch_pair *pairs;          /* [n_prior] the sketch comparison with each earlier one */
    int duplicate_of;             /* index of the earlier submission it duplicates, -1 */
    int exact_duplicate;          /* the duplicate has the same SHA-256, or the same weights rounded to bf16 */
    int exact_bf16;               /* ... the latter only: 16 bf16, 1 f16 (a re-save in that type) */
    char duplicate_dir[512];      /* tn_check: that submission's directory */
    int n_prior;
    double *similarity;           /* [n_prior] sketch cosine with each earlier submission */
    char evidence[256];           /* the duplicate rule's numbers for the decision (or the closest pair) */
    double *delta_cosine;         /* [n_prior] tn_check only: the exact delta cosine the
                                     sketch estimates (NaN for another architecture) */
    int submission_error;         /* tn_check failed on the submission's own files (missing, corrupt,
                                     non-finite, an adapter that does not fit): a verdict for an evaluator */
} tn_check_result;

void tn_check_result_free(tn_check_result *r);

/* Loads a submission directory (full weights or a PEFT adapter merged into
 * base) into *out. Non-finite weights are refused. *is_adapter tells which. */
int tn_load_submission(const tn_model *base, const char *dir, tn_model *out, int *is_adapter);

/* The rules on loaded models. prior: fingerprints of earlier submissions of the
 * same base (the earliest upload keeps its score, so only earlier ones are
 * passed). Fails only on bad arguments; the verdict is in out. */
int tn_check_models(const tn_model *base, const tn_model *sub, const tn_fingerprint *prior, int n_prior,
                    const tn_check_rules *rules, tn_check_result *out);

/* The whole check on directories (what `tuna check` runs). Returns -1 on I/O
 * and format errors (missing dir, corrupt safetensors, NaN weights, an adapter
 * that does not fit the base; out->submission_error says when they are the
 * submission's), 0 when a verdict was reached. Full weights are read tensor
 * by tensor from the mapped files (judge/weightpass.h): about one tensor of
 * each model in memory; an adapter is merged into an fp32 copy of the base. */
int tn_check(const char *base_dir, const char *submission_dir, const char *const *against_dirs, int n_against,
             const tn_check_rules *rules, tn_check_result *out);

#endif
