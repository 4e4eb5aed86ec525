/* weightpass.c - the anti-cheat rules' one pass over the weights (weightpass.h). */
#include "judge/weightpass.h"

#include "judge/deltasketch.h"

#include "base/err.h"
#include "base/half.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/sha256.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* SHA-256 of values rounded to bf16 (f16 = 0) or IEEE half (f16 = 1), round
 * to nearest even as torch does, 2 bytes each, little-endian: a copy re-saved
 * in that type loads as exactly these values, and rounding them again changes
 * nothing, so it has the original's hash; independent runs never agree on
 * every weight. Fed a tensor at a time: the hash is of the concatenation. */
static void sha256_half_update(tn_sha256_ctx *st, const float *w, size_t n, int f16) {
    enum { PIECE = 1 << 14 };
    unsigned char buf[2 * PIECE];
    for (size_t i = 0; i < n; i += PIECE) {
        size_t c = n - i < PIECE ? n - i : PIECE;
        for (size_t k = 0; k < c; k++) {
            uint16_t h = f16 ? tn_f32_to_f16(w[i + k]) : tn_f32_to_bf16(w[i + k]);
            buf[2 * k] = (unsigned char)(h & 0xff);
            buf[2 * k + 1] = (unsigned char)(h >> 8);
        }
        tn_sha256_update(st, buf, 2 * c);
    }
}

/* Whether sub is still base rounded to bf16/f16 (*eq), and whether the base
 * is exactly representable in that type so far (*exact): the loop stops at
 * the first element that says "not the base re-saved". */
static void rounded_update(const float *b, const float *s, size_t n, int f16, int *eq, int *exact) {
    for (size_t i = 0; i < n && *eq; i++) {
        float r = f16 ? tn_f16_to_f32(tn_f32_to_f16(b[i])) : tn_bf16_to_f32(tn_f32_to_bf16(b[i]));
        if (memcmp(&r, &s[i], sizeof r) != 0) *eq = 0;
        *exact &= memcmp(&r, &b[i], sizeof r) == 0;
    }
}

typedef struct {
    double gdot, gbb, gss, gdd; /* provenance, over the whole model */
    double *rels;
    int nrel;
    double cdot, caa, cbb;      /* delta cosine with other */
    int eq[2], exact[2];        /* rounded base: [0] bf16, [1] f16 */
    tn_sha256_ctx sub32, sub_h[2], base_h[2]; /* base/sha256.h: SHA-NI where the CPU has it */
} pass_state;

static void pass_state_free(pass_state *st) { free(st->rels); }

/* Tensor t's provenance numbers (the rules' loop, unchanged). */
static void provenance_tensor(const tn_param *p, const float *b, const float *s, pass_state *st, tn_provenance *out) {
    int changed = memcmp(b, s, p->numel * sizeof(float)) != 0;
    out->n_changed += changed;
    /* Double sums: a tensor of 10^8 floats summed in float loses the 1e-7
     * relative differences the untouched rule looks for. */
    double dot = 0, bb = 0, ss = 0, dd = 0;
    for (size_t i = 0; i < p->numel; i++) {
        double x = b[i], y = s[i], d = (double)s[i] - (double)b[i];
        dot += x * y;
        bb += x * x;
        ss += y * y;
        dd += d * d;
    }
    st->gdot += dot;
    st->gbb += bb;
    st->gss += ss;
    st->gdd += dd;
    if (bb == 0) {
        /* A zero tensor in the base (a bias at init) has no direction to
         * compare with; it still counts for "untouched". */
        out->n_skipped++;
        if (changed) out->n_skipped_changed++;
        return;
    }
    double cosv = ss > 0 ? dot / sqrt(bb * ss) : 0;
    double rel = sqrt(dd / bb);
    if (cosv < out->min_cosine || st->nrel == 0) {
        out->min_cosine = cosv;
        snprintf(out->min_cosine_tensor, sizeof out->min_cosine_tensor, "%s", p->name);
    }
    if (rel > out->max_rel_distance || st->nrel == 0) {
        out->max_rel_distance = rel;
        snprintf(out->max_rel_tensor, sizeof out->max_rel_tensor, "%s", p->name);
    }
    st->rels[st->nrel++] = rel;
}

static void delta_cosine_tensor(const float *b, const float *s, const float *o, size_t n, pass_state *st) {
    for (size_t i = 0; i < n; i++) {
        double da = (double)s[i] - b[i], db = (double)o[i] - b[i];
        st->cdot += da * db;
        st->caa += da * da;
        st->cbb += db * db;
    }
}

