/* wstream.h - a model's weights read one tensor at a time, as fp32.
 *
 * The judge's passes (provenance, fingerprints, the untouched check) look at
 * one tensor of two or three models at once, in parameter order. A source
 * either borrows a model already in memory (an adapter merged into its base)
 * or maps a checkpoint directory and converts each tensor as stored (F32,
 * F16, BF16, F64) into a buffer of its own when asked, dropping the previous
 * one's pages from the mapping: a pass holds about one tensor per model,
 * whatever the model's size. The values are exactly tn_model_load's. */
#ifndef TN_WSTREAM_H
#define TN_WSTREAM_H

#include "io/safetensors.h"
#include "model/model.h"

typedef struct {
    tn_model plan;        /* mapped: the parameter table (plan.w NULL) */
    const tn_model *mem;  /* or the borrowed model */
    tn_st_set set;
    int mapped;
    int check_finite;     /* refuse NaN/Inf as tn_model_load does */
    float *buf;           /* mapped: room for the largest tensor */
    size_t cap;
    int last;             /* the tensor whose pages are held, -1 */
    char what[600];       /* prefix of its read errors ("submission"), or "" */
    int failed;           /* a read failed (non-finite weights) */
} tn_wsrc;

/* Maps dir (config.json + safetensors, checked as tn_model_load checks). */
int tn_wsrc_open(tn_wsrc *s, const char *dir, int check_finite);
/* Borrows m (fp32 arena, no stored parameters); m outlives s. */
void tn_wsrc_borrow(tn_wsrc *s, const tn_model *m);
void tn_wsrc_close(tn_wsrc *s);

/* The parameter table (what same-layout checks compare). */
static inline const tn_model *tn_wsrc_model(const tn_wsrc *s) { return s->mapped ? &s->plan : s->mem; }

/* Parameter t's values as fp32, valid until the next call on s; NULL with the
 * error set (a non-finite element, named by file, tensor and index). */
const float *tn_wsrc_tensor(tn_wsrc *s, int t);

#endif
