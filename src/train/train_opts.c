/* train_opts.c - defaults and ownership of tn_train_opts (see train.h).
 *
 * Ownership rule: every string the options point to that came from a config
 * file or was copied in goes through tn_train_opts_own(), which keeps it in
 * o->owned; tn_train_opts_free() frees exactly that list and nothing else.
 * So a caller may also point a field at a string it keeps alive itself
 * (argv, a literal) without the free touching it, and overriding a field
 * (CLI flag over YAML key) never double-frees or leaks.
 */
#include "train/train.h"

#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

void tn_train_opts_defaults(tn_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->spec.kind = TN_DS_INSTRUCT;
    o->seq_len = 512;
    o->micro_batch = 1;
    o->grad_accum = 1;
    o->epochs = 1;
    /* as in axolotl: full fine-tuning unless an adapter is asked for; the
     * rate is axolotl's usual one for that (2e-4 once LoRA is chosen: the
     * YAML reader and the CLI pick it when no rate is given) */
    o->lora = 0;
    o->lr = 2e-5;
    o->sched = TN_SCHED_COSINE;
    o->adam_beta1 = 0.9;
    o->adam_beta2 = 0.999;
    o->adam_eps = 1e-8;
    o->max_grad_norm = 1.0;
    o->seed = 42;
    o->lora_r = 8;
    o->lora_alpha = 16;
    o->lora_dropout = 0.05;
}

const char *tn_train_opts_own(tn_train_opts *o, const char *s) {
    if (!s) return NULL;
    /* capacity is the next power of two: grow when n is 0 or a power of two */
    int n = o->n_owned;
    if ((n & (n - 1)) == 0) o->owned = tn_realloc(o->owned, (size_t)(n ? 2 * n : 1) * sizeof *o->owned);
    o->owned[n] = tn_strdup(s);
    o->n_owned = n + 1;
    return o->owned[n];
}

void tn_train_opts_free(tn_train_opts *o) {
    if (!o) return;
    for (int i = 0; i < o->n_owned; i++) free(o->owned[i]);
    free(o->owned);
    o->owned = NULL;
    o->n_owned = 0;
}
