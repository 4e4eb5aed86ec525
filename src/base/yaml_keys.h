/* yaml_keys.h - YAML settings files read through a table of keys.
 *
 * The one reader behind tuna's YAML files (train/config_yaml.c: axolotl
 * configs; miner/config.c: miner.yml). libyaml's document API loads the
 * file into a node tree that keeps each node's line, so every message names
 * file:line and the key. A table lists the keys of a mapping: each row
 * says what the value must be (a number in a range, an integer, a boolean,
 * a string) and where it goes (an offset in the target struct), or names
 * the key's own function for anything more.
 *
 * The rules, the same for every file:
 *   - numbers may be plain or quoted: 2e-4, 0.0002, "2e-4", 1_000 (YAML 1.1
 *     digit separators, plain scalars only); NaN and infinities are not
 *     numbers; integers take 4 or 4.0 but not 4.5;
 *   - booleans: true/false/yes/no/on/off in any case, or 0/1;
 *   - an empty value or null (`max_steps:`, ~, null) leaves the default,
 *     unless the table says empty values are values (then "" is a string
 *     and not a number);
 *   - a key given twice: the last one wins (as in PyYAML), with a warning;
 *   - an unknown key is an error, or (tables that say so) one warning per
 *     key name, none when its value is empty.
 * Warnings go to the log (tn_warn) as "file:line: message" and are counted.
 */
#ifndef TN_YAML_KEYS_H
#define TN_YAML_KEYS_H

#include "base/err.h"

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

/* A loaded YAML file. */
typedef struct {
    const char *path;    /* for messages (borrowed) */
    yaml_document_t doc;
    int loaded;          /* doc holds a document */
    int n_warn;          /* warnings printed */
    char **warned;       /* unknown keys already warned about */
    int n_warned;
} tn_yaml_file;

/* Loads path. 0, or -1 with the error set ("path:line:col: invalid YAML:
 * ..."); tn_yaml_free either way. */
int tn_yaml_load(tn_yaml_file *f, const char *path);
void tn_yaml_free(tn_yaml_file *f);
/* The document's root node, NULL for an empty document. */
yaml_node_t *tn_yaml_root(tn_yaml_file *f);
yaml_node_t *tn_yaml_node(tn_yaml_file *f, int id);

/* ---- nodes ---------------------------------------------------------------- */

unsigned tn_yaml_line(const yaml_node_t *n);         /* 1-based */
const char *tn_yaml_str(const yaml_node_t *n);       /* a scalar's text */
/* Null as PyYAML reads it: an empty value, ~, null. Empty quoted strings
 * count too: no key here means anything different for "" and "not given". */
int tn_yaml_is_null(const yaml_node_t *n);

/* ---- messages ------------------------------------------------------------- */

/* "FILE:LINE: KEY: expected EXPECTED, got V" (V: "a list", "a mapping", or
 * the scalar quoted and cut at 40 bytes). Returns -1. */
int tn_yaml_type_err(tn_yaml_file *f, unsigned line, const char *key, const char *expected, const yaml_node_t *v);
void tn_yaml_warn(tn_yaml_file *f, unsigned line, const char *fmt, ...) TN_PRINTF(3, 4);
/* "unknown key 'KEY' ignored", once per key name. */
void tn_yaml_warn_unknown(tn_yaml_file *f, unsigned line, const char *key);

/* ---- values: 1 = *out set, 0 = null (left as it is), -1 = error set -------- */

/* A number in [lo, hi] ([lo, hi) with hi_open). */
int tn_yaml_get_num(tn_yaml_file *f, unsigned line, const char *key, const yaml_node_t *v, double lo, double hi,
                    int hi_open, double *out);
/* An integer in [lo, hi]. */
int tn_yaml_get_int(tn_yaml_file *f, unsigned line, const char *key, const yaml_node_t *v, double lo, double hi,
                    int64_t *out);
int tn_yaml_get_bool(tn_yaml_file *f, unsigned line, const char *key, const yaml_node_t *v, int *out);
/* Any scalar (`name: 123` is the text "123"), borrowed from the document. */
int tn_yaml_get_str(tn_yaml_file *f, unsigned line, const char *key, const yaml_node_t *v, const char **out);
/* 1 and *out set when v is a boolean (see above), else 0. */
int tn_yaml_parse_bool(const yaml_node_t *v, int *out);

/* ---- key tables ----------------------------------------------------------- */

typedef enum {
    TN_YK_NUM,  /* a number in [lo, hi] */
    TN_YK_INT,  /* an integer in [lo, hi] */
    TN_YK_BOOL, /* -> int */
    TN_YK_STR,  /* -> char *, a heap copy (the old value is freed) */
    TN_YK_FN,   /* the key's own function */
} tn_yaml_type;

/* The C type of a number's destination. A TN_YK_NUM stored in an integer
 * must be whole ("expected an integer"). */
typedef enum {
    TN_YK_NATURAL = 0, /* TN_YK_NUM: double; TN_YK_INT: int */
    TN_YK_AS_INT,
    TN_YK_AS_I64,
    TN_YK_AS_U64,
} tn_yaml_store;

typedef struct tn_yaml_key tn_yaml_key;
/* A key's own function: 0, or -1 with the error set. ctx: the table's. */
typedef int (*tn_yaml_key_fn)(tn_yaml_file *f, const tn_yaml_key *k, const yaml_node_t *v, unsigned line,
                              void *ctx);

struct tn_yaml_key {
    const char *name;
    tn_yaml_type type;
    size_t off;           /* the destination: offset in the table's target */
    double lo, hi;        /* numbers: the range */
    int hi_open;          /* numbers: [lo, hi) */
    tn_yaml_store store;
    double scale;         /* numbers: stored times this (0 = 1), after the range check */
    tn_yaml_key_fn fn;    /* TN_YK_FN */
};

typedef struct {
    const tn_yaml_key *keys;
    size_t n_keys;
    void *target;             /* where the typed keys go */
    void *ctx;                /* handed to the key functions */
    const char *what;         /* the mapping, for "WHAT: expected a mapping" ("config") */
    const char *expected;     /* ... and how it should look ("a mapping of settings") */
    int unknown_warns;        /* unknown keys: 1 one warning each, 0 an error */
    const char *unknown_hint; /* appended to the unknown-key error: " (docs/... lists them)" */
    int empty_is_value;       /* empty and null values are values, not "not given" */
} tn_yaml_table;

/* Applies the mapping `map` (NULL: nothing) through table t. 0, or -1 with
 * the error set. */
int tn_yaml_apply(tn_yaml_file *f, const yaml_node_t *map, const tn_yaml_table *t);

#endif
