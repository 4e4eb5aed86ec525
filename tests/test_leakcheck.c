/* test_leakcheck.c - the synthetic-set generator and the test/synth leak check. */
#include "harness.h"
#include "judge/leak.h"
#include "judge/synth.h"
#include "base/err.h"

#include <stdlib.h>
#include <string.h>

TEST(rewrite_keeps_meaning_markers) {
    const char *text = "Calculate  the total.   Then write it down.  \nExplain why.";
    int changed = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        char *s = tn_synth_rewrite_text(text, seed, 1);
        /* runs of blanks collapsed, blanks before a line end dropped */
        CHECK(!strstr(s, "  ") && !strstr(s, " \n"));
        /* every synonym swap keeps capitalisation */
        CHECK(strstr(s, "Calculate the total.") || strstr(s, "Compute the total."));
        CHECK(strstr(s, "Explain why.") || strstr(s, "Describe why."));
        changed += strstr(s, "Compute") != NULL;
        /* the same seed gives the same text */
        char *again = tn_synth_rewrite_text(text, seed, 1);
        CHECK(!strcmp(s, again));
        free(again);
        free(s);
    }
    CHECK(changed > 3 && changed < 17); /* about half the seeds swap it */
}

TEST(synth_rows_touch_prompts_only) {
    json_t *rows = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}]", "q", "Write a poem", "ctx", "about  cats",
                             "a", "Cats are  nice", "q", "Find x", "ctx", "", "a", "x = 2");
    tn_data_spec spec = {0};
    spec.kind = TN_DS_INSTRUCT;
    spec.instruct.field_instruction = "q";
    spec.instruct.field_input = "ctx";
    spec.instruct.field_output = "a";
    json_t *out = tn_synth_rows(rows, &spec, 42);
    CHECK(json_array_size(out) == 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *o = json_array_get(out, i), *r = json_array_get(rows, i);
        /* answers untouched, byte for byte */
        CHECK(json_equal(json_object_get(o, "a"), json_object_get(r, "a")));
        /* the instruction got a lead-in, so it differs */
        CHECK(strcmp(json_string_value(json_object_get(o, "q")), json_string_value(json_object_get(r, "q"))) != 0);
    }
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(out, 0), "ctx")), "about cats"));
    /* the input rows were not modified */
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(rows, 0), "q")), "Write a poem"));
    json_decref(out);
    json_decref(rows);
}

TEST(leak_flags_only_the_outlier) {
    tn_leak_rule rule;
    tn_leak_rule_defaults(&rule);
    /* four honest miners: synth about 0.1 above test; miner 4 saw the test set */
    double test[] = {2.00, 2.10, 1.95, 2.05, 1.40};
    double synth[] = {2.10, 2.22, 2.04, 2.13, 2.15};
    int flagged[5];
    double excess[5], thr[5];
    int n = tn_leak_check(test, synth, 5, 2.60, 2.68, &rule, flagged, excess, thr);
    CHECK(n == 1 && flagged[4] == 1);
    for (int i = 0; i < 4; i++) CHECKF(!flagged[i], "honest miner %d flagged (excess %.3f > %.3f)", i, excess[i], thr[i]);
    CHECK(excess[4] > 0.6);
    /* a lone miner is compared with the base model */
    double t1[] = {1.2}, s1[] = {2.1};
    CHECK(tn_leak_check(t1, s1, 1, 2.6, 2.7, &rule, flagged, excess, thr) == 1);
    double t2[] = {2.0}, s2[] = {2.12};
    CHECK(tn_leak_check(t2, s2, 1, 2.6, 2.7, &rule, flagged, excess, thr) == 0);
}

/* The numbers of the arena run that motivated leak_rel (faster engine): an
 * honest miner that trained harder than the others sits 0.072 nats above
 * them on a gain of ~0.96 nats; it must pass, and a peeker must not. */
TEST(leak_threshold_grows_with_gain) {
    tn_leak_rule rule;
    tn_leak_rule_defaults(&rule);
    const double base_test = 3.87, base_synth = 3.50;
    /* fair-a (strong), three other honest miners, a peeker */
    double test[] = {2.9128, 3.05, 3.08, 3.10, 1.8109};
    double synth[] = {2.6013, 2.666, 2.70, 2.72, 3.1361};
    int flagged[5];
    double excess[5], thr[5];
    int n = tn_leak_check(test, synth, 5, base_test, base_synth, &rule, flagged, excess, thr);
    CHECKF(!flagged[0], "strong honest miner flagged: excess %.3f > %.3f", excess[0], thr[0]);
    CHECK(excess[0] > 0.06 && excess[0] > rule.min_excess); /* min_excess alone would flag it */
    CHECK(thr[0] > 0.14 && thr[0] < 0.15);                  /* 0.15 * (3.87 - 2.9128) */
    CHECK(flagged[4] && n == 1);
    /* without the relative term the same honest miner is flagged */
    rule.rel = 0.0;
    CHECK(tn_leak_check(test, synth, 5, base_test, base_synth, &rule, flagged, excess, thr) == 2 && flagged[0]);
}

int main(void) {
    RUN(rewrite_keeps_meaning_markers);
    RUN(synth_rows_touch_prompts_only);
    RUN(leak_flags_only_the_outlier);
    RUN(leak_threshold_grows_with_gain);
    return tn_test_summary("test_leakcheck");
}
