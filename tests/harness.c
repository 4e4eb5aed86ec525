/* harness.c - see harness.h. */
#include "harness.h"
#include "base/err.h"
#include "base/fs.h"

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
