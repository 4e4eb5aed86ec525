/* test_yaml_keys.c - base/yaml_keys: the key-table reader behind miner.yml
 * and the axolotl configs (types, ranges, unknown and duplicate keys, empty
 * values, and file:line: key in every message). */
#include "harness.h"

#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "base/yaml_keys.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double rate;
    int count;
    int whole;
    int64_t big;
    uint64_t seed;
    int flag;
    char *name;
    double bytes;
    int fn_calls;
    unsigned fn_line;
} target;

static int key_fn(tn_yaml_file *f, const tn_yaml_key *k, const yaml_node_t *v, unsigned line, void *ctx) {
    target *t = ctx;
    t->fn_calls++;
    t->fn_line = line;
    if (v->type != YAML_SEQUENCE_NODE) return tn_yaml_type_err(f, line, k->name, "a list", v);
    return 0;
}

#define F(field) offsetof(target, field)
static const tn_yaml_key KEYS[] = {
    {"rate", TN_YK_NUM, F(rate), 0, 1, 1, 0, 0, NULL},
    {"count", TN_YK_INT, F(count), 1, 100, 0, 0, 0, NULL},
    {"whole", TN_YK_NUM, F(whole), 0, 10, 0, TN_YK_AS_INT, 0, NULL},
    {"big", TN_YK_INT, F(big), -1, 1e15, 0, TN_YK_AS_I64, 0, NULL},
    {"seed", TN_YK_INT, F(seed), 0, 9e15, 0, TN_YK_AS_U64, 0, NULL},
    {"flag", TN_YK_BOOL, F(flag), 0, 0, 0, 0, 0, NULL},
    {"name", TN_YK_STR, F(name), 0, 0, 0, 0, 0, NULL},
    {"gb", TN_YK_NUM, F(bytes), 0, 4, 0, 0, 1024.0 * 1024 * 1024, NULL},
    {"list", TN_YK_FN, 0, 0, 0, 0, 0, 0, key_fn},
};
#undef F

static target g_t;
static int g_warns;

/* Writes text to t.yml and applies it (strict: unknown keys are errors,
 * empty values are values; else lenient). */
static int apply(const char *text, int lenient) {
    char *p = tn_sprintf("%s/t.yml", tn_t_tmpdir());
    int rc = tn_write_file_atomic(p, text, strlen(text));
    tn_yaml_file f;
    tn_yaml_table t = {.keys = KEYS,
                       .n_keys = sizeof KEYS / sizeof KEYS[0],
                       .target = &g_t,
                       .ctx = &g_t,
                       .what = "t.yml",
                       .expected = "a mapping of settings",
                       .unknown_warns = lenient,
                       .unknown_hint = lenient ? NULL : " (see the docs)",
                       .empty_is_value = !lenient};
    if (rc == 0) rc = tn_yaml_load(&f, p) ? -1 : tn_yaml_apply(&f, tn_yaml_root(&f), &t);
    else memset(&f, 0, sizeof f);
    g_warns = f.n_warn;
    tn_yaml_free(&f);
    free(p);
    return rc;
}

static void reset(void) {
    free(g_t.name);
    memset(&g_t, 0, sizeof g_t);
    g_t.count = 7;
    g_t.name = tn_strdup("default");
}

TEST(values) {
    reset();
    CHECKF(apply("rate: 2e-1\ncount: \"12\"\nwhole: 3.0\nbig: 1_000_000\nseed: 42\nflag: Yes\nname: x y\ngb: 0.5\n"
                 "list: [a]\n",
                 0) == 0,
           "%s", tn_errmsg());
    CHECK_NEAR(g_t.rate, 0.2, 1e-12, 0);
    CHECK(g_t.count == 12 && g_t.whole == 3 && g_t.big == 1000000 && g_t.seed == 42 && g_t.flag == 1);
    CHECK(!strcmp(g_t.name, "x y")); /* the old heap string was freed (ASan) */
    CHECK_NEAR(g_t.bytes, 0.5 * 1024 * 1024 * 1024, 0, 0); /* scaled after the range check */
    CHECK(g_t.fn_calls == 1 && g_t.fn_line == 9 && g_warns == 0);
    CHECK(apply("count: 4.0\n", 0) == 0 && g_t.count == 4); /* pydantic's 4.0 */
    /* an empty file, a null document: nothing changes */
    reset();
    CHECK(apply("", 0) == 0 && g_t.count == 7);
    CHECK(apply("# nothing\n", 1) == 0 && g_t.count == 7);
}

