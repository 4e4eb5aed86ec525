/* model.c - parameter walk and table, the architecture table, arenas,
 * checkpoint load/save, forward/backward entry points (see model.h). Each
 * family (its tensors and math) is one tn_arch_ops, in llama.c and gpt2.c. */
#include "model/model.h"
#include "base/rng.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "io/safetensors.h"
#include "model/lora.h"

#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameter table ----------------------------------------------------
 * The architecture's layout() walks its tensors in a fixed order. Pass 0
 * appends each to the table; pass 1 (after the arenas exist) hands out views.
 * Keeping one walk for both guarantees the table and the views never disagree. */

struct tn_walker {
    tn_model *m;
    int pass, cursor;
};

tn_model *tn_walker_model(tn_walker *wk) { return wk->m; }

float *tn_walk_param(tn_walker *wk, float **grad, int64_t d0, int64_t d1, const char *fmt, ...) {
    tn_model *m = wk->m;
    if (wk->pass == 0) {
        /* capacity doubles at each power of two (no field needed): growing
         * by one was quadratic, 13 s for an 825-layer config.json under ASan
         * (fuzz_config's 10-minute run) */
        int n = m->nparams;
        if (n == 0 || (n & (n - 1)) == 0)
            m->params = tn_realloc(m->params, sizeof(tn_param) * (size_t)(n ? 2 * n : 1));
        tn_param *p = &m->params[m->nparams++];
        memset(p, 0, sizeof *p);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->name, sizeof p->name, fmt, ap);
        va_end(ap);
        p->ndim = d1 > 0 ? 2 : 1;
        p->shape[0] = d0;
        p->shape[1] = d1 > 0 ? d1 : 0;
        p->numel = (size_t)d0 * (size_t)(d1 > 0 ? d1 : 1);
        p->offset = m->numel;
        m->numel += p->numel;
        if (grad) *grad = NULL;
        return NULL;
    }
    tn_param *p = &m->params[wk->cursor++];
    if (grad) *grad = m->g && !p->stored ? m->g + p->offset : NULL;
    return p->stored ? NULL : m->w + p->offset;
}

const uint16_t *tn_walk_keep_stored(tn_walker *wk) {
    tn_model *m = wk->m;
    if (wk->pass == 0) {
        m->params[m->nparams - 1].storable = 1;
        return NULL;
    }
    return m->params[wk->cursor - 1].stored;
}

void tn_walk_linear(tn_walker *wk, tn_linear *L, int in, int out, int bias, int in_out, const char *name) {
    L->in = in;
    L->out = out;
    L->in_out_layout = in_out;
    L->w = in_out ? tn_walk_param(wk, &L->dw, in, out, "%s.weight", name)
                  : tn_walk_param(wk, &L->dw, out, in, "%s.weight", name);
    L->wh = tn_walk_keep_stored(wk);
    L->b = NULL;
    L->db = NULL;
    if (bias) L->b = tn_walk_param(wk, &L->db, out, 0, "%s.bias", name);
}

/* ---- architectures -------------------------------------------------------- */

/* One entry per tn_arch value: a family added to config.h without its
 * tn_arch_ops here fails to compile. */
static const tn_arch_ops *const ARCHS[] = {
    [0] = NULL,
    [TN_ARCH_LLAMA] = &tn_arch_llama,
    [TN_ARCH_GPT2] = &tn_arch_gpt2,
};
_Static_assert(sizeof ARCHS / sizeof *ARCHS == TN_ARCH_COUNT, "model.c: one tn_arch_ops per tn_arch value");

const tn_arch_ops *tn_config_arch(const tn_config *c) {
    unsigned i = (unsigned)c->arch;
    return i < TN_ARCH_COUNT ? ARCHS[i] : NULL;
}

const tn_arch_ops *tn_model_arch(const tn_model *m) { return tn_config_arch(&m->cfg); }

static void layout(tn_model *m, int pass) {
    tn_walker wk = {m, pass, 0};
    tn_model_arch(m)->layout(&wk);
}

int64_t tn_config_param_count(const tn_config *c) {
    unsigned ai = (unsigned)c->arch;
    if (ai >= TN_ARCH_COUNT || !ARCHS[ai]) return 0;
    /* the walk's counting pass alone: a table, no arenas */
    tn_model m;
    memset(&m, 0, sizeof m);
    m.cfg = *c;
    m.blocks = tn_calloc((size_t)c->n_layers, sizeof(tn_block));
    layout(&m, 0);
    int64_t n = (int64_t)m.numel;
    free(m.params);
    free(m.blocks);
    return n;
}

