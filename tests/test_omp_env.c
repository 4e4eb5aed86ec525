/* test_omp_env.c - tuna's OpenMP wait default (base/omp_env.h), as the
 * OpenMP runtime itself reports it (OMP_DISPLAY_ENV=verbose prints the spin
 * count libgomp applies; the last report is the one of the running program). */
#include "harness.h"
#include "base/fs.h"

#include <stdio.h>
#include <string.h>

/* Runs `tuna version` under env_prefix; the last GOMP_SPINCOUNT reported. */
static long long spincount(const char *bin, const char *env_prefix) {
    char cmd[1024], line[256];
    snprintf(cmd, sizeof cmd, "env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u TUNA_OMP_REEXEC %s OMP_DISPLAY_ENV=verbose %s version 2>&1",
             env_prefix, bin);
    FILE *f = popen(cmd, "r");
    long long v = -1;
    if (!f) return -2;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "GOMP_SPINCOUNT = '");
        if (p) v = atoll(p + strlen("GOMP_SPINCOUNT = '"));
    }
    return pclose(f) == 0 ? v : -3;
}

TEST(passive_by_default_user_setting_wins) {
    const char *bin = getenv("TUNA_BIN") ? getenv("TUNA_BIN") : "build/tuna";
    if (!tn_file_exists(bin)) SKIP("%.200s not built", bin);
    long long def = spincount(bin, ""), active = spincount(bin, "OMP_WAIT_POLICY=active"),
              own = spincount(bin, "GOMP_SPINCOUNT=1234"), passive = spincount(bin, "OMP_WAIT_POLICY=passive");
    CHECKF(def == 0, "no setting: spin count %lld, want 0 (passive)", def);
    CHECKF(active > 300000, "OMP_WAIT_POLICY=active: spin count %lld, want libgomp's active one", active);
    CHECKF(own == 1234, "GOMP_SPINCOUNT=1234: spin count %lld", own);
    CHECKF(passive == 0, "OMP_WAIT_POLICY=passive: spin count %lld", passive);
}

int main(void) {
    RUN(passive_by_default_user_setting_wins);
    return tn_test_summary("test_omp_env");
}
