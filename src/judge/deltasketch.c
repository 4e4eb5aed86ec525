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

/* S = Psi D Omega for one matrix, in double, rows in order. */
static void sketch_matrix(const float *base, const float *sub, int64_t rows, int64_t cols, uint64_t seedh,
                          uint64_t t, int p, float *out) {
    const int r = TN_SKETCH_R;
    float *omega = tn_malloc(sizeof(float) * (size_t)cols * r);
    for (int64_t j = 0; j < cols; j++) {
        uint64_t h = tn_mix64(seedh ^ (TAG_COL << 56) ^ (t << 32) ^ (uint64_t)j);
        for (int q = 0; q < r; q++) omega[j * r + q] = (h >> q) & 1 ? -1.0f : 1.0f;
    }
    double *acc = tn_calloc((size_t)p * r, sizeof *acc);
    for (int64_t i = 0; i < rows; i++) {
        const float *b = base + i * cols, *s = sub + i * cols;
        double y[TN_SKETCH_R] = {0};
        int any = 0;
        for (int64_t j = 0; j < cols; j++) {
            float d = s[j] - b[j];
            if (d == 0) continue; /* frozen rows (LoRA targets, untouched embeddings) cost nothing */
            any = 1;
            const float *o = omega + j * r;
            for (int q = 0; q < r; q++) y[q] += (double)d * o[q];
        }
        if (!any) continue;
        uint64_t h = tn_mix64(seedh ^ (TAG_ROW << 56) ^ (t << 32) ^ (uint64_t)i);
        double sign = h & 1 ? -1.0 : 1.0;
        double *a = acc + (size_t)((h >> 32) % (uint64_t)p) * r;
        for (int q = 0; q < r; q++) a[q] += sign * y[q];
    }
    for (int k = 0; k < p * r; k++) out[k] = (float)acc[k];
    free(acc);
    free(omega);
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
        sketch_matrix(base->w + pp->offset, sub->w + pp->offset, pp->shape[0], pp->shape[1], seedh,
                      (uint64_t)mat[m], block / TN_SKETCH_R, out + (size_t)m * block);
    }
    free(mat);
    return 0;
}

/* Largest eigenvalue of the r x r Gram matrix of block R (p x r), by Jacobi
 * sweeps (symmetric, tiny, deterministic). */
static double gram_lambda_max(const double *R, int p, double *trace) {
    enum { r = TN_SKETCH_R };
    double G[r][r];
    for (int a = 0; a < r; a++)
        for (int b = 0; b < r; b++) {
            double s = 0;
            for (int i = 0; i < p; i++) s += R[i * r + a] * R[i * r + b];
            G[a][b] = s;
        }
    *trace = 0;
    for (int a = 0; a < r; a++) *trace += G[a][a];
    for (int sweep = 0; sweep < 30; sweep++) {
        double off = 0;
        for (int a = 0; a < r; a++)
            for (int b = a + 1; b < r; b++) off += G[a][b] * G[a][b];
        if (off <= 1e-24 * (*trace) * (*trace)) break;
        for (int a = 0; a < r; a++)
            for (int b = a + 1; b < r; b++) {
                if (G[a][b] == 0) continue;
                double th = 0.5 * atan2(2 * G[a][b], G[b][b] - G[a][a]);
                double c = cos(th), s = sin(th);
                for (int k = 0; k < r; k++) { /* G <- J^T G J on rows/cols a, b */
                    double ga = G[a][k], gb = G[b][k];
                    G[a][k] = c * ga - s * gb;
                    G[b][k] = s * ga + c * gb;
                }
                for (int k = 0; k < r; k++) {
                    double ga = G[k][a], gb = G[k][b];
                    G[k][a] = c * ga - s * gb;
                    G[k][b] = s * ga + c * gb;
                }
            }
    }
    double mx = 0;
    for (int a = 0; a < r; a++) mx = G[a][a] > mx ? G[a][a] : mx;
    return mx;
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
    double c = out->scale, rr = 0;
    int p = block / TN_SKETCH_R;
    double *R = tn_malloc(sizeof(double) * (size_t)block), *N = tn_malloc(sizeof(double) * (size_t)block);
    double lsum = 0, tsum = 0, nl = 0, nt = 0;
    uint64_t st = 0x6e6f697365ULL; /* "noise": the same reference for every comparison */
    for (size_t o = 0; o < len; o += (size_t)block) {
        double tr, ntr;
        for (int k = 0; k < block; k++) {
            R[k] = (double)a[o + k] - c * b[o + k];
            rr += R[k] * R[k];
        }
        double lm = gram_lambda_max(R, p, &tr);
        lsum += lm;
        tsum += tr;
        /* isotropic noise given each row's energy: a row is one CountSketch
         * bucket, whose energy depends on how many rows it holds (empty ones
         * are 0); noise points each row in a random direction, a fine-tune's
         * rows share their directions */
        for (int i = 0; i < p; i++) {
            double e = 0;
            for (int q = 0; q < TN_SKETCH_R; q++) e += R[i * TN_SKETCH_R + q] * R[i * TN_SKETCH_R + q];
            double sc = sqrt(e / TN_SKETCH_R);
            uint64_t bits = tn_splitmix64(&st);
            for (int q = 0; q < TN_SKETCH_R; q++) N[i * TN_SKETCH_R + q] = (bits >> q) & 1 ? -sc : sc;
        }
        nl += gram_lambda_max(N, p, &ntr);
        nt += ntr;
    }
    out->residual = c != 0 ? sqrt(rr / (c * c * bb)) : INFINITY;
    out->structure = tsum > 0 ? lsum / tsum : 0;
    out->noise_structure = nt > 0 ? nl / nt : 0;
    free(R);
    free(N);
    return 0;
}
