/* harness.h - a tiny test harness: one program per module.
 *
 *   TEST(name) { CHECK(cond); CHECK_NEAR(a, b, rtol, atol); ... }
 *   int main(void) { RUN(name); ...; return tn_test_summary("module"); }
 *
 * Each test prints "ok - name" or "FAIL - name" with the failing checks; the
 * program prints "module: N passed, N failed, N skipped" and exits non-zero on
 * any failure. tests/run adds the programs' counts up.
 * A test that needs ../shared/data calls SKIP("why") when it is missing.
 */
#ifndef TN_HARNESS_H
#define TN_HARNESS_H

#include "net/http_server.h"
#include "net/keys.h"
#include "net/sign.h"

#include <jansson.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int tn_t_failed_checks;
extern int tn_t_skipped;
extern char tn_t_skip_reason[512];
extern int tn_t_pass, tn_t_fail, tn_t_skip;

#define TEST(name) static void test_##name(void)

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            tn_t_failed_checks++;                                                    \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

/* CHECK with a printf-style explanation. */
#define CHECKF(cond, ...)                                                            \
    do {                                                                             \
        if (!(cond)) {                                                               \
            tn_t_failed_checks++;                                                    \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fprintf(stderr, "\n");                                                   \
        }                                                                            \
    } while (0)

