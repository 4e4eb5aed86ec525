/* test_miner.c - `tuna miner` against a fake validator, over real HTTP on
 * 127.0.0.1, with the miner as a real child process (the built binary).
 *
 * The fake validator is an in-process tn_http_server: it serves the base
 * model's files and the dataset (a token in the query string, as pre-signed
 * URLs), accepts signed uploads from the registered miner's key only, checks
 * deadlines (410) and manifests (422), and answers GET {upload_url}.
 *
 * Unit tests: the policy as a table, /start_training validation, miner.yml.
 * Integration (needs ../shared/data for the stories260K base model):
 *   auth and malformed requests; a full task end to end on a two-slot miner
 *   with two tasks at once, a third offer refused for lack of a slot and
 *   answered within the validator's timeout while jobs train; the miner
 *   SIGKILLed mid-training and restarted (resumes, submits in time); the
 *   validator unreachable during the upload (retries, then succeeds); and
 *   the red-team strategies, each recorded in the ledger and the upload. */
#include "harness.h"

#include "net/http_client.h"
#include "net/http_server.h"
#include "net/keys.h"
#include "miner/config.h"
#include "miner/db.h"
#include "miner/miner_internal.h"
#include "miner/spec.h"
#include "miner/policy.h"
#include "miner/recipe.h"
#include "net/sign.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/rows.h"
#include "model/model.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- unit: the policy table ------------------------------------------------ */

typedef struct {
    const char *what;
    const char *model_type;
    double params, ds, hours;
    const char *task_type;
    int free_slots;
    double flops, memory_gb;
    int accept, lora;
    const char *needle;
} policy_case;

TEST(recipe_checkpointing) {
    /* past 2B the recipe checkpoints, the memory estimate assumes it, the job
     * stores it (a resume keeps it) and tuna train gets the flag */
    tn_policy p;
    tn_policy_defaults(&p);
    const struct { double params; int ck; } C[] = {{5e8, 0}, {2e9, 0}, {3.2e9, 1}};
    for (size_t i = 0; i < sizeof C / sizeof *C; i++) {
        tn_recipe r, back;
        tn_recipe_choose(&p, (int64_t)C[i].params, 1000, 3600, &r);
        CHECKF(r.checkpoint == C[i].ck, "%.1fB: checkpoint %d", C[i].params / 1e9, r.checkpoint);
        json_t *j = tn_recipe_json(&r);
        CHECK(j && json_is_true(json_object_get(j, "gradient_checkpointing")) == C[i].ck);
        CHECK(j && tn_recipe_from_json(j, &back) == 0 && back.checkpoint == r.checkpoint);
        json_decref(j);
    }
    json_t *bad = json_pack("{s:s}", "gradient_checkpointing", "yes");
    tn_recipe r;
    CHECK_ERR(tn_recipe_from_json(bad, &r), "gradient_checkpointing");
    json_decref(bad);
}

TEST(policy_table) {
    static const policy_case C[] = {
        {"small model, plenty of time", "llama", 260032, 1000, 1, "instruct", 1, 1e9, 16, 1, 0, "accepted: full"},
        {"gpt2 and chat", "gpt2", 1.2e8, 100, 1, "chat", 1, 1e12, 16, 1, 0, "accepted"},
        {"unsupported architecture", "bert", 1e6, 100, 1, "instruct", 1, 1e9, 16, 0, 0,
         "unsupported architecture 'bert'"},
        {"no architecture", "", 1e6, 100, 1, "instruct", 1, 1e9, 16, 0, 0, "unsupported architecture"},
        {"unsupported task type", "qwen2", 1e6, 100, 1, "dpo", 1, 1e9, 16, 0, 0, "unsupported task_type 'dpo'"},
        {"12B: over the memory budget (no parameter cap by default)", "llama", 12e9, 100, 100, "instruct", 1, 1e12, 16,
         0, 0, "model too big for memory: 12.0B parameters"},
        {"no parameter count", "llama", 0, 100, 1, "instruct", 1, 1e9, 16, 0, 0, "model_params_count is missing"},
        /* LoRA keeps a bf16 base as stored: a 3.2B (Llama-3.2-3B) LoRA fits 16 GB, where
         * full fine-tuning (16 bytes a parameter) does not; 2.9B is ~5.8 GB of weights alone */
        {"3B: LoRA on the bf16 base fits 16 GB", "llama", 3.2e9, 10, 100, "instruct", 1, 1e12, 16, 1, 1,
         "accepted: LoRA"},
        {"over the memory budget even with LoRA", "mistral", 2.9e9, 10, 100, "instruct", 1, 1e12, 6, 0, 1,
         "too big for memory"},
        {"full does not fit memory, LoRA does", "llama", 5e8, 10, 10, "instruct", 1, 1e9, 6, 1, 1,
         "accepted: LoRA"},
        {"no free slot", "llama", 260032, 100, 1, "instruct", 0, 1e9, 16, 0, 0, "no free slot (2 of 2 busy)"},
        {"too little time (margin)", "llama", 260032, 100, 0.01, "instruct", 1, 1e9, 16, 0, 0,
         "too little time: 36 s given - 30 s margin"},
        {"too little time (work)", "llama", 1e8, 100000, 1, "instruct", 1, 1e9, 16, 0, 0, "pass(es) over 100000 rows"},
        {"short time: LoRA fits where full does not", "llama", 1e8, 33333, 1, "text", 1, 1e12, 16, 1, 1,
         "accepted: LoRA"},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        const policy_case *c = &C[i];
        tn_policy p;
        tn_policy_defaults(&p);
        p.flops = c->flops;
        p.memory_bytes = c->memory_gb * (double)(1u << 30);
        tn_offer o = {.task_id = 1, .params = (int64_t)c->params, .ds_size = (int64_t)c->ds, .hours = c->hours};
        snprintf(o.model_type, sizeof o.model_type, "%s", c->model_type);
        snprintf(o.task_type, sizeof o.task_type, "%s", c->task_type);
        tn_policy_decision d;
        tn_policy_decide(&p, &o, c->free_slots, 2, &d);
        CHECKF(d.accept == c->accept && strstr(d.message, c->needle), "%s: accept=%d \"%s\"", c->what, d.accept,
               d.message);
        if (c->accept) CHECKF(d.lora == c->lora, "%s: lora=%d", c->what, d.lora);
    }
    /* an operator's parameter cap still applies, before the memory estimate */
    tn_policy p;
    tn_policy_defaults(&p);
    p.max_params = 3000000000LL;
    tn_offer big = {.task_id = 1, .params = 7000000000LL, .ds_size = 100, .hours = 100};
    snprintf(big.model_type, sizeof big.model_type, "llama");
    snprintf(big.task_type, sizeof big.task_type, "instruct");
    tn_policy_decision d;
    tn_policy_decide(&p, &big, 1, 2, &d);
    CHECKF(!d.accept && strstr(d.message, "model too big: 7.0B parameters > this miner's cap of 3.0B"), "%s", d.message);
    /* the memory estimate grows with the model and is what the budget is held against:
     * at least the base's bf16 weights */
    CHECK(d.mem_bytes > 2.0 * 7e9);
    /* the offer parser names the field */
    json_t *b = json_pack("{s:s}", "task_id", "seven");
    tn_offer o;
    CHECK_ERR(tn_offer_parse(b, &o), "task_id");
    json_decref(b);
}

