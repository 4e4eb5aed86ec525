/* leak.c - the validator's leak rule (judge/leak.h, default settings) on
 * (test, synthetic) losses read from stdin, one "name test synth" a line,
 * the base model first (tools/public_peek.sh). */
#include "judge/leak.h"
#include <stdio.h>
int main(void) {
    char name[16][32]; double te[16], sy[16], bt, bs; int n = 0;
    if (scanf("%31s %lf %lf", name[15], &bt, &bs) != 3) return 2;
    while (n < 15 && scanf("%31s %lf %lf", name[n], &te[n], &sy[n]) == 3) n++;
    tn_leak_rule r; tn_leak_rule_defaults(&r);
    int fl[16]; double ex[16], th[16];
    tn_leak_check(te, sy, (size_t)n, bt, bs, &r, fl, ex, th);
    for (int i = 0; i < n; i++) printf("  %-7s test %.4f synth %.4f excess %+.3f threshold %.3f %s\n", name[i], te[i], sy[i], ex[i], th[i], fl[i] ? "FLAGGED" : "pass");
    return 0;
}
