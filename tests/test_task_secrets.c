/* test_task_secrets.c - what a task keeps from a miner who knows its public
 * source: the secret per-task format (judge/transform.h) applied the same way
 * to every split, and the offer's row range instead of the row count
 * (net/rows_bucket.h), down to a real validator process over HTTP. */
#include "harness.h"
#include "net/http_client.h"
#include "net/rows_bucket.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"
#include "data/rows.h"
#include "judge/transform.h"
#include "miner/policy.h"
#include "validator/prepare.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static tn_data_spec instruct_spec(void) {
    tn_data_spec s;
    memset(&s, 0, sizeof s);
    s.kind = TN_DS_INSTRUCT;
    s.instruct.field_instruction = "instruction";
    s.instruct.field_input = "input";
    s.instruct.field_output = "output";
    return s;
}

/* The prompt and response text a row renders to with spec (tn_format_row:
 * the formatter the trainer and the scorer use). */
static void render(const tn_data_spec *spec, const json_t *row, char *prompt, size_t pcap, char *resp, size_t rcap) {
    tn_sample s;
    tn_sample_init(&s);
    prompt[0] = resp[0] = 0;
    if (tn_format_row(spec, row, "row", &s) == 0)
        for (size_t i = 0; i < s.n; i++)
            strncat(s.seg[i].trainable ? resp : prompt, s.seg[i].text,
                    (s.seg[i].trainable ? rcap - strlen(resp) : pcap - strlen(prompt)) - 1);
    tn_sample_free(&s);
}

TEST(transform_is_deterministic_per_seed) {
    tn_transform a, b, c;
    tn_transform_draw(12345, &a);
    tn_transform_draw(12345, &b);
    tn_transform_draw(12346, &c);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    CHECK(strlen(a.marker) == 6 && a.marker[0] >= 'a' && a.marker[0] <= 'z');
    CHECK(strcmp(a.marker, c.marker) != 0 || a.col_key != c.col_key);
    json_t *row = json_pack("{s:s, s:s, s:s}", "instruction", "Define cat.", "input", "", "output", "A small feline.");
    tn_data_spec sp = instruct_spec();
    json_t *r1 = tn_transform_row(&a, &sp, row, "row 1"), *r2 = tn_transform_row(&b, &sp, row, "row 1");
    char *d1 = json_dumps(r1, JSON_COMPACT), *d2 = json_dumps(r2, JSON_COMPACT);
    CHECKF(d1 && d2 && !strcmp(d1, d2), "%s vs %s", d1, d2);
    free(d1);
    free(d2);
    json_decref(r1);
    json_decref(r2);
    json_decref(row);
}

TEST(transform_differs_per_task) {
    /* 200 task seeds: markers almost all distinct, every template and both
     * field orders drawn */
    char seen[200][8];
    int templates[TN_TRANSFORM_TEMPLATES] = {0}, order[2] = {0}, dup = 0;
    for (int i = 0; i < 200; i++) {
        tn_transform t;
        tn_transform_draw((uint64_t)i * 7919 + 1, &t);
        snprintf(seen[i], sizeof seen[i], "%s", t.marker);
        for (int k = 0; k < i; k++) dup += !strcmp(seen[k], seen[i]);
        CHECK(t.template_id >= 0 && t.template_id < TN_TRANSFORM_TEMPLATES);
        templates[t.template_id]++;
        order[t.input_first != 0]++;
    }
    CHECKF(dup == 0, "%d repeated markers in 200 tasks", dup);
    for (int k = 0; k < TN_TRANSFORM_TEMPLATES; k++) CHECKF(templates[k] > 0, "template %d never drawn", k);
    CHECK(order[0] > 50 && order[1] > 50);
}

/* Which template/order a transform has is decided by the seed; find seeds
 * with the wanted properties (a search, so no seed is hard-coded). */
static uint64_t seed_with(int template_id, int input_first) {
    for (uint64_t s = 1; s < 100000; s++) {
        tn_transform t;
        tn_transform_draw(s, &t);
        if (t.template_id == template_id && t.input_first == input_first) return s;
    }
    return 0;
}

