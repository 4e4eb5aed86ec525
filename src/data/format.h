/* format.h - turn a dataset row into a tn_sample (prompt + response text).
 *
 * Three kinds of rows:
 *
 * INSTRUCT - column mapping as G.O.D's "instruct" dataset type, which it
 * hands to axolotl as a user-defined ("custom") prompt format:
 *     system  = row[field_system] if field_system is set and the row has it,
 *               else system_prompt when field_system is not set, else ""
 *     prompt  = system_format.format(system=system)  if system is non-empty
 *             + format.format(instruction=, input=)  if input is non-empty
 *               or no_input_format.format(instruction=) otherwise
 *     response = row[field_output]
 *   The prompt is one untrainable segment, the response one trainable
 *   segment followed by EOS; BOS at the start (sample.add_bos). Defaults:
 *   format "{instruction} {input}" ("{instruction}" when there is no
 *   field_input, as G.O.D does), no_input_format "{instruction}",
 *   system_format "{system}". Format strings follow Python's str.format for
 *   what these fields need: {name} and {{ }} escapes; any other placeholder,
 *   a conversion (!r) or a format spec (:>9) is an error when the type is
 *   checked. A missing field_input column counts as empty input (as in
 *   axolotl); a missing instruction or output column is an error naming
 *   the file, row and column. Values must be strings; integers and reals
 *   are converted to text (42 -> "42", 0.5 -> "0.5", the shortest form
 *   that reads back the same), since spreadsheets and pandas exports turn
 *   numeric answers into numbers. Booleans, objects and arrays are errors;
 *   null counts as missing (so is empty for input/system).
 *   G.O.D sends no field_output for plain-completion tasks: then the
 *   instruction column is the whole text, one trainable segment + EOS.
 *
 * TEXT - row[text_field] (default "text") is one trainable segment, BOS
 *   before and EOS after (axolotl's completion type).
 *
 * CHAT - a message list rendered with a chat template (see chat.h).
 */
#ifndef TN_DATA_FORMAT_H
#define TN_DATA_FORMAT_H

#include "data/chat.h"
#include "data/rows.h"
#include "data/sample.h"

#include <jansson.h>

/* Strings are borrowed (from the configuration that owns them); NULL means
 * "not set" and takes the default described above. */
typedef struct {
    const char *field_system;
    const char *field_instruction;
    const char *field_input;
    const char *field_output;
    const char *format;
    const char *no_input_format;
    const char *system_format;
    const char *system_prompt;
} tn_dataset_type;

typedef enum { TN_DS_INSTRUCT, TN_DS_TEXT, TN_DS_CHAT } tn_ds_kind;

typedef struct {
    tn_ds_kind kind;
    tn_dataset_type instruct;     /* INSTRUCT */
    const char *text_field;       /* TEXT: NULL = "text" */
    const char *messages_field;   /* CHAT: NULL = "messages", else "conversations" */
    tn_chat_template chat_template; /* CHAT */
} tn_data_spec;

/* Fills a dataset type from a JSON object with G.O.D's keys (field_system,
 * field_instruction, field_input, field_output, format, no_input_format,
 * system_format, system_prompt); strings borrow from `obj`. Other keys are
 * ignored; a non-string, non-null value for one of these is an error. Then
 * checks it with tn_dataset_type_check. `what` names the source. */
int tn_dataset_type_from_json(const json_t *obj, const char *what, tn_dataset_type *out);
/* A dataset type as the validator stores and sends it: {"kind": "instruct" |
 * "text" | "chat", the G.O.D keys, "text_field", "messages_field",
 * "chat_template"}; a missing kind is instruct. Strings borrow from `obj`,
 * which must outlive the spec. `what` names the source in errors. */
int tn_data_spec_from_json(const json_t *obj, const char *what, tn_data_spec *spec);
/* field_instruction must be set; format strings must only use the names
 * available to them. Call once before formatting rows. */
int tn_dataset_type_check(const tn_dataset_type *t, const char *what);

/* Guesses the kind from a row's columns: "messages"/"conversations" list ->
 * CHAT, a lone "text" column -> TEXT, else INSTRUCT (which then needs its
 * column mapping). */
tn_ds_kind tn_data_guess_kind(const json_t *row);

/* Formats one row into `out` (initialised, empty). `where` ("file: row 3
 * (line 4)") starts error messages. */
int tn_format_row(const tn_data_spec *spec, const json_t *row, const char *where, tn_sample *out);

/* Reads and formats the next row: 1, 0 at end, -1 on error. `out` is freed
 * and refilled. */
int tn_data_next(tn_rows *r, const tn_data_spec *spec, tn_sample *out);

/* "file: row 3 (line 4)" for the row `r` returned last (heap string). */
char *tn_rows_where(const tn_rows *r);

#endif