/* ---- unit: /start_training bodies ------------------------------------------ */

static json_t *good_spec(int64_t task, const char *sid, int64_t deadline, const char *base_url) {
    char u[512];
    snprintf(u, sizeof u, "%s/v1/submissions/%s", base_url, sid);
    const char *h = "0000000000000000000000000000000000000000000000000000000000000000";
    return json_pack("{s:I, s:s, s:{s:s, s:[{s:s, s:s, s:s, s:i}]}, s:{s:s, s:s, s:i, s:s}, s:{s:s}, s:f, s:I, "
                     "s:s}",
                     "task_id", (json_int_t)task, "submission_id", sid, "model", "name", "m", "files", "name",
                     "config.json", "url", "http://x/blobs/config.json", "sha256", h, "size", 10, "dataset", "url",
                     "http://x/blobs/d", "sha256", h, "size", 10, "format", "jsonl", "dataset_type", "kind",
                     "instruct", "hours_to_complete", 1.0, "deadline_ms", (json_int_t)deadline, "upload_url", u);
}

TEST(start_validation) {
    int64_t now = tn_wall_ms();
    json_t *s = good_spec(3, "abcdef0123", now + 60000, "http://127.0.0.1:1");
    CHECK(tn_start_validate(s, now) == 0);
    json_object_set_new(s, "deadline_ms", json_integer(now - 5));
    CHECK_ERR(tn_start_validate(s, now), "deadline has already passed");
    json_object_set_new(s, "deadline_ms", json_integer(now + 60000));
    json_t *f = json_array_get(json_object_get(json_object_get(s, "model"), "files"), 0);
    json_object_set_new(f, "name", json_string("../../etc/passwd"));
    CHECK_ERR(tn_start_validate(s, now), "plain file name");
    json_object_set_new(f, "name", json_string("config.json"));
    json_object_set_new(f, "sha256", json_string("xyz"));
    CHECK_ERR(tn_start_validate(s, now), "model.files[0]: field sha256");
    json_decref(s);
    s = good_spec(3, "not hex!", now + 60000, "http://127.0.0.1:1");
    CHECK_ERR(tn_start_validate(s, now), "submission_id");
    json_decref(s);
    s = good_spec(3, "abcdef0123", now + 60000, "ftp://nope");
    CHECK_ERR(tn_start_validate(s, now), "upload_url");
    json_object_set_new(s, "upload_url", json_string("http://ok/x"));
    json_object_set_new(json_object_get(s, "dataset_type"), "kind", json_string("dpo"));
    CHECK_ERR(tn_start_validate(s, now), "dataset_type.kind");
    /* fuzz_miner's finding: a body without "dataset" crashed the miner while
     * the error message named the missing value's type */
    json_object_del(json_object_get(s, "dataset_type"), "kind");
    json_object_del(s, "dataset");
    CHECK_ERR(tn_start_validate(s, now), "dataset: expected an object, got nothing");
    json_decref(s);
}

/* ---- unit: miner.yml ----------------------------------------------------------- */

TEST(config_yaml) {
    char *p = tn_sprintf("%s/m.yml", tn_t_tmpdir());
    const char *good = "slots: 3\nstrategy: late\nmemory_gb: 2\nbandwidth_mbps: 100\nwork_dir: /tmp/w\n";
    CHECK(tn_write_file_atomic(p, good, strlen(good)) == 0);
    tn_miner_config c;
    tn_miner_config_defaults(&c);
    CHECK(tn_miner_config_load_yaml(&c, p) == 0);
    CHECK(c.slots == 3 && c.strategy == TN_STRAT_LATE && !strcmp(c.work_dir, "/tmp/w"));
    CHECK_NEAR(c.policy.memory_bytes, 2.0 * (1u << 30), 1e-9, 0);
    CHECK_NEAR(c.policy.bandwidth_bps, 100e6, 1e-9, 0);
    const char *bad = "slots: 2\nslotz: 3\n";
    CHECK(tn_write_file_atomic(p, bad, strlen(bad)) == 0);
    CHECK_ERR(tn_miner_config_load_yaml(&c, p), "m.yml:2: unknown key 'slotz'");
    const char *badv = "slots: many\n";
    CHECK(tn_write_file_atomic(p, badv, strlen(badv)) == 0);
    CHECK_ERR(tn_miner_config_load_yaml(&c, p), "m.yml:1: slots: expected a number");
    const char *bads = "strategy: steal\n";
    CHECK(tn_write_file_atomic(p, bads, strlen(bads)) == 0);
    CHECK_ERR(tn_miner_config_load_yaml(&c, p), "unknown strategy 'steal'");
    tn_miner_config_free(&c);
    free(p);
}

/* ---- the fake validator ------------------------------------------------------- */

#define MAX_SUBS 32

typedef struct {
    char sid[65];
    int64_t deadline_ms;
    int received;
    int64_t received_at;
    char kind[16], strategy[32];
    char *note;
    json_t *stored; /* name -> sha256 of files PUT */
    json_t *manifest;
} vsub;

static struct {
    pthread_mutex_t mu;
    vsub subs[MAX_SUBS];
    int n;
    tn_http_server *srv;
    tn_verifier *ver;
    int port;
    char base[64];
    char *blobs, *store, *updir;
} V = {.mu = PTHREAD_MUTEX_INITIALIZER};

