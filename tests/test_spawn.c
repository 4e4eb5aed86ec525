/* test_spawn.c - base/spawn: /bin/sh children with redirections, exit codes,
 * signals, limits, process groups, the parent-death signal (also on a kill -9
 * of the parent), a kept descriptor, supervision and the memory watch. */
#include "harness.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/spawn.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs `sh -c script` with o and waits for it. */
static int sh(const char *script, const tn_spawn_opts *o, tn_spawn_end *end) {
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    pid_t pid;
    if (tn_spawn(argv, o, &pid)) return -1;
    return tn_spawn_wait(pid, end);
}

static char *tmp(const char *name) { return tn_sprintf("%s/%s", tn_t_tmpdir(), name); }

/* The file's text ("" when missing); the caller frees it. */
static char *slurp(const char *path) {
    char *s = tn_read_file(path, NULL);
    return s ? s : tn_strdup("");
}

TEST(exit_codes_and_signals) {
    tn_spawn_end e;
    CHECK(sh("exit 0", NULL, &e) == 0 && e.code == 0 && e.signal == 0 && tn_spawn_end_code(&e) == 0);
    CHECK(sh("exit 3", NULL, &e) == 0 && e.code == 3 && e.signal == 0 && tn_spawn_end_code(&e) == 3);
    CHECK(sh("kill -TERM $$", NULL, &e) == 0 && e.code == -1 && e.signal == SIGTERM);
    CHECK(tn_spawn_end_code(&e) == 128 + SIGTERM);
    CHECK(!e.timed_out && !e.stopped);
}

TEST(redirection) {
    char *log = tmp("both.log"), *out = tmp("out.log"), *err = tmp("err.log"), *in = tmp("in.txt");
    tn_spawn_end e;
    /* stdout and stderr into one file, appended to */
    tn_spawn_opts o = {.out_path = log, .err_path = log};
    CHECK(sh("echo one; echo two >&2", &o, &e) == 0 && e.code == 0);
    CHECK(sh("echo three", &o, &e) == 0 && e.code == 0);
    char *s = slurp(log);
    CHECKF(!strcmp(s, "one\ntwo\nthree\n"), "%s", s);
    free(s);
    /* truncated */
    o.truncate = 1;
    CHECK(sh("echo fresh", &o, &e) == 0);
    s = slurp(log);
    CHECKF(!strcmp(s, "fresh\n"), "%s", s);
    free(s);
    /* separate files, stdin from a file */
    CHECK(tn_write_file_atomic(in, "hello\n", 6) == 0);
    tn_spawn_opts o2 = {.in_path = in, .out_path = out, .err_path = err};
    CHECK(sh("read x; echo \"got $x\"; echo oops >&2; exit 4", &o2, &e) == 0 && e.code == 4);
    char *so = slurp(out), *se = slurp(err);
    CHECKF(!strcmp(so, "got hello\n") && !strcmp(se, "oops\n"), "out '%s' err '%s'", so, se);
    free(so), free(se);
    /* only stderr redirected (the evaluator's case): stdout stays ours */
    tn_spawn_opts o3 = {.err_path = err, .truncate = 1};
    CHECK(sh("echo to-err >&2", &o3, &e) == 0 && e.code == 0);
    se = slurp(err);
    CHECKF(!strcmp(se, "to-err\n"), "%s", se);
    free(se);
    free(log), free(out), free(err), free(in);
}

TEST(environment) {
    char *log = tmp("env.log");
    char *env[] = {"TN_SPAWN_TEST=forty-two", "PATH=/usr/bin:/bin", NULL};
    tn_spawn_opts o = {.out_path = log, .err_path = log, .truncate = 1, .envp = env};
    tn_spawn_end e;
    CHECK(sh("echo \"$TN_SPAWN_TEST ${HOME:-nohome}\"", &o, &e) == 0 && e.code == 0);
    char *s = slurp(log);
    CHECKF(!strcmp(s, "forty-two nohome\n"), "%s", s);
    free(s);
    free(log);
}

