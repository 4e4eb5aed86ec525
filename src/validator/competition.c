/* competition.c - the competition schedule: file, admin calls, tick
 * (competition.h; the format and the limit table: docs/validator.md). */
#include "validator/competition.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/num.h"
#include "base/rng.h"
#include "base/yaml_keys.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <time.h>
#include <unistd.h>

#define COMP_KEY "competition"
#define STATE_KEY "competition.state"
#define MAX_DURATION_S (366.0 * 24 * 3600)

/* ---- the file -------------------------------------------------------------------- */

typedef struct {
    json_t *spec; /* what the file says, as it will be stored */
} comp_ctx;

/* "2026-12-07T19:00:00Z" (UTC, the Z required: a schedule read in another
 * time zone must mean the same moment) -> unix ms */
static int parse_utc(tn_yaml_file *f, unsigned line, const char *key, const yaml_node_t *v, int64_t *ms) {
    const char *s = v->type == YAML_SCALAR_NODE ? tn_yaml_str(v) : NULL;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!end || strcmp(end, "Z") != 0)
        return tn_yaml_type_err(f, line, key, "a UTC time like 2026-12-07T19:00:00Z", v);
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

static int parse_dur(tn_yaml_file *f, unsigned line, const char *key, const yaml_node_t *v, double *s) {
    const char *t = v->type == YAML_SCALAR_NODE ? tn_yaml_str(v) : NULL;
    if (!t || tn_parse_duration(key, t, MAX_DURATION_S, s))
        return tn_yaml_type_err(f, line, key, "a duration like 90s, 15m or 2h", v);
    return 0;
}

static int key_time(tn_yaml_file *f, const tn_yaml_key *k, const yaml_node_t *v, unsigned line, void *ctx) {
    int64_t ms;
    if (parse_utc(f, line, k->name, v, &ms)) return -1;
    json_object_set_new(((comp_ctx *)ctx)->spec, k->name, json_integer(ms));
    return 0;
}

static int key_dur(tn_yaml_file *f, const tn_yaml_key *k, const yaml_node_t *v, unsigned line, void *ctx) {
    double s;
    if (parse_dur(f, line, k->name, v, &s)) return -1;
    json_object_set_new(((comp_ctx *)ctx)->spec, k->name, json_integer((json_int_t)llround(s * 1000)));
    return 0;
}

static int key_name(tn_yaml_file *f, const tn_yaml_key *k, const yaml_node_t *v, unsigned line, void *ctx) {
    const char *s;
    if (tn_yaml_get_str(f, line, k->name, v, &s) < 0) return -1;
    json_object_set_new(((comp_ctx *)ctx)->spec, k->name, json_string(s));
    return 0;
}

/* draw: weighted (default) or rotate */
static int key_draw(tn_yaml_file *f, const tn_yaml_key *k, const yaml_node_t *v, unsigned line, void *ctx) {
    const char *s;
    if (tn_yaml_get_str(f, line, k->name, v, &s) < 0) return -1;
    if (strcmp(s, "weighted") && strcmp(s, "rotate"))
        return tn_fail("%s:%u: draw: '%s' is not weighted or rotate", f->path, line, s);
    json_object_set_new(((comp_ctx *)ctx)->spec, k->name, json_string(s));
    return 0;
}