TEST(transform_renders_the_template_and_keeps_the_answer) {
    tn_data_spec sp = instruct_spec();
    for (int id = 0; id < TN_TRANSFORM_TEMPLATES; id++)
        for (int first = 0; first < 2; first++) {
            uint64_t seed = seed_with(id, first);
            CHECK(seed != 0);
            tn_transform t;
            tn_transform_draw(seed, &t);
            json_t *row = json_pack("{s:s, s:s, s:s}", "instruction", "Add the numbers.", "input", "2 and 3",
                                    "output", "5");
            json_t *tr = tn_transform_row(&t, &sp, row, "row 1");
            CHECK(tr != NULL);
            if (!tr) continue;
            char p0[512], r0[512], p1[512], r1[512];
            render(&sp, row, p0, sizeof p0, r0, sizeof r0);
            render(&sp, tr, p1, sizeof p1, r1, sizeof r1);
            /* the answer is untouched; the prompt carries the marker and
             * both fields, in the drawn order, and differs from the public row */
            CHECK(!strcmp(r0, r1));
            CHECK(strcmp(p0, p1) != 0 && strstr(p1, t.marker) != NULL);
            const char *a = strstr(p1, "Add the numbers."), *b = strstr(p1, "2 and 3");
            CHECKF(a && b && (first ? b < a : a < b), "template %d order %d: '%s'", id, first, p1);
            /* the field order swaps the columns' values */
            const char *ins = json_string_value(json_object_get(tr, "instruction"));
            CHECK(ins && strstr(ins, first ? "2 and 3" : "Add the numbers.") != NULL);
            /* the instruction column is the template around its value */
            char *want = tn_transform_wrap(&t, first ? "2 and 3" : "Add the numbers.");
            CHECKF(ins && !strcmp(ins, want), "'%s' vs '%s'", ins, want);
            free(want);
            json_decref(tr);
            json_decref(row);
        }
}

TEST(transform_kinds_text_chat_and_system) {
    tn_transform t;
    tn_transform_draw(99, &t);
    tn_data_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.kind = TN_DS_TEXT;
    json_t *row = json_pack("{s:s}", "text", "Once upon a time.");
    json_t *tr = tn_transform_row(&t, &sp, row, "row 1");
    char *want = tn_transform_wrap(&t, "Once upon a time.");
    CHECK(tr && !strcmp(json_string_value(json_object_get(tr, "text")), want));
    free(want);
    json_decref(tr);
    json_decref(row);
    /* chat: the first user turn only, ShareGPT and OpenAI styles */
    sp.kind = TN_DS_CHAT;
    row = json_pack("{s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}", "conversations", "from", "system",
                    "value", "Be brief.", "from", "human", "value", "Hi?", "from", "gpt", "value", "Hello.", "from",
                    "human", "value", "Bye?");
    tr = tn_transform_row(&t, &sp, row, "row 1");
    CHECK(tr != NULL);
    if (tr) {
        json_t *m = json_object_get(tr, "conversations");
        want = tn_transform_wrap(&t, "Hi?");
        CHECK(!strcmp(json_string_value(json_object_get(json_array_get(m, 1), "value")), want));
        CHECK(!strcmp(json_string_value(json_object_get(json_array_get(m, 0), "value")), "Be brief."));
        CHECK(!strcmp(json_string_value(json_object_get(json_array_get(m, 2), "value")), "Hello."));
        CHECK(!strcmp(json_string_value(json_object_get(json_array_get(m, 3), "value")), "Bye?"));
        free(want);
    }
    json_decref(tr);
    json_decref(row);
    row = json_pack("{s:[{s:s, s:s}, {s:s, s:s}]}", "messages", "role", "user", "content", "2+2?", "role",
                    "assistant", "content", "4");
    tr = tn_transform_row(&t, &sp, row, "row 1");
    want = tn_transform_wrap(&t, "2+2?");
    CHECK(tr && !strcmp(json_string_value(json_object_get(json_array_get(json_object_get(tr, "messages"), 0),
                                                           "content")), want));
    CHECK(tr && !strcmp(json_string_value(json_object_get(json_array_get(json_object_get(tr, "messages"), 1),
                                                           "content")), "4"));
    free(want);
    json_decref(tr);
    json_decref(row);
    /* system column and numbers */
    tn_data_spec is = instruct_spec();
    is.instruct.field_system = "sys";
    row = json_pack("{s:s, s:i, s:s}", "sys", "You are terse.", "instruction", 42, "output", "forty-two");
    tr = tn_transform_row(&t, &is, row, "row 1");
    want = tn_transform_wrap(&t, "42");
    CHECK(tr && !strcmp(json_string_value(json_object_get(tr, "instruction")), want));
    CHECK(tr && !strcmp(json_string_value(json_object_get(tr, "sys")), "You are terse."));
    free(want);
    json_decref(tr);
    json_decref(row);
}