/* RoPE inverse frequencies, with llama3 scaling when configured (HF's
 * _compute_llama3_parameters): long wavelengths are slowed by `factor`, short
 * ones kept, and the band between blended smoothly. */
static void compute_inv_freq(tn_model *m) {
    const tn_config *c = &m->cfg;
    int half = c->head_dim / 2;
    m->inv_freq = tn_malloc(sizeof(float) * (size_t)half);
    for (int i = 0; i < half; i++) {
        /* HF: 1 / base ** (arange(0, dim, 2).float() / dim), in fp32 */
        float expo = (float)(2 * i) / (float)c->head_dim;
        float f = 1.0f / powf((float)c->rope_theta, expo);
        if (c->rope_llama3) {
            double old = c->rope_original_max_positions;
            double low_wavelen = old / c->rope_low_freq_factor;
            double high_wavelen = old / c->rope_high_freq_factor;
            double wavelen = 2.0 * M_PI / f;
            if (wavelen > low_wavelen) {
                f = (float)(f / c->rope_factor);
            } else if (wavelen >= high_wavelen) {
                double smooth = (old / wavelen - c->rope_low_freq_factor) /
                                (c->rope_high_freq_factor - c->rope_low_freq_factor);
                f = (float)((1.0 - smooth) * f / c->rope_factor + smooth * f);
            }
        }
        m->inv_freq[i] = f;
    }
}

/* The parameter table of cfg's model, without weights: what a checkpoint
 * is checked against before a byte of weights is allocated. */
static int model_plan(tn_model *m, const tn_config *cfg) {
    memset(m, 0, sizeof *m);
    unsigned ai = (unsigned)cfg->arch;
    const tn_arch_ops *ops = ai < TN_ARCH_COUNT ? ARCHS[ai] : NULL;
    if (!ops || !ops->layout || !ops->forward || !ops->backward)
        return tn_fail("model_type %s: no complete implementation (layout, forward, backward) in the "
                       "architecture table (src/model/model.c)", cfg->model_type);
    m->cfg = *cfg;
    m->cfg.json = json_incref(cfg->json);
    m->blocks = tn_calloc((size_t)cfg->n_layers, sizeof(tn_block));
    layout(m, 0);
    return 0;
}

/* The weights arena for a planned model, and the views into it. */
static int model_alloc(tn_model *m) {
    m->w = tn_try_alloc_floats(m->numel, "model weights");
    if (!m->w) {
        tn_model_free(m);
        return -1;
    }
    layout(m, 1);
    if (tn_model_arch(m)->rope) compute_inv_freq(m);
    return 0;
}

int tn_model_create(tn_model *m, const tn_config *cfg) {
    if (model_plan(m, cfg)) return -1;
    return model_alloc(m);
}

int tn_model_enable_grads(tn_model *m) {
    if (m->g) return 0;
    if (m->nstored)
        return tn_fail("%d weight matrices are kept as stored in bf16 (a frozen load): they cannot be trained",
                       m->nstored);
    m->g = tn_try_alloc_floats(m->numel, "gradients");
    if (!m->g) return -1;
    layout(m, 1);
    return 0;
}

void tn_model_zero_grads(tn_model *m) {
    if (m->g) memset(m->g, 0, sizeof(float) * m->numel);
}

const tn_param *tn_model_find_param(const tn_model *m, const char *name) {
    for (int i = 0; i < m->nparams; i++)
        if (!strcmp(m->params[i].name, name)) return &m->params[i];
    return NULL;
}

void tn_acts_free(tn_acts *a) {
    tn_free_aligned(a->buf);
    tn_free_aligned(a->logits);
    free(a->res);
    free(a->ids);
    memset(a, 0, sizeof *a);
}

void tn_model_free(tn_model *m) {
    tn_acts_free(&m->acts);
    tn_free_aligned(m->w);
    tn_free_aligned(m->g);
    free(m->params);
    free(m->blocks);
    free(m->inv_freq);
    free(m->rope_cos);
    tn_config_free(&m->cfg);
    if (m->mapped) tn_st_set_close(m->mapped);
    free(m->mapped);
    memset(m, 0, sizeof *m);
}

