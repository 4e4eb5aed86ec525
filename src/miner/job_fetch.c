/* job_fetch.c - download a job's inputs: the base model's files into
 * JOB/base/ and the training split into JOB/data.<format>, each checked
 * against the SHA-256 and size the validator announced.
 *
 * tn_http_download writes a temporary file and renames it when complete, so
 * a file present under its final name is whole; after a restart it is
 * hashed once more and kept when it matches (no second download). Transport
 * failures are retried with backoff while the deadline allows; a hash or
 * size mismatch is not retried (the same URL would serve the same bytes).
 */
#include "miner/job_steps.h"

#include "net/http_client.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int have_file(const char *path, const char *sha_hex) {
    unsigned char sha[TN_SHA256_BYTES];
    char hex[2 * TN_SHA256_BYTES + 1];
    if (!tn_file_exists(path) || tn_sha256_file(path, sha, NULL)) return 0;
    tn_hex_encode(sha, sizeof sha, hex);
    return !strcasecmp(hex, sha_hex);
}

/* 0 ok, 1 stopping, -1 failed */
static int fetch_one(tn_job *j, const json_t *blob, const char *dest) {
    const char *url = json_string_value(json_object_get(blob, "url"));
    const char *sha = json_string_value(json_object_get(blob, "sha256"));
    json_int_t size = json_integer_value(json_object_get(blob, "size"));
    if (have_file(dest, sha)) return 0;
    tn_http_opts o = {.key = &j->m->key, .connect_timeout_ms = 5000, .timeout_ms = -1};
    double wait = j->m->cfg->retry_base_s;
    for (int attempt = 1;; attempt++) {
        if (tn_http_download(&o, url, dest, size > 0 ? (uint64_t)size : 0, sha, NULL) == 0) return 0;
        const char *msg = tn_errmsg();
        /* a wrong body will not get right by asking again */
        if (strstr(msg, "sha256 mismatch") || strstr(msg, "byte limit") || strstr(msg, ": HTTP 4")) return -1;
        if (tn_job_left_s(j) < wait + j->m->cfg->upload_margin_s) return tn_err_prefix("giving up (deadline)");
        tn_job_event(j, "download attempt %d failed: %s; retrying in %.1f s", attempt, msg, wait);
        if (tn_miner_sleep(j->m, wait)) return 1;
        wait = wait * 2 > j->m->cfg->retry_max_s ? j->m->cfg->retry_max_s : wait * 2;
    }
}

int tn_job_fetch(tn_job *j) {
    char *base = tn_path_join(j->dir, "base");
    int rc = tn_mkdir_p(base);
    const json_t *files = json_object_get(json_object_get(j->spec, "model"), "files");
    for (size_t i = 0; rc == 0 && i < json_array_size(files); i++) {
        const json_t *f = json_array_get(files, i);
        char *dest = tn_path_join(base, json_string_value(json_object_get(f, "name")));
        rc = fetch_one(j, f, dest);
        if (rc < 0) tn_err_prefix("model file %s", json_string_value(json_object_get(f, "name")));
        free(dest);
    }
    free(base);
    if (rc) return rc;
    const json_t *ds = json_object_get(j->spec, "dataset");
    const char *fmt = json_string_value(json_object_get(ds, "format"));
    if (!fmt || (strcmp(fmt, "json") && strcmp(fmt, "jsonl") && strcmp(fmt, "csv"))) fmt = "jsonl";
    char name[32];
    snprintf(name, sizeof name, "data.%s", fmt);
    char *dest = tn_path_join(j->dir, name);
    rc = fetch_one(j, ds, dest);
    if (rc < 0) tn_err_prefix("dataset");
    free(dest);
    return rc;
}
