/* test_http.c - the HTTP server and client over real sockets on 127.0.0.1:
 * signed requests accepted and refused, body limits, streamed uploads and
 * downloads with hashes, timeouts, connection errors, and a client in
 * another process. */
#include "harness.h"

#include "net/http_client.h"
#include "net/http_server.h"
#include "net/keys.h"
#include "net/sign.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"

#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- fixture: one server with every route, a client key it allows ------ */

static tn_keypair g_client, g_stranger;
static tn_verifier *g_ver;
static tn_http_server *g_srv;
static char g_base[64];
static char *g_upload_dir, *g_store_dir, *g_blob_dir;

static void h_echo(tn_http_req *r, void *ud) {
    (void)ud;
    json_t *body = tn_http_body_json(r);
    if (!body) return;
    const char *a = tn_http_query(r, "a");
    json_t *rep = json_pack("{s:s?, s:s, s:s, s:I, s:s?, s:O, s:s?}", "key_id", r->key_id, "path", r->path, "target",
                            r->target, "body_len", (json_int_t)r->body_len, "a", a, "body", body, "ua",
                            tn_http_header(r, "x-test-header"));
    json_decref(body);
    tn_http_reply_json(r, 200, rep);
}

/* PUT /upload/NAME: keeps the streamed file as store/NAME */
static void h_upload(tn_http_req *r, void *ud) {
    (void)ud;
    const char *name = r->path + strlen("/upload/");
    if (!*name || strchr(name, '/')) {
        tn_http_reply_error(r, 400, "bad name");
        return;
    }
    char *dest = tn_path_join(g_store_dir, name);
    if (rename(r->upload_path, dest) != 0) {
        free(dest);
        tn_http_reply_error(r, 500, "cannot keep the upload");
        return;
    }
    free(dest);
    tn_http_reply_json(r, 201, json_pack("{s:s, s:I, s:s}", "sha256", r->upload_sha256, "size",
                                         (json_int_t)r->upload_size, "key_id", r->key_id));
}

static void h_blob(tn_http_req *r, void *ud) {
    (void)ud;
    const char *name = strrchr(r->path, '/') + 1; /* routes are /blobs/ and /signed_blobs/ */
    if (!*name || strchr(name, '/') || name[0] == '.') {
        tn_http_reply_error(r, 400, "bad name");
        return;
    }
    char *p = tn_path_join(g_blob_dir, name);
    tn_http_reply_file(r, 200, p, NULL);
    free(p);
}

static void h_sleep(tn_http_req *r, void *ud) {
    (void)ud;
    usleep(1200 * 1000);
    tn_http_reply_json(r, 200, json_pack("{s:b}", "slept", 1));
}

static void h_noreply(tn_http_req *r, void *ud) {
    (void)r;
    (void)ud;
}

static void h_status(tn_http_req *r, void *ud) {
    (void)ud;
    tn_http_reply_json(r, 200, json_pack("{s:s}", "state", "idle"));
}

