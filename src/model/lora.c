/* lora.c - LoRA adapters: attach, forward/backward, PEFT save/load, merge (see lora.h). */
#include "model/lora.h"
#include "base/rng.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"
#include "io/safetensors.h"

#include "nn/gemm.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The architecture's own list (tn_arch_ops.lora_targets). */
int tn_lora_default_targets(const tn_model *m, const char ***names) {
    *names = tn_model_arch(m)->lora_targets;
    int n = 0;
    while (*names && (*names)[n]) n++;
    return n;
}

static int module_matches(const char *module, const char *target) {
    size_t n = strlen(module), k = strlen(target);
    return n >= k && !strcmp(module + n - k, target) && (n == k || module[n - k - 1] == '.');
}

/* Builds slots for the chosen layers, the parameter table and the arenas
 * (shared with lora_io.c through lora.h). */
static void slot_forward(tn_linear_adapter *a, const float *x, float *y, int in, int out, int N);
static void slot_backward(tn_linear_adapter *a, const float *x, const float *dy, float *dx, int in, int out, int N);

int tn_lora_build(tn_model *m, tn_lora *lo, int r, float alpha, int rslora, tn_linear **lins, char (*names)[96],
                 const int *chosen, int n) {
    lo->r = r;
    lo->alpha = alpha;
    lo->rslora = rslora;
    lo->scale = rslora ? alpha / sqrtf((float)r) : alpha / (float)r;
    lo->nslots = n;
    lo->slots = tn_calloc((size_t)n, sizeof *lo->slots);
    lo->modules = tn_calloc((size_t)n, sizeof *lo->modules);
    lo->linears = tn_calloc((size_t)n, sizeof *lo->linears);
    lo->nparams = 2 * n;
    lo->params = tn_calloc((size_t)lo->nparams, sizeof *lo->params);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        tn_linear *L = lins[chosen[i]];
        memcpy(lo->modules[i], names[chosen[i]], sizeof lo->modules[i]);
        lo->linears[i] = L;
        tn_param *pa = &lo->params[2 * i], *pb = &lo->params[2 * i + 1];
        snprintf(pa->name, sizeof pa->name, "base_model.model.%.60s.lora_A.weight", names[chosen[i]]);
        snprintf(pb->name, sizeof pb->name, "base_model.model.%.60s.lora_B.weight", names[chosen[i]]);
        pa->ndim = pb->ndim = 2;
        pa->shape[0] = r;
        pa->shape[1] = L->in;
        pb->shape[0] = L->out;
        pb->shape[1] = r;
        pa->numel = (size_t)r * L->in;
        pb->numel = (size_t)r * L->out;
        pa->offset = off;
        off += pa->numel;
        pb->offset = off;
        off += pb->numel;
    }
    lo->numel = off;
    lo->w = tn_try_alloc_floats(off, "LoRA weights");
    if (!lo->w) return -1;
    for (int i = 0; i < n; i++) {
        tn_lora_slot *s = &lo->slots[i];
        s->r = r;
        s->scale = lo->scale;
        s->dropout = lo->dropout;
        s->A = lo->w + lo->params[2 * i].offset;
        s->B = lo->w + lo->params[2 * i + 1].offset;
        s->owner = lo;
        s->index = i;
        s->hook.forward = slot_forward;
        s->hook.backward = slot_backward;
        lo->linears[i]->adapter = &s->hook;
    }
    m->lora = lo;
    return 0;
}

