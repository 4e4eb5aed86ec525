/* cmd_convert.c - placeholder until the llama2.c importer lands. */
#include "cli/commands.h"
#include <stdio.h>
int cmd_convert(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "tuna convert: not built yet\n"); return 1; }
