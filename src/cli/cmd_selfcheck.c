/* cmd_selfcheck.c - placeholder. */
#include "cli/commands.h"
#include <stdio.h>
int cmd_selfcheck(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "tuna selfcheck: not built yet\n"); return 1; }
