/* test_serve.c - `tuna serve` and the synthetic-row client, over real HTTP.
 *
 * (a) `tuna serve` runs as its own process on stories260K with a chat
 *     template; a chat completion's reply must equal what `tuna generate`
 *     (the independent path: a plain prompt string) continues, greedy and
 *     seeded, where the prompt is taken from the real Jinja template's
 *     rendering ($FIXTURES/chat, tools/js-chat): the rendering of the
 *     conversation with its answer, cut where the answer's text begins. One
 *     template comes from tokenizer_config.json's chat_template (Llama 3.1's
 *     real one), the others from --chat-template.
 * (b) OpenAI-shaped errors: bad JSON, no messages, a last message that is not
 *     the user's, an unknown model, streaming, bad numbers, a missing or
 *     wrong bearer key.
 * (c) judge/synth_llm against that server: stories260K writes no JSON, so
 *     every try fails and the set fails with the reason; the replies are
 *     cached, and a second run sends no request.
 * (d) judge/synth_llm against an endpoint that answers with rows: a reply
 *     without JSON, one that copies an example row and one with a wrong key
 *     are retried; the rows kept are new, have the examples' columns and
 *     format with the task's dataset type.
 */
#include "harness.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"
#include "base/spawn.h"
#include "data/chat.h"
#include "judge/synth_llm.h"
#include "net/http_client.h"
#include "net/http_server.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *fixtures(void) {
    const char *f = getenv("FIXTURES");
    return f ? f : "build/fixtures";
}

static char g_model[512], g_url[256];
static pid_t g_serve;
static const char *KEY = "sk-test-0123456789";

/* Starts `tuna serve` with extra args; 0 with g_url set. */
static int start_serve(const char *tmpl) {
    const char *tmp = tn_t_tmpdir();
    char *ready = tn_sprintf("%s/ready.json", tmp), *log = tn_sprintf("%s/serve.log", tmp),
         *keyf = tn_sprintf("%s/key", tmp);
    remove(ready);
    tn_write_file_atomic(keyf, KEY, strlen(KEY));
    char *argv[16];
    int a = 0;
    argv[a++] = (char *)tn_t_tuna();
    argv[a++] = "serve";
    argv[a++] = "--model";
    argv[a++] = g_model;
    argv[a++] = "--listen";
    argv[a++] = "127.0.0.1:0";
    argv[a++] = "--ready-file";
    argv[a++] = ready;
    argv[a++] = "--api-key-file";
    argv[a++] = keyf;
    if (tmpl) {
        argv[a++] = "--chat-template";
        argv[a++] = (char *)tmpl;
    }
    argv[a] = NULL;
    tn_spawn_opts so = {.err_path = log, .out_path = log};
    int rc = tn_spawn(argv, &so, &g_serve);
    for (int i = 0; rc == 0 && i < 600 && !tn_file_exists(ready); i++) usleep(50000);
    json_t *j = rc == 0 ? json_load_file(ready, 0, NULL) : NULL;
    if (j) snprintf(g_url, sizeof g_url, "%s", json_string_value(json_object_get(j, "url")));
    else fprintf(stderr, "  tuna serve did not start (log %s)\n", log);
    json_decref(j);
    free(ready);
    free(log);
    free(keyf);
    return j ? 0 : -1;
}

static void stop_serve(void) {
    if (g_serve > 0) {
        kill(g_serve, SIGTERM);
        tn_spawn_end e;
        tn_spawn_wait(g_serve, &e);
        g_serve = 0;
    }
}

/* POST /v1/chat/completions; the reply (status in *status). */
static json_t *chat(json_t *body, const char *key, long *status) {
    char *url = tn_sprintf("%s/v1/chat/completions", g_url);
    tn_http_opts o = {.timeout_ms = 120000, .bearer = key};
    tn_http_resp r = {0};
    *status = -1;
    json_t *out = NULL;
    if (tn_http_json(&o, "POST", url, body, &r) == 0) {
        *status = r.status;
        out = json_incref(r.json);
    }
    tn_http_resp_free(&r);
    json_decref(body);
    free(url);
    return out;
}

