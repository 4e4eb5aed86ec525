/* chat.c - message lists and built-in chat templates (see chat.h). */
#include "data/chat.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"
#include "data/sbuf.h"

#include <stdlib.h>
#include <string.h>

static const char *const g_tmpl_names[] = {
    [TN_TMPL_NONE] = "none",     [TN_TMPL_CHATML] = "chatml",   [TN_TMPL_LLAMA2] = "llama2",
    [TN_TMPL_LLAMA3] = "llama3", [TN_TMPL_MISTRAL] = "mistral", [TN_TMPL_ALPACA] = "alpaca",
};

int tn_chat_template_parse(const char *name, tn_chat_template *out) {
    for (int t = TN_TMPL_CHATML; t <= TN_TMPL_ALPACA; t++)
        if (name && strcmp(name, g_tmpl_names[t]) == 0) {
            *out = (tn_chat_template)t;
            return 0;
        }
    return tn_fail("unknown chat template '%s' (built in: chatml, llama2, llama3, mistral, alpaca)",
                   name ? name : "(null)");
}

const char *tn_chat_template_name(tn_chat_template t) {
    return (unsigned)t <= TN_TMPL_ALPACA ? g_tmpl_names[t] : "?";
}

const char *tn_chat_role_name(tn_chat_role r) {
    return r == TN_ROLE_SYSTEM ? "system" : r == TN_ROLE_USER ? "user" : "assistant";
}

tn_chat_template tn_chat_template_recognise(const char *j) {
    if (!j) return TN_TMPL_NONE;
    /* Most specific first: Llama 3 and ChatML markers are unique tokens;
     * Llama 2 and Mistral share [INST], Llama 2 adds the <<SYS>> block. */
    if (strstr(j, "<|start_header_id|>")) return TN_TMPL_LLAMA3;
    if (strstr(j, "<|im_start|>")) return TN_TMPL_CHATML;
    if (strstr(j, "[INST]")) return strstr(j, "<<SYS>>") ? TN_TMPL_LLAMA2 : TN_TMPL_MISTRAL;
    if (strstr(j, "### Instruction") && strstr(j, "### Response")) return TN_TMPL_ALPACA;
    return TN_TMPL_NONE;
}

int tn_chat_template_from_tokenizer_config(const char *path, tn_chat_template *out) {
    /* Int-as-real: Llama 3's config has model_max_length = 1e30 written as
     * an integer, which jansson otherwise rejects as too big. */
    json_error_t e;
    json_t *cfg = json_load_file(path, JSON_DECODE_INT_AS_REAL, &e);
    if (!cfg) {
        if (e.line < 0) return tn_fail("%s: %s", path, e.text);
        return tn_fail("%s:%d:%d: invalid JSON: %s", path, e.line, e.column, e.text);
    }
    const json_t *v = json_object_get(cfg, "chat_template");
    const char *text = NULL;
    if (json_is_string(v)) {
        text = json_string_value(v);
    } else if (json_is_array(v)) {
        /* Newer HF files keep several named templates; "default" is the one
         * apply_chat_template uses. */
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            const char *name = json_string_value(json_object_get(e, "name"));
            if (name && strcmp(name, "default") == 0) text = json_string_value(json_object_get(e, "template"));
        }
    }
    int rc = 0;
    if (!text) {
        rc = tn_fail("%s: field chat_template: %s; name the chat template explicitly", path,
                     v ? "no usable template (expected a string or a list with a \"default\" entry)" : "missing");
    } else {
        *out = tn_chat_template_recognise(text);
        if (*out == TN_TMPL_NONE)
            rc = tn_fail("%s: field chat_template: not one of the built-in templates "
                         "(chatml, llama2, llama3, mistral, alpaca); name one explicitly", path);
    }
    json_decref(cfg);
    return rc;
}

static int role_from(const char *s, int sharegpt, tn_chat_role *out) {
    if (strcmp(s, "system") == 0) *out = TN_ROLE_SYSTEM;
    else if (strcmp(s, "user") == 0 || (sharegpt && strcmp(s, "human") == 0)) *out = TN_ROLE_USER;
    else if (strcmp(s, "assistant") == 0 || (sharegpt && strcmp(s, "gpt") == 0)) *out = TN_ROLE_ASSISTANT;
    else return -1;
    return 0;
}

