/* activation.c - SwiGLU (llama family) and tanh-GELU (GPT-2), forward and backward. */
#include "nn/nn.h"

#include <math.h>

/* ---- SwiGLU: h = silu(gate) * up, silu(x) = x * sigmoid(x) ---- */

void tn_swiglu_forward(float *h, const float *gate, const float *up, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        float sg = 1.0f / (1.0f + expf(-g));
        h[i] = g * sg * up[i];
    }
}

void tn_swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up,
                        size_t n) {
    /* d silu(g)/dg = sig(g) * (1 + g * (1 - sig(g))) */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        float sg = 1.0f / (1.0f + expf(-g));
        float d = dh[i]; /* read first: dup may alias dh */
        dup[i] = d * g * sg;
        dgate[i] = d * up[i] * sg * (1.0f + g * (1.0f - sg));
    }
}

/* ---- GELU (tanh approximation, HF "gelu_new") ----
 * y = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3) */

#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */

void tn_gelu_forward(float *y, const float *x, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float u = GELU_C * (v + 0.044715f * v * v * v);
        y[i] = 0.5f * v * (1.0f + tanhf(u));
    }
}

void tn_gelu_backward(float *dx, const float *dy, const float *x, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float u = GELU_C * (v + 0.044715f * v * v * v);
        float th = tanhf(u);
        float du = GELU_C * (1.0f + 3.0f * 0.044715f * v * v);
        dx[i] = dy[i] * (0.5f * (1.0f + th) + 0.5f * v * (1.0f - th * th) * du);
    }
}