TEST(transform_is_the_same_in_every_split) {
    /* a row transforms the same wherever it is: in a train array, a test
     * array, alone; and the column order is the task's, whatever the row's */
    tn_transform t;
    tn_transform_draw(777, &t);
    tn_data_spec sp = instruct_spec();
    json_t *a = json_pack("{s:s, s:s, s:s}", "instruction", "Define dog.", "input", "", "output", "A canine.");
    json_t *b = json_pack("{s:s, s:s, s:s}", "output", "A canine.", "instruction", "Define dog.", "input", "");
    json_t *train = json_pack("[{s:s, s:s}, O]", "instruction", "x", "output", "y", a);
    json_t *test = json_pack("[O, {s:s, s:s}, {s:s, s:s}]", b, "instruction", "p", "output", "q", "instruction",
                             "r", "output", "s");
    json_t *tt = tn_transform_rows(&t, &sp, train, "train"), *te = tn_transform_rows(&t, &sp, test, "test");
    CHECK(tt && te);
    char *s1 = json_dumps(json_array_get(tt, 1), JSON_COMPACT), *s2 = json_dumps(json_array_get(te, 0), JSON_COMPACT);
    CHECKF(s1 && s2 && !strcmp(s1, s2), "%s vs %s", s1, s2);
    free(s1);
    free(s2);
    json_decref(tt);
    json_decref(te);
    json_decref(train);
    json_decref(test);
    json_decref(a);
    json_decref(b);
}

TEST(transform_bad_input_names_the_row) {
    tn_transform t;
    tn_transform_draw(5, &t);
    tn_data_spec sp = instruct_spec();
    json_t *rows = json_pack("[{s:s, s:s}, {s:s}]", "instruction", "ok", "output", "ok", "output", "no instruction");
    json_t *out = tn_transform_rows(&t, &sp, rows, "data.jsonl");
    CHECK(out == NULL);
    CHECKF(strstr(tn_errmsg(), "data.jsonl: row 2") && strstr(tn_errmsg(), "'instruction'") &&
               strstr(tn_errmsg(), "missing"),
           "%s", tn_errmsg());
    json_decref(rows);
    rows = json_pack("[{s:{}, s:s}]", "instruction", "output", "x");
    CHECKF(rows && tn_transform_rows(&t, &sp, rows, "d") == NULL && strstr(tn_errmsg(), "d: row 1: field 'instruction': expected a string, got an object"),
           "%s", tn_errmsg());
    json_decref(rows);
    rows = json_pack("[[i]]", 1);
    CHECKF(rows && tn_transform_rows(&t, &sp, rows, "d") == NULL && strstr(tn_errmsg(), "d: row 1: expected a JSON object"),
           "%s", tn_errmsg());
    json_decref(rows);
    CHECK(tn_transform_rows(&t, &sp, json_object_get(NULL, "x"), "d") == NULL);
    tn_data_spec cs;
    memset(&cs, 0, sizeof cs);
    cs.kind = TN_DS_CHAT;
    rows = json_pack("[{s:[{s:s, s:s}]}]", "messages", "role", "assistant", "content", "hi");
    CHECK(tn_transform_rows(&t, &cs, rows, "c") == NULL && strstr(tn_errmsg(), "no user turn"));
    json_decref(rows);
    rows = json_pack("[{s:s}]", "messages", "hi");
    CHECK(tn_transform_rows(&t, &cs, rows, "c") == NULL && strstr(tn_errmsg(), "expected a list of messages"));
    json_decref(rows);
}

