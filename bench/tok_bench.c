/* tok_bench.c - tuna's encode throughput, for bench/tok_bench.
 *
 *   tok_bench CORPUS.jsonl PASSES NAME=PATH...
 *
 * CORPUS has one JSON string per line. For each tokenizer: one warm-up pass
 * over the corpus, then PASSES timed passes on one thread; prints
 * "NAME MB/s LOAD_SECONDS" (MB of UTF-8 input).
 */
#include "base/err.h"
#include "base/fs.h"
#include "tok/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: tok_bench CORPUS.jsonl PASSES NAME=PATH...\n");
        return 2;
    }
    size_t len;
    char *buf = tn_read_file(argv[1], &len);
    if (!buf) {
        fprintf(stderr, "tok_bench: %s\n", tn_errmsg());
        return 1;
    }
    char **texts = NULL;
    size_t *lens = NULL, n = 0, bytes = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *s = json_loads(line, JSON_DECODE_ANY, NULL);
        if (!json_is_string(s)) continue;
        texts = realloc(texts, (n + 1) * sizeof *texts);
        lens = realloc(lens, (n + 1) * sizeof *lens);
        lens[n] = json_string_length(s);
        texts[n] = malloc(lens[n] + 1);
        memcpy(texts[n], json_string_value(s), lens[n] + 1);
        bytes += lens[n++];
        json_decref(s);
    }
    int passes = atoi(argv[2]);
    for (int a = 3; a < argc; a++) {
        char *eq = strchr(argv[a], '=');
        if (!eq) continue;
        *eq = 0;
        double t0 = now();
        tn_tokenizer *tok = tn_tok_load(eq + 1);
        double load = now() - t0;
        if (!tok) {
            fprintf(stderr, "tok_bench: %s\n", tn_errmsg());
            return 1;
        }
        tn_tok_ids ids = {0};
        size_t sink = 0;
        for (size_t i = 0; i < n; i++) tn_tok_encode_into(tok, texts[i], lens[i], 1, &ids), sink += ids.n;
        t0 = now();
        for (int p = 0; p < passes; p++)
            for (size_t i = 0; i < n; i++) tn_tok_encode_into(tok, texts[i], lens[i], 1, &ids), sink += ids.n;
        double secs = now() - t0;
        printf("%s %.3f %.3f %zu\n", argv[a], (double)bytes * passes / 1e6 / secs, load, sink);
        tn_tok_ids_free(&ids);
        tn_tok_free(tok);
    }
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(lens);
    free(buf);
    return 0;
}