/* `tuna generate --model g_model ARGS`: its stdout without the final "\n". */
static char *generate(const char *prompt, char *const extra[]) {
    char *out = tn_sprintf("%s/gen.out", tn_t_tmpdir());
    char *argv[24] = {(char *)tn_t_tuna(), "generate", "--model", g_model, "--prompt", (char *)prompt};
    int a = 6;
    for (int i = 0; extra[i]; i++) argv[a++] = extra[i];
    argv[a] = NULL;
    tn_spawn_opts so = {.out_path = out, .truncate = 1};
    pid_t pid;
    tn_spawn_end e = {.code = -1};
    char *text = NULL;
    size_t len;
    if (tn_spawn(argv, &so, &pid) == 0 && tn_spawn_wait(pid, &e) == 0 && e.code == 0 &&
        (text = tn_read_file(out, &len)) && len && text[len - 1] == '\n')
        text[len - 1] = 0;
    free(out);
    return text;
}

/* The fixture's first conversation, without its answer, and the prompt the
 * real template gives it: the full rendering cut where the answer begins
 * (spaces before it belong to the answer's turn in llama2), BOS removed
 * (tuna generate puts the tokenizer's own in front). */
static int fixture_prompt(const char *tmpl, json_t **msgs, char **prompt) {
    char *path = tn_sprintf("%s/chat/%s.json", fixtures(), tmpl);
    json_t *f = json_load_file(path, 0, NULL);
    free(path);
    if (!f) return -1;
    json_t *c = json_array_get(json_object_get(f, "cases"), 0);
    json_t *m = json_deep_copy(json_object_get(c, "messages"));
    size_t n = json_array_size(m);
    const char *answer = json_string_value(json_object_get(json_array_get(m, n - 1), "content"));
    const char *text = json_string_value(json_object_get(c, "text"));
    const char *bos = json_string_value(json_object_get(f, "bos"));
    const char *at = strstr(text, answer);
    if (!at) {
        json_decref(f);
        json_decref(m);
        return -1;
    }
    size_t bl = bos && !strncmp(text, bos, strlen(bos)) ? strlen(bos) : 0, end = (size_t)(at - text);
    while (end > bl && text[end - 1] == ' ') end--;
    *prompt = tn_sprintf("%.*s", (int)(end - bl), text + bl);
    json_array_remove(m, n - 1);
    *msgs = m;
    json_decref(f);
    return 0;
}

/* Greedy and seeded replies equal tuna generate's on the template's prompt. */
static void check_template(const char *tmpl) {
    json_t *msgs = NULL;
    char *prompt = NULL;
    CHECKF(fixture_prompt(tmpl, &msgs, &prompt) == 0, "fixture chat/%s.json", tmpl);
    if (!prompt) return;
    long st;
    json_t *r = chat(json_pack("{s:O, s:i, s:i}", "messages", msgs, "max_tokens", 24, "temperature", 0), KEY, &st);
    const char *content = json_string_value(
        json_object_get(json_object_get(json_array_get(json_object_get(r, "choices"), 0), "message"), "content"));
    char *extra[] = {"--greedy", "--max-new-tokens", "24", NULL};
    char *want = generate(prompt, extra);
    CHECKF(st == 200 && content && want && !strcmp(content, want), "%s greedy: serve '%s' (HTTP %ld) vs generate '%s'",
           tmpl, content ? content : "-", st, want ? want : "-");
    json_t *usage = json_object_get(r, "usage");
    CHECK(json_integer_value(json_object_get(usage, "completion_tokens")) >= 1);
    CHECK(json_integer_value(json_object_get(usage, "total_tokens")) ==
          json_integer_value(json_object_get(usage, "prompt_tokens")) +
              json_integer_value(json_object_get(usage, "completion_tokens")));
    CHECK(!strcmp(json_string_value(json_object_get(r, "object")), "chat.completion"));
    json_decref(r);
    free(want);
    /* sampled: temperature 0.8, no top-k, no top-p, seed 7 on both sides */
    r = chat(json_pack("{s:O, s:i, s:f, s:i, s:i}", "messages", msgs, "max_tokens", 24, "temperature", 0.8, "seed",
                       7, "top_p", 1),
             KEY, &st);
    content = json_string_value(
        json_object_get(json_object_get(json_array_get(json_object_get(r, "choices"), 0), "message"), "content"));
    char *extra2[] = {"--temperature", "0.8", "--top-k", "0", "--top-p", "1", "--seed", "7", "--max-new-tokens", "24",
                      NULL};
    want = generate(prompt, extra2);
    CHECKF(st == 200 && content && want && !strcmp(content, want), "%s seed 7: serve '%s' vs generate '%s'", tmpl,
           content ? content : "-", want ? want : "-");
    json_decref(r);
    free(want);
    free(prompt);
    json_decref(msgs);
}

