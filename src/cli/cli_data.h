/* cli_data.h - dataset flags shared by `tuna train` and `tuna eval`.
 *
 *   --format json|jsonl|csv      (default: by file extension)
 *   --type instruct|text|chat    (default: guessed from the first row)
 *   --field-system C --field-instruction C --field-input C --field-output C
 *   --prompt-format S --no-input-format S --system-format S --system-prompt S
 *   --text-field C  --messages-field messages|conversations  --chat-template NAME
 * With no mapping and a row that has "instruction" and "output" columns, the
 * alpaca mapping (instruction, input, output) is used.
 */
#ifndef TN_CLI_DATA_H
#define TN_CLI_DATA_H

#include "data/format.h"

#include <getopt.h>

#define CLI_DATA_OPT_BASE 1000
/* getopt_long entries for the flags above; append to a command's table. */
#define CLI_DATA_OPTIONS                                                   \
    {"format", required_argument, 0, CLI_DATA_OPT_BASE + 0},               \
    {"type", required_argument, 0, CLI_DATA_OPT_BASE + 1},                 \
    {"field-system", required_argument, 0, CLI_DATA_OPT_BASE + 2},         \
    {"field-instruction", required_argument, 0, CLI_DATA_OPT_BASE + 3},    \
    {"field-input", required_argument, 0, CLI_DATA_OPT_BASE + 4},          \
    {"field-output", required_argument, 0, CLI_DATA_OPT_BASE + 5},         \
    {"prompt-format", required_argument, 0, CLI_DATA_OPT_BASE + 6},        \
    {"no-input-format", required_argument, 0, CLI_DATA_OPT_BASE + 7},      \
    {"system-format", required_argument, 0, CLI_DATA_OPT_BASE + 8},        \
    {"system-prompt", required_argument, 0, CLI_DATA_OPT_BASE + 9},        \
    {"text-field", required_argument, 0, CLI_DATA_OPT_BASE + 10},          \
    {"messages-field", required_argument, 0, CLI_DATA_OPT_BASE + 11},      \
    {"chat-template", required_argument, 0, CLI_DATA_OPT_BASE + 12}

#define CLI_DATA_HELP                                                                                   \
    "dataset options:\n"                                                                                \
    "  --format F              json | jsonl | csv (default: by extension)\n"                              \
    "  --type K                instruct | text | chat (default: guessed from the first row)\n"            \
    "  --field-system C        column with a system prompt\n"                                             \
    "  --field-instruction C   column with the instruction (alpaca: instruction)\n"                       \
    "  --field-input C         column with the input (alpaca: input)\n"                                   \
    "  --field-output C        column with the response, the trained part (alpaca: output)\n"            \
    "  --prompt-format S       default \"{instruction} {input}\"\n"                                       \
    "  --no-input-format S     default \"{instruction}\"\n"                                               \
    "  --system-format S       default \"{system}\"\n"                                                    \
    "  --system-prompt S       system text when there is no --field-system\n"                             \
    "  --text-field C          plain-text rows: the column (default text)\n"                              \
    "  --messages-field F      chat rows: messages (role/content) or conversations (from/value)\n"       \
    "  --chat-template T       chatml | llama2 | llama3 | mistral | alpaca (default: the model's)\n"

typedef struct {
    const char *format;
    int kind; /* -1 = guess */
    tn_data_spec spec;
} cli_data;

void cli_data_init(cli_data *d);
/* Handles one getopt result; returns 1 if it was a data flag, 0 if not, -1
 * on a bad value (error set). */
int cli_data_option(cli_data *d, int opt, const char *arg);
/* Fills in the kind and mapping (guessing from the file's first row where
 * not given) and checks it. */
int cli_data_finish(cli_data *d, const char *path);

#endif