/* models / datasets: a list of {name, weight} (weight 1 when left out) */
static int key_pool(tn_yaml_file *f, const tn_yaml_key *k, const yaml_node_t *v, unsigned line, void *ctx) {
    if (v->type != YAML_SEQUENCE_NODE) return tn_yaml_type_err(f, line, k->name, "a list of {name, weight}", v);
    json_t *pool = json_array();
    json_object_set_new(((comp_ctx *)ctx)->spec, k->name, pool);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *e = tn_yaml_node(f, *it);
        unsigned el = tn_yaml_line(e);
        if (e->type != YAML_MAPPING_NODE) return tn_yaml_type_err(f, el, k->name, "a mapping {name, weight}", e);
        const char *name = NULL;
        double w = 1;
        for (yaml_node_pair_t *p = e->data.mapping.pairs.start; p < e->data.mapping.pairs.top; p++) {
            yaml_node_t *kn = tn_yaml_node(f, p->key), *vn = tn_yaml_node(f, p->value);
            const char *key = tn_yaml_str(kn);
            unsigned kl = tn_yaml_line(kn);
            if (key && !strcmp(key, "name")) {
                if (tn_yaml_get_str(f, kl, "name", vn, &name) < 0) return -1;
            } else if (key && !strcmp(key, "weight")) {
                if (tn_yaml_get_num(f, kl, "weight", vn, 0, 1e9, 0, &w) < 0) return -1;
            } else {
                return tn_fail("%s:%u: %s: unknown key '%s' (name, weight)", f->path, kl, k->name, key ? key : "?");
            }
        }
        if (!name || !name[0]) return tn_fail("%s:%u: %s: an entry without a name", f->path, el, k->name);
        json_array_append_new(pool, json_pack("{s:s, s:f, s:i}", "name", name, "weight", w, "line", (int)el));
    }
    if (json_array_size(pool) == 0) return tn_fail("%s:%u: %s: the list is empty", f->path, line, k->name);
    return 0;
}

/* pairs: a list of [model, dataset]; left out, every pair is allowed */
static int key_pairs(tn_yaml_file *f, const tn_yaml_key *k, const yaml_node_t *v, unsigned line, void *ctx) {
    if (v->type != YAML_SEQUENCE_NODE) return tn_yaml_type_err(f, line, k->name, "a list of [model, dataset]", v);
    json_t *pairs = json_array();
    json_object_set_new(((comp_ctx *)ctx)->spec, k->name, pairs);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *e = tn_yaml_node(f, *it);
        unsigned el = tn_yaml_line(e);
        yaml_node_t *m = NULL, *d = NULL;
        if (e->type == YAML_SEQUENCE_NODE && e->data.sequence.items.top - e->data.sequence.items.start == 2) {
            m = tn_yaml_node(f, e->data.sequence.items.start[0]);
            d = tn_yaml_node(f, e->data.sequence.items.start[1]);
        }
        if (!m || m->type != YAML_SCALAR_NODE || d->type != YAML_SCALAR_NODE)
            return tn_yaml_type_err(f, el, k->name, "[model, dataset]", e);
        json_array_append_new(pairs, json_pack("{s:s, s:s, s:i}", "model", tn_yaml_str(m), "dataset",
                                               tn_yaml_str(d), "line", (int)el));
    }
    return 0;
}

/* phases: a list of {until, concurrent, limit_scale, limit_min, limit_max} */
static int key_phases(tn_yaml_file *f, const tn_yaml_key *k, const yaml_node_t *v, unsigned line, void *ctx) {
    if (v->type != YAML_SEQUENCE_NODE) return tn_yaml_type_err(f, line, k->name, "a list of phases", v);
    json_t *phases = json_array();
    json_object_set_new(((comp_ctx *)ctx)->spec, k->name, phases);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *e = tn_yaml_node(f, *it);
        unsigned el = tn_yaml_line(e);
        if (e->type != YAML_MAPPING_NODE) return tn_yaml_type_err(f, el, k->name, "a mapping", e);
        json_t *ph = json_pack("{s:I, s:I, s:f, s:I, s:I, s:i}", "until", (json_int_t)0, "concurrent", (json_int_t)1,
                               "limit_scale", 1.0, "limit_min", (json_int_t)0, "limit_max", (json_int_t)0, "line",
                               (int)el);
        json_array_append_new(phases, ph);
        for (yaml_node_pair_t *p = e->data.mapping.pairs.start; p < e->data.mapping.pairs.top; p++) {
            yaml_node_t *kn = tn_yaml_node(f, p->key), *vn = tn_yaml_node(f, p->value);
            const char *key = tn_yaml_str(kn) ? tn_yaml_str(kn) : "?";
            unsigned kl = tn_yaml_line(kn);
            int64_t ms, n;
            double x;
            if (!strcmp(key, "until")) {
                if (parse_utc(f, kl, "until", vn, &ms)) return -1;
                json_object_set_new(ph, "until", json_integer(ms));
            } else if (!strcmp(key, "concurrent")) {
                if (tn_yaml_get_int(f, kl, "concurrent", vn, 1, 10000, &n) < 0) return -1;
                json_object_set_new(ph, "concurrent", json_integer(n));
            } else if (!strcmp(key, "limit_scale")) {
                if (tn_yaml_get_num(f, kl, "limit_scale", vn, 1e-6, 100, 0, &x) < 0) return -1;
                json_object_set_new(ph, "limit_scale", json_real(x));
            } else if (!strcmp(key, "limit_min") || !strcmp(key, "limit_max") || !strcmp(key, "cadence")) {
                if (parse_dur(f, kl, key, vn, &x)) return -1;
                json_object_set_new(ph, key, json_integer((json_int_t)llround(x * 1000)));
            } else {
                return tn_fail("%s:%u: phases: unknown key '%s' (until, concurrent, cadence, limit_scale, limit_min, "
                               "limit_max)", f->path, kl, key);
            }
        }
    }
    if (json_array_size(phases) == 0) return tn_fail("%s:%u: phases: the list is empty", f->path, line);
    return 0;
}

