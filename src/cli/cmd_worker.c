/* cmd_worker.c - `tuna worker`: evaluate the validator's submissions on
 * this host (src/worker/worker.h, docs/operations.md). */
#include "worker/worker.h"
#include "validator/evaljob.h"
#include "base/err.h"
#include "base/log.h"
#include "base/num.h"
#include "cli/commands.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static atomic_int g_stop;

static void on_signal(int sig) {
    (void)sig;
    atomic_store(&g_stop, 1);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: tuna worker --store URL --validator URL --key FILE [options]\n\n"
            "Claims the validator's queued evaluations from its database under a lease, fetches the\n"
            "base model, the submission and the scored sets through the validator's signed blob URLs\n"
            "(caching them by hash), runs the same sandboxed evaluation as the validator's own\n"
            "children, renews the lease while it runs and records the result. A worker that dies\n"
            "loses its lease and the evaluation goes to another. Stops on SIGINT/SIGTERM, giving its\n"
            "evaluation back. docs/operations.md says how to run workers and what each failure does.\n\n"
            "options:\n"
            "  --store URL           the validator's database: postgres://... (or an SQLite path it shares)\n"
            "  --validator URL       the validator's API, where /blobs/ answers (http://HOST:PORT)\n"
            "  --key FILE            this worker's key pair (tuna keygen): names it in leases\n"
            "  --cache-dir DIR       blob cache and job directories (default ./worker)\n"
            "  --lease-s S           lease length, renewed every third of it (default 60, at least 3)\n"
            "  --poll-s S            wait between empty claims (default 2)\n"
            "  --once                exit when there is nothing left to claim\n"
            "  --eval-mem MB         evaluator child's memory limit (default: per job, from the\n"
            "                        memory model for its base, as the validator's; 0: none)\n"
            "  --eval-time S         evaluator child's wall-clock limit (default 1800; 0 = none)\n"
            "  --threads N           evaluator child's threads (default: inherited, all cores); the\n"
            "                        validator's own children use cores / eval.parallel: the same N\n"
            "                        on both gives bit-identical losses\n"
            "  --tuna-bin PATH       the engine to run (default: this binary)\n"
            "  -v, --verbose         debug logging\n");
}

int cmd_worker(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    enum { O_STORE = 1, O_VALIDATOR, O_KEY, O_CACHE, O_LEASE, O_POLL, O_ONCE, O_MEM, O_TIME, O_THREADS, O_BIN, O_VERBOSE };
    static const struct option opts[] = {
        {"store", 1, 0, O_STORE}, {"validator", 1, 0, O_VALIDATOR}, {"key", 1, 0, O_KEY},
        {"cache-dir", 1, 0, O_CACHE}, {"lease-s", 1, 0, O_LEASE},  {"poll-s", 1, 0, O_POLL},
        {"once", 0, 0, O_ONCE},   {"eval-mem", 1, 0, O_MEM},        {"eval-time", 1, 0, O_TIME},
        {"threads", 1, 0, O_THREADS}, {"tuna-bin", 1, 0, O_BIN}, {"verbose", 0, 0, O_VERBOSE}, {0, 0, 0, 0}};
    tn_worker_opts o = {.cache_dir = "worker", .lease_s = 60, .poll_s = 2, .mem_mb = TN_EVAL_MEM_AUTO, .wall_s = 1800,
                        .stop = &g_stop};
    int64_t mem = 0, threads = 0;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
        switch (ch) {
        case O_STORE: o.store_url = optarg; break;
        case O_VALIDATOR: o.validator_url = optarg; break;
        case O_KEY: o.key_path = optarg; break;
        case O_CACHE: o.cache_dir = optarg; break;
        case O_LEASE: if (tn_parse_double("--lease-s", optarg, 3, 86400, &o.lease_s)) goto bad; break;
        case O_POLL: if (tn_parse_double("--poll-s", optarg, 0.05, 3600, &o.poll_s)) goto bad; break;
        case O_ONCE: o.once = 1; break;
        case O_MEM:
            if (tn_parse_i64("--eval-mem", optarg, 0, INT64_C(1) << 30, &mem)) goto bad;
            o.mem_mb = (long)mem;
            break;
        case O_TIME: if (tn_parse_double("--eval-time", optarg, 0, 7 * 86400, &o.wall_s)) goto bad; break;
        case O_THREADS:
            if (tn_parse_i64("--threads", optarg, 1, 4096, &threads)) goto bad;
            o.threads = (int)threads;
            break;
        case O_BIN: o.tuna = optarg; break;
        case O_VERBOSE:
        case 'v': tn_log_set_level(TN_LOG_DEBUG); break;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "tuna worker: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o.store_url || !o.validator_url || !o.key_path) {
        fprintf(stderr, "tuna worker: --store, --validator and --key are required (tuna worker --help)\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return tn_worker_run(&o) ? cli_fail("worker") : 0;
bad:
    return cli_usage_fail("worker");
}
