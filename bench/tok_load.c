/* tok_load.c - tokenizer load time, for bench/tok_load.
 *
 *   tok_load RUNS NAME=PATH...
 *
 * Loads each tokenizer RUNS times (after one warm-up load, so the file is in
 * the page cache) and prints "NAME median_wall_s median_cpu_s vocab_size".
 * CPU time is printed too because on a shared machine wall time mostly
 * measures the other processes.
 */
#include "base/err.h"
#include "tok/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 0;
    if (argc < 3 || runs < 1 || runs > 1000) {
        fprintf(stderr, "usage: tok_load RUNS NAME=PATH...\n");
        return 2;
    }
    double *wall = calloc((size_t)runs, sizeof *wall), *cpu = calloc((size_t)runs, sizeof *cpu);
    for (int a = 2; a < argc; a++) {
        char *eq = strchr(argv[a], '=');
        if (!eq) continue;
        *eq = 0;
        int32_t nv = 0;
        for (int r = -1; r < runs; r++) {
            double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            tn_tokenizer *t = tn_tok_load(eq + 1);
            double w = clock_s(CLOCK_MONOTONIC) - w0, c = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
            if (!t) {
                fprintf(stderr, "tok_load: %s\n", tn_errmsg());
                return 1;
            }
            nv = tn_tok_vocab_size(t);
            tn_tok_free(t);
            if (r >= 0) wall[r] = w, cpu[r] = c;
        }
        qsort(wall, (size_t)runs, sizeof *wall, cmp);
        qsort(cpu, (size_t)runs, sizeof *cpu, cmp);
        printf("%s %.3f %.3f %d\n", argv[a], wall[runs / 2], cpu[runs / 2], nv);
    }
    free(wall);
    free(cpu);
    return 0;
}
