/* test_validator.c - a whole task through a real validator process.
 *
 * The validator runs as a child process (the tuna binary); the miners are
 * small in-process HTTP servers speaking the real signed protocol (arena/
 * http_server.h, http_client.h), each playing one part:
 *   fair1, fair2  real fine-tunes (tuna train, full and LoRA, other seeds)
 *   copy          fair1's files, uploaded after fair1      -> duplicate
 *   noisy         fair1's weights plus small noise          -> duplicate (sketch)
 *   untouched     the base model as it was downloaded      -> untouched-base
 *   swap          another network of the same shape        -> not-a-fine-tune
 *   corrupt       a truncated safetensors file             -> invalid
 *   late          uploads after the deadline               -> refused (410), flagged late
 *   reject        rejects the offer                        -> costs nothing
 * Then: scores average exactly 1 over the miners that accepted; the ranking
 * is the product of floored scores; kill -9 and restart keep everything; a
 * rescore gives the same scores. Needs ../shared/data (stories260K). */
#include "harness.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "net/keys.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/rows.h"
#include "model/model.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef enum { FAIR1, FAIR2, COPY, NOISY, UNTOUCHED, SWAP, CORRUPT, LATE, REJECT, NMINERS } role;
static const char *NAMES[NMINERS] = {"fair1", "fair2", "copy", "noisy", "untouched", "swap", "corrupt", "late", "reject"};
static const char *OWNERS[NMINERS] = {"alice", "bob", "carol", "carol", "dave", "dave", "erin", "erin", "frank"};

typedef struct {
    role r;
    tn_keypair key;
    tn_http_server *srv;
    tn_verifier *ver;
    char dir[600];
    char upload_url[512];
    json_t *start;          /* the start_training body */
    int64_t deadline_ms;
    pthread_t th;
    int started, done;
    long final_status;      /* of the complete call */
} miner;

static miner M[NMINERS];
/* fair1's note: a comma, quotes, a newline and a leading space for the
 * report's CSV to quote */
#define FAIR1_NOTE " lr 2e-4, \"cosine\" schedule\nepochs 3"
static char g_tmp[400], g_vdir[512], g_url[256], g_admin_pub[65];
static tn_keypair g_admin;
static char *g_validator_pub;

static int64_t now_ms(void) { return (int64_t)(tn_wall_now() * 1000.0); }

/* ---- the miners' work ---- */

static int download_all(miner *m, const char *model_dir, const char *data_path) {
    tn_http_opts o = {0};
    tn_mkdir_p(model_dir);
    json_t *files = json_object_get(json_object_get(m->start, "model"), "files");
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f) {
        char *dst = tn_path_join(model_dir, json_string_value(json_object_get(f, "name")));
        char got[65];
        int rc = tn_http_download(&o, json_string_value(json_object_get(f, "url")), dst, 1 << 30,
                                  json_string_value(json_object_get(f, "sha256")), got);
        free(dst);
        if (rc) return -1;
    }
    json_t *ds = json_object_get(m->start, "dataset");
    char got[65];
    return tn_http_download(&o, json_string_value(json_object_get(ds, "url")), data_path, 1 << 30,
                            json_string_value(json_object_get(ds, "sha256")), got);
}

