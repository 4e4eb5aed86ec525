/* evaljob.h - one submission's evaluation, run in a child process.
 *
 * The validator never parses a submitted file in its own address space: it
 * writes a job file and runs `tuna eval-submission --job JOB --out RESULT` as
 * a child (base/spawn) under limits that hold in every build:
 *   memory  the parent watches the child's peak resident memory (VmHWM) and
 *           kills it past mem_mb; normal builds also set an address-space
 *           limit (RLIMIT_AS) in the child, so that an allocation past it
 *           fails at once. Sanitizer builds cannot: ASan reserves terabytes
 *           of shadow address space at start (RLIMIT_DATA counts those
 *           mappings too), so there the parent's watch is the limit;
 *   CPU     RLIMIT_CPU (SIGXCPU, SIGKILL 5 s later);
 *   wall    SIGKILL after wall_s;
 *   and no core files (RLIMIT_CORE 0).
 * A malicious or broken upload can at worst kill that child; its stderr goes
 * to RESULT.stderr, whose last line explains a failure.
 *
 * One child per job at a time, and none outlives the validator:
 *   - the child gets SIGKILL when the thread that spawned it ends
 *     (PR_SET_PDEATHSIG). tn_evaljob_spawn waits for the child on the
 *     calling thread, so that thread outlives it; a kill -9 of the validator
 *     ends every thread, and so the child;
 *   - the child leads its own process group: a terminal's Ctrl-C reaches the
 *     validator only, which then kills the child (lim->stop) and records
 *     nothing (an interrupted evaluation is not the submission's fault);
 *   - RESULT.lock is flock'ed by the parent before the spawn; the child
 *     inherits the lock and holds it for as long as it lives, even after the
 *     parent died, and the file names the child's pid. Another parent (a
 *     restarted validator) waits for that lock before it starts a child,
 *     killing the child the file names when that is still an
 *     `eval-submission` of this job: two children never write one result;
 *   - the result is written to a temporary name and renamed (base/json).
 *
 * The child:
 *   1. runs the provenance rules (architecture, per-tensor cosine and
 *      relative distance, untouched base) and computes the fingerprint
 *      (content hash and delta sketch) the parent compares across
 *      submissions for duplicates, reading the base and the submission
 *      (full weights, or a PEFT adapter merged into the requested base
 *      whatever base it names) tensor by tensor (tn_check, judge/weightpass.h);
 *   2. loads the model it scores frozen (its bf16 matrices stay mapped);
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
#include <stdatomic.h>

/* Runs a job in this process (what the child does).
 *
 * Test hooks: environment variables read by the child, which inherits the
 * validator's environment. For tests only; never set them in production.
 *   TUNA_TEST_EVAL_SLEEP_S=S   sleeps S seconds before writing the result, so
 *                              that a test can kill the validator while its
 *                              evaluations run (tests/test_validator_crash.c)
 *   TUNA_TEST_EVAL_ALLOC_MB=N  a submission's evaluation (not the base
 *                              model's) first allocates and touches N MiB, as
 *                              an upload that inflates the evaluator would
 *                              (issue 18 finding 7), to test the memory limit */
int tn_evaljob_run(const char *job_path, const char *result_path);

/* tn_evaljob_limits.mem_mb: the child's resident limit is the memory model's
 * estimate for the job (the streamed check or the evaluation of the frozen
 * model, whichever needs more) + 25% + 256 MiB; its address-space limit adds
 * the mapped files, thread stacks and malloc arenas. */
#define TN_EVAL_MEM_AUTO (-1L)

typedef struct {
    long mem_mb;       /* memory limit (see above); 0 = none; TN_EVAL_MEM_AUTO: per job,
                        * from the memory model for its base (model/memmodel.h) */
    long cpu_s;        /* CPU-time limit; 0 = none */
    double wall_s;     /* killed after this long; 0 = none */
    const char *tuna;  /* the binary to run (default /proc/self/exe) */
    int threads;       /* > 0: the child's OMP_NUM_THREADS (OpenBLAS 1: it
                        * runs inside those threads); 0: inherited */
    atomic_int *stop;  /* NULL, or: once nonzero, the child is killed and the
                        * evaluation given up (the validator is stopping) */
} tn_evaljob_limits;

/* Writes `job` to job_path, runs the child, and parses its result:
 *    0  *result set;
 *    1  the child failed, crashed or went over a limit on this job: the
 *       submission's fault (the error says which; *result NULL);
 *    2  the child died of a SIGKILL that none of its limits sent: the
 *       kernel's out-of-memory killer (the machine, not the child, ran out:
 *       the child's own limit is watched and named under 1) or an operator.
 *       Not the submission's fault as far as anyone can tell: the caller
 *       retries a bounded number of times (evalpool.h), then counts it as 1
 *       (error set; *result NULL);
 *   -1  the evaluation could not be run or was given up, through no fault of
 *       the submission: the job file cannot be written, fork failed, the
 *       evaluator binary could not be executed (spawn.h's exit status and
 *       message), another child still holds the job, *lim->stop was set
 *       (error set; *result NULL; try again later). */
int tn_evaljob_spawn(const json_t *job, const char *job_path, const char *result_path, const tn_evaljob_limits *lim,
                     json_t **result);

#endif