static void write_dataset(const char *path, int n, int offset) {
    FILE *f = fopen(path, "w");
    for (int i = 0; i < n; i++)
        fprintf(f, "{\"instruction\": \"What is %d plus %d?\", \"input\": \"%s\", \"output\": \"%d\"}\n", i + offset,
                i, i % 3 ? "" : "show your work", 2 * i + offset);
    fclose(f);
}

/* Finds the source row with this output. */
static const json_t *by_output(const json_t *rows, const char *out) {
    size_t i;
    const json_t *r;
    json_array_foreach(rows, i, r) if (!strcmp(json_string_value(json_object_get(r, "output")), out)) return r;
    return NULL;
}

TEST(prepare_writes_train_and_test_in_the_secret_format) {
    const char *tmp = tn_t_tmpdir();
    char *src = tn_sprintf("%s/prep.jsonl", tmp), *tr = tn_sprintf("%s/prep_train.jsonl", tmp),
         *te = tn_sprintf("%s/prep_test.jsonl", tmp), *sy = tn_sprintf("%s/prep_synth.jsonl", tmp);
    write_dataset(src, 100, 1000);
    tn_data_spec sp = instruct_spec();
    tn_prepare_opts po;
    tn_prepare_opts_default(&po);
    tn_prepare_stats st;
    const uint64_t seed = 4242;
    CHECKF(tn_prepare_split(src, &sp, seed, &po, tr, te, sy, &st) == 0, "%s", tn_errmsg());
    json_t *all = NULL, *jt = NULL, *je = NULL, *js = NULL;
    CHECK(tn_rows_load_all(src, TN_ROWS_JSONL, &all) == 0 && tn_rows_load_all(tr, TN_ROWS_JSONL, &jt) == 0 &&
          tn_rows_load_all(te, TN_ROWS_JSONL, &je) == 0 && tn_rows_load_all(sy, TN_ROWS_JSONL, &js) == 0);
    CHECK(json_array_size(jt) == st.train && json_array_size(je) == st.test && json_array_size(js) == st.synth);
    CHECK(st.train + st.test + st.synth == 100);
    tn_transform t;
    tn_transform_draw(seed, &t);
    /* every train and test row is its source row in the task's format, and
     * none is the public row itself */
    json_t *splits[2] = {jt, je};
    int bad = 0, verbatim = 0;
    for (int k = 0; k < 2; k++) {
        size_t i;
        json_t *r;
        json_array_foreach(splits[k], i, r) {
            const json_t *s = by_output(all, json_string_value(json_object_get(r, "output")));
            json_t *want = s ? tn_transform_row(&t, &sp, s, "x") : NULL;
            char *a = json_dumps(r, JSON_COMPACT), *b = want ? json_dumps(want, JSON_COMPACT) : NULL,
                 *c = s ? json_dumps(s, JSON_COMPACT) : NULL;
            bad += !b || strcmp(a, b);
            verbatim += c && !strcmp(a, c);
            free(a);
            free(b);
            free(c);
            json_decref(want);
        }
    }
    CHECKF(bad == 0 && verbatim == 0, "%d rows not in the task's format, %d verbatim", bad, verbatim);
    /* the synthetic source is kept as given (its set is formatted when made) */
    size_t i;
    json_t *r;
    int same = 0;
    json_array_foreach(js, i, r) {
        const json_t *s = by_output(all, json_string_value(json_object_get(r, "output")));
        same += s && json_equal(r, (json_t *)s);
    }
    CHECK(same == (int)st.synth);
    json_decref(all);
    json_decref(jt);
    json_decref(je);
    json_decref(js);
    free(src);
    free(tr);
    free(te);
    free(sy);
}

