/* test_evalpool.c - validator/evalpool: the retry of an evaluator that could
 * not be started.
 *
 *   spawn_failure_then_retry  the evaluator binary is missing at the first
 *       attempt (exec fails: the child's "cannot execute" reaches the job's
 *       stderr log); the test then puts a stand-in evaluator in its place
 *       (a shell script that writes a result, as `tuna eval-submission --job
 *       J --out R` would). The pool runs the job again after its pause and
 *       it succeeds: rc 0, the stand-in's result, 2 attempts, the wall-clock
 *       span covering the pause.
 *   spawn_failure_bounded  the binary never appears: after 1 + retries
 *       attempts the job ends with -1 (the validator's reason, nothing is
 *       recorded against the submission) and the exec error.
 * The whole validator's retry of a killed evaluator is in
 * test_validator_crash.c (parallel_and_retry). */
#include "harness.h"
#include "validator/evalpool.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Waits for the job to end: 2 and *d filled, or 1 after `limit_s`. */
static int wait_done(tn_evalpool *p, const char *result, tn_evalpool_done *d, double limit_s) {
    double t0 = tn_now();
    int st;
    while ((st = tn_evalpool_collect(p, result, d)) == 1 && tn_now() - t0 < limit_s) usleep(20000);
    return st;
}

TEST(spawn_failure_then_retry) {
    char *bin = tn_sprintf("%s/pool-evaluator", tn_t_tmpdir());
    char *job_path = tn_sprintf("%s/pool1.job", tn_t_tmpdir());
    char *result = tn_sprintf("%s/pool1.result.json", tn_t_tmpdir());
    char *errlog = tn_sprintf("%s.stderr", result);
    unlink(bin);
    unlink(errlog);
    tn_evalpool *p = tn_evalpool_new();
    tn_evaljob_limits lim = {.wall_s = 60, .tuna = bin};
    json_t *job = json_pack("{s:s}", "what", "a job");
    double t0 = tn_now();
    CHECK(tn_evalpool_submit(p, job, job_path, result, &lim, 2, 1) == 0);
    /* the first attempt's exec failed (its child says so in the log) */
    char *text = NULL;
    while (tn_now() - t0 < 30) {
        free(text);
        text = tn_read_file(errlog, NULL);
        if (text && strstr(text, "cannot execute")) break;
        usleep(10000);
    }
    CHECKF(text && strstr(text, "cannot execute"), "no exec failure in %s: %s", errlog, text ? text : "(none)");
    free(text);
    /* now the evaluator can be spawned: a stand-in, written whole and then
     * renamed into place (never a half-written executable) */
    char *tmp = tn_sprintf("%s.tmp", bin);
    const char *script = "#!/bin/sh\n# stand-in for: tuna eval-submission --job J --out R\n"
                         "printf '{\"evaluated\": \"%s\"}\\n' \"$3\" > \"$5\"\n";
    CHECK(tn_write_file_atomic(tmp, script, strlen(script)) == 0 && chmod(tmp, 0755) == 0 && rename(tmp, bin) == 0);
    free(tmp);
    tn_evalpool_done d;
    memset(&d, 0, sizeof d);
    CHECK(wait_done(p, result, &d, 60) == 2);
    CHECKF(d.rc == 0, "rc %d: %s", d.rc, d.why);
    CHECKF(d.attempts == 2, "attempts %d", d.attempts);
    const char *ev = json_string_value(json_object_get(d.result, "evaluated"));
    CHECKF(ev && !strcmp(ev, job_path), "the stand-in's result: %s", ev ? ev : "(none)");
    /* the job file the retry ran with is the job */
    json_t *written = json_load_file(job_path, 0, NULL);
    CHECK(written && json_equal(written, job));
    json_decref(written);
    /* first attempt to last, across the pool's pause of 1 s between them */
    CHECKF(d.ended_ms - d.started_ms >= 1000, "span %lld ms", (long long)(d.ended_ms - d.started_ms));
    CHECK(tn_evalpool_collect(p, result, &d) == 0); /* collected: forgotten */
    json_decref(d.result);
    json_decref(job);
    tn_evalpool_free(p);
    free(bin);
    free(job_path);
    free(result);
    free(errlog);
}

TEST(spawn_failure_bounded) {
    char *bin = tn_sprintf("%s/pool-missing-evaluator", tn_t_tmpdir());
    char *job_path = tn_sprintf("%s/pool2.job", tn_t_tmpdir());
    char *result = tn_sprintf("%s/pool2.result.json", tn_t_tmpdir());
    unlink(bin);
    tn_evalpool *p = tn_evalpool_new();
    tn_evaljob_limits lim = {.wall_s = 60, .tuna = bin};
    json_t *job = json_pack("{s:s}", "what", "another job");
    CHECK(tn_evalpool_submit(p, job, job_path, result, &lim, 1, 1) == 0);
    tn_evalpool_done d;
    memset(&d, 0, sizeof d);
    CHECK(wait_done(p, result, &d, 60) == 2);
    CHECKF(d.rc == -1 && d.attempts == 2 && d.result == NULL, "rc %d, attempts %d", d.rc, d.attempts);
    CHECKF(strstr(d.why, "evaluation"), "why: %s", d.why);
    json_decref(job);
    tn_evalpool_free(p);
    free(bin);
    free(job_path);
    free(result);
}

int main(void) {
    RUN(spawn_failure_then_retry);
    RUN(spawn_failure_bounded);
    return tn_test_summary("test_evalpool");
}
