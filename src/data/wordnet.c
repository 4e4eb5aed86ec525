/* wordnet.c - WordNet 3.0 database files -> pretraining text and task datasets.
 * See wordnet.h for what is produced and docs/arena-data.md for why. */
#include "data/wordnet.h"

#include "base/err.h"
#include "base/hash.h"
#include "base/fs.h"
#include "data/hygiene.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

const char *tn_wordnet_dir(void) {
    const char *d = getenv("TUNA_WORDNET");
    return d && *d ? d : TN_WORDNET_DEFAULT_DIR;
}

const char TN_WORDNET_LICENSE[] =
    "The text of this directory is derived from WordNet 3.0 (Debian package wordnet-base).\n"
    "WordNet Release 3.0: George A. Miller (1995). WordNet: A Lexical Database for English.\n"
    "Communications of the ACM Vol. 38, No. 11: 39-41. https://wordnet.princeton.edu/\n\n"
    "This software and database is being provided to you, the LICENSEE, by\n"
    "Princeton University under the following license.  By obtaining, using\n"
    "and/or copying this software and database, you agree that you have\n"
    "read, understood, and will comply with these terms and conditions.:\n\n"
    "Permission to use, copy, modify and distribute this software and\n"
    "database and its documentation for any purpose and without fee or\n"
    "royalty is hereby granted, provided that you agree to comply with\n"
    "the following copyright notice and statements, including the disclaimer,\n"
    "and that the same appear on ALL copies of the software, database and\n"
    "documentation, including modifications that you make for internal\n"
    "use or for distribution.\n\n"
    "WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.\n\n"
    "THIS SOFTWARE AND DATABASE IS PROVIDED \"AS IS\" AND PRINCETON\n"
    "UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES, EXPRESS OR\n"
    "IMPLIED.  BY WAY OF EXAMPLE, BUT NOT LIMITATION, PRINCETON\n"
    "UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES OF MERCHANT-\n"
    "ABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE OR THAT THE USE\n"
    "OF THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT\n"
    "INFRINGE ANY THIRD PARTY PATENTS, COPYRIGHTS, TRADEMARKS OR\n"
    "OTHER RIGHTS.\n\n"
    "The name of Princeton University or Princeton may not be used in\n"
    "advertising or publicity pertaining to distribution of the software\n"
    "and/or database.  Title to copyright in this software, database and\n"
    "any associated documentation shall at all times remain with\n"
    "Princeton University and LICENSEE agrees to preserve same.\n";

int tn_wordnet_write_license(const char *dir) {
    char *p = tn_path_join(dir, "LICENSE.wordnet");
    int rc = p ? tn_write_file_atomic(p, TN_WORDNET_LICENSE, strlen(TN_WORDNET_LICENSE)) : tn_fail("out of memory");
    free(p);
    return rc;
}

/* ---- small helpers ------------------------------------------------------ */

static char *xstrndup(const char *s, size_t n) {
    char *r = malloc(n + 1);
    if (!r) return NULL;
    memcpy(r, s, n);
    r[n] = 0;
    return r;
}

/* An insert-only set of 64-bit hashes (open addressing). Used to drop
 * duplicate lines and instructions; a 64-bit collision would only drop one
 * row, deterministically. */
typedef struct {
    uint64_t *k;
    size_t cap, n;
} hset;

static int hset_init(hset *s, size_t expect) {
    s->cap = 64;
    while (s->cap < expect * 2) s->cap <<= 1;
    s->n = 0;
    s->k = calloc(s->cap, sizeof *s->k);
    return s->k ? 0 : tn_fail("out of memory");
}

/* Returns 1 when h was added, 0 when it was already there. The table is sized
 * for the caller's upper bound, so it never fills. */
static int hset_add(hset *s, uint64_t h) {
    if (h == 0) h = 1; /* 0 marks an empty slot */
    size_t i = (size_t)(h & (s->cap - 1));
    while (s->k[i]) {
        if (s->k[i] == h) return 0;
        i = (i + 1) & (s->cap - 1);
    }
    s->k[i] = h;
    s->n++;
    return 1;
}

static void rtrim(char *s) {
    size_t n = strlen(s);
    while (n && (isspace((unsigned char)s[n - 1]) || s[n - 1] == ';')) s[--n] = 0;
}

/* ---- parsing ------------------------------------------------------------ */

static void synset_free(tn_synset *s) {
    for (int i = 0; i < s->nwords; i++) free(s->words[i]);
    free(s->words);
    for (int i = 0; i < s->nexamples; i++) free(s->examples[i]);
    free(s->examples);
    free(s->definition);
}