int tn_chat_parse(const json_t *row, const char *field, const char *where, tn_chat_msg **msgs, size_t *n) {
    *msgs = NULL;
    *n = 0;
    if (!field) field = json_object_get(row, "messages") ? "messages" : "conversations";
    /* ShareGPT rows say from/value; OpenAI rows role/content. Decided per
     * message so that a renamed column of either kind works. */
    const json_t *list = json_object_get(row, field);
    if (!list) return tn_fail("%s: field '%s': missing (expected a list of messages)", where, field);
    if (!json_is_array(list))
        return tn_fail("%s: field '%s': expected a list of messages, got %s", where, field, tn_json_type_name(list));
    if (json_array_size(list) == 0) return tn_fail("%s: field '%s': no messages", where, field);
    tn_chat_msg *m = tn_calloc(json_array_size(list), sizeof *m);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        if (!json_is_object(e)) {
            free(m);
            return tn_fail("%s: field '%s[%zu]': expected a message object, got %s", where, field, i,
                           tn_json_type_name(e));
        }
        int sharegpt = json_object_get(e, "from") != NULL;
        const char *rk = sharegpt ? "from" : "role", *ck = sharegpt ? "value" : "content";
        const json_t *role = json_object_get(e, rk), *content = json_object_get(e, ck);
        const char *bad = NULL;
        char detail[160] = "";
        if (!role) bad = rk, snprintf(detail, sizeof detail, "missing");
        else if (!json_is_string(role))
            bad = rk, snprintf(detail, sizeof detail, "expected a string, got %s", tn_json_type_name(role));
        else if (role_from(json_string_value(role), sharegpt, &m[i].role) != 0)
            bad = rk, snprintf(detail, sizeof detail, "unknown role '%.60s' (expected %s)", json_string_value(role),
                               sharegpt ? "human, gpt or system" : "system, user or assistant");
        else if (!content) bad = ck, snprintf(detail, sizeof detail, "missing");
        else if (!json_is_string(content))
            bad = ck, snprintf(detail, sizeof detail, "expected a string, got %s", tn_json_type_name(content));
        if (bad) {
            free(m);
            return tn_fail("%s: field '%s[%zu].%s': %s", where, field, i, bad, detail);
        }
        m[i].content = json_string_value(content);
        m[i].len = json_string_length(content);
    }
    *msgs = m;
    *n = json_array_size(list);
    return 0;
}

/* ASCII whitespace strip (Python str.strip() without Unicode spaces). */
static void strip(const char **s, size_t *len) {
    const char *p = *s;
    size_t n = *len;
    while (n && strchr(" \t\n\r\v\f", p[0])) p++, n--;
    while (n && strchr(" \t\n\r\v\f", p[n - 1])) n--;
    *s = p;
    *len = n;
}

#define ADD(s, lit, tr) tn_sample_add((s), (lit), strlen(lit), (tr))

static void render_chatml(const tn_chat_msg *m, size_t n, tn_sample *s) {
    for (size_t i = 0; i < n; i++) {
        int a = m[i].role == TN_ROLE_ASSISTANT;
        ADD(s, "<|im_start|>", 0);
        ADD(s, tn_chat_role_name(m[i].role), 0);
        ADD(s, "\n", 0);
        tn_sample_add(s, m[i].content, m[i].len, a);
        ADD(s, "<|im_end|>", a);
        ADD(s, "\n", 0);
    }
}

static void render_llama3(const tn_chat_msg *m, size_t n, tn_sample *s) {
    s->add_bos = 1;
    for (size_t i = 0; i < n; i++) {
        int a = m[i].role == TN_ROLE_ASSISTANT;
        const char *c = m[i].content;
        size_t len = m[i].len;
        strip(&c, &len);
        ADD(s, "<|start_header_id|>", 0);
        ADD(s, tn_chat_role_name(m[i].role), 0);
        ADD(s, "<|end_header_id|>\n\n", 0);
        tn_sample_add(s, c, len, a);
        ADD(s, "<|eot_id|>", a);
    }
}

static void render_alpaca(const tn_chat_msg *m, size_t n, tn_sample *s) {
    s->add_bos = 1;
    for (size_t i = 0; i < n; i++) {
        /* As the Jinja original: a system message counts only when first,
         * but every message, shown or not, is followed by the separator. */
        if (m[i].role == TN_ROLE_SYSTEM) {
            if (i == 0) tn_sample_add(s, m[i].content, m[i].len, 0);
        } else if (m[i].role == TN_ROLE_USER) {
            ADD(s, "### Instruction:\n", 0);
            tn_sample_add(s, m[i].content, m[i].len, 0);
        } else {
            ADD(s, "### Response:\n", 0);
            tn_sample_add(s, m[i].content, m[i].len, 1);
            tn_sample_mark_eos(s);
        }
        if (i + 1 < n) ADD(s, "\n\n", 0);
    }
}

/* Llama 2 and Mistral: optional leading system message, then strictly
 * user, assistant, user, ... */
