/* xent.c - the classifier fused with causal-LM cross-entropy (HF's label shift).
 *
 * A row's loss is logsumexp(logits) - logits[target]; its gradient is
 * softmax - onehot. One row is three vectorised passes over V logits: max,
 * sum of exp (float lanes, flushed into a double every 1024 terms), and, for
 * the gradient, the scaled softmax written in place.
 *
 * tn_head_xent never holds the [N, V] logits: only the rows that are scored
 * meet the classifier, in chunks of `chunk` rows. Per chunk:
 *   xg[n, D]       = x[scored rows]             (gather)
 *   logits[n, V]   = xg W^T                     (tn_linear_forward)
 *   loss          += sum_r lse_r - logits[r, target_r]
 *   dlogits        = (softmax - onehot) / count (in place)
 *   dxg[n, D]      = dlogits W;  dW += dlogits^T xg   (tn_linear_backward)
 *   dx[scored rows] = dxg                       (scatter; other rows stay 0)
 * With chunk x V of a few MB this is the same matmul work as the plain layer,
 * in a fraction of the memory (stories42M at 4 x 256 tokens: 33 MB instead
 * of 131; smollm135M at 4 x 1024: 50 MB instead of 805), and prompt rows that
 * are not scored cost nothing.
 *
 * Evaluation (dx NULL) turns the loops around: vocabulary outer, rows inner.
 * Row-chunked, each chunk's product packs the whole of W again (smollm135M:
 * 28 M floats, 6 times per forward at 4 x 256 tokens); vocabulary-sliced, W
 * is packed once and only the gathered rows are packed once per slice. Each
 * row keeps a running max and sum of exp (the online logsumexp) and picks
 * its target's logit from the slice that holds it:
 *   for each slice W[v0:v0+S]:  logits[G, S] = xg W[v0:v0+S]^T
 *     per row: m' = max(m, max_slice);  s = s e^(m - m') + sum_slice e^(l - m')
 *   loss_r = m + log s - logit_target
 * The same loss up to rounding (the slices' sums are added in double).
 */
#include "base/mem.h"
#include "nn/gemm.h"
#include "nn/nn.h"
#include "nn/simd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t tn_causal_targets(int32_t *targets, const int32_t *labels, int B, int T) {
    /* targets[b, t] = labels[b, t + 1]; the last position of a row predicts nothing */
    int64_t n = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int32_t y = t + 1 < T ? labels[(size_t)b * T + t + 1] : -100;
            targets[(size_t)b * T + t] = y;
            n += y != -100;
        }
    return n;
}

double tn_xent_rows(float *dlogits, const float *logits, const int32_t *targets, int n, int V, float grad_scale,
                    double *row_loss) {
    /* logits[n, V], every row scored against targets[r] in [0, V) */
    double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static)
    for (int r = 0; r < n; r++) {
        const float *row = logits + (size_t)r * V;
        float mx = tn_row_max(row, V);
        double lse = mx + log(tn_row_exp(NULL, row, V, mx, 1.0f));
        int y = targets[r];
        total += lse - row[y];
        if (row_loss) row_loss[r] = lse - row[y];
        if (dlogits) {
            float *drow = dlogits + (size_t)r * V;
            tn_row_exp(drow, row, V, (float)lse, grad_scale);
            drow[y] -= grad_scale;
        }
    }
    return total;
}

/* The next scored rows from *i on, at most cap of them: their indices into
 * rows, their targets into tg, their inputs gathered into xg[n, D]; *i moves
 * past them. Returns n (0 when no scored row is left). */
static int gather_scored(const float *x, const int32_t *targets, int N, int D, int *i, int cap, int32_t *rows,
                         int32_t *tg, float *xg) {
    int n = 0;
    for (; *i < N && n < cap; (*i)++)
        if (targets[*i] != -100) {
            rows[n] = *i;
            tg[n++] = targets[*i];
        }
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) memcpy(xg + (size_t)r * D, x + (size_t)rows[r] * D, sizeof(float) * D);
    return n;
}

/* Evaluation, vocabulary outer (see the top of the file). logits: the
 * scratch's chunk x V floats, cap of them. Rows go in groups of G, the
 * vocabulary in slices of S columns, G x S <= cap, S at least min(V, 1024)
 * so that the slices stay wide enough for the matmul to run at speed.
 * W is [V, D] (no bias, no adapter: tn_head_xent checks). */
