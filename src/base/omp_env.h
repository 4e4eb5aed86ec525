/* omp_env.h - OpenMP's wait policy, chosen before the OpenMP runtime starts.
 *
 * libgomp spins its idle threads for a while (GOMP_SPINCOUNT, 300000 by
 * default) after each parallel region. With one core taken by another
 * process a spinning thread burns the time slice its partner needs (issue 15:
 * stories42M evaluation at 24% of its quiet speed, 54% with passive waits). tuna therefore runs with OMP_WAIT_POLICY=passive unless the user
 * set OMP_WAIT_POLICY or GOMP_SPINCOUNT; numbers: docs/performance.md.
 */
#ifndef TN_BASE_OMP_ENV_H
#define TN_BASE_OMP_ENV_H

/* libgomp reads its environment when it is loaded, before main: when neither
 * variable is set this sets OMP_WAIT_POLICY=passive and executes the program
 * again (same pid, same arguments); TUNA_OMP_REEXEC marks the second start so
 * it happens once. Returns only when nothing had to change, or when the
 * re-execution failed (the program then goes on with libgomp's defaults). */
void tn_omp_env_default(char **argv);

#endif
