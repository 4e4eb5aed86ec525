/* profile.c - throughput calibration (see profile.h). */
#include "miner/profile.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "model/model.h"
#include "train/random_model.h"
#include "train/step.h"

#include <omp.h>
#include <stdlib.h>

int tn_profile_measure(int threads, double seconds, double *flops) {
    /* big enough that matmuls dominate, small enough to build in a blink:
     * ~0.9M parameters, 4 x 64 tokens a step */
    const tn_model_shape shape = {.model_type = "llama", .vocab = 512, .dim = 128, .layers = 4, .heads = 4,
                                  .hidden = 344, .positions = 256};
    tn_model m;
    tn_stepper st;
    int rc = 0;
    if (tn_model_random(&m, &shape, "calibration model", 7)) return -1;
    enum { B = 4, T = 64 };
    int32_t *ids = tn_malloc(sizeof(int32_t) * B * T);
    for (int i = 0; i < B * T; i++) ids[i] = (int32_t)((i * 31 + 7) % 509);
    int old_threads = omp_get_max_threads();
    if (threads > 0) omp_set_num_threads(threads);
    if (tn_stepper_init(&st, &m, NULL, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, 0.0)) {
        rc = -1;
        goto out_model;
    }
    float loss;
    double t0 = 0, elapsed = 0;
    long steps = 0;
    /* the first step allocates activations and warms caches: not timed */
    for (int s = -1; rc == 0 && (s < 3 || elapsed < seconds); s++) {
        if (s == 0) t0 = tn_now();
        rc = tn_stepper_step(&st, ids, ids, B, T, 1e-4f, &loss); /* the trainer's step, no clipping */
        if (rc) break;
        if (s >= 0) {
            steps++;
            elapsed = tn_now() - t0;
        }
    }
    if (rc == 0) *flops = 6.0 * (double)m.numel * (double)(B * T) * (double)steps / (elapsed > 0 ? elapsed : 1e-9);
    tn_stepper_free(&st);
out_model:
    omp_set_num_threads(old_threads);
    free(ids);
    tn_model_free(&m);
    return rc;
}

int tn_profile_load_or_calibrate(const char *work_dir, int threads, double *flops) {
    char *path = tn_path_join(work_dir, "profile.json");
    int rc = -1;
    if (tn_file_exists(path)) {
        json_t *j = tn_json_load_file(path);
        int64_t th = 0;
        double f = 0;
        if (j && tn_json_int_opt(j, "threads", path, 0, &th) == 0 && tn_json_num_opt(j, "flops", path, 0, &f) == 0 &&
            th == threads && f > 0) {
            *flops = f;
            json_decref(j);
            tn_info("miner: throughput profile %s: %.3g FLOP/s with %d threads", path, f, threads);
            free(path);
            return 0;
        }
        if (!j) tn_warn("miner: %s: %s; measuring again", path, tn_errmsg());
        else tn_info("miner: %s was measured with other settings; measuring again", path);
        json_decref(j);
    }
    tn_info("miner: calibrating: timing training steps of a small Llama with %d threads", threads);
    double t0 = tn_now();
    if (tn_profile_measure(threads, 1.0, flops)) goto out;
    json_t *j = json_pack("{s:f, s:i, s:f, s:I, s:s}", "flops", *flops, "threads", threads, "seconds",
                          tn_now() - t0, "measured_at_ms",
                          (json_int_t)(tn_wall_now() * 1000), "method",
                          "full training steps (forward, backward, AdamW) of a 4-layer d=128 Llama, B=4 T=64; "
                          "FLOPs = 6 * params * tokens");
    rc = j ? tn_json_save_file(j, path) : tn_fail("profile: out of memory");
    json_decref(j);
    if (rc == 0) tn_info("miner: %.3g FLOP/s, written to %s", *flops, path);
out:
    free(path);
    return rc;
}
