/* report.c - metrics log, SVG loss curve, progress line (see report.h). */
#include "train/report.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* --- metrics log ------------------------------------------------------------ */

struct tn_metrics {
    FILE *f;
    char *path;
    int failed;
};

tn_metrics_row tn_metrics_row_empty(void) {
    tn_metrics_row r = {0, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    return r;
}

tn_metrics *tn_metrics_open(const char *path) {
    /* append: a resumed run continues the log of the run it resumes */
    FILE *f = fopen(path, "a");
    if (!f) {
        tn_fail_errno("%s: cannot open the metrics log", path);
        return NULL;
    }
    tn_metrics *m = tn_calloc(1, sizeof *m);
    m->f = f;
    m->path = tn_strdup(path);
    return m;
}

int tn_metrics_write_json(tn_metrics *m, const json_t *fields) {
    if (!json_is_object(fields)) return tn_fail("%s: metrics line: expected a JSON object", m->path);
    /* 10 significant digits: float32 losses read back exactly, 2e-4 stays 0.0002 */
    char *s = json_dumps(fields, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (!s) return tn_fail("%s: metrics line cannot be written as JSON", m->path);
    size_t n = strlen(s);
    int bad = fwrite(s, 1, n, m->f) != n || fputc('\n', m->f) == EOF || fflush(m->f) != 0;
    free(s);
    if (bad) {
        m->failed = 1;
        return tn_fail_errno("%s: writing the metrics log", m->path);
    }
    return 0;
}

/* NaN/inf cannot be JSON numbers: null keeps the key (and the divergence) visible. */
static json_t *num_or_null(double d) { return isfinite(d) ? json_real(d) : json_null(); }

int tn_metrics_write(tn_metrics *m, const tn_metrics_row *r) {
    json_t *o = json_object();
    json_object_set_new(o, "step", json_integer(r->step));
    json_object_set_new(o, "epoch", num_or_null(r->epoch));
    json_object_set_new(o, "loss", num_or_null(r->loss));
    if (!isnan(r->val_loss)) json_object_set_new(o, "val_loss", num_or_null(r->val_loss));
    json_object_set_new(o, "lr", num_or_null(r->lr));
    if (!isnan(r->grad_norm)) json_object_set_new(o, "grad_norm", num_or_null(r->grad_norm));
    json_object_set_new(o, "tokens_per_s", num_or_null(r->tokens_per_s));
    json_object_set_new(o, "elapsed_s", num_or_null(r->elapsed_s));
    int rc = tn_metrics_write_json(m, o);
    json_decref(o);
    return rc;
}

int tn_metrics_close(tn_metrics *m) {
    if (!m) return 0;
    int rc = 0;
    if (fclose(m->f) != 0 && !m->failed) rc = tn_fail_errno("%s: closing the metrics log", m->path);
    if (m->failed && rc == 0) rc = tn_fail("%s: some metrics lines could not be written", m->path);
    free(m->path);
    free(m);
    return rc;
}

/* --- SVG ---------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *fmt, ...) TN_PRINTF(2, 3);
static void put(buf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k >= 0 && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = b->cap * 2 + (size_t)(k > 0 ? k : 0) + 256;
        b->p = tn_realloc(b->p, b->cap);
    }
}

static void put_escaped(buf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': put(b, "&amp;"); break;
        case '<': put(b, "&lt;"); break;
        case '>': put(b, "&gt;"); break;
        case '"': put(b, "&quot;"); break;
        default:
            /* control characters are not allowed in XML 1.0 */
            if ((unsigned char)*s >= 0x20 || *s == '\t' || *s == '\n') put(b, "%c", *s);
        }
    }
}

