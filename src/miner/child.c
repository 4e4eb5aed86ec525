/* child.c - the training child process (see miner_internal.h).
 *
 * Started by tn_spawn (base/spawn.h) with a parent-death signal: when the
 * miner is killed (even with SIGKILL) its training children get SIGTERM,
 * which `tuna train` answers by writing the best output and a resumable
 * checkpoint. The restarted miner then resumes from that checkpoint instead
 * of finding an orphan still writing into the job's directory. The death
 * signal is tied to the thread that forked, which is the job's thread: it
 * waits for the child, so it outlives it. Everything the child gets (argv,
 * the environment) is built before the fork.
 */
#include "miner/child.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/spawn.h"

#include <math.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* environ with OMP/OPENBLAS thread counts replaced */
static char **child_env(int threads, char ***owned, int *n_owned) {
    size_t n = 0;
    while (environ[n]) n++;
    char **env = tn_calloc(n + 3, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "OMP_NUM_THREADS=", 16) && strncmp(environ[i], "OPENBLAS_NUM_THREADS=", 21))
            env[k++] = environ[i];
    *owned = tn_calloc(2, sizeof **owned);
    (*owned)[0] = tn_sprintf("OMP_NUM_THREADS=%d", threads > 0 ? threads : 1);
    (*owned)[1] = tn_strdup("OPENBLAS_NUM_THREADS=1"); /* BLAS runs inside our OpenMP regions */
    *n_owned = 2;
    env[k++] = (*owned)[0];
    env[k++] = (*owned)[1];
    env[k] = NULL;
    return env;
}

int tn_child_spawn(char *const argv[], const char *log_path, int threads, tn_child *c) {
    char **owned;
    int n_owned;
    char **env = child_env(threads, &owned, &n_owned);
    /* stdin from /dev/null: training reads no terminal; exec keeps the
     * signal mask and ignored signals, and tuna train must see SIGTERM */
    tn_spawn_opts o = {.in_path = "/dev/null", .out_path = log_path, .err_path = log_path, .envp = env,
                       .death_signal = SIGTERM, .reset_signals = 1};
    pid_t pid;
    int rc = tn_spawn(argv, &o, &pid);
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    free(owned);
    free(env);
    if (rc) return -1;
    c->pid = pid;
    c->status = -1;
    return 0;
}

int tn_child_wait(tn_child *c, atomic_int *stop, double kill_at) {
    /* SIGTERM: tuna train writes its output and a checkpoint */
    tn_spawn_watch w = {.stop = stop, .sig = SIGTERM, .kill_after_s = 30};
    if (kill_at > 0) w.timeout_s = fmax(kill_at - tn_wall_now(), 1e-9);
    tn_spawn_end end;
    if (tn_spawn_supervise(c->pid, &w, &end)) return -1;
    c->status = tn_spawn_end_code(&end);
    return 0;
}

/* Is pid a process whose command line mentions job_dir? (pids are reused:
 * never signal a process only because it has the old number) */
static int runs_in(int pid, const char *job_dir) {
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    for (ssize_t i = 0; i < n; i++)
        if (!buf[i]) buf[i] = ' ';
    buf[n] = 0;
    return strstr(buf, job_dir) != NULL;
}

void tn_child_end_stale(int pid, const char *job_dir) {
    if (pid <= 0 || !runs_in(pid, job_dir)) return;
    tn_warn("miner: training process %d of %s outlived the last miner; stopping it", pid, job_dir);
    kill(pid, SIGTERM);
    for (int i = 0; i < 600 && kill(pid, 0) == 0 && runs_in(pid, job_dir); i++) usleep(50 * 1000);
    if (kill(pid, 0) == 0 && runs_in(pid, job_dir)) kill(pid, SIGKILL);
}
