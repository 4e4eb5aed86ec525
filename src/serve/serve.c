/* serve.c - OpenAI-compatible chat completions on tuna's engine (see serve.h). */
#include "serve/serve.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "data/chat.h"
#include "infer/generate.h"
#include "model/lora.h"
#include "model/model.h"
#include "tok/tokenizer.h"
#include "train/examples.h"

#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct tn_serve {
    tn_model m;
    tn_tokenizer *tok;
    tn_chat_template tmpl;
    char *id, *key;
    int default_max_tokens;
    const char *turn_end; /* the template's end-of-turn text; NULL when the turn ends with EOS */
    int32_t turn_end_id;  /* its token id when it is one token, else -1 */
    pthread_mutex_t mu;   /* one generation at a time */
};

/* {"error": {"message", "type", "param", "code"}}: the shape OpenAI clients
 * parse; the server's own {"error": "..."} would make them fail on a string. */
static void oa_error(tn_http_req *r, int status, const char *type, const char *code, const char *fmt, ...)
    TN_PRINTF(5, 6);
static void oa_error(tn_http_req *r, int status, const char *type, const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tn_http_reply_json(r, status,
                       json_pack("{s:{s:s, s:s, s:n, s:o}}", "error", "message", msg, "type", type, "param", "code",
                                 code ? json_string(code) : json_null()));
}

tn_serve *tn_serve_new(const tn_serve_opts *o) {
    tn_serve *s = tn_calloc(1, sizeof *s);
    s->turn_end_id = -1;
    if (tn_model_load(&s->m, o->model_dir, 1)) {
        free(s);
        return NULL;
    }
    int rc = 0;
    if (o->adapter_dir) {
        tn_lora lo;
        rc = tn_lora_load(&s->m, &lo, o->adapter_dir);
        if (rc == 0) {
            tn_lora_merge(&s->m, &lo);
            tn_lora_free(&lo);
        } else {
            tn_err_prefix("--adapter %s", o->adapter_dir);
        }
    }
    /* tn_tok_load finds tokenizer.json, GPT-2's files or llama2.c's tokenizer.bin */
    if (rc == 0 && !(s->tok = tn_tok_load(o->model_dir))) rc = tn_err_prefix("tokenizer of %s", o->model_dir);
    if (rc == 0 && o->chat_template) {
        rc = tn_chat_template_parse(o->chat_template, &s->tmpl);
    } else if (rc == 0) {
        char *cfg = tn_path_join(o->model_dir, "tokenizer_config.json");
        rc = tn_chat_template_from_tokenizer_config(cfg, &s->tmpl);
        if (rc) tn_err_prefix("no --chat-template given");
        free(cfg);
    }
    if (rc) {
        tn_serve_free(s);
        return NULL;
    }
    /* The turn's closing marker: ChatML and Llama 3 close the assistant's
     * turn with a marker that is not always the tokenizer's EOS (Qwen base
     * models say <|endoftext|>); generation stops at either. */
    s->turn_end = s->tmpl == TN_TMPL_CHATML ? "<|im_end|>" : s->tmpl == TN_TMPL_LLAMA3 ? "<|eot_id|>" : NULL;
    if (s->turn_end) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (tn_tok_encode(s->tok, s->turn_end, strlen(s->turn_end), 0, &ids, &n) == 0 && n == 1)
            s->turn_end_id = ids[0];
        free(ids);
    }
    if (o->model_id) {
        s->id = tn_strdup(o->model_id);
    } else {
        const char *d = o->model_dir;
        size_t len = strlen(d);
        while (len > 1 && d[len - 1] == '/') len--;
        size_t b = len;
        while (b > 0 && d[b - 1] != '/') b--;
        s->id = tn_sprintf("%.*s", (int)(len - b), d + b);
    }
    s->key = o->api_key ? tn_strdup(o->api_key) : NULL;
    s->default_max_tokens = o->default_max_tokens > 0 ? o->default_max_tokens : 256;
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void tn_serve_free(tn_serve *s) {
    if (!s) return;
    if (s->id) pthread_mutex_destroy(&s->mu); /* initialised only on success */
    tn_tok_free(s->tok);
    tn_model_free(&s->m);
    free(s->id);
    if (s->key) sodium_memzero(s->key, strlen(s->key));
    free(s->key);
    free(s);
}

const char *tn_serve_model_id(const tn_serve *s) { return s->id; }
const char *tn_serve_template_name(const tn_serve *s) { return tn_chat_template_name(s->tmpl); }