static tn_keypair g_val, g_miner, g_stranger;

static vsub *sub_find(const char *sid) {
    for (int i = 0; i < V.n; i++)
        if (!strcmp(V.subs[i].sid, sid)) return &V.subs[i];
    return NULL;
}

static void sub_add(const char *sid, int64_t deadline) {
    pthread_mutex_lock(&V.mu);
    vsub *s = &V.subs[V.n++];
    memset(s, 0, sizeof *s);
    snprintf(s->sid, sizeof s->sid, "%s", sid);
    s->deadline_ms = deadline;
    s->stored = json_object();
    pthread_mutex_unlock(&V.mu);
}

static void h_blob(tn_http_req *r, void *ud) {
    (void)ud;
    const char *tok = tn_http_query(r, "token"), *name = r->path + strlen("/blobs/");
    if (!tok || strcmp(tok, "s3cret")) {
        tn_http_reply_error(r, 403, "bad token");
        return;
    }
    if (!*name || strchr(name, '/') || name[0] == '.') {
        tn_http_reply_error(r, 400, "bad name");
        return;
    }
    char *p = tn_path_join(V.blobs, name);
    tn_http_reply_file(r, 200, p, NULL);
    free(p);
}

/* /v1/submissions/<sid>[/rest]: copies sid, returns rest ("" when none) */
static const char *split_sub(const char *path, char *sid, size_t cap) {
    const char *p = path + strlen("/v1/submissions/"), *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    snprintf(sid, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
    return slash ? slash + 1 : "";
}

static void h_put(tn_http_req *r, void *ud) {
    (void)ud;
    char sid[80];
    const char *rest = split_sub(r->path, sid, sizeof sid);
    if (strncmp(rest, "files/", 6) || !rest[6] || strchr(rest + 6, '/')) {
        tn_http_reply_error(r, 404, "no such route");
        return;
    }
    const char *name = rest + 6;
    pthread_mutex_lock(&V.mu);
    vsub *s = sub_find(sid);
    if (!s) {
        tn_http_reply_error(r, 404, "unknown submission %s", sid);
    } else if (tn_wall_ms() > s->deadline_ms) {
        tn_http_reply_error(r, 410, "the deadline has passed");
    } else {
        char *dir = tn_path_join(V.store, sid), *dest;
        tn_mkdir_p(dir);
        dest = tn_path_join(dir, name);
        if (rename(r->upload_path, dest) == 0) {
            json_object_set_new(s->stored, name, json_string(r->upload_sha256));
            tn_http_reply_json(r, 201, json_pack("{s:s, s:I}", "sha256", r->upload_sha256, "size",
                                                 (json_int_t)r->upload_size));
        } else {
            tn_http_reply_error(r, 500, "cannot keep the file");
        }
        free(dir);
        free(dest);
    }
    pthread_mutex_unlock(&V.mu);
}

static void h_complete(tn_http_req *r, void *ud) {
    (void)ud;
    char sid[80];
    const char *rest = split_sub(r->path, sid, sizeof sid);
    if (strcmp(rest, "complete")) {
        tn_http_reply_error(r, 404, "no such route");
        return;
    }
    json_t *b = tn_http_body_json(r);
    if (!b) return;
    pthread_mutex_lock(&V.mu);
    vsub *s = sub_find(sid);
    const json_t *files = json_object_get(b, "files");
    const char *name;
    json_t *v;
    int ok = json_is_object(files) && json_object_size(files) > 0;
    json_object_foreach((json_t *)files, name, v) {
        const char *got = json_string_value(json_object_get(s ? s->stored : NULL, name));
        if (!got || !json_is_string(v) || strcmp(got, json_string_value(v))) ok = 0;
    }
    if (!s) {
        tn_http_reply_error(r, 404, "unknown submission %s", sid);
    } else if (tn_wall_ms() > s->deadline_ms) {
        tn_http_reply_error(r, 410, "the deadline has passed");
    } else if (!ok) {
        tn_http_reply_error(r, 422, "manifest does not match the uploaded files");
    } else {
        s->received = 1;
        s->received_at = tn_wall_ms();
        snprintf(s->kind, sizeof s->kind, "%s", json_string_value(json_object_get(b, "kind")));
        snprintf(s->strategy, sizeof s->strategy, "%s", json_string_value(json_object_get(b, "strategy")));
        free(s->note);
        s->note = tn_strdup(json_string_value(json_object_get(b, "note")) ? json_string_value(json_object_get(b, "note"))
                                                                           : "");
        json_decref(s->manifest);
        s->manifest = json_deep_copy(files);
        tn_http_reply_json(r, 200, json_pack("{s:s, s:I}", "status", "received", "received_at",
                                             (json_int_t)s->received_at));
    }
    pthread_mutex_unlock(&V.mu);
    json_decref(b);
}

static void h_get(tn_http_req *r, void *ud) {
    (void)ud;
    char sid[80];
    split_sub(r->path, sid, sizeof sid);
    pthread_mutex_lock(&V.mu);
    vsub *s = sub_find(sid);
    if (!s) tn_http_reply_error(r, 404, "unknown submission %s", sid);
    else
        tn_http_reply_json(r, 200, json_pack("{s:s, s:I}", "status", s->received ? "received" : "pending",
                                             "received_at", (json_int_t)s->received_at));
    pthread_mutex_unlock(&V.mu);
}

static int validator_start(int port) {
    if (!V.ver) {
        V.ver = tn_verifier_new(0, 0);
        if (!V.ver || tn_verifier_allow(V.ver, g_miner.id)) return -1;
    }
    tn_http_server_opts o = {.port = port, .verifier = V.ver, .no_not_before = 1};
    V.srv = tn_http_server_new(&o);
    const tn_http_route routes[] = {
        {.method = "GET", .path = "/blobs/", .flags = TN_ROUTE_PREFIX, .fn = h_blob},
        {.method = "PUT", .path = "/v1/submissions/", .flags = TN_ROUTE_PREFIX | TN_ROUTE_SIGNED | TN_ROUTE_UPLOAD,
         .max_body = 64 << 20, .upload_dir = V.updir, .fn = h_put},
        {.method = "POST", .path = "/v1/submissions/", .flags = TN_ROUTE_PREFIX | TN_ROUTE_SIGNED, .fn = h_complete},
        {.method = "GET", .path = "/v1/submissions/", .flags = TN_ROUTE_PREFIX | TN_ROUTE_SIGNED, .fn = h_get},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (tn_http_server_route(V.srv, &routes[i])) return -1;
    if (tn_http_server_start(V.srv)) return -1;
    V.port = tn_http_server_port(V.srv);
    snprintf(V.base, sizeof V.base, "http://127.0.0.1:%d", V.port);
    return 0;
}

static void validator_stop(void) {
    tn_http_server_free(V.srv);
    V.srv = NULL;
}

/* ---- fixtures: base model, dataset, blobs ----------------------------------------- */

static char g_model[512], g_data[512], g_swap[512], g_test_rows[512];
static json_t *g_files; /* [{name, url, sha256, size}] of the base model */
static json_t *g_dataset;

static json_t *blob_entry(const char *path, const char *name) {
    unsigned char sha[TN_SHA256_BYTES];
    char hex[2 * TN_SHA256_BYTES + 1];
    uint64_t size;
    if (tn_sha256_file(path, sha, &size)) return NULL;
    tn_hex_encode(sha, sizeof sha, hex);
    char *dst = tn_path_join(V.blobs, name);
    tn_copy_file(path, dst);
    free(dst);
    char *url = tn_sprintf("%s/blobs/%s?token=s3cret", V.base, name);
    json_t *e = json_pack("{s:s, s:s, s:s, s:I}", "name", name, "url", url, "sha256", hex, "size", (json_int_t)size);
    free(url);
    return e;
}

static void write_rows(const char *path, int n, int offset) {
    static const char *const W[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
    FILE *f = fopen(path, "w");
    for (int i = 0; i < n; i++)
        fprintf(f, "{\"instruction\": \"Say the number %d in words.\", \"input\": \"\", \"output\": \"%s is the "
                   "word.\"}\n",
                i + offset, W[(i + offset) % 10]);
    fclose(f);
}

/* 1 ready, 0 no shared data, -1 failed */
static int setup(void) {
    static int done = 0;
    if (done) return done;
    const char *data = tn_t_shared_data();
    if (!data) return 0;
    const char *tmp = tn_t_tmpdir();
    snprintf(g_model, sizeof g_model, "%s/base", tmp);
    if (tn_t_stories260k(g_model)) return done = -1;
    /* swap-base: the same architecture from random weights, same tokenizer */
    snprintf(g_swap, sizeof g_swap, "%s/other", tmp);
    tn_config cfg;
    tn_model m;
    if (tn_config_load(&cfg, g_model) || tn_model_create(&m, &cfg)) return done = -1;
    tn_config_free(&cfg);
    tn_model_init_random(&m, 99);
    int rc = tn_model_save(&m, g_swap, g_model);
    tn_model_free(&m);
    if (rc) return done = -1;
    snprintf(g_data, sizeof g_data, "%s/data.jsonl", tmp);
    write_rows(g_data, 60, 0);
    snprintf(g_test_rows, sizeof g_test_rows, "%s/leaked_test.jsonl", tmp);
    write_rows(g_test_rows, 7, 1000);
    V.blobs = tn_sprintf("%s/blobs", tmp);
    V.store = tn_sprintf("%s/received", tmp);
    V.updir = tn_sprintf("%s/uploading", tmp);
    tn_mkdir_p(V.blobs);
    tn_mkdir_p(V.store);
    tn_mkdir_p(V.updir);
    if (validator_start(0)) return done = -1;
    g_files = json_array();
    static const char *const names[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = tn_path_join(g_model, names[i]);
        json_t *e = blob_entry(p, names[i]);
        free(p);
        if (!e) return done = -1;
        json_array_append_new(g_files, e);
    }
    g_dataset = blob_entry(g_data, "train-split");
    json_object_set_new(g_dataset, "format", json_string("jsonl"));
    json_object_del(g_dataset, "name");
    return done = 1;
}

#define NEED_SETUP()                                                               \
    do {                                                                           \
        int s_ = setup();                                                          \
        if (s_ == 0) SKIP("../shared/data is missing (set TUNA_SHARED_DATA)");    \
        CHECKF(s_ == 1, "setup failed: %s", tn_errmsg());                          \
        if (s_ != 1) return;                                                       \
    } while (0)

/* ---- the miner process ---------------------------------------------------------- */

static pid_t g_pid;
static int g_port;
static char g_work[512], g_log[600];

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static tn_http_resp mreq(const tn_keypair *k, const char *method, const char *path, const json_t *body) {
    tn_http_opts o = {.key = k, .timeout_ms = 10000};
    char *u = tn_sprintf("http://127.0.0.1:%d%s", g_port, path);
    tn_http_resp r = {0};
    if (tn_http_json(&o, method, u, body, &r)) r.status = -1;
    free(u);
    return r;
}

static void print_log_tail(void) {
    char *cmd = tn_sprintf("tail -n 25 %s >&2", g_log);
    int rc = system(cmd);
    (void)rc;
    free(cmd);
}

/* Starts `tuna miner` on g_work with the test config plus extra flags, and
 * waits until /status answers. */
static int miner_start(const char *extra) {
    if (!g_port) g_port = free_port();
    char *yml = tn_sprintf("%s/miner.yml", g_work);
    const char *cfg = "slots: 2\nthreads_per_job: 1\nmin_train_s: 1\nstartup_s: 1\nbandwidth_mbps: 1000\n"
                      "upload_margin_s: 2\nmax_train_s: 4\noffer_hold_s: 60\nretry_base_s: 0.3\nretry_max_s: 1\n"
                      "late_s: 1\ntokens_per_row: 50\n";
    tn_mkdir_p(g_work);
    tn_write_file_atomic(yml, cfg, strlen(cfg));
    snprintf(g_log, sizeof g_log, "%s/miner.log", g_work);
    char *keyf = tn_sprintf("%s/miner_key.json", tn_t_tmpdir());
    if (!tn_file_exists(keyf)) tn_keypair_save(&g_miner, keyf, 1);
    char *cmd = tn_sprintf("exec %s miner --config %s --listen 127.0.0.1:%d --key %s --validator-key %s "
                           "--work-dir %s %s >> %s 2>&1",
                           tn_t_tuna(), yml, g_port, keyf, g_val.id, g_work, extra ? extra : "", g_log);
    free(yml);
    free(keyf);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    free(cmd);
    g_pid = pid;
    double t0 = tn_now();
    while (tn_now() - t0 < 30) {
        tn_http_resp r = mreq(&g_val, "GET", "/status", NULL);
        long st = r.status;
        tn_http_resp_free(&r);
        if (st == 200) return 0;
        int ws;
        if (waitpid(pid, &ws, WNOHANG) == pid) {
            g_pid = 0;
            print_log_tail();
            return -1;
        }
        usleep(100 * 1000);
    }
    print_log_tail();
    return -1;
}

/* SIGTERM (clean) or SIGKILL; returns the exit status (128 + signal). */
static int miner_stop(int sig) {
    if (!g_pid) return -1;
    kill(g_pid, sig);
    int ws = 0;
    waitpid(g_pid, &ws, 0);
    g_pid = 0;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static void kill_miner_at_exit(void) {
    if (g_pid) miner_stop(SIGKILL);
}

/* offer -> accepted?, message into msg */
static int offer(int64_t task, double params, double hours, const char *model_type, char *msg, size_t cap,
                 double *secs) {
    json_t *b = json_pack("{s:I, s:s, s:I, s:{s:s, s:i}, s:i, s:f, s:s}", "task_id", (json_int_t)task, "model",
                          "stories260K", "model_params_count", (json_int_t)params, "architecture", "model_type",
                          model_type, "hidden_size", 64, "ds_size", 60, "hours_to_complete", hours, "task_type",
                          "instruct");
    double t0 = tn_now();
    tn_http_resp r = mreq(&g_val, "POST", "/task_offer", b);
    if (secs) *secs = tn_now() - t0;
    json_decref(b);
    int acc = r.status == 200 && json_is_true(json_object_get(r.json, "accepted"));
    const char *m = json_string_value(json_object_get(r.json, "message"));
    snprintf(msg, cap, "HTTP %ld: %s", r.status, m ? m : r.body ? r.body : "");
    tn_http_resp_free(&r);
    return acc;
}

static json_t *spec(int64_t task, const char *sid, int64_t deadline) {
    char *up = tn_sprintf("%s/v1/submissions/%s", V.base, sid);
    /* deep copies: callers break their copy on purpose */
    json_t *s = json_pack("{s:I, s:s, s:{s:s, s:o}, s:o, s:{s:s, s:s, s:s, s:s, s:n}, s:f, s:I, s:s}", "task_id",
                          (json_int_t)task, "submission_id", sid, "model", "name", "stories260K", "files",
                          json_deep_copy(g_files), "dataset", json_deep_copy(g_dataset), "dataset_type", "kind", "instruct", "field_instruction", "instruction",
                          "field_input", "input", "field_output", "output", "system_prompt", "hours_to_complete",
                          (double)(deadline - tn_wall_ms()) / 3.6e6, "deadline_ms", (json_int_t)deadline,
                          "upload_url", up);
    free(up);
    return s;
}

/* offer + start; returns the /start_training status */
static long offer_and_start(int64_t task, const char *sid, double seconds) {
    char msg[512];
    int64_t deadline = tn_wall_ms() + (int64_t)(seconds * 1000);
    if (!offer(task, 260032, seconds / 3600.0, "llama", msg, sizeof msg, NULL)) {
        fprintf(stderr, "  offer %lld refused: %s\n", (long long)task, msg);
        return -1;
    }
    sub_add(sid, deadline);
    json_t *s = spec(task, sid, deadline);
    tn_http_resp r = mreq(&g_val, "POST", "/start_training", s);
    json_decref(s);
    long st = r.status;
    if (st != 202) fprintf(stderr, "  start %lld: HTTP %ld: %s\n", (long long)task, st, r.body);
    tn_http_resp_free(&r);
    return st;
}

static int received(const char *sid) {
    pthread_mutex_lock(&V.mu);
    vsub *s = sub_find(sid);
    int r = s && s->received;
    pthread_mutex_unlock(&V.mu);
    return r;
}

static int wait_received(const char *sid, double timeout) {
    double t0 = tn_now();
    while (tn_now() - t0 < timeout) {
        if (received(sid)) return 1;
        usleep(100 * 1000);
    }
    print_log_tail();
    return 0;
}

/* The job's state in /status ("" when it is not running). */
static void job_state(int64_t task, char *out, size_t cap) {
    out[0] = 0;
    tn_http_resp r = mreq(&g_val, "GET", "/status", NULL);
    json_t *jobs = json_object_get(r.json, "jobs"), *j;
    size_t i;
    json_array_foreach(jobs, i, j) {
        if (json_integer_value(json_object_get(j, "task_id")) == task)
            snprintf(out, cap, "%s", json_string_value(json_object_get(j, "state")));
    }
    tn_http_resp_free(&r);
}

static int wait_state(int64_t task, const char *state, double timeout) {
    char s[32];
    double t0 = tn_now();
    while (tn_now() - t0 < timeout) {
        job_state(task, s, sizeof s);
        if (!strcmp(s, state)) return 1;
        usleep(50 * 1000);
    }
    return 0;
}

static json_t *ledger(void) {
    char *cmd = tn_sprintf("%s miner ledger --json --work-dir %s", tn_t_tuna(), g_work);
    FILE *p = popen(cmd, "r");
    free(cmd);
    if (!p) return NULL;
    json_error_t err;
    json_t *j = json_loadf(p, 0, &err);
    pclose(p);
    return j;
}

static json_t *ledger_entry(json_t *all, int64_t task) {
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e) if (json_integer_value(json_object_get(e, "task_id")) == task) return e;
    return NULL;
}

/* the sha256 the fake validator stored for sid/name, or NULL */
static const char *stored_sha(const char *sid, const char *name) {
    pthread_mutex_lock(&V.mu);
    vsub *s = sub_find(sid);
    const char *h = s ? json_string_value(json_object_get(s->stored, name)) : NULL;
    pthread_mutex_unlock(&V.mu);
    return h;
}

/* does sid's upload note mention word? */
static int note_has(const char *sid, const char *word) {
    pthread_mutex_lock(&V.mu);
    vsub *s = sub_find(sid);
    int r = s && s->note && strstr(s->note, word);
    pthread_mutex_unlock(&V.mu);
    return r;
}

/* ---- integration ------------------------------------------------------------------ */

/* curl write callback: the first 255 bytes of a reply into a char[256] */
static size_t keep_reply(char *d, size_t sz, size_t n, void *ud) {
    char *buf = ud;
    size_t have = strlen(buf), k = sz * n;
    if (have + k > 255) k = 255 - have;
    memcpy(buf + have, d, k);
    buf[have + k] = 0;
    return sz * n;
}

TEST(auth_and_malformed) {
    NEED_SETUP();
    snprintf(g_work, sizeof g_work, "%s/wA", tn_t_tmpdir());
    CHECK(miner_start(NULL) == 0);
    if (!g_pid) return;
    char *prof = tn_sprintf("%s/profile.json", g_work);
    CHECKF(tn_file_exists(prof), "calibration wrote no profile.json");
    free(prof);
    /* unsigned, and signed by a key the miner does not know */
    tn_http_resp r = mreq(NULL, "GET", "/status", NULL);
    CHECKF(r.status == 401 && strstr(tn_http_resp_error(&r), "missing header"), "%ld %s", r.status, r.body);
    tn_http_resp_free(&r);
    json_t *o = json_pack("{s:i, s:s, s:i, s:{s:s}, s:i, s:f}", "task_id", 1, "model", "m", "model_params_count",
                          1000, "architecture", "model_type", "llama", "ds_size", 10, "hours_to_complete", 1.0);
    r = mreq(&g_stranger, "POST", "/task_offer", o);
    CHECKF(r.status == 403 && strstr(tn_http_resp_error(&r), "unknown key"), "%ld %s", r.status, r.body);
    tn_http_resp_free(&r);
    json_decref(o);
    /* a valid key, but the body is not the one signed: 401 bad signature */
    {
        const char *signed_body = "{\"task_id\": 1}", *sent = "{\"task_id\": 2}";
        unsigned char sha[TN_SHA256_BYTES];
        tn_sig_headers h;
        tn_sha256(signed_body, strlen(signed_body), sha);
        tn_sign_request(&g_val, "POST", "/start_training", sha, (int64_t)tn_wall_now(), &h);
        char *u = tn_sprintf("http://127.0.0.1:%d/start_training", g_port), line[256];
        struct curl_slist *hd = NULL;
        hd = curl_slist_append(hd, (snprintf(line, sizeof line, "X-Tuna-Key: %s", h.key), line));
        hd = curl_slist_append(hd, (snprintf(line, sizeof line, "X-Tuna-Time: %s", h.time), line));
        hd = curl_slist_append(hd, (snprintf(line, sizeof line, "X-Tuna-Nonce: %s", h.nonce), line));
        hd = curl_slist_append(hd, (snprintf(line, sizeof line, "X-Tuna-Signature: %s", h.sig), line));
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, u);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, sent);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
        char reply[256] = "";
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_reply);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, reply);
        long st = 0;
        if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
        CHECKF(st == 401 && strstr(reply, "bad signature"), "tampered body: HTTP %ld %s", st, reply);
        curl_easy_cleanup(c);
        curl_slist_free_all(hd);
        free(u);
    }
    /* malformed bodies: 400 naming the field */
    json_t *bad = json_pack("{s:s}", "task_id", "one");
    r = mreq(&g_val, "POST", "/task_offer", bad);
    CHECKF(r.status == 400 && strstr(tn_http_resp_error(&r), "task_id"), "%ld %s", r.status, r.body);
    tn_http_resp_free(&r);
    r = mreq(&g_val, "POST", "/start_training", bad);
    CHECKF(r.status == 400 && strstr(tn_http_resp_error(&r), "task_id"), "%ld %s", r.status, r.body);
    tn_http_resp_free(&r);
    json_decref(bad);
    json_t *s = spec(77, "abcdef77", tn_wall_ms() + 60000);
    json_object_set_new(json_array_get(json_object_get(json_object_get(s, "model"), "files"), 0), "name",
                        json_string("../evil"));
    r = mreq(&g_val, "POST", "/start_training", s);
    CHECKF(r.status == 400 && strstr(tn_http_resp_error(&r), "plain file name"), "%ld %s", r.status, r.body);
    tn_http_resp_free(&r);
    json_decref(s);
    /* not JSON at all */
    tn_http_opts ho = {.key = &g_val, .timeout_ms = 5000};
    char *u = tn_sprintf("http://127.0.0.1:%d/start_training", g_port);
    CHECK(tn_http_request(&ho, "POST", u, "application/json", "{nope", 5, &r) == 0);
    CHECKF(r.status == 400, "%ld %s", r.status, r.body);
    tn_http_resp_free(&r);
    free(u);
    /* well-formed but never offered */
    s = spec(78, "abcdef78", tn_wall_ms() + 60000);
    r = mreq(&g_val, "POST", "/start_training", s);
    CHECKF(r.status == 404 && strstr(tn_http_resp_error(&r), "no accepted offer"), "%ld %s", r.status, r.body);
    tn_http_resp_free(&r);
    json_decref(s);
    /* offers the policy refuses, through HTTP */
    char msg[512];
    CHECK(!offer(80, 1e6, 1, "bert", msg, sizeof msg, NULL) && strstr(msg, "unsupported architecture"));
    CHECK(!offer(81, 40e9, 1, "llama", msg, sizeof msg, NULL) && strstr(msg, "model too big"));
    CHECK(!offer(82, 260032, 0.0001, "llama", msg, sizeof msg, NULL) && strstr(msg, "too little time"));
    /* nothing was started */
    r = mreq(&g_val, "GET", "/status", NULL);
    CHECKF(r.status == 200 && json_array_size(json_object_get(r.json, "jobs")) == 0 &&
               json_integer_value(json_object_get(r.json, "free_slots")) == 2,
           "%s", r.body);
    tn_http_resp_free(&r);
}

