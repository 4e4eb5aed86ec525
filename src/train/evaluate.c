/* evaluate.c - token-weighted mean loss over a set (see evaluate.h). */
#include "train/evaluate.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "model/lora.h"

#include <stdlib.h>
#include <string.h>

static void dump_row(FILE *f, const int32_t *ids, const int32_t *labels, size_t n) {
    fputs("{\"ids\": [", f);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", ids[i]);
    fputs("], \"labels\": [", f);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", labels[i]);
    fputs("]}\n", f);
}

int tn_evaluate(tn_model *m, const tn_examples *ex, const size_t *idx, size_t n, int batch, int max_T,
                int32_t pad_id, FILE *dump, tn_eval_rows *rows, tn_eval_result *out) {
    memset(out, 0, sizeof *out);
    if (!idx) n = ex->n;
    if (batch <= 0) batch = 1;
    double t0 = tn_now(), sum = 0.0;
    int64_t count = 0;
    size_t *sel = tn_malloc(sizeof(size_t) * (size_t)batch);
    double *pos = NULL; /* [B*T] per-position losses, when rows are wanted */
    size_t pos_cap = 0;
    tn_batch b = {0};
    int training = m->lora ? m->lora->training : 0;
    if (m->lora) m->lora->training = 0; /* no dropout while evaluating */
    int rc = 0;
    for (size_t start = 0; start < n && rc == 0; start += (size_t)batch) {
        int cnt = (int)((n - start) < (size_t)batch ? (n - start) : (size_t)batch);
        for (int i = 0; i < cnt; i++) sel[i] = idx ? idx[start + i] : start + i;
        /* a partial last batch is evaluated as a smaller batch, not padded
         * with empty rows: same result, less work */
        tn_batch_make(&b, ex, sel, cnt, cnt, max_T, pad_id);
        float loss;
        size_t N = (size_t)b.B * b.T;
        if (rows && N > pos_cap) {
            free(pos);
            pos = tn_malloc(sizeof(double) * N);
            pos_cap = N;
        }
        if (tn_model_forward_losses(m, b.ids, b.labels, b.B, b.T, &loss, rows ? pos : NULL)) {
            rc = -1;
            break;
        }
        sum += (double)loss * (double)m->acts.n_scored;
        count += m->acts.n_scored;
        for (int i = 0; rows && i < cnt; i++) {
            const int32_t *tg = m->acts.targets + (size_t)i * b.T;
            double row_sum = 0.0;
            int64_t row_n = 0;
            for (int t = 0; t < b.T; t++)
                if (tg[t] != -100) {
                    row_sum += pos[(size_t)i * b.T + t];
                    row_n++;
                }
            rows->loss[start + (size_t)i] = row_n ? row_sum / (double)row_n : 0.0;
            rows->tokens[start + (size_t)i] = row_n;
        }
        if (dump)
            for (int i = 0; i < cnt; i++) {
                size_t len = tn_example_len(ex, sel[i]);
                if (len > (size_t)b.T) len = (size_t)b.T;
                dump_row(dump, b.ids + (size_t)i * b.T, b.labels + (size_t)i * b.T, len);
            }
    }
    if (m->lora) m->lora->training = training;
    tn_batch_free(&b);
    free(sel);
    free(pos);
    if (rc) return -1;
    if (count == 0) return tn_fail("evaluation: the set has no scored token");
    out->loss = sum / (double)count;
    out->tokens = count;
    out->rows = n;
    out->seconds = tn_now() - t0;
    return 0;
}
