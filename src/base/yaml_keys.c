/* yaml_keys.c - YAML settings files read through a table of keys (see yaml_keys.h). */
#include "base/yaml_keys.h"

#include "base/log.h"
#include "base/mem.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the file --------------------------------------------------------------- */

static int yaml_error(const char *path, const yaml_parser_t *p) {
    if (p->error == YAML_MEMORY_ERROR) return tn_fail("%s: out of memory reading YAML", path);
    if (p->error == YAML_READER_ERROR)
        return tn_fail("%s: invalid YAML: %s at byte %zu", path, p->problem ? p->problem : "read error",
                       p->problem_offset);
    const char *prob = p->problem ? p->problem : "syntax error";
    if (p->context)
        return tn_fail("%s:%zu:%zu: invalid YAML: %s (%s at line %zu)", path, p->problem_mark.line + 1,
                       p->problem_mark.column + 1, prob, p->context, p->context_mark.line + 1);
    return tn_fail("%s:%zu:%zu: invalid YAML: %s", path, p->problem_mark.line + 1, p->problem_mark.column + 1, prob);
}

int tn_yaml_load(tn_yaml_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->path = path;
    FILE *fp = fopen(path, "rb");
    if (!fp) return tn_fail_errno("%s", path);
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fclose(fp);
        return tn_fail("%s: cannot initialise the YAML parser", path);
    }
    yaml_parser_set_input_file(&parser, fp);
    f->loaded = yaml_parser_load(&parser, &f->doc);
    int rc = f->loaded ? 0 : yaml_error(path, &parser);
    yaml_parser_delete(&parser);
    fclose(fp);
    return rc;
}

void tn_yaml_free(tn_yaml_file *f) {
    if (f->loaded) yaml_document_delete(&f->doc);
    f->loaded = 0;
    for (int i = 0; i < f->n_warned; i++) free(f->warned[i]);
    free(f->warned);
    f->warned = NULL;
    f->n_warned = 0;
}

yaml_node_t *tn_yaml_root(tn_yaml_file *f) { return f->loaded ? yaml_document_get_root_node(&f->doc) : NULL; }

yaml_node_t *tn_yaml_node(tn_yaml_file *f, int id) { return yaml_document_get_node(&f->doc, id); }

/* ---- nodes ---------------------------------------------------------------- */

unsigned tn_yaml_line(const yaml_node_t *n) { return (unsigned)n->start_mark.line + 1; }

const char *tn_yaml_str(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

int tn_yaml_is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE) return 0;
    const char *s = tn_yaml_str(n);
    if (!s[0]) return 1;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    return !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* ---- messages ------------------------------------------------------------- */

/* "a list", "a mapping", or the scalar itself quoted (cut at 40 bytes). */
static const char *got(const yaml_node_t *n, char *buf, size_t cap) {
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type != YAML_SCALAR_NODE) return "nothing";
    const char *s = tn_yaml_str(n);
    snprintf(buf, cap, "\"%.40s%s\"", s, strlen(s) > 40 ? "..." : "");
    return buf;
}

int tn_yaml_type_err(tn_yaml_file *f, unsigned line, const char *key, const char *expected, const yaml_node_t *v) {
    char b[64];
    return tn_fail("%s:%u: %s: expected %s, got %s", f->path, line, key, expected, got(v, b, sizeof b));
}

void tn_yaml_warn(tn_yaml_file *f, unsigned line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tn_warn("%s:%u: %s", f->path, line, msg);
    f->n_warn++;
}

void tn_yaml_warn_unknown(tn_yaml_file *f, unsigned line, const char *key) {
    for (int i = 0; i < f->n_warned; i++)
        if (!strcmp(f->warned[i], key)) return;
    f->warned = tn_realloc(f->warned, (size_t)(f->n_warned + 1) * sizeof *f->warned);
    f->warned[f->n_warned++] = tn_strdup(key);
    tn_yaml_warn(f, line, "unknown key '%s' ignored", key);
}