TEST(bad_types) {
    reset();
    CHECK_ERR(apply("count: 1\n\nrate: abc\n", 0), "t.yml:3: rate: expected a number, got \"abc\"");
    CHECK_ERR(apply("count: [1]\n", 0), "t.yml:1: count: expected an integer, got a list");
    CHECK_ERR(apply("count: 4.5\n", 0), "t.yml:1: count: expected an integer, got \"4.5\"");
    CHECK_ERR(apply("whole: 2.5\n", 0), "t.yml:1: whole: expected an integer, got \"2.5\"");
    CHECK_ERR(apply("whole: many\n", 0), "t.yml:1: whole: expected a number, got \"many\"");
    CHECK_ERR(apply("rate: .nan\n", 0), "rate: expected a number");
    CHECK_ERR(apply("rate: 1e999\n", 0), "rate: expected a number");
    CHECK_ERR(apply("flag: maybe\n", 0), "t.yml:1: flag: expected a boolean (true or false), got \"maybe\"");
    CHECK_ERR(apply("name: {a: 1}\n", 0), "t.yml:1: name: expected a string, got a mapping");
    CHECK_ERR(apply("list: 3\n", 0), "t.yml:1: list: expected a list, got \"3\"");
    CHECK_ERR(apply("- a\n- b\n", 0), "t.yml:1: t.yml: expected a mapping of settings, got a list");
    CHECK_ERR(apply("[a]: 1\n", 0), "t.yml:1: keys must be strings");
    CHECK(g_t.count == 1); /* keys above an error are applied: the caller discards the target */
}

TEST(ranges) {
    reset();
    CHECK_ERR(apply("count: 0\n", 0), "t.yml:1: count: expected an integer in [1, 100], got 0");
    CHECK_ERR(apply("count: 101\n", 0), "count: expected an integer in [1, 100], got 101");
    CHECK_ERR(apply("rate: 1\n", 0), "t.yml:1: rate: expected a number in [0, 1), got 1"); /* open */
    CHECK_ERR(apply("rate: -0.5\n", 0), "rate: expected a number in [0, 1)");
    CHECK_ERR(apply("whole: 11\n", 0), "whole: expected a number in [0, 10], got 11");
    CHECK_ERR(apply("gb: 5\n", 0), "gb: expected a number in [0, 4], got 5"); /* checked before scaling */
    CHECK_ERR(apply("seed: -1\n", 0), "seed: expected an integer in [0,");
    CHECK(apply("big: -1\ncount: 100\nrate: 0\n", 0) == 0 && g_t.big == -1 && g_t.count == 100);
}

TEST(unknown_keys) {
    reset();
    /* strict: an error naming the line, with the table's hint */
    CHECK_ERR(apply("count: 2\ncuont: 3\n", 0), "t.yml:2: unknown key 'cuont' (see the docs)");
    /* lenient: one warning per key name, none for an empty value */
    reset();
    CHECKF(apply("wandb: x\ncount: 3\nwandb_: y\nfp16:\n", 1) == 0, "%s", tn_errmsg());
    CHECK(g_t.count == 3 && g_warns == 2);
}

TEST(duplicate_keys) {
    /* the last one wins, with a warning; the ignored one is not checked */
    reset();
    CHECKF(apply("count: abc\ncount: 5\nname: a\nname: b\n", 0) == 0, "%s", tn_errmsg());
    CHECK(g_t.count == 5 && !strcmp(g_t.name, "b") && g_warns == 2);
    CHECK_ERR(apply("count: 5\ncount: abc\n", 0), "t.yml:2: count: expected an integer");
}

TEST(empty_values) {
    /* lenient: empty and null leave the default */
    reset();
    CHECKF(apply("count:\nname: ~\nrate: null\nflag: \"\"\n", 1) == 0, "%s", tn_errmsg());
    CHECK(g_t.count == 7 && !strcmp(g_t.name, "default") && g_warns == 0);
    /* strict: they are values: "" and "~" are strings, not numbers */
    CHECK(apply("name: \"\"\n", 0) == 0 && !strcmp(g_t.name, ""));
    CHECK(apply("name: ~\n", 0) == 0 && !strcmp(g_t.name, "~"));
    CHECK_ERR(apply("count:\n", 0), "t.yml:1: count: expected an integer, got \"\"");
}

TEST(files) {
    tn_yaml_file f;
    CHECK_ERR(tn_yaml_load(&f, "/no/such/file.yml"), "/no/such/file.yml");
    tn_yaml_free(&f);
    CHECK_ERR(apply("a: 1\n\tb: 2\n", 0), "t.yml:2:");
    CHECK(strstr(tn_errmsg(), "invalid YAML") != NULL);
    CHECK_ERR(apply("x: [1, 2\ny: 3\n", 0), "invalid YAML");
}

int main(void) {
    RUN(values);
    RUN(bad_types);
    RUN(ranges);
    RUN(unknown_keys);
    RUN(duplicate_keys);
    RUN(empty_values);
    RUN(files);
    free(g_t.name);
    return tn_test_summary("yaml_keys");
}
