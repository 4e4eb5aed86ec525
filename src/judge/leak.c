/* leak.c - test/synthetic gap outliers (see leak.h). */
#include "judge/leak.h"
#include "base/mem.h"

#include <math.h>
#include <stdlib.h>

/* Calibrated on arena runs (docs/anticheat.md, "Leak"): honest miners'
 * excess stayed within 0.03 nats of the reference median with the first
 * engine, a miner that trained on the leaked test rows showed 0.10-0.36.
 * With the engine 1.7x faster (more steps in the same budget) an honest
 * miner reached 0.072 on a gain of about 1 nat and a peeker 1.47 on a gain
 * of about 2: rel = 0.15 sits between 0.07 and 0.7 per nat of gain. */
void tn_leak_rule_defaults(tn_leak_rule *r) {
    r->min_excess = 0.05;
    r->k = 4.0;
    r->rel = 0.15;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int tn_leak_check(const double *test, const double *synth, size_t n, double base_test, double base_synth,
                  const tn_leak_rule *rule, int *flagged, double *excess, double *threshold) {
    int count = 0;
    double *ref = tn_malloc(sizeof(double) * (n + 1));
    for (size_t i = 0; i < n; i++) {
        /* reference: every OTHER submission (so a leaker cannot pull the
         * median towards itself). Fine-tuning shifts every honest model's gap
         * the same way (they learn the exact prompt format; the synthetic
         * prompts are reworded), so the base model is unlike them and only
         * stands in when fewer than two others are there to compare with. */
        size_t m = 0;
        for (size_t j = 0; j < n; j++)
            if (j != i && isfinite(test[j]) && isfinite(synth[j])) ref[m++] = synth[j] - test[j];
        if (m < 2) ref[m++] = base_synth - base_test;
        double med = median(ref, m);
        for (size_t j = 0; j < m; j++) ref[j] = fabs(ref[j] - med);
        double mad = median(ref, m);
        double gap = synth[i] - test[i];
        double thr = fmax(rule->min_excess, rule->k * mad);
        double gain = base_test - test[i];
        if (isfinite(gain) && gain > 0) thr = fmax(thr, rule->rel * gain);
        excess[i] = gap - med;
        threshold[i] = thr;
        flagged[i] = isfinite(gap) && gap - med > thr;
        count += flagged[i];
    }
    free(ref);
    return count;
}
