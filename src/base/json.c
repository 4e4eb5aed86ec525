/* json.c - typed accessors over jansson (see json.h). */
#include "base/json.h"
#include "base/err.h"
#include "base/fs.h"

#include <stdlib.h>
#include <string.h>

json_t *tn_json_load_file(const char *path) {
    json_error_t e;
    json_t *v = json_load_file(path, 0, &e);
    if (!v) {
        if (e.line < 0)
            tn_fail("%s: %s", path, e.text);
        else
            tn_fail("%s:%d:%d: invalid JSON: %s", path, e.line, e.column, e.text);
    }
    return v;
}

json_t *tn_json_loadb(const char *buf, size_t len, const char *what) {
    json_error_t e;
    json_t *v = json_loadb(buf, len, 0, &e);
    if (!v) tn_fail("%s:%d:%d: invalid JSON: %s", what, e.line, e.column, e.text);
    return v;
}

const char *tn_json_type_name(const json_t *v) {
    /* callers pass what json_object_get found, NULL for a missing key
     * (json_typeof would dereference it) */
    if (!v) return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

int tn_json_int(const json_t *obj, const char *key, const char *what, int64_t *out) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return tn_fail("%s: missing required field %s", what, key);
    return tn_json_int_opt(obj, key, what, 0, out);
}

int tn_json_int_opt(const json_t *obj, const char *key, const char *what, int64_t def, int64_t *out) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    /* 4.0 is accepted as 4: some exporters write every number as a real. */
    if (json_is_real(v)) {
        double d = json_real_value(v);
        /* Range first: casting a real outside int64's range (1e300, from a
         * submission's config.json) is undefined behaviour. 2^63 itself is
         * out of range; -2^63 is in. */
        if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == (double)(int64_t)d) {
            *out = (int64_t)d;
            return 0;
        }
    }
    return tn_fail("%s: field %s: expected an integer, got %s", what, key, tn_json_type_name(v));
}

int tn_json_num_opt(const json_t *obj, const char *key, const char *what, double def, double *out) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_number(v))
        return tn_fail("%s: field %s: expected a number, got %s", what, key, tn_json_type_name(v));
    *out = json_number_value(v);
    return 0;
}

int tn_json_bool_opt(const json_t *obj, const char *key, const char *what, int def, int *out) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v))
        return tn_fail("%s: field %s: expected a boolean, got %s", what, key, tn_json_type_name(v));
    *out = json_is_true(v);
    return 0;
}

int tn_json_str_opt(const json_t *obj, const char *key, const char *what, const char *def,
                    const char **out) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_string(v))
        return tn_fail("%s: field %s: expected a string, got %s", what, key, tn_json_type_name(v));
    *out = json_string_value(v);
    return 0;
}

int tn_json_save_file(const json_t *v, const char *path) {
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    if (!s) return tn_fail("%s: cannot serialise JSON", path);
    size_t n = strlen(s);
    s[n] = 0;
    int rc;
    {
        /* add a trailing newline, as editors do */
        char *t = malloc(n + 2);
        if (!t) {
            free(s);
            return tn_fail("%s: out of memory", path);
        }
        memcpy(t, s, n);
        t[n] = '\n';
        rc = tn_write_file_atomic(path, t, n + 1);
        free(t);
    }
    free(s);
    return rc;
}