int tn_lora_attach(tn_model *m, tn_lora *lo, int r, float alpha, float dropout, const char *const *targets,
                   int ntargets, uint64_t seed) {
    memset(lo, 0, sizeof *lo);
    if (r <= 0 || r > 4096) return tn_fail("lora: rank %d is out of range (1..4096)", r);
    if (!(alpha > 0)) return tn_fail("lora: alpha %g must be positive", alpha);
    if (!(dropout >= 0 && dropout < 1)) return tn_fail("lora: dropout %g must be in [0, 1)", dropout);
    if (m->lora) return tn_fail("lora: the model already has an adapter");
    tn_linear **lins;
    char(*names)[96];
    int nl = tn_model_linears(m, &lins, &names), n = 0;
    int *chosen = tn_calloc((size_t)nl + 1, sizeof *chosen);
    for (int i = 0; i < nl; i++)
        for (int t = 0; t < ntargets; t++)
            if (module_matches(names[i], targets[t])) {
                chosen[n++] = i;
                break;
            }
    int rc = 0;
    if (n == 0) {
        rc = tn_fail("lora: no linear layer of this %s model matches the target modules (first: %s)",
                     m->cfg.model_type, ntargets ? targets[0] : "(none)");
    } else {
        lo->dropout = dropout;
        lo->seed = seed;
        rc = tn_lora_build(m, lo, r, alpha, 0, lins, names, chosen, n);
    }
    if (rc == 0) {
        /* A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a = sqrt(5)), B = 0 */
        uint64_t st = seed ^ 0x4c6f5241ull;
        for (int i = 0; i < n; i++) {
            tn_lora_slot *s = &lo->slots[i];
            float bound = 1.0f / sqrtf((float)lo->linears[i]->in);
            size_t cnt = lo->params[2 * i].numel;
            for (size_t j = 0; j < cnt; j++) {
                st = tn_mix64(st);
                double u = tn_unit_double(st);
                s->A[j] = (float)((2.0 * u - 1.0) * bound);
            }
        }
    }
    free(lins);
    free(names);
    free(chosen);
    if (rc) tn_lora_free(lo);
    return rc;
}

int tn_lora_enable_grads(tn_lora *lo) {
    if (lo->g) return 0;
    lo->g = tn_try_alloc_floats(lo->numel, "LoRA gradients");
    if (!lo->g) return -1;
    for (int i = 0; i < lo->nslots; i++) {
        lo->slots[i].dA = lo->g + lo->params[2 * i].offset;
        lo->slots[i].dB = lo->g + lo->params[2 * i + 1].offset;
    }
    return 0;
}

void tn_lora_set_dropout(tn_lora *lo, float p) {
    lo->dropout = p;
    for (int i = 0; i < lo->nslots; i++) lo->slots[i].dropout = p;
}

void tn_lora_zero_grads(tn_lora *lo) {
    if (lo->g) memset(lo->g, 0, sizeof(float) * lo->numel);
}

int tn_lora_prepare(tn_lora *lo, int N) {
    if ((size_t)N <= lo->prepared_N) return 0;
    tn_free_aligned(lo->xa_buf);
    tn_free_aligned(lo->scratch_buf);
    lo->scratch_buf = NULL;
    lo->prepared_N = 0;
    lo->xa_buf = tn_try_alloc_floats((size_t)N * lo->r * (lo->nslots + 1), "LoRA activations");
    if (!lo->xa_buf) return -1;
    lo->dxa = lo->xa_buf + (size_t)N * lo->r * lo->nslots;
    int max_in = 0;
    for (int i = 0; i < lo->nslots; i++)
        if (lo->linears[i]->in > max_in) max_in = lo->linears[i]->in;
    if (lo->dropout > 0) {
        lo->scratch_buf = tn_try_alloc_floats((size_t)N * max_in, "LoRA dropout scratch");
        if (!lo->scratch_buf) return -1;
    }
    for (int i = 0; i < lo->nslots; i++) {
        lo->slots[i].xa = lo->xa_buf + (size_t)i * N * lo->r;
        lo->slots[i].scratch = lo->scratch_buf;
    }
    lo->prepared_N = (size_t)N;
    return 0;
}

/* Dropout keep-factor for element i of slot s at the current step: 0 or
 * 1/(1-p), from a hash, so the backward can regenerate the forward's mask. */
static inline float keep_factor(const tn_lora_slot *s, size_t i) {
    const tn_lora *lo = s->owner;
    uint64_t h = tn_mix64(lo->seed ^ tn_mix64(lo->step * 0x10001ull + (uint64_t)s->index) ^ (i * TN_GOLDEN64));
    double u = tn_unit_double(h);
    return u < s->dropout ? 0.0f : 1.0f / (1.0f - s->dropout);
}

static int dropout_on(const tn_lora_slot *s) { return s->dropout > 0 && s->owner->training; }

/* x with this step's dropout applied, into the shared scratch. */
static const float *dropped_input(tn_lora_slot *s, const float *x, int in, int N) {
    if (!dropout_on(s)) return x;
    size_t n = (size_t)N * in;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) s->scratch[i] = x[i] * keep_factor(s, i);
    return s->scratch;
}