static int upload_dir(miner *m, const char *dir, const char *kind) {
    static const char *names[] = {"config.json", "model.safetensors", "adapter_config.json", "adapter_model.safetensors"};
    tn_http_opts o = {0};
    o.key = &m->key;
    json_t *files = json_object();
    for (size_t i = 0; i < 4; i++) {
        char *p = tn_path_join(dir, names[i]);
        if (tn_file_exists(p)) {
            char url[700];
            snprintf(url, sizeof url, "%s/files/%s", m->upload_url, names[i]);
            tn_http_resp r;
            memset(&r, 0, sizeof r);
            if (tn_http_upload_file(&o, "PUT", url, p, &r) == 0 && r.status == 201 && r.json) {
                json_object_set(files, names[i], json_object_get(r.json, "sha256"));
            } else {
                m->final_status = r.status;
                if (m->r != LATE)
                    fprintf(stderr, "  miner %s: upload %s: %ld %s %s\n", NAMES[m->r], names[i], r.status, r.body ? r.body : "",
                            r.status ? "" : tn_errmsg());
            }
            tn_http_resp_free(&r);
        }
        free(p);
    }
    char url[700];
    snprintf(url, sizeof url, "%s/complete", m->upload_url);
    json_t *body = json_pack("{s:s, s:o, s:s, s:s}", "kind", kind, "files", files, "strategy", NAMES[m->r], "note",
                             m->r == FAIR1 ? FAIR1_NOTE : "test miner");
    tn_http_resp r;
    memset(&r, 0, sizeof r);
    tn_http_json(&o, "POST", url, body, &r);
    json_decref(body);
    if (!m->final_status) m->final_status = r.status;
    tn_http_resp_free(&r);
    return 0;
}

static void perturb(const char *src, const char *dst, float scale, uint64_t seed, int replace) {
    tn_model mdl;
    if (tn_model_load(&mdl, src, 0)) return;
    if (replace) tn_model_init_random(&mdl, seed);
    uint64_t s = seed;
    for (size_t i = 0; i < mdl.numel && scale > 0; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        mdl.w[i] += scale * (((float)(s >> 40) / (float)(1 << 24)) - 0.5f);
    }
    tn_model_save(&mdl, dst, src);
    tn_model_free(&mdl);
}

static void *work(void *arg) {
    miner *m = arg;
    char base[700], data[700], out[700];
    snprintf(base, sizeof base, "%s/base", m->dir);
    snprintf(data, sizeof data, "%s/train.jsonl", m->dir);
    snprintf(out, sizeof out, "%s/out", m->dir);
    if (download_all(m, base, data)) {
        fprintf(stderr, "  miner %s: download failed: %s\n", NAMES[m->r], tn_errmsg());
        m->done = 1;
        return NULL;
    }
    char cmd[2400];
    switch (m->r) {
    case FAIR1:
    case FAIR2:
        snprintf(cmd, sizeof cmd, "%s train --model %s --data %s --out %s --max-steps 6 --batch 4 --seq-len 256 "
                 "--lr %s --seed %d %s --quiet 2>/dev/null", tn_t_tuna(), base, data, out, m->r == FAIR1 ? "2e-3" : "1e-2",
                 m->r == FAIR1 ? 1 : 2, m->r == FAIR2 ? "--lora" : "");
        if (system(cmd) == 0) upload_dir(m, out, m->r == FAIR2 ? "adapter" : "full");
        break;
    case COPY:
    case NOISY: {
        /* wait for fair1's result, then take it */
        char src[700];
        snprintf(src, sizeof src, "%s/out/model.safetensors", M[FAIR1].dir);
        while (!M[FAIR1].done && !tn_file_exists(src)) usleep(100000);
        while (!M[FAIR1].done) usleep(100000); /* fair1 uploads first */
        snprintf(src, sizeof src, "%s/out", M[FAIR1].dir);
        if (m->r == NOISY) perturb(src, out, 1e-4f, 77, 0);
        upload_dir(m, m->r == COPY ? src : out, "full");
        break;
    }
    case UNTOUCHED: upload_dir(m, base, "full"); break;
    case SWAP: perturb(base, out, 0, 1234, 1); upload_dir(m, out, "full"); break;
    case CORRUPT: {
        tn_mkdir_p(out);
        char *c1 = tn_path_join(base, "config.json"), *c2 = tn_path_join(out, "config.json");
        tn_copy_file(c1, c2);
        size_t n;
        char *w = tn_path_join(base, "model.safetensors"), *w2 = tn_path_join(out, "model.safetensors");
        char *buf = tn_read_file(w, &n);
        tn_write_file_atomic(w2, buf, n / 2); /* truncated */
        free(buf);
        free(c1);
        free(c2);
        free(w);
        free(w2);
        upload_dir(m, out, "full");
        break;
    }
    case LATE:
        while (now_ms() < m->deadline_ms + 1500) usleep(100000);
        upload_dir(m, base, "full");
        break;
    default: break;
    }
    m->done = 1;
    return NULL;
}

