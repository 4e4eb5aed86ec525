/* report.h - training telemetry: a JSONL metrics log, an SVG loss curve, a
 * progress line on stderr.
 *
 * The metrics log is the record of a run: one JSON object per line, appended
 * and flushed as each step ends, so a crash or a kill loses at most the line
 * being written, and a resumed run continues the same file. The loss curve
 * can be redrawn from it at any time (tn_svg_from_metrics).
 */
#ifndef TN_TRAIN_REPORT_H
#define TN_TRAIN_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* --- metrics log (JSONL) --------------------------------------------------- */

typedef struct tn_metrics tn_metrics;

/* One step's numbers. NaN means "absent": val_loss and grad_norm are left out
 * of the line, the others are written as null (a diverged loss stays visible
 * as null rather than vanishing). */
typedef struct {
    int64_t step;
    double epoch;
    double loss;
    double val_loss;
    double lr;
    double grad_norm;
    double tokens_per_s;
    double elapsed_s;
} tn_metrics_row;

/* A row with every value absent (NaN) and step 0. */
tn_metrics_row tn_metrics_row_empty(void);

/* Opens `path` for appending (creating it). NULL with the error set. */
tn_metrics *tn_metrics_open(const char *path);
/* Appends {"step":..,"epoch":..,"loss":..,...} and flushes. */
int tn_metrics_write(tn_metrics *m, const tn_metrics_row *r);
/* Appends any JSON object (e.g. an end-of-run summary) as one line and
 * flushes. `fields` is borrowed. */
int tn_metrics_write_json(tn_metrics *m, const json_t *fields);
/* Closes the file; returns -1 if a write had failed (disk full shows here). */
int tn_metrics_close(tn_metrics *m);

/* --- loss curve (SVG) -------------------------------------------------------- */

/* Writes a self-contained SVG (no scripts, no external fonts or images) with
 * axes, ticks, labels (step, loss), the training loss as one polyline, the
 * validation loss as points joined by a line, a legend and `title` (may be
 * NULL). Long noisy training curves (more than 50 points) are drawn smoothed
 * (debiased exponential moving average, as TensorBoard does) over the raw
 * curve in a faint colour. NaN and infinite entries are skipped. Zero or one
 * points, and a constant loss, still give a readable chart. Written
 * atomically. */
int tn_svg_loss_curve(const char *path, const double *steps, const double *train_loss, size_t n_train,
                      const double *val_steps, const double *val_loss, size_t n_val, const char *title);

/* Reads a metrics log (lines with "step" and "loss" / "val_loss") and draws
 * its curve. Lines without a step are skipped; a malformed line is an error
 * naming the file and line, except a truncated last line (a killed run). */
int tn_svg_from_metrics(const char *jsonl_path, const char *svg_path, const char *title);

/* --- progress on stderr ---------------------------------------------------- */

typedef struct {
    int64_t total_steps;  /* 0 = unknown */
    double time_budget_s; /* 0 = none */
    double t0;            /* tn_now() at init */
    double last_draw;     /* when the line was last written */
    double interval_s;    /* plain-line mode: seconds between lines (default 10) */
    int tty;              /* redraw one line in place with \r */
    int drawn;            /* something is on the current line (tty) */
    int quiet;            /* write nothing */
    FILE *out;            /* stderr unless changed after init (tests) */
} tn_progress;

/* Starts the clock. A bar updated in place when stderr is a terminal,
 * otherwise a plain line every interval_s seconds. The ETA comes from the
 * step rate and total_steps, or from the time budget, whichever ends first. */
void tn_progress_init(tn_progress *p, int64_t total_steps, double time_budget_s);
/* Reports step `step` (1-based, steps done so far). Redraws at most 10 times a
 * second on a terminal; the last step is always drawn. NaN values are shown
 * as "-". */
void tn_progress_update(tn_progress *p, int64_t step, double loss, double lr, double tokens_per_s);
/* Ends the bar's line (so later messages start on a fresh one). */
void tn_progress_end(tn_progress *p);
/* Formats the status text (without \r) into buf, for tests and logs. */
void tn_progress_format(const tn_progress *p, int64_t step, double loss, double lr, double tokens_per_s,
                        double now, int bar_width, char *buf, size_t cap);

#endif
