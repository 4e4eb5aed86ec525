/* simd.h - vector helpers shared by the kernels in src/nn (internal).
 *
 * exp on 16 floats with AVX-512 (Cephes' polynomial on [-ln2/2, ln2/2] and a
 * scalef by 2^n: within 2 ulp of expf over the whole range, exact 0 below
 * -104), and row helpers built on it. Without AVX-512 the same functions run
 * scalar loops over libm's expf.
 */
#ifndef TN_NN_SIMD_H
#define TN_NN_SIMD_H

#include <math.h>

#ifdef __AVX512F__
#include <immintrin.h>

static inline __m512 tn_exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(88.7f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500E-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 y = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);
}

static inline float tn_exp1(float x) { return _mm512_cvtss_f32(tn_exp16(_mm512_set1_ps(x))); }

/* max of x[0..n) (-INFINITY when n == 0) */
static inline float tn_row_max(const float *x, int n) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + i));
    if (i < n) m = _mm512_mask_max_ps(m, (__mmask16)((1u << (n - i)) - 1), m, _mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1), x + i));
    return _mm512_reduce_max_ps(m);
}

/* y[i] = exp(x[i] - sub) * mul, returns sum of exp(x[i] - sub) (y may be x or NULL) */
static inline double tn_row_exp(float *y, const float *x, int n, float sub, float mul) {
    __m512 s = _mm512_setzero_ps(), vs = _mm512_set1_ps(sub), vm = _mm512_set1_ps(mul);
    double total = 0.0;
    int i = 0, k = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = tn_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), vs));
        s = _mm512_add_ps(s, e);
        if (y) _mm512_storeu_ps(y + i, _mm512_mul_ps(e, vm));
        if (++k == 64) { /* keep float partial sums short */
            total += _mm512_reduce_add_ps(s);
            s = _mm512_setzero_ps();
            k = 0;
        }
    }
    if (i < n) {
        __mmask16 mk = (__mmask16)((1u << (n - i)) - 1);
        __m512 e = tn_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + i), vs));
        e = _mm512_maskz_mov_ps(mk, e);
        s = _mm512_add_ps(s, e);
        if (y) _mm512_mask_storeu_ps(y + i, mk, _mm512_mul_ps(e, vm));
    }
    return total + _mm512_reduce_add_ps(s);
}

#else /* portable fallbacks */

static inline float tn_exp1(float x) { return expf(x); }

static inline float tn_row_max(const float *x, int n) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static inline double tn_row_exp(float *y, const float *x, int n, float sub, float mul) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        float e = expf(x[i] - sub);
        total += e;
        if (y) y[i] = e * mul;
    }
    return total;
}

#endif
#endif