TEST(errors) {
    char *log = tmp("exec.log");
    tn_spawn_opts o = {.out_path = log, .err_path = log, .truncate = 1};
    char *argv[] = {"/no/such/binary", "x", NULL};
    pid_t pid;
    tn_spawn_end e;
    /* exec failing is the child's: status 127 and a line in its log */
    CHECK(tn_spawn(argv, &o, &pid) == 0);
    CHECK(tn_spawn_wait(pid, &e) == 0 && e.code == TN_SPAWN_EXEC_FAILED);
    char *s = slurp(log);
    CHECKF(strstr(s, "cannot execute /no/such/binary") != NULL, "%s", s);
    free(s);
    /* a redirection that cannot be opened is the parent's error: no child */
    tn_spawn_opts bad = {.out_path = "/no/such/dir/x.log"};
    CHECK_ERR(tn_spawn(argv, &bad, &pid), "/no/such/dir/x.log");
    tn_spawn_opts bad_in = {.in_path = "/no/such/input"};
    CHECK_ERR(tn_spawn(argv, &bad_in, &pid), "/no/such/input");
    free(log);
}

TEST(limits) {
    char *log = tmp("limits.log");
    tn_spawn_opts o = {.out_path = log, .err_path = log, .truncate = 1, .n_rlimits = 2};
    o.rlimits[0] = (tn_spawn_rlimit){RLIMIT_NOFILE, 37, 37};
    o.rlimits[1] = (tn_spawn_rlimit){RLIMIT_CORE, 0, 0};
    tn_spawn_end e;
    CHECK(sh("ulimit -n; ulimit -c", &o, &e) == 0 && e.code == 0);
    char *s = slurp(log);
    CHECKF(!strcmp(s, "37\n0\n"), "%s", s);
    free(s);
    /* a CPU-time limit is enforced: a busy loop dies of SIGXCPU after 1 s */
    tn_spawn_opts cpu = {.n_rlimits = 1};
    cpu.rlimits[0] = (tn_spawn_rlimit){RLIMIT_CPU, 1, 3};
    double t0 = tn_now();
    CHECK(sh("while :; do :; done", &cpu, &e) == 0);
    CHECKF(e.signal == SIGXCPU, "code %d signal %d", e.code, e.signal);
    CHECK(tn_now() - t0 < 20);
    free(log);
}

TEST(process_group) {
    char *log = tmp("pgrp.log");
    tn_spawn_end e;
    /* field 5 of /proc/PID/stat is the process group */
    const char *script =
        "read -r pid comm state ppid pgrp rest < /proc/$$/stat; [ \"$pgrp\" = \"$$\" ] && echo own || echo shared";
    tn_spawn_opts o = {.out_path = log, .err_path = log, .truncate = 1, .new_pgroup = 1};
    CHECK(sh(script, &o, &e) == 0 && e.code == 0);
    char *s = slurp(log);
    CHECKF(!strcmp(s, "own\n"), "%s", s);
    free(s);
    o.new_pgroup = 0;
    CHECK(sh(script, &o, &e) == 0 && e.code == 0);
    s = slurp(log);
    CHECKF(!strcmp(s, "shared\n"), "%s", s);
    free(s);
    free(log);
}

TEST(signal_mask) {
    char *log = tmp("mask.log");
    tn_spawn_end e;
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &old);
    char *argv[] = {"/bin/grep", "SigBlk", "/proc/self/status", NULL}; /* not a shell: it may set its own mask */
    tn_spawn_opts o = {.out_path = log, .err_path = log, .truncate = 1};
    pid_t pid;
    CHECK(tn_spawn(argv, &o, &pid) == 0 && tn_spawn_wait(pid, &e) == 0 && e.code == 0);
    char *s = slurp(log);
    CHECKF(strstr(s, "SigBlk:\t0000000000000200") != NULL, "inherited: %s", s); /* bit 9: SIGUSR1 */
    free(s);
    o.reset_signals = 1;
    CHECK(tn_spawn(argv, &o, &pid) == 0 && tn_spawn_wait(pid, &e) == 0 && e.code == 0);
    s = slurp(log);
    CHECKF(strstr(s, "SigBlk:\t0000000000000000") != NULL, "reset: %s", s);
    free(s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    free(log);
}

