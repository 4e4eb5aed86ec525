/* evaljob.c - a submission's evaluation in a sandboxed child (see evaljob.h). */
#include "validator/evaljob.h"
#include "judge/provenance.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/spawn.h"
#include "data/format.h"
#include "io/safetensors.h"
#include "model/memmodel.h"
#include "tok/tokenizer.h"
#include "train/evaluate.h"
#include "train/examples.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the child's side ------------------------------------------------------ */

/* The loss of one scored set, and each row's own (tn_eval_rows) as
 * <name>_row_loss / <name>_row_tokens arrays in res: the scorer compares
 * submissions row by row (bootstrap intervals, per-row gains over the base). */
static int eval_file(tn_model *m, const tn_tokenizer *tok, const char *path, const tn_data_spec *spec, int seq_len,
                     const char *name, json_t *res) {
    tn_examples ex;
    tn_examples_init(&ex);
    int rc = tn_examples_load(&ex, path, TN_ROWS_JSONL, spec, tok, seq_len, 0);
    tn_eval_result r = {0};
    tn_eval_rows rows = {0};
    if (rc == 0) {
        rows.loss = tn_calloc(ex.n + 1, sizeof *rows.loss);
        rows.tokens = tn_calloc(ex.n + 1, sizeof *rows.tokens);
        rc = tn_evaluate(m, &ex, NULL, 0, 4, seq_len, tn_batch_pad_id(tok), NULL, &rows, &r);
    }
    if (rc == 0) {
        char key[64];
        json_t *loss = json_array(), *tokens = json_array();
        for (size_t i = 0; i < ex.n; i++) {
            json_array_append_new(loss, json_real(rows.loss[i]));
            json_array_append_new(tokens, json_integer(rows.tokens[i]));
        }
        snprintf(key, sizeof key, "%s_loss", name);
        json_object_set_new(res, key, json_real(r.loss));
        snprintf(key, sizeof key, "%s_tokens", name);
        json_object_set_new(res, key, json_integer(r.tokens));
        snprintf(key, sizeof key, "%s_row_loss", name);
        json_object_set_new(res, key, loss);
        snprintf(key, sizeof key, "%s_row_tokens", name);
        json_object_set_new(res, key, tokens);
    }
    free(rows.loss);
    free(rows.tokens);
    tn_examples_free(&ex);
    return rc;
}

static void rules_from_json(const json_t *j, tn_check_rules *r) {
    tn_check_rules_default(r);
    if (!json_is_object(j)) return;
    json_t *v;
    if ((v = json_object_get(j, "min_cosine")) && json_is_number(v)) r->min_cosine = json_number_value(v);
    if ((v = json_object_get(j, "max_rel_distance")) && json_is_number(v)) r->max_rel_distance = json_number_value(v);
    if ((v = json_object_get(j, "untouched_rel_eps")) && json_is_number(v)) r->untouched_rel_eps = json_number_value(v);
    if ((v = json_object_get(j, "sketch_k")) && json_is_integer(v)) r->sketch_k = (int)json_integer_value(v);
    if ((v = json_object_get(j, "sketch_seed")) && json_is_integer(v)) r->sketch_seed = (uint64_t)json_integer_value(v);
}

/* TUNA_TEST_EVAL_ALLOC_MB (evaljob.h): allocates and touches that many MiB,
 * 16 MiB at a time, as a submission that inflates the evaluator would; the
 * chunks are chained through their first word and freed at the end. */
static void **test_hook_alloc(void) {
    const char *e = getenv("TUNA_TEST_EVAL_ALLOC_MB");
    long mb = e ? strtol(e, NULL, 10) : 0;
    void **head = NULL;
    for (long i = 0; i < mb; i += 16) {
        void **c = tn_malloc((size_t)16 << 20);
        memset(c, 1, (size_t)16 << 20);
        *c = head;
        head = c;
    }
    return head;
}

static void test_hook_free(void **head) {
    while (head) {
        void **next = *head;
        free(head);
        head = next;
    }
}

/* TUNA_TEST_EVAL_SLEEP_S (evaljob.h) */
static void test_hook_sleep(void) {
    const char *e = getenv("TUNA_TEST_EVAL_SLEEP_S");
    double s = e ? strtod(e, NULL) : 0;
    if (s > 0 && s < 3600) usleep((useconds_t)(s * 1e6));
}

