/* store_bench.c - task transitions per second on a store (bench/store_bench runs it).
 *
 * usage: store_bench URL [TASKS]   (URL: a SQLite path or a postgres:// URL;
 * SQLITE_RELAXED=1 in the environment opens with relaxed_sync)
 * Creates TASKS tasks, then drives each through pending -> preparing ->
 * offering -> training -> evaluating -> scored, one compare-and-set
 * transaction per edge, and prints transitions per second. */
#include "store/store.h"
#include "base/clock.h"
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: store_bench URL [TASKS]\n");
        return 2;
    }
    int ntasks = argc > 2 ? atoi(argv[2]) : 200;
    tn_store_opts o = {.relaxed_sync = getenv("SQLITE_RELAXED") != NULL};
    tn_store *s = tn_store_open(argv[1], &o);
    if (!s) {
        fprintf(stderr, "store_bench: %s\n", tn_errmsg());
        return 1;
    }
    const char *h = "1111111111111111111111111111111111111111111111111111111111111111";
    tn_catalog_model m = {.name = "bench", .manifest_hash = (char *)h};
    tn_catalog_dataset d = {.name = "bench", .blob_hash = (char *)h, .row_count = 1};
    if (tn_store_model_add(s, &m) || tn_store_dataset_add(s, &d)) {
        fprintf(stderr, "store_bench: %s\n", tn_errmsg());
        return 1;
    }
    int64_t *ids = calloc((size_t)ntasks, sizeof *ids);
    for (int i = 0; i < ntasks; i++) {
        tn_task t = {.model = "bench", .dataset = "bench", .created_at = i, .time_limit_ms = 1000};
        if (tn_store_task_create(s, &t, &ids[i])) {
            fprintf(stderr, "store_bench: %s\n", tn_errmsg());
            return 1;
        }
    }
    static const tn_task_state path[] = {TN_TASK_PENDING,   TN_TASK_PREPARING,  TN_TASK_OFFERING,
                                          TN_TASK_TRAINING, TN_TASK_EVALUATING, TN_TASK_SCORED};
    double t0 = tn_now();
    int n = 0;
    for (int i = 0; i < ntasks; i++)
        for (int k = 0; k + 1 < 6; k++, n++)
            if (tn_store_task_transition(s, ids[i], path[k], path[k + 1], NULL, 1000 + n)) {
                fprintf(stderr, "store_bench: %s\n", tn_errmsg());
                return 1;
            }
    double dt = tn_now() - t0;
    printf("%d transitions in %.3f s: %.0f transitions/s (%.3f ms each)\n", n, dt, n / dt,
           1000.0 * dt / n);
    free(ids);
    tn_store_close(s);
    return 0;
}
