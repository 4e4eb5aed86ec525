/* cli_util.c - helpers shared by the subcommands. */
#include "base/err.h"
#include "cli/commands.h"

#include <stdio.h>
#include <string.h>

int cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

int cli_fail(const char *cmd) {
    fprintf(stderr, "tuna %s: %s\n", cmd, tn_errmsg());
    return 1;
}

int cli_usage_fail(const char *cmd) {
    cli_fail(cmd);
    return 2;
}
