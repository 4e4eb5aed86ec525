/* json.h - small typed accessors over jansson.
 *
 * Every accessor names the file and the field in its error, so a user who
 * wrote "num_hidden_layers": "4" reads
 *   "cfg/config.json: field num_hidden_layers: expected an integer, got a string".
 */
#ifndef TN_JSON_H
#define TN_JSON_H

#include <jansson.h>
#include <stdint.h>

/* Loads a JSON file; the error names the file, line and column. */
json_t *tn_json_load_file(const char *path);
/* Parses a buffer; `what` names the source in errors. */
json_t *tn_json_loadb(const char *buf, size_t len, const char *what);

/* Field getters. `what` is the source name used in errors (usually a path).
 * The *_opt forms return `def` when the field is absent or null, and fail only
 * on a wrong type. */
int tn_json_int(const json_t *obj, const char *key, const char *what, int64_t *out);
int tn_json_int_opt(const json_t *obj, const char *key, const char *what, int64_t def, int64_t *out);
int tn_json_num_opt(const json_t *obj, const char *key, const char *what, double def, double *out);
int tn_json_bool_opt(const json_t *obj, const char *key, const char *what, int def, int *out);
/* Returns a borrowed string or NULL when absent (def is returned then). */
int tn_json_str_opt(const json_t *obj, const char *key, const char *what, const char *def,
                    const char **out);
/* A JSON type's name for messages ("a string", "an integer", ...). */
const char *tn_json_type_name(const json_t *v);
/* Writes a JSON value to a file atomically, indented. */
int tn_json_save_file(const json_t *v, const char *path);

#endif
