/* serve.h - an OpenAI-compatible chat server on tuna's own engine.
 *
 * `tuna serve` puts a model directory behind the two routes clients of the
 * OpenAI API use most, so that anything that speaks that API (the
 * validator's synthetic-row generator, judge/synth_llm.h, among others) can
 * run against a local model over real HTTP:
 *   POST /v1/chat/completions  messages -> the model's chat template
 *                              (data/chat.h, with the assistant turn opened)
 *                              -> tokens -> infer/generate.h -> text
 *   GET  /v1/models            the one model served
 * Replies and errors have the OpenAI shapes (docs/serve.md). Requests are
 * served one generation at a time (the model's weights and kernels are
 * shared); each request has its own KV cache and sampler.
 */
#ifndef TN_SERVE_H
#define TN_SERVE_H

#include "net/http_server.h"

typedef struct tn_serve tn_serve;

typedef struct {
    const char *model_dir;     /* HF model directory (config, safetensors, tokenizer) */
    const char *adapter_dir;   /* PEFT LoRA adapter merged in first; NULL: none */
    const char *chat_template; /* built-in template name; NULL: the one tokenizer_config.json names */
    const char *model_id;      /* the id clients see and may send; NULL: the directory's last name */
    const char *api_key;       /* required as "Authorization: Bearer KEY"; NULL: no check */
    int default_max_tokens;    /* when a request names none; 0 = 256 */
} tn_serve_opts;

/* Loads the model, tokenizer and chat template. NULL with the error set. */
tn_serve *tn_serve_new(const tn_serve_opts *o);
/* Registers the routes on srv (before tn_http_server_start). */
int tn_serve_routes(tn_serve *s, tn_http_server *srv);
const char *tn_serve_model_id(const tn_serve *s);
const char *tn_serve_template_name(const tn_serve *s);
void tn_serve_free(tn_serve *s);

#endif