TEST(two_tasks_full_flow) {
    NEED_SETUP();
    if (!g_pid) SKIP("no miner running");
    CHECK(offer_and_start(1, "aaaa0001", 40) == 202);
    CHECK(offer_and_start(2, "aaaa0002", 40) == 202);
    /* both slots busy: a third offer is refused, and answered fast although
     * two training children keep the machine's cores busy */
    CHECK(wait_state(1, JOB_TRAINING, 10));
    char msg[512];
    double secs = 0;
    CHECKF(!offer(3, 260032, 0.01, "llama", msg, sizeof msg, &secs) && strstr(msg, "no free slot"), "%s", msg);
    CHECKF(secs < 3.0, "offer answered in %.2f s", secs);
    CHECK(wait_received("aaaa0001", 40));
    CHECK(wait_received("aaaa0002", 40));
    /* what arrived: a full model, no metrics, hashes of the miner's output */
    pthread_mutex_lock(&V.mu);
    vsub *s = sub_find("aaaa0001");
    CHECK(s && !strcmp(s->kind, "full") && !strcmp(s->strategy, "fair"));
    CHECK(s && s->note && strstr(s->note, "val loss"));
    CHECK(s && json_object_get(s->manifest, "config.json") && json_object_get(s->manifest, "model.safetensors"));
    CHECK(s && !json_object_get(s->manifest, "metrics.jsonl") && !json_object_get(s->manifest, "train_summary.json"));
    CHECK(s && s->received_at <= s->deadline_ms);
    pthread_mutex_unlock(&V.mu);
    /* the upload is a fine-tune of the base: loads, and differs from it */
    char *got = tn_sprintf("%s/aaaa0001", V.store);
    tn_model a, b;
    if (tn_model_load(&a, got, 1) == 0) {
        if (tn_model_load(&b, g_model, 1) == 0) {
            double diff = 0;
            for (size_t i = 0; i < a.numel && i < b.numel; i++) diff += fabs(a.w[i] - b.w[i]);
            CHECKF(a.numel == b.numel && diff > 0, "numel %zu vs %zu, diff %g", a.numel, b.numel, diff);
            tn_model_free(&b);
        }
        tn_model_free(&a);
    } else {
        CHECKF(0, "uploaded model does not load: %s", tn_errmsg());
    }
    free(got);
    /* the ledger, as JSON and CSV */
    json_t *all = ledger(), *e = ledger_entry(all, 1);
    CHECKF(e != NULL, "no ledger entry for task 1");
    if (e) {
        CHECK(!strcmp(json_string_value(json_object_get(e, "strategy")), "fair"));
        CHECK(json_integer_value(json_object_get(e, "http_status")) == 200);
        CHECK(json_is_number(json_object_get(e, "val_loss")));
        CHECK(json_is_object(json_object_get(e, "hyperparameters")));
        CHECK(!strcmp(json_string_value(json_object_get(e, "base_model")), "stories260K"));
        CHECK(!strcmp(json_string_value(json_object_get(e, "dataset_sha256")),
                      json_string_value(json_object_get(g_dataset, "sha256"))));
        const char *sha = json_string_value(json_object_get(json_object_get(e, "files"), "model.safetensors"));
        const char *st = stored_sha("aaaa0001", "model.safetensors");
        CHECK(sha && st && !strcmp(sha, st));
        CHECK(!strcmp(json_string_value(json_object_get(json_object_get(e, "confirmed"), "status")), "received"));
    }
    json_decref(all);
    char *cmd = tn_sprintf("%s miner ledger --csv --work-dir %s | wc -l", tn_t_tuna(), g_work);
    FILE *p = popen(cmd, "r");
    int lines = 0;
    CHECK(p && fscanf(p, "%d", &lines) == 1 && lines == 3);
    if (p) pclose(p);
    free(cmd);
}