static int start_server(void) {
    g_ver = tn_verifier_new(0, 0);
    if (!g_ver || tn_verifier_allow(g_ver, g_client.id)) return -1;
    tn_http_server_opts o = {.port = 0, .verifier = g_ver};
    g_srv = tn_http_server_new(&o);
    const tn_http_route routes[] = {
        {.method = "POST", .path = "/echo", .flags = TN_ROUTE_SIGNED, .max_body = 4096, .fn = h_echo},
        {.method = "POST", .path = "/open", .flags = 0, .max_body = 4096, .fn = h_echo},
        {.method = "PUT", .path = "/upload/", .flags = TN_ROUTE_PREFIX | TN_ROUTE_SIGNED | TN_ROUTE_UPLOAD,
         .max_body = 1 << 20, .upload_dir = g_upload_dir, .fn = h_upload},
        {.method = "GET", .path = "/blobs/", .flags = TN_ROUTE_PREFIX, .fn = h_blob},
        {.method = "GET", .path = "/signed_blobs/", .flags = TN_ROUTE_PREFIX | TN_ROUTE_SIGNED, .fn = h_blob},
        {.method = "GET", .path = "/sleep", .fn = h_sleep},
        {.method = "GET", .path = "/noreply", .fn = h_noreply},
        {.method = "GET", .path = "/status", .flags = TN_ROUTE_SIGNED, .fn = h_status},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (tn_http_server_route(g_srv, &routes[i])) return -1;
    if (tn_http_server_start(g_srv)) return -1;
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", tn_http_server_port(g_srv));
    return 0;
}

static void stop_server(void) {
    tn_http_server_free(g_srv);
    tn_verifier_free(g_ver);
    g_srv = NULL;
    g_ver = NULL;
}

static char *url(const char *path) { return tn_sprintf("%s%s", g_base, path); }

/* ---- raw requests with hand-made signature headers --------------------- */

enum { OMIT_KEY = 1, OMIT_TIME = 2, OMIT_NONCE = 4, OMIT_SIG = 8 };

static size_t raw_sink(char *d, size_t s, size_t n, void *ud) {
    size_t len = strlen((char *)ud), k = s * n;
    if (len + k < 4095) {
        memcpy((char *)ud + len, d, k);
        ((char *)ud)[len + k] = 0;
    }
    return s * n;
}

/* Sends METHOD target with body and the given signature headers (minus
 * `omit`); returns the status, the reply body in out[4096]. */
static long raw_send(const char *method, const char *target, const char *body, const tn_sig_headers *h, unsigned omit,
                     char *out) {
    out[0] = 0;
    CURL *c = curl_easy_init();
    char *u = url(target);
    struct curl_slist *hd = NULL;
    char line[256];
    if (!(omit & OMIT_KEY)) hd = curl_slist_append(hd, (snprintf(line, sizeof line, "X-Tuna-Key: %s", h->key), line));
    if (!(omit & OMIT_TIME)) hd = curl_slist_append(hd, (snprintf(line, sizeof line, "X-Tuna-Time: %s", h->time), line));
    if (!(omit & OMIT_NONCE))
        hd = curl_slist_append(hd, (snprintf(line, sizeof line, "X-Tuna-Nonce: %s", h->nonce), line));
    if (!(omit & OMIT_SIG))
        hd = curl_slist_append(hd, (snprintf(line, sizeof line, "X-Tuna-Signature: %s", h->sig), line));
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    free(u);
    return status;
}

static void sign_now(const tn_keypair *k, const char *method, const char *target, const char *body, int64_t dt,
                     tn_sig_headers *h) {
    unsigned char sha[32];
    tn_sha256(body ? body : "", body ? strlen(body) : 0, sha);
    tn_sign_request(k, method, target, sha, (int64_t)time(NULL) + dt, h);
}

/* ---- tests --------------------------------------------------------------- */

TEST(signed_request_accepted) {
    tn_http_opts o = {.key = &g_client, .timeout_ms = 5000};
    json_t *body = json_pack("{s:s, s:i}", "task_id", "t1", "n", 3);
    tn_http_resp r;
    char *u = url("/echo?a=x%2Fy&b=2");
    CHECK(tn_http_json(&o, "POST", u, body, &r) == 0);
    CHECKF(r.status == 200, "status %ld: %s", r.status, r.body);
    CHECK(r.json && !strcmp(json_string_value(json_object_get(r.json, "key_id")), g_client.id));
    CHECK(r.json && !strcmp(json_string_value(json_object_get(r.json, "a")), "x/y"));
    CHECK(r.json && !strcmp(json_string_value(json_object_get(r.json, "path")), "/echo"));
    CHECK(r.json && !strcmp(json_string_value(json_object_get(r.json, "target")), "/echo?a=x%2Fy&b=2"));
    CHECK(r.json && json_equal(json_object_get(r.json, "body"), body));
    tn_http_resp_free(&r);
    free(u);
    /* a signed GET without a body */
    u = url("/status");
    CHECK(tn_http_json(&o, "GET", u, NULL, &r) == 0 && r.status == 200);
    tn_http_resp_free(&r);
    free(u);
    /* unsigned route: no key id */
    tn_http_opts plain = {.timeout_ms = 5000};
    u = url("/open");
    CHECK(tn_http_json(&plain, "POST", u, body, &r) == 0 && r.status == 200);
    CHECK(r.json && json_is_null(json_object_get(r.json, "key_id")));
    tn_http_resp_free(&r);
    /* and a body that is not JSON gets 400 from the handler's helper */
    CHECK(tn_http_request(&plain, "POST", u, "application/json", "{oops", 5, &r) == 0 && r.status == 400);
    CHECK(strstr(tn_http_resp_error(&r), "invalid JSON body"));
    tn_http_resp_free(&r);
    free(u);
    json_decref(body);
}

TEST(refusals_have_distinct_errors) {
    const char *body = "{\"task_id\":\"t1\"}";
    char out[4096];
    tn_sig_headers h;
    /* the genuine article, then the same bytes again: replay */
    sign_now(&g_client, "POST", "/echo", body, 0, &h);
    CHECK(raw_send("POST", "/echo", body, &h, 0, out) == 200);
    CHECK(raw_send("POST", "/echo", body, &h, 0, out) == 401 && strstr(out, "replayed nonce"));
    /* body changed after signing */
    sign_now(&g_client, "POST", "/echo", body, 0, &h);
    CHECK(raw_send("POST", "/echo", "{\"task_id\":\"t2\"}", &h, 0, out) == 401 && strstr(out, "bad signature"));
    /* path changed (also: a query added) */
    sign_now(&g_client, "POST", "/echo", body, 0, &h);
    CHECK(raw_send("POST", "/echo?a=1", body, &h, 0, out) == 401 && strstr(out, "bad signature"));
    sign_now(&g_client, "POST", "/open", body, 0, &h);
    CHECK(raw_send("POST", "/echo", body, &h, 0, out) == 401 && strstr(out, "bad signature"));
    /* method changed: signed as GET /status, sent as... the only other signed
     * GET-less route is POST /echo; sign POST /status and send GET /status */
    sign_now(&g_client, "POST", "/status", NULL, 0, &h);
    CHECK(raw_send("GET", "/status", NULL, &h, 0, out) == 401 && strstr(out, "bad signature"));
    /* stale both ways */
    sign_now(&g_client, "POST", "/echo", body, -421, &h);
    CHECKF(raw_send("POST", "/echo", body, &h, 0, out) == 401 && strstr(out, "stale timestamp (skew 42"), "%s", out);
    sign_now(&g_client, "POST", "/echo", body, +400, &h);
    CHECKF(raw_send("POST", "/echo", body, &h, 0, out) == 401 && strstr(out, "stale timestamp (skew "), "%s", out);
    /* unknown key: 403 */
    sign_now(&g_stranger, "POST", "/echo", body, 0, &h);
    char want[64];
    snprintf(want, sizeof want, "unknown key %.16s...", g_stranger.id);
    CHECKF(raw_send("POST", "/echo", body, &h, 0, out) == 403 && strstr(out, want), "%s", out);
    /* missing headers, one at a time */
    const char *names[] = {"X-Tuna-Key", "X-Tuna-Time", "X-Tuna-Nonce", "X-Tuna-Signature"};
    for (int i = 0; i < 4; i++) {
        sign_now(&g_client, "POST", "/echo", body, 0, &h);
        char msg[64];
        snprintf(msg, sizeof msg, "missing header %s", names[i]);
        CHECKF(raw_send("POST", "/echo", body, &h, 1u << i, out) == 401 && strstr(out, msg), "%s", out);
    }
    /* upper-case hex is accepted, and the handler still sees the canonical lower-case key id */
    sign_now(&g_client, "POST", "/echo", body, 0, &h);
    for (char *p = h.key; *p; p++) *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
    CHECK(raw_send("POST", "/echo", body, &h, 0, out) == 200);
    json_t *j = json_loads(out, 0, NULL);
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "key_id")), g_client.id));
    json_decref(j);
        /* the client library reports the refusal as an HTTP status, not a transport error */
    tn_http_opts o = {.key = &g_stranger, .timeout_ms = 5000};
    tn_http_resp r;
    char *u = url("/echo");
    CHECK(tn_http_request(&o, "POST", u, "application/json", body, strlen(body), &r) == 0);
    CHECK(r.status == 403 && strstr(tn_http_resp_error(&r), "unknown key"));
    tn_http_resp_free(&r);
    free(u);
}