static void h_offer(tn_http_req *r, void *ud) {
    miner *m = ud;
    if (m->r == REJECT)
        tn_http_reply_json(r, 200, json_pack("{s:b, s:s}", "accepted", 0, "message", "busy"));
    else
        tn_http_reply_json(r, 200, json_pack("{s:b, s:s}", "accepted", 1, "message", "ok"));
}

static void h_start(tn_http_req *r, void *ud) {
    miner *m = ud;
    json_t *b = tn_http_body_json(r);
    if (!b) return;
    m->start = b;
    snprintf(m->upload_url, sizeof m->upload_url, "%s", json_string_value(json_object_get(b, "upload_url")));
    m->deadline_ms = json_integer_value(json_object_get(b, "deadline_ms"));
    m->started = pthread_create(&m->th, NULL, work, m) == 0;
    tn_http_reply_json(r, 202, json_pack("{s:b}", "accepted", 1));
}

static int start_miner(miner *m) {
    return tn_t_stub_miner_start(&m->srv, &m->ver, g_validator_pub, h_offer, h_start, m);
}

/* ---- the validator process ---- */

static pid_t start_validator(void) {
    char log[600];
    snprintf(log, sizeof log, "%s/validator.log", g_tmp);
    char *args[] = {"--admin-key", g_admin_pub, "--offer-timeout", "2000", "--seq-len", "256", NULL};
    tn_t_validator v;
    g_url[0] = 0;
    if (tn_t_validator_start(&v, g_vdir, log, args, 30) != 0) return -1;
    snprintf(g_url, sizeof g_url, "%s", v.url);
    free(g_validator_pub);
    g_validator_pub = tn_strdup(v.public_key);
    return (pid_t)v.pid;
}

static json_t *get(const char *path) { return tn_t_get_json(g_url, path); }

static long admin(const char *path, json_t *body) { return tn_t_post_signed(&g_admin, g_url, path, body); }

static const char *task_state(int64_t id) {
    static char st[32];
    char p[64];
    snprintf(p, sizeof p, "/v1/tasks/%lld", (long long)id);
    json_t *j = get(p);
    snprintf(st, sizeof st, "%s", j ? json_string_value(json_object_get(j, "state")) : "?");
    json_decref(j);
    return st;
}

static json_t *sub_of(json_t *task, const char *miner) {
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(task, "submissions"), i, s) if (!strcmp(json_string_value(json_object_get(s, "miner")), miner)) return s;
    return NULL;
}

static int has_flag(json_t *s, const char *rule) {
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(s, "flags"), i, f) if (!strcmp(json_string_value(json_object_get(f, "rule")), rule)) return 1;
    return 0;
}

/* ---- the participants' report (docs/validator.md) ---- */

static json_t *admin_json(const char *path, json_t *body) {
    char url[600];
    snprintf(url, sizeof url, "%s%s", g_url, path);
    tn_http_opts o = {0};
    o.key = &g_admin;
    tn_http_resp r;
    memset(&r, 0, sizeof r);
    json_t *out = NULL;
    if (tn_http_json(&o, "POST", url, body, &r) == 0 && r.status == 200) out = json_incref(r.json);
    json_decref(body);
    tn_http_resp_free(&r);
    return out;
}

/* the report's row of (miner, task), and its owner */
static json_t *report_row(json_t *rep, const char *miner, int64_t task, const char **owner) {
    size_t i, k, q;
    json_t *o, *m, *row;
    json_array_foreach(json_object_get(rep, "participants"), i, o) json_array_foreach(json_object_get(o, "miners"), k, m) {
        if (strcmp(json_string_value(json_object_get(m, "miner")), miner)) continue;
        json_array_foreach(json_object_get(m, "submissions"), q, row) if (json_integer_value(json_object_get(row, "task_id")) == task) {
            if (owner) *owner = json_string_value(json_object_get(o, "owner"));
            return row;
        }
    }
    return NULL;
}