TEST(rows_bucket_labels) {
    /* the 1-2-5 ranges, worked out by hand from the definition */
    static const struct {
        int64_t n;
        const char *label;
    } T[] = {{0, "0-10"},         {9, "0-10"},        {10, "10-20"},     {19, "10-20"},     {20, "20-50"},
             {99, "50-100"},      {100, "100-200"},   {199, "100-200"},  {200, "200-500"},  {999, "500-1k"},
             {1000, "1k-2k"},     {1999, "1k-2k"},    {2000, "2k-5k"},   {12345, "10k-20k"}, {500000, "500k-1M"},
             {1000000, "1M-2M"}, {5000000000LL, "5G-10G"}};
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        char b[48];
        tn_rows_bucket(T[i].n, b, sizeof b);
        CHECKF(!strcmp(b, T[i].label), "%lld -> %s, expected %s", (long long)T[i].n, b, T[i].label);
    }
    /* every count lands in its range, read back */
    for (int64_t n = 0; n < 300000; n = n * 3 / 2 + 1) {
        char b[48];
        int64_t lo, hi;
        tn_rows_bucket(n, b, sizeof b);
        CHECKF(tn_rows_bucket_parse(b, "x", &lo, &hi) == 0 && lo <= n && n < hi && hi <= 10 * (lo ? lo : 1),
               "%lld -> %s", (long long)n, b);
    }
}

TEST(rows_bucket_parse_errors) {
    static const char *const BAD[] = {"", "5k", "5-5", "10-2", "a-b", "1k-2x", "-1-5", "1k-", "1k-2k ", " 1-2",
                                      "99999999999999999999-1"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        int64_t lo, hi;
        CHECKF(tn_rows_bucket_parse(BAD[i], "task_offer: field ds_size_bucket", &lo, &hi) == -1 &&
                   strstr(tn_errmsg(), "ds_size_bucket") && strstr(tn_errmsg(), "LO-HI"),
               "'%s' accepted", BAD[i]);
    }
    int64_t lo, hi;
    CHECK(tn_rows_bucket_parse("7-13", "x", &lo, &hi) == 0 && lo == 7 && hi == 13);
}

TEST(policy_assumes_the_top_of_the_range) {
    tn_policy p;
    tn_policy_defaults(&p);
    p.flops = 1e9;
    p.startup_s = 0;
    p.bandwidth_bps = 0;
    p.min_train_s = 1;
    /* 6 * 1e5 params * rows * 200 tokens / 1e9 FLOP/s = 0.12 s a row: 1k-2k
     * means up to 2000 rows, 240 s full or 160 s LoRA, which 150 s does not hold */
    json_t *b = json_pack("{s:i, s:s, s:i, s:{s:s}, s:s, s:f}", "task_id", 3, "model", "m", "model_params_count",
                          100000, "architecture", "model_type", "llama", "ds_size_bucket", "1k-2k",
                          "hours_to_complete", 150.0 / 3600);
    tn_offer o;
    CHECKF(tn_offer_parse(b, &o) == 0, "%s", tn_errmsg());
    CHECK(o.ds_size == 2000 && !strcmp(o.ds_rows, "1k-2k"));
    tn_policy_decision d;
    tn_policy_decide(&p, &o, 1, 1, &d);
    CHECKF(!d.accept && strstr(d.message, "2000 rows (offered: 1k-2k)"), "%s", d.message);
    json_object_set_new(b, "hours_to_complete", json_real(300.0 / 3600));
    CHECK(tn_offer_parse(b, &o) == 0);
    tn_policy_decide(&p, &o, 1, 1, &d);
    CHECKF(d.accept, "%s", d.message);
    json_object_set_new(b, "ds_size_bucket", json_string("2k"));
    CHECK(tn_offer_parse(b, &o) == -1 && strstr(tn_errmsg(), "task_offer: field ds_size_bucket"));
    json_object_set_new(b, "ds_size_bucket", json_integer(5));
    CHECK(tn_offer_parse(b, &o) == -1 && strstr(tn_errmsg(), "ds_size_bucket"));
    json_decref(b);
}

/* ---- a real validator: the offer and the splits ------------------------- */

static json_t *g_offer, *g_start;

static void h_offer(tn_http_req *r, void *ud) {
    (void)ud;
    json_t *b = tn_http_body_json(r);
    if (!b) return;
    if (!g_offer) g_offer = json_incref(b);
    tn_http_reply_json(r, 200, json_pack("{s:b, s:s}", "accepted", 1, "message", "ok"));
}

