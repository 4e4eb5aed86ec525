/* test_wordnet_pool.c - the arena's synthetic pools (tn_wordnet_tasks_pools):
 * rows in each task's style from WordNet synsets outside the task's dataset.
 *
 * On the real WordNet 3.0 (skipped when wordnet-base is not installed):
 *   - the task rows are exactly those tn_wordnet_tasks makes with the seed
 *     (asking for pools changes no dataset byte);
 *   - each pool has the rows asked for, in its task's style, checked against
 *     WordNet itself: a define row is (a synset's first lemma, its
 *     definition), a word row the reverse, a synonyms row (first lemma, the
 *     synset's other lemmas);
 *   - no pool row's word or definition is an instruction of its task, and no
 *     pool row comes from a synset a task used (its (word, definition) pair
 *     is in no task). */
#include "harness.h"
#include "base/err.h"
#include "base/fs.h"
#include "data/wordnet.h"

#include <stdlib.h>
#include <string.h>

static int has_instruction(const json_t *rows, const char *s) {
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) if (!strcmp(json_string_value(json_object_get(r, "instruction")), s)) return 1;
    return 0;
}

/* A synset whose first lemma is `word` and whose definition is `def`. */
static const tn_synset *find(const tn_wordnet *wn, const char *word, const char *def) {
    for (size_t i = 0; i < wn->n; i++)
        if (!strcmp(wn->s[i].words[0], word) && !strcmp(wn->s[i].definition, def)) return &wn->s[i];
    return NULL;
}

TEST(pools_outside_the_tasks) {
    if (!tn_dir_exists(tn_wordnet_dir())) SKIP("WordNet not installed at %s (scripts/setup)", tn_wordnet_dir());
    tn_wordnet wn;
    if (tn_wordnet_load(&wn, NULL)) {
        CHECKF(0, "%s", tn_errmsg());
        return;
    }
    enum { ROWS = 300, POOL = 200 };
    json_t *plain[TN_TASK_COUNT], *t[TN_TASK_COUNT], *p[TN_TASK_COUNT];
    CHECK(tn_wordnet_tasks(&wn, 7, ROWS, plain) == 0);
    CHECK(tn_wordnet_tasks_pools(&wn, 7, ROWS, POOL, t, p) == 0);
    for (int k = 0; k < TN_TASK_COUNT; k++) {
        char *a = json_dumps(plain[k], JSON_COMPACT), *b = json_dumps(t[k], JSON_COMPACT);
        CHECKF(a && b && !strcmp(a, b), "%s: the task's rows changed", tn_task_name(k));
        free(a);
        free(b);
        CHECKF(json_array_size(p[k]) == POOL, "%s: %zu pool rows", tn_task_name(k), json_array_size(p[k]));
        size_t i, bad_style = 0, in_task = 0, used = 0;
        json_t *row;
        json_array_foreach(p[k], i, row) {
            const char *in = json_string_value(json_object_get(row, "instruction"));
            const char *out = json_string_value(json_object_get(row, "output"));
            const char *word = k == TN_TASK_WORD ? out : in;
            in_task += has_instruction(t[k], in);
            const tn_synset *s = NULL;
            if (k == TN_TASK_SYNONYMS) {
                for (size_t j = 0; j < wn.n && !s; j++)
                    if (wn.s[j].nwords > 1 && !strcmp(wn.s[j].words[0], word) && strstr(out, wn.s[j].words[1]))
                        s = &wn.s[j];
            } else {
                s = find(&wn, word, k == TN_TASK_WORD ? in : out);
            }
            bad_style += s == NULL;
            /* the same synset in a task: its word with its definition */
            for (int q = 0; s && q < TN_TASK_COUNT; q++) {
                size_t r;
                json_t *tr;
                json_array_foreach(t[q], r, tr) {
                    const char *ti = json_string_value(json_object_get(tr, "instruction"));
                    const char *to = json_string_value(json_object_get(tr, "output"));
                    used += (q == TN_TASK_WORD && !strcmp(to, s->words[0]) && !strcmp(ti, s->definition)) ||
                            (q == TN_TASK_DEFINE && !strcmp(ti, s->words[0]) && !strcmp(to, s->definition));
                }
            }
        }
        CHECKF(bad_style == 0, "%s: %zu pool rows not from a synset as the task makes them", tn_task_name(k), bad_style);
        CHECKF(in_task == 0, "%s: %zu pool rows share an instruction with the task", tn_task_name(k), in_task);
        CHECKF(used == 0, "%s: %zu pool rows come from a synset a task used", tn_task_name(k), used);
        json_decref(plain[k]);
        json_decref(t[k]);
        json_decref(p[k]);
    }
    tn_wordnet_free(&wn);
}

int main(void) {
    RUN(pools_outside_the_tasks);
    return tn_test_summary("wordnet_pool");
}