TEST(supervise) {
    char *argv[] = {"/bin/sh", "-c", "sleep 30", NULL};
    pid_t pid;
    tn_spawn_end e;
    /* a wall-clock limit with SIGKILL (the evaluator) */
    CHECK(tn_spawn(argv, NULL, &pid) == 0);
    double t0 = tn_now();
    tn_spawn_watch kill_at = {.timeout_s = 0.2, .sig = SIGKILL};
    CHECK(tn_spawn_supervise(pid, &kill_at, &e) == 0);
    CHECK(e.timed_out && !e.stopped && e.signal == SIGKILL);
    CHECK(tn_now() - t0 < 5);
    /* a stop flag with SIGTERM (the miner) */
    atomic_int stop = 1;
    CHECK(tn_spawn(argv, NULL, &pid) == 0);
    tn_spawn_watch on_stop = {.stop = &stop, .sig = SIGTERM, .kill_after_s = 30};
    CHECK(tn_spawn_supervise(pid, &on_stop, &e) == 0);
    CHECK(e.stopped && !e.timed_out && e.signal == SIGTERM);
    /* a child that ignores SIGTERM gets SIGKILL kill_after_s later */
    char *stubborn[] = {"/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.05; done", NULL};
    CHECK(tn_spawn(stubborn, NULL, &pid) == 0);
    usleep(100 * 1000); /* the trap is set */
    tn_spawn_watch term = {.timeout_s = 0.05, .sig = SIGTERM, .kill_after_s = 0.3};
    t0 = tn_now();
    CHECK(tn_spawn_supervise(pid, &term, &e) == 0);
    CHECKF(e.timed_out && e.signal == SIGKILL, "signal %d", e.signal);
    CHECK(tn_now() - t0 >= 0.3 && tn_now() - t0 < 5);
    /* nothing to watch: it just waits, and poll says when it is done */
    char *quick[] = {"/bin/sh", "-c", "sleep 0.2; exit 5", NULL};
    CHECK(tn_spawn(quick, NULL, &pid) == 0);
    CHECK(tn_spawn_poll(pid, &e) == 1);
    CHECK(tn_spawn_supervise(pid, NULL, &e) == 0 && e.code == 5 && !e.timed_out && !e.stopped);
    CHECK(tn_spawn_poll(pid, &e) == -1); /* reaped */
    tn_err_clear();
}

/* The death signal belongs to the thread that spawned: when it ends, the
 * child gets the signal (the miner's job thread and its training child). */
static void *spawn_and_leave(void *arg) {
    char *argv[] = {"/bin/sh", "-c", "sleep 30", NULL};
    tn_spawn_opts o = {.death_signal = SIGTERM};
    if (tn_spawn(argv, &o, (pid_t *)arg)) *(pid_t *)arg = -1;
    return NULL;
}

TEST(death_signal) {
    pid_t pid = 0;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, spawn_and_leave, &pid) == 0);
    pthread_join(th, NULL);
    CHECK(pid > 0);
    if (pid <= 0) return;
    tn_spawn_watch w = {.timeout_s = 10, .sig = SIGKILL};
    tn_spawn_end e;
    CHECK(tn_spawn_supervise(pid, &w, &e) == 0);
    CHECKF(!e.timed_out && e.signal == SIGTERM, "timed out %d signal %d", e.timed_out, e.signal);
}

/* A kill -9 of the parent process (not just the end of a thread) fires the
 * death signal: the evaluator's case when the validator is killed. The
 * parent is a fork of this test; the grandchild is reparented to this test
 * (a subreaper), which can then reap it and see what ended it. */
