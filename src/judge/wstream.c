/* wstream.c - weights tensor by tensor (wstream.h). */
#include "judge/wstream.h"

#include "base/err.h"
#include "base/mem.h"

#include <string.h>

int tn_wsrc_open(tn_wsrc *s, const char *dir, int check_finite) {
    memset(s, 0, sizeof *s);
    if (tn_model_plan_dir(&s->plan, dir, &s->set)) return -1;
    s->mapped = 1;
    s->check_finite = check_finite;
    s->last = -1;
    size_t big = 0;
    for (int t = 0; t < s->plan.nparams; t++)
        if (s->plan.params[t].numel > big) big = s->plan.params[t].numel;
    s->cap = big;
    s->buf = tn_try_alloc_floats(big + 1, "one tensor of the model");
    if (!s->buf) {
        tn_wsrc_close(s);
        return -1;
    }
    return 0;
}

void tn_wsrc_borrow(tn_wsrc *s, const tn_model *m) {
    memset(s, 0, sizeof *s);
    s->mem = m;
    s->last = -1;
}

void tn_wsrc_close(tn_wsrc *s) {
    if (s->mapped) {
        tn_model_free(&s->plan);
        tn_st_set_close(&s->set);
    }
    tn_free_aligned(s->buf);
    memset(s, 0, sizeof *s);
}

const float *tn_wsrc_tensor(tn_wsrc *s, int t) {
    if (!s->mapped) return s->mem->w + s->mem->params[t].offset;
    if (s->last >= 0) tn_st_tensor_release(tn_model_param_tensor(&s->plan, &s->set, s->last));
    s->last = t;
    const tn_param *p = &s->plan.params[t];
    const tn_st_tensor *st = tn_model_param_tensor(&s->plan, &s->set, t);
    if (tn_st_read_f32(st, s->buf, p->numel, s->check_finite)) {
        s->failed = 1;
        if (s->what[0]) tn_err_prefix("%s", s->what);
        return NULL;
    }
    return s->buf;
}
