/* cmd_info.c - `tuna info --model DIR [--json]`: describe an HF model directory. */
#include "base/err.h"
#include "cli/commands.h"
#include "model/model.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f) {
    fprintf(f, "usage: tuna info --model DIR [--json] [--no-weights]\n\n"
               "Loads an HF model directory (config.json + safetensors, validated: shapes, names,\n"
               "no NaN/Inf) and prints its architecture and parameter count.\n\n"
               "options:\n"
               "  --model DIR    the model directory\n"
               "  --json         print one JSON object: model_type, params, layers, hidden_size,\n"
               "                 vocab_size, heads, kv_heads, head_dim, intermediate_size, tied\n"
               "  --no-weights   read config.json only (fast; params computed from the config)\n");
}

int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"json", no_argument, 0, 'j'},
                                         {"no-weights", no_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *dir = NULL;
    int as_json = 0, no_weights = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case 'j': as_json = 1; break;
        case 'n': no_weights = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!dir || optind != argc) {
        usage(stderr);
        return 2;
    }
    tn_model m;
    tn_config cfg;
    const tn_config *cp;
    int64_t params;
    if (no_weights) {
        if (tn_config_load(&cfg, dir)) return cli_fail("info");
        cp = &cfg;
        params = tn_config_param_count(&cfg);
    } else {
        if (tn_model_load(&m, dir, 1)) return cli_fail("info");
        cp = &m.cfg;
        params = (int64_t)m.numel;
    }
    if (as_json) {
        json_t *j = json_pack("{s:s, s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:i}", "model_type", cp->model_type,
                              "params", (json_int_t)params, "layers", cp->n_layers, "hidden_size", cp->hidden_size,
                              "vocab_size", cp->vocab_size, "heads", cp->n_heads, "kv_heads", cp->n_kv_heads,
                              "head_dim", cp->head_dim, "intermediate_size", cp->intermediate_size, "tied",
                              cp->tie_embeddings, "max_positions", cp->max_positions);
        char *s = json_dumps(j, JSON_SORT_KEYS);
        printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        printf("model_type   %s\nparams       %lld (%.2fM)\nlayers       %d\nhidden_size  %d\n"
               "heads        %d (kv %d, head_dim %d)\nintermediate %d\nvocab_size   %d\nmax_pos      %d\ntied head    %s\n",
               cp->model_type, (long long)params, params / 1e6, cp->n_layers, cp->hidden_size, cp->n_heads,
               cp->n_kv_heads, cp->head_dim, cp->intermediate_size, cp->vocab_size, cp->max_positions,
               cp->tie_embeddings ? "yes" : "no");
    }
    if (no_weights)
        tn_config_free(&cfg);
    else
        tn_model_free(&m);
    return 0;
}
