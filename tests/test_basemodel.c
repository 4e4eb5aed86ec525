/* test_basemodel.c - the built-in base model and its WordNet data
 * (src/data/wordnet.c, src/train/pretrain.c). Checks:
 *   - WordNet parsing on small data files written here (so it runs without
 *     the Debian package): words cleaned, glosses split into definition and
 *     examples, satellites folded into adjectives, errors naming file:line;
 *   - task datasets: sized, no empty outputs, disjoint synsets, deterministic
 *     for a seed - on the written files and, when /usr/share/wordnet exists,
 *     on the real data (SKIP otherwise);
 *   - a 30-step pretraining of a tiny model whose loss falls, whose directory
 *     loads with tn_model_load and tn_tok_load (BOS added, text round-trips),
 *     evaluates, is the same for the same seed, and is read by `tuna eval`. */
#include "harness.h"
#include "train/pretrain.h"
#include "data/wordnet.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"
#include "model/model.h"
#include "tok/tokenizer.h"
#include "train/examples.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *LICENSE = "  1 This software and database is being provided to you, the LICENSEE, by  \n"
                             "  2 Princeton University under the following license.  \n";

static void write_text(const char *path, const char *text) {
    if (tn_write_file_atomic(path, text, strlen(text))) {
        fprintf(stderr, "  %s\n", tn_errmsg());
        exit(2);
    }
}

/* Writes dir/name as the license header followed by body. */
static void write_data(const char *dir, const char *name, const char *body) {
    char *p = tn_sprintf("%s/%s", dir, name), *t = tn_sprintf("%s%s", LICENSE, body);
    write_text(p, t);
    free(p);
    free(t);
}

/* A small WordNet in the database format: a few hand-written synsets, then
 * `extra` generated noun synsets so that pretraining has text to learn. */
static char *make_wordnet(const char *name, int extra) {
    char *dir = tn_sprintf("%s/%s", tn_t_tmpdir(), name);
    tn_mkdir_p(dir);
    static const char *things[] = {"dog", "cat", "bird", "tree", "river", "stone", "house", "boat"};
    static const char *acts[] = {"runs fast", "sleeps all day", "sings at dawn", "grows near water",
                                 "is found in the hills", "floats on the lake"};
    size_t cap = 4096 + (size_t)extra * 200, n = 0;
    char *noun = malloc(cap);
    n += (size_t)snprintf(noun + n, cap - n,
                          "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 ~ 00002137 n 0000 ~ 04424418 n 0000 | "
                          "that which is perceived or known or inferred to have its own distinct existence  \n"
                          "00003993 03 n 02 congener 0 Congener 0 001 @ 00003553 n 0000 | a whole of the same kind "
                          "as another; \"lard was used, though its congener, butter, was preferred\"  \n"
                          "00005930 03 n 03 dwarf 0 midget 0 small_person 1 001 @ 00004475 n 0000 | a plant or "
                          "animal that is atypically small  \n");
    for (int i = 0; i < extra; i++)
        n += (size_t)snprintf(noun + n, cap - n,
                              "%08d 05 n 02 %s_%d 0 %s%d 0 001 @ 00001740 n 0000 | a %s that %s; \"the %s %s\"  \n",
                              10000 + i, things[i % 8], i, things[(i + 3) % 8], i, things[i % 8], acts[i % 6],
                              things[(i + 1) % 8], acts[(i + 2) % 6]);
    write_data(dir, "data.noun", noun);
    free(noun);
    write_data(dir, "data.verb",
               "00001740 29 v 04 breathe 0 take_a_breath 0 respire 0 suspire 3 021 * 00005041 v 0000 02 + 08 00 + "
               "02 00 | draw air into, and expel out of, the lungs; \"I can breathe better\"; \"The patient is "
               "respiring\"  \n");
    write_data(dir, "data.adj",
               "00001740 00 a 01 able(a) 0 005 = 05207437 n 0000 | (usually followed by `to') having the necessary "
               "means or skill to do something; \"able to swim\"  \n"
               "00002098 00 s 02 unable(p) 0 incapable(ip) 0 000 | not able  \n");
    write_data(dir, "data.adv",
               "00001740 02 r 02 a_cappella 0 A_cappella 0 001 \\ 02634041 a 0101 | without musical "
               "accompaniment; \"they performed a cappella\"  \n");
    return dir;
}

static const tn_synset *find_word(const tn_wordnet *wn, const char *w) {
    for (size_t i = 0; i < wn->n; i++)
        if (!strcmp(wn->s[i].words[0], w)) return &wn->s[i];
    return NULL;
}