void tn_wordnet_free(tn_wordnet *wn) {
    for (size_t i = 0; i < wn->n; i++) synset_free(&wn->s[i]);
    free(wn->s);
    memset(wn, 0, sizeof *wn);
}

/* A lemma as written in the file: '_' joins the words of a collocation, and
 * adjectives may end in a syntactic marker "(a)", "(p)" or "(ip)". */
static char *clean_word(const char *w, size_t n) {
    if (n > 3 && w[n - 1] == ')') {
        if (n > 4 && !memcmp(w + n - 4, "(ip)", 4)) n -= 4;
        else if (!memcmp(w + n - 3, "(a)", 3) || !memcmp(w + n - 3, "(p)", 3)) n -= 3;
    }
    char *r = xstrndup(w, n);
    if (r)
        for (char *p = r; *p; p++)
            if (*p == '_') *p = ' ';
    return r;
}

/* Splits a gloss "definition; \"example one\"; \"example two\"" into its
 * definition (before the first quote) and its quoted examples. Text outside
 * quotes after the definition (attributions such as "- Shakespeare") is
 * dropped. */
static int split_gloss(tn_synset *s, const char *g) {
    const char *q = strchr(g, '"');
    s->definition = xstrndup(g, q ? (size_t)(q - g) : strlen(g));
    if (!s->definition) return tn_fail("out of memory");
    rtrim(s->definition);
    while (q) {
        const char *e = strchr(q + 1, '"');
        size_t n = e ? (size_t)(e - q - 1) : strlen(q + 1);
        char *ex = xstrndup(q + 1, n);
        if (!ex) return tn_fail("out of memory");
        rtrim(ex);
        if (!*ex) {
            free(ex);
        } else {
            char **grown = realloc(s->examples, (size_t)(s->nexamples + 1) * sizeof *grown);
            if (!grown) {
                free(ex);
                return tn_fail("out of memory");
            }
            s->examples = grown;
            s->examples[s->nexamples++] = ex;
        }
        q = e ? strchr(e + 1, '"') : NULL;
    }
    return 0;
}

/* Reads a space-terminated field starting at *p; advances past one space. */
static const char *field(const char **p, const char *end, size_t *n) {
    const char *b = *p, *e = b;
    while (e < end && *e != ' ') e++;
    *n = (size_t)(e - b);
    *p = e < end ? e + 1 : e;
    return b;
}

static int all_in(const char *s, size_t n, const char *set) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr(set, s[i])) return 0;
    return 1;
}

static int parse_line(tn_synset *s, const char *line, const char *end, const char *path, size_t lineno) {
    const char *p = line;
    size_t n;
    const char *f = field(&p, end, &n);
    if (n != 8 || !all_in(f, n, "0123456789"))
        return tn_fail("%s:%zu: expected an 8-digit synset offset, got \"%.*s\"", path, lineno, (int)(n > 20 ? 20 : n), f);
    f = field(&p, end, &n);
    if (n != 2 || !all_in(f, n, "0123456789"))
        return tn_fail("%s:%zu: expected a 2-digit lexicographer file number", path, lineno);
    f = field(&p, end, &n);
    if (n != 1 || !strchr("nvasr", f[0]))
        return tn_fail("%s:%zu: expected a synset type (n, v, a, s or r), got \"%.*s\"", path, lineno,
                       (int)(n > 8 ? 8 : n), f);
    s->pos = f[0] == 's' ? 'a' : f[0];
    f = field(&p, end, &n);
    if (n != 2 || !all_in(f, n, "0123456789abcdefABCDEF"))
        return tn_fail("%s:%zu: expected a 2-digit hexadecimal word count", path, lineno);
    char hex[3] = {f[0], f[1], 0};
    int wcnt = (int)strtol(hex, NULL, 16);
    if (wcnt == 0) return tn_fail("%s:%zu: a synset with no words", path, lineno);
    s->words = calloc((size_t)wcnt, sizeof *s->words);
    if (!s->words) return tn_fail("out of memory");
    for (int i = 0; i < wcnt; i++) {
        const char *w = field(&p, end, &n);
        size_t wn = n;
        const char *lex = field(&p, end, &n); /* lex_id: one hex digit */
        if (wn == 0 || n != 1 || !isxdigit((unsigned char)lex[0]))
            return tn_fail("%s:%zu: word %d of %d: expected \"lemma lex_id\"", path, lineno, i + 1, wcnt);
        if (!(s->words[s->nwords] = clean_word(w, wn))) return tn_fail("out of memory");
        s->nwords++;
    }
    /* The pointers (and verb frames) that follow are not needed: the gloss
     * is everything after the " | " separator. */
    const char *bar = NULL;
    for (const char *q = p; q + 1 < end; q++)
        if (q[0] == '|' && q[1] == ' ' && (q == line || q[-1] == ' ')) {
            bar = q;
            break;
        }
    if (!bar) return tn_fail("%s:%zu: no \" | \" before the gloss", path, lineno);
    char *gloss = xstrndup(bar + 2, (size_t)(end - bar - 2));
    if (!gloss) return tn_fail("out of memory");
    int rc = split_gloss(s, gloss);
    free(gloss);
    return rc;
}