int tn_evaljob_run(const char *job_path, const char *result_path) {
    double t0 = tn_now();
    json_t *job = tn_json_load_file(job_path);
    if (!job) return -1;
    const char *base_dir = json_string_value(json_object_get(job, "base_dir"));
    const char *sub_dir = json_string_value(json_object_get(job, "submission_dir"));
    const char *test_file = json_string_value(json_object_get(job, "test_file"));
    const char *synth_file = json_string_value(json_object_get(job, "synth_file"));
    int base_only = json_is_true(json_object_get(job, "base_only"));
    int seq_len = (int)json_integer_value(json_object_get(job, "seq_len"));
    tn_data_spec spec;
    tn_check_rules rules;
    rules_from_json(json_object_get(job, "rules"), &rules);
    if (!base_dir || (!sub_dir && !base_only) || !test_file || !synth_file || seq_len <= 0 ||
        tn_data_spec_from_json(json_object_get(job, "dataset_type"), "job dataset_type", &spec)) {
        json_decref(job);
        return tn_fail("%s: incomplete job (%s)", job_path, tn_errmsg());
    }
    tn_model base, sub;
    int have_base = 0, have_sub = 0, rc = -1;
    memset(&base, 0, sizeof base);
    tn_check_result cr;
    memset(&cr, 0, sizeof cr);
    tn_tokenizer *tok = NULL;
    json_t *res = json_object();
    void **hook = base_only ? NULL : test_hook_alloc();
    if (!(tok = tn_tok_load(base_dir))) goto out_base;
    tn_model *scored = &base;
    if (!base_only) {
        /* The checks stream both checkpoints (judge/weightpass.h); the model
         * scored is loaded afterwards, frozen (its bf16 matrices stay mapped),
         * so no fp32 copy of the whole base exists unless an adapter is merged.
         * Anything wrong with the submission's files is a verdict, not a crash. */
        if (tn_check(base_dir, sub_dir, NULL, 0, &rules, &cr)) {
            if (!cr.submission_error) goto out_base;
            json_object_set_new(res, "verdict", json_string("invalid"));
            json_object_set_new(res, "reason", json_string(tn_errmsg()));
            rc = 0;
            goto write;
        }
        int is_adapter = cr.is_adapter;
        char hex[65];
        tn_sha256_hex(cr.fp.sha256, hex);
        json_t *sk = json_array();
        for (int i = 0; i < cr.fp.k; i++) json_array_append_new(sk, json_real(cr.fp.sketch[i]));
        json_object_set_new(res, "verdict", json_string(tn_verdict_name(cr.verdict)));
        json_object_set_new(res, "reason", json_string(cr.reason));
        json_object_set_new(res, "is_adapter", json_boolean(is_adapter));
        json_object_set_new(res, "sha256", json_string(hex));
        /* "": the rounding erased the fine-tune, the hash is the base's (provenance.h) */
        tn_sha256_hex(cr.fp.sha256_bf16, hex);
        json_object_set_new(res, "sha256_bf16", json_string(cr.fp.rounded & TN_FP_BF16 ? hex : ""));
        tn_sha256_hex(cr.fp.sha256_f16, hex);
        json_object_set_new(res, "sha256_f16", json_string(cr.fp.rounded & TN_FP_F16 ? hex : ""));
        json_object_set_new(res, "sketch", sk);
        json_object_set_new(res, "sketch_block", json_integer(cr.fp.block));
        json_object_set_new(res, "provenance",
                            json_pack("{s:f, s:f, s:f, s:f, s:i, s:i}", "min_cosine", cr.prov.min_cosine,
                                      "max_rel_distance", cr.prov.max_rel_distance, "median_rel_distance",
                                      cr.prov.median_rel_distance, "global_cosine", cr.prov.global_cosine,
                                      "n_tensors", cr.prov.n_tensors, "n_changed", cr.prov.n_changed));
        if (cr.verdict != TN_VERDICT_FINE_TUNE) {
            rc = 0;
            goto write;
        }
        if (is_adapter) { /* merged into an fp32 copy of the base */
            if (tn_model_load(&base, base_dir, 1)) goto out_base;
            have_base = 1;
            if (tn_load_submission(&base, sub_dir, &sub, &is_adapter)) goto out_base;
        } else if (tn_model_load_frozen(&sub, sub_dir, 1)) {
            goto out_base;
        }
        have_sub = 1;
        scored = &sub;
    } else {
        if (tn_model_load_frozen(&base, base_dir, 1)) goto out_base;
        have_base = 1;
        json_object_set_new(res, "verdict", json_string("base"));
    }
    if (eval_file(scored, tok, test_file, &spec, seq_len, "test", res) ||
        eval_file(scored, tok, synth_file, &spec, seq_len, "synth", res))
        goto out_base;
    rc = 0;
write:
    json_object_set_new(res, "seconds", json_real(tn_now() - t0));
    test_hook_sleep();
    if (rc == 0) rc = tn_json_save_file(res, result_path);
out_base:
    if (have_sub) tn_model_free(&sub);
    tn_check_result_free(&cr);
    if (tok) tn_tok_free(tok);
    if (have_base) tn_model_free(&base);
    test_hook_free(hook);
    json_decref(res);
    json_decref(job);
    return rc;
}