/* A 1, 2 or 5 times a power of ten near `x`. */
static double nice_step(double range, int target) {
    double raw = range / target;
    double p = pow(10, floor(log10(raw)));
    double f = raw / p;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

typedef struct {
    double lo, hi, step;
    int n; /* ticks lo + i*step for i = 0..n */
    int decimals;
} axis;

/* Axis covering [mn, mx] (mn < mx, both finite), extended to whole ticks no
 * finer than min_step (steps are whole numbers: no tick at step 1.5). */
static axis make_axis(double mn, double mx, int target, double min_step) {
    axis a;
    a.step = fmax(nice_step(mx - mn, target), min_step);
    a.lo = floor(mn / a.step + 1e-9) * a.step;
    a.hi = ceil(mx / a.step - 1e-9) * a.step;
    if (a.hi <= a.lo) a.hi = a.lo + a.step;
    /* ticks by index, not by repeated addition: adding a step far below
     * the values' precision would never get anywhere */
    double n = round((a.hi - a.lo) / a.step);
    a.n = n < 1 ? 1 : n > 50 ? 50 : (int)n;
    a.decimals = a.step >= 1 ? 0 : (int)ceil(-log10(a.step) - 1e-9);
    if (a.decimals > 12) a.decimals = 12;
    return a;
}

/* The i-th tick, snapped to 0 when it is rounding noise around 0 ("-0.00"). */
static double tick_at(const axis *a, int i) {
    double t = a->lo + i * a->step;
    return fabs(t) < a->step * 1e-9 ? 0.0 : t;
}
#define TICK(a, i) tick_at(&(a), (i))

enum { SVG_W = 800, SVG_H = 480, PL = 76, PR = 24, PT = 52, PB = 60 };

static double px(const axis *a, double x) { return PL + (x - a->lo) / (a->hi - a->lo) * (SVG_W - PL - PR); }
static double py(const axis *a, double y) { return SVG_H - PB - (y - a->lo) / (a->hi - a->lo) * (SVG_H - PT - PB); }

static int ok(const double *xs, const double *ys, size_t i) { return isfinite(xs[i]) && isfinite(ys[i]); }

static void polyline(buf *b, const axis *ax, const axis *ay, const double *xs, const double *ys, size_t n,
                     const char *attrs) {
    put(b, "<polyline %s points=\"", attrs);
    int first = 1;
    for (size_t i = 0; i < n; i++)
        if (isfinite(xs[i]) && isfinite(ys[i])) {
            put(b, "%s%.1f,%.1f", first ? "" : " ", px(ax, xs[i]), py(ay, ys[i]));
            first = 0;
        }
    put(b, "\"/>\n");
}

int tn_svg_loss_curve(const char *path, const double *steps, const double *train_loss, size_t n_train,
                      const double *val_steps, const double *val_loss, size_t n_val, const char *title) {
    /* ranges over the finite points of both series */
    double xmn = INFINITY, xmx = -INFINITY, ymn = INFINITY, ymx = -INFINITY;
    size_t nt = 0, nv = 0;
    for (size_t i = 0; i < n_train; i++)
        if (ok(steps, train_loss, i)) {
            nt++;
            xmn = fmin(xmn, steps[i]), xmx = fmax(xmx, steps[i]);
            ymn = fmin(ymn, train_loss[i]), ymx = fmax(ymx, train_loss[i]);
        }
    for (size_t i = 0; i < n_val; i++)
        if (ok(val_steps, val_loss, i)) {
            nv++;
            xmn = fmin(xmn, val_steps[i]), xmx = fmax(xmx, val_steps[i]);
            ymn = fmin(ymn, val_loss[i]), ymx = fmax(ymx, val_loss[i]);
        }
    if (!nt && !nv) xmn = 0, xmx = 1, ymn = 0, ymx = 1;
    /* values near DBL_MAX would overflow the range arithmetic below */
    if (!isfinite(xmx - xmn) || !isfinite(ymx - ymn) || fabs(xmx) > 1e300 || fabs(ymx) > 1e300 ||
        fabs(xmn) > 1e300 || fabs(ymn) > 1e300)
        return tn_fail("%s: loss curve: values out of range", path);
    /* one step or one loss value still needs a non-empty range */
    if (xmx - xmn < 1e-9 * fmax(1, fabs(xmx))) {
        double pad = fmax(1, fabs(xmx) * 0.01);
        xmn = xmn >= pad ? xmn - pad : xmn;
        xmx = xmx + pad;
    }
    if (xmn > 0 && xmn <= 0.1 * xmx) xmn = 0; /* start at 0 when it costs little room */
    int nonneg = ymn >= 0; /* cross-entropy is: keep the axis off negative values */
    if (ymx - ymn < 1e-9 * fmax(1, fabs(ymx))) {
        double pad = fmax(fabs(ymx) * 0.1, 0.1);
        ymn -= pad, ymx += pad;
    } else {
        double pad = (ymx - ymn) * 0.05;
        ymn -= pad, ymx += pad;
    }
    if (nonneg && ymn < 0) ymn = 0;
    axis ax = make_axis(xmn, xmx, 8, 1), ay = make_axis(ymn, ymx, 6, 0);

    /* smoothing for long curves: debiased EMA, heavier for longer runs */
    int smooth = nt > 50;
    double *sm = NULL;
    if (smooth) {
        double w = fmin(0.95, fmax(0.6, 1 - 20.0 / (double)nt)), ema = 0, wt = 1;
        sm = tn_malloc(n_train * sizeof *sm);
        for (size_t i = 0; i < n_train; i++) {
            if (!ok(steps, train_loss, i)) {
                sm[i] = NAN;
                continue;
            }
            ema = w * ema + (1 - w) * train_loss[i];
            wt *= w;
            sm[i] = ema / (1 - wt);
        }
    }

    buf b = {tn_malloc(4096), 0, 4096};
    b.p[0] = 0;
    put(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    put(&b,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
        "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
        SVG_W, SVG_H, SVG_W, SVG_H);
    put(&b, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
    if (title) {
        put(&b, "<text id=\"title\" x=\"%d\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">",
            SVG_W / 2);
        put_escaped(&b, title);
        put(&b, "</text>\n");
    }
    /* grid and ticks */
    double x0 = PL, x1 = SVG_W - PR, y0 = PT, y1 = SVG_H - PB;
    put(&b, "<g id=\"grid\" stroke=\"#e5e5e5\" stroke-width=\"1\">\n");
    for (int i = 0; i <= ax.n; i++)
        put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px(&ax, TICK(ax, i)), y0,
            px(&ax, TICK(ax, i)), y1);
    for (int i = 0; i <= ay.n; i++)
        put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x0, py(&ay, TICK(ay, i)), x1,
            py(&ay, TICK(ay, i)));
    put(&b, "</g>\n");
    put(&b, "<g id=\"axes\" stroke=\"#333333\" stroke-width=\"1\" fill=\"none\">\n");
    put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x0, y1, x1, y1);
    put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x0, y0, x0, y1);
    for (int i = 0; i <= ax.n; i++)
        put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px(&ax, TICK(ax, i)), y1,
            px(&ax, TICK(ax, i)), y1 + 5);
    for (int i = 0; i <= ay.n; i++)
        put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x0 - 5, py(&ay, TICK(ay, i)), x0,
            py(&ay, TICK(ay, i)));
    put(&b, "</g>\n<g id=\"tick-labels\" fill=\"#333333\">\n");
    for (int i = 0; i <= ax.n; i++)
        put(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.*f</text>\n", px(&ax, TICK(ax, i)), y1 + 19,
            ax.decimals, TICK(ax, i));
    for (int i = 0; i <= ay.n; i++)
        put(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>\n", x0 - 8, py(&ay, TICK(ay, i)) + 4,
            ay.decimals, TICK(ay, i));
    put(&b, "</g>\n");
    put(&b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\">step</text>\n", (x0 + x1) / 2,
        SVG_H - 16);
    put(&b,
        "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 18 %.1f)\">"
        "loss</text>\n",
        (y0 + y1) / 2, (y0 + y1) / 2);

    /* series */
    const char *train_col = "#1f77b4", *val_col = "#d62728";
    if (nt) {
        char attrs[160];
        if (smooth) {
            snprintf(attrs, sizeof attrs,
                     "id=\"train-raw\" fill=\"none\" stroke=\"%s\" stroke-opacity=\"0.25\" stroke-width=\"1\"",
                     train_col);
            polyline(&b, &ax, &ay, steps, train_loss, n_train, attrs);
        }
        snprintf(attrs, sizeof attrs,
                 "id=\"train\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-linejoin=\"round\"", train_col);
        polyline(&b, &ax, &ay, steps, smooth ? sm : train_loss, n_train, attrs);
        if (nt == 1) /* a lone point draws no line: mark it */
            for (size_t i = 0; i < n_train; i++)
                if (ok(steps, train_loss, i))
                    put(&b, "<circle class=\"train-pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                        px(&ax, steps[i]), py(&ay, train_loss[i]), train_col);
    }
    if (nv) {
        char attrs[160];
        snprintf(attrs, sizeof attrs, "id=\"val\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"", val_col);
        if (nv > 1) polyline(&b, &ax, &ay, val_steps, val_loss, n_val, attrs);
        put(&b, "<g id=\"val-points\" fill=\"%s\" stroke=\"#ffffff\" stroke-width=\"1\">\n", val_col);
        for (size_t i = 0; i < n_val; i++)
            if (ok(val_steps, val_loss, i))
                put(&b, "<circle class=\"val-pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\"/>\n", px(&ax, val_steps[i]),
                    py(&ay, val_loss[i]));
        put(&b, "</g>\n");
    }
    if (!nt && !nv)
        put(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#888888\" font-size=\"14\">no data</text>\n",
            (x0 + x1) / 2, (y0 + y1) / 2);

    /* legend, top right inside the plot */
    int rows = (nt > 0) + (nv > 0);
    if (rows) {
        double lw = 190, lh = 10 + 20.0 * rows, lx = x1 - lw - 8, ly = y0 + 8, yy = ly + 18;
        put(&b, "<g id=\"legend\">\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ffffff\" "
                "fill-opacity=\"0.85\" stroke=\"#cccccc\"/>\n",
            lx, ly, lw, lh);
        if (nt) {
            put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                lx + 10, yy - 4, lx + 34, yy - 4, train_col);
            put(&b, "<text x=\"%.1f\" y=\"%.1f\">train loss%s</text>\n", lx + 42, yy, smooth ? " (smoothed)" : "");
            yy += 20;
        }
        if (nv) {
            put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.5\"/>\n",
                lx + 10, yy - 4, lx + 34, yy - 4, val_col);
            put(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", lx + 22, yy - 4, val_col);
            put(&b, "<text x=\"%.1f\" y=\"%.1f\">validation loss</text>\n", lx + 42, yy);
        }
        put(&b, "</g>\n");
    }
    put(&b, "</svg>\n");
    free(sm);
    int rc = tn_write_file_atomic(path, b.p, b.n);
    free(b.p);
    return rc;
}

