/* generate.c - KV-cache inference, sampling and the generation loop (see
 * generate.h and docs/generate.md).
 *
 * The network is the model's own forward (tn_model_forward_cached runs the
 * architecture's forward with K/V rows going to the cache and attention over
 * it), so there is no per-architecture code here; this file feeds it chunks
 * of tokens and samples from the last row's logits.
 */
#include "infer/generate.h"
#include "base/err.h"
#include "base/mem.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* New tokens are fed in chunks of at most this many rows: activations then stay
 * O(CHUNK * max(I, 3D)) whatever the prompt length, and each chunk's matmuls
 * are still large enough for sgemm to be efficient. */
#define CHUNK 128

/* ---- KV cache / state --------------------------------------------------- */

int tn_infer_init(tn_infer *s, tn_model *m, int max_T) {
    memset(s, 0, sizeof *s);
    const tn_config *c = &m->cfg;
    if (max_T <= 0 || max_T > c->max_positions) max_T = c->max_positions;
    s->m = m;
    s->max_T = max_T;
    s->cache.L = c->n_layers;
    s->cache.max_T = max_T;
    s->cache.kvd = c->n_kv_heads * c->head_dim;
    s->cache.buf = tn_try_alloc_floats((size_t)c->n_layers * 2 * max_T * s->cache.kvd, "KV cache");
    if (!s->cache.buf) return -1;
    return 0;
}

void tn_infer_free(tn_infer *s) {
    tn_free_aligned(s->cache.buf);
    tn_acts_free(&s->acts);
    memset(s, 0, sizeof *s);
}

void tn_infer_reset(tn_infer *s) { s->pos = 0; }

int tn_infer_prefill(tn_infer *s, const int32_t *ids, int n, float *logits_last) {
    const tn_config *c = &s->m->cfg;
    if (n <= 0 || !ids) return tn_fail("inference: no tokens to feed (empty prompt)");
    if (n > s->max_T - s->pos) {
        if (s->max_T == c->max_positions)
            return tn_fail("inference: %d tokens after %d cached exceed the model's max positions (%d)", n, s->pos,
                           c->max_positions);
        return tn_fail("inference: %d tokens after %d cached exceed the cache capacity (%d positions)", n, s->pos,
                       s->max_T);
    }
    /* validate everything first, so that a failure leaves the cache intact */
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return tn_fail("inference: token id %d at position %d is outside the vocabulary (%d)", ids[i],
                           s->pos + i, c->vocab_size);
    for (int done = 0; done < n;) {
        int k = n - done < CHUNK ? n - done : CHUNK;
        float *lg = done + k == n ? logits_last : NULL;
        /* A small model's token is a few hundred thousand multiply-adds:
         * waking a thread team (and OpenBLAS's) for each of its ~10 kernels
         * per layer then costs more than the arithmetic, and on a busy
         * machine a descheduled thread stalls every barrier (measured: 7x
         * slower stories260K decoding on 2 cores). Run such chunks on the
         * calling thread; the OpenMP thread count is restored after. */
        int serial = (double)k * (double)(s->m->numel + s->m->stored_numel) < 4e6 && omp_get_max_threads() > 1;
        int threads = omp_get_max_threads();
        if (serial) omp_set_num_threads(1);
        int rc = tn_model_forward_cached(s->m, &s->acts, &s->cache, s->pos, ids + done, k, lg);
        if (serial) omp_set_num_threads(threads);
        /* ids and room were checked, so only an allocation can fail, and only
         * in the first (largest) chunk: later ones fit what it sized */
        if (rc) return -1;
        s->pos += k;
        done += k;
    }
    return 0;
}

int tn_infer_step(tn_infer *s, int32_t id, float *logits) { return tn_infer_prefill(s, &id, 1, logits); }

/* ---- RNG ---------------------------------------------------------------- */


/* ---- sampling ----------------------------------------------------------- */

int tn_sampler_init(tn_sampler *sp, int V, const tn_sampler_cfg *cfg, uint64_t seed) {
    memset(sp, 0, sizeof *sp);
    if (V <= 0) return tn_fail("sampler: vocabulary size %d must be positive", V);
    if (!isfinite(cfg->temperature) || cfg->temperature < 0)
        return tn_fail("sampler: temperature %g must be a finite number >= 0", (double)cfg->temperature);
    if (!(cfg->top_p > 0 && cfg->top_p <= 1))
        return tn_fail("sampler: top_p %g must be in (0, 1]", (double)cfg->top_p);
    if (cfg->top_k < 0) return tn_fail("sampler: top_k %d must be >= 0 (0: off)", cfg->top_k);
    sp->cfg = *cfg;
    sp->V = V;
    sp->prob = tn_malloc(sizeof(float) * (size_t)V);
    sp->idx = tn_malloc(sizeof(int32_t) * (size_t)V);
    tn_rng_seed(&sp->rng, seed);
    return 0;
}

void tn_sampler_free(tn_sampler *sp) {
    free(sp->prob);
    free(sp->idx);
    memset(sp, 0, sizeof *sp);
}

