/* cmd_validator.c - `tuna validator`: run the organiser's server. */
#include "validator/validator.h"
#include "base/err.h"
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f) {
    fprintf(f, "usage: tuna validator --data-dir DIR --admin-key HEX [options]\n\n"
               "Runs the competition's validator: the HTTP API and dashboard, the task scheduler\n"
               "(prepare, offer, train, evaluate, score) and the evaluator children. Everything it\n"
               "needs to survive a restart is in --data-dir. Stops cleanly on SIGINT/SIGTERM.\n\n"
               "options:\n"
               "  --data-dir DIR        store, blobs, uploads, task files (created)\n"
               "  --admin-key HEX       the organiser's public key (tuna keygen); signs admin calls\n"
               "  --listen HOST:PORT    default 127.0.0.1:0 (0 = any free port, written to\n"
               "                        DIR/validator.json)\n"
               "  --key FILE            the validator's own key (default DIR/validator.key, created)\n"
               "  --offer-timeout MS    how long a miner may take to answer an offer (default 3000)\n"
               "  --pool N              miners offered each task (default: all enabled)\n"
               "  --seq-len N           evaluation sequence length (default 512)\n"
               "  --eval-mem MB         evaluator child's memory limit (default 8192)\n"
               "  --eval-time S         evaluator child's wall-clock limit (default 1800)\n"
               "  --max-upload MB       largest file a miner may upload (default 4096)\n"
               "  --max-miners N        miners allowed in total (default 20; 5 per owner)\n");
}

int cmd_validator(int argc, char **argv) {
    static const struct option opts[] = {
        {"data-dir", 1, 0, 'd'}, {"admin-key", 1, 0, 'a'},    {"listen", 1, 0, 'l'},  {"key", 1, 0, 'k'},
        {"offer-timeout", 1, 0, 'o'}, {"pool", 1, 0, 'p'},    {"seq-len", 1, 0, 's'}, {"eval-mem", 1, 0, 'm'},
        {"eval-time", 1, 0, 't'}, {"max-upload", 1, 0, 'u'}, {"max-miners", 1, 0, 'n'}, {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    tn_validator_opts o;
    tn_validator_opts_default(&o);
    static char host[256];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o.data_dir = optarg; break;
        case 'a': o.admin_key = optarg; break;
        case 'l':
            if (sscanf(optarg, "%255[^:]:%d", host, &o.port) != 2 || o.port < 0 || o.port > 65535) {
                fprintf(stderr, "tuna validator: --listen %s: expected HOST:PORT\n", optarg);
                return 2;
            }
            o.bind = host;
            break;
        case 'k': o.key_path = optarg; break;
        case 'o': o.offer_timeout_ms = atoi(optarg); break;
        case 'p': o.pool_size = atoi(optarg); break;
        case 's': o.seq_len = atoi(optarg); break;
        case 'm': o.eval_mem_mb = atol(optarg); break;
        case 't': o.eval_wall_s = atof(optarg); break;
        case 'u': o.max_upload_bytes = (uint64_t)atoll(optarg) << 20; break;
        case 'n': o.max_miners = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!o.data_dir || !o.admin_key || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (o.offer_timeout_ms <= 0 || o.seq_len < 2 || o.eval_mem_mb < 0 || o.eval_wall_s < 0) {
        fprintf(stderr, "tuna validator: --offer-timeout, --seq-len and the limits must be positive\n");
        return 2;
    }
    return tn_validator_main(&o) ? cli_fail("validator") : 0;
}