static void h_start(tn_http_req *r, void *ud) {
    (void)ud;
    json_t *b = tn_http_body_json(r);
    if (!b) return;
    if (!g_start) g_start = json_incref(b);
    tn_http_reply_json(r, 202, json_pack("{s:b}", "accepted", 1));
}

/* The wrapper around the source instruction in a transformed row: what is
 * before and after it in the instruction column (or the input column, when
 * the field order swapped them). 0 when the row carries it. */
static int wrapper_of(const json_t *row, const json_t *src, char *pre, char *post, size_t cap) {
    const char *si = json_string_value(json_object_get(src, "instruction"));
    const char *inp = json_string_value(json_object_get(src, "input"));
    const char *ti = json_string_value(json_object_get(row, "instruction"));
    /* with a non-empty input and the swapped order, the input is wrapped */
    const char *inner = inp && inp[0] && !strstr(ti, si) ? inp : si;
    const char *at = ti ? strstr(ti, inner) : NULL;
    if (!at) return -1;
    snprintf(pre, cap, "%.*s", (int)(at - ti), ti);
    snprintf(post, cap, "%s", at + strlen(inner));
    return 0;
}

/* Every row of `rows` is a row of `all` with one and the same wrapper, which
 * holds a marker; 0 when so. */
static int same_secret_format(const json_t *rows, const json_t *all, const char *what, char *pre0, char *post0) {
    size_t i;
    const json_t *r;
    json_array_foreach(rows, i, r) {
        const json_t *s = by_output(all, json_string_value(json_object_get(r, "output")));
        char pre[128], post[128];
        if (!s || wrapper_of(r, s, pre, post, sizeof pre)) {
            fprintf(stderr, "  %s row %zu: not a source row\n", what, i + 1);
            return -1;
        }
        if (!pre0[0] && !post0[0]) {
            snprintf(pre0, 128, "%s", pre);
            snprintf(post0, 128, "%s", post);
        }
        if (strcmp(pre, pre0) || strcmp(post, post0) || (!pre[0] && !post[0])) {
            fprintf(stderr, "  %s row %zu: wrapper '%s'/'%s', expected '%s'/'%s'\n", what, i + 1, pre, post, pre0,
                    post0);
            return -1;
        }
    }
    return 0;
}

