/* spawn.h - child processes: start one, supervise it, collect how it ended.
 *
 * The one way tuna starts another program (the miner's `tuna train`, the
 * validator's `tuna eval-submission`, the arena's validator and miners).
 * Those parents run threads, so the child must not touch anything a thread
 * of the parent may have held at fork time (malloc's locks, stdio's): between
 * fork and exec the child makes only async-signal-safe system calls
 * (prctl, setpgid, sigprocmask, signal, setrlimit, fcntl, dup2, execve,
 * write, _exit). Everything else is prepared by the parent before the fork: the
 * redirection files are opened there (so a bad path is the parent's error,
 * not a silent child failure), close-on-exec, and moved above fd 2.
 *
 * Not posix_spawn: it cannot set a parent-death signal, and limits applied
 * from the parent (prlimit) would leave the child a moment without them.
 *
 * A child that cannot exec writes "tuna: cannot execute PATH" to its stderr
 * (the log, when redirected) and exits with TN_SPAWN_EXEC_FAILED.
 */
#ifndef TN_SPAWN_H
#define TN_SPAWN_H

#include <stdatomic.h>
#include <sys/types.h>

#define TN_SPAWN_EXEC_FAILED 127
#define TN_SPAWN_MAX_RLIMITS 4

typedef struct {
    int resource;             /* RLIMIT_AS, RLIMIT_CPU, ... */
    unsigned long long soft, hard;
} tn_spawn_rlimit;

typedef struct {
    const char *in_path;      /* stdin from this file (read-only); NULL: inherited */
    const char *out_path;     /* stdout to this file; NULL: inherited */
    const char *err_path;     /* stderr to this file; NULL: inherited. The same
                               * name as out_path: both share one open file */
    int truncate;             /* out/err files: 1 truncated, 0 appended to */
    char *const *envp;        /* the child's environment; NULL: this process's */
    int new_pgroup;           /* the child leads a process group of its own
                               * (a terminal's Ctrl-C then reaches the parent only) */
    int death_signal;         /* > 0: sent to the child when the thread that
                               * spawned it ends (Linux PR_SET_PDEATHSIG; a
                               * kill -9 of the parent ends every thread); the
                               * child exits at once when the parent is already
                               * gone. Spawn from a thread that outlives the
                               * child (e.g. one that also waits for it) */
    int keep_fd;              /* > 0: this descriptor of the parent stays open in
                               * the child across exec (close-on-exec cleared in
                               * the child only), e.g. a flock the child must
                               * hold for as long as it lives, even after the
                               * parent died. 0: none (0 is stdin, never kept) */
    int reset_signals;        /* the child starts with no blocked signals and
                               * SIGPIPE at its default (exec keeps both) */
    int n_rlimits;            /* resource limits set in the child before exec */
    tn_spawn_rlimit rlimits[TN_SPAWN_MAX_RLIMITS];
} tn_spawn_opts;

/* Starts argv[0] (a path, not searched in PATH) with argv. o may be NULL
 * (everything inherited). Returns once the child has exec'd (or failed to),
 * so that its setup is done: 0 with *pid set, or -1 with the error set (a
 * redirection file that cannot be opened, fork failing). */
int tn_spawn(char *const argv[], const tn_spawn_opts *o, pid_t *pid);

/* How a child ended. */
typedef struct {
    int code;      /* its exit status when it exited, else -1 */
    int signal;    /* the signal that ended it, else 0 */
    int timed_out; /* tn_spawn_supervise signalled it: timeout_s passed */
    int stopped;   /* tn_spawn_supervise signalled it: *stop was set */
    int over_memory; /* tn_spawn_supervise killed it: its peak resident
                      * memory passed max_rss_mb */
    long peak_rss_mb; /* its peak resident memory as last seen by
                       * tn_spawn_supervise (0 when not watched) */
} tn_spawn_end;

/* The shell's number: the exit status, or 128 + the signal. */
int tn_spawn_end_code(const tn_spawn_end *e);

/* Blocks until the child ends. 0, or -1 with the error set. */
int tn_spawn_wait(pid_t pid, tn_spawn_end *end);
/* Does not block: 0 when the child has ended (*end filled when end is not
 * NULL), 1 while it runs, -1 with the error set. */
int tn_spawn_poll(pid_t pid, tn_spawn_end *end);

typedef struct {
    atomic_int *stop;      /* NULL, or: once nonzero, the child gets `sig` */
    double timeout_s;      /* > 0: the child gets `sig` this long after the call */
    int sig;               /* the first signal: SIGTERM lets it clean up */
    double kill_after_s;   /* > 0: SIGKILL this long after the first signal */
    long max_rss_mb;       /* > 0: SIGKILL (whatever `sig`) once the child's
                            * peak resident memory (VmHWM in /proc/PID/status)
                            * passes this. Measured from outside, so it holds
                            * where an address-space limit cannot (sanitizer
                            * builds), but only every 20 ms: a child can go
                            * past it by what it touches in that time */
} tn_spawn_watch;

/* Waits for the child, signalling it as `w` says (checked every 20 ms).
 * Only the child itself is signalled, not its process group. 0 once it has
 * ended, or -1 with the error set. */
int tn_spawn_supervise(pid_t pid, const tn_spawn_watch *w, tn_spawn_end *end);

#endif