#define FN(name, fn) {name, TN_YK_FN, 0, 0, 0, 0, 0, 0, fn}
static const tn_yaml_key comp_keys[] = {
    FN("name", key_name),       FN("start", key_time),     FN("end", key_time),      FN("cadence", key_dur),
    FN("models", key_pool),     FN("datasets", key_pool),  FN("pairs", key_pairs),   FN("phases", key_phases),
    FN("draw", key_draw),
};

static int jline(json_t *o) { return (int)json_integer_value(json_object_get(o, "line")); }

static int in_pool(json_t *pool, const char *name) {
    size_t i;
    json_t *e;
    json_array_foreach(pool, i, e) if (!strcmp(json_string_value(json_object_get(e, "name")), name)) return 1;
    return 0;
}

/* what a schedule needs as a whole, once every key is read */
static int check_whole(const char *label, json_t *spec) {
    static const char *const need[] = {"start", "end", "cadence", "models", "datasets", "phases"};
    for (size_t i = 0; i < sizeof need / sizeof *need; i++)
        if (!json_object_get(spec, need[i])) return tn_fail("%s: '%s' is required", label, need[i]);
    int64_t start = json_integer_value(json_object_get(spec, "start"));
    int64_t end = json_integer_value(json_object_get(spec, "end"));
    if (end <= start) return tn_fail("%s: end: the end must come after the start", label);
    json_t *pairs = json_object_get(spec, "pairs"), *e;
    size_t i;
    json_array_foreach(pairs, i, e) {
        const char *m = json_string_value(json_object_get(e, "model"));
        const char *d = json_string_value(json_object_get(e, "dataset"));
        if (!in_pool(json_object_get(spec, "models"), m))
            return tn_fail("%s:%d: pairs: model '%s' is not in models", label, jline(e), m);
        if (!in_pool(json_object_get(spec, "datasets"), d))
            return tn_fail("%s:%d: pairs: dataset '%s' is not in datasets", label, jline(e), d);
    }
    int64_t prev = start;
    json_t *phases = json_object_get(spec, "phases");
    json_array_foreach(phases, i, e) {
        int64_t until = json_integer_value(json_object_get(e, "until"));
        int last = i + 1 == json_array_size(phases);
        if (!until && !last) return tn_fail("%s:%d: phases: every phase but the last needs 'until'", label, jline(e));
        if (until && until <= prev)
            return tn_fail("%s:%d: phases: until must come after the start and the phase before", label, jline(e));
        if (json_object_get(e, "cadence") && json_integer_value(json_object_get(e, "cadence")) <= 0)
            return tn_fail("%s:%d: phases: cadence must be positive", label, jline(e));
        int64_t lo = json_integer_value(json_object_get(e, "limit_min"));
        int64_t hi = json_integer_value(json_object_get(e, "limit_max"));
        if (lo && hi && lo > hi) return tn_fail("%s:%d: phases: limit_min is above limit_max", label, jline(e));
        if (until) prev = until;
    }
    return 0;
}

