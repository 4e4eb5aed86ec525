/* fuzz_validator - the bodies and names the validator's API takes from
 * miners and the organiser, through the same functions the handlers
 * (src/validator/api.c) call; what needs a live store is left out. The
 * first input byte picks:
 *   0  POST /v1/submissions/{id}/complete: {"kind", "files": {name: sha256},
 *      "note", "strategy"}: the checks complete() makes before it touches a
 *      file, then the manifest it builds, checked and content-hashed
 *   1  the organiser's calls: miners (public_key, endpoint), tasks
 *      (minutes -> time limit, seq_len), datasets (dataset_type stored as
 *      JSON text and read back as the scheduler does)
 *   2  a manifest as a blob holds it (tn_manifest_check, content hash, size)
 *   3  PUT /v1/submissions/{id}/files/{name}: the request target, as sent,
 *      decoded into the upload's file name and judged
 * The rest of the input is the body (mode 3: the target). */
#include "base/json.h"
#include "base/mem.h"
#include "data/format.h"
#include "net/keys.h"
#include "store/blobs.h"
#include "store/store.h"
#include "validator/vstate.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *jstr(const json_t *j, const char *k) { return json_string_value(json_object_get(j, k)); }

static void complete_body(const json_t *b) {
    const json_t *files = json_object_get(b, "files");
    const char *kind = jstr(b, "kind");
    if (!json_is_object(files) || json_object_size(files) == 0 || !kind ||
        (strcmp(kind, "full") && strcmp(kind, "adapter")))
        return;
    json_t *manifest = json_object(), *mfiles = json_object();
    json_object_set_new(manifest, "files", mfiles);
    const char *name;
    json_t *h;
    json_object_foreach((json_t *)files, name, h) {
        if (tn_manifest_name_ok(name, strlen(name)) != 0 || strchr(name, '/')) goto out;
        if (!json_is_string(h) || !tn_hash_hex_ok(json_string_value(h))) goto out;
        json_object_set_new(mfiles, name, json_pack("{s:s, s:I}", "sha256", json_string_value(h), "size",
                                                    (json_int_t)strlen(name)));
    }
    char chash[TN_HASH_HEX + 1];
    /* a manifest made of accepted names and hashes must pass its own check */
    if (tn_manifest_content_hash(manifest, chash) != 0) abort();
    const char *note = jstr(b, "note"), *strategy = jstr(b, "strategy");
    free(tn_sprintf("%s%s%s", strategy ? strategy : "", note ? ": " : "", note ? note : ""));
out:
    json_decref(manifest);
}

static void admin_body(const json_t *b) {
    unsigned char pub[TN_KEY_PUB_BYTES];
    const char *pk = jstr(b, "public_key");
    if (pk) (void)tn_key_id_parse(pk, pub);
    const json_t *mins = json_object_get(b, "minutes");
    if (json_is_number(mins)) {
        /* refused (-1) or a limit that start + limit cannot overflow */
        int64_t ms = tn_task_ms_from_minutes(json_number_value(mins));
        if (ms < -1 || ms > (int64_t)(TN_TASK_MAX_MINUTES * 60000.0)) abort();
    }
    const json_t *dt = json_object_get(b, "dataset_type");
    if (json_is_object(dt)) {
        char *mapping = json_dumps(dt, JSON_COMPACT);
        json_t *holder = mapping ? tn_json_loadb(mapping, strlen(mapping), "dataset_type") : NULL;
        tn_data_spec spec;
        if (holder) (void)tn_data_spec_from_json(holder, "dataset_type", &spec);
        json_decref(holder);
        free(mapping);
    }
}

static void manifest_blob(const json_t *m) {
    char h[TN_HASH_HEX + 1];
    if (tn_manifest_check(m) == 0) {
        if (tn_manifest_content_hash(m, h)) abort();
        (void)tn_manifest_total_size(m);
    }
}

static void upload_target(const uint8_t *p, size_t n) {
    char *target = malloc(n + sizeof "/v1/submissions/00ff/files/");
    if (!target) abort();
    memcpy(target, "/v1/submissions/00ff/files/", sizeof "/v1/submissions/00ff/files/" - 1);
    memcpy(target + sizeof "/v1/submissions/00ff/files/" - 1, p, n);
    target[sizeof "/v1/submissions/00ff/files/" - 1 + n] = 0;
    tn_http_req r;
    memset(&r, 0, sizeof r);
    r.method = "PUT";
    r.path = target;
    r.target = target;
    char name[1100], why[512];
    if (v_upload_name(&r, name, sizeof name, why, sizeof why) == 0) {
        if (strlen(name) >= sizeof name) abort();
        (void)tn_manifest_name_ok(name, strlen(name));
    }
    free(target);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) init = 1, fz_quiet();
    fz_in in = {data, size};
    unsigned mode = fz_byte(&in) % 4;
    if (mode == 3) {
        upload_target(in.p, in.n);
        return 0;
    }
    json_error_t e;
    json_t *b = json_loadb((const char *)in.p, in.n, 0, &e); /* as tn_http_body_json */
    if (!b) return 0;
    if (mode == 0) complete_body(b);
    else if (mode == 1) admin_body(b);
    else manifest_blob(b);
    json_decref(b);
    return 0;
}
