/* synth_llm.h - synthetic rows written by an LLM behind an OpenAI-compatible
 * endpoint.
 *
 * The built-in generator (synth.h) rewords held-out rows of the task's own
 * dataset; a miner who has the public dataset the task was drawn from has
 * those rows too. An LLM asked for NEW rows in the task's style writes rows
 * that no public dataset holds, so training on the whole public source cannot
 * lower the synthetic loss while it lowers the test loss (the leak rule's
 * evidence). For each row wanted:
 *   1. a few example rows are drawn (seeded) from the synthetic-source rows;
 *   2. POST BASE/chat/completions {model, messages, temperature, max_tokens,
 *      seed} with a prompt that shows them one JSON object a line and asks
 *      for one new row, as a JSON object with exactly the same keys;
 *   3. the reply's first {...} is parsed and checked: an object with the
 *      examples' keys and value types, that formats with the task's dataset
 *      type (data/format.h) and has a response, and that renders to none of
 *      the source rows nor an earlier new row (hash of the rendered sample);
 *   4. a failed try (transport, HTTP status, no JSON, invalid row, a copy) is
 *      retried with other examples and another seed, at most max_tries times
 *      per row; a row that fails them all fails the whole set, with the last
 *      reason (the caller records it; nothing partial is returned).
 * Cache: each 200 reply's content is kept under cache_dir as
 * <sha256(request body)>.txt before it is judged, so a validator restarted
 * with the same seed replays the same replies and pays for none of them
 * again. The request body holds the model, the prompt and the seed, so a
 * changed setting is a new key. docs/validator.md, "Synthetic sets".
 */
#ifndef TN_SYNTH_LLM_H
#define TN_SYNTH_LLM_H

#include "data/format.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *base_url;  /* OpenAI base URL, e.g. "http://127.0.0.1:8000/v1" */
    const char *model;     /* the "model" field sent */
    const char *api_key;   /* sent as "Authorization: Bearer KEY"; NULL: none */
    const char *cache_dir; /* replies kept here (created); NULL: no cache */
    int examples;          /* example rows in each prompt; 0 = 3 */
    int max_tries;         /* tries per row; 0 = 4 */
    double temperature;    /* < 0: 1.0 */
    int max_tokens;        /* reply budget; 0 = 512 */
    long timeout_ms;       /* per request; 0 = 120000 */
    atomic_int *stop;      /* nonzero: give up before the next request (a stopping validator); NULL: never */
} tn_synth_llm_opts;

typedef struct {
    size_t requests;   /* HTTP requests sent */
    size_t cache_hits; /* replies read from the cache */
    size_t rejected;   /* tries that did not give a usable row */
} tn_synth_llm_stats;

/* n new rows in the style of `src` (a non-empty JSON array of row objects
 * with the columns spec reads), seeded by seed. NULL with the error set
 * ("synthetic rows from URL (model M): row 3 of 20: 4 tries failed, last:
 * ..."). st may be NULL. */
json_t *tn_synth_llm_rows(const json_t *src, const tn_data_spec *spec, size_t n, uint64_t seed,
                          const tn_synth_llm_opts *o, tn_synth_llm_stats *st);

/* The row in an assistant's reply: the text from its first '{' to its last
 * '}' parsed as JSON (models often wrap it in prose or a code fence), checked
 * against the example row's keys and value types. NULL with the error set. */
json_t *tn_synth_llm_parse_row(const char *content, const json_t *example);

#endif