json_t *v_comp_parse(const char *label, const char *text, const char *scratch) {
    if (tn_write_file_atomic(scratch, text, strlen(text))) return NULL;
    tn_yaml_file f;
    memset(&f, 0, sizeof f);
    if (tn_yaml_load(&f, scratch)) {
        /* libyaml's message names the scratch file: name the organiser's */
        char *m = tn_strdup(tn_errmsg());
        const char *rest = strncmp(m, scratch, strlen(scratch)) ? m : m + strlen(scratch);
        tn_fail("%s%s", rest == m ? "" : label, rest);
        free(m);
        tn_yaml_free(&f);
        return NULL;
    }
    f.path = label;
    comp_ctx c = {json_object()};
    tn_yaml_table t = {comp_keys, sizeof comp_keys / sizeof *comp_keys, NULL, &c, "schedule",
                       "a mapping (docs/validator.md, Competition schedule)", 0, " (docs/validator.md lists them)", 0};
    int rc = tn_yaml_apply(&f, tn_yaml_root(&f), &t);
    tn_yaml_free(&f);
    if (rc == 0) rc = check_whole(label, c.spec);
    if (rc) {
        json_decref(c.spec);
        return NULL;
    }
    return c.spec;
}

/* ---- the limit table --------------------------------------------------------------- */

double v_comp_table_limit_s(double params, int64_t rows) {
    /* hours by rows (G.O.D's range: 1-3 h for 1k-10k rows, 4-6 h for
     * 100k-500k), one hour more for models of 1B parameters, two from 8B;
     * at most 6 h */
    double h = rows <= 1000 ? 1 : rows <= 10000 ? 2 : rows <= 100000 ? 3 : rows <= 500000 ? 4 : 5;
    h += params >= 8e9 ? 2 : params >= 1e9 ? 1 : 0;
    return (h > 6 ? 6 : h) * 3600.0;
}

/* ---- the tick ------------------------------------------------------------------------ */

/* The stored schedule and its id (settings version), and the state; rc 1
 * when there is none. */
static int load_comp(vstate *v, json_t **spec, int64_t *id, char state[16]) {
    char *s = NULL, *st = NULL;
    int64_t ver = 0, sver = 0;
    LOCK(v);
    int rc = tn_store_setting_get(v->store, COMP_KEY, &s, &ver);
    int rc2 = rc == 0 ? tn_store_setting_get(v->store, STATE_KEY, &st, &sver) : 0;
    UNLOCK(v);
    if (rc == TN_STORE_NOT_FOUND || (rc == 0 && (!s || !s[0]))) {
        free(s);
        return 1;
    }
    if (rc < 0 || (rc2 < 0 && rc2 != TN_STORE_NOT_FOUND)) {
        free(s);
        free(st);
        return -1;
    }
    *spec = json_loads(s, 0, NULL);
    *id = ver;
    /* settings versions are global: a state set before this schedule was
     * loaded belongs to the one before it (a new schedule runs) */
    snprintf(state, 16, "%s", st && rc2 == 0 && sver > ver ? st : "running");
    free(s);
    free(st);
    if (!*spec) return tn_fail("competition: the stored schedule is not JSON");
    return 0;
}

static json_t *phase_at(json_t *spec, int64_t t) {
    json_t *phases = json_object_get(spec, "phases"), *e;
    size_t i;
    json_array_foreach(phases, i, e) {
        int64_t until = json_integer_value(json_object_get(e, "until"));
        if (!until || t < until) return e;
    }
    return json_array_get(phases, json_array_size(phases) - 1);
}