static int check_alternation(const tn_chat_msg *m, size_t n, size_t first, const char *tmpl, const char *where) {
    for (size_t i = first; i < n; i++) {
        tn_chat_role want = (i - first) % 2 == 0 ? TN_ROLE_USER : TN_ROLE_ASSISTANT;
        if (m[i].role != want)
            return tn_fail("%s: message %zu: the %s template needs turns alternating user/assistant "
                           "(after an optional first system message), got %s where %s belongs",
                           where, i, tmpl, tn_chat_role_name(m[i].role), tn_chat_role_name(want));
    }
    return 0;
}

static int render_inst(const tn_chat_msg *m, size_t n, int llama2, const char *where, tn_sample *s) {
    size_t first = (n && m[0].role == TN_ROLE_SYSTEM) ? 1 : 0;
    if (check_alternation(m, n, first, llama2 ? "llama2" : "mistral", where) != 0) return -1;
    s->add_bos = 1;
    tn_sbuf u = {0};
    for (size_t i = first; i < n; i++) {
        if (m[i].role == TN_ROLE_USER) {
            tn_sbuf_reset(&u);
            tn_sbuf_puts(&u, "[INST] ");
            if (i == first && first) {
                if (llama2) {
                    /* Llama 2 strips the whole system block + message. */
                    tn_sbuf b = {0};
                    tn_sbuf_puts(&b, "<<SYS>>\n");
                    tn_sbuf_put(&b, m[0].content, m[0].len);
                    tn_sbuf_puts(&b, "\n<</SYS>>\n\n");
                    tn_sbuf_put(&b, m[i].content, m[i].len);
                    const char *c = b.p;
                    size_t len = b.n;
                    strip(&c, &len);
                    tn_sbuf_put(&u, c, len);
                    free(b.p);
                } else {
                    tn_sbuf_put(&u, m[0].content, m[0].len);
                    tn_sbuf_puts(&u, "\n\n");
                    tn_sbuf_put(&u, m[i].content, m[i].len);
                }
            } else {
                const char *c = m[i].content;
                size_t len = m[i].len;
                if (llama2) strip(&c, &len);
                tn_sbuf_put(&u, c, len);
            }
            tn_sbuf_puts(&u, " [/INST]");
            if (llama2 && i != first) tn_sample_add_bos(s, u.p, u.n, 0);
            else tn_sample_add(s, u.p, u.n, 0);
        } else if (llama2) {
            const char *c = m[i].content;
            size_t len = m[i].len;
            strip(&c, &len);
            ADD(s, " ", 1);
            tn_sample_add(s, c, len, 1);
            ADD(s, " ", 1);
            tn_sample_mark_eos(s);
        } else {
            tn_sample_add(s, m[i].content, m[i].len, 1);
            tn_sample_mark_eos(s);
        }
    }
    free(u.p);
    return 0;
}

int tn_chat_render(tn_chat_template t, const tn_chat_msg *msgs, size_t n, const char *where, tn_sample *out) {
    if (n == 0) return tn_fail("%s: no messages", where);
    switch (t) {
    case TN_TMPL_CHATML: render_chatml(msgs, n, out); return 0;
    case TN_TMPL_LLAMA3: render_llama3(msgs, n, out); return 0;
    case TN_TMPL_ALPACA: render_alpaca(msgs, n, out); return 0;
    case TN_TMPL_LLAMA2: return render_inst(msgs, n, 1, where, out);
    case TN_TMPL_MISTRAL: return render_inst(msgs, n, 0, where, out);
    case TN_TMPL_NONE: break;
    }
    return tn_fail("%s: chat rows need a chat template (chatml, llama2, llama3, mistral, alpaca)", where);
}

int tn_chat_render_prompt(tn_chat_template t, const tn_chat_msg *msgs, size_t n, const char *where,
                          tn_sample *out) {
    if (n && msgs[n - 1].role != TN_ROLE_USER)
        return tn_fail("%s: the last message is the %s's; a reply is generated for a user message", where,
                       tn_chat_role_name(msgs[n - 1].role));
    if (tn_chat_render(t, msgs, n, where, out)) return -1;
    switch (t) {
    case TN_TMPL_CHATML: ADD(out, "<|im_start|>assistant\n", 0); break;
    case TN_TMPL_LLAMA3: ADD(out, "<|start_header_id|>assistant<|end_header_id|>\n\n", 0); break;
    case TN_TMPL_ALPACA: ADD(out, "\n\n### Response:\n", 0); break;
    default: break; /* [INST] ... [/INST] already asks for the answer */
    }
    return 0;
}
