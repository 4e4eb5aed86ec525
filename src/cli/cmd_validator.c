/* cmd_validator.c - `tuna validator`: run the organiser's server. */
#include "validator/validator.h"
#include "base/err.h"
#include "base/num.h"
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: tuna validator --data-dir DIR --admin-key HEX [options]\n\n"
               "Runs the competition's validator: the HTTP API and dashboard, the task scheduler\n"
               "(prepare, offer, train, evaluate, score) and the evaluator children. Everything it\n"
               "needs to survive a restart is in --data-dir. Stops cleanly on SIGINT/SIGTERM.\n\n"
               "options:\n"
               "  --data-dir DIR        store, blobs, uploads, task files (created)\n"
               "  --store URL           the store: postgres://... or postgresql://... (PostgreSQL), or\n"
               "                        sqlite:PATH or a path (default DIR/store.sqlite)\n"
               "  --admin-key HEX       the organiser's public key (tuna keygen); signs admin calls\n"
               "  --listen HOST:PORT    default 127.0.0.1:0 (0 = any free port, written to\n"
               "                        DIR/validator.json)\n"
               "  --key FILE            the validator's own key (default DIR/validator.key, created)\n"
               "  --offer-timeout MS    how long a miner may take to answer an offer (default 3000)\n"
               "  --pool N              miners offered each task (default: all enabled)\n"
               "  --seq-len N           evaluation sequence length (default 512)\n"
               "  --eval-mem MB         evaluator child's memory limit (default: per job, from the\n"
               "                        memory model for its base; 0: none)\n"
               "  --eval-time S         evaluator child's wall-clock limit (default 1800)\n"
               "  --max-upload MB       largest file a miner may upload (default 4096)\n"
               "  --max-miners N        miners allowed in total (default 20; 5 per owner)\n"
               "  --role all|api|scheduler  what this process does when several share one store\n"
               "                        (default all: the API, and the scheduler while it holds the\n"
               "                        store's scheduler lease; api: the API only; scheduler: the\n"
               "                        scheduler, serving only /blobs/ and /v1/health)\n"
               "  --lease-s S           the scheduler's lease (default 30)\n");
}

int cmd_validator(int argc, char **argv) {
    static const struct option opts[] = {
        {"data-dir", 1, 0, 'd'}, {"admin-key", 1, 0, 'a'},    {"listen", 1, 0, 'l'},  {"key", 1, 0, 'k'},
        {"offer-timeout", 1, 0, 'o'}, {"pool", 1, 0, 'p'},    {"seq-len", 1, 0, 's'}, {"eval-mem", 1, 0, 'm'},
        {"eval-time", 1, 0, 't'}, {"max-upload", 1, 0, 'u'}, {"max-miners", 1, 0, 'n'}, {"store", 1, 0, 'S'},
        {"role", 1, 0, 'R'}, {"lease-s", 1, 0, 'L'},
        {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    tn_validator_opts o;
    tn_validator_opts_default(&o);
    static char host[256];
    int c, bad = 0;
    int64_t mem_mb;
    uint64_t upload_mb;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o.data_dir = optarg; break;
        case 'a': o.admin_key = optarg; break;
        case 'l':
            if (tn_parse_host_port("--listen", optarg, host, sizeof host, &o.port)) return cli_usage_fail("validator");
            o.bind = host;
            break;
        case 'k': o.key_path = optarg; break;
        case 'S': o.store_url = optarg; break;
        case 'R':
            if (!strcmp(optarg, "all")) o.role = TN_VALIDATOR_ALL;
            else if (!strcmp(optarg, "api")) o.role = TN_VALIDATOR_API;
            else if (!strcmp(optarg, "scheduler")) o.role = TN_VALIDATOR_SCHEDULER;
            else bad = tn_fail("--role: '%s' is not all, api or scheduler", optarg);
            break;
        case 'L': bad = tn_parse_double("--lease-s", optarg, 1, 86400, &o.lease_s); break;
        case 'o': bad = tn_parse_int("--offer-timeout", optarg, 1, 86400000, &o.offer_timeout_ms); break;
        case 'p': bad = tn_parse_int("--pool", optarg, 0, 1 << 20, &o.pool_size); break;
        case 's': bad = tn_parse_int("--seq-len", optarg, 2, 1 << 20, &o.seq_len); break;
        case 'm':
            if (!(bad = tn_parse_i64("--eval-mem", optarg, 0, INT64_C(1) << 30, &mem_mb))) o.eval_mem_mb = (long)mem_mb;
            break;
        case 't': bad = tn_parse_double("--eval-time", optarg, 0, 1e9, &o.eval_wall_s); break;
        case 'u': /* megabytes: at most 2^30, so that the bytes fit in 64 bits */
            if (!(bad = tn_parse_u64("--max-upload", optarg, 1, UINT64_C(1) << 30, &upload_mb)))
                o.max_upload_bytes = upload_mb << 20;
            break;
        case 'n': bad = tn_parse_int("--max-miners", optarg, 0, 1 << 20, &o.max_miners); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) return cli_usage_fail("validator");
    }
    if (!o.data_dir || !o.admin_key || optind != argc) {
        usage(stderr);
        return 2;
    }
    return tn_validator_main(&o) ? cli_fail("validator") : 0;
}