/* ---- the parent's side ----------------------------------------------------- */

extern char **environ;

/* This process's environment with OMP_NUM_THREADS=threads and
 * OPENBLAS_NUM_THREADS=1 (BLAS runs inside the OpenMP regions): the array is
 * heap, its two new strings are in own[0..1]. */
static char **env_with_threads(int threads, char *own[2]) {
    size_t n = 0, k = 0;
    while (environ[n]) n++;
    char **env = tn_calloc(n + 3, sizeof *env);
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "OMP_NUM_THREADS=", 16) && strncmp(environ[i], "OPENBLAS_NUM_THREADS=", 21))
            env[k++] = environ[i];
    env[k++] = own[0] = tn_sprintf("OMP_NUM_THREADS=%d", threads);
    env[k++] = own[1] = tn_strdup("OPENBLAS_NUM_THREADS=1");
    return env;
}

/* Whether pid is an `eval-submission` of job_path (its command line), so
 * that a pid read from a lock file is never trusted blindly. */
static int is_evaluator_of(pid_t pid, const char *job_path) {
    char path[64], cmd[8192];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC); /* (a /proc file has no size to read by) */
    ssize_t n = fd >= 0 ? read(fd, cmd, sizeof cmd - 1) : -1;
    if (fd >= 0) close(fd);
    if (n <= 0) return 0;
    cmd[n] = 0;
    int eval = 0, job = 0;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(cmd + i) + 1) {
        eval |= !strcmp(cmd + i, "eval-submission");
        job |= !strcmp(cmd + i, job_path);
    }
    return eval && job;
}

/* Takes the job's lock (evaljob.h) into *fd. An earlier child that still
 * holds it (its validator was killed, and the parent-death signal has not
 * ended it yet, or could not) is killed when the lock file names it, and
 * waited for up to 10 s. 0, or -1 with the error set. */
static int take_job_lock(const char *lock_path, const char *job_path, atomic_int *stop, int *fd) {
    int f = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) return tn_fail_errno("%s", lock_path);
    double t0 = tn_now();
    int killed = 0;
    for (;;) {
        if (flock(f, LOCK_EX | LOCK_NB) == 0) break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            tn_fail_errno("%s: flock", lock_path);
            close(f);
            return -1;
        }
        char buf[32] = {0};
        long pid = pread(f, buf, sizeof buf - 1, 0) > 0 ? strtol(buf, NULL, 10) : 0;
        if (!killed && pid > 1 && is_evaluator_of((pid_t)pid, job_path)) {
            tn_warn("evaluation: killing evaluator %ld, left running by an earlier validator on %s", pid, job_path);
            kill((pid_t)pid, SIGKILL);
            killed = 1;
        }
        if ((stop && atomic_load(stop)) || tn_now() - t0 > 10) {
            close(f);
            return tn_fail("another evaluator (pid %ld) still holds %s", pid, lock_path);
        }
        usleep(50 * 1000);
    }
    *fd = f;
    return 0;
}