/* |a-b| <= atol + rtol*|b|  (b is the reference) */
#define CHECK_NEAR(a, b, rtol, atol)                                                   \
    do {                                                                               \
        double tn_a_ = (a), tn_b_ = (b);                                               \
        if (!(fabs(tn_a_ - tn_b_) <= (atol) + (rtol)*fabs(tn_b_))) {                   \
            tn_t_failed_checks++;                                                      \
            fprintf(stderr, "  %s:%d: %s = %.9g, expected %s = %.9g\n", __FILE__,       \
                    __LINE__, #a, tn_a_, #b, tn_b_);                                   \
        }                                                                              \
    } while (0)

/* Asserts that a call returned -1 and that the error message contains `needle`. */
#define CHECK_ERR(call, needle)                                                        \
    do {                                                                               \
        int tn_rc_ = (call);                                                           \
        const char *tn_m_ = tn_errmsg();                                               \
        if (tn_rc_ != -1 || !strstr(tn_m_, (needle))) {                                \
            tn_t_failed_checks++;                                                      \
            fprintf(stderr, "  %s:%d: %s: rc=%d, error \"%s\" does not contain \"%s\"\n", \
                    __FILE__, __LINE__, #call, tn_rc_, tn_m_, (needle));               \
        }                                                                              \
    } while (0)

#define SKIP(...)                                                                    \
    do {                                                                             \
        tn_t_skipped = 1;                                                            \
        snprintf(tn_t_skip_reason, sizeof tn_t_skip_reason, __VA_ARGS__);            \
        return;                                                                      \
    } while (0)

#define RUN(name) tn_t_run(#name, test_##name)

void tn_t_run(const char *name, void (*fn)(void));
int tn_test_summary(const char *module);
/* Path to ../shared/data (or $TUNA_SHARED_DATA), or NULL when missing. */
const char *tn_t_shared_data(void);
/* A fresh temporary directory for this test program (removed at exit unless
 * TUNA_KEEP_TMP is set). */
const char *tn_t_tmpdir(void);

/* Elementwise agreement of a with the reference b relative to the reference
 * tensor's largest magnitude: max |a-b| / max |b| <= rtol. NaN fails. Prints
 * the worst element when it fails. Returns 1 when they agree. */
int tn_t_allclose(const char *what, const float *a, const float *b, size_t n, double rtol);

/* ---- processes: the tuna binary and a validator under test ------------- */

/* The tuna binary under test: $TUNA_BIN, else build/tuna. */
const char *tn_t_tuna(void);

/* `tuna convert` of ../shared/data's stories260K (with its tokenizer) into
 * out_dir, stderr to out_dir.log. 0, or -1 (with a message on stderr). */
int tn_t_stories260k(const char *out_dir);
/* A copy of the model directory src (config.json + model.safetensors) in dst
 * with every 2-D tensor stored as BF16 (tools/st.py, /usr/bin/python3); a
 * dst that already has its safetensors is kept. 0 on success. */
int tn_t_bf16_model(const char *src, const char *dst);

/* The first n rows of ../shared/data's alpaca_en_demo.json as JSONL at
 * path (a task's dataset). 0, or -1. */
int tn_t_alpaca_jsonl(const char *path, size_t n);

/* A `tuna validator` started by a test. */
typedef struct {
    int pid;             /* > 0 while it runs */
    char url[256];       /* its API, from DATA_DIR/validator.json */
    char public_key[65]; /* the key it signs offers with */
} tn_t_validator;

/* Starts `tuna validator --data-dir data_dir ARGS...` (args NULL-terminated)
 * with stderr appended to log_path (base/spawn.h), and waits up to wait_s for
 * data_dir/validator.json to name its pid. 0 with v filled, or -1 (the
 * process, if any, is killed). */
int tn_t_validator_start(tn_t_validator *v, const char *data_dir, const char *log_path, char *const args[],
                         double wait_s);
/* Sends sig (SIGTERM: a clean stop; SIGKILL: a crash) and reaps it. The
 * shell's exit code: the status, or 128 + the signal. */
int tn_t_validator_stop(tn_t_validator *v, int sig);

/* A stand-in miner's server: POST /task_offer and POST /start_training,
 * both signed by validator_pub, answered by the test's own handlers (ud is
 * passed to both). 0, or -1 with the error set. */
/* GET base_url + path: its JSON body when the reply is 200, else NULL. */
json_t *tn_t_get_json(const char *base_url, const char *path);
/* POST base_url + path with a JSON body (taken over) signed by key; the
 * reply's status (a failure above 299 is printed with the reply's body). */
long tn_t_post_signed(const tn_keypair *key, const char *base_url, const char *path, json_t *body);

/* A stand-in miner's offer handler that accepts every offer. */
void tn_t_accept_offer(tn_http_req *r, void *ud);
int tn_t_stub_miner_start(tn_http_server **srv, tn_verifier **ver, const char *validator_pub, tn_http_handler offer,
                          tn_http_handler start, void *ud);

/* ---- helpers of the tests that run `tuna worker` (test_worker.c,
 * test_validator_workers.c) ---------------------------------------------- */

/* `[PREFIX...] tuna ARGS...` (both NULL-terminated; prefix may be NULL, e.g.
 * {"ip", "netns", "exec", NS, NULL}) with stdout and stderr to log
 * (truncated); TUNA_TEST_EVAL_SLEEP_S=sleep_s in its environment when not
 * NULL (evaljob.h). Its pid, or -1. */
int tn_t_spawn_tuna(char *const prefix[], char *const args[], const char *log, const char *sleep_s);
/* Occurrences of needle in the file (0 when it cannot be read). */
int tn_t_count_in_file(const char *path, const char *needle);
/* Waits up to limit_s for needle in the log of process pid: 1 seen, 0 not
 * (or the process exited). */
int tn_t_wait_log(int pid, const char *log, const char *needle, double limit_s);
/* A fine-tune stand-in: every weight of the model in base moved by up to
 * +-1e-3 (seeded, base/rng), saved in dst. 0 or -1. */
int tn_t_perturb(const char *base, const char *dst, uint64_t seed);
/* Rows [from, to) of a dataset file (data/rows.h formats) as JSONL in dst. 0 or -1. */
int tn_t_write_rows(const char *src, const char *dst, size_t from, size_t to);
/* Running `tuna eval-submission` processes whose command line mentions dir. */
int tn_t_evaluators_under(const char *dir);
/* A stand-in miner's POST /start_training handler: records the upload URL
 * in ud (a tn_t_started) and answers 202. */
typedef struct {
    char upload_url[512];
    volatile int started;
} tn_t_started;
void tn_t_record_start(tn_http_req *r, void *ud);
/* A stand-in miner's upload: config.json and model.safetensors of dir PUT
 * to upload_url/files/NAME, then upload_url/complete (kind full), signed by
 * key. 0, or -1. */
int tn_t_upload_model(const tn_keypair *key, const char *upload_url, const char *dir);

#endif
