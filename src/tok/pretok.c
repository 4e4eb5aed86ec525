/* pretok.c - pre-tokenizers: ByteLevel, Split, Metaspace, Digits, Punctuation,
 * Whitespace, WhitespaceSplit (a Sequence is flattened at load time).
 *
 * The state between steps is a list of pieces: spans into a text buffer. Each
 * step reads pt_text/pt_spans[k] and writes [k^1]. Where transformers.js
 * implements a step fully we follow it; where it leaves parts out (Split
 * behaviours other than Isolated, Metaspace "split", Punctuation behaviours)
 * we follow the Rust tokenizers crate (docs/tokenizer.md lists these).
 */
#include "tok/tok_internal.h"
#include "base/mem.h"

#include <utf8proc.h>

/* The byte-level alphabet of GPT-2: printable bytes stand for themselves,
 * the others are shifted to U+0100.. in byte order. */
const char *const tn_bytelevel_chars[256] = {
#include "tok/bytelevel_table.inc"
};

static int bl_printable(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

int tn_bytelevel_byte(uint32_t cp) {
    if (cp < 0x100) return bl_printable((int)cp) ? (int)cp : -1;
    if (cp > 0x143) return -1;
    int n = (int)cp - 0x100; /* the n-th non-printable byte */
    for (int b = 0; b < 256; b++)
        if (!bl_printable(b) && n-- == 0) return b;
    return -1;
}

static void emit(tn_sbuf *text, tn_spans *spans, const char *s, size_t n) {
    if (!n) return;
    size_t start = text->n;
    tn_sbuf_put(text, s, n);
    tn_spans_push(spans, start, n);
}

static void emit_bytelevel(tn_sbuf *text, tn_spans *spans, const char *s, size_t n) {
    if (!n) return;
    size_t start = text->n;
    tn_sbuf_grow(text, 2 * n);
    for (size_t i = 0; i < n; i++) {
        const char *c = tn_bytelevel_chars[(unsigned char)s[i]];
        text->p[text->n++] = c[0];
        if (c[1]) text->p[text->n++] = c[1];
    }
    tn_spans_push(spans, start, text->n - start);
}

static tn_seg *seg_push(tn_enc_ctx *ctx, size_t *ns, size_t a, size_t b, int delim) {
    if (*ns == ctx->segs_cap) {
        ctx->segs_cap = ctx->segs_cap ? ctx->segs_cap * 2 : 64;
        ctx->segs = tn_realloc(ctx->segs, ctx->segs_cap * sizeof *ctx->segs);
    }
    tn_seg *g = &ctx->segs[(*ns)++];
    g->a = a;
    g->b = b;
    g->delim = delim;
    return g;
}

/* tokenizers' SplitDelimiterBehavior over alternating segments. */
static void apply_behavior(int behavior, const tn_seg *sg, size_t ns, const char *s, tn_sbuf *text,
                           tn_spans *spans) {
    for (size_t i = 0; i < ns; i++) {
        size_t a = sg[i].a, b = sg[i].b;
        switch (behavior) {
        case TN_SPLIT_REMOVED:
            if (sg[i].delim) continue;
            break;
        case TN_SPLIT_ISOLATED: break;
        case TN_SPLIT_MERGED_PREV: /* a delimiter joins the piece before it */
            if (!sg[i].delim && i + 1 < ns && sg[i + 1].delim) b = sg[++i].b;
            break;
        case TN_SPLIT_MERGED_NEXT: /* a delimiter joins the piece after it */
            if (sg[i].delim && i + 1 < ns && !sg[i + 1].delim) b = sg[++i].b;
            break;
        case TN_SPLIT_CONTIGUOUS:
            while (i + 1 < ns && sg[i].delim && sg[i + 1].delim) b = sg[++i].b;
            break;
        }
        emit(text, spans, s + a, b - a);
    }
}

/* Segments by a character class: runs of non-members, and members either as
 * runs or one character each. */
typedef int (*char_pred)(uint32_t cp);

static size_t class_segments(tn_enc_ctx *ctx, const char *s, size_t n, char_pred pred, int single) {
    const unsigned char *u = (const unsigned char *)s;
    size_t ns = 0, i = 0;
    while (i < n) {
        uint32_t cp;
        int l = tn_utf8_decode(u + i, n - i, &cp);
        if (!l) l = 1, cp = 0xFFFD;
        int d = pred(cp);
        if (ns && ctx->segs[ns - 1].delim == d && !(d && single))
            ctx->segs[ns - 1].b = i + (size_t)l;
        else
            seg_push(ctx, &ns, i, i + (size_t)l, d);
        i += (size_t)l;
    }
    return ns;
}

static int is_ascii_digit(uint32_t c) { return c >= '0' && c <= '9'; }

static int is_punct(uint32_t c) {
    if (c < 0x80) return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* Rust char::is_whitespace (the White_Space property). */
static int is_ws(uint32_t c) { return c == 0x85 || (c != 0xFEFF && tn_is_js_space(c)); }

/* Regex \w in Unicode mode: letters, marks, decimal digits, connectors. */
static int is_word(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (c == 0x200C || c == 0x200D) return 1;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_ME) || k == UTF8PROC_CATEGORY_ND ||
           k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_PC;
}

/* Whitespace pre-tokenizer: `\w+|[^\w\s]+`, whitespace dropped. */
static void whitespace_split3(tn_enc_ctx *ctx, const char *s, size_t n, tn_sbuf *text, tn_spans *spans) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, start = 0;
    int cur = -1; /* 0 word, 1 other, 2 space */
    (void)ctx;
    while (i < n) {
        uint32_t cp;
        int l = tn_utf8_decode(u + i, n - i, &cp);
        if (!l) l = 1, cp = 0xFFFD;
        int k = is_word(cp) ? 0 : is_ws(cp) ? 2 : 1;
        if (k != cur) {
            if (cur == 0 || cur == 1) emit(text, spans, s + start, i - start);
            start = i;
            cur = k;
        }
        i += (size_t)l;
    }
    if (cur == 0 || cur == 1) emit(text, spans, s + start, n - start);
}