TEST(parse_small_wordnet) {
    char *dir = make_wordnet("wn_small", 0);
    tn_wordnet wn;
    CHECKF(tn_wordnet_load(&wn, dir) == 0, "%s", tn_errmsg());
    CHECK(wn.n == 7);
    const tn_synset *s = find_word(&wn, "congener");
    CHECK(s && s->pos == 'n' && s->nwords == 2 && !strcmp(s->definition, "a whole of the same kind as another"));
    CHECK(s && s->nexamples == 1 && !strcmp(s->examples[0], "lard was used, though its congener, butter, was preferred"));
    s = find_word(&wn, "dwarf");
    CHECK(s && s->nwords == 3 && !strcmp(s->words[2], "small person") && s->nexamples == 0);
    s = find_word(&wn, "breathe");
    CHECK(s && s->pos == 'v' && s->nwords == 4 && s->nexamples == 2 &&
          !strcmp(s->definition, "draw air into, and expel out of, the lungs") &&
          !strcmp(s->examples[1], "The patient is respiring"));
    s = find_word(&wn, "able");
    CHECK(s && s->pos == 'a');
    s = find_word(&wn, "unable"); /* satellite 's' folds into 'a'; (p) and (ip) markers go */
    CHECK(s && s->pos == 'a' && !strcmp(s->words[1], "incapable") && !strcmp(s->definition, "not able"));
    s = find_word(&wn, "a cappella");
    CHECK(s && s->pos == 'r' && !strcmp(s->definition, "without musical accompaniment"));

    size_t len;
    char *c1 = tn_wordnet_corpus(&wn, 7, 0, &len), *c2 = tn_wordnet_corpus(&wn, 7, 0, NULL);
    CHECK(c1 && c2 && !strcmp(c1, c2) && len == strlen(c1));
    CHECK(c1 && strstr(c1, "Not able.\n") && strstr(c1, "they performed a cappella\n"));
    free(c1);
    free(c2);

    json_t *t[TN_TASK_COUNT];
    CHECKF(tn_wordnet_tasks(&wn, 1, 100, t) == 0, "%s", tn_errmsg());
    size_t total = 0;
    for (int k = 0; k < TN_TASK_COUNT; k++) {
        total += json_array_size(t[k]);
        CHECK(json_array_size(t[k]) >= 1);
        json_decref(t[k]);
    }
    CHECK(total <= wn.n); /* disjoint: one synset, at most one row */
    tn_wordnet_free(&wn);
    free(dir);
}

TEST(wordnet_errors) {
    tn_wordnet wn;
    CHECK_ERR(tn_wordnet_load(&wn, "/nonexistent/wordnet"), "WordNet not found at /nonexistent/wordnet: run scripts/setup");
    char *dir = make_wordnet("wn_bad", 0);
    char *p = tn_sprintf("%s/data.adv", dir);
    write_data(dir, "data.adv", "00001740 02 r 02 a_cappella 0 001 | x\n");
    CHECK_ERR(tn_wordnet_load(&wn, dir), "data.adv:3: word 2 of 2");
    write_data(dir, "data.adv", "0000174 02 r 01 fast 0 000 | quickly\n");
    CHECK_ERR(tn_wordnet_load(&wn, dir), "data.adv:3: expected an 8-digit synset offset");
    write_data(dir, "data.adv", "00001740 02 r 01 fast 0 000 quickly\n");
    CHECK_ERR(tn_wordnet_load(&wn, dir), "data.adv:3: no \" | \" before the gloss");
    write_data(dir, "data.adv", "");
    CHECK_ERR(tn_wordnet_load(&wn, dir), "data.adv: no synsets");
    unlink(p);
    CHECK_ERR(tn_wordnet_load(&wn, dir), "data.adv is missing");
    free(p);
    free(dir);
}

/* Serialises a task's rows (for determinism comparisons). */
static char *dump(json_t *rows) { return json_dumps(rows, JSON_COMPACT); }

