/* xent.c - causal-LM cross-entropy with HF's label shift, fused with its gradient.
 *
 * One row is three vectorised passes over V logits: max, sum of exp (float
 * lanes, flushed into a double every 1024 terms), and, for the gradient,
 * softmax - onehot scaled by 1/n written in place. */
#include "nn/nn.h"
#include "nn/simd.h"

#include <math.h>

double tn_xent_forward_backward(float *dlogits, const float *logits, const int32_t *labels, int B,
                                int T, int V, int64_t *count) {
    /* logits[B,T,V]; row (b,t) predicts labels[b,t+1]. loss = mean over
     * scored rows of logsumexp(logits) - logits[target]. */
    int64_t n = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t + 1 < T; t++)
            if (labels[(size_t)b * T + t + 1] != -100) n++;
    double total = 0.0;
    float inv_n = n ? 1.0f / (float)n : 0.0f;
#pragma omp parallel for reduction(+ : total) schedule(static)
    for (int bt = 0; bt < B * T; bt++) {
        int b = bt / T, t = bt % T;
        int target = (t + 1 < T) ? labels[(size_t)b * T + t + 1] : -100;
        const float *row = logits + (size_t)bt * V;
        float *drow = dlogits ? dlogits + (size_t)bt * V : NULL;
        if (target == -100) {
            if (drow)
                for (int v = 0; v < V; v++) drow[v] = 0.0f;
            continue;
        }
        float mx = tn_row_max(row, V);
        double lse = mx + log(tn_row_exp(NULL, row, V, mx, 1.0f));
        float xt = row[target];
        total += lse - xt;
        if (drow) {
            tn_row_exp(drow, row, V, (float)lse, inv_n);
            drow[target] -= inv_n;
        }
    }
    if (count) *count = n;
    return n ? total / (double)n : 0.0;
}