/* tn_chat_render_prompt, in process, for all five templates: the rendering
 * with the fixture's bos/eos strings where the flags are equals the Jinja
 * rendering of the conversation with its answer, cut where the answer's text
 * begins (spaces before it belong to the answer's turn: llama2). */
TEST(generation_prompt_is_the_templates_cut) {
    const char *names[] = {"chatml", "llama3", "llama2", "mistral", "alpaca"};
    for (int k = 0; k < 5; k++) {
        char *path = tn_sprintf("%s/chat/%s.json", fixtures(), names[k]);
        json_t *f = json_load_file(path, 0, NULL);
        free(path);
        if (!f) SKIP("no $FIXTURES/chat (make fixtures)");
        size_t ci;
        json_t *c;
        json_array_foreach(json_object_get(f, "cases"), ci, c) {
            json_t *row = json_pack("{s:O}", "messages", json_object_get(c, "messages"));
            json_t *msgs = json_object_get(row, "messages");
            size_t n = json_array_size(msgs);
            const char *answer = json_string_value(json_object_get(json_array_get(msgs, n - 1), "content"));
            const char *text = json_string_value(json_object_get(c, "text"));
            /* the answer as the template writes it: llama2/llama3 strip it */
            const char *role = json_string_value(json_object_get(json_array_get(msgs, n - 1), "role"));
            if (!answer || !role || strcmp(role, "assistant")) {
                json_decref(row);
                continue;
            }
            const char *a = answer;
            size_t al = strlen(a);
            while (al && strchr(" \n", a[0])) a++, al--;
            while (al && strchr(" \n", a[al - 1])) al--;
            const char *at = NULL;
            for (const char *p = text; (p = memmem(p, strlen(p), a, al)); p++) at = p; /* the last */
            CHECKF(at != NULL, "%s case %zu: answer not in the text", names[k], ci);
            if (!at) {
                json_decref(row);
                continue;
            }
            size_t end = (size_t)(at - text);
            while (end > 0 && text[end - 1] == ' ') end--;
            json_array_remove(msgs, n - 1);
            tn_chat_template t;
            tn_chat_msg *m = NULL;
            size_t nm = 0;
            tn_sample smp;
            tn_sample_init(&smp);
            CHECK(tn_chat_template_parse(names[k], &t) == 0 && tn_chat_parse(row, "messages", "case", &m, &nm) == 0);
            CHECKF(tn_chat_render_prompt(t, m, nm, "case", &smp) == 0, "%s", tn_errmsg());
            size_t len;
            char *got = tn_sample_render(&smp, json_string_value(json_object_get(f, "bos")),
                                         json_string_value(json_object_get(f, "eos")), &len);
            CHECKF(len == end && !memcmp(got, text, end), "%s case %zu:\n got  '%s'\n want '%.*s'", names[k], ci, got,
                   (int)end, text);
            free(got);
            free(m);
            tn_sample_free(&smp);
            json_decref(row);
        }
        json_decref(f);
    }
}

TEST(serve_matches_generate) {
    const char *tmp = tn_t_tmpdir();
    snprintf(g_model, sizeof g_model, "%s/stories260K", tmp);
    if (tn_t_stories260k(g_model)) SKIP("stories260K (../shared/data) not available");
    char *cfgp = tn_sprintf("%s/chat/llama3.json", fixtures());
    json_t *fx = json_load_file(cfgp, 0, NULL);
    free(cfgp);
    if (!fx) SKIP("no $FIXTURES/chat/llama3.json (make fixtures)");
    /* the model's own chat template: Llama 3.1's, in tokenizer_config.json */
    char *tc = tn_sprintf("%s/tokenizer_config.json", g_model);
    json_t *cfg = json_load_file(tc, 0, NULL);
    CHECK(cfg != NULL);
    json_object_set(cfg, "chat_template", json_object_get(fx, "chat_template"));
    CHECK(json_dump_file(cfg, tc, 0) == 0);
    json_decref(cfg);
    json_decref(fx);
    free(tc);
    CHECK(start_serve(NULL) == 0);
    check_template("llama3");
    stop_serve();
    const char *named[] = {"llama2", "mistral", "alpaca"};
    for (int i = 0; i < 3; i++) {
        CHECK(start_serve(named[i]) == 0);
        check_template(named[i]);
        stop_serve();
    }
}

static void check_error(json_t *body, const char *key, long want_status, const char *needle) {
    long st;
    json_t *r = chat(body, key, &st);
    const char *msg = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
    const char *type = json_string_value(json_object_get(json_object_get(r, "error"), "type"));
    CHECKF(st == want_status && msg && type && strstr(msg, needle), "want %ld '%s', got %ld '%s'", want_status, needle,
           st, msg ? msg : "-");
    json_decref(r);
}

