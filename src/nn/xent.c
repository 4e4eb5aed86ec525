/* xent.c - causal-LM cross-entropy with HF's label shift, fused with its gradient. */
#include "nn/nn.h"

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
        float mx = -INFINITY;
        for (int v = 0; v < V; v++) mx = row[v] > mx ? row[v] : mx;
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += exp((double)(row[v] - mx));
        double lse = mx + log(sum);
        total += lse - row[target];
        if (drow) {
            for (int v = 0; v < V; v++) drow[v] = (float)exp((double)row[v] - lse) * inv_n;
            drow[target] -= inv_n;
        }
    }
    if (count) *count = n;
    return n ? total / (double)n : 0.0;
}
