/* profile.h - how fast this machine trains: the FLOP/s the policy divides by.
 *
 * Measured once and kept in WORK_DIR/profile.json
 *   {"flops": 2.1e9, "threads": 4, "seconds": 1.6, "measured_at_ms": ...,
 *    "method": "..."}
 * by timing full training steps (forward, backward, AdamW) of a small
 * Llama built in process with the threads one job gets. FLOPs are counted
 * as 6 * params * tokens, the same rule the policy uses, so the estimate
 * is consistent whatever the true count of the kernels. A small model runs
 * BLAS less efficiently than a big one, so the figure is on the safe side.
 * The profile is measured again when the thread count changes.
 */
#ifndef TN_MINER_PROFILE_H
#define TN_MINER_PROFILE_H

/* Times training steps for about `seconds` with `threads` OpenMP threads. */
int tn_profile_measure(int threads, double seconds, double *flops);
/* Reads work_dir/profile.json when it matches `threads`, else measures and
 * writes it. */
int tn_profile_load_or_calibrate(const char *work_dir, int threads, double *flops);

#endif
