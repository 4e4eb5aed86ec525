/* test_miner_peek.c - the public-peek red-team strategy of tuna miner
 * (miner/peek.h): recognising a task's public source among a library of
 * datasets from its transformed training rows, taking the rows the split
 * left out, and its settings. (The strategy end to end, caught by the leak
 * rule, is test_arena's.) */
#include "harness.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "judge/transform.h"
#include "miner/config.h"
#include "miner/peek.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* n rows "word i" -> "gloss i", each with the same system prompt (a common
 * value that must not count as a match) */
static json_t *rows_of(const char *word, int n, int offset) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        char ins[64], out[64];
        snprintf(ins, sizeof ins, "Define %s %d.", word, i + offset);
        snprintf(out, sizeof out, "The %s numbered %d.", word, i + offset);
        json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "system", "You are a dictionary.", "instruction", ins,
                                           "output", out));
    }
    return a;
}

static void save(const char *path, const json_t *rows) {
    FILE *f = fopen(path, "w");
    size_t i;
    const json_t *r;
    json_array_foreach(rows, i, r) {
        char *s = json_dumps(r, JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
    }
    fclose(f);
}

static const char *g_lib;

static void make_library(void) {
    static char lib[512];
    snprintf(lib, sizeof lib, "%s/library", tn_t_tmpdir());
    g_lib = lib;
    if (tn_dir_exists(lib)) return;
    tn_mkdir_p(lib);
    char *p;
    json_t *r = rows_of("cat", 50, 0);
    save(p = tn_path_join(lib, "cats.jsonl"), r);
    free(p);
    json_decref(r);
    r = rows_of("dog", 40, 0);
    save(p = tn_path_join(lib, "dogs.jsonl"), r);
    free(p);
    json_decref(r);
    /* not a dataset: ignored */
    tn_write_file_atomic(p = tn_path_join(lib, "LICENSE.txt"), "free\n", 5);
    free(p);
}

/* The task's training split: cats 0..39 in a secret format (the 10 others
 * are the held-out rows) */
static json_t *task_train(void) {
    json_t *src = rows_of("cat", 40, 0);
    tn_transform t;
    tn_transform_draw(2024, &t);
    tn_data_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.kind = TN_DS_INSTRUCT;
    sp.instruct.field_instruction = "instruction";
    sp.instruct.field_output = "output";
    sp.instruct.field_system = "system";
    json_t *tr = tn_transform_rows(&t, &sp, src, "train");
    json_decref(src);
    return tr;
}

TEST(recognises_the_source_and_takes_the_held_out_rows) {
    make_library();
    json_t *train = task_train();
    CHECK(train && json_array_size(train) == 40);
    tn_peek_found f;
    json_t *held = tn_public_peek_rows(train, g_lib, &f);
    CHECKF(held != NULL, "%s", tn_errmsg());
    if (!held) return;
    CHECK(strstr(f.source, "cats.jsonl") != NULL && f.rows == 50 && f.seen == 40 && f.candidates == 2);
    /* exactly cats 40..49, as in the public file */
    CHECK(json_array_size(held) == 10);
    json_t *want = rows_of("cat", 10, 40);
    CHECK(json_equal(held, want));
    json_decref(want);
    json_decref(held);
    /* the library as one file */
    char *one = tn_path_join(g_lib, "cats.jsonl");
    held = tn_public_peek_rows(train, one, &f);
    CHECK(held && json_array_size(held) == 10 && f.candidates == 1);
    json_decref(held);
    free(one);
    json_decref(train);
}

TEST(a_common_value_is_not_a_match) {
    /* every dog row shares the system prompt with every training row: that
     * says nothing about which rows the split took */
    make_library();
    json_t *train = task_train();
    char *dogs = tn_path_join(g_lib, "dogs.jsonl");
    tn_peek_found f;
    json_t *held = tn_public_peek_rows(train, dogs, &f);
    CHECK(held == NULL && strstr(tn_errmsg(), "none of the 1 dataset(s)") && strstr(tn_errmsg(), "shares a row"));
    json_decref(held);
    free(dogs);
    json_decref(train);
}

TEST(library_errors_name_the_file) {
    make_library();
    json_t *train = task_train();
    tn_peek_found f;
    char *missing = tn_sprintf("%s/nope.jsonl", g_lib);
    CHECK(tn_public_peek_rows(train, missing, &f) == NULL && strstr(tn_errmsg(), "nope.jsonl"));
    free(missing);
    char *badlib = tn_sprintf("%s/badlib", tn_t_tmpdir());
    tn_mkdir_p(badlib);
    char *bad = tn_path_join(badlib, "broken.jsonl");
    tn_write_file_atomic(bad, "{\"a\": 1}\n{oops\n", 15);
    CHECKF(tn_public_peek_rows(train, badlib, &f) == NULL && strstr(tn_errmsg(), "broken.jsonl") &&
               strstr(tn_errmsg(), "public-peek"),
           "%s", tn_errmsg());
    char *empty = tn_sprintf("%s/emptylib", tn_t_tmpdir());
    tn_mkdir_p(empty);
    CHECK(tn_public_peek_rows(train, empty, &f) == NULL && strstr(tn_errmsg(), "none of the 0 dataset(s)"));
    free(empty);
    free(bad);
    free(badlib);
    json_decref(train);
}

TEST(write_rows_round_trip) {
    json_t *rows = rows_of("owl", 3, 0);
    char *p = tn_sprintf("%s/peek_out.jsonl", tn_t_tmpdir());
    CHECK(tn_peek_write_rows(p, rows) == 0);
    size_t n;
    char *text = tn_read_file(p, &n);
    CHECK(text && n > 0 && text[n - 1] == '\n');
    int lines = 0;
    for (size_t i = 0; text && i < n; i++) lines += text[i] == '\n';
    CHECK(lines == 3);
    free(text);
    free(p);
    json_decref(rows);
}

TEST(settings_and_flags) {
    make_library();
    tn_strategy s;
    CHECK(tn_strategy_parse("public-peek", &s) == 0 && s == TN_STRAT_PUBLIC_PEEK);
    CHECK(!strcmp(tn_strategy_name(TN_STRAT_PUBLIC_PEEK), "public-peek"));
    CHECK(tn_strategy_parse("public_peek", &s) == -1 && strstr(tn_errmsg(), "public-peek"));
    /* miner.yml: the key, and the check that it names something */
    char *yml = tn_sprintf("%s/peek_miner.yml", tn_t_tmpdir());
    tn_keypair k;
    tn_crypto_init();
    tn_keypair_generate(&k);
    char *text = tn_sprintf("strategy: public-peek\nlisten: 127.0.0.1:1\nkey: k\nvalidator_key: %s\n", k.id);
    tn_write_file_atomic(yml, text, strlen(text));
    tn_miner_config c;
    tn_miner_config_defaults(&c);
    CHECK(tn_miner_config_load_yaml(&c, yml) == 0 && c.strategy == TN_STRAT_PUBLIC_PEEK);
    CHECK(tn_miner_config_check(&c) == -1 && strstr(tn_errmsg(), "public-peek needs --public-data"));
    tn_miner_config_set(&c.public_data, "/nonexistent/lib");
    CHECK(tn_miner_config_check(&c) == -1);
    tn_miner_config_set(&c.public_data, g_lib);
    CHECKF(tn_miner_config_check(&c) == 0, "%s", tn_errmsg());
    tn_miner_config_free(&c);
    free(text);
    text = tn_sprintf("strategy: public-peek\npublic_data: %s\n", g_lib);
    tn_write_file_atomic(yml, text, strlen(text));
    tn_miner_config_defaults(&c);
    CHECK(tn_miner_config_load_yaml(&c, yml) == 0 && c.public_data && !strcmp(c.public_data, g_lib));
    tn_miner_config_free(&c);
    /* the command line: a clear refusal before anything starts */
    char *out = tn_sprintf("%s/peek_cli.txt", tn_t_tmpdir());
    char *cmd = tn_sprintf("%s miner --listen 127.0.0.1:1 --key x --validator-key %s --strategy public-peek "
                           "--public-data /nonexistent/lib > %s 2>&1",
                           tn_t_tuna(), k.id, out);
    int rc = system(cmd);
    size_t n;
    char *msg = tn_read_file(out, &n);
    CHECKF(rc != 0 && msg && strstr(msg, "public-peek needs --public-data"), "rc %d: %s", rc, msg);
    free(msg);
    free(cmd);
    free(out);
    free(text);
    free(yml);
}

int main(void) {
    RUN(recognises_the_source_and_takes_the_held_out_rows);
    RUN(a_common_value_is_not_a_match);
    RUN(library_errors_name_the_file);
    RUN(write_rows_round_trip);
    RUN(settings_and_flags);
    return tn_test_summary("miner_peek");
}
