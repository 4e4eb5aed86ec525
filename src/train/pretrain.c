/* pretrain.c - the built-in base model: a byte-level BPE learned from
 * WordNet's English (tok/bpe_learn.c), and a small Llama pretrained on it
 * (see pretrain.h). */
#include "train/pretrain.h"

#include "data/wordnet.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/hygiene.h"
#include "model/model.h"
#include "tok/bpe_learn.h"
#include "tok/tokenizer.h"
#include "train/optim.h"
#include "train/random_model.h"
#include "train/step.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tn_base_opts_init(tn_base_opts *o) {
    memset(o, 0, sizeof *o);
    o->seconds = 90;
    o->seed = 1234;
    o->vocab_size = 1024;
    o->dim = 96;
    o->layers = 3;
    o->heads = 4;
    o->hidden = 256;
    o->seq_len = 128;
    o->batch = 8;
    o->lr = 2e-3f;
    o->corpus_bytes = 8u << 20;
    o->threads = 1; /* see pretrain.h */
}

/* ---- pretraining -------------------------------------------------------- */

/* The corpus as one token stream: <s> line </s> <s> line </s> ..., the shape
 * of an instruct row (BOS, text, EOS), so a fine-tune starts from familiar
 * boundaries. */
static int encode_stream(const tn_tokenizer *tok, const char *text, size_t len, int32_t **out, size_t *n_out) {
    size_t cap = len / 2 + 16, n = 0;
    int32_t *s = tn_malloc(cap * sizeof *s);
    tn_tok_ids ids = {0};
    int32_t bos = tn_tok_bos_id(tok), eos = tn_tok_eos_id(tok);
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && text[e] != '\n') e++;
        if (e > i) {
            if (tn_tok_encode_into(tok, text + i, e - i, 0, &ids)) {
                free(s);
                tn_tok_ids_free(&ids);
                return -1;
            }
            if (n + ids.n + 2 > cap) {
                while (n + ids.n + 2 > cap) cap *= 2;
                s = tn_realloc(s, cap * sizeof *s);
            }
            s[n++] = bos;
            memcpy(s + n, ids.ids, ids.n * sizeof *s);
            n += ids.n;
            s[n++] = eos;
        }
        i = e + 1;
    }
    tn_tok_ids_free(&ids);
    *out = s;
    *n_out = n;
    return 0;
}

static json_t *model_config(const tn_base_opts *o, int vocab) {
    return json_pack("{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:s, s:i, s:i, s:i, s:s, s:b}",
                     "architectures", "LlamaForCausalLM", "model_type", "llama", "vocab_size", vocab, "hidden_size",
                     o->dim, "intermediate_size", o->hidden, "num_hidden_layers", o->layers, "num_attention_heads",
                     o->heads, "num_key_value_heads", o->heads, "max_position_embeddings", o->seq_len, "rms_norm_eps",
                     1e-5, "rope_theta", 10000.0, "tie_word_embeddings", 0, "hidden_act", "silu", "bos_token_id", 0,
                     "eos_token_id", 1, "pad_token_id", 2, "torch_dtype", "float32", "attention_bias", 0);
}

/* Fills B windows of T tokens starting at random offsets in [0, span). */
static void fill_batch(int32_t *ids, const int32_t *stream, size_t span, int B, int T, tn_rng *r) {
    for (int b = 0; b < B; b++) {
        size_t at = (size_t)tn_rng_below(r, span);
        memcpy(ids + (size_t)b * T, stream + at, (size_t)T * sizeof *ids);
    }
}

#define MAX_CURVE 100
#define VAL_WINDOWS 16

/* Mean loss over the held-out windows, in chunks of the training batch
 * (every window has T-1 scored tokens, so the mean of chunk means is the
 * token mean). */
static int val_loss(tn_model *m, const int32_t *val, int nval, int B, int T, float *out) {
    double s = 0;
    for (int c = 0; c < nval / B; c++) {
        float l;
        if (tn_model_forward(m, val + (size_t)c * B * T, val + (size_t)c * B * T, B, T, &l)) return -1;
        s += l;
    }
    *out = (float)(s / (nval / B));
    return 0;
}