/* See model.h. */
int tn_model_linears(tn_model *m, tn_linear ***lins, char (**names)[96]) {
    int cap = m->cfg.n_layers * 8, n = 0;
    *lins = tn_calloc((size_t)cap, sizeof **lins);
    *names = tn_calloc((size_t)cap, sizeof **names);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        tn_block *b = &m->blocks[l];
        tn_linear *all[] = {&b->q, &b->k, &b->v, &b->qkv, &b->o, &b->gate, &b->up, &b->down};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
            if (!all[i]->w && !all[i]->wh) continue;
            for (int p = 0; p < m->nparams; p++)
                if (m->params[p].ndim == 2 && (all[i]->w ? !m->params[p].stored && m->w + m->params[p].offset == all[i]->w
                                                         : m->params[p].stored == all[i]->wh)) {
                    size_t len = strlen(m->params[p].name) - strlen(".weight");
                    snprintf((*names)[n], sizeof **names, "%.*s", (int)len, m->params[p].name);
                    (*lins)[n++] = all[i];
                    break;
                }
        }
    }
    return n;
}

/* ---- random init (splitmix64 + Box-Muller: reproducible everywhere) ---- */

/* In (0, 1): half a step above the 53-bit grid, so log(u) is finite. */
static double uniform01(uint64_t *s) { return tn_unit_double(tn_splitmix64(s)) + 0.5 / 9007199254740992.0; }

void tn_model_init_random(tn_model *m, uint64_t seed) {
    uint64_t s = seed;
    for (int i = 0; i < m->nparams; i++) {
        const tn_param *p = &m->params[i];
        float *w = m->w + p->offset;
        int is_norm = strstr(p->name, "norm") || strstr(p->name, "ln_");
        if (p->ndim == 1) {
            for (size_t j = 0; j < p->numel; j++) w[j] = (is_norm && strstr(p->name, ".weight")) ? 1.0f : 0.0f;
            continue;
        }
        for (size_t j = 0; j < p->numel; j++) {
            double u1 = uniform01(&s), u2 = uniform01(&s);
            w[j] = (float)(0.02 * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
        }
    }
}

/* ---- checkpoint load ---------------------------------------------------- */

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Tensors HF checkpoints may carry that are buffers, not parameters. */
static int ignorable(const tn_model *m, const char *name) {
    if (ends_with(name, "rotary_emb.inv_freq")) return 1;
    const tn_arch_ops *ops = tn_model_arch(m);
    for (const char *const *sfx = ops->ignored; sfx && *sfx; sfx++)
        if (ends_with(name, *sfx)) return 1;
    /* a tied model saved with its (identical) head: the embedding wins */
    return m->cfg.tie_embeddings && !strcmp(name, "lm_head.weight");
}

/* Some checkpoints leave the architecture's prefix off every name (HF GPT-2
 * exists with and without "transformer."). */
static const tn_st_tensor *find_tensor(const tn_model *m, const tn_st_set *set, const char *name) {
    const tn_st_tensor *t = tn_st_set_find(set, name);
    const char *pre = tn_model_arch(m)->prefix;
    if (!t && pre && !strncmp(name, pre, strlen(pre))) t = tn_st_set_find(set, name + strlen(pre));
    return t;
}

static int known_name(const tn_model *m, const char *name) {
    if (tn_model_find_param(m, name)) return 1;
    const char *pre = tn_model_arch(m)->prefix;
    if (pre) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s%s", pre, name);
        return tn_model_find_param(m, buf) != NULL;
    }
    return 0;
}

/* A stored bf16 tensor's NaN or Inf (exponent all ones), named as
 * tn_st_read_f32 names them. */
static int check_bf16_finite(const tn_st_tensor *t) {
    const uint16_t *h = t->data;
    size_t bad = SIZE_MAX;
    long long n = (long long)t->numel;
#pragma omp parallel for reduction(min : bad) if (n > (1 << 20))
    for (long long i = 0; i < n; i++)
        if ((h[i] & 0x7f80u) == 0x7f80u && (size_t)i < bad) bad = (size_t)i;
    if (bad == SIZE_MAX) return 0;
    return tn_fail("%s: tensor %s: element %zu is not finite", t->path, t->name, bad);
}

/* frozen: the storable parameters a checkpoint holds in bf16 (2-byte
 * aligned in the mapping: HF pads the header to 8 bytes; an odd offset is
 * read into fp32 like any other) stay as stored; the arena's offsets are
 * laid out again without them. */