/* The public report shows no submission id, no path of the data directory
 * and (unless dataset_public) no dataset name. */
static void check_public_report(json_t *rep, json_t *admin_rep, int dataset_public) {
    char *text = json_dumps(rep, JSON_COMPACT);
    CHECKF(text && !strstr(text, g_vdir) && !strstr(text, "submission_id") && !strstr(text, "files_dir") &&
               !strstr(text, "content_hash"),
           "public report: %s", text ? text : "(none)");
    CHECKF(dataset_public || !strstr(text, "alpaca"), "public report names the dataset early: %s", text);
    for (int i = 0; admin_rep && i < NMINERS; i++) {
        json_t *row = report_row(admin_rep, NAMES[i], 1, NULL);
        const char *tok = json_string_value(json_object_get(row, "submission_id"));
        if (tok) CHECKF(!strstr(text, tok), "public report shows %s's submission id", NAMES[i]);
    }
    free(text);
}

/* tuna admin ... report ARGS > out; its exit status */
static int run_report(const char *args, const char *out) {
    char *keyf = tn_sprintf("%s/admin.key", g_tmp);
    if (!tn_file_exists(keyf)) tn_keypair_save(&g_admin, keyf, 1);
    char *cmd = tn_sprintf("%s admin --url %s --key %s report %s > %s 2>%s.err", tn_t_tuna(), g_url, keyf, args, out, out);
    int st = system(cmd);
    free(cmd);
    free(keyf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void check_report(json_t *task, json_t *report_training, double model_params) {
    json_t *rep = admin_json("/v1/admin/report", json_pack("{s:i}", "task_id", 0));
    CHECK(rep != NULL);
    if (!rep) return;
    /* every offer of task 1, grouped under its owner, with the task view's numbers */
    for (int i = 0; i < NMINERS; i++) {
        const char *owner = NULL;
        json_t *row = report_row(rep, NAMES[i], 1, &owner), *s = sub_of(task, NAMES[i]);
        CHECKF(row && s && owner && !strcmp(owner, OWNERS[i]), "%s: no report row under %s", NAMES[i], OWNERS[i]);
        if (!row || !s) continue;
        CHECK(!strcmp(json_string_value(json_object_get(row, "model")), "stories260K"));
        CHECK(!strcmp(json_string_value(json_object_get(row, "dataset")), "alpaca")); /* scored: public */
        CHECKF(json_equal(json_object_get(row, "verdict"), json_object_get(s, "status")), "%s: verdict", NAMES[i]);
        static const char *same[] = {"score", "test_loss", "synth_loss", "weighted_loss", "interval", "tied_with", "strategy"};
        for (size_t k = 0; k < sizeof same / sizeof *same; k++)
            CHECKF(json_equal(json_object_get(row, same[k]), json_object_get(s, same[k])) ||
                       (!json_object_get(row, same[k]) && !json_object_get(s, same[k])),
                   "%s: report's %s differs from the task view's", NAMES[i], same[k]);
        json_t *up = json_object_get(row, "upload");
        if (i == FAIR1 || i == FAIR2)
            CHECKF(json_integer_value(json_object_get(up, "files")) >= 2 && json_integer_value(json_object_get(up, "bytes")) > 0 &&
                       json_object_size(json_object_get(up, "manifest")) == (size_t)json_integer_value(json_object_get(up, "files")),
                   "%s: upload %s", NAMES[i], json_dumps(up, JSON_COMPACT));
        if (i == REJECT) CHECK(!up && !strcmp(json_string_value(json_object_get(row, "verdict")), "rejected"));
    }
    json_t *f1 = report_row(rep, "fair1", 1, NULL);
    CHECK(f1 && !strcmp(json_string_value(json_object_get(f1, "strategy")), "fair1: " FAIR1_NOTE));
    /* the public variant, during training and now */
    CHECK(report_training != NULL);
    if (report_training) check_public_report(report_training, rep, 0);
    json_t *pub = get("/v1/report");
    CHECK(pub && report_row(pub, "fair1", 1, NULL));
    if (pub) check_public_report(pub, rep, 1);
    json_decref(pub);

    /* the CLI's CSV, read back by Python's csv module: one record per offer, cells as in the JSON */
    char *csv = tn_sprintf("%s/report.csv", g_tmp), *js = tn_sprintf("%s/report.csv.json", g_tmp);
    CHECK(run_report("--csv", csv) == 0);
    char *py = tn_sprintf("/usr/bin/python3 -c 'import csv, json, sys; json.dump(list(csv.DictReader(open(sys.argv[1], "
                          "newline=\"\"))), open(sys.argv[2], \"w\"))' %s %s", csv, js);
    CHECK(system(py) == 0);
    json_t *rows = json_load_file(js, 0, NULL);
    CHECKF(json_array_size(rows) == NMINERS, "CSV: %zu records", json_array_size(rows));
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        const char *miner = json_string_value(json_object_get(r, "miner"));
        json_t *row = report_row(rep, miner ? miner : "", 1, NULL);
        CHECKF(row != NULL, "CSV record %zu: miner %s", i, miner);
        if (!row) continue;
        const char *strat = json_string_value(json_object_get(row, "strategy"));
        CHECKF(!strcmp(json_string_value(json_object_get(r, "strategy")), strat ? strat : ""), "%s: strategy cell", miner);
        json_t *sc = json_object_get(row, "score");
        const char *cell = json_string_value(json_object_get(r, "score"));
        CHECKF(json_is_number(sc) ? cell && strtod(cell, NULL) == json_number_value(sc) : cell && !*cell,
               "%s: score cell %s", miner, cell);
        CHECK(!strcmp(json_string_value(json_object_get(r, "submission_id")),
                      json_string_value(json_object_get(row, "submission_id"))));
    }
    json_decref(rows);
    CHECK(run_report("", csv) == 0);            /* the table */
    CHECK(run_report("--task 99", csv) == 1);   /* no such task: 404 */
    free(py);
    free(csv);
    free(js);

    /* score.weighting: the weight of task 1 is max(1, 2 sqrt(hours * B)) from
     * its limit and the catalog's parameter count; a stories260K task of
     * 0.5 min weighs 1, so the work rule gives the product rule's numbers */
    double w = fmax(1, 2 * sqrt(0.5 / 60 * model_params / 1e9));
    CHECK(w == 1.0 && model_params > 1e5);
    json_t *lb0 = get("/v1/leaderboard");
    CHECK(admin("/v1/admin/settings", json_pack("{s:s, s:s}", "key", "score.weighting", "value", "work")) == 200);
    json_t *lb1 = get("/v1/leaderboard");
    CHECK(admin("/v1/admin/settings", json_pack("{s:s, s:s}", "key", "score.weighting", "value", "hours")) == 422);
    CHECK(lb0 && lb1 && !strcmp(json_string_value(json_object_get(lb0, "weighting")), "product") &&
          !strcmp(json_string_value(json_object_get(lb1, "weighting")), "work"));
    json_t *a, *b;
    json_array_foreach(json_object_get(lb1, "leaderboard"), i, b) {
        a = json_array_get(json_object_get(lb0, "leaderboard"), i);
        CHECK(json_equal(json_object_get(a, "id"), json_object_get(b, "id")));
        CHECK_NEAR(json_number_value(json_object_get(b, "product")), json_number_value(json_object_get(a, "product")), 1e-12, 0);
        CHECK(json_number_value(json_object_get(b, "work")) == w * json_integer_value(json_object_get(b, "accepted")));
    }
    json_decref(lb0);
    json_decref(lb1);
    json_decref(rep);
}

TEST(whole_task_with_cheats) {
    const char *data = tn_t_shared_data();
    if (!data) SKIP("../shared/data is missing (set TUNA_SHARED_DATA)");
    snprintf(g_tmp, sizeof g_tmp, "%s", tn_t_tmpdir());
    snprintf(g_vdir, sizeof g_vdir, "%s/validator", g_tmp);
    tn_crypto_init();
    tn_keypair_generate(&g_admin);
    snprintf(g_admin_pub, sizeof g_admin_pub, "%s", g_admin.id);
    char *base_dir = tn_sprintf("%s/base", g_tmp);
    CHECK(tn_t_stories260k(base_dir) == 0);
    free(base_dir);
    /* 120 alpaca rows */
    json_t *all;
    char *src = tn_sprintf("%s/datasets/alpaca_en_demo.json", data), *ds = tn_sprintf("%s/alpaca120.jsonl", g_tmp);
    CHECK(tn_rows_load_all(src, TN_ROWS_AUTO, &all) == 0);
    FILE *f = fopen(ds, "w");
    for (size_t i = 0; i < 120; i++) {
        char *s = json_dumps(json_array_get(all, i), JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
    }
    fclose(f);
    json_decref(all);
    pid_t vp = start_validator();
    CHECKF(g_url[0], "the validator did not start (see %s/validator.log)", g_tmp);
    if (!g_url[0]) {
        kill(vp, SIGKILL);
        waitpid(vp, NULL, 0);
        return;
    }
    for (int i = 0; i < NMINERS; i++) {
        M[i].r = (role)i;
        tn_keypair_generate(&M[i].key);
        snprintf(M[i].dir, sizeof M[i].dir, "%s/miner_%s", g_tmp, NAMES[i]);
        tn_mkdir_p(M[i].dir);
        CHECK(start_miner(&M[i]) == 0);
        char ep[64];
        snprintf(ep, sizeof ep, "http://127.0.0.1:%d", tn_http_server_port(M[i].srv));
        CHECK(admin("/v1/admin/miners", json_pack("{s:s, s:s, s:s, s:s}", "name", NAMES[i], "owner", OWNERS[i],
                                                  "endpoint", ep, "public_key", M[i].key.id)) == 201);
    }
    char *base = tn_sprintf("%s/base", g_tmp);
    CHECK(admin("/v1/admin/models", json_pack("{s:s, s:s}", "name", "stories260K", "path", base)) == 201);
    /* a second add of the same model is a no-op that answers with its architecture */
    double model_params = 0;
    {
        char murl[600];
        snprintf(murl, sizeof murl, "%s/v1/admin/models", g_url);
        tn_http_opts ao = {0};
        ao.key = &g_admin;
        tn_http_resp mr;
        memset(&mr, 0, sizeof mr);
        json_t *mb = json_pack("{s:s, s:s}", "name", "stories260K", "path", base);
        if (tn_http_json(&ao, "POST", murl, mb, &mr) == 0)
            model_params = json_number_value(json_object_get(json_object_get(mr.json, "architecture"), "params"));
        json_decref(mb);
        tn_http_resp_free(&mr);
    }
    CHECK(admin("/v1/admin/datasets", json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "name", "alpaca", "path", ds,
                                                "dataset_type", "kind", "instruct", "field_instruction", "instruction",
                                                "field_input", "input", "field_output", "output")) == 201);
    /* refused: an admin call signed by a miner's key */
    char url[600];
    snprintf(url, sizeof url, "%s/v1/admin/tasks", g_url);
    tn_http_opts mo = {0};
    mo.key = &M[0].key;
    tn_http_resp rr;
    memset(&rr, 0, sizeof rr);
    json_t *tb = json_pack("{s:s, s:s, s:f}", "model", "stories260K", "dataset", "alpaca", "minutes", 0.5);
    tn_http_json(&mo, "POST", url, tb, &rr);
    CHECKF(rr.status == 403, "admin call signed by a miner: %ld", rr.status);
    tn_http_resp_free(&rr);
    CHECK(admin("/v1/admin/tasks", tb) == 201); /* tb is consumed here */

    /* wait for scored */
    double t0 = tn_now();
    json_t *report_training = NULL; /* the public report while the dataset is secret */
    while (strcmp(task_state(1), "scored") && strcmp(task_state(1), "failed") && tn_now() - t0 < 240) {
        if (!report_training && !strcmp(task_state(1), "training")) report_training = get("/v1/report");
        usleep(250000);
    }
    CHECKF(!strcmp(task_state(1), "scored"), "task state %s (see %s/validator.log)", task_state(1), g_tmp);
    /* the late miner tries 1.5 s after the deadline; with a fast engine the
     * task can be scored before that, so wait for every miner to be done
     * before reading flags */
    for (int i = 0; i < NMINERS && tn_now() - t0 < 240; i++)
        while (M[i].started && !M[i].done && tn_now() - t0 < 240) usleep(100000);
    json_t *task = get("/v1/tasks/1");
    json_t *lb = get("/v1/leaderboard");
    CHECK(task && lb);
    if (!task || !lb) {
        kill(vp, SIGKILL); /* never leave the validator behind */
        waitpid(vp, NULL, 0);
        return;
    }
    struct { role r; const char *status, *flag; } want[] = {
        {FAIR1, "valid", NULL},       {FAIR2, "valid", NULL},      {COPY, "invalid", "duplicate"},
        {NOISY, "invalid", "duplicate"}, {UNTOUCHED, "invalid", "untouched-base"},
        {SWAP, "invalid", "not-a-fine-tune"}, {CORRUPT, "invalid", "invalid"}, {LATE, "invalid", "late"},
    };
    double sum = 0;
    int accepted = 0;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        json_t *s = sub_of(task, NAMES[want[i].r]);
        CHECKF(s != NULL, "no entry for %s", NAMES[want[i].r]);
        if (!s) continue;
        const char *st = json_string_value(json_object_get(s, "status"));
        CHECKF(st && !strcmp(st, want[i].status), "%s: status %s, want %s (%s)", NAMES[want[i].r], st, want[i].status,
               json_string_value(json_object_get(s, "reason")));
        if (want[i].flag) CHECKF(has_flag(s, want[i].flag), "%s: no %s flag", NAMES[want[i].r], want[i].flag);
        sum += json_number_value(json_object_get(s, "score"));
        accepted++;
    }
    CHECKF(fabs(sum / accepted - 1.0) < 1e-9, "scores average %.12f over %d accepted", sum / accepted, accepted);
    /* noise-aware scores (docs/scoring.md): each valid submission's weighted
     * loss has its bootstrap interval; the two fair ones either share a
     * quality (within noise: equal scores, the worse names the better) or
     * are R = 4 apart */
    json_t *f1 = sub_of(task, "fair1"), *f2 = sub_of(task, "fair2");
    for (int k = 0; f1 && f2 && k < 2; k++) {
        json_t *s = k ? f2 : f1, *iv = json_object_get(s, "interval");
        double w = json_number_value(json_object_get(s, "weighted_loss"));
        double lo = json_number_value(json_array_get(iv, 0)), hi = json_number_value(json_array_get(iv, 1));
        CHECKF(json_array_size(iv) == 2 && lo < w && w < hi, "%s: weighted loss %g, interval [%g, %g]",
               k ? "fair2" : "fair1", w, lo, hi);
        CHECK_NEAR(w, 0.7 * json_number_value(json_object_get(s, "test_loss")) +
                          0.3 * json_number_value(json_object_get(s, "synth_loss")), 1e-9, 1e-9);
        CHECK(json_number_value(json_object_get(s, "confidence")) == 0.95);
    }
    if (f1 && f2) {
        double s1 = json_number_value(json_object_get(f1, "score")), s2 = json_number_value(json_object_get(f2, "score"));
        const char *t1 = json_string_value(json_object_get(f1, "tied_with"));
        const char *t2 = json_string_value(json_object_get(f2, "tied_with"));
        fprintf(stderr, "  fair1 %.4f, fair2 %.4f: scores %.4f, %.4f, tied: %s\n",
                json_number_value(json_object_get(f1, "weighted_loss")),
                json_number_value(json_object_get(f2, "weighted_loss")), s1, s2, t1 ? t1 : t2 ? t2 : "no");
        if (t1 || t2)
            CHECK(!(t1 && t2) && fabs(s1 - s2) < 1e-12 && (t1 ? !strcmp(t1, "fair2") : !strcmp(t2, "fair1")));
        else
            CHECKF(fabs(fmax(s1, s2) / fmin(s1, s2) - 4) < 1e-9, "scores %g and %g", s1, s2);
    }
    json_t *rej = sub_of(task, "reject");
    CHECK(rej && !strcmp(json_string_value(json_object_get(rej, "offer")), "rejected") &&
          json_is_null(json_object_get(rej, "score")));
    CHECK(M[LATE].final_status == 410);
    /* ranking: the product of floored scores, reject neutral */
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(lb, "leaderboard"), i, row) {
        const char *name = json_string_value(json_object_get(row, "id"));
        json_t *s = sub_of(task, name);
        double p = json_number_value(json_object_get(row, "product"));
        if (!strcmp(name, "reject"))
            CHECK(p == 1.0);
        else if (s)
            CHECK_NEAR(p, fmax(json_number_value(json_object_get(s, "score")), 0.1), 1e-9, 1e-12);
    }
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(json_object_get(lb, "leaderboard"), 0), "id")), "fair1") ||
          !strcmp(json_string_value(json_object_get(json_array_get(json_object_get(lb, "leaderboard"), 0), "id")), "fair2"));

    /* kill -9, restart: everything is still there; a rescore gives the same scores */
    kill(vp, SIGKILL);
    waitpid(vp, NULL, 0);
    vp = start_validator();
    json_t *task2 = get("/v1/tasks/1");
    CHECK(task2 && !strcmp(json_string_value(json_object_get(task2, "state")), "scored"));
    CHECK(admin("/v1/admin/rescore", json_pack("{s:i}", "task_id", 1)) == 200);
    t0 = tn_now();
    while (strcmp(task_state(1), "scored") && tn_now() - t0 < 120) usleep(250000);
    json_t *task3 = get("/v1/tasks/1");
    for (size_t k = 0; task3 && k < sizeof want / sizeof *want; k++) {
        json_t *a = sub_of(task, NAMES[want[k].r]), *b = sub_of(task3, NAMES[want[k].r]);
        CHECKF(a && b && json_equal(json_object_get(a, "score"), json_object_get(b, "score")),
               "%s: score changed after restart + rescore", NAMES[want[k].r]);
        /* the resamples are seeded by the task: the same intervals */
        CHECKF(a && b && (json_equal(json_object_get(a, "interval"), json_object_get(b, "interval")) ||
                          (!json_object_get(a, "interval") && !json_object_get(b, "interval"))),
               "%s: interval changed after restart + rescore", NAMES[want[k].r]);
    }
    if (task3) check_report(task3, report_training, model_params);
    json_decref(report_training);
    json_decref(task);
    json_decref(task2);
    json_decref(task3);
    json_decref(lb);
    kill(vp, SIGTERM);
    waitpid(vp, NULL, 0);
    for (int k = 0; k < NMINERS; k++) {
        if (M[k].started) pthread_join(M[k].th, NULL);
        tn_http_server_free(M[k].srv); /* stops it first: then its verifier can go */
        tn_verifier_free(M[k].ver);
        json_decref(M[k].start);
    }
    free(base);
    free(src);
    free(ds);
    free(g_validator_pub);
}

int main(void) {
    RUN(whole_task_with_cheats);
    return tn_test_summary("test_validator");
}
