/* tok_internal.h - data structures shared by the tokenizer modules.
 *
 * The pipeline is the HF one (tokenizers/src/tokenizer/mod.rs):
 *   added-token split -> normalizer -> pre-tokenizer -> model (BPE) -> post-processor
 * and for decoding: ids -> token strings -> decoder chain.
 * Sequences of normalizers, pre-tokenizers and decoders are flattened at load
 * time into plain arrays of steps, so the hot loops never recurse.
 *
 * Text always travels as UTF-8 bytes; pieces are (offset, length) spans into a
 * buffer. Encoding uses an tn_enc_ctx whose buffers grow once per call and are
 * reused for every section and word: there is no allocation per token.
 */
#ifndef TN_TOK_INTERNAL_H
#define TN_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "tok/tokenizer.h"

/* ---- growable byte buffer and span list -------------------------------- */
typedef struct {
    char *p;
    size_t n, cap;
} tn_sbuf;

void tn_sbuf_grow(tn_sbuf *b, size_t extra);
static inline void tn_sbuf_put(tn_sbuf *b, const void *s, size_t n) {
    if (!n) return; /* also keeps memcpy away from a NULL buffer */
    if (b->n + n > b->cap) tn_sbuf_grow(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static inline void tn_sbuf_putc(tn_sbuf *b, char c) {
    if (b->n + 1 > b->cap) tn_sbuf_grow(b, 1);
    b->p[b->n++] = c;
}
void tn_sbuf_free(tn_sbuf *b);

typedef struct {
    uint32_t off, len;
} tn_span;
typedef struct {
    tn_span *v;
    size_t n, cap;
} tn_spans;
void tn_spans_push(tn_spans *s, size_t off, size_t len);

void tn_ids_push(tn_tok_ids *b, int32_t id);

/* ---- UTF-8 (utf8.c) ------------------------------------------------------ */
/* Length of the well-formed UTF-8 character at s[0..n) (1..4), or 0 when the
 * bytes there are not a well-formed character; *cp gets the code point. */
int tn_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Length of the character at s (input known valid). */
static inline int tn_utf8_clen(unsigned char c) {
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}
int tn_utf8_encode(uint32_t cp, char *out);
/* 1 when s[0..n) is valid UTF-8. */
int tn_utf8_valid(const char *s, size_t n);
/* Appends s to out with each maximal ill-formed subsequence replaced by U+FFFD
 * (the WHATWG / Rust String::from_utf8_lossy rule). */
void tn_utf8_lossy(const char *s, size_t n, tn_sbuf *out);
/* JavaScript's \s / String.prototype.trim set. */
int tn_is_js_space(uint32_t cp);

/* ---- hashing and maps (vocab.c) ----------------------------------------- */
uint64_t tn_hash_bytes(const void *p, size_t n);

/* String <-> id. Strings live in one arena; several strings may map to the
 * same id (an added token overriding a model token), id -> string gives the
 * last one set, as transformers.js does. */
typedef struct {
    uint32_t off, len;
    int32_t id;
} tn_ventry;
typedef struct {
    tn_sbuf strs;
    tn_ventry *e;
    size_t ne, cape;
    uint64_t *slots; /* hash tag << 32 | (entry index + 1); 0 = empty */
    size_t nslots;
    int32_t *id_entry; /* id -> entry index, -1 for holes */
    int32_t nids;      /* 1 + max id */
    size_t ids_cap;
} tn_vocab;
void tn_vocab_init(tn_vocab *v, size_t expected);
/* Maps s to id; returns 1 when s was already present (its id replaced), else 0. */
int tn_vocab_set(tn_vocab *v, const char *s, size_t n, int32_t id);
int32_t tn_vocab_get(const tn_vocab *v, const char *s, size_t n);
/* Batched lookups (the loader's merges): hash and prefetch each key's slot
 * first, then look them up, so their cache misses overlap. */
uint64_t tn_vocab_hash_prefetch(const tn_vocab *v, const char *s, size_t n);
int32_t tn_vocab_get_hashed(const tn_vocab *v, const char *s, size_t n, uint64_t h);
const char *tn_vocab_str(const tn_vocab *v, int32_t id, size_t *len);
void tn_vocab_free(tn_vocab *v);

/* (left id, right id) -> (rank, merged id). */
typedef struct {
    uint64_t *keys; /* UINT64_MAX = empty */
    uint32_t *rank;
    int32_t *out;
    size_t cap, n;
} tn_merges;
void tn_merges_init(tn_merges *m, size_t expected);
/* Adds a merge unless the pair is already present (the first rank wins). */
void tn_merges_add(tn_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t out);
static inline uint64_t tn_merge_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}
int tn_merges_get(const tn_merges *m, int32_t a, int32_t b, uint32_t *rank, int32_t *out);
void tn_merges_free(tn_merges *m);

/* ---- regular expressions (regex.c) -------------------------------------- */
typedef struct {
    pcre2_code *code;
} tn_regex;
/* Compiles an HF "Regex" pattern with JavaScript semantics (see regex.c). */
tn_regex *tn_regex_new(const char *pattern, const char *what);
void tn_regex_free(tn_regex *re);
/* Finds the next non-empty match at or after `start`: 1 found, 0 none. */
int tn_regex_next(const tn_regex *re, pcre2_match_data *md, const char *s, size_t n, size_t start,
                  size_t *ms, size_t *me);

/* A pattern of a Replace / Split step: a literal string or a regex. */
typedef struct {
    char *lit;
    size_t litn;
    tn_regex *re;
} tn_pattern;
/* Parses {"String": s} or {"Regex": r}. */
struct json_t;
int tn_pattern_parse(const struct json_t *pat, tn_pattern *out, const char *what);
void tn_pattern_free(tn_pattern *p);
int tn_pattern_next(const tn_pattern *p, pcre2_match_data *md, const char *s, size_t n,
                    size_t start, size_t *ms, size_t *me);
/* Appends s with every match replaced by `content`. */
void tn_pattern_replace(const tn_pattern *p, pcre2_match_data *md, const char *s, size_t n,
                        const char *content, size_t content_n, tn_sbuf *out);

/* ---- steps --------------------------------------------------------------- */
enum {
    TN_NORM_NFC, TN_NORM_NFD, TN_NORM_NFKC, TN_NORM_NFKD, TN_NORM_PREPEND, TN_NORM_REPLACE,
    TN_NORM_LOWERCASE, TN_NORM_STRIP
};
typedef struct {
    int type;
    char *s; /* Prepend text, Replace content */
    size_t sn;
    tn_pattern pat; /* Replace */
    int left, right; /* Strip */
} tn_norm;

enum { TN_SPLIT_REMOVED, TN_SPLIT_ISOLATED, TN_SPLIT_MERGED_PREV, TN_SPLIT_MERGED_NEXT, TN_SPLIT_CONTIGUOUS };
enum { TN_PREPEND_ALWAYS, TN_PREPEND_FIRST, TN_PREPEND_NEVER };
enum {
    TN_PT_BYTELEVEL, TN_PT_SPLIT, TN_PT_METASPACE, TN_PT_DIGITS, TN_PT_PUNCTUATION,
    TN_PT_WHITESPACE, TN_PT_WHITESPACE_SPLIT
};
typedef struct {
    int type;
    int add_prefix_space, use_regex; /* ByteLevel */
    tn_pattern pat;                  /* Split */
    int behavior, invert;            /* Split, Punctuation */
    char *repl;                      /* Metaspace replacement */
    size_t repln;
    int prepend_scheme, split; /* Metaspace */
    int individual_digits;     /* Digits */
} tn_pretok;

enum { TN_DEC_BYTELEVEL, TN_DEC_BYTEFALLBACK, TN_DEC_FUSE, TN_DEC_STRIP, TN_DEC_REPLACE, TN_DEC_METASPACE };
typedef struct {
    int type;
    tn_pattern pat; /* Replace */
    char *s;        /* Replace content; Strip/Metaspace character */
    size_t sn;
    int start, stop;   /* Strip */
    int strip_prefix; /* Metaspace: drop the first token's leading space */
} tn_dec;

/* ---- added tokens (added.c) --------------------------------------------- */
typedef struct {
    char *s;
    size_t n;
    int32_t id;
    uint8_t special, lstrip, rstrip, single_word, normalized;
} tn_added;
typedef struct {
    int32_t child, sibling, tok; /* tok: index in tn_tokenizer.added, -1 none */
    unsigned char byte;
} tn_trie_node;
typedef struct {
    tn_trie_node *nodes;
    size_t n, cap;
} tn_trie;
void tn_trie_add(tn_trie *t, const char *s, size_t n, int32_t tok);
/* Longest added token starting at s[i], -1 if none. */
int32_t tn_trie_match(const tn_trie *t, const char *s, size_t n, size_t i);
void tn_trie_free(tn_trie *t);

/* A section of the input: either plain text or one added token. */
typedef struct {
    uint32_t off, len;
    int32_t added; /* index into tok->added, or -1 for text */
} tn_section;
typedef struct {
    tn_section *v;
    size_t n, cap;
} tn_sections;
/* Splits text on the added tokens of `trie`, applying lstrip / rstrip /
 * single_word; appends to out (offsets relative to text). */
void tn_added_split(const tn_tokenizer *tok, const tn_trie *trie, const char *text, size_t n,
                    tn_sections *out);

#define TN_TOK_SPECIAL 1
#define TN_TOK_ADDED 2

/* ---- the tokenizer -------------------------------------------------------- */
#define TN_CACHE_SLOTS 16384
#define TN_CACHE_MAX_WORD 64
typedef struct {
    uint64_t hash;
    uint32_t key_off, key_len, ids_off, n_ids;
} tn_cache_slot;
typedef struct {
    pthread_mutex_t lock;
    tn_cache_slot *slots; /* hash == 0: empty */
    tn_sbuf keys;
    tn_tok_ids ids;
} tn_word_cache;

struct tn_tokenizer {
    char *source; /* for messages */
    tn_vocab vocab;
    tn_merges merges;
    int byte_fallback, fuse_unk, ignore_merges;
    int32_t model_unk;
    char *cont_prefix, *eow_suffix;
    size_t cont_prefix_n, eow_suffix_n;
    int32_t byte_ids[256]; /* <0xXX> tokens, -1 when absent */

    tn_norm *norms;
    size_t nnorms;
    tn_pretok *pts;
    size_t npts;
    int has_pretok;
    tn_dec *decs;
    size_t ndecs;
    int has_decoder;

    /* post-processor: ids to put around the sequence (template / BERT) */
    int has_template;
    int32_t *pre_ids, *post_ids;
    size_t npre, npost;

    tn_added *added;
    size_t nadded;
    tn_trie trie_raw, trie_norm; /* added tokens matched before / after normalization */
    uint8_t *special; /* per id: TN_TOK_SPECIAL | TN_TOK_ADDED bits */

    int32_t bos, eos, pad, unk;
    int add_bos_token, add_eos_token; /* from tokenizer_config.json; -1 unset */

    tn_word_cache cache;
};

/* Creates an empty tokenizer (all ids -1). */
tn_tokenizer *tn_tok_alloc(const char *source);
/* Finishes loading: builds tries and the special table, resolves
 * bos/eos/pad/unk by name. */
void tn_tok_finish(tn_tokenizer *tok);
/* Fills bos/eos/pad/unk and add_bos_token from tokenizer_config.json. */
int tn_tok_read_config(tn_tokenizer *tok, const char *config_path);
/* Builds a tokenizer from a parsed tokenizer.json (source names it in errors). */
struct json_t;
tn_tokenizer *tn_tok_from_json(const struct json_t *root, const char *source, const char *config_path);
/* Loaders for each format. */
tn_tokenizer *tn_tok_load_hf_json(const char *json_path, const char *config_path);
tn_tokenizer *tn_tok_load_gpt2_files(const char *vocab_path, const char *merges_path);
tn_tokenizer *tn_tok_load_llama2c(const char *bin_path);
/* model.vocab and model.merges read from the text of a tokenizer.json
 * (tok_scan.c). Each returns -1 when it meets anything it does not expect;
 * the caller then loads the file with jansson, which judges it. */
typedef struct {
    const char *vocab, *vocab_end;   /* the "{...}" value of model.vocab */
    const char *merges, *merges_end; /* the "[...]" value of model.merges */
} tn_model_spans;
int tn_tok_scan_model(const char *buf, size_t n, tn_model_spans *out);
int tn_tok_scan_vocab(const tn_model_spans *sp, tn_vocab *v);
typedef int (*tn_merge_fn)(void *ctx, size_t i, const char *a, size_t an, const char *b, size_t bn);
int tn_tok_scan_merges(const tn_model_spans *sp, tn_merge_fn fn, void *ctx);
/* Sets up the byte-level GPT-2 pipeline (ByteLevel pre-tokenizer + decoder). */
void tn_tok_setup_bytelevel(tn_tokenizer *tok);
/* Adds an added token; returns its index. */
size_t tn_tok_add_token(tn_tokenizer *tok, const char *s, size_t n, int32_t id, int special);

/* ---- encoding internals --------------------------------------------------- */
typedef struct {
    int32_t id;
    uint32_t start, len; /* bytes of the word covered */
    int32_t prev, next;
} tn_sym;
typedef struct {
    uint32_t rank, pos;
    int32_t out;
} tn_heap_item;
typedef struct {
    size_t a, b;
    int delim;
} tn_seg;
typedef struct {
    tn_sbuf fixed;          /* input after invalid UTF-8 repair */
    tn_sbuf norm[2];        /* normalizer ping-pong */
    tn_sbuf pt_text[2];     /* pre-tokenizer ping-pong */
    tn_spans pt_spans[2];
    tn_sections sections, subsections;
    tn_sym *syms;
    size_t nsyms_cap;
    tn_heap_item *heap;
    size_t heap_cap;
    tn_sbuf word; /* word with prefix/suffix, or a piece with a prefix space */
    tn_seg *segs; /* Split segments */
    size_t segs_cap;
    pcre2_match_data *md;
    tn_word_cache *cache; /* the tokenizer's cache when this call holds its lock */
} tn_enc_ctx;

/* Normalizes in[0..n); returns the result (pointer into ctx buffers or in). */
const char *tn_normalize(const tn_tokenizer *tok, tn_enc_ctx *ctx, const char *in, size_t n,
                         size_t *out_n);
/* Pre-tokenizes; the pieces end in ctx->pt_text[*which] / pt_spans[*which]. */
void tn_pretokenize(const tn_tokenizer *tok, tn_enc_ctx *ctx, const char *in, size_t n,
                    int first_section, int *which);
/* BPE on one pre-token; appends ids. */
void tn_bpe_word(const tn_tokenizer *tok, tn_enc_ctx *ctx, const char *w, size_t n,
                 tn_tok_ids *out);
/* Byte-level alphabet: byte -> UTF-8 of its stand-in character. */
extern const char *const tn_bytelevel_chars[256];
/* Stand-in code point -> byte, -1 if cp is not in the alphabet. */
int tn_bytelevel_byte(uint32_t cp);

#endif