static void keep_stored(tn_model *m, const tn_st_set *set, int head_fp32) {
    /* the classifier's weight: the last [vocab, hidden] matrix (lm_head, or
     * the embedding when they are tied: then it is the only one) */
    int head = -1;
    for (int i = 0; head_fp32 && i < m->nparams; i++)
        if (m->params[i].ndim == 2 && m->params[i].shape[0] == m->cfg.vocab_size &&
            m->params[i].shape[1] == m->cfg.hidden_size)
            head = i;
    size_t off = 0;
    for (int i = 0; i < m->nparams; i++) {
        tn_param *p = &m->params[i];
        const tn_st_tensor *t = find_tensor(m, set, p->name);
        if (i != head && p->storable && t->dtype == TN_DT_BF16 && ((uintptr_t)t->data & 1) == 0) {
            p->stored = t->data;
            m->nstored++;
            m->stored_numel += p->numel;
            continue;
        }
        p->offset = off;
        off += p->numel;
    }
    m->numel = off;
}

int tn_model_plan_dir(tn_model *m, const char *dir, struct tn_st_set *set) {
    /* Every tensor's name and shape is checked against config.json before
     * the weights are allocated: a few hundred bytes of config claiming a
     * huge model must not cost gigabytes before it is refused. */
    tn_config cfg;
    if (tn_config_load(&cfg, dir)) return -1;
    int rc = model_plan(m, &cfg);
    tn_config_free(&cfg);
    if (rc) return -1;
    if (tn_st_set_open_dir(set, dir)) {
        tn_model_free(m);
        return -1;
    }
    for (int i = 0; i < set->n && rc == 0; i++) {
        const char *name = set->tensors[i]->name;
        if (!known_name(m, name) && !ignorable(m, name))
            rc = tn_fail("%s: tensor %s is not part of a %s model with this config", set->tensors[i]->path,
                         name, m->cfg.model_type);
    }
    for (int i = 0; i < m->nparams && rc == 0; i++) {
        const tn_param *p = &m->params[i];
        const tn_st_tensor *t = find_tensor(m, set, p->name);
        if (!t) {
            rc = tn_fail("%s: missing tensor %s", dir, p->name);
            break;
        }
        int same = t->ndim == p->ndim && t->shape[0] == p->shape[0] && (p->ndim == 1 || t->shape[1] == p->shape[1]);
        if (!same) {
            char got[128] = "";
            for (int d = 0; d < t->ndim; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "",
                         (long long)t->shape[d]);
            if (p->ndim == 1)
                rc = tn_fail("%s: tensor %s: shape [%s], expected [%lld] from config.json", t->path, p->name,
                             got, (long long)p->shape[0]);
            else
                rc = tn_fail("%s: tensor %s: shape [%s], expected [%lld, %lld] from config.json", t->path,
                             p->name, got, (long long)p->shape[0], (long long)p->shape[1]);
            break;
        }
    }
    if (rc) {
        tn_st_set_close(set);
        tn_model_free(m);
    }
    return rc;
}

const tn_st_tensor *tn_model_param_tensor(const tn_model *m, const tn_st_set *set, int i) {
    return find_tensor(m, set, m->params[i].name);
}

/* frozen: 0 all in fp32; 1 the storable bf16 matrices as stored; 2 the
 * same but the classifier's weight in fp32 (tn_model_load_lora_base) */
static int model_load(tn_model *m, const char *dir, int check_finite, int frozen) {
    tn_st_set set;
    if (tn_model_plan_dir(m, dir, &set)) return -1;
    int rc = 0;
    if (rc == 0 && frozen) keep_stored(m, &set, frozen == 2);
    if (rc == 0) rc = model_alloc(m); /* frees m on failure */
    for (int i = 0; i < m->nparams && rc == 0; i++) {
        const tn_param *p = &m->params[i];
        const tn_st_tensor *t = find_tensor(m, &set, p->name);
        if (p->stored)
            rc = check_finite ? check_bf16_finite(t) : 0;
        else
            rc = tn_st_read_f32(t, m->w + p->offset, p->numel, check_finite);
    }
    if (rc == 0 && m->nstored) { /* the stored parameters point into the mapping: keep it */
        m->mapped = tn_malloc(sizeof set);
        memcpy(m->mapped, &set, sizeof set);
    } else {
        tn_st_set_close(&set);
    }
    if (rc) tn_model_free(m); /* safe twice: model_alloc's failure already freed and zeroed it */
    return rc;
}

int tn_model_load(tn_model *m, const char *dir, int check_finite) { return model_load(m, dir, check_finite, 0); }

int tn_model_load_frozen(tn_model *m, const char *dir, int check_finite) {
    return model_load(m, dir, check_finite, 1);
}

int tn_model_load_lora_base(tn_model *m, const char *dir, int check_finite) {
    return model_load(m, dir, check_finite, 2);
}

