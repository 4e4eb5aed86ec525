/* spawn.c - child processes (see spawn.h). */
#include "base/clock.h"
#include "base/spawn.h"

#include "base/err.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Opens path close-on-exec at fd 3 or above, so that the child's dup2 onto
 * 0..2 never overwrites another of the files it still has to place. */
static int open_high(const char *path, int flags) {
    int fd = open(path, flags | O_CLOEXEC, 0644);
    if (fd < 0) return tn_fail_errno("%s", path);
    if (fd > 2) return fd;
    int hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int err = errno;
    close(fd);
    if (hi < 0) {
        errno = err;
        return tn_fail_errno("%s", path);
    }
    return hi;
}

static void say(const char *s) {
    ssize_t w = write(2, s, strlen(s));
    (void)w;
}

/* The child between fork and exec: async-signal-safe calls only (spawn.h). */
static void child(char *const argv[], const tn_spawn_opts *o, pid_t parent, int in, int out, int err) {
    if (o->death_signal > 0) {
        if (prctl(PR_SET_PDEATHSIG, o->death_signal) != 0) _exit(TN_SPAWN_EXEC_FAILED);
        if (getppid() != parent) _exit(TN_SPAWN_EXEC_FAILED); /* the parent died before prctl */
    }
    if (o->new_pgroup) setpgid(0, 0);
    if (o->keep_fd > 2) {
        int fl = fcntl(o->keep_fd, F_GETFD);
        if (fl < 0 || fcntl(o->keep_fd, F_SETFD, fl & ~FD_CLOEXEC) < 0) _exit(TN_SPAWN_EXEC_FAILED);
    }
    if (o->reset_signals) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
    }
    /* A failure only happens when asked to raise a hard limit above the
     * current one: the current, lower limit then stays, which is stricter. */
    for (int i = 0; i < o->n_rlimits; i++) {
        struct rlimit rl = {(rlim_t)o->rlimits[i].soft, (rlim_t)o->rlimits[i].hard};
        setrlimit(o->rlimits[i].resource, &rl);
    }
    if (in >= 0 && dup2(in, 0) < 0) _exit(TN_SPAWN_EXEC_FAILED);
    if (out >= 0 && dup2(out, 1) < 0) _exit(TN_SPAWN_EXEC_FAILED);
    if (err >= 0 && dup2(err, 2) < 0) _exit(TN_SPAWN_EXEC_FAILED);
    execve(argv[0], argv, o->envp ? o->envp : environ);
    say("tuna: cannot execute ");
    say(argv[0]);
    say("\n");
    _exit(TN_SPAWN_EXEC_FAILED);
}

int tn_spawn(char *const argv[], const tn_spawn_opts *o, pid_t *pid) {
    static const tn_spawn_opts none;
    if (!o) o = &none;
    int wflags = O_WRONLY | O_CREAT | (o->truncate ? O_TRUNC : O_APPEND);
    /* 0..2 are replaced by the redirections: a kept descriptor must be above */
    if (o->keep_fd == 1 || o->keep_fd == 2 || o->keep_fd < 0) return tn_fail("spawn: cannot keep descriptor %d", o->keep_fd);
    int in = -1, out = -1, err = -1, sync[2] = {-1, -1}, rc = -1;
    if (o->in_path && (in = open_high(o->in_path, O_RDONLY)) < 0) goto out;
    if (o->out_path && (out = open_high(o->out_path, wflags)) < 0) goto out;
    if (o->err_path) {
        if (o->out_path && !strcmp(o->err_path, o->out_path)) err = out;
        else if ((err = open_high(o->err_path, wflags)) < 0) goto out;
    }
    /* The parent returns once the child has exec'd (or failed to): the
     * pipe's write end closes at exec. Until then the child's setup is not
     * done, and a death signal is only armed once prctl has run: a thread
     * that spawned and ended at once would otherwise leave it unarmed. */
    if (pipe2(sync, O_CLOEXEC)) {
        tn_fail_errno("pipe");
        goto out;
    }
    pid_t parent = getpid();
    pid_t p = fork();
    if (p == 0) child(argv, o, parent, in, out, err); /* does not return */
    if (p < 0) {
        tn_fail_errno("fork");
        goto out;
    }
    close(sync[1]);
    sync[1] = -1;
    char c;
    while (read(sync[0], &c, 1) < 0 && errno == EINTR) {
    }
    *pid = p;
    rc = 0;
out:
    if (sync[0] >= 0) close(sync[0]);
    if (sync[1] >= 0) close(sync[1]);
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    if (err >= 0 && err != out) close(err);
    return rc;
}

int tn_spawn_end_code(const tn_spawn_end *e) { return e->code >= 0 ? e->code : 128 + e->signal; }

/* waitpid with flags (0 or WNOHANG): 0 ended (*end filled when not NULL),
 * 1 still running (WNOHANG), -1 error set. */
static int reap(pid_t pid, int flags, tn_spawn_end *end) {
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, flags);
        if (r == 0) return 1;
        if (r == pid) break;
        if (r < 0 && errno != EINTR) return tn_fail_errno("waitpid %d", (int)pid);
    }
    if (end) {
        memset(end, 0, sizeof *end);
        end->code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        end->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    }
    return 0;
}

int tn_spawn_wait(pid_t pid, tn_spawn_end *end) { return reap(pid, 0, end); }

int tn_spawn_poll(pid_t pid, tn_spawn_end *end) { return reap(pid, WNOHANG, end); }

/* The child's peak resident memory in MiB (VmHWM), or -1 when it cannot be
 * read (the child is a zombie already, or /proc is missing). open/read, not
 * stdio: this runs every 20 ms for as long as the child does. */
static long peak_rss_mb(pid_t pid) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    const char *p = strstr(buf, "\nVmHWM:");
    if (!p) return -1;
    return strtol(p + 7, NULL, 10) / 1024; /* "VmHWM:   123456 kB" */
}

int tn_spawn_supervise(pid_t pid, const tn_spawn_watch *w, tn_spawn_end *end) {
    double t0 = tn_now(), signalled_at = 0;
    int signalled = 0, killed = 0, timed_out = 0, stopped = 0, over_memory = 0;
    long peak = 0;
    for (;;) {
        int r = tn_spawn_poll(pid, end);
        if (r <= 0) {
            if (r == 0 && end) {
                end->timed_out = timed_out;
                end->stopped = stopped;
                end->over_memory = over_memory;
                end->peak_rss_mb = peak;
            }
            return r;
        }
        /* the child is not reaped yet: its pid cannot have been reused */
        double now = tn_now();
        if (w && w->max_rss_mb > 0 && !killed) {
            long m = peak_rss_mb(pid);
            if (m > peak) peak = m;
            if (peak > w->max_rss_mb) {
                kill(pid, SIGKILL);
                killed = signalled = over_memory = 1;
                signalled_at = now;
            }
        }
        if (w && !signalled) {
            stopped = w->stop && atomic_load(w->stop);
            timed_out = !stopped && w->timeout_s > 0 && now - t0 >= w->timeout_s;
            if (stopped || timed_out) {
                kill(pid, w->sig);
                signalled = 1;
                signalled_at = now;
                killed = w->sig == SIGKILL;
            }
        }
        if (signalled && !killed && w->kill_after_s > 0 && now - signalled_at >= w->kill_after_s) {
            kill(pid, SIGKILL);
            killed = 1;
        }
        usleep(20 * 1000);
    }
}