TEST(real_wordnet_tasks) {
    if (!tn_dir_exists(tn_wordnet_dir())) SKIP("WordNet not installed at %s (scripts/setup installs wordnet-base)", tn_wordnet_dir());
    tn_wordnet wn;
    if (tn_wordnet_load(&wn, NULL)) {
        CHECKF(0, "%s", tn_errmsg());
        return;
    }
    CHECKF(wn.n > 100000, "%zu synsets", wn.n);
    json_t *a[TN_TASK_COUNT], *b[TN_TASK_COUNT], *c[TN_TASK_COUNT];
    CHECK(tn_wordnet_tasks(&wn, 42, 2000, a) == 0);
    CHECK(tn_wordnet_tasks(&wn, 42, 2000, b) == 0);
    CHECK(tn_wordnet_tasks(&wn, 43, 2000, c) == 0);
    for (int k = 0; k < TN_TASK_COUNT; k++) {
        CHECKF(json_array_size(a[k]) == 2000, "%s: %zu rows", tn_task_name(k), json_array_size(a[k]));
        size_t empty = 0, i;
        json_t *row;
        json_array_foreach(a[k], i, row) {
            const char *in = json_string_value(json_object_get(row, "instruction"));
            const char *out = json_string_value(json_object_get(row, "output"));
            empty += !in || !out || !*in || !*out;
        }
        CHECKF(empty == 0, "%s: %zu empty fields", tn_task_name(k), empty);
        char *da = dump(a[k]), *db = dump(b[k]), *dc = dump(c[k]);
        CHECKF(!strcmp(da, db), "%s: not deterministic for a seed", tn_task_name(k));
        CHECKF(strcmp(da, dc) != 0, "%s: seed does not change the rows", tn_task_name(k));
        free(da);
        free(db);
        free(dc);
    }
    /* define and word use disjoint synsets: no (word, definition) pair in both */
    size_t shared = 0, i, j;
    json_t *r, *q;
    json_array_foreach(a[TN_TASK_DEFINE], i, r) json_array_foreach(a[TN_TASK_WORD], j, q) {
        shared += !strcmp(json_string_value(json_object_get(r, "output")),
                          json_string_value(json_object_get(q, "instruction"))) &&
                  !strcmp(json_string_value(json_object_get(r, "instruction")),
                          json_string_value(json_object_get(q, "output")));
    }
    CHECKF(shared == 0, "%zu define rows reappear in the word task", shared);
    for (int k = 0; k < TN_TASK_COUNT; k++) {
        json_decref(a[k]);
        json_decref(b[k]);
        json_decref(c[k]);
    }
    size_t len;
    char *text = tn_wordnet_corpus(&wn, 1, 1 << 20, &len);
    CHECK(text && len > (1 << 20) - 1000 && len <= (1 << 20));
    free(text);
    char *out = tn_sprintf("%s/tasks", tn_t_tmpdir());
    size_t n[TN_TASK_COUNT];
    CHECK(tn_wordnet_write_tasks(&wn, out, 5, 300, n) == 0 && n[0] == 300 && n[1] == 300 && n[2] == 300);
    char *p = tn_sprintf("%s/synonyms.jsonl", out);
    size_t flen;
    char *f = tn_read_file(p, &flen);
    size_t lines = 0;
    for (size_t k = 0; f && k < flen; k++) lines += f[k] == '\n';
    CHECK(lines == 300);
    free(f);
    free(p);
    free(out);
    tn_wordnet_free(&wn);
}

static void tiny_opts(tn_base_opts *o, const char *wn_dir) {
    tn_base_opts_init(o);
    o->steps = 30;
    o->seed = 3;
    o->wordnet_dir = wn_dir;
    o->vocab_size = 320;
    o->dim = 32;
    o->layers = 2;
    o->heads = 2;
    o->hidden = 64;
    o->seq_len = 32;
    o->batch = 4;
    o->lr = 3e-3f;
    o->quiet = 1;
}

