/* harness.c - see harness.h. */
#include "harness.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "base/spawn.h"
#include "net/http_client.h"

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

int tn_t_failed_checks;
int tn_t_skipped;
char tn_t_skip_reason[512];
int tn_t_pass, tn_t_fail, tn_t_skip;
static char g_tmp[256];

void tn_t_run(const char *name, void (*fn)(void)) {
    tn_t_failed_checks = 0;
    tn_t_skipped = 0;
    tn_err_clear();
    fn();
    if (tn_t_failed_checks) {
        printf("FAIL - %s (%d checks failed)\n", name, tn_t_failed_checks);
        tn_t_fail++;
    } else if (tn_t_skipped) {
        printf("skip - %s: %s\n", name, tn_t_skip_reason);
        tn_t_skip++;
    } else {
        printf("ok - %s\n", name);
        tn_t_pass++;
    }
    fflush(stdout);
}

static void cleanup_tmp(void) {
    if (g_tmp[0] && !getenv("TUNA_KEEP_TMP")) tn_rm_rf(g_tmp);
}

const char *tn_t_tmpdir(void) {
    if (!g_tmp[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(g_tmp, sizeof g_tmp, "%s/tuna-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(g_tmp)) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(cleanup_tmp);
    }
    return g_tmp;
}

const char *tn_t_shared_data(void) {
    const char *env = getenv("TUNA_SHARED_DATA");
    const char *p = env ? env : "../shared/data";
    return tn_dir_exists(p) ? p : NULL;
}

int tn_test_summary(const char *module) {
    printf("%s: %d passed, %d failed, %d skipped\n", module, tn_t_pass, tn_t_fail, tn_t_skip);
    return tn_t_fail ? 1 : 0;
}

int tn_t_allclose(const char *what, const float *a, const float *b, size_t n, double rtol) {
    double scale = 0.0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    if (scale == 0.0) scale = 1.0;
    double worst = 0.0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / scale;
        if (!(e <= worst)) { /* also true for NaN */
            worst = isnan(e) ? INFINITY : e;
            wi = i;
        }
    }
    if (worst > rtol) {
        fprintf(stderr, "  %s: worst relative error %.3g at [%zu]: got %.9g, expected %.9g (scale %.3g)\n", what,
                worst, wi, a[wi], b[wi], scale);
        return 0;
    }
    return 1;
}

const char *tn_t_tuna(void) {
    const char *b = getenv("TUNA_BIN");
    return b && *b ? b : "build/tuna";
}

int tn_t_validator_start(tn_t_validator *v, const char *data_dir, const char *log_path, char *const args[],
                         double wait_s) {
    memset(v, 0, sizeof *v);
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)tn_t_tuna();
    argv[n++] = "validator";
    argv[n++] = "--data-dir";
    argv[n++] = (char *)data_dir;
    for (int i = 0; args && args[i] && n < 63; i++) argv[n++] = args[i];
    argv[n] = NULL;
    tn_spawn_opts so = {.err_path = log_path, .truncate = 0};
    pid_t pid;
    if (tn_spawn(argv, &so, &pid)) {
        fprintf(stderr, "  cannot start the validator: %s\n", tn_errmsg());
        return -1;
    }
    v->pid = (int)pid;
    char *info = tn_path_join(data_dir, "validator.json");
    for (int i = 0; i < (int)(wait_s * 10); i++) {
        json_t *j = tn_file_exists(info) ? json_load_file(info, 0, NULL) : NULL;
        if (j && json_integer_value(json_object_get(j, "pid")) == pid) {
            snprintf(v->url, sizeof v->url, "%s", json_string_value(json_object_get(j, "url")));
            snprintf(v->public_key, sizeof v->public_key, "%s", json_string_value(json_object_get(j, "public_key")));
            json_decref(j);
            free(info);
            return 0;
        }
        json_decref(j);
        if (tn_spawn_poll(pid, NULL) == 0) { /* it died (and is reaped): see the log */
            v->pid = 0;
            break;
        }
        usleep(100000);
    }
    free(info);
    fprintf(stderr, "  the validator did not come up within %.0f s (log: %s)\n", wait_s, log_path);
    tn_t_validator_stop(v, SIGKILL);
    return -1;
}

