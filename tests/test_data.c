/* test_data.c - dataset readers, column mapping, hygiene (src/data).
 * Chat templates are in test_data_chat.c. */
#include "harness.h"

#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "data/format.h"
#include "data/hygiene.h"
#include "data/rows.h"

#include <stdio.h>
#include <string.h>

/* Hand-written bad inputs live in tests/data/data_*; tests run from the repo
 * root (tests/run). */
#define FIX(name) "tests/data/" name

static char *shared_path(const char *rel) {
    const char *d = tn_t_shared_data();
    return d ? tn_path_join(d, rel) : NULL;
}

static char *tmp_file(const char *name, const char *content, size_t len) {
    char *p = tn_path_join(tn_t_tmpdir(), name);
    if (tn_write_file_atomic(p, content, len) != 0) fprintf(stderr, "  cannot write %s: %s\n", p, tn_errmsg());
    return p;
}

/* Counts the rows of a file; -1 on error (message kept). */
static long count_rows(const char *path, tn_rows_fmt fmt) {
    tn_rows *r = tn_rows_open(path, fmt);
    if (!r) return -1;
    long n = 0;
    json_t *row;
    int rc;
    while ((rc = tn_rows_next(r, &row)) == 1) {
        n++;
        json_decref(row);
    }
    tn_rows_close(r);
    return rc < 0 ? -1 : n;
}

/* Opens `path` and reads rows until the first error; returns that rc. */
static int read_until_error(const char *path, tn_rows_fmt fmt) {
    tn_rows *r = tn_rows_open(path, fmt);
    if (!r) return -1;
    json_t *row;
    int rc;
    while ((rc = tn_rows_next(r, &row)) == 1) json_decref(row);
    tn_rows_close(r);
    return rc;
}