int tn_wordnet_parse_file(tn_wordnet *wn, const char *path) {
    size_t len;
    char *buf = tn_read_file(path, &len);
    if (!buf) return -1;
    size_t lineno = 0, before = wn->n;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        size_t j = i;
        while (j < len && buf[j] != '\n') j++;
        size_t e = j;
        while (e > i && (buf[e - 1] == '\r' || buf[e - 1] == ' ')) e--;
        lineno++;
        /* License header lines start with two spaces; blank lines carry nothing. */
        int skip = e == i || (j - i >= 2 && buf[i] == ' ' && buf[i + 1] == ' ');
        if (!skip) {
            if (wn->n == wn->cap) {
                size_t cap = wn->cap ? wn->cap * 2 : 1024;
                tn_synset *g = realloc(wn->s, cap * sizeof *g);
                if (!g) {
                    rc = tn_fail("out of memory");
                    break;
                }
                wn->s = g;
                wn->cap = cap;
            }
            tn_synset *s = &wn->s[wn->n];
            memset(s, 0, sizeof *s);
            if (parse_line(s, buf + i, buf + e, path, lineno)) {
                synset_free(s);
                rc = -1;
            } else {
                wn->n++;
            }
        }
        i = j + 1;
    }
    free(buf);
    if (rc == 0 && wn->n == before) rc = tn_fail("%s: no synsets (is this a WordNet 3.0 data file?)", path);
    return rc;
}

int tn_wordnet_load(tn_wordnet *wn, const char *dir) {
    static const char *files[] = {"data.noun", "data.verb", "data.adj", "data.adv"};
    memset(wn, 0, sizeof *wn);
    if (!dir) dir = tn_wordnet_dir();
    if (!tn_dir_exists(dir))
        return tn_fail("WordNet not found at %s: run scripts/setup (Debian package wordnet-base) or set TUNA_WORDNET",
                       dir);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *path = tn_path_join(dir, files[i]);
        if (!path) return tn_fail("out of memory");
        int rc = 0;
        if (!tn_file_exists(path))
            rc = tn_fail("WordNet file %s is missing: run scripts/setup (Debian package wordnet-base)", path);
        else
            rc = tn_wordnet_parse_file(wn, path);
        free(path);
        if (rc) {
            tn_wordnet_free(wn);
            return -1;
        }
    }
    return 0;
}

/* ---- pretraining text --------------------------------------------------- */

/* A definition as a sentence: capital first letter, full stop at the end. */
static char *as_sentence(const char *d) {
    size_t n = strlen(d);
    char *r = malloc(n + 2);
    if (!r) return NULL;
    memcpy(r, d, n + 1);
    r[0] = (char)toupper((unsigned char)r[0]);
    if (n && !strchr(".!?", r[n - 1])) {
        r[n] = '.';
        r[n + 1] = 0;
    }
    return r;
}