int tn_weight_pass_run(tn_wsrc *base, tn_wsrc *sub, tn_wsrc *other, int block, uint64_t seed,
                       tn_weight_pass *out) {
    memset(out, 0, sizeof *out);
    const tn_model *sm = tn_wsrc_model(sub);
    pass_state st;
    memset(&st, 0, sizeof st);
    tn_sha256_init(&st.sub32);
    for (int h = 0; h < 2; h++) {
        tn_sha256_init(&st.sub_h[h]);
        tn_sha256_init(&st.base_h[h]);
        st.eq[h] = st.exact[h] = 1;
    }
    float *sketch = NULL;
    uint64_t seedh = tn_mix64(seed);
    if (base) {
        out->prov.min_cosine = 1;
        out->prov.n_tensors = sm->nparams;
        st.rels = tn_calloc((size_t)sm->nparams + 1, sizeof *st.rels);
        size_t len = tn_delta_sketch_len(sm, block);
        if (!(sketch = tn_try_alloc_floats(len + 1, "delta sketch"))) {
            pass_state_free(&st);
            return -1;
        }
        out->fp.k = (int)len;
        out->fp.block = block;
    }
    int rc = 0;
    size_t sk_at = 0;
    for (int t = 0; t < sm->nparams && rc == 0; t++) {
        const tn_param *p = &sm->params[t];
        const float *s = tn_wsrc_tensor(sub, t), *b = NULL, *o = NULL;
        if (!s || (base && !(b = tn_wsrc_tensor(base, t))) || (other && !(o = tn_wsrc_tensor(other, t)))) {
            rc = -1;
            break;
        }
        float *sk = base && p->ndim == 2 ? sketch + sk_at : NULL;
        if (sk) sk_at += (size_t)block;
        /* independent work on the same pair, each in its own order: the
         * results do not depend on which thread runs which */
#pragma omp parallel sections
        {
#pragma omp section
            tn_sha256_update(&st.sub32, s, p->numel * sizeof(float));
#pragma omp section
            {
                sha256_half_update(&st.sub_h[0], s, p->numel, 0);
                if (b) sha256_half_update(&st.base_h[0], b, p->numel, 0);
            }
#pragma omp section
            {
                sha256_half_update(&st.sub_h[1], s, p->numel, 1);
                if (b) sha256_half_update(&st.base_h[1], b, p->numel, 1);
            }
#pragma omp section
            if (b) {
                provenance_tensor(p, b, s, &st, &out->prov);
                rounded_update(b, s, p->numel, 0, &st.eq[0], &st.exact[0]);
                rounded_update(b, s, p->numel, 1, &st.eq[1], &st.exact[1]);
            }
#pragma omp section
            if (sk) tn_delta_sketch_matrix(b, s, p->shape[0], p->shape[1], seedh, (uint64_t)t, block / TN_SKETCH_R, sk);
#pragma omp section
            if (o) delta_cosine_tensor(b, s, o, p->numel, &st);
        }
    }
    unsigned char bh[2][32];
    if (rc == 0) {
        tn_sha256_final(&st.sub32, out->fp.sha256);
        tn_sha256_final(&st.sub_h[0], out->fp.sha256_bf16);
        tn_sha256_final(&st.sub_h[1], out->fp.sha256_f16);
        tn_sha256_final(&st.base_h[0], bh[0]);
        tn_sha256_final(&st.base_h[1], bh[1]);
    }
    if (rc) {
        pass_state_free(&st);
        tn_free_aligned(sketch);
        memset(out, 0, sizeof *out);
        return -1;
    }
    out->fp.rounded = TN_FP_BF16 | TN_FP_F16;
    if (base) {
        /* a rounding that erases the whole fine-tune gives the base's hash,
         * which every light fine-tune of a base released in that type
         * shares: no evidence */
        if (!memcmp(bh[0], out->fp.sha256_bf16, 32)) out->fp.rounded &= ~TN_FP_BF16;
        if (!memcmp(bh[1], out->fp.sha256_f16, 32)) out->fp.rounded &= ~TN_FP_F16;
        out->fp.sketch = sketch;
        tn_provenance *pv = &out->prov;
        if (st.nrel) {
            qsort(st.rels, (size_t)st.nrel, sizeof *st.rels, cmp_double);
            int n = st.nrel;
            pv->median_rel_distance = n % 2 ? st.rels[n / 2] : 0.5 * (st.rels[n / 2 - 1] + st.rels[n / 2]);
        }
        pv->global_cosine = st.gbb > 0 && st.gss > 0 ? st.gdot / sqrt(st.gbb * st.gss) : 0;
        pv->global_rel_distance = st.gbb > 0 ? sqrt(st.gdd / st.gbb) : 0;
        /* the base re-saved: only asked when something changed (bf16 first) */
        if (pv->n_changed) out->base16 = st.eq[0] && !st.exact[0] ? 16 : st.eq[1] && !st.exact[1] ? 1 : 0;
    }
    pass_state_free(&st);
    if (other) out->delta_cosine = st.caa > 0 && st.cbb > 0 ? st.cdot / sqrt(st.caa * st.cbb) : 0;
    return 0;
}
