/* synth.h - the synthetic evaluation set, made at evaluation time.
 *
 * A miner that found the test set (or memorised its source) scores
 * suspiciously well on it; a synthetic set that did not exist when the miner
 * trained cannot have leaked. The validator makes it from its own held-out
 * rows, never the test rows (validator/prepare.h says why). The built-in
 * generator rewrites those rows
 * so that the expected answer stays right: only the prompt side changes, in
 * ways that keep its meaning -
 *   - a lead-in phrase from a fixed list ("Please answer the following.",
 *     "Task:", ...) put before the instruction;
 *   - whitespace normalised (runs of spaces collapsed, line ends trimmed);
 *   - a few common words swapped for synonyms ("Calculate" -> "Compute",
 *     "Write" -> "Compose", "Explain" -> "Describe", ...), whole words only,
 *     capitalisation kept.
 * The response column is never touched. Each row gets a different mix, drawn
 * from a seed that is secret to the validator and fresh per evaluation.
 * New rows written by an LLM through an OpenAI-compatible endpoint:
 * synth_llm.h; which generator a task uses: validator/synthset.h.
 */
#ifndef TN_SYNTH_H
#define TN_SYNTH_H

#include "data/format.h"

#include <jansson.h>
#include <stdint.h>

/* Rewrites the prompt columns (instruction, input, system; text rows: not
 * changed, chat rows: user turns) of each row of `rows` (a JSON array of
 * objects, not modified) and returns a new array of the same length. */
json_t *tn_synth_rows(const json_t *rows, const tn_data_spec *spec, uint64_t seed);

/* One string rewritten (exposed for tests). Heap string. */
char *tn_synth_rewrite_text(const char *text, uint64_t seed, int lead_in);

#endif