static void metaspace(const tn_pretok *pt, tn_enc_ctx *ctx, const char *s, size_t n, int first,
                      tn_sbuf *text, tn_spans *spans) {
    tn_sbuf *w = &ctx->word;
    w->n = 0;
    int prepend = pt->prepend_scheme == TN_PREPEND_ALWAYS || (pt->prepend_scheme == TN_PREPEND_FIRST && first);
    if (prepend && !(n >= pt->repln && !memcmp(s, pt->repl, pt->repln))) tn_sbuf_put(w, pt->repl, pt->repln);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ')
            tn_sbuf_put(w, pt->repl, pt->repln);
        else
            tn_sbuf_putc(w, s[i]);
    }
    if (!pt->split) {
        emit(text, spans, w->p, w->n);
        return;
    }
    /* split before each replacement character (MergedWithNext) */
    size_t start = 0;
    for (size_t i = 0; i + pt->repln <= w->n; i++) {
        if (i > start && !memcmp(w->p + i, pt->repl, pt->repln)) {
            emit(text, spans, w->p + start, i - start);
            start = i;
        }
    }
    emit(text, spans, w->p + start, w->n - start);
}

static void run_step(const tn_pretok *pt, tn_enc_ctx *ctx, const char *s, size_t n, int first,
                     tn_sbuf *text, tn_spans *spans) {
    size_t ns = 0, ms, me, pos;
    switch (pt->type) {
    case TN_PT_BYTELEVEL:
        if (pt->add_prefix_space && (n == 0 || s[0] != ' ')) {
            tn_sbuf *w = &ctx->word;
            w->n = 0;
            tn_sbuf_putc(w, ' ');
            tn_sbuf_put(w, s, n);
            s = w->p;
            n = w->n;
        }
        if (!pt->use_regex) {
            emit_bytelevel(text, spans, s, n);
            return;
        }
        pos = 0;
        while (tn_regex_next(pt->pat.re, ctx->md, s, n, pos, &ms, &me)) {
            emit_bytelevel(text, spans, s + ms, me - ms);
            pos = me;
        }
        return;
    case TN_PT_SPLIT:
        pos = 0;
        while (tn_pattern_next(&pt->pat, ctx->md, s, n, pos, &ms, &me)) {
            if (ms > pos) seg_push(ctx, &ns, pos, ms, pt->invert);
            seg_push(ctx, &ns, ms, me, !pt->invert);
            pos = me;
        }
        if (pos < n) seg_push(ctx, &ns, pos, n, pt->invert);
        apply_behavior(pt->behavior, ctx->segs, ns, s, text, spans);
        return;
    case TN_PT_METASPACE: metaspace(pt, ctx, s, n, first, text, spans); return;
    case TN_PT_DIGITS:
        ns = class_segments(ctx, s, n, is_ascii_digit, pt->individual_digits);
        apply_behavior(TN_SPLIT_ISOLATED, ctx->segs, ns, s, text, spans);
        return;
    case TN_PT_PUNCTUATION:
        ns = class_segments(ctx, s, n, is_punct, 1);
        apply_behavior(pt->behavior, ctx->segs, ns, s, text, spans);
        return;
    case TN_PT_WHITESPACE: whitespace_split3(ctx, s, n, text, spans); return;
    case TN_PT_WHITESPACE_SPLIT:
        ns = class_segments(ctx, s, n, is_ws, 0);
        apply_behavior(TN_SPLIT_REMOVED, ctx->segs, ns, s, text, spans);
        return;
    }
}

void tn_pretokenize(const tn_tokenizer *tok, tn_enc_ctx *ctx, const char *in, size_t n,
                    int first_section, int *which) {
    int k = 0;
    ctx->pt_text[0].n = 0;
    ctx->pt_spans[0].n = 0;
    emit(&ctx->pt_text[0], &ctx->pt_spans[0], in, n);
    for (size_t s = 0; s < tok->npts; s++) {
        tn_sbuf *src = &ctx->pt_text[k], *dst = &ctx->pt_text[k ^ 1];
        tn_spans *ssp = &ctx->pt_spans[k], *dsp = &ctx->pt_spans[k ^ 1];
        dst->n = 0;
        dsp->n = 0;
        for (size_t i = 0; i < ssp->n; i++)
            run_step(&tok->pts[s], ctx, src->p + ssp->v[i].off, ssp->v[i].len,
                     first_section && i == 0, dst, dsp);
        k ^= 1;
    }
    *which = k;
}