TEST(death_signal_on_sigkill) {
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t mid = fork();
    if (mid == 0) {
        close(fds[0]);
        char *argv[] = {"/bin/sh", "-c", "sleep 30", NULL};
        tn_spawn_opts o = {.death_signal = SIGKILL};
        pid_t g = -1;
        if (tn_spawn(argv, &o, &g)) g = -1;
        ssize_t w = write(fds[1], &g, sizeof g);
        (void)w;
        pause();
        _exit(0);
    }
    close(fds[1]);
    pid_t g = -1;
    CHECK(mid > 0 && read(fds[0], &g, sizeof g) == (ssize_t)sizeof g && g > 0);
    close(fds[0]);
    if (mid > 0) {
        kill(mid, SIGKILL);
        waitpid(mid, NULL, 0);
    }
    if (g > 0) {
        tn_spawn_watch w = {.timeout_s = 10, .sig = SIGTERM};
        tn_spawn_end e;
        CHECK(tn_spawn_supervise(g, &w, &e) == 0);
        CHECKF(!e.timed_out && e.signal == SIGKILL, "timed out %d signal %d", e.timed_out, e.signal);
    }
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* keep_fd: a flock the child goes on holding after the parent let go (the
 * evaluator's job lock); without it the child does not have the file. */
TEST(keep_fd) {
    char *path = tmp("job.lock");
    /* sleep itself, not a shell: a shell may fork sleep, which would inherit the
     * descriptor and hold the lock after the killed shell */
    char *argv[] = {"/bin/sleep", "30", NULL};
    for (int keep = 1; keep >= 0; keep--) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        CHECK(fd > 2 && flock(fd, LOCK_EX | LOCK_NB) == 0);
        tn_spawn_opts o = {.keep_fd = keep ? fd : 0};
        pid_t pid;
        CHECK(tn_spawn(argv, &o, &pid) == 0);
        close(fd);
        int again = open(path, O_RDWR | O_CLOEXEC);
        int got = flock(again, LOCK_EX | LOCK_NB) == 0;
        CHECKF(got == !keep, "keep_fd %d: the lock is %s", keep, got ? "free" : "held");
        kill(pid, SIGKILL);
        tn_spawn_wait(pid, NULL);
        CHECKF(flock(again, LOCK_EX | LOCK_NB) == 0, "keep_fd %d: the lock outlives the child", keep);
        close(again);
    }
    tn_spawn_opts bad = {.keep_fd = 2};
    pid_t pid;
    CHECK_ERR(tn_spawn(argv, &bad, &pid), "cannot keep descriptor 2");
    free(path);
}

/* max_rss_mb: a child that keeps growing is killed past the limit (what the
 * evaluator has in a sanitizer build, where RLIMIT_AS cannot be used); one
 * that stays small is not. */
TEST(memory_watch) {
    char *grow[] = {"/usr/bin/tail", "/dev/zero", NULL}; /* one endless line, kept in memory */
    pid_t pid;
    tn_spawn_end e;
    CHECK(tn_spawn(grow, NULL, &pid) == 0);
    tn_spawn_watch w = {.timeout_s = 30, .sig = SIGKILL, .max_rss_mb = 64};
    double t0 = tn_now();
    CHECK(tn_spawn_supervise(pid, &w, &e) == 0);
    CHECKF(e.over_memory && !e.timed_out && e.signal == SIGKILL && e.peak_rss_mb > 64,
           "over %d timed out %d signal %d peak %ld MiB", e.over_memory, e.timed_out, e.signal, e.peak_rss_mb);
    CHECK(tn_now() - t0 < 30);
    char *small[] = {"/bin/sh", "-c", "sleep 0.3", NULL};
    CHECK(tn_spawn(small, NULL, &pid) == 0);
    CHECK(tn_spawn_supervise(pid, &w, &e) == 0);
    CHECKF(!e.over_memory && e.code == 0 && e.peak_rss_mb < 64, "over %d code %d peak %ld MiB", e.over_memory,
           e.code, e.peak_rss_mb);
}

int main(void) {
    RUN(exit_codes_and_signals);
    RUN(redirection);
    RUN(environment);
    RUN(errors);
    RUN(limits);
    RUN(process_group);
    RUN(signal_mask);
    RUN(supervise);
    RUN(death_signal);
    RUN(death_signal_on_sigkill);
    RUN(keep_fd);
    RUN(memory_watch);
    return tn_test_summary("spawn");
}