TEST(serve_errors) {
    char *cfg = tn_sprintf("%s/config.json", g_model);
    int have = g_model[0] && tn_file_exists(cfg);
    free(cfg);
    if (!have) SKIP("stories260K not available");
    CHECK(start_serve("chatml") == 0);
    /* bad JSON: sent as raw bytes */
    char *url = tn_sprintf("%s/v1/chat/completions", g_url);
    tn_http_opts o = {.timeout_ms = 30000, .bearer = KEY};
    tn_http_resp r = {0};
    CHECK(tn_http_request(&o, "POST", url, "application/json", "{\"messages\": [", 14, &r) == 0);
    CHECK(r.status == 400 && strstr(r.body, "invalid JSON") && strstr(r.body, "invalid_request_error"));
    tn_http_resp_free(&r);
    free(url);
    json_t *user = json_pack("[{s:s, s:s}]", "role", "user", "content", "hi");
    check_error(json_pack("{s:s}", "model", "stories260K"), KEY, 400, "field 'messages': missing");
    check_error(json_pack("{s:[{s:s, s:s}]}", "messages", "role", "assistant", "content", "x"), KEY, 400,
                "last message is the assistant's");
    check_error(json_pack("{s:[{s:s}]}", "messages", "role", "user"), KEY, 400, "content");
    check_error(json_pack("{s:s, s:O}", "model", "gpt-4", "messages", user), KEY, 404, "does not exist");
    check_error(json_pack("{s:O, s:b}", "messages", user, "stream", 1), KEY, 400, "streaming");
    check_error(json_pack("{s:O, s:i}", "messages", user, "temperature", -1), KEY, 400, "temperature");
    check_error(json_pack("{s:O, s:i}", "messages", user, "max_tokens", 0), KEY, 400, "max_tokens");
    check_error(json_pack("{s:O}", "messages", user), NULL, 401, "bearer");
    check_error(json_pack("{s:O}", "messages", user), "sk-wrong", 401, "Incorrect API key");
    /* a good request still works after all that, and GET /v1/models */
    long st;
    json_t *ok = chat(json_pack("{s:O, s:i, s:s}", "messages", user, "max_tokens", 3, "model", "stories260K"), KEY,
                      &st);
    CHECKF(st == 200, "HTTP %ld", st);
    json_decref(ok);
    char *murl = tn_sprintf("%s/v1/models", g_url);
    tn_http_resp m = {0};
    CHECK(tn_http_json(&o, "GET", murl, NULL, &m) == 0 && m.status == 200);
    const char *id = json_string_value(json_object_get(json_array_get(json_object_get(m.json, "data"), 0), "id"));
    CHECK(id && !strcmp(id, "stories260K"));
    tn_http_resp_free(&m);
    free(murl);
    json_decref(user);
}

static json_t *define_rows(int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        char w[32], d[64];
        snprintf(w, sizeof w, "word%d", i);
        snprintf(d, sizeof d, "the meaning of word number %d", i);
        json_array_append_new(a, json_pack("{s:s, s:s}", "instruction", w, "output", d));
    }
    return a;
}

static tn_data_spec define_spec(void) {
    tn_data_spec s;
    memset(&s, 0, sizeof s);
    s.kind = TN_DS_INSTRUCT;
    s.instruct.field_instruction = "instruction";
    s.instruct.field_output = "output";
    return s;
}