int tn_t_validator_stop(tn_t_validator *v, int sig) {
    if (v->pid <= 0) return -1;
    kill((pid_t)v->pid, sig);
    tn_spawn_end end;
    int rc = tn_spawn_wait((pid_t)v->pid, &end);
    v->pid = 0;
    return rc ? -1 : tn_spawn_end_code(&end);
}

int tn_t_stub_miner_start(tn_http_server **srv, tn_verifier **ver, const char *validator_pub, tn_http_handler offer,
                          tn_http_handler start, void *ud) {
    *ver = tn_verifier_new(300, 1024);
    if (!*ver || tn_verifier_allow(*ver, validator_pub)) return -1;
    tn_http_server_opts so = {.verifier = *ver, .no_not_before = 1};
    *srv = tn_http_server_new(&so);
    tn_http_route r1 = {"POST", "/task_offer", TN_ROUTE_EXACT | TN_ROUTE_SIGNED, 0, NULL, offer, ud};
    tn_http_route r2 = {"POST", "/start_training", TN_ROUTE_EXACT | TN_ROUTE_SIGNED, 0, NULL, start, ud};
    return tn_http_server_route(*srv, &r1) || tn_http_server_route(*srv, &r2) || tn_http_server_start(*srv);
}

json_t *tn_t_get_json(const char *base_url, const char *path) {
    char *url = tn_sprintf("%s%s", base_url, path);
    tn_http_opts o = {0};
    tn_http_resp r;
    memset(&r, 0, sizeof r);
    json_t *j = NULL;
    if (tn_http_request(&o, "GET", url, NULL, NULL, 0, &r) == 0 && r.status == 200) j = json_incref(r.json);
    tn_http_resp_free(&r);
    free(url);
    return j;
}

long tn_t_post_signed(const tn_keypair *key, const char *base_url, const char *path, json_t *body) {
    char *url = tn_sprintf("%s%s", base_url, path);
    tn_http_opts o = {0};
    o.key = key;
    o.timeout_ms = 60000;
    tn_http_resp r;
    memset(&r, 0, sizeof r);
    tn_http_json(&o, "POST", url, body, &r);
    long st = r.status;
    if (st >= 300) fprintf(stderr, "  POST %s: %ld %s\n", path, st, r.body ? r.body : "");
    tn_http_resp_free(&r);
    json_decref(body);
    free(url);
    return st;
}

void tn_t_accept_offer(tn_http_req *r, void *ud) {
    (void)ud;
    tn_http_reply_json(r, 200, json_pack("{s:b, s:s}", "accepted", 1, "message", "ok"));
}

int tn_t_stories260k(const char *out_dir) {
    const char *data = tn_t_shared_data();
    if (!data) return -1;
    char *tok = tn_sprintf("%s/models/stories260K/tok512.bin", data);
    char *bin = tn_sprintf("%s/models/stories260K/stories260K.bin", data);
    char *log = tn_sprintf("%s.log", out_dir);
    char *argv[] = {(char *)tn_t_tuna(), "convert", "--from", "llama2c", "--tokenizer", tok, "--out", (char *)out_dir,
                    bin, NULL};
    tn_spawn_opts so = {.out_path = log, .err_path = log, .truncate = 1};
    tn_spawn_end end = {.code = -1};
    pid_t pid;
    int rc = tn_spawn(argv, &so, &pid) == 0 && tn_spawn_wait(pid, &end) == 0 && end.code == 0 ? 0 : -1;
    if (rc) fprintf(stderr, "  tuna convert of stories260K into %s failed (see %s)\n", out_dir, log);
    free(tok);
    free(bin);
    free(log);
    return rc;
}

int tn_t_bf16_model(const char *src, const char *dst) {
    char *cmd = tn_sprintf("test -f %s/model.safetensors || { mkdir -p %s && cp %s/config.json %s/ && "
                           "/usr/bin/python3 -c \"import sys; sys.path.insert(0, 'tools'); import st; "
                           "t, _ = st.load('%s/model.safetensors'); st.save('%s/model.safetensors', t, "
                           "dtypes={n: 'BF16' for n, a in t.items() if a.ndim == 2})\"; }",
                           dst, dst, src, dst, src, dst);
    int rc = system(cmd) == 0 ? 0 : -1;
    if (rc) fprintf(stderr, "  failed: %s\n", cmd);
    free(cmd);
    return rc;
}