/* ---- checkpoint save ---------------------------------------------------- */

static const char *TOKENIZER_FILES[] = {
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
    "vocab.json",     "merges.txt",            "generation_config.json",  "added_tokens.json",
    "tokenizer.bin",
};

int tn_model_save(const tn_model *m, const char *dir, const char *src_dir) {
    if (tn_mkdir_p(dir)) return -1;
    char *cfg_path = tn_path_join(dir, "config.json");
    int rc = tn_config_save(&m->cfg, cfg_path);
    free(cfg_path);
    if (rc) return -1;
    tn_st_entry *e = tn_calloc((size_t)m->nparams, sizeof *e);
    for (int i = 0; i < m->nparams; i++) {
        const tn_param *p = &m->params[i];
        e[i].name = p->name;
        e[i].dtype = p->stored ? TN_DT_BF16 : TN_DT_F32;
        e[i].ndim = p->ndim;
        e[i].shape[0] = p->shape[0];
        e[i].shape[1] = p->shape[1];
        e[i].data = p->stored ? (const void *)p->stored : (const void *)(m->w + p->offset);
    }
    rc = tn_st_write_dir(dir, e, m->nparams, 0);
    free(e);
    if (rc || !src_dir) return rc;
    for (size_t i = 0; i < sizeof TOKENIZER_FILES / sizeof *TOKENIZER_FILES; i++) {
        char *from = tn_path_join(src_dir, TOKENIZER_FILES[i]);
        char *to = tn_path_join(dir, TOKENIZER_FILES[i]);
        if (tn_file_exists(from) && strcmp(from, to) != 0 && tn_copy_file(from, to)) rc = -1;
        free(from);
        free(to);
        if (rc) break;
    }
    return rc;
}

/* ---- activations --------------------------------------------------------
 * One description of the arena serves sizing and slicing, as the parameter
 * table's walk does: acts_walk() hands out every buffer in order; with
 * base == NULL it only counts (pass 0), with the allocation it slices. */

/* A buffer's width: its size is N (= B*T) rows of this many floats. */
typedef enum { W_D, W_1, W_QKV, W_Q, W_H, W_I, W_BIG } acts_width;

/* Per-layer buffers, in arena order: each is one of tn_acts's arrays of L
 * pointers. The lse [B, H, T] is N rows of H. */
static const struct {
    size_t field; /* offsetof(tn_acts, <float **>) */
    acts_width width;
} LAYER_BUFS[] = {
    {offsetof(tn_acts, res), W_D},      {offsetof(tn_acts, ln1), W_D},      {offsetof(tn_acts, ln1_mean), W_1},
    {offsetof(tn_acts, ln1_rstd), W_1}, {offsetof(tn_acts, qkv), W_QKV},    {offsetof(tn_acts, att), W_Q},
    {offsetof(tn_acts, lse), W_H},      {offsetof(tn_acts, res2), W_D},     {offsetof(tn_acts, ln2), W_D},
    {offsetof(tn_acts, ln2_mean), W_1}, {offsetof(tn_acts, ln2_rstd), W_1}, {offsetof(tn_acts, gate), W_I},
    {offsetof(tn_acts, up), W_I},       {offsetof(tn_acts, mlp), W_I},
};
enum { N_LAYER_BUFS = sizeof LAYER_BUFS / sizeof *LAYER_BUFS };

/* Buffers after the layers: the final norm's, then (training only) the
 * backward's scratch. The classifier chunk sits between them (acts_walk). */
typedef struct {
    size_t field; /* offsetof(tn_acts, <float *>) */
    acts_width width;
} acts_buf;
static const acts_buf FINAL_BUFS[] = {
    {offsetof(tn_acts, res_final), W_D}, {offsetof(tn_acts, lnf), W_D},
    {offsetof(tn_acts, lnf_mean), W_1},  {offsetof(tn_acts, lnf_rstd), W_1},
};
static const acts_buf TRAIN_BUFS[] = {
    {offsetof(tn_acts, dres), W_D}, {offsetof(tn_acts, dln), W_D},    {offsetof(tn_acts, dqkv), W_QKV},
    {offsetof(tn_acts, datt), W_Q}, {offsetof(tn_acts, dbig1), W_BIG}, {offsetof(tn_acts, dbig2), W_BIG},
};

typedef struct {
    float *base;          /* NULL: count only */
    size_t used;          /* floats handed out so far */
    size_t N, width[W_BIG + 1];
} acts_walker;