int32_t tn_argmax(const float *logits, int V) {
    int32_t best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

/* Candidate order: larger logit first, then lower id, so that every ordering
 * (heap, sort, argmax) agrees on ties and top-k=1 is exactly greedy. */
static inline int before(const float *lg, int32_t a, int32_t b) {
    return lg[a] > lg[b] || (lg[a] == lg[b] && a < b);
}

/* Min-heap (by `before`: the root is the worst kept candidate) of k ids. */
static void sift_down(int32_t *h, int n, int i, const float *lg) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && before(lg, h[w], h[l])) w = l;
        if (r < n && before(lg, h[w], h[r])) w = r;
        if (w == i) return;
        int32_t t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* qsort_r (glibc; _GNU_SOURCE) rather than a global, so that several
 * samplers may run on different threads */
static int cmp_cand(const void *a, const void *b, void *lg) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return before(lg, x, y) ? -1 : before(lg, y, x) ? 1 : 0;
}

int32_t tn_sampler_draw(tn_sampler *sp, const float *logits) {
    const tn_sampler_cfg *c = &sp->cfg;
    const int V = sp->V;
    if (c->temperature <= 0) return tn_argmax(logits, V);
    const int32_t best = tn_argmax(logits, V);
    const float mx = logits[best], invT = 1.0f / c->temperature;
    if (!isfinite(invT)) return best; /* a denormal temperature: the limit is greedy */
    int32_t *cand = sp->idx;
    float *e = sp->prob;
    int n = 0;
    if (c->top_k > 0 && c->top_k < V) {
        /* O(V log k) selection: keep the k best in a heap whose root is the
         * worst of them, replace the root whenever a better id comes by */
        int k = c->top_k;
        for (int i = 0; i < V; i++) {
            if (n < k) {
                cand[n++] = i;
                if (n == k)
                    for (int j = k / 2 - 1; j >= 0; j--) sift_down(cand, k, j, logits);
            } else if (before(logits, i, cand[0])) {
                cand[0] = i;
                sift_down(cand, k, 0, logits);
            }
        }
    } else if (c->top_p < 1) {
        /* Only ids that can be in the nucleus need sorting (llama2.c's trick):
         * an id with p < (1 - top_p) / (V - 1), other than the most likely,
         * has less than 1 - top_p of mass at or below it, so the ids above
         * it already reach top_p. */
        double total = 0.0;
        for (int i = 0; i < V; i++) total += expf((logits[i] - mx) * invT);
        double cutoff = V > 1 ? (1.0 - c->top_p) / (V - 1) * total : 0.0;
        for (int i = 0; i < V; i++)
            if (i == best || expf((logits[i] - mx) * invT) >= cutoff) cand[n++] = i;
    } else {
        for (int i = 0; i < V; i++) cand[n++] = i;
    }
    if (c->top_p < 1 || n < V) {
        qsort_r(cand, (size_t)n, sizeof *cand, cmp_cand, (void *)logits);
    }
    /* unnormalised probabilities of the candidates; renormalising over them
     * is what applying top-k to logits and then softmax does */
    double mass = 0.0;
    for (int i = 0; i < n; i++) {
        e[i] = expf((logits[cand[i]] - mx) * invT);
        mass += e[i];
    }
    int keep = n;
    if (c->top_p < 1) {
        /* keep j while the mass strictly before it is below top_p */
        double cum = 0.0, want = c->top_p * mass;
        for (keep = 0; keep < n; keep++) {
            if (keep > 0 && cum >= want) break;
            cum += e[keep];
        }
        mass = cum;
    }
    double u = tn_rng_uniform(&sp->rng) * mass, acc = 0.0;
    for (int i = 0; i < keep; i++) {
        acc += e[i];
        if (u < acc) return cand[i];
    }
    return cand[keep - 1]; /* u within rounding of the total */
}

/* ---- generation loop ---------------------------------------------------- */

int tn_generate(tn_infer *s, tn_sampler *sp, const int32_t *prompt, int n_prompt, int max_new, int32_t eos_id,
                int32_t *out, int *n_out, tn_gen_cb cb, void *user) {
    *n_out = 0;
    if (n_prompt <= 0) return tn_fail("generate: empty prompt (no tokens)");
    if (max_new < 0) return tn_fail("generate: max_new_tokens %d must be >= 0", max_new);
    if (n_prompt >= s->max_T)
        return tn_fail("generate: the prompt has %d tokens, which leaves no room to generate within %d positions%s",
                       n_prompt, s->max_T, s->max_T == s->m->cfg.max_positions ? " (the model's max positions)" : "");
    if (sp->V != s->m->cfg.vocab_size)
        return tn_fail("generate: sampler vocabulary %d != model vocabulary %d", sp->V, s->m->cfg.vocab_size);
    float *logits = tn_try_alloc_floats((size_t)sp->V, "logits");
    if (!logits) return -1;
    tn_infer_reset(s);
    int rc = tn_infer_prefill(s, prompt, n_prompt, logits);
    /* s->pos is the position the next sampled token will occupy */
    while (rc == 0 && *n_out < max_new && s->pos < s->max_T) {
        int32_t id = tn_sampler_draw(sp, logits);
        out[(*n_out)++] = id;
        if (cb && cb(id, user)) break;
        if (id == eos_id || *n_out == max_new || s->pos + 1 >= s->max_T) break;
        rc = tn_infer_step(s, id, logits);
    }
    tn_free_aligned(logits);
    return rc;
}
