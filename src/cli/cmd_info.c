/* cmd_info.c - `tuna info --model DIR [--json]` (placeholder until the model loader lands). */
#include "cli/commands.h"
#include <stdio.h>
int cmd_info(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "tuna info: not built yet\n"); return 1; }
