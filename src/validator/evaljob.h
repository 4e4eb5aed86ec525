/* evaljob.h - one submission's evaluation, run in a child process.
 *
 * The validator never parses a submitted file in its own address space: it
 * writes a job file and runs `tuna eval-submission --job JOB --out RESULT` as
 * a child (base/spawn) with address-space and CPU-time limits, no core
 * files (setrlimit in the child before exec) and a wall clock (SIGKILL), so
 * a malicious or broken upload can at worst kill that child; its stderr goes
 * to RESULT.stderr, whose last line explains a failure. The child:
 *   1. loads the requested base model and the submission (full weights, or a
 *      PEFT adapter applied to the requested base whatever base it names);
 *   2. runs the provenance rules (architecture, per-tensor cosine and
 *      relative distance, untouched base) and computes the fingerprint
 *      (content hash and delta sketch) the parent compares across
 *      submissions for duplicates;
 *   3. if it is a fine-tune, computes the test and synthetic losses with the
 *      base model's tokenizer and the task's formatting (tn_evaluate, the
 *      code path of `tuna eval`).
 * With "base_only" it evaluates the base model itself (the leak check's
 * reference). The result is one JSON object written atomically.
 *
 * Job: {"base_dir", "submission_dir", "test_file", "synth_file",
 *       "dataset_type": {...}, "seq_len", "base_only", "rules": {...}}
 * Result: {"verdict", "reason", "is_adapter", "sha256", "sketch": [...],
 *          "provenance": {...}, "test_loss", "synth_loss", "test_tokens",
 *          "synth_tokens", "seconds"}
 */
#ifndef TN_EVALJOB_H
#define TN_EVALJOB_H

#include <jansson.h>

/* Runs a job in this process (what the child does). */
int tn_evaljob_run(const char *job_path, const char *result_path);

typedef struct {
    long mem_mb;       /* address-space limit; 0 = none */
    long cpu_s;        /* CPU-time limit; 0 = none */
    double wall_s;     /* killed after this long; 0 = none */
    const char *tuna;  /* the binary to run (default /proc/self/exe) */
} tn_evaljob_limits;

/* Writes `job` to job_path, runs the child, and returns its parsed result
 * (NULL with the error set when the child failed, crashed or ran out of
 * limits; the error then says which). */
json_t *tn_evaljob_spawn(const json_t *job, const char *job_path, const char *result_path,
                         const tn_evaljob_limits *lim);

#endif