TEST(routing_errors) {
    tn_http_opts o = {.key = &g_client, .timeout_ms = 5000};
    tn_http_resp r;
    char *u = url("/nowhere");
    CHECK(tn_http_json(&o, "GET", u, NULL, &r) == 0 && r.status == 404);
    CHECK(strstr(tn_http_resp_error(&r), "no such endpoint"));
    tn_http_resp_free(&r);
    free(u);
    u = url("/echo");
    CHECK(tn_http_json(&o, "GET", u, NULL, &r) == 0 && r.status == 405);
    CHECK(strstr(tn_http_resp_error(&r), "allowed: POST"));
    tn_http_resp_free(&r);
    free(u);
    /* a path that decodes to bytes that are not UTF-8 still gets a JSON 404 */
    u = url("/no%ff%fe");
    CHECK(tn_http_json(&o, "GET", u, NULL, &r) == 0 && r.status == 404 && r.json);
    CHECK(strstr(tn_http_resp_error(&r), "no such endpoint: GET /no??"));
    tn_http_resp_free(&r);
    free(u);
    /* POST without a body is sent with an empty one (and here refused as not JSON) */
    u = url("/open");
    CHECK(tn_http_json(&o, "POST", u, NULL, &r) == 0 && r.status == 400);
    tn_http_resp_free(&r);
    free(u);
    u = url("/noreply");
    CHECK(tn_http_json(&o, "GET", u, NULL, &r) == 0 && r.status == 500);
    tn_http_resp_free(&r);
    free(u);
}