void tn_lora_forward(tn_lora_slot *s, const float *x, float *y, int in, int out, int N) {
    /* xa[N,r] = drop(x)[N,in] A^T ;  y[N,out] += scale * xa B^T */
    const float *xd = dropped_input(s, x, in, N);
    tn_sgemm(0, 1, N, s->r, in, 1.0f, xd, in, s->A, in, 0.0f, s->xa, s->r);
    tn_sgemm(0, 1, N, out, s->r, s->scale, s->xa, s->r, s->B, s->r, 1.0f, y, out);
}

void tn_lora_backward(tn_lora_slot *s, const float *x, const float *dy, float *dx, int in, int out, int N) {
    /* dB[out,r] += scale * dy^T xa ;  dxa[N,r] = scale * dy B
     * dA[r,in]  += dxa^T drop(x)    ;  dx += drop'(dxa A)                  */
    if (!s->dA && !dx) return;
    float *dxa = s->owner->dxa;
    if (s->dB)
        tn_sgemm(1, 0, out, s->r, N, s->scale, dy, out, s->xa, s->r, 1.0f, s->dB, s->r);
    tn_sgemm(0, 0, N, s->r, out, s->scale, dy, out, s->B, s->r, 0.0f, dxa, s->r);
    if (s->dA) {
        const float *xd = dropped_input(s, x, in, N);
        tn_sgemm(1, 0, s->r, in, N, 1.0f, dxa, s->r, xd, in, 1.0f, s->dA, in);
    }
    if (dx) {
        if (!dropout_on(s)) {
            tn_sgemm(0, 0, N, in, s->r, 1.0f, dxa, s->r, s->A, in, 1.0f, dx, in);
        } else {
            float *t = s->scratch;
            tn_sgemm(0, 0, N, in, s->r, 1.0f, dxa, s->r, s->A, in, 0.0f, t, in);
            size_t n = (size_t)N * in;
#pragma omp parallel for schedule(static)
            for (size_t i = 0; i < n; i++) dx[i] += t[i] * keep_factor(s, i);
        }
    }
}

/* The hook is the slot's first member, so the layer's pointer is the slot's. */
static void slot_forward(tn_linear_adapter *a, const float *x, float *y, int in, int out, int N) {
    tn_lora_forward((tn_lora_slot *)a, x, y, in, out, N);
}

static void slot_backward(tn_linear_adapter *a, const float *x, const float *dy, float *dx, int in, int out, int N) {
    tn_lora_backward((tn_lora_slot *)a, x, dy, dx, in, out, N);
}

void tn_lora_merge(tn_model *m, tn_lora *lo) {
    for (int i = 0; i < lo->nslots; i++) {
        tn_lora_slot *s = &lo->slots[i];
        tn_linear *L = lo->linears[i];
        if (!L->w) { /* bf16 as stored (tn_model_load_frozen): a caller's bug, not bad input */
            fprintf(stderr, "tn_lora_merge: %s's weights are kept as stored in bf16 and cannot be merged into\n",
                    lo->params[2 * i].name);
            abort();
        }
        if (L->in_out_layout) /* W[in,out] += scale * A^T[in,r] B^T[r,out] */
            tn_sgemm(1, 1, L->in, L->out, s->r, s->scale, s->A, L->in, s->B, s->r, 1.0f, L->w, L->out);
        else /* W[out,in] += scale * B[out,r] A[r,in] */
            tn_sgemm(0, 0, L->out, L->in, s->r, s->scale, s->B, s->r, s->A, L->in, 1.0f, L->w, L->in);
    }
    tn_lora_detach(m, lo);
}

void tn_lora_detach(tn_model *m, tn_lora *lo) {
    for (int i = 0; i < lo->nslots; i++)
        if (lo->linears[i]) lo->linears[i]->adapter = NULL;
    if (m && m->lora == lo) m->lora = NULL;
}

void tn_lora_free(tn_lora *lo) {
    free(lo->slots);
    free(lo->modules);
    free(lo->linears);
    free(lo->params);
    tn_free_aligned(lo->w);
    tn_free_aligned(lo->g);
    tn_free_aligned(lo->xa_buf);
    tn_free_aligned(lo->scratch_buf);
    memset(lo, 0, sizeof *lo);
}
