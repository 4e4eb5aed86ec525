/* wordnet.h - real English text and instruction datasets from WordNet 3.0.
 *
 * `tuna arena` needs a base model and task datasets without downloading
 * anything: Debian's wordnet-base package (scripts/setup installs it) holds
 * WordNet 3.0's database under /usr/share/wordnet. This module reads its
 * data.{noun,verb,adj,adv} files and makes
 *   - a pretraining corpus: every gloss's definition and example sentences as
 *     plain English lines, shuffled with a seed;
 *   - instruction datasets (JSONL, columns instruction/output) for three task
 *     kinds, with disjoint synsets per task so tasks do not share rows.
 * Everything is a pure function of the files and the seed (the shuffles are
 * data/hygiene.h's xoshiro256**), so a seed gives the same bytes everywhere.
 * docs/arena-data.md describes the data, its license and the columns.
 */
#ifndef TN_DATA_WORDNET_H
#define TN_DATA_WORDNET_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define TN_WORDNET_DEFAULT_DIR "/usr/share/wordnet"

/* One synset: a set of synonyms with one gloss. */
typedef struct {
    char pos;          /* 'n', 'v', 'a' (satellites 's' folded in), 'r' */
    int nwords;
    char **words;      /* lemmas: '_' -> ' ', adjective markers "(a)" "(p)" "(ip)" removed */
    char *definition;  /* the gloss before its first quoted example, trimmed, no trailing ';' */
    int nexamples;
    char **examples;   /* the quoted example sentences, without the quotes */
} tn_synset;

typedef struct {
    tn_synset *s;
    size_t n, cap;
} tn_wordnet;

/* The directory to read: $TUNA_WORDNET when set, else /usr/share/wordnet. */
const char *tn_wordnet_dir(void);

/* Reads dir/data.noun, data.verb, data.adj and data.adv (dir NULL: the
 * default). A missing directory fails with "WordNet not found at DIR: run
 * scripts/setup (Debian package wordnet-base)"; a malformed line names the
 * file and line. */
int tn_wordnet_load(tn_wordnet *wn, const char *dir);
/* Appends the synsets of one data file (WordNet's "wndb" format: license
 * lines start with two spaces; a synset line is
 *   offset lex_filenum ss_type w_cnt(2 hex) {word lex_id}... p_cnt ... | gloss). */
int tn_wordnet_parse_file(tn_wordnet *wn, const char *path);
void tn_wordnet_free(tn_wordnet *wn);

/* The pretraining text: each definition and each example sentence as one
 * line (definitions get their first letter capitalised and a full stop, so
 * they read as sentences), deduplicated, shuffled with seed, joined with
 * '\n'. Stops adding lines past max_bytes (0 = no limit). Heap string. */
char *tn_wordnet_corpus(const tn_wordnet *wn, uint64_t seed, size_t max_bytes, size_t *len);

/* WordNet 3.0's license. It asks that its notice go with every copy of the
 * database, modified ones included, so the model and dataset directories
 * made from it carry it as LICENSE.wordnet (tn_wordnet_write_license). */
extern const char TN_WORDNET_LICENSE[];
int tn_wordnet_write_license(const char *dir);

/* Task kinds. Columns are always "instruction" and "output". */
typedef enum {
    TN_TASK_DEFINE = 0,   /* instruction: a word;        output: its definition */
    TN_TASK_SYNONYMS = 1, /* instruction: a word;        output: its synonyms, ", "-separated */
    TN_TASK_WORD = 2,     /* instruction: a definition;  output: the word */
    TN_TASK_COUNT = 3
} tn_task_kind;
/* "define", "synonyms", "word" (also the dataset file stem). */
const char *tn_task_name(tn_task_kind k);

/* Makes up to `rows` rows of each task kind into out[k] (JSON arrays of
 * {"instruction", "output"} objects). One seeded shuffle of the synsets is
 * dealt out to the tasks in turn, so no synset is used by two tasks, and
 * within a task no instruction repeats (a word with several senses appears
 * once). Fails when a task gets no row. */
int tn_wordnet_tasks(const tn_wordnet *wn, uint64_t seed, size_t rows, json_t *out[TN_TASK_COUNT]);

/* tn_wordnet_tasks, and also up to pool_rows rows of each kind into pool[k]
 * (pool NULL: none) from the synsets no task took, none with an instruction
 * of its task: rows in the task's style outside its dataset, for the
 * validator's synthetic sets (synth.source pool). The tasks' rows are those
 * tn_wordnet_tasks makes with the same seed. */
int tn_wordnet_tasks_pools(const tn_wordnet *wn, uint64_t seed, size_t rows, size_t pool_rows,
                           json_t *out[TN_TASK_COUNT], json_t *pool[TN_TASK_COUNT]);

/* tn_wordnet_tasks_pools with pool_rows = rows, then writes
 * out_dir/<name>.jsonl and out_dir/<name>.synth-pool.jsonl for each task and
 * out_dir/LICENSE.wordnet (creating out_dir). n_out[k] (may be NULL) gets each file's row count. */
int tn_wordnet_write_tasks(const tn_wordnet *wn, const char *out_dir, uint64_t seed, size_t rows,
                           size_t n_out[TN_TASK_COUNT]);

#endif