int tn_make_base_model_r(const char *out_dir, const tn_base_opts *opts, tn_base_result *res) {
    tn_base_opts o;
    tn_base_opts_init(&o);
    if (opts) {
        o.seconds = opts->seconds > 0 ? opts->seconds : o.seconds;
        o.steps = opts->steps;
        o.seed = opts->seed;
        o.wordnet_dir = opts->wordnet_dir;
        o.quiet = opts->quiet;
        o.threads = opts->threads; /* 0 is meaningful: OpenMP's default */
#define TAKE(f) if (opts->f) o.f = opts->f
        TAKE(vocab_size);
        TAKE(dim);
        TAKE(layers);
        TAKE(heads);
        TAKE(hidden);
        TAKE(seq_len);
        TAKE(batch);
        TAKE(lr);
        TAKE(corpus_bytes);
#undef TAKE
    }
    if (o.steps < 0 || o.batch < 1 || o.seq_len < 8 || o.dim % o.heads || (o.dim / o.heads) % 2)
        return tn_fail("base model options: need steps >= 0, batch >= 1, seq_len >= 8, dim divisible by heads into "
                       "even head sizes");
    double t_start = tn_now();
    /* Thread count is per calling thread in OpenMP (and the OpenMP build of
     * OpenBLAS follows it); restored at `done`, which every exit from here
     * on goes through, so a caller such as `tuna arena` keeps its own
     * setting. */
    int saved_threads = omp_get_max_threads();
    if (o.threads > 0) omp_set_num_threads(o.threads);
    tn_base_result r = {0};
    tn_wordnet wn;
    tn_tokenizer *tok = NULL;
    tn_model m = {0};
    tn_stepper st = {0};
    int32_t *stream = NULL, *ids = NULL, *val = NULL;
    float *losses = NULL;
    char *text = NULL;
    json_t *curve = NULL;
    int have_model = 0, rc = -1;
    size_t len = 0, ntok = 0;

    if (tn_wordnet_load(&wn, o.wordnet_dir)) goto done;
    text = tn_wordnet_corpus(&wn, o.seed, o.corpus_bytes, &len);
    tn_wordnet_free(&wn);
    if (!text) goto done;
    int vocab = tn_bpe_train_write(text, len, o.vocab_size, o.seq_len, out_dir);
    if (vocab < 0 || !(tok = tn_tok_load(out_dir)) || encode_stream(tok, text, len, &stream, &ntok)) goto done;
    r.vocab_size = vocab;
    r.bytes_per_token = ntok ? (double)len / (double)ntok : 0;
    const int B = o.batch, T = o.seq_len;
    /* The last 2% of the stream (at least the validation windows) is held out
     * for the before/after validation loss; training windows never reach into
     * it. VAL_WINDOWS windows, rounded up to whole batches. */
    const int nval = (VAL_WINDOWS + B - 1) / B * B;
    size_t hold = ntok / 50 > (size_t)nval * T ? ntok / 50 : (size_t)nval * T;
    if (ntok < hold + 2 * (size_t)T) {
        tn_fail("the corpus is too small: %zu tokens for windows of %d (need %zu)", ntok, T, hold + 2 * (size_t)T);
        goto done;
    }
    size_t train_span = ntok - hold - (size_t)T;
    if (!o.quiet)
        fprintf(stderr, "pretrain: corpus %zu bytes, %zu tokens (%.2f bytes/token), vocab %d\n", len, ntok,
                r.bytes_per_token, vocab);

    json_t *cj = model_config(&o, vocab);
    int crc = tn_model_random_json(&m, cj, "base model config", o.seed);
    json_decref(cj);
    if (crc) goto done;
    have_model = 1;
    r.n_params = m.numel;
    if (tn_stepper_init(&st, &m, NULL, o.lr, 0.9f, 0.95f, 1e-8f, 0.01f, 1.0)) goto done;

    ids = tn_malloc((size_t)B * T * sizeof *ids);
    val = tn_malloc((size_t)nval * T * sizeof *val);
    int cap_steps = o.steps > 0 ? o.steps : 1 << 20;
    size_t loss_cap = o.steps > 0 ? (size_t)o.steps : 4096;
    losses = tn_malloc(loss_cap * sizeof *losses);
    for (int b = 0; b < nval; b++) /* evenly spaced held-out windows */
        memcpy(val + (size_t)b * T, stream + ntok - hold + (size_t)b * ((hold - T) / nval), (size_t)T * sizeof *val);
    if (val_loss(&m, val, nval, B, T, &r.val_before)) goto done;
    tn_rng rng;
    tn_rng_seed(&rng, o.seed ^ TN_GOLDEN64);
    /* 10 warmup steps, fewer in a short run; then cosine to 10% of o.lr over
     * the steps, or over the seconds in time mode */
    const tn_lr_schedule sched = {TN_SCHED_PRETRAIN, o.lr,
                                  o.steps > 0 && o.steps < 100 ? (o.steps / 10 > 0 ? o.steps / 10 : 1) : 10};
    double t0 = tn_now(), step_time = 0, last_log = t0;
    int step = 0;
    for (; step < cap_steps; step++) {
        double el = tn_now() - t0;
        /* Time mode: stop when one more step would overrun the budget. */
        if (o.steps == 0 && el + step_time > o.seconds) break;
        double progress = o.steps > 0 ? (double)step / o.steps : el / o.seconds;
        float lr = (float)tn_lr_at(&sched, step, progress), loss;
        fill_batch(ids, stream, train_span, B, T, &rng);
        if (tn_stepper_step(&st, ids, ids, B, T, lr, &loss)) goto done;
        if ((size_t)step == loss_cap) losses = tn_realloc(losses, (loss_cap *= 2) * sizeof *losses);
        losses[step] = loss;
        double now = tn_now();
        step_time = (now - t0) / (step + 1);
        if (!o.quiet && (now - last_log > 10 || step == 0)) {
            fprintf(stderr, "pretrain: step %d loss %.4f lr %.2e  %.0f tokens/s  %.0fs\n", step + 1, loss, lr,
                    (double)(step + 1) * B * T / (now - t0), now - t0);
            last_log = now;
        }
    }
    r.steps = step;
    r.train_seconds = tn_now() - t0;
    r.tokens_per_s = r.train_seconds > 0 ? (double)step * B * T / r.train_seconds : 0;
    if (step == 0) {
        tn_fail("no training step fitted in %.1f s", o.seconds);
        goto done;
    }
    r.first_loss = losses[0];
    int tail = step / 10 > 0 ? step / 10 : 1;
    double sum = 0;
    for (int i = step - tail; i < step; i++) sum += losses[i];
    r.last_loss = (float)(sum / tail);
    if (val_loss(&m, val, nval, B, T, &r.val_after) || tn_model_save(&m, out_dir, NULL) || tn_wordnet_write_license(out_dir)) goto done;

    /* The curve, averaged over at most MAX_CURVE buckets of steps. */
    curve = json_array();
    int per = (step + MAX_CURVE - 1) / MAX_CURVE;
    for (int i = 0; i < step; i += per) {
        int e = i + per < step ? i + per : step;
        double s = 0;
        for (int k = i; k < e; k++) s += losses[k];
        json_array_append_new(curve, json_pack("[i, f]", e, round(s / (e - i) * 1e4) / 1e4));
    }
    r.total_seconds = tn_now() - t_start;
    json_t *sum_j = json_pack(
        "{s:s, s:I, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:I},"
        " s:{s:i, s:i, s:f}, s:{s:s, s:I, s:I, s:f}, s:s, s:o}",
        "source", "WordNet 3.0 glosses and examples (Debian wordnet-base)", "seed", (json_int_t)o.seed, "steps", step,
        "seconds_budget", o.steps > 0 ? 0.0 : o.seconds, "train_seconds", r.train_seconds, "total_seconds",
        r.total_seconds, "tokens_per_s", r.tokens_per_s, "first_loss", r.first_loss, "last_loss", r.last_loss,
        "val_loss_before", r.val_before, "val_loss_after", r.val_after, "model", "vocab_size", vocab, "hidden_size",
        o.dim, "num_hidden_layers", o.layers, "num_attention_heads", o.heads, "intermediate_size", o.hidden,
        "seq_len", T, "params", (json_int_t)r.n_params, "batch", "windows", B, "tokens", B * T, "peak_lr", o.lr,
        "corpus", "text", "one line per definition or example, <s> line </s>", "bytes", (json_int_t)len, "tokens",
        (json_int_t)ntok, "bytes_per_token", r.bytes_per_token, "reproducible",
        o.steps > 0 ? "yes for this seed, steps, options, machine and thread count"
                    : "no: --seconds trains as many steps as fit; use --steps N",
        "curve", curve);
    curve = NULL;
    char *sp = tn_path_join(out_dir, "pretrain_summary.json");
    int src = sum_j && sp ? tn_json_save_file(sum_j, sp) : tn_fail("out of memory");
    free(sp);
    json_decref(sum_j);
    if (src) goto done;
    if (!o.quiet)
        fprintf(stderr,
                "pretrain: %d steps in %.1fs (%.0f tokens/s): loss %.3f -> %.3f, held-out %.3f -> %.3f; %s\n", step,
                r.train_seconds, r.tokens_per_s, r.first_loss, r.last_loss, r.val_before, r.val_after, out_dir);
    if (res) *res = r;
    rc = 0;
done:
    if (o.threads > 0) omp_set_num_threads(saved_threads);
    json_decref(curve);
    tn_stepper_free(&st); /* safe on a zeroed stepper */
    if (have_model) tn_model_free(&m);
    tn_tok_free(tok);
    free(stream);
    free(ids);
    free(val);
    free(losses);
    free(text);
    return rc;
}

int tn_make_base_model(const char *out_dir, const tn_base_opts *o) { return tn_make_base_model_r(out_dir, o, NULL); }