/* Bearer check in constant time over the key's length. 1 when allowed. */
static int authorised(tn_serve *s, tn_http_req *r) {
    if (!s->key) return 1;
    const char *h = tn_http_header(r, "Authorization");
    size_t kl = strlen(s->key);
    if (!h || strncmp(h, "Bearer ", 7) != 0 || strlen(h + 7) != kl || sodium_memcmp(h + 7, s->key, kl) != 0) {
        oa_error(r, 401, "invalid_request_error", "invalid_api_key",
                 h ? "Incorrect API key provided" : "Missing bearer token (Authorization: Bearer KEY)");
        return 0;
    }
    return 1;
}

static void on_models(tn_http_req *r, void *ud) {
    tn_serve *s = ud;
    if (!authorised(s, r)) return;
    tn_http_reply_json(r, 200,
                       json_pack("{s:s, s:[{s:s, s:s, s:I, s:s}]}", "object", "list", "data", "id", s->id, "object",
                                 "model", "created", (json_int_t)0, "owned_by", "tuna"));
}

/* The request's sampling fields, checked. 0, or -1 after replying 400. */
typedef struct {
    int max_tokens;
    tn_sampler_cfg sc;
    uint64_t seed;
} gen_params;

static int number_field(tn_http_req *r, const json_t *req, const char *name, double lo, double hi, double *out) {
    const json_t *v = json_object_get(req, name);
    if (!v || json_is_null(v)) return 0;
    double x = json_number_value(v);
    if (!json_is_number(v) || !isfinite(x) || x < lo || x > hi) {
        oa_error(r, 400, "invalid_request_error", NULL, "field '%s': expected a number in [%g, %g]", name, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int read_params(tn_serve *s, tn_http_req *r, const json_t *req, gen_params *p) {
    double max_tokens = s->default_max_tokens, temperature = 1.0, top_p = 1.0, seed = -1, n = 1;
    const json_t *mct = json_object_get(req, "max_completion_tokens");
    if (number_field(r, req, mct ? "max_completion_tokens" : "max_tokens", 1, 1 << 20, &max_tokens) ||
        number_field(r, req, "temperature", 0, 2, &temperature) || number_field(r, req, "top_p", 1e-6, 1, &top_p) ||
        number_field(r, req, "seed", 0, 9007199254740992.0, &seed) || number_field(r, req, "n", 1, 1, &n))
        return -1;
    if (json_is_true(json_object_get(req, "stream"))) {
        oa_error(r, 400, "invalid_request_error", NULL, "field 'stream': streaming is not supported by tuna serve");
        return -1;
    }
    p->max_tokens = (int)max_tokens;
    p->sc.temperature = (float)temperature;
    p->sc.top_k = 0;
    p->sc.top_p = (float)top_p;
    if (seed >= 0) p->seed = (uint64_t)seed;
    else randombytes_buf(&p->seed, sizeof p->seed);
    return 0;
}

/* Prompt ids as training sees the same conversation: the template's
 * segments tokenized one by one with BOS/EOS flags as ids (train/examples.h),
 * so a model fine-tuned by tuna is asked in exactly its training format. */
static int prompt_ids(tn_serve *s, const json_t *req, int32_t **ids, size_t *n) {
    tn_chat_msg *msgs = NULL;
    size_t nm = 0;
    tn_sample smp;
    tn_sample_init(&smp);
    tn_examples ex;
    tn_examples_init(&ex);
    int rc = tn_chat_parse(req, "messages", "request", &msgs, &nm);
    if (rc == 0) rc = tn_chat_render_prompt(s->tmpl, msgs, nm, "request", &smp);
    /* every token counts as scored, so no prompt of two or more tokens is dropped */
    if (rc == 0 && tn_examples_add(&ex, s->tok, &smp, INT32_MAX, 1) != 1)
        rc = ex.n ? -1 : tn_fail("request: the prompt encodes to fewer than two tokens");
    if (rc == 0) {
        *n = tn_example_len(&ex, 0);
        *ids = tn_malloc(sizeof(int32_t) * *n);
        memcpy(*ids, ex.ids, sizeof(int32_t) * *n);
    }
    tn_examples_free(&ex);
    tn_sample_free(&smp);
    free(msgs);
    return rc;
}

typedef struct {
    int32_t turn_end_id;
} stop_at;

static int on_token(int32_t id, void *user) {
    const stop_at *st = user;
    return st->turn_end_id >= 0 && id == st->turn_end_id;
}

/* The reply's text as `tuna generate` prints it: the whole sequence decoded
 * minus what the prompt decodes to (decoding the new ids alone would lose
 * SentencePiece's word-boundary space), cut at the turn's end marker. */
static char *reply_text(tn_serve *s, const int32_t *all, size_t n_prompt, size_t n_all, int *cut) {
    size_t lp = 0, la = 0;
    char *p = tn_tok_decode(s->tok, all, n_prompt, 1, &lp), *a = tn_tok_decode(s->tok, all, n_all, 1, &la);
    char *text = NULL;
    if (p && a) {
        if (la >= lp && memcmp(a, p, lp) == 0) text = tn_strdup(a + lp);
        else text = tn_tok_decode(s->tok, all + n_prompt, n_all - n_prompt, 1, &la);
    }
    free(p);
    free(a);
    char *end = text && s->turn_end ? strstr(text, s->turn_end) : NULL;
    *cut = end != NULL;
    if (end) *end = 0;
    return text;
}

static void on_chat(tn_http_req *r, void *ud) {
    tn_serve *s = ud;
    if (!authorised(s, r)) return;
    json_error_t je;
    json_t *req = json_loadb(r->body, r->body_len, 0, &je);
    if (!req || !json_is_object(req)) {
        if (req) oa_error(r, 400, "invalid_request_error", NULL, "the body must be a JSON object");
        else oa_error(r, 400, "invalid_request_error", NULL, "invalid JSON at line %d column %d: %s", je.line,
                      je.column, je.text);
        json_decref(req);
        return;
    }
    const char *model = json_string_value(json_object_get(req, "model"));
    gen_params gp;
    int32_t *ids = NULL, *out = NULL;
    size_t n = 0;
    if (model && strcmp(model, s->id) != 0) {
        oa_error(r, 404, "invalid_request_error", "model_not_found", "The model '%s' does not exist (served: '%s')",
                 model, s->id);
    } else if (read_params(s, r, req, &gp) == 0) {
        if (prompt_ids(s, req, &ids, &n)) {
            oa_error(r, 400, "invalid_request_error", NULL, "%s", tn_errmsg());
        } else if (n >= (size_t)s->m.cfg.max_positions) {
            oa_error(r, 400, "invalid_request_error", "context_length_exceeded",
                     "the prompt has %zu tokens; the model's context is %d", n, s->m.cfg.max_positions);
        } else {
            long cap = (long)n + gp.max_tokens;
            if (cap > s->m.cfg.max_positions) cap = s->m.cfg.max_positions;
            out = tn_malloc(sizeof(int32_t) * (size_t)gp.max_tokens);
            ids = tn_realloc(ids, sizeof(int32_t) * (size_t)cap);
            tn_infer inf;
            tn_sampler sp;
            int n_out = 0, rc = -1;
            stop_at st = {s->turn_end_id};
            pthread_mutex_lock(&s->mu);
            if (tn_infer_init(&inf, &s->m, (int)cap) == 0) {
                if (tn_sampler_init(&sp, s->m.cfg.vocab_size, &gp.sc, gp.seed) == 0) {
                    rc = tn_generate(&inf, &sp, ids, (int)n, gp.max_tokens, tn_tok_eos_id(s->tok), out, &n_out,
                                     on_token, &st);
                    tn_sampler_free(&sp);
                }
                tn_infer_free(&inf);
            }
            pthread_mutex_unlock(&s->mu);
            int cut = 0;
            char *text = NULL;
            if (rc == 0) {
                memcpy(ids + n, out, sizeof(int32_t) * (size_t)n_out);
                text = reply_text(s, ids, n, n + (size_t)n_out, &cut);
            }
            if (!text) {
                oa_error(r, 500, "server_error", NULL, "generation failed: %s", tn_errmsg());
            } else {
                int32_t last = n_out ? out[n_out - 1] : -1;
                int stopped = cut || (last >= 0 && (last == tn_tok_eos_id(s->tok) || last == s->turn_end_id));
                unsigned char rnd[12];
                char hex[sizeof rnd * 2 + 1], cid[64];
                randombytes_buf(rnd, sizeof rnd);
                sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
                snprintf(cid, sizeof cid, "chatcmpl-%s", hex);
                json_t *resp = json_pack(
                    "{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s}, s:s}], s:{s:I, s:I, s:I}}", "id", cid,
                    "object", "chat.completion", "created", (json_int_t)tn_wall_now(), "model", s->id,
                    "choices", "index", 0, "message", "role", "assistant", "content", text, "finish_reason",
                    stopped ? "stop" : "length", "usage", "prompt_tokens", (json_int_t)n, "completion_tokens",
                    (json_int_t)n_out, "total_tokens", (json_int_t)(n + (size_t)n_out));
                tn_http_reply_json(r, 200, resp);
            }
            free(text);
        }
    }
    free(ids);
    free(out);
    json_decref(req);
}

int tn_serve_routes(tn_serve *s, tn_http_server *srv) {
    tn_http_route chat = {"POST", "/v1/chat/completions", TN_ROUTE_EXACT, 4u << 20, NULL, on_chat, s};
    tn_http_route models = {"GET", "/v1/models", TN_ROUTE_EXACT, 0, NULL, on_models, s};
    return tn_http_server_route(srv, &chat) || tn_http_server_route(srv, &models) ? -1 : 0;
}
