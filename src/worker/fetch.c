/* fetch.c - a job's blobs into the worker's cache, and the job laid out
 * for the evaluator (worker.h). The cache is a blob store (store/blobs.h):
 * content-addressed, so a base model is downloaded once for every job on
 * it, and every download is checked against its hash before it is used. */
#include "worker/worker.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    tn_blobs *blobs;
    const tn_http_opts *http;
    const char *validator_url;
    const json_t *sigs; /* the job's "signatures" */
    atomic_int *stop;
} fetcher;

/* One blob into the cache, unless it is there already; max_bytes (0 = no
 * cap) stops a download longer than the manifest said. */
static int fetch_blob(fetcher *f, const char *hash, uint64_t max_bytes) {
    if (!tn_hash_hex_ok(hash)) return tn_fail("job: '%s' is not a blob hash", hash ? hash : "(null)");
    if (tn_blobs_exists(f->blobs, hash)) return 0;
    if (f->stop && atomic_load(f->stop)) return tn_fail("stopped");
    const json_t *sig = json_object_get(f->sigs, hash);
    const char *mac = json_string_value(json_object_get(sig, "sig"));
    json_t *exp = json_object_get(sig, "exp");
    if (!mac || !json_is_integer(exp)) return tn_fail("job: no URL signature for blob %s", hash);
    char *url = tn_sprintf("%s/blobs/%s?exp=%lld&sig=%s", f->validator_url, hash,
                           (long long)json_integer_value(exp), mac);
    /* in the blob store's temporaries, named as its own ("put-PID-"): a
     * worker killed mid-download leaves a partial file that the next
     * tn_blobs_open removes once that pid is gone (store/blobs.c) */
    char *tmp = tn_sprintf("%s/tmp/put-%d-download-%s", tn_blobs_root(f->blobs), (int)getpid(), hash);
    /* checked against the hash while it streams; put_file re-hashes as it stores */
    char got[TN_HASH_HEX + 1];
    int rc = tn_http_download(f->http, url, tmp, max_bytes, hash, NULL);
    if (rc == 0) rc = tn_blobs_put_file(f->blobs, tmp, hash, got) ? -1 : 0;
    if (rc == 0) tn_log(TN_LOG_DEBUG, "worker: fetched blob %.12s", hash);
    if (rc) tn_err_prefix("fetching blob %.12s", hash);
    unlink(tmp);
    free(tmp);
    free(url);
    return rc;
}

/* Every file a manifest names, then the directory made of them. */
static int fetch_dir(fetcher *f, const json_t *manifest, const char *dir, const char *what) {
    if (tn_manifest_check(manifest)) return tn_err_prefix("job: %s manifest", what);
    const char *name;
    json_t *file;
    json_object_foreach(json_object_get(manifest, "files"), name, file) {
        json_int_t size = json_integer_value(json_object_get(file, "size"));
        if (fetch_blob(f, json_string_value(json_object_get(file, "sha256")), size > 0 ? (uint64_t)size : 1))
            return -1;
    }
    return tn_blobs_materialize(f->blobs, manifest, dir, 0);
}

int tn_worker_prepare(tn_blobs *blobs, const tn_http_opts *http, const char *validator_url, const json_t *job,
                      const char *dir, atomic_int *stop, json_t **local) {
    *local = NULL;
    fetcher f = {blobs, http, validator_url, json_object_get(job, "signatures"), stop};
    const char *base = json_string_value(json_object_get(job, "base"));
    const char *test = json_string_value(json_object_get(job, "test"));
    const char *synth = json_string_value(json_object_get(job, "synth"));
    const json_t *sub = json_object_get(job, "submission");
    int base_only = json_is_true(json_object_get(job, "base_only"));
    if (!json_is_object(f.sigs)) return tn_fail("job: no \"signatures\" object");
    if (!base || !test || !synth) return tn_fail("job: \"base\", \"test\" and \"synth\" blob hashes are required");
    if (!base_only && !json_is_object(sub)) return tn_fail("job: no \"submission\" manifest and not base_only");
    char *base_dir = tn_path_join(dir, "base"), *sub_dir = tn_path_join(dir, "submission");
    json_t *manifest = NULL;
    int rc = -1;
    if (fetch_blob(&f, base, 0) || fetch_blob(&f, test, 0) || fetch_blob(&f, synth, 0)) goto out;
    if (!(manifest = tn_blobs_load_manifest(blobs, base))) goto out;
    if (fetch_dir(&f, manifest, base_dir, "base") || (!base_only && fetch_dir(&f, sub, sub_dir, "submission")))
        goto out;
    char *test_path = tn_blobs_path(blobs, test), *synth_path = tn_blobs_path(blobs, synth);
    json_t *dt = json_object_get(job, "dataset_type"), *rules = json_object_get(job, "rules");
    *local = json_pack("{s:s, s:s, s:s, s:O, s:O, s:b, s:O}", "base_dir", base_dir, "test_file", test_path,
                       "synth_file", synth_path, "dataset_type", dt ? dt : json_null(), "seq_len",
                       json_object_get(job, "seq_len") ? json_object_get(job, "seq_len") : json_null(), "base_only",
                       base_only, "rules", rules ? rules : json_null());
    if (*local && !base_only) json_object_set_new(*local, "submission_dir", json_string(sub_dir));
    free(test_path);
    free(synth_path);
    rc = *local ? 0 : tn_fail("job: cannot build the evaluator's job");
out:
    json_decref(manifest);
    free(base_dir);
    free(sub_dir);
    return rc;
}
