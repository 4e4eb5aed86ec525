/* sample.c - segment lists (see sample.h). */
#include "data/sample.h"
#include "base/mem.h"
#include "data/sbuf.h"

#include <stdlib.h>
#include <string.h>

void tn_sample_init(tn_sample *s) { memset(s, 0, sizeof *s); }

void tn_sample_free(tn_sample *s) {
    for (size_t i = 0; i < s->n; i++) free(s->seg[i].text);
    free(s->seg);
    memset(s, 0, sizeof *s);
}

static void push(tn_sample *s, const char *text, size_t len, int trainable, int bos) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4;
        s->seg = tn_realloc(s->seg, s->cap * sizeof *s->seg);
    }
    tn_seg *g = &s->seg[s->n++];
    g->text = tn_strndup(text, len);
    g->len = len;
    g->trainable = trainable ? 1 : 0;
    g->bos = bos ? 1 : 0;
    g->eos = 0;
}

void tn_sample_add(tn_sample *s, const char *text, size_t len, int trainable) {
    if (len == 0) return;
    tn_seg *last = s->n ? &s->seg[s->n - 1] : NULL;
    if (last && !last->eos && (last->trainable != 0) == (trainable != 0)) {
        last->text = tn_realloc(last->text, last->len + len + 1);
        memcpy(last->text + last->len, text, len);
        last->len += len;
        last->text[last->len] = 0;
        return;
    }
    push(s, text, len, trainable, 0);
}

void tn_sample_add_bos(tn_sample *s, const char *text, size_t len, int trainable) {
    push(s, text, len, trainable, 1);
}

void tn_sample_mark_eos(tn_sample *s) {
    /* The EOS ends a response and is trained with it; after prompt text (an
     * empty response) it gets an empty trainable segment of its own. */
    if (s->n == 0 || !s->seg[s->n - 1].trainable || s->seg[s->n - 1].eos) push(s, "", 0, 1, 0);
    s->seg[s->n - 1].eos = 1;
}

char *tn_sample_render(const tn_sample *s, const char *bos, const char *eos, size_t *len) {
    tn_sbuf b = {0};
    if (s->add_bos) tn_sbuf_puts(&b, bos);
    for (size_t i = 0; i < s->n; i++) {
        if (s->seg[i].bos) tn_sbuf_puts(&b, bos);
        tn_sbuf_put(&b, s->seg[i].text, s->seg[i].len);
        if (s->seg[i].eos) tn_sbuf_puts(&b, eos);
    }
    if (len) *len = b.n;
    return tn_sbuf_take(&b);
}

size_t tn_sample_text_len(const tn_sample *s) {
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) n += s->seg[i].len;
    return n;
}

size_t tn_sample_trainable_len(const tn_sample *s) {
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->seg[i].trainable) n += s->seg[i].len;
    return n;
}