/* ---- values --------------------------------------------------------------- */

/* A scalar as a finite double. 0 on success. */
static int parse_num(const yaml_node_t *v, double *out) {
    if (v->type != YAML_SCALAR_NODE) return -1;
    const char *s = tn_yaml_str(v);
    char buf[64];
    size_t k = 0;
    for (; *s && k + 1 < sizeof buf; s++)
        if (*s != '_' || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) buf[k++] = *s;
    if (*s) return -1; /* longer than any number */
    buf[k] = 0;
    if (!k || buf[0] == ' ' || buf[0] == '\t') return -1;
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (end == buf || *end || errno == ERANGE || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

/* The getters with the null rule as a parameter (tables may turn it off). */
static int num_v(tn_yaml_file *f, unsigned line, const char *key, const yaml_node_t *v, double lo, double hi,
                 int hi_open, int nulls, double *out) {
    if (nulls && tn_yaml_is_null(v)) return 0;
    double d;
    if (parse_num(v, &d) != 0) return tn_yaml_type_err(f, line, key, "a number", v);
    if (d < lo || d > hi || (hi_open && d == hi))
        return tn_fail("%s:%u: %s: expected a number in [%g, %g%c, got %s", f->path, line, key, lo, hi,
                       hi_open ? ')' : ']', tn_yaml_str(v));
    *out = d;
    return 1;
}

static int int_v(tn_yaml_file *f, unsigned line, const char *key, const yaml_node_t *v, double lo, double hi,
                 int nulls, int64_t *out) {
    if (nulls && tn_yaml_is_null(v)) return 0;
    double d;
    /* 4.0 is accepted as 4 (pydantic does), 4.5 is not */
    if (parse_num(v, &d) != 0 || d != floor(d) || fabs(d) > 9e15)
        return tn_yaml_type_err(f, line, key, "an integer", v);
    if (d < lo || d > hi)
        return tn_fail("%s:%u: %s: expected an integer in [%.0f, %.0f], got %s", f->path, line, key, lo, hi,
                       tn_yaml_str(v));
    *out = (int64_t)d;
    return 1;
}

static int str_v(tn_yaml_file *f, unsigned line, const char *key, const yaml_node_t *v, int nulls,
                 const char **out) {
    if (nulls && tn_yaml_is_null(v)) return 0;
    if (v->type != YAML_SCALAR_NODE) return tn_yaml_type_err(f, line, key, "a string", v);
    *out = tn_yaml_str(v);
    return 1;
}

int tn_yaml_get_num(tn_yaml_file *f, unsigned line, const char *key, const yaml_node_t *v, double lo, double hi,
                    int hi_open, double *out) {
    return num_v(f, line, key, v, lo, hi, hi_open, 1, out);
}

int tn_yaml_get_int(tn_yaml_file *f, unsigned line, const char *key, const yaml_node_t *v, double lo, double hi,
                    int64_t *out) {
    return int_v(f, line, key, v, lo, hi, 1, out);
}

int tn_yaml_get_str(tn_yaml_file *f, unsigned line, const char *key, const yaml_node_t *v, const char **out) {
    return str_v(f, line, key, v, 1, out);
}

int tn_yaml_parse_bool(const yaml_node_t *v, int *out) {
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; v->type == YAML_SCALAR_NODE && i < 4; i++) {
        if (!strcasecmp(tn_yaml_str(v), yes[i])) return *out = 1, 1;
        if (!strcasecmp(tn_yaml_str(v), no[i])) return *out = 0, 1;
    }
    return 0;
}

int tn_yaml_get_bool(tn_yaml_file *f, unsigned line, const char *key, const yaml_node_t *v, int *out) {
    if (tn_yaml_is_null(v)) return 0;
    if (tn_yaml_parse_bool(v, out)) return 1;
    return tn_yaml_type_err(f, line, key, "a boolean (true or false)", v);
}

/* ---- key tables ----------------------------------------------------------- */

static void store_int(void *dst, tn_yaml_store s, int64_t i) {
    if (s == TN_YK_AS_I64) *(int64_t *)dst = i;
    else if (s == TN_YK_AS_U64) *(uint64_t *)dst = (uint64_t)i;
    else *(int *)dst = (int)i;
}

static int set_key(tn_yaml_file *f, const tn_yaml_table *t, const tn_yaml_key *k, const yaml_node_t *v,
                   unsigned line) {
    /* a table of only TN_YK_FN keys may have no target: NULL + off is UB */
    char *dst = t->target ? (char *)t->target + k->off : NULL;
    int nulls = !t->empty_is_value;
    double scale = k->scale != 0 ? k->scale : 1;
    int rc = 0, b = 0;
    int64_t i = 0;
    double x = 0;
    const char *s = NULL;
    switch (k->type) {
    case TN_YK_FN: return k->fn(f, k, v, line, t->ctx);
    case TN_YK_NUM:
        if ((rc = num_v(f, line, k->name, v, k->lo, k->hi, k->hi_open, nulls, &x)) != 1) break;
        x *= scale;
        if (k->store == TN_YK_NATURAL) {
            *(double *)dst = x;
        } else {
            if (x != floor(x) || fabs(x) > 9e15) return tn_yaml_type_err(f, line, k->name, "an integer", v);
            store_int(dst, k->store, (int64_t)x);
        }
        break;
    case TN_YK_INT:
        if ((rc = int_v(f, line, k->name, v, k->lo, k->hi, nulls, &i)) == 1) store_int(dst, k->store, i);
        break;
    case TN_YK_BOOL:
        if ((rc = tn_yaml_get_bool(f, line, k->name, v, &b)) == 1) *(int *)dst = b;
        break;
    case TN_YK_STR:
        if ((rc = str_v(f, line, k->name, v, nulls, &s)) == 1) {
            free(*(char **)dst);
            *(char **)dst = tn_strdup(s);
        }
        break;
    }
    return rc < 0 ? -1 : 0;
}

int tn_yaml_apply(tn_yaml_file *f, const yaml_node_t *map, const tn_yaml_table *t) {
    if (!map) return 0;
    if (map->type != YAML_MAPPING_NODE) return tn_yaml_type_err(f, tn_yaml_line(map), t->what, t->expected, map);
    yaml_node_pair_t *start = map->data.mapping.pairs.start, *top = map->data.mapping.pairs.top;
    for (yaml_node_pair_t *p = start; p < top; p++) {
        yaml_node_t *kn = tn_yaml_node(f, p->key), *v = tn_yaml_node(f, p->value);
        unsigned line = tn_yaml_line(kn);
        if (kn->type != YAML_SCALAR_NODE) return tn_fail("%s:%u: keys must be strings", f->path, line);
        const char *key = tn_yaml_str(kn);
        /* PyYAML keeps the last of duplicate keys: so do we, after a word */
        int dup = 0;
        for (yaml_node_pair_t *q = p + 1; q < top && !dup; q++) {
            yaml_node_t *k2 = tn_yaml_node(f, q->key);
            dup = k2->type == YAML_SCALAR_NODE && !strcmp(tn_yaml_str(k2), key);
        }
        if (dup) {
            tn_yaml_warn(f, line, "key '%s' given again further down; this one is ignored", key);
            continue;
        }
        const tn_yaml_key *k = NULL;
        for (size_t i = 0; i < t->n_keys && !k; i++)
            if (!strcmp(t->keys[i].name, key)) k = &t->keys[i];
        if (!k) {
            if (!t->unknown_warns)
                return tn_fail("%s:%u: unknown key '%s'%s", f->path, line, key,
                               t->unknown_hint ? t->unknown_hint : "");
            if (!tn_yaml_is_null(v)) /* `fp16:` left empty asks for nothing: no noise */
                tn_yaml_warn_unknown(f, line, key);
            continue;
        }
        if (set_key(f, t, k, v, line)) return -1;
    }
    return 0;
}