TEST(synth_llm_against_tuna_serve) {
    if (!g_url[0] || g_serve <= 0) SKIP("tuna serve not running");
    json_t *src = define_rows(6);
    tn_data_spec spec = define_spec();
    char *cache = tn_sprintf("%s/cache1", tn_t_tmpdir());
    char base[300];
    snprintf(base, sizeof base, "%s/v1", g_url);
    tn_synth_llm_opts o = {.base_url = base, .model = "stories260K", .api_key = KEY, .cache_dir = cache,
                           .max_tries = 2, .max_tokens = 16, .temperature = 0.5};
    tn_synth_llm_stats st = {0};
    json_t *rows = tn_synth_llm_rows(src, &spec, 2, 99, &o, &st);
    CHECK(rows == NULL);
    CHECKF(strstr(tn_errmsg(), "row 1 of 2: 2 tries failed") != NULL, "%s", tn_errmsg());
    CHECK(st.requests == 2 && st.cache_hits == 0 && st.rejected == 2);
    /* the same seed again: both replies come from the cache */
    tn_synth_llm_stats st2 = {0};
    CHECK(tn_synth_llm_rows(src, &spec, 2, 99, &o, &st2) == NULL);
    CHECKF(st2.requests == 0 && st2.cache_hits == 2, "requests %zu hits %zu", st2.requests, st2.cache_hits);
    /* a wrong key is the endpoint's 401, named */
    o.api_key = "sk-wrong";
    o.cache_dir = NULL;
    CHECK(tn_synth_llm_rows(src, &spec, 1, 5, &o, NULL) == NULL);
    CHECKF(strstr(tn_errmsg(), "HTTP 401") && strstr(tn_errmsg(), "Incorrect API key"), "%s", tn_errmsg());
    stop_serve();
    /* the endpoint down: the transport error, named */
    CHECK(tn_synth_llm_rows(src, &spec, 1, 5, &o, NULL) == NULL);
    CHECKF(strstr(tn_errmsg(), "chat/completions") && strstr(tn_errmsg(), "tries failed"), "%s", tn_errmsg());
    free(cache);
    json_decref(src);
}

/* An endpoint that writes rows: per request, in turn, prose with no JSON, a
 * copy of the prompt's first example, a row with a wrong key, then a new row
 * numbered by the request. */
static int g_calls;
static void fake_llm(tn_http_req *r, void *ud) {
    (void)ud;
    json_t *req = json_loadb(r->body, r->body_len, 0, NULL);
    const char *prompt = json_string_value(json_object_get(json_array_get(json_object_get(req, "messages"), 1), "content"));
    int k = g_calls++;
    char *content;
    if (k == 0) {
        content = tn_strdup("Sure, here is a new row for you.");
    } else if (k == 1) {
        const char *a = strchr(prompt, '{'), *b = strchr(prompt, '}');
        content = tn_sprintf("```json\n%.*s\n```", (int)(b - a + 1), a);
    } else if (k == 2) {
        content = tn_strdup("{\"instruction\": \"x\", \"answer\": \"y\"}");
    } else {
        content = tn_sprintf("Here it is: {\"instruction\": \"fresh%d\", \"output\": \"a thing made new, %d\"}", k, k);
    }
    tn_http_reply_json(r, 200, json_pack("{s:[{s:{s:s, s:s}}]}", "choices", "message", "role", "assistant", "content",
                                         content));
    free(content);
    json_decref(req);
}

TEST(synth_llm_rows_checked) {
    tn_http_server_opts so = {0};
    tn_http_server *srv = tn_http_server_new(&so);
    tn_http_route rt = {"POST", "/v1/chat/completions", TN_ROUTE_EXACT, 0, NULL, fake_llm, NULL};
    CHECK(srv && tn_http_server_route(srv, &rt) == 0 && tn_http_server_start(srv) == 0);
    char base[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/v1", tn_http_server_port(srv));
    json_t *src = define_rows(5);
    tn_data_spec spec = define_spec();
    tn_synth_llm_opts o = {.base_url = base, .model = "m", .max_tries = 4};
    tn_synth_llm_stats st = {0};
    json_t *rows = tn_synth_llm_rows(src, &spec, 3, 1, &o, &st);
    CHECKF(rows && json_array_size(rows) == 3, "%s", rows ? "" : tn_errmsg());
    CHECK(st.requests == 6 && st.rejected == 3);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        const char *ins = json_string_value(json_object_get(row, "instruction"));
        CHECK(json_object_size(row) == 2 && ins && !strncmp(ins, "fresh", 5));
        CHECK(json_is_string(json_object_get(row, "output")));
    }
    /* max_tries 1 and a first reply without JSON: the set fails, saying why */
    g_calls = 0;
    o.max_tries = 1;
    CHECK(tn_synth_llm_rows(src, &spec, 3, 1, &o, NULL) == NULL);
    CHECKF(strstr(tn_errmsg(), "row 1 of 3: 1 try failed, last: the reply holds no JSON object"), "%s",
           tn_errmsg());
    json_decref(rows);
    json_decref(src);
    tn_http_server_free(srv);
}

int main(void) {
    RUN(generation_prompt_is_the_templates_cut);
    RUN(serve_matches_generate);
    RUN(serve_errors);
    RUN(synth_llm_against_tuna_serve);
    RUN(synth_llm_rows_checked);
    stop_serve();
    return tn_test_summary("serve");
}
