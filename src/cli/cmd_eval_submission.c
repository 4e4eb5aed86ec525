/* cmd_eval_submission.c - `tuna eval-submission --job FILE --out FILE`: the
 * validator's sandboxed evaluator (see src/validator/evaljob.h). Not
 * meant to be run by hand, but it can be, to replay an evaluation. */
#include "validator/evaljob.h"
#include "cli/commands.h"

#include <stdio.h>
#include <string.h>

int cmd_eval_submission(int argc, char **argv) {
    const char *job = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: tuna eval-submission --job JOB.json --out RESULT.json\n\n"
                   "Evaluates one submission as the validator does (provenance rules, fingerprint,\n"
                   "test and synthetic losses) and writes the result JSON. The validator runs it\n"
                   "as a child process with resource limits.\n");
            return 0;
        }
        if (!strcmp(argv[i], "--job") && i + 1 < argc) job = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else {
            fprintf(stderr, "tuna eval-submission: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!job || !out) {
        fprintf(stderr, "usage: tuna eval-submission --job JOB.json --out RESULT.json\n");
        return 2;
    }
    return tn_evaljob_run(job, out) ? cli_fail("eval-submission") : 0;
}
