/* cmd_convert.c - `tuna convert`: import a checkpoint into an HF model directory. */
#include "base/err.h"
#include "base/log.h"
#include "cli/commands.h"
#include "model/llama2c.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: tuna convert --from llama2c [--tokenizer TOK.bin] --out DIR CKPT.bin\n\n"
            "Imports a llama2.c \"legacy\" checkpoint (7 int32 header + fp32 weights) into an HF Llama\n"
            "model directory: config.json + model.safetensors (fp32), q/k rows permuted from\n"
            "llama2.c's interleaved RoPE to HF's rotate-half layout. With --tokenizer, the llama2.c\n"
            "tokenizer.bin is converted to tokenizer.json (+ tokenizer_config.json) beside it.\n\n"
            "options:\n"
            "  --from FORMAT     source format (only: llama2c)\n"
            "  --tokenizer FILE  llama2.c tokenizer.bin to convert alongside\n"
            "  --out DIR         output directory (created)\n");
}

int cmd_convert(int argc, char **argv) {
    static const struct option opts[] = {{"from", required_argument, 0, 'f'},
                                         {"tokenizer", required_argument, 0, 't'},
                                         {"out", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *from = NULL, *tok = NULL, *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': from = optarg; break;
        case 't': tok = optarg; break;
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1 || !from || !out) {
        fprintf(stderr, "tuna convert: need --from, --out and one checkpoint file\n");
        usage(stderr);
        return 2;
    }
    if (strcmp(from, "llama2c") != 0) {
        fprintf(stderr, "tuna convert: --from %s is not supported (supported: llama2c)\n", from);
        return 2;
    }
    if (tn_llama2c_import(argv[optind], tok, out)) return cli_fail("convert");
    tn_info("converted %s into %s", argv[optind], out);
    return 0;
}