TEST(restart_mid_job) {
    NEED_SETUP();
    if (!g_pid) SKIP("no miner running");
    CHECK(offer_and_start(4, "aaaa0004", 40) == 202);
    /* kill the miner once the trainer is stepping */
    char *metrics = tn_sprintf("%s/jobs/4/out/metrics.jsonl", g_work);
    char *state = tn_sprintf("%s/jobs/4/out/checkpoint/state.json", g_work);
    double t0 = tn_now();
    while (!tn_file_exists(metrics) && tn_now() - t0 < 20) usleep(20 * 1000);
    CHECKF(tn_file_exists(metrics), "training never started");
    usleep(300 * 1000);
    CHECK(miner_stop(SIGKILL) == 128 + SIGKILL);
    /* the training child got SIGTERM (death signal) and left a checkpoint */
    t0 = tn_now();
    while (!tn_file_exists(state) && tn_now() - t0 < 10) usleep(50 * 1000);
    CHECKF(tn_file_exists(state), "no checkpoint after the miner was killed");
    CHECK(!received("aaaa0004"));
    CHECK(miner_start(NULL) == 0);
    CHECK(wait_received("aaaa0004", 40));
    /* the job's events tell the story */
    char *dbp = tn_sprintf("%s/miner.sqlite", g_work);
    tn_mdb *db = tn_mdb_open(dbp, 0);
    json_t *ev = db ? tn_mdb_events(db, 4) : NULL;
    char *txt = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    CHECKF(txt && strstr(txt, "miner restarted") && strstr(txt, "resumed training"), "events: %s", txt ? txt : "");
    free(txt);
    json_decref(ev);
    tn_mdb_close(db);
    free(dbp);
    free(metrics);
    free(state);
}