static int run_cmd(const char *cmd) {
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(pretrain_tiny) {
    char *wn_dir = make_wordnet("wn_pretrain", 120);
    char *out = tn_sprintf("%s/base", tn_t_tmpdir()), *out2 = tn_sprintf("%s/base2", tn_t_tmpdir());
    tn_base_opts o;
    tiny_opts(&o, wn_dir);
    tn_base_result r;
    CHECKF(tn_make_base_model_r(out, &o, &r) == 0, "%s", tn_errmsg());
    CHECK(r.steps == 30);
    CHECKF(r.last_loss < r.first_loss - 1.0f, "loss %.3f -> %.3f", r.first_loss, r.last_loss);
    CHECKF(r.val_after < r.val_before - 1.0f, "held-out loss %.3f -> %.3f", r.val_before, r.val_after);
    CHECK(r.vocab_size > 259 && r.vocab_size <= 320);

    tn_tokenizer *tok = tn_tok_load(out);
    CHECKF(tok != NULL, "%s", tn_errmsg());
    tn_model m;
    int loaded = tn_model_load(&m, out, 1) == 0;
    CHECKF(loaded, "%s", tn_errmsg());
    if (tok && loaded) {
        CHECK(tn_tok_bos_id(tok) == 0 && tn_tok_eos_id(tok) == 1 && tn_tok_pad_id(tok) == 2 && tn_tok_add_bos(tok));
        CHECK(tn_batch_pad_id(tok) == 2); /* its own pad token */
        CHECK(m.cfg.vocab_size == tn_tok_vocab_size(tok));
        const char *text = "the dog sleeps all day; caf\xc3\xa9 \"42\"\n";
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(tn_tok_encode(tok, text, strlen(text), 1, &ids, &n) == 0 && n > 2 && ids[0] == 0);
        char *back = ids ? tn_tok_decode(tok, ids, n, 1, NULL) : NULL;
        CHECKF(back && !strcmp(back, text), "round trip gave \"%s\"", back ? back : "(null)");
        CHECK(n < strlen(text)); /* merges make it shorter than bytes */
        float loss = 0;
        int nn = (int)(n < 32 ? n : 32);
        CHECK(tn_model_forward(&m, ids, ids, 1, nn, &loss) == 0 && loss > 0 && loss < 10);
        free(back);
        free(ids);
    }
    if (loaded) tn_model_free(&m);
    tn_tok_free(tok);

    char *sp = tn_sprintf("%s/pretrain_summary.json", out);
    json_t *sum = tn_json_load_file(sp);
    CHECK(sum && json_integer_value(json_object_get(sum, "steps")) == 30 &&
          json_array_size(json_object_get(sum, "curve")) == 30);
    json_decref(sum);
    free(sp);

    /* Same seed and steps: the same weights, byte for byte. */
    CHECKF(tn_make_base_model_r(out2, &o, NULL) == 0, "%s", tn_errmsg());
    char *w1 = tn_sprintf("%s/model.safetensors", out), *w2 = tn_sprintf("%s/model.safetensors", out2);
    size_t l1, l2;
    char *b1 = tn_read_file(w1, &l1), *b2 = tn_read_file(w2, &l2);
    CHECK(b1 && b2 && l1 == l2 && !memcmp(b1, b2, l1));
    free(b1);
    free(b2);
    free(w1);
    free(w2);

    /* `tuna eval` reads the directory with a task dataset. */
    const char *bin = getenv("TUNA_BIN");
    if (bin && access(bin, X_OK) == 0) {
        tn_wordnet wn;
        char *data = tn_sprintf("%s/tasks_small", tn_t_tmpdir());
        CHECK(tn_wordnet_load(&wn, wn_dir) == 0 && tn_wordnet_write_tasks(&wn, data, 1, 20, NULL) == 0);
        tn_wordnet_free(&wn);
        char *cmd = tn_sprintf("%s eval --model %s --data %s/define.jsonl --field-instruction instruction "
                               "--field-output output --json > %s/eval.json 2>&1",
                               bin, out, data, tn_t_tmpdir());
        CHECK(run_cmd(cmd) == 0);
        char *ep = tn_sprintf("%s/eval.json", tn_t_tmpdir());
        char *e = tn_read_file(ep, NULL);
        CHECKF(e && strstr(e, "\"loss\""), "tuna eval said: %s", e ? e : "(nothing)");
        free(e);
        free(ep);
        free(cmd);
        free(data);
    }
    free(out);
    free(out2);
    free(wn_dir);
}

TEST(pretrain_errors) {
    tn_base_opts o;
    tiny_opts(&o, "/nonexistent/wordnet");
    char *out = tn_sprintf("%s/never", tn_t_tmpdir());
    CHECK_ERR(tn_make_base_model(out, &o), "WordNet not found at /nonexistent/wordnet");
    char *wn_dir = make_wordnet("wn_tiny", 0); /* seven glosses: too few tokens for 4 windows of 32 */
    tiny_opts(&o, wn_dir);
    o.seq_len = 128;
    CHECK_ERR(tn_make_base_model(out, &o), "the corpus is too small");
    free(wn_dir);
    free(out);
}

int main(void) {
    RUN(parse_small_wordnet);
    RUN(wordnet_errors);
    RUN(real_wordnet_tasks);
    RUN(pretrain_tiny);
    RUN(pretrain_errors);
    return tn_test_summary("basemodel");
}