int64_t v_comp_slot_at(json_t *spec, int64_t t, int64_t *moment) {
    int64_t m = json_integer_value(json_object_get(spec, "start"));
    int64_t every = json_integer_value(json_object_get(spec, "cadence"));
    int64_t slot = 0, prev = m;
    json_t *phases = json_object_get(spec, "phases"), *e;
    size_t i;
    json_array_foreach(phases, i, e) {
        int64_t until = json_integer_value(json_object_get(e, "until"));
        int64_t c = json_integer_value(json_object_get(e, "cadence"));
        if (c <= 0) c = every;
        if (!until || t < until || i + 1 == json_array_size(phases)) {
            if (t < m) break; /* before this phase's first moment: the slot before stands */
            *moment = m + (t - m) / c * c;
            return slot + (t - m) / c;
        }
        if (m < until) {
            int64_t n = (until - m + c - 1) / c; /* this phase's moments: m, m + c, ... before until */
            slot += n;
            prev = m + (n - 1) * c;
            m += n * c;
        }
    }
    *moment = prev;
    return slot - 1;
}

/* Whether the pair (model entry m, dataset entry d) is allowed, and its
 * weight (model weight x dataset weight; 0 when not allowed). */
static double pair_weight(json_t *spec, json_t *m, json_t *d) {
    const char *mn = json_string_value(json_object_get(m, "name"));
    const char *dn = json_string_value(json_object_get(d, "name"));
    json_t *pairs = json_object_get(spec, "pairs"), *p;
    int ok = json_array_size(pairs) == 0;
    size_t q;
    json_array_foreach(pairs, q, p) ok |= !strcmp(json_string_value(json_object_get(p, "model")), mn) &&
                                          !strcmp(json_string_value(json_object_get(p, "dataset")), dn);
    return ok ? json_number_value(json_object_get(m, "weight")) * json_number_value(json_object_get(d, "weight")) : 0;
}

int v_comp_draw_pair(json_t *spec, int64_t id, int64_t slot, const char **model, const char **dataset) {
    json_t *ms = json_object_get(spec, "models"), *ds = json_object_get(spec, "datasets");
    const char *draw = json_string_value(json_object_get(spec, "draw"));
    int rotate = draw && !strcmp(draw, "rotate");
    double total = 0, x = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t i, k;
        json_t *m, *d;
        json_array_foreach(ms, i, m) json_array_foreach(ds, k, d) {
            double w = pair_weight(spec, m, d);
            if (w > 0 && rotate) w = 1; /* each allowed pair in turn */
            if (pass == 0) {
                total += w;
            } else if (w > 0) {
                *model = json_string_value(json_object_get(m, "name"));
                *dataset = json_string_value(json_object_get(d, "name"));
                if ((x -= w) < 0) return 0;
            }
        }
        if (total <= 0) return tn_fail("competition: no allowed pair has a positive weight");
        /* rotate: slot i takes pair i mod n; else a draw from a seed of
         * (competition, slot), the same after a restart */
        x = rotate ? (double)(slot % (int64_t)total)
                   : tn_unit_double(tn_mix64((uint64_t)id * 0x9E3779B97F4A7C15ull ^ (uint64_t)slot)) * total;
    }
    return 0; /* rounding: the last pair with weight */
}

static int active_tasks(vstate *v, int64_t id, int64_t slot_now, size_t *active, int *have_slot) {
    tn_task_slot *sl = NULL;
    size_t n = 0;
    LOCK(v);
    int rc = tn_store_task_slots(v->store, id, &sl, &n);
    *active = 0;
    *have_slot = 0;
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        if (sl[i].slot == slot_now) *have_slot = 1;
        tn_task t;
        memset(&t, 0, sizeof t);
        rc = tn_store_task_get(v->store, sl[i].task_id, &t);
        if (rc >= 0 && t.state != TN_TASK_SCORED && t.state != TN_TASK_FAILED) (*active)++;
        tn_task_clear(&t);
    }
    UNLOCK(v);
    free(sl);
    return rc < 0 ? -1 : 0;
}

