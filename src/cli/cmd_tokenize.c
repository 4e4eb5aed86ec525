/* cmd_tokenize.c - `tuna tokenize --tokenizer PATH [--no-special] [--decode]`.
 *
 * Encode (default): each stdin line (without its newline) -> one JSON array of
 * ids. Decode: each stdin line is a JSON array of ids -> one JSON string.
 */
#include "base/err.h"
#include "cli/commands.h"
#include "tok/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: tuna tokenize --tokenizer PATH [--no-special] [--decode [--skip-special]]\n\n"
            "Encodes each line of stdin and prints one JSON array of token ids per line.\n\n"
            "  --tokenizer PATH  tokenizer.json, a model directory holding it, a directory with\n"
            "                    vocab.json + merges.txt (or encoder.json + vocab.bpe), or a\n"
            "                    llama2.c tokenizer.bin\n"
            "  --no-special      do not add the tokenizer's BOS/EOS (post-processor)\n"
            "  --decode          the reverse: read JSON arrays of ids, print JSON strings\n"
            "  --skip-special    with --decode: leave special tokens out of the text\n");
}

static int encode_lines(const tn_tokenizer *tok, int add_special) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    tn_tok_ids ids = {0};
    char *out = NULL;
    size_t outcap = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        if (n > 0 && line[n - 1] == '\n') n--;
        if (tn_tok_encode_into(tok, line, (size_t)n, add_special, &ids)) {
            rc = -1;
            break;
        }
        if (outcap < ids.n * 12 + 4) {
            outcap = ids.n * 12 + 4;
            out = realloc(out, outcap);
            if (!out) {
                rc = tn_fail("out of memory");
                break;
            }
        }
        size_t o = 0;
        out[o++] = '[';
        for (size_t i = 0; i < ids.n; i++) o += (size_t)sprintf(out + o, i ? ",%d" : "%d", (int)ids.ids[i]);
        out[o++] = ']';
        out[o++] = '\n';
        fwrite(out, 1, o, stdout);
    }
    free(line);
    free(out);
    tn_tok_ids_free(&ids);
    return rc;
}

static int decode_lines(const tn_tokenizer *tok, int skip_special) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int32_t *ids = NULL;
    size_t lineno = 0;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        json_error_t e;
        json_t *arr = json_loadb(line, (size_t)n, 0, &e);
        if (!json_is_array(arr)) {
            rc = tn_fail("stdin:%zu: expected a JSON array of token ids", lineno);
            json_decref(arr);
            break;
        }
        size_t k = json_array_size(arr);
        ids = realloc(ids, (k ? k : 1) * sizeof *ids);
        for (size_t i = 0; i < k && rc == 0; i++) {
            json_t *v = json_array_get(arr, i);
            if (!json_is_integer(v)) rc = tn_fail("stdin:%zu: element %zu is not an integer", lineno, i);
            else ids[i] = (int32_t)json_integer_value(v);
        }
        json_decref(arr);
        if (rc) break;
        size_t len;
        char *text = tn_tok_decode(tok, ids, k, skip_special, &len);
        if (!text) {
            tn_err_prefix("stdin:%zu", lineno);
            rc = -1;
            break;
        }
        json_t *s = json_stringn(text, len);
        char *js = json_dumps(s, JSON_ENCODE_ANY);
        puts(js);
        free(js);
        json_decref(s);
        free(text);
    }
    free(line);
    free(ids);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL;
    int add_special = 1, decode = 0, skip_special = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--no-special"))
            add_special = 0;
        else if (!strcmp(argv[i], "--decode"))
            decode = 1;
        else if (!strcmp(argv[i], "--skip-special"))
            skip_special = 1;
        else {
            fprintf(stderr, "tuna tokenize: unknown argument '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "tuna tokenize: --tokenizer PATH is required\n\n");
        usage(stderr);
        return 2;
    }
    tn_tokenizer *tok = tn_tok_load(path);
    if (!tok) return cli_fail("tokenize");
    int rc = decode ? decode_lines(tok, skip_special) : encode_lines(tok, add_special);
    tn_tok_free(tok);
    if (rc) return cli_fail("tokenize");
    return 0;
}