TEST(oversized_body_413_and_server_keeps_serving) {
    tn_http_opts o = {.key = &g_client, .timeout_ms = 5000};
    tn_http_resp r;
    char *u = url("/echo");
    size_t n = 200000;
    char *big = tn_malloc(n + 1);
    memset(big, 'x', n);
    big[0] = '"';
    big[n - 1] = '"';
    big[n] = 0;
    /* declared by Content-Length: refused before the body is read */
    CHECK(tn_http_request(&o, "POST", u, "application/json", big, n, &r) == 0);
    CHECKF(r.status == 413 && strstr(tn_http_resp_error(&r), "too large"), "status %ld %s", r.status, r.body);
    tn_http_resp_free(&r);
    free(big);
    /* chunked (no Content-Length): caught while receiving */
    CURL *c = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    char *body = tn_malloc(10000);
    memset(body, 'y', 10000);
    char out[4096] = "";
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 10000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    /* unsigned, so the precheck refuses before the body: 401 also proves the body was not needed */
    CHECKF(cc == CURLE_OK && (status == 401 || status == 413), "curl %d status %ld", cc, status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    free(u);
    /* an unsigned route shows the mid-stream 413 */
    u = url("/open");
    c = curl_easy_init();
    hd = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    out[0] = 0;
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 10000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    CHECKF(cc == CURLE_OK && status == 413 && strstr(out, "too large"), "curl %d status %ld %s", cc, status, out);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    free(body);
    free(u);
    /* still serving */
    u = url("/echo");
    CHECK(tn_http_request(&o, "POST", u, "application/json", "[1]", 3, &r) == 0 && r.status == 200);
    tn_http_resp_free(&r);
    free(u);
}

static int write_random_file(const char *path, size_t n, unsigned char sha[32]) {
    unsigned char *b = tn_malloc(n);
    randombytes_buf(b, n);
    tn_sha256(b, n, sha);
    FILE *f = fopen(path, "wb");
    int rc = f && fwrite(b, 1, n, f) == n ? 0 : -1;
    if (f) fclose(f);
    free(b);
    return rc;
}

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' || strncmp(e->d_name, ".upload", 7) == 0) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d) closedir(d);
    return n;
}