int v_comp_tick(vstate *v) {
    json_t *spec = NULL;
    int64_t id;
    char state[16];
    int rc = load_comp(v, &spec, &id, state);
    if (rc) return rc < 0 ? -1 : 0;
    int64_t now = tn_wall_ms(), start = json_integer_value(json_object_get(spec, "start"));
    int64_t end = json_integer_value(json_object_get(spec, "end"));
    int64_t cadence = json_integer_value(json_object_get(spec, "cadence"));
    if (strcmp(state, "running") || now < start || now >= end || cadence <= 0) {
        json_decref(spec);
        return 0;
    }
    int64_t moment;
    int64_t slot = v_comp_slot_at(spec, now, &moment);
    json_t *ph = phase_at(spec, moment);
    size_t active;
    int have;
    rc = active_tasks(v, id, slot, &active, &have);
    if (rc || have || active >= (size_t)json_integer_value(json_object_get(ph, "concurrent"))) {
        json_decref(spec);
        return rc;
    }
    const char *model = NULL, *dataset = NULL;
    tn_catalog_model cm;
    tn_catalog_dataset cd;
    memset(&cm, 0, sizeof cm);
    memset(&cd, 0, sizeof cd);
    rc = v_comp_draw_pair(spec, id, slot, &model, &dataset);
    LOCK(v);
    if (rc == 0) rc = tn_store_model_get(v->store, model, &cm);
    if (rc >= 0) rc = tn_store_dataset_get(v->store, dataset, &cd);
    UNLOCK(v);
    if (rc >= 0) {
        json_t *arch = json_loads(cm.arch_json, 0, NULL);
        double params = json_number_value(json_object_get(arch, "params"));
        json_decref(arch);
        double lim = v_comp_table_limit_s(params, cd.row_count) * json_number_value(json_object_get(ph, "limit_scale"));
        double lo = (double)json_integer_value(json_object_get(ph, "limit_min")) / 1000;
        double hi = (double)json_integer_value(json_object_get(ph, "limit_max")) / 1000;
        if (hi > 0 && lim > hi) lim = hi;
        if (lo > 0 && lim < lo) lim = lo;
        tn_task t = {0};
        t.model = (char *)model;
        t.dataset = (char *)dataset;
        t.created_at = now;
        t.time_limit_ms = tn_task_ms_from_minutes(lim / 60);
        uint64_t seed;
        randombytes_buf(&seed, sizeof seed);
        t.split_seed = (int64_t)(seed >> 1); /* secret, as admin-created tasks' */
        t.params_json = tn_sprintf("{\"minutes\":%.4f,\"competition\":%lld,\"slot\":%lld}", lim / 60, (long long)id,
                                   (long long)slot);
        int64_t tid = 0;
        LOCK(v);
        rc = tn_store_task_create_in_slot(v->store, &t, id, slot, &tid);
        UNLOCK(v);
        free(t.params_json);
        if (rc == 0)
            tn_info("competition %lld: slot %lld: task %lld (%s on %s, %.1f min, %zu running before it)",
                    (long long)id, (long long)slot, (long long)tid, model, dataset, lim / 60, active);
        else if (rc == TN_STORE_EXISTS)
            rc = 0; /* another tick or process created it */
    }
    tn_catalog_model_clear(&cm);
    tn_catalog_dataset_clear(&cd);
    json_decref(spec);
    return rc < 0 ? -1 : 0;
}

/* ---- the admin calls --------------------------------------------------------------- */

static int store_code(int rc) {
    return rc == TN_STORE_NOT_FOUND ? 404 : rc == TN_STORE_EXISTS || rc == TN_STORE_CONFLICT ? 409 : 500;
}

/* every catalog name of the schedule exists, named with the file's line */
static int check_catalog(vstate *v, const char *label, json_t *spec) {
    static const char *const pools[] = {"models", "datasets"};
    for (int k = 0; k < 2; k++) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(spec, pools[k]), i, e) {
            const char *name = json_string_value(json_object_get(e, "name"));
            tn_catalog_model m;
            tn_catalog_dataset d;
            memset(&m, 0, sizeof m);
            memset(&d, 0, sizeof d);
            LOCK(v);
            int rc = k == 0 ? tn_store_model_get(v->store, name, &m) : tn_store_dataset_get(v->store, name, &d);
            UNLOCK(v);
            tn_catalog_model_clear(&m);
            tn_catalog_dataset_clear(&d);
            if (rc == TN_STORE_NOT_FOUND)
                return tn_fail("%s:%d: %s: no %s named '%s' in the catalog", label, jline(e), pools[k],
                               k == 0 ? "model" : "dataset", name);
            if (rc < 0) return -1;
        }
    }
    return 0;
}

