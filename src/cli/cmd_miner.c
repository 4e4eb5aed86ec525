/* cmd_miner.c - `tuna miner`: serve a validator's tasks; `tuna miner ledger`. */
#include "miner/miner.h"
#include "base/err.h"
#include "base/log.h"
#include "base/num.h"
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: tuna miner --listen ADDR:PORT --key FILE --validator-key HEX [options]\n"
            "       tuna miner ledger [--work-dir DIR] [--json | --csv]\n\n"
            "Serves POST /task_offer, POST /start_training and GET /status for the validator whose key\n"
            "is given (every request must be signed by it), fine-tunes accepted tasks with `tuna train`\n"
            "in child processes, uploads the results before their deadlines and records each\n"
            "submission in a ledger. Unfinished jobs resume when the miner starts again.\n"
            "docs/miner.md describes the policy, the recipe, the strategies and the ledger.\n\n"
            "options (flags override miner.yml):\n"
            "  --config FILE          miner.yml (keys: the flags with _ for -, plus tuning keys)\n"
            "  --listen ADDR:PORT     where to serve, e.g. 127.0.0.1:8801\n"
            "  --key FILE             this miner's key pair (tuna keygen)\n"
            "  --validator-key HEX    the validator's public key id\n"
            "  --slots N              jobs at once (default 1)\n"
            "  --threads-per-job N    training threads per job (default: cores / slots)\n"
            "  --work-dir DIR         state, downloads and outputs (default ./miner)\n"
            "  --strategy S           fair (default) | resubmit | copy | swap-base | untouched | late |\n"
            "                         test-peek | public-peek: red-team strategies, recorded in the ledger\n"
            "  --copy-from DIR        copy: the files to submit\n"
            "  --swap-model DIR       swap-base: the model trained instead of the asked base\n"
            "  --test-rows FILE       test-peek: leaked test rows mixed into the training data\n"
            "  --public-data PATH     public-peek: a public dataset file, or a folder of them\n"
            "  --tuna-bin PATH        the engine to run (default: this binary)\n"
            "  -v, --verbose          debug logging\n");
}

static int cmd_ledger(int argc, char **argv) {
    const char *dir = "miner";
    tn_ledger_fmt fmt = TN_LEDGER_TABLE;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) fmt = TN_LEDGER_JSON;
        else if (!strcmp(argv[i], "--csv")) fmt = TN_LEDGER_CSV;
        else if (!strcmp(argv[i], "--work-dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "tuna miner ledger: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    return tn_miner_ledger_print(dir, fmt, stdout) ? cli_fail("miner ledger") : 0;
}

int cmd_miner(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "ledger")) return cmd_ledger(argc - 1, argv + 1);
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    enum { O_CONFIG = 1, O_LISTEN, O_KEY, O_VKEY, O_SLOTS, O_THREADS, O_WORK, O_STRAT, O_COPY, O_SWAP, O_TEST,
           O_PUBLIC, O_BIN, O_VERBOSE };
    static const struct option opts[] = {
        {"config", 1, 0, O_CONFIG},     {"listen", 1, 0, O_LISTEN},          {"key", 1, 0, O_KEY},
        {"validator-key", 1, 0, O_VKEY}, {"slots", 1, 0, O_SLOTS},           {"threads-per-job", 1, 0, O_THREADS},
        {"work-dir", 1, 0, O_WORK},     {"strategy", 1, 0, O_STRAT},         {"copy-from", 1, 0, O_COPY},
        {"swap-model", 1, 0, O_SWAP},   {"test-rows", 1, 0, O_TEST},         {"tuna-bin", 1, 0, O_BIN},
        {"public-data", 1, 0, O_PUBLIC}, {"verbose", 0, 0, O_VERBOSE},      {0, 0, 0, 0}};
    tn_miner_config c;
    tn_miner_config_defaults(&c);
    int rc = 2, ch;
    /* the config first, wherever --config appears, so that flags override it */
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--config") && tn_miner_config_load_yaml(&c, argv[i + 1])) {
            rc = cli_fail("miner");
            goto out;
        }
    optind = 1;
    while ((ch = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
        switch (ch) {
        case O_CONFIG: break;
        case O_LISTEN: tn_miner_config_set(&c.listen, optarg); break;
        case O_KEY: tn_miner_config_set(&c.key_path, optarg); break;
        case O_VKEY: tn_miner_config_set(&c.validator_key, optarg); break;
        case O_SLOTS: if (tn_parse_int("--slots", optarg, 1, 64, &c.slots)) goto bad; break;
        case O_THREADS: if (tn_parse_int("--threads-per-job", optarg, 1, 1024, &c.threads_per_job)) goto bad; break;
        case O_WORK: tn_miner_config_set(&c.work_dir, optarg); break;
        case O_STRAT: if (tn_strategy_parse(optarg, &c.strategy)) goto bad; break;
        case O_COPY: tn_miner_config_set(&c.copy_from, optarg); break;
        case O_SWAP: tn_miner_config_set(&c.swap_model, optarg); break;
        case O_TEST: tn_miner_config_set(&c.test_rows, optarg); break;
        case O_PUBLIC: tn_miner_config_set(&c.public_data, optarg); break;
        case O_BIN: tn_miner_config_set(&c.tuna_bin, optarg); break;
        case O_VERBOSE: tn_log_set_level(TN_LOG_DEBUG); break;
        default: usage(stderr); goto out;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "tuna miner: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    rc = tn_miner_run(&c) ? cli_fail("miner") : 0;
    goto out;
bad:
    rc = cli_fail("miner");
out:
    tn_miner_config_free(&c);
    return rc;
}
