/* test_report.c - metrics log, SVG loss curve, progress line (src/train/report.c). */
#include "harness.h"

#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "train/report.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* xmllint --noout: 1 well-formed, 0 not, -1 no xmllint. */
static int xml_ok(const char *path) {
    if (access("/usr/bin/xmllint", X_OK) != 0) return -1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/xmllint --noout '%s' 2>&1", path);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[512];
    while (fgets(line, sizeof line, p)) fprintf(stderr, "  xmllint: %s", line);
    return pclose(p) == 0;
}

static char *tmp(const char *name) { return tn_path_join(tn_t_tmpdir(), name); }

TEST(metrics_jsonl) {
    char *p = tmp("metrics.jsonl");
    tn_metrics *m = tn_metrics_open(p);
    CHECKF(m != NULL, "%s", tn_errmsg());
    if (!m) return;
    tn_metrics_row r = tn_metrics_row_empty();
    r.step = 1, r.epoch = 0.01, r.loss = 2.3456789, r.lr = 2e-4, r.grad_norm = 1.5, r.tokens_per_s = 1234.5,
    r.elapsed_s = 3.25;
    CHECK(tn_metrics_write(m, &r) == 0);
    r.step = 2, r.loss = NAN, r.val_loss = 2.125, r.grad_norm = NAN; /* diverged loss, an eval */
    CHECK(tn_metrics_write(m, &r) == 0);
    json_t *extra = json_pack("{s:s, s:i}", "event", "end", "steps", 2);
    CHECK(tn_metrics_write_json(m, extra) == 0);
    json_decref(extra);
    json_t *bad = json_array();
    CHECK_ERR(tn_metrics_write_json(m, bad), "expected a JSON object");
    json_decref(bad);

    /* flushed after each line: readable before close */
    size_t len = 0;
    char *txt = tn_read_file(p, &len);
    CHECK(txt && count(txt, "\n") == 3);
    free(txt);
    CHECK(tn_metrics_close(m) == 0);

    /* append: a second run adds to the same log */
    m = tn_metrics_open(p);
    r = tn_metrics_row_empty();
    r.step = 3, r.loss = 1.0;
    CHECK(m && tn_metrics_write(m, &r) == 0);
    CHECK(tn_metrics_close(m) == 0);

    FILE *f = fopen(p, "r");
    char line[1024];
    json_t *rows[8] = {0};
    int n = 0;
    while (f && n < 8 && fgets(line, sizeof line, f)) {
        json_error_t e;
        rows[n] = json_loads(line, 0, &e);
        CHECKF(json_is_object(rows[n]), "line %d: %s", n + 1, e.text);
        n++;
    }
    if (f) fclose(f);
    CHECK(n == 4);
    if (n == 4 && rows[0] && rows[1] && rows[2] && rows[3]) {
        CHECK(json_integer_value(json_object_get(rows[0], "step")) == 1);
        CHECK_NEAR(json_number_value(json_object_get(rows[0], "loss")), 2.3456789, 1e-9, 0);
        CHECK_NEAR(json_number_value(json_object_get(rows[0], "lr")), 2e-4, 1e-12, 0);
        CHECK_NEAR(json_number_value(json_object_get(rows[0], "epoch")), 0.01, 1e-12, 0);
        CHECK_NEAR(json_number_value(json_object_get(rows[0], "grad_norm")), 1.5, 0, 0);
        CHECK_NEAR(json_number_value(json_object_get(rows[0], "tokens_per_s")), 1234.5, 0, 0);
        CHECK_NEAR(json_number_value(json_object_get(rows[0], "elapsed_s")), 3.25, 0, 0);
        CHECK(json_object_get(rows[0], "val_loss") == NULL);
        CHECK(json_is_null(json_object_get(rows[1], "loss")));
        CHECK(json_object_get(rows[1], "grad_norm") == NULL);
        CHECK_NEAR(json_number_value(json_object_get(rows[1], "val_loss")), 2.125, 0, 0);
        CHECK(!strcmp(json_string_value(json_object_get(rows[2], "event")), "end"));
        CHECK(json_integer_value(json_object_get(rows[3], "step")) == 3);
    }
    for (int i = 0; i < n; i++) json_decref(rows[i]);

    /* a log in a missing directory: the error names it */
    char *q = tmp("no/such/dir/m.jsonl");
    CHECK(tn_metrics_open(q) == NULL && strstr(tn_errmsg(), "no/such/dir/m.jsonl"));
    free(q);
    free(p);
}

