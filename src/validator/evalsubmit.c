/* evalsubmit.c - the evaluator jobs of a task, handed to the pool (see
 * vstate.h's v_eval_job, evalpool.h, docs/validator.md "Parallel evaluation"). */
#include "validator/vstate.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#include <stdlib.h>

/* The provenance rules for the evaluator child. */
static json_t *job_rules(const tn_check_rules *c) {
    return json_pack("{s:f, s:f, s:f, s:i}", "min_cosine", c->min_cosine, "max_rel_distance", c->max_rel_distance,
                     "untouched_rel_eps", c->untouched_rel_eps, "sketch_k", c->sketch_k);
}

/* How evaluations are run (docs/validator.md), read when a job is handed over. */
typedef struct {
    int parallel; /* eval.parallel: children at once, all tasks together */
    int retries;  /* eval.retries: runs again of a child the validator lost */
    int threads;  /* each child's OMP_NUM_THREADS: the cores shared out */
} pool_settings;

static int load_pool_settings(vstate *v, pool_settings *p) {
    double par, retries;
    if (v_setting_num(v, "eval.parallel", tn_evalpool_default_size(v->o.eval_mem_mb), &par) ||
        v_setting_num(v, "eval.retries", 2, &retries))
        return -1;
    p->parallel = par >= 1 && par <= 256 ? (int)par : 1;
    p->retries = retries >= 0 && retries <= 10 ? (int)retries : 2;
    p->threads = tn_evalpool_threads_each(p->parallel);
    return 0;
}

int v_eval_job(vstate *v, const tn_check_rules *rules, const tn_task *t, const char *base, int64_t sub_id,
               const char *sub, const char *tag, const char *mapping, tn_evalpool_done *d) {
    char *rp = v_path(v, "tasks/%lld/%s.result.json", (long long)t->id, tag);
    double workers;
    if (v_setting_num(v, "eval.workers", 0, &workers)) {
        free(rp);
        return -1;
    }
    /* with workers, a job the pool still runs (the setting just changed) is
     * collected first: its child's result is as good as a worker's */
    int st = tn_evalpool_collect(v->pool, rp, d);
    if (st == 0) {
        char *test = tn_blobs_path(v->blobs, t->test_hash), *synth = tn_blobs_path(v->blobs, t->synth_hash);
        json_t *dt = json_loads(mapping, 0, NULL);
        json_t *params = json_loads(t->params_json ? t->params_json : "{}", 0, NULL);
        json_int_t seq = json_integer_value(json_object_get(params, "seq_len"));
        json_t *job = json_pack("{s:s, s:s?, s:s, s:s, s:o, s:I, s:b, s:o}", "base_dir", base, "submission_dir", sub,
                                "test_file", test, "synth_file", synth, "dataset_type", dt ? dt : json_object(),
                                "seq_len", (json_int_t)(seq > 0 ? seq : v->o.seq_len), "base_only", sub == NULL,
                                "rules", job_rules(rules));
        if (workers != 0) {
            st = v_eval_queued(v, t, sub_id, sub, job, rp, d);
            json_decref(job);
            json_decref(params);
            free(test);
            free(synth);
            free(rp);
            return st;
        }
        char *jp = v_path(v, "tasks/%lld/%s.job.json", (long long)t->id, tag);
        pool_settings pl = {1, 0, 1}, *ps = &pl;
        int bad = load_pool_settings(v, ps);
        tn_evaljob_limits lim = {v->o.eval_mem_mb, v->o.eval_cpu_s, v->o.eval_wall_s, v->o.tuna_bin, ps->threads,
                                 &v->stop};
        st = bad ? -1 : tn_evalpool_submit(v->pool, job, jp, rp, &lim, ps->retries, ps->parallel);
        if (st == 0)
            tn_info("task %lld: evaluating %s%s", (long long)t->id, sub ? "submission " : "the base model",
                    sub ? tag + 3 : "");
        st = st < 0 ? -1 : 1; /* started, or waits for a free evaluator: running either way */
        json_decref(job);
        json_decref(params);
        free(jp);
        free(test);
        free(synth);
    }
    free(rp);
    return st == 2 ? 1 : st == 1 ? 0 : -1;
}