/* --- metrics log -> SVG ---------------------------------------------------- */

typedef struct {
    double *x, *y;
    size_t n, cap;
} series;

/* Appends (x, y), first dropping points at or after x: a resumed run logs
 * again from its checkpoint's step, and the later lines are the ones that
 * count. */
static void series_add(series *s, double x, double y) {
    while (s->n && s->x[s->n - 1] >= x) s->n--;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->x = tn_realloc(s->x, s->cap * sizeof *s->x);
        s->y = tn_realloc(s->y, s->cap * sizeof *s->y);
    }
    s->x[s->n] = x;
    s->y[s->n++] = y;
}

int tn_svg_from_metrics(const char *jsonl_path, const char *svg_path, const char *title) {
    FILE *f = fopen(jsonl_path, "r");
    if (!f) return tn_fail_errno("%s", jsonl_path);
    series tr = {0}, va = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t lineno = 0, bad_line = 0;
    int rc = 0;
    char bad_msg[256] = "";
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t k = (size_t)len;
        while (k && (line[k - 1] == '\n' || line[k - 1] == '\r' || line[k - 1] == ' ')) k--;
        if (!k) continue;
        if (bad_line) break; /* a bad line followed by more lines: not a truncated tail */
        json_error_t e;
        json_t *o = json_loadb(line, k, 0, &e);
        if (!o || !json_is_object(o)) {
            bad_line = lineno;
            snprintf(bad_msg, sizeof bad_msg, "%s", o ? "expected a JSON object" : e.text);
            json_decref(o);
            continue;
        }
        json_t *st = json_object_get(o, "step"), *lo = json_object_get(o, "loss"), *vl = json_object_get(o, "val_loss");
        if (json_is_number(st)) {
            double x = json_number_value(st);
            if (json_is_number(lo)) series_add(&tr, x, json_number_value(lo));
            if (json_is_number(vl)) series_add(&va, x, json_number_value(vl));
        }
        json_decref(o);
    }
    if (bad_line && len >= 0) /* the loop broke on a later line */
        rc = tn_fail("%s:%zu: invalid metrics line: %s", jsonl_path, bad_line, bad_msg);
    else if (bad_line)
        tn_warn("%s:%zu: last line is incomplete (interrupted run?); skipped", jsonl_path, bad_line);
    if (!rc && ferror(f)) rc = tn_fail_errno("%s: read error", jsonl_path);
    free(line);
    fclose(f);
    if (!rc) rc = tn_svg_loss_curve(svg_path, tr.x, tr.y, tr.n, va.x, va.y, va.n, title);
    free(tr.x), free(tr.y), free(va.x), free(va.y);
    return rc;
}

