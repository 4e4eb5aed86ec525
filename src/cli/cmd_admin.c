/* cmd_admin.c - `tuna admin`: the organiser's shell client for the validator's API.
 * Every call is signed with the organiser's key (--key); reads are public. */
#include "net/http_client.h"
#include "net/keys.h"
#include "base/err.h"
#include "base/json.h"
#include "base/num.h"
#include "base/fs.h"
#include "cli/admin_report.h"
#include "cli/cli_data.h"
#include "cli/commands.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: tuna admin --url URL [--key FILE] COMMAND [options]\n\n"
            "Talks to a validator. Commands that change things need --key (the organiser's key,\n"
            "whose public half the validator was started with).\n\n"
            "commands:\n"
            "  miner add --name N --owner O --endpoint URL --public-key HEX\n"
            "  miner enable NAME | miner disable NAME\n"
            "  model add --name N --path DIR          (a model directory on the validator's machine)\n"
            "  dataset add --name N --path FILE [dataset options]\n"
            "  task create --model M --dataset D (--hours H | --minutes M) [--seq-len N]\n"
            "  competition load FILE | show | pause | resume | end   (the schedule: docs/validator.md)\n"
            "  rescore [--task ID]                    (re-apply the current rules)\n"
            "  set KEY VALUE                          (rules.*, score.* settings)\n"
            "  report [--json | --csv] [--task ID]    (every submission per participant and miner)\n"
            "  tasks | task ID | leaderboard | flags | miners\n\n" CLI_DATA_HELP);
}

static int call(const char *url, const tn_keypair *key, const char *method, const char *path, json_t *body) {
    char full[1024];
    snprintf(full, sizeof full, "%s%s", url, path);
    tn_http_opts o = {0};
    o.key = key;
    o.timeout_ms = 120000;
    tn_http_resp r;
    memset(&r, 0, sizeof r);
    int rc = tn_http_json(&o, method, full, body, &r);
    json_decref(body);
    if (rc) {
        fprintf(stderr, "tuna admin: %s\n", tn_errmsg());
        return 1;
    }
    int ok = r.status >= 200 && r.status < 300;
    if (r.json) {
        char *s = json_dumps(r.json, JSON_INDENT(2) | JSON_SORT_KEYS);
        fprintf(ok ? stdout : stderr, "%s%s\n", ok ? "" : "tuna admin: ", s);
        free(s);
    } else {
        fprintf(ok ? stdout : stderr, "%s\n", r.body);
    }
    if (!ok && !r.json) fprintf(stderr, "tuna admin: HTTP %ld\n", r.status);
    tn_http_resp_free(&r);
    return ok ? 0 : 1;
}

/* --name value pairs after the command words */
static const char *opt(int argc, char **argv, const char *name) {
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return NULL;
}