TEST(offer_and_splits_through_a_real_validator) {
    const char *data = tn_t_shared_data();
    if (!data) SKIP("../shared/data is missing (set TUNA_SHARED_DATA)");
    const char *tmp = tn_t_tmpdir();
    char *vdir = tn_sprintf("%s/validator", tmp), *log = tn_sprintf("%s/validator.log", tmp);
    char *base = tn_sprintf("%s/base", tmp), *ds = tn_sprintf("%s/numbers.jsonl", tmp);
    CHECK(tn_t_stories260k(base) == 0);
    write_dataset(ds, 137, 0);
    tn_keypair admin, mk;
    tn_crypto_init();
    tn_keypair_generate(&admin);
    tn_keypair_generate(&mk);
    char *args[] = {"--admin-key", admin.id, "--offer-timeout", "2000", "--seq-len", "128", NULL};
    tn_t_validator v;
    if (tn_t_validator_start(&v, vdir, log, args, 30) != 0) {
        CHECKF(0, "the validator did not start (see %s)", log);
        return;
    }
    tn_http_server *srv = NULL;
    tn_verifier *ver = NULL;
    CHECK(tn_t_stub_miner_start(&srv, &ver, v.public_key, h_offer, h_start, NULL) == 0);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", tn_http_server_port(srv));
    CHECK(tn_t_post_signed(&admin, v.url, "/v1/admin/miners",
                           json_pack("{s:s, s:s, s:s, s:s}", "name", "m1", "owner", "o", "endpoint", ep, "public_key",
                                     mk.id)) == 201);
    CHECK(tn_t_post_signed(&admin, v.url, "/v1/admin/models", json_pack("{s:s, s:s}", "name", "b", "path", base)) ==
          201);
    CHECK(tn_t_post_signed(&admin, v.url, "/v1/admin/datasets",
                           json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "name", "numbers", "path", ds,
                                     "dataset_type", "kind", "instruct", "field_instruction", "instruction",
                                     "field_input", "input", "field_output", "output")) == 201);
    CHECK(tn_t_post_signed(&admin, v.url, "/v1/admin/tasks",
                           json_pack("{s:s, s:s, s:f}", "model", "b", "dataset", "numbers", "minutes", 0.1)) == 201);
    double t0 = tn_now();
    while ((!g_offer || !g_start) && tn_now() - t0 < 60) usleep(50000);
    /* the offer: a range, not the count */
    CHECKF(g_offer && !strcmp(json_string_value(json_object_get(g_offer, "ds_size_bucket")), "100-200"),
           "offer: %s", g_offer ? json_dumps(g_offer, JSON_COMPACT) : "none");
    CHECK(g_offer && json_object_get(g_offer, "ds_size") == NULL);
    /* the train rows the miner downloads: the task's format, not the public rows */
    json_t *all = NULL, *train = NULL, *test = NULL, *synth = NULL;
    CHECK(tn_rows_load_all(ds, TN_ROWS_JSONL, &all) == 0);
    char *tpath = tn_sprintf("%s/train.jsonl", tmp);
    if (g_start) {
        tn_http_opts o = {0};
        json_t *d = json_object_get(g_start, "dataset");
        char got[65];
        CHECKF(tn_http_download(&o, json_string_value(json_object_get(d, "url")), tpath, 1 << 24,
                                json_string_value(json_object_get(d, "sha256")), got) == 0, "%s", tn_errmsg());
    }
    CHECK(tn_rows_load_all(tpath, TN_ROWS_JSONL, &train) == 0 && json_array_size(train) > 50);
    char pre[128] = "", post[128] = "";
    CHECK(same_secret_format(train, all, "train", pre, post) == 0);
    /* the test split and, after the deadline, the synthetic set: the same format */
    char *test_path = tn_sprintf("%s/tasks/1/test.jsonl", vdir), *synth_path = tn_sprintf("%s/tasks/1/synth.jsonl", vdir);
    while (!tn_file_exists(synth_path) && tn_now() - t0 < 120) usleep(100000);
    CHECK(tn_rows_load_all(test_path, TN_ROWS_JSONL, &test) == 0 && json_array_size(test) > 0);
    CHECK(same_secret_format(test, all, "test", pre, post) == 0);
    usleep(200000); /* written whole before it is named */
    CHECKF(tn_rows_load_all(synth_path, TN_ROWS_JSONL, &synth) == 0 && json_array_size(synth) > 0, "%s",
           tn_errmsg());
    /* synthetic prompts are reworded first (a lead-in, synonyms), then put
     * in the task's format: each starts with the wrapper's head and ends
     * with its tail */
    size_t i;
    json_t *r;
    int unmarked = 0;
    json_array_foreach(synth, i, r) {
        const char *ins = json_string_value(json_object_get(r, "instruction"));
        size_t n = ins ? strlen(ins) : 0;
        unmarked += !ins || strncmp(ins, pre, strlen(pre)) || n < strlen(post) || strcmp(ins + n - strlen(post), post);
    }
    CHECKF(unmarked == 0, "%d synthetic rows without the task's marker ('%s'/'%s')", unmarked, pre, post);
    json_decref(all);
    json_decref(train);
    json_decref(test);
    json_decref(synth);
    json_decref(g_offer);
    json_decref(g_start);
    tn_http_server_free(srv);
    tn_verifier_free(ver);
    tn_t_validator_stop(&v, SIGTERM);
    free(test_path);
    free(synth_path);
    free(tpath);
    free(vdir);
    free(log);
    free(base);
    free(ds);
}

int main(void) {
    RUN(transform_is_deterministic_per_seed);
    RUN(transform_differs_per_task);
    RUN(transform_renders_the_template_and_keeps_the_answer);
    RUN(transform_kinds_text_chat_and_system);
    RUN(transform_is_the_same_in_every_split);
    RUN(transform_bad_input_names_the_row);
    RUN(prepare_writes_train_and_test_in_the_secret_format);
    RUN(rows_bucket_labels);
    RUN(rows_bucket_parse_errors);
    RUN(policy_assumes_the_top_of_the_range);
    RUN(offer_and_splits_through_a_real_validator);
    return tn_test_summary("task_secrets");
}