static float *take(acts_walker *w, size_t n) {
    float *p = w->base ? w->base + w->used : NULL;
    w->used += n;
    return p;
}

static float **field(tn_acts *a, size_t off) { return (float **)((char *)a + off); }

static void take_bufs(acts_walker *w, tn_acts *a, const acts_buf *bufs, size_t n) {
    for (size_t i = 0; i < n; i++) *field(a, bufs[i].field) = take(w, w->N * w->width[bufs[i].width]);
}

/* keep (tn_acts_keep): TN_ACTS_KEEP_ALL: every layer's activations are kept
 * for a backward (training). TN_ACTS_SHARED (evaluation, inference): all
 * layers share one layer's buffers and there is no backward scratch: a
 * layer's input is dead once its attention residual is formed, so its output
 * may overwrite it. smollm135M at 4 x 256: 1.0 GB of activations -> 35 MB.
 * TN_ACTS_KEEP_INPUTS (gradient checkpointing): each layer's input res[l] is
 * its own, the rest shared, plus the backward's scratch. */
static void acts_walk(acts_walker *w, tn_acts *a, size_t L, size_t head, int keep, size_t kernel, int nt) {
    for (size_t l = 0; l < L; l++)
        for (size_t i = 0; i < N_LAYER_BUFS; i++) {
            float **arr = *(float ***)field(a, LAYER_BUFS[i].field);
            int own = keep == TN_ACTS_KEEP_ALL || l == 0 ||
                      (keep == TN_ACTS_KEEP_INPUTS && LAYER_BUFS[i].field == offsetof(tn_acts, res));
            /* otherwise the pointer is layer 0's buffer (none yet when only counting) */
            float *p = own ? take(w, w->N * w->width[LAYER_BUFS[i].width]) : w->base ? arr[0] : NULL;
            if (w->base) arr[l] = p;
        }
    take_bufs(w, a, FINAL_BUFS, sizeof FINAL_BUFS / sizeof *FINAL_BUFS);
    a->head_scratch = take(w, head);
    for (size_t i = 0; i < sizeof TRAIN_BUFS / sizeof *TRAIN_BUFS; i++) *field(a, TRAIN_BUFS[i].field) = NULL;
    if (keep) take_bufs(w, a, TRAIN_BUFS, sizeof TRAIN_BUFS / sizeof *TRAIN_BUFS);
    /* the kernels' scratch last, 64-byte aligned (the norms keep doubles) */
    w->used = (w->used + 15) & ~(size_t)15;
    a->scratch.p = take(w, kernel);
    a->scratch.nt = nt;
}

/* The walker's widths and the head's and kernels' room for B x T tokens. */
static void acts_plan(const tn_config *c, int B, int T, int keep, int kv_T, int nt, acts_walker *w, size_t *head,
                      size_t *kernel, size_t *chunk_out) {
    size_t N = (size_t)B * T, D = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    size_t qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    size_t qkvw = qd + 2 * kvd;
    *w = (acts_walker){NULL, 0, N, {0}};
    w->width[W_D] = D;
    w->width[W_1] = 1;
    w->width[W_QKV] = qkvw;
    w->width[W_Q] = qd;
    w->width[W_H] = (size_t)c->n_heads;
    w->width[W_I] = I;
    w->width[W_BIG] = I > qkvw ? I : qkvw;
    /* classifier chunks of ~8 M floats of logits (32 MB), at least 16 rows */
    size_t chunk = (8u << 20) / V;
    chunk = chunk < 16 ? 16 : chunk > N ? N : chunk;
    *head = kv_T > 0 ? 0 : tn_head_xent_scratch((int)chunk, (int)D, (int)V);
    /* attention and norm backward run one at a time: they share the scratch */
    *kernel = kv_T > 0 ? tn_attention_cached_scratch(kv_T, nt) : tn_attention_scratch(T, nt, keep != 0);
    size_t norm = keep ? tn_norm_scratch((int)D, nt) : 0;
    if (norm > *kernel) *kernel = norm;
    *chunk_out = chunk;
}

size_t tn_acts_floats(const tn_config *c, int B, int T, int keep, int nt) {
    size_t head, kernel, chunk;
    acts_walker w;
    acts_plan(c, B, T, keep, 0, nt, &w, &head, &kernel, &chunk);
    tn_acts a;
    memset(&a, 0, sizeof a);
    acts_walk(&w, &a, (size_t)c->n_layers, head, keep, kernel, nt);
    return w.used;
}

