/* rope.c - rotary position embedding, HF "rotate_half" convention.
 *
 * HF Llama rotates the pair (x[i], x[i + hd/2]) by angle pos * inv_freq[i]:
 *   out[i]        = x[i] cos - x[i + hd/2] sin
 *   out[i + hd/2] = x[i + hd/2] cos + x[i] sin
 * (llama2.c and Meta's original code rotate interleaved pairs (2i, 2i+1); the
 * importer permutes q/k rows so that the HF form applies, see model/llama2c.c).
 */
#include "nn/nn.h"

#include <math.h>

void tn_rope_tables(float *cos_t, float *sin_t, const float *inv_freq, int T, int hd) {
    int half = hd / 2;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            /* HF computes the angle in fp32 (position * inv_freq), then cos/sin */
            float ang = (float)t * inv_freq[i];
            cos_t[(size_t)t * half + i] = cosf(ang);
            sin_t[(size_t)t * half + i] = sinf(ang);
        }
}

static void rope_apply(float *x, const float *cos_t, const float *sin_t, int B, int T, int nh, int hd,
                       int stride, float sign) {
    int half = hd / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *c = cos_t + (size_t)t * half, *s = sin_t + (size_t)t * half;
            float *row = x + ((size_t)b * T + t) * stride;
            for (int h = 0; h < nh; h++) {
                float *v = row + (size_t)h * hd;
                for (int i = 0; i < half; i++) {
                    float x1 = v[i], x2 = v[i + half], sn = sign * s[i];
                    v[i] = x1 * c[i] - x2 * sn;
                    v[i + half] = x2 * c[i] + x1 * sn;
                }
            }
        }
}

void tn_rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int nh, int hd,
                     int stride) {
    rope_apply(x, cos_t, sin_t, B, T, nh, hd, stride, 1.0f);
}

void tn_rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int nh, int hd,
                      int stride) {
    /* the Jacobian of a rotation is the rotation; its transpose rotates back */
    rope_apply(dx, cos_t, sin_t, B, T, nh, hd, stride, -1.0f);
}