static const char *str_field(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* --- readers on the shared datasets ------------------------------------ */

/* Independent counts (python3): `wc -l gsm8k_train.jsonl` = 7473 lines,
 * none blank; len(json.load(open("alpaca_en_demo.json"))) = 999;
 * `wc -l c4_demo.jsonl` = 300. */
TEST(shared_row_counts) {
    char *g = shared_path("datasets/gsm8k_train.jsonl");
    if (!g) SKIP("../shared/data missing (set TUNA_SHARED_DATA)");
    char *a = shared_path("datasets/alpaca_en_demo.json");
    char *c = shared_path("datasets/c4_demo.jsonl");
    CHECKF(count_rows(g, TN_ROWS_AUTO) == 7473, "%s", tn_errmsg());
    CHECKF(count_rows(a, TN_ROWS_AUTO) == 999, "%s", tn_errmsg());
    CHECKF(count_rows(c, TN_ROWS_AUTO) == 300, "%s", tn_errmsg());

    json_t *all = NULL;
    CHECK(tn_rows_load_all(a, TN_ROWS_AUTO, &all) == 0);
    CHECK(json_array_size(all) == 999);
    CHECK(strcmp(str_field(json_array_get(all, 0), "instruction"), "Describe a process of making crepes.") == 0);
    json_decref(all);

    /* Physical lines: gsm8k has one row per line. */
    tn_rows *r = tn_rows_open(g, TN_ROWS_AUTO);
    CHECK(r && tn_rows_format(r) == TN_ROWS_JSONL);
    json_t *row;
    size_t last_line = 0;
    while (r && tn_rows_next(r, &row) == 1) {
        last_line = tn_rows_line(r);
        json_decref(row);
    }
    CHECK(last_line == 7473);
    tn_rows_close(r);
    free(g);
    free(a);
    free(c);
}

/* --- CSV ------------------------------------------------------------------ */

TEST(csv_edge_cases) {
    /* BOM, CRLF, a quoted newline, "" escapes, an empty field, a quoted
     * empty field, a comma inside quotes, no newline at the very end. */
    const char csv[] = "\xEF\xBB\xBFinstruction,input,output\r\n"
                       "\"two\nlines\",,\"say \"\"hi\"\"\"\r\n"
                       "plain,\"\",\"a, b\"\r\n"
                       "\r\n"
                       "last,x,y";
    char *p = tmp_file("edge.csv", csv, sizeof csv - 1);
    tn_rows *r = tn_rows_open(p, TN_ROWS_AUTO);
    CHECKF(r != NULL, "%s", tn_errmsg());
    if (!r) return;
    json_t *row;
    CHECK(tn_rows_next(r, &row) == 1);
    CHECK(tn_rows_index(r) == 1 && tn_rows_line(r) == 2);
    CHECK(strcmp(str_field(row, "instruction"), "two\nlines") == 0);
    CHECK(strcmp(str_field(row, "input"), "") == 0);
    CHECK(strcmp(str_field(row, "output"), "say \"hi\"") == 0);
    json_decref(row);
    CHECK(tn_rows_next(r, &row) == 1);
    CHECK(tn_rows_index(r) == 2 && tn_rows_line(r) == 4); /* row 1 spans lines 2-3 */
    CHECK(strcmp(str_field(row, "input"), "") == 0);
    CHECK(strcmp(str_field(row, "output"), "a, b") == 0);
    json_decref(row);
    CHECK(tn_rows_next(r, &row) == 1); /* the blank line 5 is skipped */
    CHECK(tn_rows_index(r) == 3 && tn_rows_line(r) == 6);
    CHECK(strcmp(str_field(row, "output"), "y") == 0);
    json_decref(row);
    CHECK(tn_rows_next(r, &row) == 0);
    tn_rows_close(r);
    free(p);

    /* With a trailing newline, LF only, a CRLF inside quotes kept as is. */
    const char csv2[] = "a,b\n1,\"x\r\ny\"\n2,3\n";
    p = tmp_file("edge2.csv", csv2, sizeof csv2 - 1);
    json_t *all;
    CHECK(tn_rows_load_all(p, TN_ROWS_AUTO, &all) == 0);
    CHECK(json_array_size(all) == 2);
    CHECK(strcmp(str_field(json_array_get(all, 0), "b"), "x\r\ny") == 0);
    CHECK(strcmp(str_field(json_array_get(all, 1), "a"), "2") == 0);
    json_decref(all);
    free(p);
}

TEST(csv_bad_inputs) {
    CHECK_ERR(read_until_error(FIX("data_wrong_cols.csv"), TN_ROWS_AUTO),
              "data_wrong_cols.csv: row 2 (line 3): 2 fields but the header has 3: field 'output' is missing");
    CHECK_ERR(read_until_error(FIX("data_extra_cols.csv"), TN_ROWS_AUTO),
              "data_extra_cols.csv: row 2 (line 3): 3 fields but the header has 2");
    CHECK_ERR(read_until_error(FIX("data_unterminated.csv"), TN_ROWS_AUTO),
              "data_unterminated.csv: row 2 (line 3): field 'b': unterminated quoted field (the quote opened on line 3)");
    CHECK_ERR(read_until_error(FIX("data_after_quote.csv"), TN_ROWS_AUTO),
              "data_after_quote.csv: row 1 (line 2): field 'b': unexpected text after a closing quote");
    CHECK_ERR(read_until_error(FIX("data_empty.csv"), TN_ROWS_AUTO), "data_empty.csv: empty file");
    CHECK_ERR(read_until_error(FIX("data_header_only.csv"), TN_ROWS_AUTO),
              "data_header_only.csv: no data rows after the header");
    CHECK_ERR(read_until_error(FIX("data_dup_header.csv"), TN_ROWS_AUTO),
              "data_dup_header.csv: header (line 1): column 3 repeats the name 'a' of column 1");
    /* A first field that is empty is "", not the uninitialised bytes of a
     * fresh buffer: "*," read past its buffer (ASan), and ",b" was taken as
     * a header whose first column silently vanished from every row. */
    char *p = tmp_file("empty_first.csv", "*,", 2);
    CHECK_ERR(read_until_error(p, TN_ROWS_AUTO), "header (line 1): column 2 has an empty name");
    free(p);
    p = tmp_file("empty_name.csv", ",b\n1,2\n", 8);
    CHECK_ERR(read_until_error(p, TN_ROWS_AUTO), "header (line 1): column 1 has an empty name");
    free(p);
    p = tmp_file("empty_value.csv", "a,b\n,2\n", 8);
    tn_rows *er = tn_rows_open(p, TN_ROWS_AUTO);
    json_t *erow = NULL;
    CHECK(er && tn_rows_next(er, &erow) == 1);
    CHECK(erow && json_string_value(json_object_get(erow, "a")) &&
          !strcmp(json_string_value(json_object_get(erow, "a")), ""));
    json_decref(erow);
    tn_rows_close(er);
    free(p);
    /* An error is sticky: the reader does not resynchronise mid-record. */
    tn_rows *r = tn_rows_open(FIX("data_wrong_cols.csv"), TN_ROWS_AUTO);
    json_t *row;
    CHECK(r && tn_rows_next(r, &row) == 1);
    json_decref(row);
    CHECK(tn_rows_next(r, &row) == -1 && row == NULL);
    CHECK_ERR(tn_rows_next(r, &row), "after an earlier error");
    tn_rows_close(r);
}

/* --- JSON / JSONL ---------------------------------------------------------- */

TEST(json_bad_inputs) {
    /* Row 3 is on line 4: blank line 2 is not a row. */
    CHECK_ERR(read_until_error(FIX("data_bad_line.jsonl"), TN_ROWS_AUTO),
              "data_bad_line.jsonl: row 3 (line 4): invalid JSON at column");
    CHECK_ERR(read_until_error(FIX("data_not_object.jsonl"), TN_ROWS_AUTO),
              "data_not_object.jsonl: row 2 (line 2): expected a JSON object, got an array");
    CHECK_ERR(read_until_error(FIX("data_not_object.json"), TN_ROWS_AUTO),
              "data_not_object.json: row 2: expected a JSON object, got a string");
    CHECK_ERR(read_until_error(FIX("data_empty.jsonl"), TN_ROWS_AUTO), "data_empty.jsonl: empty file");
    CHECK_ERR(read_until_error(FIX("data_blank.jsonl"), TN_ROWS_AUTO), "data_blank.jsonl: empty file");
    CHECK_ERR(read_until_error(FIX("data_empty.json"), TN_ROWS_AUTO), "data_empty.json: empty file");
    CHECK_ERR(read_until_error(FIX("data_object.json"), TN_ROWS_AUTO),
              "data_object.json: expected a JSON array of row objects, got an object");
    CHECK_ERR(read_until_error(FIX("data_dup_key.jsonl"), TN_ROWS_AUTO),
              "data_dup_key.jsonl: row 1 (line 1): invalid JSON");
    CHECK_ERR(read_until_error(FIX("no_such_file.jsonl"), TN_ROWS_AUTO), "no_such_file.jsonl: cannot open");
    char *p = tmp_file("empty_array.json", "[]", 2);
    CHECK_ERR(read_until_error(p, TN_ROWS_AUTO), "empty_array.json: empty file: no rows");
    free(p);
}

TEST(format_detection) {
    tn_rows_fmt f;
    CHECK(tn_rows_fmt_for_path("a/b.JSONL", &f) == 0 && f == TN_ROWS_JSONL);
    CHECK(tn_rows_fmt_for_path("x.json", &f) == 0 && f == TN_ROWS_JSON);
    CHECK(tn_rows_fmt_for_path("x.csv", &f) == 0 && f == TN_ROWS_CSV);
    CHECK_ERR(tn_rows_fmt_for_path("dir.v1/data", &f), "dir.v1/data: cannot tell the dataset format");
    CHECK_ERR(tn_rows_fmt_parse("parquet", &f), "unknown dataset format 'parquet'");
    /* Explicit format wins over the name. */
    const char txt[] = "{\"text\": \"a\"}\n{\"text\": \"b\"}";
    char *p = tmp_file("rows.txt", txt, sizeof txt - 1);
    CHECK(tn_rows_open(p, TN_ROWS_AUTO) == NULL);
    CHECK(count_rows(p, TN_ROWS_JSONL) == 2); /* also: no final newline */
    free(p);
}

/* --- column mapping --------------------------------------------------------- */

static int format_one(const tn_data_spec *spec, const char *json, tn_sample *s) {
    json_t *row = json_loads(json, 0, NULL);
    tn_sample_init(s);
    int rc = tn_format_row(spec, row, "t.jsonl: row 1 (line 1)", s);
    json_decref(row);
    return rc;
}

static char *render(const tn_sample *s) { return tn_sample_render(s, "<s>", "</s>", NULL); }

/* alpaca: axolotl's custom format with G.O.D's defaults. Expected strings
 * from the documented semantics: no input -> no_input_format
 * "{instruction}"; input -> "{instruction} {input}"; the response follows
 * directly, then EOS; BOS first. */
TEST(instruct_alpaca) {
    char *a = shared_path("datasets/alpaca_en_demo.json");
    if (!a) SKIP("../shared/data missing (set TUNA_SHARED_DATA)");
    tn_data_spec spec = {.kind = TN_DS_INSTRUCT,
                         .instruct = {.field_instruction = "instruction", .field_input = "input", .field_output = "output"}};
    CHECK(tn_dataset_type_check(&spec.instruct, "spec") == 0);
    tn_rows *r = tn_rows_open(a, TN_ROWS_AUTO);
    tn_sample s;
    tn_sample_init(&s);
    CHECKF(tn_data_next(r, &spec, &s) == 1, "%s", tn_errmsg()); /* row 1: empty input */
    CHECK(s.add_bos == 1 && s.n == 2);
    CHECK(strcmp(s.seg[0].text, "Describe a process of making crepes.") == 0 && !s.seg[0].trainable);
    CHECK(s.seg[1].trainable && s.seg[1].eos && !s.seg[0].eos);
    CHECK(strncmp(s.seg[1].text, "Making crepes is an easy and delicious process!", 47) == 0);
    for (int i = 0; i < 5; i++) CHECK(tn_data_next(r, &spec, &s) == 1); /* row 6 has an input */
    const char *want_prompt = "Given the parameters of a triangle, find out its perimeter. Side 1 = 4\nSide 2 = 6\nSide 3 = 8";
    CHECK(s.n == 2 && strcmp(s.seg[0].text, want_prompt) == 0);
    CHECK(strncmp(s.seg[1].text, "The perimeter of a triangle is the sum", 38) == 0);
    char *full = render(&s);
    CHECK(strncmp(full, "<s>Given the parameters", 23) == 0);
    CHECK(strcmp(full + strlen(full) - 4, "</s>") == 0);
    free(full);
    tn_sample_free(&s);
    tn_rows_close(r);
    free(a);
}

TEST(instruct_gsm8k) {
    char *g = shared_path("datasets/gsm8k_train.jsonl");
    if (!g) SKIP("../shared/data missing (set TUNA_SHARED_DATA)");
    tn_data_spec spec = {.kind = TN_DS_INSTRUCT, .instruct = {.field_instruction = "question", .field_output = "answer"}};
    tn_rows *r = tn_rows_open(g, TN_ROWS_AUTO);
    tn_sample s;
    tn_sample_init(&s);
    CHECK(tn_data_next(r, &spec, &s) == 1);
    CHECK(strcmp(s.seg[0].text, "Natalia sold clips to 48 of her friends in April, and then she sold half as many "
                                "clips in May. How many clips did Natalia sell altogether in April and May?") == 0);
    CHECK(strcmp(s.seg[1].text, "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = "
                                "<<48+24=72>>72 clips altogether in April and May.\n#### 72") == 0);
    size_t n = 1;
    int rc;
    while ((rc = tn_data_next(r, &spec, &s)) == 1) {
        n++;
        CHECK(tn_sample_has_response(&s));
    }
    CHECKF(rc == 0 && n == 7473, "rc %d n %zu %s", rc, n, tn_errmsg());
    tn_sample_free(&s);
    tn_rows_close(r);
    free(g);
}

TEST(instruct_system_and_formats) {
    tn_sample s;
    /* system_prompt applies when field_system is not set. */
    tn_data_spec spec = {.kind = TN_DS_INSTRUCT,
                         .instruct = {.field_instruction = "q", .field_input = "ctx", .field_output = "a",
                                      .format = "Q: {instruction}\nC: {input}\nA: ", .no_input_format = "Q: {instruction}\nA: ",
                                      .system_format = "[{system}]\n", .system_prompt = "Be terse."}};
    CHECK(tn_dataset_type_check(&spec.instruct, "spec") == 0);
    CHECK(format_one(&spec, "{\"q\": \"2+2?\", \"ctx\": \"math\", \"a\": \"4\"}", &s) == 0);
    char *t = render(&s);
    CHECK(strcmp(t, "<s>[Be terse.]\nQ: 2+2?\nC: math\nA: 4</s>") == 0);
    free(t);
    tn_sample_free(&s);
    /* Missing or null input column: no_input_format. */
    CHECK(format_one(&spec, "{\"q\": \"2+2?\", \"ctx\": null, \"a\": \"4\"}", &s) == 0);
    t = render(&s);
    CHECK(strcmp(t, "<s>[Be terse.]\nQ: 2+2?\nA: 4</s>") == 0);
    free(t);
    tn_sample_free(&s);
    /* field_system set: the column, and system_prompt is ignored; a row
     * without the column has no system text at all. */
    spec.instruct.field_system = "sys";
    CHECK(format_one(&spec, "{\"q\": \"x\", \"a\": \"y\", \"sys\": \"S\"}", &s) == 0);
    t = render(&s);
    CHECK(strcmp(t, "<s>[S]\nQ: x\nA: y</s>") == 0);
    free(t);
    tn_sample_free(&s);
    CHECK(format_one(&spec, "{\"q\": \"x\", \"a\": \"y\"}", &s) == 0);
    t = render(&s);
    CHECK(strcmp(t, "<s>Q: x\nA: y</s>") == 0);
    free(t);
    tn_sample_free(&s);
    /* Defaults: "{instruction} {input}" / "{instruction}" / "{system}"; braces escaped. */
    tn_data_spec d = {.kind = TN_DS_INSTRUCT,
                      .instruct = {.field_instruction = "i", .field_input = "n", .field_output = "o", .system_prompt = "SYS "}};
    CHECK(format_one(&d, "{\"i\": \"I\", \"n\": \"N\", \"o\": \"O\"}", &s) == 0);
    t = render(&s);
    CHECK(strcmp(t, "<s>SYS I NO</s>") == 0);
    free(t);
    tn_sample_free(&s);
    d.instruct.format = "{{json}} {instruction}={input}}}";
    CHECK(format_one(&d, "{\"i\": \"I\", \"n\": \"N\", \"o\": \"O\"}", &s) == 0);
    CHECK(strcmp(s.seg[0].text, "SYS {json} I=N}") == 0);
    tn_sample_free(&s);
}

TEST(instruct_errors) {
    tn_data_spec spec = {.kind = TN_DS_INSTRUCT, .instruct = {.field_instruction = "question", .field_output = "answer"}};
    tn_rows *r = tn_rows_open(FIX("data_instruct.jsonl"), TN_ROWS_AUTO);
    tn_sample s;
    tn_sample_init(&s);
    CHECK(tn_data_next(r, &spec, &s) == 1);
    CHECK_ERR(tn_data_next(r, &spec, &s), "data_instruct.jsonl: row 2 (line 2): field 'answer' (field_output): missing");
    tn_rows_close(r);
    /* Rows 3 and 4, on their own. */
    CHECK_ERR(format_one(&spec, "{\"question\": \"q3\", \"answer\": true}", &s),
              "t.jsonl: row 1 (line 1): field 'answer' (field_output): expected a string, got a boolean");
    tn_sample_free(&s);
    CHECK_ERR(format_one(&spec, "{\"question\": [1], \"answer\": \"x\"}", &s),
              "field 'question' (field_instruction): expected a string, got an array");
    tn_sample_free(&s);
    /* Numbers become text. */
    CHECK(format_one(&spec, "{\"question\": 7, \"answer\": 0.5}", &s) == 0);
    CHECK(strcmp(s.seg[0].text, "7") == 0 && strcmp(s.seg[1].text, "0.5") == 0);
    tn_sample_free(&s);
    CHECK(format_one(&spec, "{\"question\": 1e300, \"answer\": 72.0}", &s) == 0);
    CHECK(strcmp(s.seg[0].text, "1e+300") == 0 && strcmp(s.seg[1].text, "72.0") == 0);
    tn_sample_free(&s);
    CHECK(format_one(&spec, "{\"question\": -12345678901234, \"answer\": 0.1}", &s) == 0);
    CHECK(strcmp(s.seg[0].text, "-12345678901234") == 0 && strcmp(s.seg[1].text, "0.1") == 0);
    tn_sample_free(&s);
    /* Bad types. */
    tn_dataset_type t = {.field_instruction = "i", .field_output = "o", .no_input_format = "{instruction} {input}"};
    CHECK_ERR(tn_dataset_type_check(&t, "job.json"), "job.json: no_input_format \"{instruction} {input}\": unknown placeholder {input}");
    t.no_input_format = NULL;
    t.format = "{instruction";
    CHECK_ERR(tn_dataset_type_check(&t, "job.json"), "job.json: format \"{instruction\": unmatched '{'");
    t.format = "{instruction!r}";
    CHECK_ERR(tn_dataset_type_check(&t, "job.json"), "unknown placeholder {instruction!r}");
    t.format = "a } b";
    CHECK_ERR(tn_dataset_type_check(&t, "job.json"), "single '}'");
    t.format = NULL;
    t.system_format = "{sys}";
    CHECK_ERR(tn_dataset_type_check(&t, "job.json"), "system_format \"{sys}\": unknown placeholder {sys}");
    tn_dataset_type none = {0};
    CHECK_ERR(tn_dataset_type_check(&none, "job.json"), "job.json: field_instruction: missing");
}

TEST(dataset_type_json) {
    json_t *o = json_loads("{\"field_instruction\": \"q\", \"field_input\": \"\", \"field_output\": \"a\","
                           " \"format\": null, \"system_prompt\": \"hi\", \"extra\": 1}", 0, NULL);
    tn_dataset_type t;
    CHECK(tn_dataset_type_from_json(o, "task.json", &t) == 0);
    CHECK(strcmp(t.field_instruction, "q") == 0 && t.field_input == NULL && strcmp(t.field_output, "a") == 0);
    CHECK(t.format == NULL && strcmp(t.system_prompt, "hi") == 0);
    json_decref(o);
    o = json_loads("{\"field_instruction\": 3}", 0, NULL);
    CHECK_ERR(tn_dataset_type_from_json(o, "task.json", &t), "task.json");
    CHECK_ERR(tn_dataset_type_from_json(o, "task.json", &t), "field_instruction");
    json_decref(o);
}

TEST(text_and_completion) {
    tn_sample s;
    /* G.O.D completion form: no field_output, the instruction is the text. */
    tn_data_spec spec = {.kind = TN_DS_INSTRUCT, .instruct = {.field_instruction = "body"}};
    CHECK(format_one(&spec, "{\"body\": \"once upon\"}", &s) == 0);
    CHECK(s.n == 1 && s.seg[0].trainable && s.seg[0].eos && s.add_bos);
    tn_sample_free(&s);
    tn_data_spec text = {.kind = TN_DS_TEXT};
    CHECK_ERR(format_one(&text, "{\"body\": \"x\"}", &s), "t.jsonl: row 1 (line 1): field 'text' (text field): missing");
    tn_sample_free(&s);
    text.text_field = "body";
    CHECK(format_one(&text, "{\"body\": \"x\"}", &s) == 0);
    char *t = render(&s);
    CHECK(strcmp(t, "<s>x</s>") == 0);
    free(t);
    tn_sample_free(&s);

    char *c = shared_path("datasets/c4_demo.jsonl");
    if (!c) SKIP("../shared/data missing (set TUNA_SHARED_DATA)");
    tn_rows *r = tn_rows_open(c, TN_ROWS_AUTO);
    text.text_field = NULL;
    tn_sample_init(&s);
    CHECK(tn_data_next(r, &text, &s) == 1);
    CHECK(s.n == 1 && s.seg[0].trainable && s.seg[0].eos);
    CHECK(strncmp(s.seg[0].text, "Don\xE2\x80\x99t think you need all the bells and whistles?", 46) == 0);
    json_t *row = json_loads("{\"text\": \"t\"}", 0, NULL);
    CHECK(tn_data_guess_kind(row) == TN_DS_TEXT);
    json_decref(row);
    row = json_loads("{\"conversations\": []}", 0, NULL);
    CHECK(tn_data_guess_kind(row) == TN_DS_CHAT);
    json_decref(row);
    row = json_loads("{\"question\": \"q\", \"answer\": \"a\"}", 0, NULL);
    CHECK(tn_data_guess_kind(row) == TN_DS_INSTRUCT);
    json_decref(row);
    tn_sample_free(&s);
    tn_rows_close(r);
    free(c);
}

/* --- hygiene ---------------------------------------------------------------- */

TEST(empty_response) {
    tn_data_spec spec = {.kind = TN_DS_INSTRUCT, .instruct = {.field_instruction = "q", .field_output = "a"}};
    tn_sample s;
    CHECK(format_one(&spec, "{\"q\": \"x\", \"a\": \"\"}", &s) == 0);
    CHECK(!tn_sample_has_response(&s) && s.n == 2 && s.seg[1].eos); /* EOS alone is no response */
    tn_sample_free(&s);
    CHECK(format_one(&spec, "{\"q\": \"x\", \"a\": \" \\n\\t\"}", &s) == 0);
    CHECK(!tn_sample_has_response(&s));
    tn_sample_free(&s);
    CHECK(format_one(&spec, "{\"q\": \"x\", \"a\": \" y\"}", &s) == 0);
    CHECK(tn_sample_has_response(&s));
    tn_sample_free(&s);
}

/* 985 distinct (prompt, response) pairs among alpaca's 999 rows: python3,
 * set((f"{i} {n}" if n else i, o) for each row) has 985 elements. */
TEST(dedupe_alpaca) {
    char *a = shared_path("datasets/alpaca_en_demo.json");
    if (!a) SKIP("../shared/data missing (set TUNA_SHARED_DATA)");
    tn_data_spec spec = {.kind = TN_DS_INSTRUCT,
                         .instruct = {.field_instruction = "instruction", .field_input = "input", .field_output = "output"}};
    tn_rows *r = tn_rows_open(a, TN_ROWS_AUTO);
    uint64_t h[1000];
    size_t n = 0;
    tn_sample s;
    tn_sample_init(&s);
    while (n < 1000 && tn_data_next(r, &spec, &s) == 1) h[n++] = tn_sample_hash(&s);
    CHECK(n == 999);
    unsigned char keep[1000];
    CHECK(tn_data_dedupe(h, n, keep) == 985);
    CHECK(keep[0] == 1);
    tn_sample_free(&s);
    tn_rows_close(r);
    free(a);
    /* Masking is part of identity: same text, different split. */
    tn_sample x, y;
    tn_sample_init(&x);
    tn_sample_init(&y);
    tn_sample_add(&x, "ab", 2, 0);
    tn_sample_add(&x, "c", 1, 1);
    tn_sample_add(&y, "a", 1, 0);
    tn_sample_add(&y, "bc", 2, 1);
    CHECK(tn_sample_hash(&x) != tn_sample_hash(&y));
    tn_sample_add(&y, "", 0, 1); /* no-op */
    CHECK(y.n == 2);
    tn_sample_free(&x);
    tn_sample_free(&y);
}

/* Golden values from an independent Python implementation of splitmix64 /
 * xoshiro256** (64-bit masks); splitmix64 from state 0 giving
 * 0xe220a8397b1dcdaf is the published reference output. */
TEST(prng_and_split) {
    uint64_t st = 0;
    CHECK(tn_splitmix64(&st) == 0xe220a8397b1dcdafULL);
    tn_rng r;
    tn_rng_seed(&r, 42);
    CHECK(tn_rng_next(&r) == 0x15780b2e0c2ec716ULL);
    CHECK(tn_rng_next(&r) == 0x6104d9866d113a7eULL);
    CHECK(tn_rng_next(&r) == 0xae17533239e499a1ULL);
    size_t idx[10];
    for (size_t i = 0; i < 10; i++) idx[i] = i;
    tn_shuffle(idx, 10, 1234);
    const size_t want[10] = {5, 0, 9, 3, 4, 2, 6, 8, 1, 7};
    CHECK(memcmp(idx, want, sizeof want) == 0);

    size_t *tr, *te, ntr, nte;
    CHECK(tn_data_split(100, 0.1, 5, 7, &tr, &ntr, &te, &nte) == 0);
    CHECK(nte == 5 && ntr == 95);
    const size_t want_te[5] = {2, 66, 3, 64, 84}, want_tr[5] = {1, 23, 48, 35, 81};
    CHECK(memcmp(te, want_te, sizeof want_te) == 0 && memcmp(tr, want_tr, sizeof want_tr) == 0);
    unsigned char seen[100] = {0};
    for (size_t i = 0; i < ntr; i++) seen[tr[i]]++;
    for (size_t i = 0; i < nte; i++) seen[te[i]]++;
    int all_once = 1;
    for (int i = 0; i < 100; i++) all_once &= seen[i] == 1;
    CHECK(all_once);
    free(tr);
    free(te);
    /* ceil: 0.01 of 999 rows is 10 test rows. */
    CHECK(tn_data_split(999, 0.01, 0, 1, &tr, &ntr, &te, &nte) == 0 && nte == 10 && ntr == 989);
    free(tr);
    free(te);
    CHECK(tn_data_split(10, 0.0, 0, 1, &tr, &ntr, &te, &nte) == 0 && nte == 0 && te == NULL && ntr == 10);
    free(tr);
    CHECK_ERR(tn_data_split(1, 0.5, 0, 1, &tr, &ntr, &te, &nte), "no training rows would be left");
    CHECK_ERR(tn_data_split(10, 1.0, 0, 1, &tr, &ntr, &te, &nte), "expected a number in [0, 1)");
}

int main(void) {
    RUN(shared_row_counts);
    RUN(csv_edge_cases);
    RUN(csv_bad_inputs);
    RUN(json_bad_inputs);
    RUN(format_detection);
    RUN(instruct_alpaca);
    RUN(instruct_gsm8k);
    RUN(instruct_system_and_formats);
    RUN(instruct_errors);
    RUN(dataset_type_json);
    RUN(text_and_completion);
    RUN(empty_response);
    RUN(dedupe_alpaca);
    RUN(prng_and_split);
    return tn_test_summary("data");
}