TEST(streamed_upload) {
    char *src = tn_path_join(tn_t_tmpdir(), "model.bin");
    unsigned char sha[32], got[32];
    char hex[65];
    CHECK(write_random_file(src, 700000, sha) == 0);
    tn_hex_encode(sha, 32, hex);
    tn_http_opts o = {.key = &g_client, .timeout_ms = 10000};
    tn_http_resp r;
    char *u = url("/upload/model.bin");
    CHECK(tn_http_upload_file(&o, "PUT", u, src, &r) == 0);
    CHECKF(r.status == 201, "status %ld %s", r.status, r.body);
    CHECK(r.json && !strcmp(json_string_value(json_object_get(r.json, "sha256")), hex));
    CHECK(r.json && json_integer_value(json_object_get(r.json, "size")) == 700000);
    CHECK(r.json && !strcmp(json_string_value(json_object_get(r.json, "key_id")), g_client.id));
    tn_http_resp_free(&r);
    char *stored = tn_path_join(g_store_dir, "model.bin");
    uint64_t size = 0;
    CHECK(tn_sha256_file(stored, got, &size) == 0 && size == 700000 && !memcmp(got, sha, 32));
    CHECK(count_files(g_upload_dir) == 0);
    free(stored);
    free(u);
    /* over the 1 MiB limit: 413 and nothing left behind */
    char *big = tn_path_join(tn_t_tmpdir(), "big.bin");
    CHECK(write_random_file(big, (1 << 20) + 1, sha) == 0);
    u = url("/upload/big.bin");
    CHECK(tn_http_upload_file(&o, "PUT", u, big, &r) == 0);
    CHECKF(r.status == 413, "status %ld %s", r.status, r.body);
    tn_http_resp_free(&r);
    char *bigstored = tn_path_join(g_store_dir, "big.bin");
    CHECK(!tn_file_exists(bigstored));
    CHECK(count_files(g_upload_dir) == 0);
    free(u);
    /* an upload signed by a stranger is refused before its body is taken */
    tn_http_opts so = {.key = &g_stranger, .timeout_ms = 10000};
    u = url("/upload/x.bin");
    CHECK(tn_http_upload_file(&so, "PUT", u, src, &r) == 0 && r.status == 403);
    tn_http_resp_free(&r);
    CHECK(count_files(g_upload_dir) == 0);
    free(u);
    /* signed over another body: the whole file arrives, then 401 and nothing kept */
    tn_sig_headers h;
    sign_now(&g_client, "PUT", "/upload/forged.bin", "not the file", 0, &h);
    CURL *c = curl_easy_init();
    FILE *f = fopen(src, "rb");
    struct curl_slist *hd = NULL;
    char line[256], out[4096] = "";
    hd = curl_slist_append(hd, (snprintf(line, sizeof line, "X-Tuna-Key: %s", h.key), line));
    hd = curl_slist_append(hd, (snprintf(line, sizeof line, "X-Tuna-Time: %s", h.time), line));
    hd = curl_slist_append(hd, (snprintf(line, sizeof line, "X-Tuna-Nonce: %s", h.nonce), line));
    hd = curl_slist_append(hd, (snprintf(line, sizeof line, "X-Tuna-Signature: %s", h.sig), line));
    u = url("/upload/forged.bin");
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READDATA, f);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)700000);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    long status = 0;
    CHECK(curl_easy_perform(c) == CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    CHECKF(status == 401 && strstr(out, "bad signature"), "%ld %s", status, out);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    fclose(f);
    char *forged = tn_path_join(g_store_dir, "forged.bin");
    CHECK(!tn_file_exists(forged));
    CHECK(count_files(g_upload_dir) == 0);
    free(forged);
    free(u);
    free(bigstored);
    free(big);
    free(src);
}

TEST(download_with_hash_check) {
    char *blob = tn_path_join(g_blob_dir, "base.bin");
    unsigned char sha[32];
    char hex[65], got[65];
    CHECK(write_random_file(blob, 300000, sha) == 0);
    tn_hex_encode(sha, 32, hex);
    tn_http_opts o = {.key = &g_client, .timeout_ms = 10000};
    char *dest = tn_path_join(tn_t_tmpdir(), "dl.bin");
    char *u = url("/blobs/base.bin");
    CHECK(tn_http_download(&o, u, dest, 1 << 20, hex, got) == 0);
    CHECK(!strcmp(got, hex));
    unsigned char back[32];
    CHECK(tn_sha256_file(dest, back, NULL) == 0 && !memcmp(back, sha, 32));
    unlink(dest);
    /* signed download route works too */
    free(u);
    u = url("/signed_blobs/base.bin");
    CHECK(tn_http_download(&o, u, dest, 0, hex, NULL) == 0);
    unlink(dest);
    free(u);
    u = url("/blobs/base.bin");
    /* a corrupted download (the hash we were promised is not what arrives) */
    char wrong[65];
    memcpy(wrong, hex, 65);
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    CHECK_ERR(tn_http_download(&o, u, dest, 1 << 20, wrong, NULL), "sha256 mismatch");
    CHECK(!tn_file_exists(dest));
    /* size cap */
    CHECK_ERR(tn_http_download(&o, u, dest, 1000, NULL, NULL), "larger than the 1000 byte limit");
    CHECK(!tn_file_exists(dest));
    free(u);
    /* missing blob: 404 named in the error */
    u = url("/blobs/nothere.bin");
    CHECK_ERR(tn_http_download(&o, u, dest, 0, NULL, NULL), "HTTP 404: not found");
    CHECK(!tn_file_exists(dest));
    free(u);
    /* no stray temporary files (dl.bin.part.XXXXXX) next to dest */
    DIR *d = opendir(tn_t_tmpdir());
    struct dirent *e;
    int parts = 0;
    while (d && (e = readdir(d)) != NULL) parts += strstr(e->d_name, ".part.") != NULL;
    if (d) closedir(d);
    CHECK(parts == 0);
    free(dest);
    free(blob);
}

