/* admin_report.c - `tuna admin report [--json | --csv] [--task ID]`: asks the
 * validator for the participants' report (POST /v1/admin/report, signed by
 * the organiser's key; docs/validator.md) and prints it as the JSON it got,
 * as CSV (one record per offer, RFC 4180, base/csv_out.h) or as a table. */
#include "cli/admin_report.h"

#include "net/http_client.h"
#include "base/csv_out.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/num.h"
#include "cli/commands.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CSV columns: where each comes from in a report row ("upload.kind": the
 * field kind of the row's object upload). owner and miner come from the
 * enclosing objects. */
static const char *const COLS[] = {
    "owner", "miner", "task_id", "task_state", "model", "dataset", "minutes", "offer", "verdict", "reason",
    "test_loss", "synth_loss", "weighted_loss", "effective_loss", "interval_lo", "interval_hi", "confidence",
    "tied_with", "quality", "score", "flags", "strategy", "message", "received_at", "upload.kind", "upload.uploads",
    "upload.files", "upload.bytes", "upload.content_hash", "submission_id", "files_dir"};
#define NCOLS (sizeof COLS / sizeof *COLS)

/* A value as one cell: strings as they are, integers exactly, reals with
 * round-trip precision, null as empty. */
static char *cell(const json_t *x) {
    if (!x || json_is_null(x)) return NULL;
    if (json_is_string(x)) return tn_strdup(json_string_value(x));
    if (json_is_integer(x)) return tn_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(x));
    if (json_is_real(x)) return tn_sprintf("%.17g", json_real_value(x));
    if (json_is_boolean(x)) return tn_strdup(json_is_true(x) ? "true" : "false");
    return json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
}

static char *column(const char *col, const char *owner, const char *miner, json_t *row) {
    if (!strcmp(col, "owner")) return tn_strdup(owner);
    if (!strcmp(col, "miner")) return tn_strdup(miner);
    if (!strncmp(col, "interval_", 9)) return cell(json_array_get(json_object_get(row, "interval"), col[9] == 'h'));
    if (!strncmp(col, "upload.", 7)) return cell(json_object_get(json_object_get(row, "upload"), col + 7));
    if (!strcmp(col, "flags")) { /* "rule: reason" per flag, one per line */
        json_t *fl = json_object_get(row, "flags"), *f;
        size_t i;
        char *out = NULL;
        json_array_foreach(fl, i, f) {
            char *next = tn_sprintf("%s%s%s: %s", out ? out : "", out ? "\n" : "",
                                    json_string_value(json_object_get(f, "rule")),
                                    json_string_value(json_object_get(f, "reason")));
            free(out);
            out = next;
        }
        return out;
    }
    return cell(json_object_get(row, col));
}

/* calls fn(owner, miner, row) for each row of the report */
typedef void (*row_fn)(const char *owner, const char *miner, json_t *row, FILE *f);
static void each_row(json_t *rep, row_fn fn, FILE *f) {
    size_t i, k, q;
    json_t *o, *m, *row;
    json_array_foreach(json_object_get(rep, "participants"), i, o) {
        const char *owner = json_string_value(json_object_get(o, "owner"));
        json_array_foreach(json_object_get(o, "miners"), k, m) {
            const char *miner = json_string_value(json_object_get(m, "miner"));
            json_array_foreach(json_object_get(m, "submissions"), q, row) fn(owner, miner, row, f);
        }
    }
}

static void csv_row(const char *owner, const char *miner, json_t *row, FILE *f) {
    char *cells[NCOLS];
    for (size_t c = 0; c < NCOLS; c++) cells[c] = column(COLS[c], owner, miner, row);
    tn_csv_write_row(f, (const char *const *)cells, NCOLS);
    for (size_t c = 0; c < NCOLS; c++) free(cells[c]);
}

static void fmt_num(char *buf, size_t cap, const json_t *x, const char *fmt) {
    if (json_is_number(x))
        snprintf(buf, cap, fmt, json_number_value(x));
    else
        snprintf(buf, cap, "-");
}

/* a text cut to `width` bytes on one line (the CSV and JSON keep it whole) */
static void short_text(char *buf, size_t width, const char *s) {
    size_t n = 0;
    for (; s && *s && n + 1 < width; s++) buf[n++] = *s == '\n' || *s == '\r' || *s == '\t' ? ' ' : *s;
    buf[n] = 0;
    if (s && *s && n >= 3) memcpy(buf + n - 3, "...", 3);
}

static void table_row(const char *owner, const char *miner, json_t *row, FILE *f) {
    char test[24], synth[24], score[24], note[48], ds[24];
    fmt_num(test, sizeof test, json_object_get(row, "test_loss"), "%.4f");
    fmt_num(synth, sizeof synth, json_object_get(row, "synth_loss"), "%.4f");
    fmt_num(score, sizeof score, json_object_get(row, "score"), "%.4f");
    short_text(note, sizeof note, json_string_value(json_object_get(row, "strategy")));
    short_text(ds, sizeof ds, json_string_value(json_object_get(row, "dataset")));
    const char *tied = json_string_value(json_object_get(row, "tied_with"));
    fprintf(f, "%-12s %-14s %5" JSON_INTEGER_FORMAT " %-16s %-12s %-9s %9s %9s %8s%s%-10s %s\n", owner, miner,
            json_integer_value(json_object_get(row, "task_id")), json_string_value(json_object_get(row, "model")),
            ds[0] ? ds : "(hidden)", json_string_value(json_object_get(row, "verdict")), test, synth, score,
            tied ? "=" : " ", tied ? tied : "", note);
}

int admin_report(const char *url, const tn_keypair *key, int argc, char **argv) {
    int csv = 0, js = 0;
    int64_t task = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) js = 1;
        else if (!strcmp(argv[i], "--csv")) csv = 1;
        else if (!strcmp(argv[i], "--task") && i + 1 < argc) {
            if (tn_parse_i64("--task", argv[++i], 1, INT64_MAX, &task)) return cli_usage_fail("admin report");
        } else {
            fprintf(stderr, "tuna admin report: unexpected argument '%s' (--json | --csv, --task ID)\n", argv[i]);
            return 2;
        }
    }
    if (csv && js) {
        fprintf(stderr, "tuna admin report: --json or --csv, not both\n");
        return 2;
    }
    char *full = tn_sprintf("%s/v1/admin/report", url);
    tn_http_opts o = {0};
    o.key = key;
    o.timeout_ms = 120000;
    tn_http_resp r;
    memset(&r, 0, sizeof r);
    json_t *body = json_pack("{s:I}", "task_id", (json_int_t)task);
    int rc = tn_http_json(&o, "POST", full, body, &r); /* borrows body */
    json_decref(body);
    free(full);
    if (rc) return cli_fail("admin report");
    if (r.status != 200 || !json_is_object(r.json)) {
        const char *err = json_string_value(json_object_get(r.json, "error"));
        fprintf(stderr, "tuna admin report: HTTP %ld: %s\n", r.status, err ? err : "not a report");
        tn_http_resp_free(&r);
        return 1;
    }
    if (js) {
        char *s = json_dumps(r.json, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
    } else if (csv) {
        tn_csv_write_row(stdout, COLS, NCOLS);
        each_row(r.json, csv_row, stdout);
    } else {
        printf("%-12s %-14s %5s %-16s %-12s %-9s %9s %9s %8s %-10s %s\n", "participant", "miner", "task", "model",
               "dataset", "verdict", "test", "synth", "score", " tied", "note");
        each_row(r.json, table_row, stdout);
    }
    tn_http_resp_free(&r);
    return fflush(stdout) == 0 ? 0 : 1;
}