char *tn_wordnet_corpus(const tn_wordnet *wn, uint64_t seed, size_t max_bytes, size_t *len) {
    size_t nlines = 0;
    for (size_t i = 0; i < wn->n; i++) nlines += (wn->s[i].definition[0] != 0) + (size_t)wn->s[i].nexamples;
    char **lines = calloc(nlines ? nlines : 1, sizeof *lines);
    size_t *idx = malloc((nlines ? nlines : 1) * sizeof *idx);
    hset seen = {0};
    char *out = NULL;
    if (!lines || !idx || hset_init(&seen, nlines)) {
        tn_fail("out of memory");
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < wn->n; i++) {
        const tn_synset *s = &wn->s[i];
        if (s->definition[0] && !(lines[k++] = as_sentence(s->definition))) goto oom;
        for (int e = 0; e < s->nexamples; e++)
            if (!(lines[k++] = xstrndup(s->examples[e], strlen(s->examples[e])))) goto oom;
    }
    for (size_t i = 0; i < nlines; i++) idx[i] = i;
    tn_shuffle(idx, nlines, seed);
    size_t total = 0, cap = 1 << 20;
    out = malloc(cap);
    if (!out) goto oom;
    for (size_t i = 0; i < nlines; i++) {
        const char *l = lines[idx[i]];
        if (!hset_add(&seen, tn_fnv1a_str(l))) continue;
        size_t n = strlen(l);
        if (max_bytes && total + n + 1 > max_bytes) break;
        if (total + n + 2 > cap) {
            while (total + n + 2 > cap) cap *= 2;
            char *g = realloc(out, cap);
            if (!g) goto oom;
            out = g;
        }
        memcpy(out + total, l, n);
        total += n;
        out[total++] = '\n';
    }
    out[total] = 0;
    if (len) *len = total;
    goto done;
oom:
    tn_fail("out of memory");
    free(out);
    out = NULL;
done:
    if (lines)
        for (size_t i = 0; i < nlines; i++) free(lines[i]);
    free(lines);
    free(idx);
    free(seen.k);
    return out;
}

/* ---- task datasets ------------------------------------------------------ */

const char *tn_task_name(tn_task_kind k) {
    switch (k) {
    case TN_TASK_DEFINE: return "define";
    case TN_TASK_SYNONYMS: return "synonyms";
    case TN_TASK_WORD: return "word";
    default: return "?";
    }
}

/* Long glosses make long rows; the arena's small models train on short
 * sequences, so rows are kept within this many bytes per field. */
#define MAX_FIELD 200

/* The synonyms of s other than its first word ("dog" vs "Dog" is one word),
 * joined with ", "; NULL when there are none. */
static char *synonyms_of(const tn_synset *s) {
    size_t cap = 1, n = 0;
    for (int i = 1; i < s->nwords; i++) cap += strlen(s->words[i]) + 2;
    char *r = malloc(cap);
    if (!r) return NULL;
    r[0] = 0;
    for (int i = 1; i < s->nwords; i++) {
        if (!strcasecmp(s->words[i], s->words[0])) continue;
        int dup = 0;
        for (int j = 1; j < i; j++) dup |= !strcasecmp(s->words[i], s->words[j]);
        if (dup) continue;
        n += (size_t)sprintf(r + n, "%s%s", n ? ", " : "", s->words[i]);
    }
    if (n == 0) {
        free(r);
        return NULL;
    }
    return r;
}

/* Builds the row synset s would give task k, or NULL when it is not
 * eligible. */
static json_t *make_row(const tn_synset *s, tn_task_kind k) {
    const char *word = s->words[0], *def = s->definition;
    if (!def[0] || strlen(def) > MAX_FIELD) return NULL;
    switch (k) {
    case TN_TASK_DEFINE: return json_pack("{s:s, s:s}", "instruction", word, "output", def);
    case TN_TASK_WORD: return json_pack("{s:s, s:s}", "instruction", def, "output", word);
    case TN_TASK_SYNONYMS: {
        char *syn = synonyms_of(s);
        if (!syn) return NULL;
        json_t *row = strlen(syn) <= MAX_FIELD ? json_pack("{s:s, s:s}", "instruction", word, "output", syn) : NULL;
        free(syn);
        return row;
    }
    default: return NULL;
    }
}

/* Offers synset s to the task whose turn it is, then to the next ones: the
 * first that is not full (cap rows), can make a row of s and has not had its
 * instruction yet takes it, and the turn passes to the task after it. 1 when
 * taken. */
static int deal(const tn_synset *s, json_t *dst[TN_TASK_COUNT], size_t cap, hset seen[TN_TASK_COUNT], int *turn) {
    for (int t = 0; t < TN_TASK_COUNT; t++) {
        int k = (*turn + t) % TN_TASK_COUNT;
        if (json_array_size(dst[k]) >= cap) continue;
        json_t *row = make_row(s, (tn_task_kind)k);
        if (!row) continue;
        if (!hset_add(&seen[k], tn_fnv1a_str(json_string_value(json_object_get(row, "instruction"))))) {
            json_decref(row);
            continue;
        }
        json_array_append_new(dst[k], row);
        *turn = (k + 1) % TN_TASK_COUNT;
        return 1;
    }
    return 0;
}

int tn_wordnet_tasks(const tn_wordnet *wn, uint64_t seed, size_t rows, json_t *out[TN_TASK_COUNT]) {
    return tn_wordnet_tasks_pools(wn, seed, rows, 0, out, NULL);
}

