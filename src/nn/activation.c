/* activation.c - SwiGLU (llama family) and tanh-GELU (GPT-2), forward and backward. */
#include "nn/nn.h"
#include "nn/simd.h"

#include <math.h>

/* ---- SwiGLU: h = silu(gate) * up, silu(x) = x * sigmoid(x) ---- */

void tn_swiglu_forward(float *h, const float *gate, const float *up, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < n; c += 4096) {
        size_t e = c + 4096 < n ? c + 4096 : n, i = c;
#ifdef __AVX512F__
        const __m512 one = _mm512_set1_ps(1.0f);
        for (; i + 16 <= e; i += 16) {
            __m512 g = _mm512_loadu_ps(gate + i);
            __m512 sg = _mm512_div_ps(one, _mm512_add_ps(one, tn_exp16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
            _mm512_storeu_ps(h + i, _mm512_mul_ps(_mm512_mul_ps(g, sg), _mm512_loadu_ps(up + i)));
        }
#endif
        for (; i < e; i++) {
            float g = gate[i];
            float sg = 1.0f / (1.0f + tn_exp1(-g));
            h[i] = g * sg * up[i];
        }
    }
}

void tn_swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up,
                        size_t n) {
    /* d silu(g)/dg = sig(g) * (1 + g * (1 - sig(g))) */
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < n; c += 4096) {
        size_t e = c + 4096 < n ? c + 4096 : n, i = c;
#ifdef __AVX512F__
        const __m512 one = _mm512_set1_ps(1.0f);
        for (; i + 16 <= e; i += 16) {
            __m512 g = _mm512_loadu_ps(gate + i), u = _mm512_loadu_ps(up + i), d = _mm512_loadu_ps(dh + i);
            __m512 sg = _mm512_div_ps(one, _mm512_add_ps(one, tn_exp16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
            __m512 dsilu = _mm512_mul_ps(sg, _mm512_fmadd_ps(g, _mm512_sub_ps(one, sg), one));
            _mm512_storeu_ps(dup + i, _mm512_mul_ps(d, _mm512_mul_ps(g, sg))); /* dup may alias dh */
            _mm512_storeu_ps(dgate + i, _mm512_mul_ps(_mm512_mul_ps(d, u), dsilu));
        }
#endif
        for (; i < e; i++) {
            float g = gate[i];
            float sg = 1.0f / (1.0f + tn_exp1(-g));
            float d = dh[i]; /* read first: dup may alias dh */
            dup[i] = d * g * sg;
            dgate[i] = d * up[i] * sg * (1.0f + g * (1.0f - sg));
        }
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