/* The last non-empty line of the child's stderr log (heap), or NULL. */
static char *last_line(const char *errlog) {
    char *log = tn_read_file(errlog, NULL);
    if (!log) {
        tn_err_clear();
        return NULL;
    }
    size_t n = strlen(log);
    while (n > 0 && log[n - 1] == '\n') log[--n] = 0;
    char *nl = strrchr(log, '\n');
    char *line = tn_strdup(nl ? nl + 1 : log);
    free(log);
    return line;
}

/* Bytes of the regular files in dir (the checkpoint and tokenizer: what the
 * child maps). */
static double dir_bytes(const char *dir) {
    double n = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *p = tn_path_join(dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) n += (double)st.st_size;
        free(p);
    }
    closedir(d);
    return n;
}

/* TN_EVAL_MEM_AUTO: the child's limits from the memory model (model/memmodel.h)
 * for this job's base: the larger of the streamed check (two models side by
 * side) and the evaluation of the frozen model at batch 4 x seq_len, or an
 * fp32 base plus the merged copy for an adapter; a quarter and 256 MiB more
 * for what the model does not count. The address space adds the mapped
 * files, thread stacks and malloc's per-thread arenas. */
static int job_mem_limits(const json_t *job, int threads, long *rss_mb, long *as_mb) {
    const char *base_dir = json_string_value(json_object_get(job, "base_dir"));
    const char *sub_dir = json_string_value(json_object_get(job, "submission_dir"));
    int seq_len = (int)json_integer_value(json_object_get(job, "seq_len"));
    tn_config c;
    if (!base_dir || tn_config_load(&c, base_dir)) return tn_err_prefix("evaluation memory limit");
    /* bf16 checkpoints stay bf16 in memory; anything else becomes fp32 */
    tn_st_set set;
    int wb = 2;
    if (tn_st_set_open_dir(&set, base_dir)) {
        tn_config_free(&c);
        return tn_err_prefix("evaluation memory limit");
    }
    for (int i = 0; i < set.n; i++)
        if (set.tensors[i]->ndim == 2 && set.tensors[i]->dtype != TN_DT_BF16) wb = 4;
    tn_st_set_close(&set);
    char *acfg = sub_dir ? tn_path_join(sub_dir, "adapter_config.json") : NULL;
    int adapter = acfg && tn_file_exists(acfg);
    free(acfg);
    tn_mem_req r = {.job = TN_MEM_EVAL, .weight_bytes = adapter ? 4 : wb, .batch = 4,
                    .seq_len = seq_len > 0 ? seq_len : 1, .threads = threads > 0 ? threads : 1};
    tn_mem_estimate ev, ck;
    int rc = tn_mem_estimate_config(&c, &r, &ev);
    r.job = TN_MEM_CHECK;
    r.weight_bytes = wb;
    if (!rc) rc = tn_mem_estimate_config(&c, &r, &ck);
    tn_config_free(&c);
    if (rc) return tn_err_prefix("evaluation memory limit");
    double need = ev.total > ck.total ? ev.total : ck.total;
    if (adapter) need += ev.weights; /* the merged copy beside the base */
    double rss = need * 1.25 + 256.0 * 1048576;
    double mapped = dir_bytes(base_dir) + (sub_dir ? dir_bytes(sub_dir) : 0);
    double as = rss + mapped + (double)(threads > 0 ? threads : 1) * (72.0 * 1048576) + 2048.0 * 1048576;
    *rss_mb = (long)(rss / 1048576) + 1;
    *as_mb = (long)(as / 1048576) + 1;
    return 0;
}