TEST(client_timeout) {
    tn_http_opts o = {.timeout_ms = 300};
    tn_http_resp r;
    char *u = url("/sleep");
    double t = tn_now();
    char want[128];
    snprintf(want, sizeof want, "GET %s: timed out after 300 ms", u);
    CHECK_ERR(tn_http_json(&o, "GET", u, NULL, &r), want);
    CHECK(tn_now() - t < 1.0);
    free(u);
}

TEST(connection_refused) {
    /* a port that was free a moment ago: bind, read it, close */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    char *u = tn_sprintf("http://127.0.0.1:%d/task_offer", ntohs(a.sin_port));
    char want[128];
    snprintf(want, sizeof want, "POST %s: connection refused", u);
    tn_http_opts o = {.key = &g_client, .timeout_ms = 2000};
    tn_http_resp r;
    json_t *b = json_pack("{s:s}", "task_id", "t");
    CHECK_ERR(tn_http_json(&o, "POST", u, b, &r), want);
    json_decref(b);
    free(u);
}

TEST(server_bind_errors) {
    tn_http_server_opts o = {.bind = "not-an-ip"};
    tn_http_server *s = tn_http_server_new(&o);
    CHECK_ERR(tn_http_server_start(s), "is not an IPv4 or IPv6 address");
    tn_http_server_free(s);
    /* the port already taken by the fixture server */
    tn_http_server_opts o2 = {.port = tn_http_server_port(g_srv)};
    s = tn_http_server_new(&o2);
    CHECK_ERR(tn_http_server_start(s), "cannot listen on 127.0.0.1 port");
    tn_http_server_free(s);
    /* signed routes need a verifier */
    s = tn_http_server_new(NULL);
    tn_http_route rt = {.method = "GET", .path = "/x", .flags = TN_ROUTE_SIGNED, .fn = h_status};
    CHECK_ERR(tn_http_server_route(s, &rt), "signed, but the server has no verifier");
    tn_http_server_free(s);
}

/* The client in another process, with the key loaded from a key file: the
 * child is forked before any server thread exists, then told the port. */
TEST(cross_process_client) {
    char *keyfile = tn_path_join(tn_t_tmpdir(), "client.key");
    CHECK(tn_keypair_save(&g_client, keyfile, 1) == 0);
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[1]);
        char base[64] = "";
        ssize_t n = read(pfd[0], base, sizeof base - 1);
        if (n <= 0) _exit(10);
        base[n] = 0;
        tn_keypair k;
        if (tn_keypair_load(&k, keyfile)) _exit(11);
        tn_http_opts o = {.key = &k, .timeout_ms = 5000};
        char *u = tn_sprintf("%s/echo", base);
        json_t *b = json_pack("{s:i}", "pid", (int)getpid());
        tn_http_resp r;
        int rc = tn_http_json(&o, "POST", u, b, &r);
        int ok = rc == 0 && r.status == 200 && r.json &&
                 !strcmp(json_string_value(json_object_get(r.json, "key_id")), k.id);
        _exit(ok ? 0 : 12);
    }
    close(pfd[0]);
    CHECK(start_server() == 0);
    CHECK(write(pfd[1], g_base, strlen(g_base)) == (ssize_t)strlen(g_base));
    close(pfd[1]);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    stop_server();
    free(keyfile);
}

int main(void) {
    if (tn_http_global_init()) {
        fprintf(stderr, "%s\n", tn_errmsg());
        return 1;
    }
    tn_keypair_generate(&g_client);
    tn_keypair_generate(&g_stranger);
    g_upload_dir = tn_path_join(tn_t_tmpdir(), "incoming");
    g_store_dir = tn_path_join(tn_t_tmpdir(), "store");
    g_blob_dir = tn_path_join(tn_t_tmpdir(), "blobs");
    tn_mkdir_p(g_upload_dir);
    tn_mkdir_p(g_store_dir);
    tn_mkdir_p(g_blob_dir);
    RUN(cross_process_client); /* first: forks before any thread */
    if (start_server()) {
        fprintf(stderr, "cannot start the test server: %s\n", tn_errmsg());
        return 1;
    }
    RUN(signed_request_accepted);
    RUN(refusals_have_distinct_errors);
    RUN(routing_errors);
    RUN(oversized_body_413_and_server_keeps_serving);
    RUN(streamed_upload);
    RUN(download_with_hash_check);
    RUN(client_timeout);
    RUN(connection_refused);
    RUN(server_bind_errors);
    stop_server();
    free(g_upload_dir);
    free(g_store_dir);
    free(g_blob_dir);
    curl_global_cleanup();
    return tn_test_summary("http");
}
