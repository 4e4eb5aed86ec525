/* child.c - the training child process (see miner_internal.h).
 *
 * fork+exec rather than posix_spawn because the child needs
 * prctl(PR_SET_PDEATHSIG, SIGTERM): when the miner is killed (even with
 * SIGKILL) its training children get SIGTERM, which `tuna train` answers by
 * writing the best output and a resumable checkpoint. The restarted miner
 * then resumes from that checkpoint instead of finding an orphan still
 * writing into the job's directory. The death signal is tied to the thread
 * that forked, which is the job's thread: it waits for the child, so it
 * outlives it. Between fork and exec only async-signal-safe calls run:
 * everything (argv, the environment) is built before the fork.
 */
#include "miner/miner_internal.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
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
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return tn_fail_errno("%s", log_path);
    char **owned;
    int n_owned;
    char **env = child_env(threads, &owned, &n_owned);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* child: async-signal-safe calls only */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) _exit(127);
        if (getppid() != parent) _exit(127); /* the miner died before prctl */
        /* exec keeps the mask and ignored signals: tuna train must see SIGTERM */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execve(argv[0], argv, env);
        static const char msg[] = "tuna miner: cannot execute the training binary\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    int err = errno;
    close(fd);
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    free(owned);
    free(env);
    if (pid < 0) {
        errno = err;
        return tn_fail_errno("fork");
    }
    c->pid = pid;
    c->status = -1;
    return 0;
}

int tn_child_wait(tn_child *c, atomic_int *stop, double kill_at) {
    double termed_at = 0;
    for (;;) {
        int st;
        pid_t r = waitpid(c->pid, &st, WNOHANG);
        if (r == c->pid) {
            c->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return 0;
        }
        if (r < 0 && errno != EINTR) return tn_fail_errno("waitpid %d", (int)c->pid);
        double now = tn_wall_now();
        if (!termed_at && ((stop && atomic_load(stop)) || (kill_at > 0 && now >= kill_at))) {
            kill(c->pid, SIGTERM); /* tuna train writes its output and a checkpoint */
            termed_at = now;
        }
        if (termed_at && now - termed_at > 30) kill(c->pid, SIGKILL);
        usleep(50 * 1000);
    }
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
