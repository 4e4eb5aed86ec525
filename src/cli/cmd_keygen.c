/* cmd_keygen.c - `tuna keygen --out FILE [--force]`: a new Ed25519 key pair.
 * Writes the key file (mode 0600) and prints the public key (the key id) on
 * stdout, so that `tuna keygen --out k.json > k.pub` captures what others
 * must be told. */
#include "net/keys.h"
#include "base/err.h"
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>

static void usage(FILE *f) {
    fprintf(f, "usage: tuna keygen --out FILE [--force]\n\n"
               "Creates an Ed25519 key pair for signing validator/miner requests. The key file is\n"
               "JSON {\"public\": hex, \"secret\": hex}, readable by you only (0600). Prints the public\n"
               "key (the key id that the other side must allow).\n\n"
               "options:\n"
               "  --out FILE   where to write the key file (refused if it exists)\n"
               "  --force      replace an existing key file (the old key is lost)\n");
}

int cmd_keygen(int argc, char **argv) {
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"force", no_argument, 0, 'f'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *out = NULL;
    int force = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'f': force = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!out || optind != argc) {
        usage(stderr);
        return 2;
    }
    tn_keypair kp;
    if (tn_keypair_generate(&kp)) return cli_fail("keygen");
    int rc = tn_keypair_save(&kp, out, force);
    if (rc == 0) printf("%s\n", kp.id);
    tn_keypair_wipe(&kp);
    return rc ? cli_fail("keygen") : 0;
}