/* kv_T > 0: for a cached forward (tn_model_forward_cached) over a cache of
 * kv_T positions: no classifier chunk, the cached attention's scratch. */
static int alloc_acts(const tn_model *m, tn_acts *a, int B, int T, int keep, int kv_T) {
    /* the kernels' scratch has room for this many threads */
    int nt = omp_get_max_threads();
    if (a->buf && a->B == B && a->T == T && a->keep == keep && a->kv_T == kv_T && a->scratch.nt >= nt) return 0;
    size_t head, kernel, chunk;
    acts_walker w;
    acts_plan(&m->cfg, B, T, keep, kv_T, nt, &w, &head, &kernel, &chunk);
    size_t L = m->cfg.n_layers, N = w.N;
    if (!a->res) {
        /* the per-layer pointer arrays, L pointers each, in one allocation
         * (res is the first: tn_acts_free frees them through it) */
        float **all = tn_calloc(L * N_LAYER_BUFS, sizeof(float *));
        for (size_t i = 0; i < N_LAYER_BUFS; i++) *(float ***)field(a, LAYER_BUFS[i].field) = all + L * i;
    }
    acts_walk(&w, a, L, head, keep, kernel, nt); /* pass 0: the size */
    size_t total = w.used;
    /* Batches of varying length reuse one allocation: grow only, re-slice
     * whenever the shape changes. */
    if (total > a->nfloats) {
        tn_free_aligned(a->buf);
        a->buf = tn_try_alloc_floats(total, "activations");
        a->nfloats = a->buf ? total : 0;
        if (!a->buf) {
            a->B = a->T = 0;
            return -1;
        }
    }
    if (N > a->ids_cap) {
        free(a->ids);
        a->ids = tn_malloc(sizeof(int32_t) * N * 2);
        a->ids_cap = N;
    }
    a->targets = a->ids + a->ids_cap;
    a->B = B;
    a->T = T;
    a->keep = keep;
    a->kv_T = kv_T;
    w.base = a->buf;
    w.used = 0;
    acts_walk(&w, a, L, head, keep, kernel, nt); /* pass 1: the slices */
    a->head_chunk = (int)chunk;
    return 0;
}

static int ensure_rope(tn_model *m, int T) {
    if (!tn_model_arch(m)->rope || m->rope_T >= T) return 0;
    int half = m->cfg.head_dim / 2;
    free(m->rope_cos);
    m->rope_cos = tn_malloc(sizeof(float) * (size_t)T * half * 2);
    m->rope_sin = m->rope_cos + (size_t)T * half;
    tn_rope_tables(m->rope_cos, m->rope_sin, m->inv_freq, T, m->cfg.head_dim);
    m->rope_T = T;
    return 0;
}

/* ids [n] all in the vocabulary, labels (when given) too or -100. */
static int check_ids(const tn_config *c, const int32_t *ids, const int32_t *labels, size_t n, const char *what,
                     size_t pos0) {
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return tn_fail("%s: token id %d at position %zu is outside the vocabulary (%d)", what, ids[i], pos0 + i,
                           c->vocab_size);
        if (labels && labels[i] != -100 && (labels[i] < 0 || labels[i] >= c->vocab_size))
            return tn_fail("%s: label %d at position %zu is outside the vocabulary (%d) and not -100", what,
                           labels[i], pos0 + i, c->vocab_size);
    }
    return 0;
}

/* The forward of every entry point; train: also the classifier's backward. */
static int forward(tn_model *m, const int32_t *ids, const int32_t *labels, int B, int T, float *loss, int train,
                   double *pos_loss) {
    const tn_config *c = &m->cfg;
    m->acts.train_ready = 0;
    if (B <= 0 || T <= 0) return tn_fail("forward: empty batch (B=%d, T=%d)", B, T);
    if (tn_model_arch(m)->learned_positions && T > c->max_positions)
        return tn_fail("forward: sequence length %d exceeds the model's n_positions %d", T, c->max_positions);
    size_t N = (size_t)B * T;
    if (check_ids(c, ids, labels, N, "forward", 0)) return -1;
    if (train && !m->g && !m->frozen && tn_model_enable_grads(m)) return -1;
    int keep = !train ? TN_ACTS_SHARED : m->checkpoint_blocks ? TN_ACTS_KEEP_INPUTS : TN_ACTS_KEEP_ALL;
    if (alloc_acts(m, &m->acts, B, T, keep, 0) || ensure_rope(m, T)) return -1;
    if (m->lora && tn_lora_prepare(m->lora, B * T)) return -1;
    tn_acts *a = &m->acts;
    if (!labels && N * c->vocab_size > a->logits_cap) {
        tn_free_aligned(a->logits);
        a->logits = tn_try_alloc_floats(N * c->vocab_size, "logits");
        a->logits_cap = a->logits ? N * c->vocab_size : 0;
        if (!a->logits) return -1;
    }
    memcpy(a->ids, ids, sizeof(int32_t) * N);
    tn_model_arch(m)->forward(m, a, NULL, 0);
    if (!labels) {
        tn_linear_forward(&m->head, a->lnf, a->logits, (int)N);
        return 0;
    }
    tn_causal_targets(a->targets, labels, B, T);
    double l = tn_head_xent(&m->head, a->lnf, a->targets, (int)N, train ? a->dln : NULL, a->head_scratch,
                            a->head_chunk, &a->n_scored, pos_loss);
    if (loss) *loss = (float)l;
    a->train_ready = train;
    return 0;
}