/* --- progress ------------------------------------------------------------------ */

void tn_progress_init(tn_progress *p, int64_t total_steps, double time_budget_s) {
    memset(p, 0, sizeof *p);
    p->total_steps = total_steps > 0 ? total_steps : 0;
    p->time_budget_s = time_budget_s > 0 ? time_budget_s : 0;
    p->t0 = tn_now();
    p->last_draw = -1e300;
    p->interval_s = 10;
    p->out = stderr;
    const char *term = getenv("TERM");
    p->tty = isatty(fileno(stderr)) && !(term && !strcmp(term, "dumb"));
}

static void fmt_dur(double s, char *buf, size_t cap) {
    if (!isfinite(s) || s < 0) {
        snprintf(buf, cap, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

void tn_progress_format(const tn_progress *p, int64_t step, double loss, double lr, double tokens_per_s,
                        double now, int bar_width, char *buf, size_t cap) {
    double el = now - p->t0;
    /* the fraction done: by steps when known, else by the time budget */
    double frac = NAN;
    if (p->total_steps) frac = (double)step / (double)p->total_steps;
    double eta = INFINITY;
    if (p->total_steps && step > 0) eta = el / (double)step * (double)(p->total_steps - step);
    if (p->time_budget_s) {
        double left = p->time_budget_s - el;
        if (left < eta) eta = left > 0 ? left : 0;
        double tf = el / p->time_budget_s;
        if (!(frac >= tf)) frac = tf; /* whichever is further along ends first */
    }
    if (frac > 1) frac = 1;
    size_t n = 0;
#define ADD(...) n += (size_t)snprintf(buf + (n < cap ? n : cap), n < cap ? cap - n : 0, __VA_ARGS__)
    if (p->total_steps)
        ADD("step %lld/%lld", (long long)step, (long long)p->total_steps);
    else
        ADD("step %lld", (long long)step);
    if (bar_width > 0 && isfinite(frac)) {
        int full = (int)(frac * bar_width + 1e-9);
        ADD(" [");
        for (int i = 0; i < bar_width; i++) ADD("%c", i < full ? '=' : i == full ? '>' : ' ');
        ADD("]");
    }
    if (isfinite(frac)) ADD(" %3.0f%%", frac * 100);
    if (isfinite(loss))
        ADD(" loss %.4f", loss);
    else
        ADD(" loss -");
    if (isfinite(lr))
        ADD(" lr %.2e", lr);
    else
        ADD(" lr -");
    if (isfinite(tokens_per_s)) {
        if (tokens_per_s >= 1e4)
            ADD(" %.1fk tok/s", tokens_per_s / 1e3);
        else
            ADD(" %.0f tok/s", tokens_per_s);
    }
    char d1[32], d2[32];
    fmt_dur(el, d1, sizeof d1);
    fmt_dur(eta, d2, sizeof d2);
    ADD(" elapsed %s ETA %s", d1, d2);
#undef ADD
}

static int term_cols(FILE *out) {
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

void tn_progress_update(tn_progress *p, int64_t step, double loss, double lr, double tokens_per_s) {
    if (p->quiet) return;
    double now = tn_now();
    int last = p->total_steps && step >= p->total_steps;
    double every = p->tty ? 0.1 : p->interval_s;
    if (!last && now - p->last_draw < every) return;
    p->last_draw = now;
    char line[512];
    if (!p->tty) {
        tn_progress_format(p, step, loss, lr, tokens_per_s, now, 0, line, sizeof line);
        fprintf(p->out, "tuna: %s\n", line);
        fflush(p->out);
        return;
    }
    /* the bar takes what the text leaves of the terminal line: a line that
     * wraps cannot be redrawn in place with \r */
    int cols = term_cols(p->out);
    tn_progress_format(p, step, loss, lr, tokens_per_s, now, 0, line, sizeof line);
    int room = cols - 1 - (int)strlen(line) - 3;
    int bar = room >= 10 ? (room > 30 ? 30 : room) : 0;
    if (bar) tn_progress_format(p, step, loss, lr, tokens_per_s, now, bar, line, sizeof line);
    if ((int)strlen(line) > cols - 1 && cols > 1) line[cols - 1] = 0;
    fprintf(p->out, "\r%s\033[K", line);
    fflush(p->out);
    p->drawn = 1;
}

void tn_progress_end(tn_progress *p) {
    if (p->tty && p->drawn && !p->quiet) {
        fputc('\n', p->out);
        fflush(p->out);
    }
    p->drawn = 0;
}