static double head_xent_eval(const tn_linear *head, const float *x, const int32_t *targets, int N, float *logits,
                             size_t cap, int64_t n_scored, double *pos_loss) {
    const int D = head->in, V = head->out;
    const size_t s_min = V < 1024 ? (size_t)V : 1024;
    int G = (int)(cap / s_min < (size_t)n_scored ? cap / s_min : (size_t)n_scored);
    int S = (int)(cap / (size_t)G < (size_t)V ? cap / (size_t)G : (size_t)V);
    if (S < V && S > 16) S -= S % 16; /* whole 16-float vectors for the row passes */
    float *xg = tn_malloc(sizeof(float) * (size_t)G * D), *zt = tn_malloc(sizeof(float) * (size_t)G);
    float *mx = tn_malloc(sizeof(float) * (size_t)G);
    double *sum = tn_malloc(sizeof(double) * (size_t)G);
    int32_t *tg = tn_malloc(sizeof(int32_t) * (size_t)G), *rows = tn_malloc(sizeof(int32_t) * (size_t)G);
    double total = 0.0;
    for (int i = 0, n; (n = gather_scored(x, targets, N, D, &i, G, rows, tg, xg)) > 0;) {
        for (int r = 0; r < n; r++) {
            mx[r] = -INFINITY;
            sum[r] = 0.0;
            zt[r] = 0.0f;
        }
        for (int v0 = 0; v0 < V; v0 += S) {
            const int w = V - v0 < S ? V - v0 : S;
            /* W[out, in]: the slice is rows v0.. */
            tn_linear_rows(head, xg, logits, n, v0, w);
#pragma omp parallel for schedule(static)
            for (int r = 0; r < n; r++) {
                float *row = logits + (size_t)r * w;
                float ms = tn_row_max(row, w);
                double ss = tn_row_exp(NULL, row, w, ms, 1.0f);
                if (sum[r] == 0.0 || ms > mx[r]) { /* the first slice, or a new maximum */
                    sum[r] = sum[r] * exp((double)mx[r] - ms) + ss;
                    mx[r] = ms;
                } else {
                    sum[r] += ss * exp((double)ms - mx[r]);
                }
                if (tg[r] >= v0 && tg[r] < v0 + w) zt[r] = row[tg[r] - v0];
            }
        }
        for (int r = 0; r < n; r++) {
            double l = (double)mx[r] + log(sum[r]) - zt[r];
            total += l;
            if (pos_loss) pos_loss[rows[r]] = l;
        }
    }
    free(xg);
    free(zt);
    free(mx);
    free(sum);
    free(tg);
    free(rows);
    return total / (double)n_scored;
}

size_t tn_head_xent_scratch(int chunk, int D, int V) {
    return (size_t)chunk * ((size_t)V + 2 * (size_t)D + 2); /* logits, xg, dxg, targets, row indices */
}

double tn_head_xent(const tn_linear *head, const float *x, const int32_t *targets, int N, float *dx,
                    float *scratch, int chunk, int64_t *count, double *pos_loss) {
    const int D = head->in, V = head->out;
    float *logits = scratch, *xg = logits + (size_t)chunk * V, *dxg = xg + (size_t)chunk * D;
    int32_t *tg = (int32_t *)(dxg + (size_t)chunk * D), *rows = tg + chunk;
    int64_t n_scored = 0;
    for (int i = 0; i < N; i++) n_scored += targets[i] != -100;
    if (count) *count = n_scored;
    if (dx) memset(dx, 0, sizeof(float) * (size_t)N * D);
    if (pos_loss) memset(pos_loss, 0, sizeof(double) * (size_t)N);
    if (n_scored == 0) return 0.0;
    /* every model's head is a plain [V, D] matrix (HF's lm_head, or the tied
     * embedding); anything else takes the general path below */
    if (!dx && !head->adapter && !head->b && !head->in_out_layout)
        return head_xent_eval(head, x, targets, N, logits, (size_t)chunk * V, n_scored, pos_loss);
    const float scale = 1.0f / (float)n_scored;
    double total = 0.0;
    double *chunk_loss = pos_loss ? tn_malloc(sizeof(double) * (size_t)chunk) : NULL;
    for (int i = 0, n; (n = gather_scored(x, targets, N, D, &i, chunk, rows, tg, xg)) > 0;) {
        tn_linear_forward(head, xg, logits, n);
        total += tn_xent_rows(dx ? logits : NULL, logits, tg, n, V, scale, chunk_loss);
        if (chunk_loss)
            for (int r = 0; r < n; r++) pos_loss[rows[r]] = chunk_loss[r];
        if (dx) {
            tn_linear_backward(head, xg, logits, dxg, n, 0);
#pragma omp parallel for schedule(static)
            for (int r = 0; r < n; r++) memcpy(dx + (size_t)rows[r] * D, dxg + (size_t)r * D, sizeof(float) * D);
        }
    }
    free(chunk_loss);
    return total / (double)n_scored;
}