int tn_evaljob_spawn(const json_t *job, const char *job_path, const char *result_path, const tn_evaljob_limits *lim,
                     json_t **result) {
    *result = NULL;
    char *lock_path = tn_sprintf("%s.lock", result_path);
    char *errlog = tn_sprintf("%s.stderr", result_path);
    int lock = -1, rc = -1;
    char *own[2] = {NULL, NULL}, **env = NULL;
    /* the lock before anything of the job is touched: an earlier child may
     * still be writing it */
    if (take_job_lock(lock_path, job_path, lim->stop, &lock) || tn_json_save_file(job, job_path)) goto out;
    unlink(result_path);
    long mem_mb = lim->mem_mb, as_mb = lim->mem_mb;
    if (mem_mb == TN_EVAL_MEM_AUTO && job_mem_limits(job, lim->threads, &mem_mb, &as_mb)) goto out;
    char *bin = (char *)(lim->tuna ? lim->tuna : "/proc/self/exe");
    char *argv[] = {bin, "eval-submission", "--job", (char *)job_path, "--out", (char *)result_path, NULL};
    /* stderr to a fresh log; the lock stays with the child; it dies with
     * this thread (which waits for it below) and leads its own group */
    tn_spawn_opts o = {.err_path = errlog, .truncate = 1, .keep_fd = lock, .death_signal = SIGKILL,
                       .new_pgroup = 1, .reset_signals = 1};
    if (lim->threads > 0) o.envp = env = env_with_threads(lim->threads, own);
#if !defined(__SANITIZE_ADDRESS__)
    /* (sanitizer builds reserve terabytes of shadow address space at start:
     * an address-space limit would stop the child before main; there the
     * watch below is the memory limit) */
    if (as_mb > 0)
        o.rlimits[o.n_rlimits++] = (tn_spawn_rlimit){RLIMIT_AS, (unsigned long long)as_mb << 20,
                                                     (unsigned long long)as_mb << 20};
#endif
    if (lim->cpu_s > 0)
        o.rlimits[o.n_rlimits++] = (tn_spawn_rlimit){RLIMIT_CPU, (unsigned long long)lim->cpu_s,
                                                     (unsigned long long)lim->cpu_s + 5};
    o.rlimits[o.n_rlimits++] = (tn_spawn_rlimit){RLIMIT_CORE, 0, 0};
    pid_t pid;
    if (ftruncate(lock, 0)) {
        tn_fail_errno("%s", lock_path);
        goto out;
    }
    if (tn_spawn(argv, &o, &pid)) goto out;
    /* the holder, for a restarted validator (take_job_lock); a failure to
     * say so only costs that validator a longer wait */
    char spid[32];
    int len = snprintf(spid, sizeof spid, "%d\n", (int)pid);
    if (pwrite(lock, spid, (size_t)len, 0) != len) tn_warn("%s: cannot record the evaluator's pid", lock_path);
    tn_spawn_watch w = {.stop = lim->stop, .timeout_s = lim->wall_s, .sig = SIGKILL, .max_rss_mb = mem_mb};
    tn_spawn_end end;
    if (tn_spawn_supervise(pid, &w, &end)) goto out;
    char *why = end.code != 0 ? last_line(errlog) : NULL;
    rc = 1;
    if (end.stopped) {
        rc = tn_fail("the validator is stopping");
    } else if (end.timed_out) {
        tn_fail("killed after the %.0f s wall-clock limit", lim->wall_s);
    } else if (end.over_memory) {
        tn_fail("killed over the %ld MiB memory limit (peak %ld MiB resident)", mem_mb, end.peak_rss_mb);
    } else if (end.signal == SIGKILL) {
        /* RLIMIT_CPU's hard limit would send it too, but only after a
         * SIGXCPU that ends the child first (its default action) */
        rc = 2;
        tn_fail("the evaluator was killed (SIGKILL) by none of its limits: the kernel out of memory, or an "
                "operator%s%s", why ? ": " : "", why ? why : "");
    } else if (end.signal) {
        tn_fail("the evaluator died of signal %d%s%s%s", end.signal,
                end.signal == SIGXCPU   ? " (CPU-time limit)"
                                        : "",
                why ? ": " : "", why ? why : "");
    } else if (end.code == TN_SPAWN_EXEC_FAILED && why && !strncmp(why, "tuna: cannot execute", 20)) {
        /* the evaluator never ran (its binary missing or replaced during an
         * upgrade): the validator's trouble, tried again (evalpool.h). tuna
         * itself never exits 127, and the submission cannot write the
         * child's stderr before exec */
        rc = tn_fail("the evaluator could not be started: %s", why);
    } else if (end.code != 0) {
        /* the child's last line says why (e.g. out of memory under the limit) */
        tn_fail("the evaluator failed (status %d): %s", end.code, why ? why : "no message");
    } else {
        rc = (*result = tn_json_load_file(result_path)) ? 0 : 1;
    }
    free(why);
out:
    if (rc) tn_err_prefix("evaluation");
    /* released once the child is gone too (it held the same open file) */
    if (lock >= 0) close(lock);
    free(env);
    free(own[0]);
    free(own[1]);
    free(lock_path);
    free(errlog);
    return rc;
}