TEST(validator_unreachable) {
    NEED_SETUP();
    if (!g_pid) SKIP("no miner running");
    CHECK(offer_and_start(5, "aaaa0005", 45) == 202);
    CHECK(wait_state(5, JOB_TRAINING, 15)); /* inputs downloaded */
    int port = V.port;
    validator_stop();
    CHECK(wait_state(5, JOB_UPLOADING, 20));
    sleep(3); /* several failed attempts */
    CHECK(validator_start(port) == 0);
    CHECK(wait_received("aaaa0005", 30));
    json_t *all = ledger(), *e = ledger_entry(all, 5);
    json_int_t files = e ? (json_int_t)json_object_size(json_object_get(e, "files")) : 0;
    json_int_t attempts = e ? json_integer_value(json_object_get(e, "attempts")) : 0;
    /* one PUT per file, a complete and a confirm when nothing fails */
    CHECKF(e && attempts > files + 2, "attempts %lld for %lld files", (long long)attempts, (long long)files);
    json_decref(all);
    CHECK(miner_stop(SIGTERM) == 0); /* a clean stop exits 0 */
}

/* Runs one task under a strategy on a fresh miner; returns the ledger entry. */
static json_t *run_strategy(const char *flags, int64_t task, const char *sid, double seconds, int expect_received) {
    if (miner_start(flags)) return NULL;
    json_t *e = NULL;
    if (offer_and_start(task, sid, seconds) == 202) {
        if (expect_received) {
            CHECKF(wait_received(sid, seconds + 5), "%s: not received", flags);
        } else {
            /* wait for the job to end */
            char s[32] = "x";
            double t0 = tn_now();
            while (s[0] && tn_now() - t0 < seconds + 20) {
                usleep(200 * 1000);
                job_state(task, s, sizeof s);
            }
        }
        json_t *all = ledger();
        e = json_incref(ledger_entry(all, task));
        json_decref(all);
    }
    miner_stop(SIGTERM);
    CHECKF(e != NULL, "%s: no ledger entry", flags);
    return e;
}