TEST(svg_curve) {
    enum { N = 300, NV = 6 };
    double st[N], lo[N], vs[NV], vl[NV];
    for (int i = 0; i < N; i++) {
        st[i] = i + 1;
        lo[i] = 2.5 * exp(-i / 80.0) + 0.6 + 0.15 * sin(i * 1.7); /* noisy decay */
    }
    lo[10] = NAN; /* skipped */
    for (int i = 0; i < NV; i++) {
        vs[i] = 50.0 * (i + 1);
        vl[i] = 2.5 * exp(-vs[i] / 80.0) + 0.75;
    }
    vl[2] = NAN;
    char *p = tmp("loss.svg");
    CHECKF(tn_svg_loss_curve(p, st, lo, N, vs, vl, NV, "run <1> & \"friends\"") == 0, "%s", tn_errmsg());
    char *svg = tn_read_file(p, NULL);
    CHECK(svg != NULL);
    if (svg) {
        CHECK(!strncmp(svg, "<?xml", 5) && strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
        CHECK(count(svg, "id=\"train\"") == 1 && count(svg, "id=\"train-raw\"") == 1); /* smoothed over raw */
        CHECK(count(svg, "class=\"val-pt\"") == NV - 1);
        CHECK(count(svg, "id=\"val\"") == 1);
        CHECK(strstr(svg, "run &lt;1&gt; &amp; &quot;friends&quot;") != NULL);
        CHECK(strstr(svg, ">step</text>") && strstr(svg, ">loss</text>"));
        CHECK(strstr(svg, "train loss (smoothed)") && strstr(svg, "validation loss"));
        CHECK(!strstr(svg, "<script") && !strstr(svg, "@font-face") && !strstr(svg, "href"));
        CHECK(!strstr(svg, "nan") && !strstr(svg, "inf"));
        /* the train polyline has one point per finite entry */
        const char *tr = strstr(svg, "id=\"train\"");
        const char *pts = tr ? strstr(tr, "points=\"") : NULL;
        const char *end = pts ? strchr(pts + 8, '"') : NULL;
        size_t commas = 0;
        for (const char *c = pts; c && c < end; c++) commas += *c == ',';
        CHECKF(commas == N - 1, "%zu points", commas);
    }
    free(svg);
    int x = xml_ok(p);
    if (x < 0)
        fprintf(stderr, "  (xmllint not installed: well-formedness not checked)\n");
    else
        CHECK(x == 1);

    /* short curve: raw, not smoothed */
    CHECK(tn_svg_loss_curve(p, st, lo, 20, NULL, NULL, 0, NULL) == 0);
    svg = tn_read_file(p, NULL);
    CHECK(svg && count(svg, "id=\"train\"") == 1 && !strstr(svg, "train-raw") && !strstr(svg, "val-pt"));
    CHECK(svg && !strstr(svg, "smoothed") && !strstr(svg, "id=\"title\""));
    free(svg);
    free(p);
}

/* Degenerate inputs: still well-formed, no crash, no nan in coordinates. */
TEST(svg_degenerate) {
    char *p = tmp("d.svg");
    double one_s[] = {5}, one_l[] = {1.25}, flat_s[] = {1, 2, 3, 4}, flat_l[] = {2, 2, 2, 2};
    double nan_l[] = {NAN, NAN, INFINITY, -INFINITY}, big_s[] = {1e6, 2e6}, tiny_l[] = {1e-7, 1.1e-7};
    double neg_s[] = {-3, 0}, zero_l[] = {0, 0};
    struct {
        const double *s, *l;
        size_t n;
        const double *vs, *vl;
        size_t nv;
        const char *what;
    } cases[] = {
        {NULL, NULL, 0, NULL, NULL, 0, "empty"},
        {one_s, one_l, 1, NULL, NULL, 0, "one point"},
        {NULL, NULL, 0, one_s, one_l, 1, "one val point"},
        {flat_s, flat_l, 4, flat_s, flat_l, 4, "constant"},
        {flat_s, nan_l, 4, flat_s, nan_l, 4, "all NaN"},
        {big_s, tiny_l, 2, NULL, NULL, 0, "large steps, tiny losses"},
        {neg_s, zero_l, 2, NULL, NULL, 0, "zero loss"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = tn_svg_loss_curve(p, cases[i].s, cases[i].l, cases[i].n, cases[i].vs, cases[i].vl, cases[i].nv,
                                   cases[i].what);
        CHECKF(rc == 0, "%s: %s", cases[i].what, tn_errmsg());
        char *svg = tn_read_file(p, NULL);
        CHECKF(svg && !strstr(svg, "nan") && !strstr(svg, "inf"), "%s", cases[i].what);
        if (svg && (i == 0 || i == 4)) CHECK(strstr(svg, ">no data<") != NULL);
        if (svg && i == 1) CHECK(count(svg, "class=\"train-pt\"") == 1);
        free(svg);
        if (xml_ok(p) == 0) CHECKF(0, "%s: not well-formed", cases[i].what);
    }
    char *bad = tmp("no/dir/x.svg");
    CHECK(tn_svg_loss_curve(bad, one_s, one_l, 1, NULL, NULL, 0, "t") == -1);
    free(bad);
    free(p);
}

/* The curve from a metrics log: resumed steps replace the earlier ones, a
 * truncated last line is tolerated, a bad line in the middle is not. */
TEST(svg_from_metrics) {
    char *log = tmp("m2.jsonl"), *svg = tmp("m2.svg");
    const char *txt = "{\"step\":1,\"loss\":3.0}\n{\"step\":2,\"loss\":2.5,\"val_loss\":2.7}\n"
                      "{\"step\":3,\"loss\":2.2}\n{\"step\":2,\"loss\":2.4}\n{\"event\":\"resume\"}\n"
                      "{\"step\":3,\"loss\":2.1,\"val_loss\":2.3}\n{\"step\":4,\"lo";
    CHECK(tn_write_file_atomic(log, txt, strlen(txt)) == 0);
    CHECKF(tn_svg_from_metrics(log, svg, "resumed") == 0, "%s", tn_errmsg());
    char *s = tn_read_file(svg, NULL);
    if (s) {
        const char *tr = strstr(s, "id=\"train\""), *pts = tr ? strstr(tr, "points=\"") : NULL;
        const char *end = pts ? strchr(pts + 8, '"') : NULL;
        size_t commas = 0;
        for (const char *c = pts; c && c < end; c++) commas += *c == ',';
        CHECKF(commas == 3, "%zu train points", commas); /* steps 1, 2, 3 */
        CHECK(count(s, "class=\"val-pt\"") == 2);
    }
    free(s);
    const char *bad = "{\"step\":1,\"loss\":3.0}\nnot json\n{\"step\":2,\"loss\":2.0}\n";
    CHECK(tn_write_file_atomic(log, bad, strlen(bad)) == 0);
    CHECK_ERR(tn_svg_from_metrics(log, svg, NULL), "m2.jsonl:2: invalid metrics line");
    char *none = tmp("none.jsonl");
    CHECK_ERR(tn_svg_from_metrics(none, svg, NULL), "none.jsonl");
    free(none), free(log), free(svg);
}

TEST(progress) {
    tn_progress p;
    tn_progress_init(&p, 1000, 0);
    char buf[256];
    /* 100 of 1000 steps in 10 s: 90 s to go */
    tn_progress_format(&p, 100, 1.23456, 2e-4, 15000, p.t0 + 10, 20, buf, sizeof buf);
    CHECKF(strstr(buf, "step 100/1000 [==>") && strstr(buf, " 10%") && strstr(buf, "loss 1.2346") &&
               strstr(buf, "lr 2.00e-04") && strstr(buf, "15.0k tok/s") && strstr(buf, "elapsed 0:10") &&
               strstr(buf, "ETA 1:30"),
           "%s", buf);
    /* a time budget that ends first sets the ETA */
    tn_progress_init(&p, 1000, 60);
    tn_progress_format(&p, 10, NAN, NAN, NAN, p.t0 + 30, 0, buf, sizeof buf);
    CHECKF(strstr(buf, "ETA 0:30") && strstr(buf, " 50%") && strstr(buf, "loss -") && strstr(buf, "lr -") &&
               !strstr(buf, "tok/s") && !strstr(buf, "["),
           "%s", buf);
    /* no total, no budget */
    tn_progress_init(&p, 0, 0);
    tn_progress_format(&p, 7, 1, 1e-5, 10, p.t0 + 3723, 10, buf, sizeof buf);
    CHECKF(strstr(buf, "step 7 ") && !strstr(buf, "%") && strstr(buf, "elapsed 1:02:03") && strstr(buf, "ETA ?"),
           "%s", buf);
    /* a tiny buffer truncates safely */
    char small[8];
    tn_progress_format(&p, 7, 1, 1e-5, 10, p.t0 + 1, 10, small, sizeof small);
    CHECK(strlen(small) == 7);

    /* plain mode writes lines; tty mode redraws with \r and ends the line */
    char *path = tmp("progress.txt");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    tn_progress_init(&p, 3, 0);
    p.out = f, p.tty = 0;
    tn_progress_update(&p, 1, 2.0, 1e-4, 100); /* first: drawn */
    tn_progress_update(&p, 2, 1.9, 1e-4, 100); /* within 10 s: not drawn */
    tn_progress_update(&p, 3, 1.8, 1e-4, 100); /* last: drawn */
    tn_progress_end(&p);
    tn_progress_init(&p, 2, 0);
    p.out = f, p.tty = 1;
    tn_progress_update(&p, 1, 2.0, 1e-4, 100);
    tn_progress_update(&p, 2, 1.5, 1e-4, 100);
    tn_progress_end(&p);
    tn_progress_init(&p, 2, 0);
    p.out = f, p.quiet = 1;
    tn_progress_update(&p, 2, 1.5, 1e-4, 100);
    tn_progress_end(&p);
    fclose(f);
    char *txt = tn_read_file(path, NULL);
    CHECKF(txt && count(txt, "tuna: step") == 2 && count(txt, "\rstep") == 2 && count(txt, "\n") == 3, "%s",
           txt ? txt : "");
    CHECK(txt && strstr(txt, "step 1/3") && strstr(txt, "step 3/3") && !strstr(txt, "step 2/3"));
    free(txt);
    free(path);
}

int main(void) {
    RUN(metrics_jsonl);
    RUN(svg_curve);
    RUN(svg_degenerate);
    RUN(svg_from_metrics);
    RUN(progress);
    return tn_test_summary("test_report");
}
