/* omp_env.c - see omp_env.h. */
#include "base/omp_env.h"

#include <stdlib.h>
#include <unistd.h>

void tn_omp_env_default(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || getenv("TUNA_OMP_REEXEC")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) || setenv("TUNA_OMP_REEXEC", "1", 1)) return;
    execv("/proc/self/exe", argv);
    /* no /proc (or exec refused): carry on as the user's environment had it */
    unsetenv("OMP_WAIT_POLICY");
}