static int files_equal(const char *sid, const char *dir, const char *name) {
    char *p = tn_path_join(dir, name);
    unsigned char sha[TN_SHA256_BYTES];
    char hex[2 * TN_SHA256_BYTES + 1];
    int ok = tn_sha256_file(p, sha, NULL) == 0;
    free(p);
    if (!ok) return 0;
    tn_hex_encode(sha, sizeof sha, hex);
    const char *st = stored_sha(sid, name);
    return st && !strcmp(st, hex);
}

TEST(strategies) {
    NEED_SETUP();
    /* untouched: the base model's files, byte for byte */
    json_t *e = run_strategy("--strategy untouched", 10, "bbbb0010", 30, 1);
    CHECK(e && !strcmp(json_string_value(json_object_get(e, "strategy")), "untouched"));
    CHECK(files_equal("bbbb0010", g_model, "model.safetensors"));
    json_decref(e);
    /* resubmit: an earlier output of the same shape (task 5 is the newest) */
    e = run_strategy("--strategy resubmit", 11, "bbbb0011", 30, 1);
    char *out5 = tn_sprintf("%s/jobs/5/out", g_work);
    CHECK(e && !strcmp(json_string_value(json_object_get(e, "strategy")), "resubmit"));
    CHECK(files_equal("bbbb0011", out5, "model.safetensors"));
    CHECK(!strcmp(stored_sha("bbbb0011", "model.safetensors"), stored_sha("aaaa0005", "model.safetensors")));
    json_decref(e);
    /* copy: another directory's files */
    char *out1 = tn_sprintf("%s/jobs/1/out", g_work), *flags = tn_sprintf("--strategy copy --copy-from %s", out1);
    e = run_strategy(flags, 12, "bbbb0012", 30, 1);
    CHECK(e && !strcmp(json_string_value(json_object_get(e, "strategy")), "copy"));
    CHECK(files_equal("bbbb0012", out1, "model.safetensors"));
    CHECK(note_has("bbbb0012", "copy"));
    json_decref(e);
    free(flags);
    /* swap-base: fine-tunes another network of the same shape */
    flags = tn_sprintf("--strategy swap-base --swap-model %s", g_swap);
    e = run_strategy(flags, 13, "bbbb0013", 30, 1);
    CHECK(e && !strcmp(json_string_value(json_object_get(e, "strategy")), "swap-base"));
    CHECK(note_has("bbbb0013", "swap-base"));
    json_decref(e);
    free(flags);
    /* test-peek: the leaked rows are in the training data */
    flags = tn_sprintf("--strategy test-peek --test-rows %s", g_test_rows);
    e = run_strategy(flags, 14, "bbbb0014", 30, 1);
    CHECK(e && !strcmp(json_string_value(json_object_get(e, "strategy")), "test-peek"));
    char *peek = tn_sprintf("%s/jobs/14/train_peek.jsonl", g_work);
    json_t *rows = NULL;
    /* 60 training rows + the 7 leaked rows, each repeated 16 times */
    CHECK(tn_rows_load_all(peek, TN_ROWS_JSONL, &rows) == 0 && json_array_size(rows) == 60 + 16 * 7);
    json_decref(rows);
    free(peek);
    json_decref(e);
    free(flags);
    /* late: uploads after the deadline; the validator's 410 is in the ledger */
    e = run_strategy("--strategy late", 15, "bbbb0015", 7, 0);
    CHECK(e && !strcmp(json_string_value(json_object_get(e, "strategy")), "late"));
    CHECKF(e && json_integer_value(json_object_get(e, "http_status")) == 410, "status %lld",
           e ? (long long)json_integer_value(json_object_get(e, "http_status")) : 0LL);
    CHECK(!received("bbbb0015"));
    json_decref(e);
    free(out1);
    free(out5);
    /* the table prints every submission */
    char *cmd = tn_sprintf("%s miner ledger --work-dir %s | grep -c -E 'fair|untouched|resubmit|copy|swap-base|"
                           "test-peek|late'",
                           tn_t_tuna(), g_work);
    FILE *p = popen(cmd, "r");
    int n = 0;
    CHECK(p && fscanf(p, "%d", &n) == 1 && n == 10);
    if (p) pclose(p);
    free(cmd);
}

int main(void) {
    tn_log_set_level(TN_LOG_WARN);
    tn_crypto_init();
    tn_http_global_init();
    tn_keypair_generate(&g_val);
    tn_keypair_generate(&g_miner);
    tn_keypair_generate(&g_stranger);
    atexit(kill_miner_at_exit);
    RUN(policy_table);
    RUN(recipe_checkpointing);
    RUN(start_validation);
    RUN(config_yaml);
    RUN(auth_and_malformed);
    RUN(two_tasks_full_flow);
    RUN(restart_mid_job);
    RUN(validator_unreachable);
    RUN(strategies);
    kill_miner_at_exit();
    validator_stop();
    tn_verifier_free(V.ver);
    for (int i = 0; i < V.n; i++) {
        json_decref(V.subs[i].stored);
        json_decref(V.subs[i].manifest);
        free(V.subs[i].note);
    }
    json_decref(g_files);
    json_decref(g_dataset);
    free(V.blobs);
    free(V.store);
    free(V.updir);
    return tn_test_summary("miner");
}