int tn_model_forward(tn_model *m, const int32_t *ids, const int32_t *labels, int B, int T, float *loss) {
    return forward(m, ids, labels, B, T, loss, 0, NULL);
}

int tn_model_forward_losses(tn_model *m, const int32_t *ids, const int32_t *labels, int B, int T, float *loss,
                            double *pos_loss) {
    if (!labels) return tn_fail("forward: per-position losses need labels");
    return forward(m, ids, labels, B, T, loss, 0, pos_loss);
}

int tn_model_forward_train(tn_model *m, const int32_t *ids, const int32_t *labels, int B, int T, float *loss) {
    if (!labels) return tn_fail("forward: a training forward needs labels");
    return forward(m, ids, labels, B, T, loss, 1, NULL);
}

int tn_model_forward_cached(tn_model *m, tn_acts *a, tn_kv_cache *kv, int p0, const int32_t *ids, int n,
                            float *logits) {
    const tn_config *c = &m->cfg;
    if (n <= 0 || !ids) return tn_fail("inference: no tokens to feed");
    if (p0 < 0 || n > kv->max_T - p0)
        return tn_fail("inference: %d tokens after %d cached exceed the cache capacity (%d positions)", n, p0,
                       kv->max_T);
    if (check_ids(c, ids, NULL, (size_t)n, "inference", (size_t)p0)) return -1;
    /* the rope tables for the whole cache at once: one computation per cache */
    if (alloc_acts(m, a, 1, n, 0, kv->max_T) || ensure_rope(m, kv->max_T)) return -1;
    /* an attached (unmerged) adapter runs inside tn_linear_forward and needs
     * its per-row buffers sized for the rows */
    if (m->lora && tn_lora_prepare(m->lora, n)) return -1;
    memcpy(a->ids, ids, sizeof(int32_t) * (size_t)n);
    tn_model_arch(m)->forward(m, a, kv, p0);
    /* only the last row meets the head: a prompt costs no n x V logits */
    if (logits) tn_linear_forward(&m->head, a->lnf + (size_t)(n - 1) * c->hidden_size, logits, 1);
    return 0;
}

void tn_model_attention(tn_acts *a, tn_kv_cache *kv, int p0, int l, const float *q, const float *k,
                        const float *v, const tn_attn_shape *s) {
    if (!kv) {
        tn_attention_forward(a->att[l], a->lse[l], q, k, v, s, a->scratch);
        return;
    }
    /* the new rows' K (after RoPE) and V into cache rows p0.., then attention over the cache */
    float *K = tn_kv_k(kv, l), *V = tn_kv_v(kv, l);
    for (int i = 0; i < s->T; i++) {
        memcpy(K + (size_t)(p0 + i) * kv->kvd, k + (size_t)i * s->k_stride, sizeof(float) * (size_t)kv->kvd);
        memcpy(V + (size_t)(p0 + i) * kv->kvd, v + (size_t)i * s->v_stride, sizeof(float) * (size_t)kv->kvd);
    }
    tn_attn_shape cs = *s;
    cs.k_stride = cs.v_stride = kv->kvd;
    tn_attention_cached(a->att[l], q, K, V, p0, &cs, a->scratch);
}

int tn_model_backward(tn_model *m) {
    tn_acts *a = &m->acts;
    if (!a->buf || !a->train_ready)
        return tn_fail("backward: no forward with labels to differentiate (call tn_model_forward_train first)");
    /* the classifier's backward ran in the training forward: a->dln = dloss/dlnf */
    tn_model_arch(m)->backward(m);
    a->train_ready = 0;
    return 0;
}
