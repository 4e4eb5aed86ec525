/* cmd_serve.c - `tuna serve`: an OpenAI-compatible chat server on a model
 * directory (src/serve/serve.h). */
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/num.h"
#include "cli/commands.h"
#include "serve/serve.h"

#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: tuna serve --model DIR [options]\n\n"
            "Serves the model in DIR over an OpenAI-compatible API until SIGINT/SIGTERM:\n"
            "  POST /v1/chat/completions  {model?, messages, max_tokens?, temperature?, top_p?, seed?}\n"
            "  GET  /v1/models\n"
            "Messages are rendered with the model's chat template (tokenizer_config.json's\n"
            "chat_template, or --chat-template), the assistant's turn opened, and the reply\n"
            "generated with the engine of `tuna generate`. No streaming. docs/serve.md.\n\n"
            "options:\n"
            "  --model DIR            HF model directory\n"
            "  --adapter DIR          LoRA adapter (PEFT directory) merged into the model first\n"
            "  --listen ADDR:PORT     where to serve (default 127.0.0.1:8000; port 0 = any free one)\n"
            "  --chat-template NAME   chatml, llama2, llama3, mistral or alpaca (default: the\n"
            "                         template tokenizer_config.json names)\n"
            "  --model-id ID          the model id clients see (default: DIR's last name)\n"
            "  --api-key-file FILE    require \"Authorization: Bearer KEY\", KEY the file's first line\n"
            "  --api-key KEY          the same with the key given here (visible to ps)\n"
            "  --max-tokens N         reply length when a request names none (default 256)\n"
            "  --ready-file FILE      once listening, write {\"url\", \"model\", \"pid\"} to FILE\n");
}

static char *read_key_file(const char *path) {
    size_t len;
    char *s = tn_read_file(path, &len);
    if (!s) return NULL;
    s[strcspn(s, "\r\n")] = 0;
    if (!*s) {
        free(s);
        tn_fail("%s: empty (expected the API key on the first line)", path);
        return NULL;
    }
    return s;
}

int cmd_serve(int argc, char **argv) {
    enum { O_MODEL = 1, O_ADAPTER, O_LISTEN, O_TMPL, O_ID, O_KEYFILE, O_KEY, O_MAX, O_READY };
    static const struct option opts[] = {
        {"model", 1, 0, O_MODEL},      {"adapter", 1, 0, O_ADAPTER},      {"listen", 1, 0, O_LISTEN},
        {"chat-template", 1, 0, O_TMPL}, {"model-id", 1, 0, O_ID},        {"api-key-file", 1, 0, O_KEYFILE},
        {"api-key", 1, 0, O_KEY},      {"max-tokens", 1, 0, O_MAX},       {"ready-file", 1, 0, O_READY},
        {"help", 0, 0, 'h'},           {0, 0, 0, 0}};
    tn_serve_opts so = {0};
    const char *listen = "127.0.0.1:8000", *key_file = NULL, *ready = NULL;
    int c, bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1 && !bad) {
        switch (c) {
        case O_MODEL: so.model_dir = optarg; break;
        case O_ADAPTER: so.adapter_dir = optarg; break;
        case O_LISTEN: listen = optarg; break;
        case O_TMPL: so.chat_template = optarg; break;
        case O_ID: so.model_id = optarg; break;
        case O_KEYFILE: key_file = optarg; break;
        case O_KEY: so.api_key = optarg; break;
        case O_MAX: bad = tn_parse_int("--max-tokens", optarg, 1, 1 << 20, &so.default_max_tokens); break;
        case O_READY: ready = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (bad) return cli_usage_fail("serve");
    if (optind != argc) {
        fprintf(stderr, "tuna serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!so.model_dir) {
        fprintf(stderr, "tuna serve: need --model DIR\n");
        usage(stderr);
        return 2;
    }
    if (key_file && so.api_key) {
        fprintf(stderr, "tuna serve: give --api-key-file or --api-key, not both\n");
        return 2;
    }
    char host[256];
    tn_http_server_opts ho = {0};
    if (tn_parse_host_port("--listen", listen, host, sizeof host, &ho.port)) return cli_usage_fail("serve");
    ho.bind = host;
    /* a generation may take a while on a big model: keep idle keep-alive
     * connections longer than the server's default */
    ho.idle_timeout_s = 600;
    char *key = NULL;
    if (key_file && !(key = read_key_file(key_file))) return cli_fail("serve");
    if (key) so.api_key = key;

    /* the signals are waited for below; block them before the server's
     * threads start so that they inherit the mask */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    int rc = 1;
    tn_http_server *srv = NULL;
    tn_serve *s = tn_serve_new(&so);
    if (!s) goto done;
    srv = tn_http_server_new(&ho);
    if (!srv || tn_serve_routes(s, srv) || tn_http_server_start(srv)) goto done;
    char url[320];
    snprintf(url, sizeof url, strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host, tn_http_server_port(srv));
    tn_info("serve: %s on %s (chat template %s)", tn_serve_model_id(s), url, tn_serve_template_name(s));
    if (ready) {
        json_t *o = json_pack("{s:s, s:s, s:I}", "url", url, "model", tn_serve_model_id(s), "pid", (json_int_t)getpid());
        char *j = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        int w = j ? tn_write_file_atomic(ready, j, strlen(j)) : tn_fail("out of memory");
        free(j);
        if (w) goto done;
    }
    int sig = 0;
    sigwait(&set, &sig);
    tn_info("serve: signal %d, stopping", sig);
    rc = 0;
done:
    if (rc) cli_fail("serve");
    tn_http_server_free(srv);
    tn_serve_free(s);
    free(key);
    return rc;
}
