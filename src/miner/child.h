/* child.h - the training child process: `tuna train` started, supervised
 * and, after a restart, found again (child.c; the miner's internals).
 */
#ifndef TN_MINER_CHILD_H
#define TN_MINER_CHILD_H

#include <stdatomic.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    int status; /* exit status, or 128 + signal */
} tn_child;
/* Starts argv[0] with stdout/stderr appended to log_path and OMP/OPENBLAS
 * threads set. The child gets SIGTERM when the miner dies
 * (PR_SET_PDEATHSIG), so a killed miner leaves a checkpoint, not an orphan. */
int tn_child_spawn(char *const argv[], const char *log_path, int threads, tn_child *c);
/* Waits for the child; SIGTERM at kill_at (wall s; 0 = never) and on stop,
 * SIGKILL 30 s after a SIGTERM. Returns 0 when it exited. */
int tn_child_wait(tn_child *c, atomic_int *stop, double kill_at);
/* A child of an earlier miner process (pid from the database): when alive and
 * running in job_dir, SIGTERM it and wait for it to go. */
void tn_child_end_stale(int pid, const char *job_dir);

#endif
