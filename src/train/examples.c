/* examples.c - tokenized examples and padded batches (see examples.h). */
#include "train/examples.h"
#include "base/err.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

void tn_examples_init(tn_examples *ex) {
    memset(ex, 0, sizeof *ex);
    ex->cap_ex = 64;
    ex->off = tn_calloc(ex->cap_ex + 1, sizeof *ex->off);
}

void tn_examples_free(tn_examples *ex) {
    free(ex->off);
    free(ex->ids);
    free(ex->labels);
    memset(ex, 0, sizeof *ex);
}

static void push(tn_examples *ex, size_t *len, int32_t id, int32_t label) {
    size_t at = ex->off[ex->n] + *len;
    if (at >= ex->cap_tok) {
        ex->cap_tok = ex->cap_tok ? ex->cap_tok * 2 : 4096;
        ex->ids = tn_realloc(ex->ids, sizeof(int32_t) * ex->cap_tok);
        ex->labels = tn_realloc(ex->labels, sizeof(int32_t) * ex->cap_tok);
    }
    ex->ids[at] = id;
    ex->labels[at] = label;
    (*len)++;
}

int tn_examples_add(tn_examples *ex, const tn_tokenizer *tok, const tn_sample *s, int seq_len,
                    int train_on_inputs) {
    int32_t bos = tn_tok_bos_id(tok), eos = tn_tok_eos_id(tok);
    size_t len = 0;
    tn_tok_ids buf = {0};
    if (s->add_bos && bos >= 0 && tn_tok_add_bos(tok)) push(ex, &len, bos, -100);
    for (size_t i = 0; i < s->n; i++) {
        const tn_seg *g = &s->seg[i];
        int train = g->trainable || train_on_inputs;
        if (g->bos && bos >= 0) push(ex, &len, bos, -100);
        if (tn_tok_encode_into(tok, g->text, g->len, 0, &buf)) {
            tn_tok_ids_free(&buf);
            return -1;
        }
        for (size_t k = 0; k < buf.n; k++) push(ex, &len, buf.ids[k], train ? buf.ids[k] : -100);
        if (g->eos && eos >= 0) push(ex, &len, eos, train ? eos : -100);
    }
    tn_tok_ids_free(&buf);
    ex->rows_read++;
    if (len > (size_t)seq_len) {
        len = (size_t)seq_len;
        ex->truncated++;
    }
    size_t base = ex->off[ex->n], scored = 0;
    for (size_t k = 1; k < len; k++) scored += ex->labels[base + k] != -100;
    if (scored == 0) {
        ex->dropped_no_target++;
        return 0; /* nothing to learn from: the tokens are overwritten by the next row */
    }
    if (ex->n + 1 >= ex->cap_ex) {
        ex->cap_ex *= 2;
        ex->off = tn_realloc(ex->off, sizeof *ex->off * (ex->cap_ex + 1));
    }
    ex->off[ex->n + 1] = base + len;
    ex->n++;
    ex->tokens += len;
    ex->scored += scored;
    return 1;
}

int tn_examples_load(tn_examples *ex, const char *path, tn_rows_fmt fmt, const tn_data_spec *spec,
                     const tn_tokenizer *tok, int seq_len, int train_on_inputs) {
    tn_rows *r = tn_rows_open(path, fmt);
    if (!r) return -1;
    tn_sample s;
    tn_sample_init(&s);
    int rc;
    while ((rc = tn_data_next(r, spec, &s)) == 1) {
        if (tn_examples_add(ex, tok, &s, seq_len, train_on_inputs) < 0) {
            char *where = tn_rows_where(r);
            tn_err_prefix("%s: tokenizing", where);
            free(where);
            rc = -1;
            break;
        }
    }
    tn_sample_free(&s);
    tn_rows_close(r);
    if (rc == 0 && ex->n == 0)
        return tn_fail("%s: no row has a token to train on (%zu rows read, %zu without a target)", path,
                       ex->rows_read, ex->dropped_no_target);
    return rc;
}

int32_t tn_batch_pad_id(const tn_tokenizer *tok) {
    if (tn_tok_pad_id(tok) >= 0) return tn_tok_pad_id(tok);
    return tn_tok_eos_id(tok) >= 0 ? tn_tok_eos_id(tok) : 0;
}

void tn_batch_make(tn_batch *b, const tn_examples *ex, const size_t *idx, int count, int B, int max_T,
                   int32_t pad_id) {
    size_t longest = 1;
    for (int i = 0; i < count; i++) {
        size_t l = tn_example_len(ex, idx[i]);
        if (l > longest) longest = l;
    }
    int T = (int)((longest + 7) / 8 * 8);
    if (T > max_T) T = max_T;
    size_t need = (size_t)B * T;
    if (need > b->cap) {
        free(b->ids);
        b->ids = tn_malloc(sizeof(int32_t) * need * 2);
        b->cap = need;
    }
    b->labels = b->ids + b->cap;
    b->B = B;
    b->T = T;
    for (int r = 0; r < B; r++) {
        int32_t *ids = b->ids + (size_t)r * T, *lab = b->labels + (size_t)r * T;
        size_t l = 0;
        if (r < count) {
            l = tn_example_len(ex, idx[r]);
            if (l > (size_t)T) l = (size_t)T;
            memcpy(ids, ex->ids + ex->off[idx[r]], sizeof(int32_t) * l);
            memcpy(lab, ex->labels + ex->off[idx[r]], sizeof(int32_t) * l);
        }
        for (size_t k = l; k < (size_t)T; k++) {
            ids[k] = pad_id;
            lab[k] = -100;
        }
    }
}

void tn_batch_free(tn_batch *b) {
    free(b->ids);
    memset(b, 0, sizeof *b);
}