static int set_key(vstate *v, const char *key, const char *val) {
    int64_t ver;
    LOCK(v);
    int rc = tn_store_setting_set(v->store, key, val, -1, tn_wall_ms(), &ver);
    UNLOCK(v);
    return rc;
}

static void reply_show(vstate *v, tn_http_req *r) {
    json_t *spec = NULL;
    int64_t id;
    char state[16];
    int rc = load_comp(v, &spec, &id, state);
    if (rc) {
        if (rc < 0) tn_http_reply_error(r, 500, "competition: %s", tn_errmsg());
        else tn_http_reply_error(r, 404, "competition: none loaded");
        return;
    }
    tn_task_slot *sl = NULL;
    size_t n = 0;
    LOCK(v);
    rc = tn_store_task_slots(v->store, id, &sl, &n);
    UNLOCK(v);
    json_t *tasks = json_array();
    for (size_t i = 0; rc >= 0 && i < n; i++)
        json_array_append_new(tasks, json_pack("{s:I, s:I, s:I}", "slot", (json_int_t)sl[i].slot, "task_id",
                                               (json_int_t)sl[i].task_id, "created_at", (json_int_t)sl[i].created_at));
    free(sl);
    int64_t now = tn_wall_ms(), start = json_integer_value(json_object_get(spec, "start"));
    int64_t end = json_integer_value(json_object_get(spec, "end"));
    const char *when = now < start ? "before the window" : now >= end ? "after the window" : "in the window";
    tn_http_reply_json(r, 200, json_pack("{s:I, s:s, s:s, s:o, s:o}", "id", (json_int_t)id, "state", state, "window",
                                         when, "schedule", spec, "tasks", tasks));
}

void v_comp_admin(vstate *v, tn_http_req *r, const char *what, json_t *b) {
    if (!strcmp(what, "load")) {
        const char *label = json_string_value(json_object_get(b, "file"));
        const char *text = json_string_value(json_object_get(b, "yaml"));
        if (!label || !text) {
            tn_http_reply_error(r, 422, "competition load: file and yaml are required");
            return;
        }
        char *scratch = v_path(v, "competition-%d-%lld.yml", (int)getpid(), (long long)tn_wall_ms());
        json_t *spec = v_comp_parse(label, text, scratch);
        unlink(scratch);
        free(scratch);
        if (!spec || check_catalog(v, label, spec)) {
            tn_http_reply_error(r, 422, "%s", tn_errmsg());
            json_decref(spec);
            return;
        }
        char *s = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(spec);
        /* one write: the state stored before it is older than the new
         * schedule, so it does not apply (load_comp) and the schedule runs */
        int rc = set_key(v, COMP_KEY, s);
        free(s);
        if (rc < 0) tn_http_reply_error(r, store_code(rc), "competition load: %s", tn_errmsg());
        else reply_show(v, r);
        return;
    }
    if (!strcmp(what, "show")) {
        reply_show(v, r);
        return;
    }
    const char *to = !strcmp(what, "pause") ? "paused" : !strcmp(what, "resume") ? "running"
                   : !strcmp(what, "end")   ? "ended"
                                            : NULL;
    if (!to) {
        tn_http_reply_error(r, 404, "no admin call competition/%s", what);
        return;
    }
    json_t *spec = NULL;
    int64_t id;
    char state[16];
    int rc = load_comp(v, &spec, &id, state);
    json_decref(spec);
    if (rc) {
        tn_http_reply_error(r, rc < 0 ? 500 : 404, "competition %s: %s", what, rc < 0 ? tn_errmsg() : "none loaded");
        return;
    }
    /* ended is for good: a competition that ended is not resumed (load a new one) */
    if (!strcmp(state, "ended") && strcmp(to, "ended")) {
        tn_http_reply_error(r, 409, "competition %s: the competition has ended", what);
        return;
    }
    rc = set_key(v, STATE_KEY, to);
    if (rc < 0) tn_http_reply_error(r, store_code(rc), "competition %s: %s", what, tn_errmsg());
    else reply_show(v, r);
}
