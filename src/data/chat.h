/* chat.h - conversations rendered with built-in chat templates.
 *
 * Rows hold a list of messages, either OpenAI style
 *     "messages": [{"role": "user", "content": "..."}, ...]
 * or ShareGPT style
 *     "conversations": [{"from": "human", "value": "..."}, ...]
 * (from: human -> user, gpt -> assistant, system -> system; user and
 * assistant are accepted too). Roles other than system/user/assistant are
 * rejected: none of the built-in templates has a place for them.
 *
 * Built-in templates, each written to match the model family's published
 * Jinja chat_template with add_generation_prompt=false (tools/js-chat renders
 * the real templates with @huggingface/jinja for the tests to compare):
 *   chatml   <|im_start|>ROLE\nCONTENT<|im_end|>\n                no BOS
 *   llama3   BOS <|start_header_id|>ROLE<|end_header_id|>\n\nstrip(CONTENT)<|eot_id|>
 *   llama2   BOS[INST] <<SYS>>\nSYS\n<</SYS>>\n\nUSER [/INST] ASSISTANT EOS, BOS[INST] ...
 *   mistral  BOS[INST] USER [/INST]ASSISTANT EOS[INST] ...         (v0.2 form)
 *   alpaca   BOS SYS\n\n### Instruction:\nUSER\n\n### Response:\nASSISTANT EOS
 * Masking (as axolotl's chat_template strategy with its defaults): only the
 * assistant's content is trainable, together with what ends its turn
 * (<|im_end|>, <|eot_id|>, or the EOS flag); headers and every other role's
 * text are not. Deviations from the Jinja originals, by choice:
 *   - mistral's template rejects a system message; here it is put in front
 *     of the first user message followed by "\n\n" (as later Mistral
 *     templates do) rather than failing the row;
 *   - llama2 and mistral require user/assistant turns to alternate, as the
 *     originals do (raise_exception there, an error naming the row here);
 *   - "strip" removes ASCII whitespace only (Jinja's trim also removes
 *     Unicode spaces);
 *   - Qwen3's template, recognised as chatml, also writes an empty
 *     <think></think> block into the last assistant turn; that is not done.
 */
#ifndef TN_DATA_CHAT_H
#define TN_DATA_CHAT_H

#include "data/sample.h"

#include <jansson.h>

typedef enum {
    TN_TMPL_NONE = 0,
    TN_TMPL_CHATML,
    TN_TMPL_LLAMA2,
    TN_TMPL_LLAMA3,
    TN_TMPL_MISTRAL,
    TN_TMPL_ALPACA,
} tn_chat_template;

typedef enum { TN_ROLE_SYSTEM, TN_ROLE_USER, TN_ROLE_ASSISTANT } tn_chat_role;

typedef struct {
    tn_chat_role role;
    const char *content; /* borrowed from the row */
    size_t len;
} tn_chat_msg;

/* "chatml", "llama2", "llama3", "mistral", "alpaca". */
int tn_chat_template_parse(const char *name, tn_chat_template *out);
const char *tn_chat_template_name(tn_chat_template t);
const char *tn_chat_role_name(tn_chat_role r);
/* Which built-in template a Jinja chat_template string is, by distinctive
 * markers ("<|im_start|>", "<|start_header_id|>", "<<SYS>>" + "[INST]",
 * "[INST]", "### Instruction"); TN_TMPL_NONE when none fits. */
tn_chat_template tn_chat_template_recognise(const char *jinja);
/* Reads tokenizer_config.json's chat_template (a string, or HF's list of
 * {name, template} where "default" is taken) and recognises it. Fails,
 * naming the file, when it is absent or unrecognised. */
int tn_chat_template_from_tokenizer_config(const char *path, tn_chat_template *out);

/* Parses the row's message list. `field` names it; NULL means "messages",
 * else "conversations". *msgs (freed by the caller) borrows the row's
 * strings. `where` ("file: row 3") starts error messages. */
int tn_chat_parse(const json_t *row, const char *field, const char *where, tn_chat_msg **msgs,
                  size_t *n);
/* Renders messages into `out` (which must be empty). */
int tn_chat_render(tn_chat_template t, const tn_chat_msg *msgs, size_t n, const char *where,
                   tn_sample *out);
/* The prompt a model continues to answer the conversation: the messages
 * rendered as above, then the assistant's turn opened as the Jinja templates
 * do with add_generation_prompt=true (chatml "<|im_start|>assistant\n",
 * llama3 "<|start_header_id|>assistant<|end_header_id|>\n\n", alpaca
 * "\n\n### Response:\n"; llama2 and mistral end the user turn with
 * "[/INST]" and add nothing). So the result is the full rendering of the
 * conversation with its answer, cut where the answer's text begins. The last
 * message must be the user's. */
int tn_chat_render_prompt(tn_chat_template t, const tn_chat_msg *msgs, size_t n, const char *where,
                          tn_sample *out);

#endif