int tn_wordnet_tasks_pools(const tn_wordnet *wn, uint64_t seed, size_t rows, size_t pool_rows,
                           json_t *out[TN_TASK_COUNT], json_t *pool[TN_TASK_COUNT]) {
    size_t *idx = malloc((wn->n ? wn->n : 1) * sizeof *idx);
    unsigned char *used = calloc(wn->n ? wn->n : 1, 1);
    hset seen[TN_TASK_COUNT] = {{0}};
    int rc = idx && used ? 0 : tn_fail("out of memory");
    for (int k = 0; k < TN_TASK_COUNT; k++) {
        if (pool) pool[k] = json_array();
        out[k] = json_array();
        if (rc == 0 && (!out[k] || (pool && !pool[k]) || hset_init(&seen[k], rows + (pool ? pool_rows : 0))))
            rc = tn_fail("out of memory");
    }
    if (rc == 0) {
        for (size_t i = 0; i < wn->n; i++) idx[i] = i;
        tn_shuffle(idx, wn->n, seed);
        /* Deal the shuffled synsets to the tasks in turn: the task whose turn
         * it is takes the synset if it is eligible and the task is not full,
         * else the next task may. A synset goes to at most one task. */
        int turn = 0;
        for (size_t i = 0; i < wn->n; i++) used[i] = deal(&wn->s[idx[i]], out, rows, seen, &turn);
        /* The pools: the synsets no task took, dealt the same way, in the
         * same shuffled order. A pool row's word is none of its task's
         * instructions (the `seen` sets carry on), so a pool holds rows in the
         * task's style that its dataset does not: what an LLM's knowledge is
         * to a public dataset (the validator's synth.source pool). */
        for (size_t i = 0; pool && i < wn->n; i++)
            if (!used[i]) deal(&wn->s[idx[i]], pool, pool_rows, seen, &turn);
        for (int k = 0; k < TN_TASK_COUNT && rc == 0; k++)
            if (json_array_size(out[k]) == 0) rc = tn_fail("WordNet data gave no rows for task %s", tn_task_name(k));
    }
    for (int k = 0; k < TN_TASK_COUNT; k++) {
        free(seen[k].k);
        if (rc) {
            json_decref(out[k]);
            out[k] = NULL;
        }
        if (pool && rc) {
            json_decref(pool[k]);
            pool[k] = NULL;
        }
    }
    free(used);
    free(idx);
    return rc;
}

static int write_jsonl(const char *path, const json_t *rows) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) return tn_fail("out of memory");
    for (size_t i = 0; i < json_array_size(rows); i++) {
        char *line = json_dumps(json_array_get(rows, i), JSON_COMPACT);
        if (!line) {
            free(buf);
            return tn_fail("out of memory");
        }
        size_t l = strlen(line);
        if (n + l + 1 > cap) {
            while (n + l + 1 > cap) cap *= 2;
            char *g = realloc(buf, cap);
            if (!g) {
                free(line);
                free(buf);
                return tn_fail("out of memory");
            }
            buf = g;
        }
        memcpy(buf + n, line, l);
        n += l;
        buf[n++] = '\n';
        free(line);
    }
    int rc = tn_write_file_atomic(path, buf, n);
    free(buf);
    return rc;
}

int tn_wordnet_write_tasks(const tn_wordnet *wn, const char *out_dir, uint64_t seed, size_t rows,
                           size_t n_out[TN_TASK_COUNT]) {
    json_t *t[TN_TASK_COUNT], *pool[TN_TASK_COUNT];
    if (tn_mkdir_p(out_dir) || tn_wordnet_tasks_pools(wn, seed, rows, rows, t, pool)) return -1;
    int rc = 0;
    for (int k = 0; k < TN_TASK_COUNT; k++) {
        char name[48], pname[48];
        snprintf(name, sizeof name, "%s.jsonl", tn_task_name(k));
        snprintf(pname, sizeof pname, "%s.synth-pool.jsonl", tn_task_name(k));
        char *path = tn_path_join(out_dir, name), *ppath = tn_path_join(out_dir, pname);
        if (rc == 0) rc = path ? write_jsonl(path, t[k]) : tn_fail("out of memory");
        if (rc == 0) rc = ppath ? write_jsonl(ppath, pool[k]) : tn_fail("out of memory");
        if (n_out) n_out[k] = json_array_size(t[k]);
        free(path);
        free(ppath);
        json_decref(t[k]);
        json_decref(pool[k]);
    }
    return rc ? rc : tn_wordnet_write_license(out_dir);
}
