/* harness.c - see harness.h. */
#include "harness.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "base/clock.h"
#include "base/rng.h"
#include "base/spawn.h"
#include "data/rows.h"
#include "model/model.h"
#include "net/http_client.h"

#include <jansson.h>
#include <dirent.h>
#include <fcntl.h>
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

int tn_t_spawn_tuna(char *const prefix[], char *const args[], const char *log, const char *sleep_s) {
    char *argv[48];
    int n = 0;
    for (int i = 0; prefix && prefix[i] && n < 8; i++) argv[n++] = prefix[i];
    argv[n++] = (char *)tn_t_tuna();
    for (int i = 0; args[i] && n < 47; i++) argv[n++] = args[i];
    argv[n] = NULL;
    if (sleep_s) setenv("TUNA_TEST_EVAL_SLEEP_S", sleep_s, 1);
    tn_spawn_opts o = {.err_path = log, .out_path = log, .truncate = 1};
    pid_t pid = -1;
    if (tn_spawn(argv, &o, &pid)) pid = -1;
    if (sleep_s) unsetenv("TUNA_TEST_EVAL_SLEEP_S");
    return (int)pid;
}

int tn_t_count_in_file(const char *path, const char *needle) {
    char *text = tn_read_file(path, NULL);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
    free(text);
    tn_err_clear();
    return n;
}

int tn_t_wait_log(int pid, const char *log, const char *needle, double limit_s) {
    double t0 = tn_now();
    while (tn_now() - t0 < limit_s) {
        if (tn_t_count_in_file(log, needle) > 0) return 1;
        if (tn_spawn_poll((pid_t)pid, NULL) != 1) return 0;
        usleep(50000);
    }
    return 0;
}

int tn_t_perturb(const char *base, const char *dst, uint64_t seed) {
    tn_model m;
    if (tn_model_load(&m, base, 0)) return -1;
    tn_rng r;
    tn_rng_seed(&r, seed);
    for (size_t i = 0; i < m.numel; i++) m.w[i] += (float)(2e-3 * (tn_rng_uniform(&r) - 0.5));
    int rc = tn_mkdir_p(dst) || tn_model_save(&m, dst, base) ? -1 : 0;
    tn_model_free(&m);
    return rc;
}

int tn_t_upload_model(const tn_keypair *key, const char *upload_url, const char *dir) {
    static const char *names[] = {"config.json", "model.safetensors"};
    tn_http_opts o = {0};
    o.key = key;
    o.timeout_ms = 60000;
    json_t *files = json_object();
    int ok = 1;
    for (int i = 0; i < 2; i++) {
        char *p = tn_path_join(dir, names[i]), url[700];
        snprintf(url, sizeof url, "%s/files/%s", upload_url, names[i]);
        tn_http_resp r;
        memset(&r, 0, sizeof r);
        if (tn_http_upload_file(&o, "PUT", url, p, &r) == 0 && r.status == 201 && r.json)
            json_object_set(files, names[i], json_object_get(r.json, "sha256"));
        else
            ok = 0;
        tn_http_resp_free(&r);
        free(p);
    }
    char url[700];
    snprintf(url, sizeof url, "%s/complete", upload_url);
    tn_http_resp r;
    memset(&r, 0, sizeof r);
    json_t *body = json_pack("{s:s, s:o, s:s}", "kind", "full", "files", files, "strategy", "test");
    ok = ok && tn_http_json(&o, "POST", url, body, &r) == 0 && r.status == 200;
    json_decref(body);
    tn_http_resp_free(&r);
    return ok ? 0 : -1;
}

void tn_t_record_start(tn_http_req *r, void *ud) {
    tn_t_started *m = ud;
    json_t *b = tn_http_body_json(r);
    if (!b) return;
    snprintf(m->upload_url, sizeof m->upload_url, "%s", json_string_value(json_object_get(b, "upload_url")));
    json_decref(b);
    m->started = 1;
    tn_http_reply_json(r, 202, json_pack("{s:b}", "accepted", 1));
}

int tn_t_write_rows(const char *src, const char *dst, size_t from, size_t to) {
    json_t *all = NULL;
    if (tn_rows_load_all(src, TN_ROWS_AUTO, &all)) return -1;
    FILE *f = fopen(dst, "w");
    int rc = f ? 0 : -1;
    for (size_t i = from; f && rc == 0 && i < to && i < json_array_size(all); i++) {
        char *s = json_dumps(json_array_get(all, i), JSON_COMPACT);
        if (!s || fprintf(f, "%s\n", s) < 0) rc = -1;
        free(s);
    }
    if (f && fclose(f)) rc = -1;
    json_decref(all);
    return rc;
}

int tn_t_evaluators_under(const char *dir) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char p[300], cmd[4096];
        snprintf(p, sizeof p, "/proc/%s/cmdline", e->d_name);
        int fd = open(p, O_RDONLY);
        ssize_t k = fd >= 0 ? read(fd, cmd, sizeof cmd - 1) : -1;
        if (fd >= 0) close(fd);
        if (k <= 0) continue;
        cmd[k] = 0;
        int eval = 0, ours = 0;
        for (ssize_t i = 0; i < k; i += (ssize_t)strlen(cmd + i) + 1) {
            eval |= !strcmp(cmd + i, "eval-submission");
            ours |= strstr(cmd + i, dir) != NULL;
        }
        n += eval && ours;
    }
    if (d) closedir(d);
    return n;
}

int tn_t_alpaca_jsonl(const char *path, size_t n) {
    const char *data = tn_t_shared_data();
    if (!data) return -1;
    char *src = tn_sprintf("%s/datasets/alpaca_en_demo.json", data);
    int rc = src ? tn_t_write_rows(src, path, 0, n) : -1;
    free(src);
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