int cmd_admin(int argc, char **argv) {
    const char *url = NULL, *keyf = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--url") && i + 1 < argc) url = argv[++i];
        else if (!strcmp(argv[i], "--key") && i + 1 < argc) keyf = argv[++i];
        else break;
    }
    if (!url || i >= argc) {
        usage(stderr);
        return 2;
    }
    tn_keypair key, *kp = NULL;
    if (keyf) {
        if (tn_crypto_init() || tn_keypair_load(&key, keyf)) return cli_fail("admin");
        kp = &key;
    }
    int n = argc - i;
    char **a = argv + i;
    const char *cmd = a[0], *sub = n > 1 ? a[1] : "";
    int rc = 2;
    if (!strcmp(cmd, "tasks")) rc = call(url, NULL, "GET", "/v1/tasks", NULL);
    else if (!strcmp(cmd, "leaderboard")) rc = call(url, NULL, "GET", "/v1/leaderboard", NULL);
    else if (!strcmp(cmd, "flags")) rc = call(url, NULL, "GET", "/v1/flags", NULL);
    else if (!strcmp(cmd, "miners")) rc = call(url, NULL, "GET", "/v1/miners", NULL);
    else if (!strcmp(cmd, "task") && n == 2) {
        int64_t id;
        if (tn_parse_i64("task ID", a[1], 1, INT64_MAX, &id)) {
            rc = cli_usage_fail("admin");
        } else {
            char p[64];
            snprintf(p, sizeof p, "/v1/tasks/%" PRId64, id);
            rc = call(url, NULL, "GET", p, NULL);
        }
    } else if (!kp) {
        fprintf(stderr, "tuna admin %s: needs --key (the organiser's key)\n", cmd);
        rc = 2;
    } else if (!strcmp(cmd, "miner") && !strcmp(sub, "add")) {
        const char *name = opt(n, a, "--name"), *owner = opt(n, a, "--owner"), *ep = opt(n, a, "--endpoint"),
                   *pk = opt(n, a, "--public-key");
        if (!name || !owner || !ep || !pk) fprintf(stderr, "tuna admin miner add: --name, --owner, --endpoint, --public-key\n");
        else rc = call(url, kp, "POST", "/v1/admin/miners",
                       json_pack("{s:s, s:s, s:s, s:s}", "name", name, "owner", owner, "endpoint", ep, "public_key", pk));
    } else if (!strcmp(cmd, "miner") && (!strcmp(sub, "enable") || !strcmp(sub, "disable")) && n == 3) {
        rc = call(url, kp, "POST", "/v1/admin/miners/enable",
                  json_pack("{s:s, s:b}", "name", a[2], "enabled", !strcmp(sub, "enable")));
    } else if (!strcmp(cmd, "model") && !strcmp(sub, "add")) {
        const char *name = opt(n, a, "--name"), *path = opt(n, a, "--path");
        if (!name || !path) fprintf(stderr, "tuna admin model add: --name and --path\n");
        else rc = call(url, kp, "POST", "/v1/admin/models", json_pack("{s:s, s:s}", "name", name, "path", path));
    } else if (!strcmp(cmd, "dataset") && !strcmp(sub, "add")) {
        const char *name = opt(n, a, "--name"), *path = opt(n, a, "--path");
        cli_data d;
        cli_data_init(&d);
        /* reuse the dataset flags of train/eval */
        static const struct option dopts[] = {CLI_DATA_OPTIONS, {"name", 1, 0, 'n'}, {"path", 1, 0, 'p'}, {0, 0, 0, 0}};
        int c;
        optind = 1;
        char **args = a + 1;
        int nargs = n - 1;
        int bad = 0;
        while ((c = getopt_long(nargs, args, "", dopts, NULL)) != -1)
            if (c != 'n' && c != 'p' && cli_data_option(&d, c, optarg) <= 0) bad = 1;
        if (!name || !path || bad || cli_data_finish(&d, path)) {
            fprintf(stderr, "tuna admin dataset add: %s\n", bad || !name || !path ? "--name, --path and valid dataset options" : tn_errmsg());
        } else {
            const tn_dataset_type *t = &d.spec.instruct;
            const char *kind = d.spec.kind == TN_DS_TEXT ? "text" : d.spec.kind == TN_DS_CHAT ? "chat" : "instruct";
            json_t *dt = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "kind", kind,
                                   "field_system", t->field_system, "field_instruction", t->field_instruction,
                                   "field_input", t->field_input, "field_output", t->field_output, "format", t->format,
                                   "no_input_format", t->no_input_format, "system_format", t->system_format,
                                   "system_prompt", t->system_prompt, "text_field", d.spec.text_field,
                                   "messages_field", d.spec.messages_field);
            if (d.spec.kind == TN_DS_CHAT && d.spec.chat_template)
                json_object_set_new(dt, "chat_template", json_string(tn_chat_template_name(d.spec.chat_template)));
            rc = call(url, kp, "POST", "/v1/admin/datasets",
                      json_pack("{s:s, s:s, s:o}", "name", name, "path", path, "dataset_type", dt));
        }
    } else if (!strcmp(cmd, "competition") && !strcmp(sub, "load") && n == 3) {
        /* the validator parses it (it checks the catalog too); messages name this file */
        size_t len;
        char *text = tn_read_file(a[2], &len);
        if (!text) rc = cli_fail("admin competition load");
        else rc = call(url, kp, "POST", "/v1/admin/competition/load", json_pack("{s:s, s:s%}", "file", a[2], "yaml", text, len));
        free(text);
    } else if (!strcmp(cmd, "competition") && n == 2 &&
               (!strcmp(sub, "show") || !strcmp(sub, "pause") || !strcmp(sub, "resume") || !strcmp(sub, "end"))) {
        char p[64];
        snprintf(p, sizeof p, "/v1/admin/competition/%s", sub);
        rc = call(url, kp, "POST", p, json_object());
    } else if (!strcmp(cmd, "task") && !strcmp(sub, "create")) {
        const char *model = opt(n, a, "--model"), *ds = opt(n, a, "--dataset"), *h = opt(n, a, "--hours"),
                   *m = opt(n, a, "--minutes"), *sl = opt(n, a, "--seq-len");
        double hours = 0, minutes = 0;
        int seq_len = 0;
        if ((h && tn_parse_double("--hours", h, 0, 1e5, &hours)) ||
            (m && tn_parse_double("--minutes", m, 0, 6e6, &minutes)) ||
            (sl && tn_parse_int("--seq-len", sl, 2, 1 << 20, &seq_len))) {
            rc = cli_usage_fail("admin task create");
        } else {
            if (h) minutes = hours * 60; /* --hours wins over --minutes */
            if (!model || !ds || minutes <= 0) {
                fprintf(stderr, "tuna admin task create: --model, --dataset and --hours or --minutes\n");
            } else {
                json_t *b = json_pack("{s:s, s:s, s:f}", "model", model, "dataset", ds, "minutes", minutes);
                if (sl) json_object_set_new(b, "seq_len", json_integer(seq_len));
                rc = call(url, kp, "POST", "/v1/admin/tasks", b);
            }
        }
    } else if (!strcmp(cmd, "rescore")) {
        const char *t = opt(n, a, "--task");
        int64_t id = 0; /* 0: every scored task */
        if (t && tn_parse_i64("--task", t, 1, INT64_MAX, &id)) rc = cli_usage_fail("admin rescore");
        else rc = call(url, kp, "POST", "/v1/admin/rescore", json_pack("{s:I}", "task_id", (json_int_t)id));
    } else if (!strcmp(cmd, "report")) {
        rc = admin_report(url, kp, n, a);
    } else if (!strcmp(cmd, "set") && n == 3) {
        rc = call(url, kp, "POST", "/v1/admin/settings", json_pack("{s:s, s:s}", "key", a[1], "value", a[2]));
    } else {
        fprintf(stderr, "tuna admin: unknown command '%s'\n", cmd);
        usage(stderr);
    }
    if (kp) tn_keypair_wipe(&key);
    return rc;
}
