/* synthset.h - where a task's synthetic set comes from (setting synth.source).
 *
 *   builtin  the built-in rewording of the synthetic-source rows (judge/synth.h)
 *   llm      new rows written by an LLM behind an OpenAI-compatible endpoint
 *            (judge/synth_llm.h): synth.url (base URL, ".../v1"), synth.model,
 *            synth.key_file (a file on the validator's machine holding the API
 *            key; the key itself never enters the store), synth.examples,
 *            synth.max_tries, synth.temperature, synth.timeout_s; replies are
 *            cached under tasks/<id>/synth_cache/
 *   pool     rows drawn from a file of rows in the task's style that are not in
 *            its dataset: synth.pool.<dataset name> = a JSONL path on the
 *            validator's machine (the arena's WordNet pools, docs/arena-data.md)
 * When the chosen source fails, synth.fallback decides: "none" (default) fails
 * the task with the reason; "builtin" uses the built-in generator and says so
 * in the task's transition message. The seed is drawn once per task and kept
 * in tasks/<id>/synth_seed, so a restarted validator asks the same prompts
 * and finds its cached replies. docs/validator.md, "Synthetic sets".
 */
#ifndef TN_SYNTHSET_H
#define TN_SYNTHSET_H

#include "validator/vstate.h"
#include "data/format.h"

#include <jansson.h>

/* The synthetic set of task `task_id` (dataset `dataset`) made from the
 * synthetic-source rows src. NULL with the error set (the task's failure
 * reason). *note (heap, may be NULL) says which source made it, and why a
 * fallback was taken. */
json_t *v_synth_make(vstate *v, long long task_id, const char *dataset, const tn_data_spec *spec,
                     const json_t *src, char **note);

#endif
