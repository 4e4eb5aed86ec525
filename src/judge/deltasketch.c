/* deltasketch.c - the delta sketch and its comparison (see deltasketch.h). */
#include "judge/deltasketch.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/rng.h"

#include <math.h>
#include <string.h>

#define TAG_COL 0xC0ULL
#define TAG_ROW 0x70ULL

size_t tn_delta_sketch_len(const tn_model *m, int block) {
    size_t n = 0;
    for (int t = 0; t < m->nparams; t++) n += m->params[t].ndim == 2;
    return n * (size_t)block;
}

/* bucket (high word mod n) and sign (low bit) of index i of matrix t */
static int bucket_of(uint64_t seedh, uint64_t tag, uint64_t t, uint64_t i, int n, double *sign) {
    uint64_t h = tn_mix64(seedh ^ (tag << 56) ^ (t << 32) ^ i);
    *sign = h & 1 ? -1.0 : 1.0;
    return (int)((h >> 32) % (uint64_t)n);
}

void tn_delta_sketch_matrix(const float *base, const float *sub, int64_t rows, int64_t cols, uint64_t seedh,
                            uint64_t t, int p, float *out) {
    enum { r = TN_SKETCH_R };
    int *cb = tn_malloc(sizeof(int) * (size_t)cols);
    double *cs = tn_malloc(sizeof(double) * (size_t)cols);
    double m[r] = {0}, *n = tn_calloc((size_t)p, sizeof *n), *acc = tn_calloc((size_t)p * r, sizeof *acc);
    for (int64_t j = 0; j < cols; j++) {
        cb[j] = bucket_of(seedh, TAG_COL, t, (uint64_t)j, r, &cs[j]);
        m[cb[j]]++;
    }
    for (int64_t i = 0; i < rows; i++) {
        double sign;
        int k = bucket_of(seedh, TAG_ROW, t, (uint64_t)i, p, &sign);
        n[k]++;
        const float *b = base + i * cols, *s = sub + i * cols;
        double y[r] = {0};
        int any = 0;
        for (int64_t j = 0; j < cols; j++) {
            float d = s[j] - b[j];
            if (d == 0) continue; /* frozen rows (LoRA targets, untouched embeddings) cost nothing */
            any = 1;
            y[cb[j]] += cs[j] * (double)d;
        }
        if (!any) continue;
        for (int q = 0; q < r; q++) acc[(size_t)k * r + q] += sign * y[q];
    }
    int pe = 0, re = 0;
    for (int k = 0; k < p; k++) pe += n[k] > 0;
    for (int q = 0; q < r; q++) re += m[q] > 0;
    double g = pe && re ? sqrt((double)rows * (double)cols / ((double)pe * re)) : 0;
    for (int k = 0; k < p; k++)
        for (int q = 0; q < r; q++)
            out[k * r + q] = n[k] > 0 && m[q] > 0 ? (float)(g * acc[k * r + q] / sqrt(n[k] * m[q])) : 0.0f;
    free(acc);
    free(n);
    free(cs);
    free(cb);
}

int tn_delta_sketch(const tn_model *base, const tn_model *sub, int block, uint64_t seed, float *out) {
    if (block < TN_SKETCH_R || block % TN_SKETCH_R)
        return tn_fail("sketch: %d floats per matrix is not a positive multiple of %d", block, TN_SKETCH_R);
    if (base->numel != sub->numel || base->nparams != sub->nparams)
        return tn_fail("sketch: the models have different parameter layouts");
    int n = base->nparams, nm = 0;
    int *mat = tn_malloc(sizeof(int) * ((size_t)n + 1));
    for (int t = 0; t < n; t++)
        if (base->params[t].ndim == 2) mat[nm++] = t;
    uint64_t seedh = tn_mix64(seed);
    /* one matrix per iteration: each block is one thread's, in a fixed order */
#pragma omp parallel for schedule(dynamic, 1)
    for (int m = 0; m < nm; m++) {
        const tn_param *pp = &base->params[mat[m]];
        tn_delta_sketch_matrix(base->w + pp->offset, sub->w + pp->offset, pp->shape[0], pp->shape[1], seedh,
                      (uint64_t)mat[m], block / TN_SKETCH_R, out + (size_t)m * block);
    }
    free(mat);
    return 0;
}

/* One block of the residual R = a - c b (p x r): adds ||R^T R||_F^2 to *fro,
 * ||R||_F^4 to *t2 and the noise expectation's share to *ref (header); the
 * block's size is the rows and columns a or b occupy (an empty bucket, or
 * rows a frozen layer left alone in both, hold no noise either). */
static void block_structure(const float *a, const float *b, double c, int p, double *rr, double *fro,
                            double *t2, double *ref) {
    enum { r = TN_SKETCH_R };
    double G[r][r] = {{0}};
    int rowsu = 0, colu[r] = {0};
    for (int k = 0; k < p; k++) {
        double x[r];
        int used = 0;
        for (int q = 0; q < r; q++) {
            size_t o = (size_t)k * r + q;
            x[q] = (double)a[o] - c * b[o];
            if (a[o] != 0 || b[o] != 0) used = colu[q] = 1;
        }
        rowsu += used;
        for (int u = 0; u < r; u++)
            for (int v = 0; v < r; v++) G[u][v] += x[u] * x[v];
    }
    int colsu = 0;
    for (int q = 0; q < r; q++) colsu += colu[q];
    double tr = 0, f = 0;
    for (int u = 0; u < r; u++) {
        tr += G[u][u];
        for (int v = 0; v < r; v++) f += G[u][v] * G[u][v];
    }
    *rr += tr;
    if (rowsu == 0 || colsu == 0 || tr == 0) return;
    *fro += f;
    *t2 += tr * tr;
    *ref += tr * tr * (rowsu + colsu + 1.0) / ((double)rowsu * colsu + 2.0);
}

int tn_sketch_compare(const float *a, const float *b, size_t len, int block, tn_sketch_pair *out) {
    memset(out, 0, sizeof *out);
    if (block < TN_SKETCH_R || block % TN_SKETCH_R || len % (size_t)block)
        return tn_fail("sketch: %zu floats do not split into blocks of %d", len, block);
    double ab = 0, aa = 0, bb = 0;
    for (size_t k = 0; k < len; k++) {
        ab += (double)a[k] * b[k];
        aa += (double)a[k] * a[k];
        bb += (double)b[k] * b[k];
    }
    if (!(aa > 0 && bb > 0)) {
        out->residual = INFINITY;
        return 0;
    }
    out->cosine = ab / sqrt(aa * bb);
    out->significance = out->cosine * sqrt((double)len);
    out->scale = ab / bb;
    double c = out->scale, rr = 0, fro = 0, t2 = 0, ref = 0;
    for (size_t o = 0; o < len; o += (size_t)block)
        block_structure(a + o, b + o, c, block / TN_SKETCH_R, &rr, &fro, &t2, &ref);
    out->residual = c != 0 ? sqrt(rr / (c * c * bb)) : INFINITY;
    out->structure = t2 > 0 ? fro / t2 : 0;
    out->noise_structure = t2 > 0 ? ref / t2 : 0;
    return 0;
}
