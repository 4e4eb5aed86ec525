/* ledger.c - `tuna miner ledger`: the record of every submission, as JSON,
 * CSV (RFC 4180; nested values as compact JSON in one cell) or a table.
 * The fields are described in docs/miner.md, "Ledger". */
#include "miner/db.h"
#include "miner/miner.h"

#include "base/csv_out.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const COLUMNS[] = {"id", "task_id", "submission_id", "base_model", "dataset_sha256",
                                      "strategy", "kind", "val_loss", "base_val_loss", "train_steps",
                                      "http_status", "uploaded_at_ms", "attempts", "hyperparameters", "files",
                                      "shape", "src_dir", "answer", "confirmed", "note"};
#define NCOLS (sizeof COLUMNS / sizeof COLUMNS[0])

/* one CSV cell: strings as they are, numbers as JSON, objects as compact JSON */
static char *cell(const json_t *v) {
    if (!v || json_is_null(v)) return tn_strdup("");
    if (json_is_string(v)) return tn_strdup(json_string_value(v));
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    return s ? s : tn_strdup("");
}

static void print_csv(const json_t *all, FILE *f) {
    for (size_t c = 0; c < NCOLS; c++) fprintf(f, "%s%s", c ? "," : "", COLUMNS[c]);
    fputc('\n', f);
    for (size_t i = 0; i < json_array_size(all); i++) {
        const json_t *e = json_array_get(all, i);
        for (size_t c = 0; c < NCOLS; c++) {
            char *s = cell(json_object_get(e, COLUMNS[c]));
            if (c) fputc(',', f);
            tn_csv_write_field(f, s);
            free(s);
        }
        fputc('\n', f);
    }
}

static void print_table(const json_t *all, FILE *f) {
    fprintf(f, "%-4s %-8s %-10s %-8s %-10s %-6s %-19s %s\n", "id", "task", "strategy", "kind", "val_loss", "http",
            "uploaded (UTC)", "base model");
    for (size_t i = 0; i < json_array_size(all); i++) {
        const json_t *e = json_array_get(all, i);
        const json_t *vl = json_object_get(e, "val_loss");
        char loss[32] = "-", when[32] = "-";
        if (json_is_number(vl)) snprintf(loss, sizeof loss, "%.4f", json_number_value(vl));
        json_int_t ms = json_integer_value(json_object_get(e, "uploaded_at_ms"));
        if (ms > 0) {
            time_t t = (time_t)(ms / 1000);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        }
        const char *bm = json_string_value(json_object_get(e, "base_model"));
        fprintf(f, "%-4lld %-8lld %-10s %-8s %-10s %-6lld %-19s %s\n",
                (long long)json_integer_value(json_object_get(e, "id")),
                (long long)json_integer_value(json_object_get(e, "task_id")),
                json_string_value(json_object_get(e, "strategy")), json_string_value(json_object_get(e, "kind")),
                loss, (long long)json_integer_value(json_object_get(e, "http_status")), when, bm ? bm : "-");
    }
}

int tn_miner_ledger_print(const char *work_dir, tn_ledger_fmt fmt, FILE *out) {
    char *path = tn_path_join(work_dir, "miner.sqlite");
    if (!tn_file_exists(path)) {
        tn_fail("%s: no ledger here (has a miner run with --work-dir %s?)", path, work_dir);
        free(path);
        return -1;
    }
    tn_mdb *db = tn_mdb_open(path, 0);
    free(path);
    if (!db) return -1;
    json_t *all = tn_mdb_ledger_list(db);
    tn_mdb_close(db);
    if (!all) return -1;
    if (fmt == TN_LEDGER_JSON) {
        char *s = json_dumps(all, JSON_INDENT(2) | JSON_SORT_KEYS);
        fprintf(out, "%s\n", s ? s : "[]");
        free(s);
    } else if (fmt == TN_LEDGER_CSV) {
        print_csv(all, out);
    } else {
        print_table(all, out);
    }
    json_decref(all);
    return 0;
}
