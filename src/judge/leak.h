/* leak.h - flag submissions whose test loss is anomalously low against
 * their synthetic loss.
 *
 * A model that saw the test rows (test-set hunting) has a test loss well
 * below what its synthetic loss predicts; an honest fine-tune does about as
 * well on both, with a gap that is much the same for every honest miner
 * (the synthetic set is a little harder or easier than the test set, by the
 * same amount for all). For each submission the gap is
 *     gap = synth_loss - test_loss
 * and it is compared with a reference: the median gap of the task's other
 * valid submissions (with the base model's gap added when there are fewer
 * than two of them). The submission is flagged when
 *     gap - median > max(min_excess, k * MAD, rel * (base_test - test_loss))
 * (MAD: median absolute deviation of the reference gaps). The last term
 * lets an honest gap grow with how much the model learned: a miner that
 * trains harder than the others fits the task's exact prompt format better
 * than the reworded synthetic prompts, and its excess grows with its gain
 * (measured with the faster engine: an honest miner 0.072 nats above the
 * others, against a test-set peeker's 1.47). A task with one
 * miner is still checked, against the base model. The base is not used
 * otherwise: fine-tuning shifts every honest model's gap alike, which the
 * base does not share (measured: base -0.77, honest -0.48..-0.52).
 * This only works because the synthetic set is made from rows that are not
 * the test rows (prepare.h): with shared answers a memoriser would do as
 * well on both and show no gap.
 */
#ifndef TN_LEAKCHECK_H
#define TN_LEAKCHECK_H

#include <stddef.h>

typedef struct {
    double min_excess; /* nats; default 0.05 */
    double k;          /* MADs; default 4 */
    double rel;        /* fraction of the test-loss gain over the base; default 0.15 */
} tn_leak_rule;

void tn_leak_rule_defaults(tn_leak_rule *r);

/* test[i], synth[i] for n submissions; base_test/base_synth for the base
 * model. Fills flagged[i] (0/1) and excess[i] (gap - reference median) and
 * threshold[i]; returns the number flagged. */
int tn_leak_check(const double *test, const double *synth, size_t n, double base_test, double base_synth,
                  const tn_leak_rule *rule, int *flagged, double *excess, double *threshold);

#endif
